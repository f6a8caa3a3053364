"""HCP resting state, as packaged for MinD-Vis pre-training → fMRI-only subject store.

Files read, under the folder of subject folders (MinD-Vis's ``data/HCP/npz``), in either layout::

    <subject>/HCP_visual_voxel.npz          MinD-Vis's layout
    <subject>/<run>/HCP_visual_voxel.npz    a published variant's, the run folder e.g. REST1_LR

    V1, V2, V3, V4: each (n_frames, n_voxels_in_area) time series (1200 frames, one resting-state run;
    as released, float64 and already z-scored over time per voxel)

Subject folders without the file are skipped when listing subjects (:func:`hcp_subjects`), as
MinD-Vis skips them; so are folders named as HCP runs (REST1_LR, rfMRI_REST2_RL, ...), which are never
subjects. A subject folder holding the file in more than one place (several run folders) needs
``run`` (``--run``) to say which. No images: this is the fMRI-only data of masked brain modelling.

What the store holds (``kind`` "fmri-only"):

- ``betas``: one row per sample. With ``frames_per_sample`` 1 (the default) a sample is one frame,
  as released; with k > 1 each run of k consecutive frames is averaged (at the file's precision) and
  a trailing remainder dropped (MinD-Vis uses 10 frames, about 8 s: 1200 frames give 120 samples).
  ``provenance/first_frame`` is each sample's first frame (0-based); ``trial_session`` is 1 (one run).
  Stored as float32, values as released: MinD-Vis z-scores each subject with one global mean and
  std, and averaged frames are no longer z-scored, so attr ``zscored`` is false.
- voxels: V1, V2, V3, V4 concatenated in that order (MinD-Vis's "VC"); ``voxel/roi`` labels the
  four areas and ``voxel/roi_sets/VC`` all of them. The npz gives no voxel locations, so the store
  has none (``Store.has_location`` is false).
- attrs: ``subject`` (the subject folder's name, in either layout), ``source`` (the folder of
  subjects), ``run_folder`` (the run folder the file was in, '' for MinD-Vis's layout),
  ``source_files``, ``frames``, ``frames_per_sample``, ``area_voxels`` (voxels per area),
  ``unused_keys`` (other arrays in the npz, not converted).

Checked rather than assumed (DATASETS.md §5): the dtype (any real numbers, stored as float32); the
voxels per area (whatever the file holds; :func:`convert_hcp_subjects` checks them to be the same for
every subject, since MinD-Vis stacks subjects without padding); the frame count (the four areas must agree).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from brainlens.datasets._utils import NpzArrays, Progress, check_finite, check_numeric, format_error, require_file
from brainlens.store import StoreWriter

__all__ = ["AREAS", "FILE_NAME", "hcp_subjects", "convert_hcp", "convert_hcp_subjects"]

AREAS = ("V1", "V2", "V3", "V4")
FILE_NAME = "HCP_visual_voxel.npz"
# HCP's resting-state run folders (REST1_LR, rfMRI_REST2_RL, ...): between subject and file, never a subject
RUN_FOLDER = re.compile(r"(rfMRI_)?REST\d_(LR|RL)")
_ROW_BLOCK = 400


def hcp_subjects(root: str | os.PathLike, *, run: str | None = None) -> list[str]:
    """The subject folders under ``root`` that hold ``HCP_visual_voxel.npz``, directly or in a run
    folder (only in the folder ``run``, when given), sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"HCP subject folders not found: expected the folder {root}")
    run = _check_run(run)
    subjects = []
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or RUN_FOLDER.fullmatch(folder.name):
            continue
        found = _voxel_files(folder) if run is None else [(run, folder / run / FILE_NAME)]
        if any(path.is_file() for _, path in found):
            subjects.append(folder.name)
    return subjects


def convert_hcp(
    root: str | os.PathLike,
    subject: str,
    out: str | os.PathLike,
    *,
    run: str | None = None,
    frames_per_sample: int = 1,
    progress: Progress | None = None,
) -> Path:
    """Convert one HCP subject's ``HCP_visual_voxel.npz`` into a fMRI-only store at ``out``; returns ``out``.

    root: the folder of subject folders. subject: a subject folder's name, e.g. "100307".
    run: the run folder holding the file (e.g. "REST1_LR"), '' for the file directly in the subject
        folder; None finds it in either place, and needs it to be in only one.
    frames_per_sample: frames averaged into one sample (1 keeps every frame; MinD-Vis uses 10).
    progress: ``progress(stage, k)`` with stage "samples".

    Example: ``convert_hcp("data/HCP/npz", "100307", "hcp_100307.h5", frames_per_sample=10)``.
    """
    _check_subject(subject, root)
    run = _check_run(run)
    step = _check_frames_per_sample(frames_per_sample)
    root = Path(root).absolute()
    out = Path(out)
    path, run = _find_file(root, subject, run)
    with NpzArrays(path, f"HCP visual voxels of subject {subject!r}") as npz:
        n_frames, widths = _check_areas(npz)
        n_samples = n_frames // step
        if n_samples == 0:
            raise format_error(path, AREAS[0], f"at least frames_per_sample={step} frames", f"{n_frames}")
        with StoreWriter(
            out,
            n_voxels=sum(widths),
            dataset="hcp",
            subject=subject,
            source=str(root),
            kind="fmri-only",
            zscored=False,
            beta_dtype="float32",
            extra_attrs={
                "run_folder": run,
                "source_files": {"voxels": str(path)},
                "frames": n_frames,
                "frames_per_sample": step,
                "area_voxels": dict(zip(AREAS, widths)),
                "unused_keys": sorted(set(npz.keys) - set(AREAS)),
            },
        ) as writer:
            # rows a multiple of the step, so no sample straddles two blocks
            rows = max(step, _ROW_BLOCK // step * step)
            streams = [npz.blocks(area, rows) for area in AREAS]
            for parts in zip(*streams):
                start = parts[0][0]
                blocks = [block for _, _, block in parts]
                for block, area in zip(blocks, AREAS):
                    check_finite(block, path, area, start)
                frames = np.concatenate(blocks, axis=1, dtype=np.float64)  # the release's float64, kept until stored
                usable = frames.shape[0] // step * step
                if usable == 0:
                    break
                samples = frames[:usable].reshape(usable // step, step, -1).mean(axis=1)
                writer.append_trials(samples.astype(np.float32), 1)
                if progress is not None:
                    progress("samples", samples.shape[0])
            labels = np.repeat(np.arange(1, len(AREAS) + 1, dtype=np.int16), widths)
            writer.set_voxels(roi=labels, roi_names=["", *AREAS], roi_sets={"VC": (np.ones_like(labels), ["", "VC"])})
            writer.set_array("provenance/first_frame", np.arange(n_samples, dtype=np.int64) * step)
    return out


def convert_hcp_subjects(
    root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    subjects: Sequence[str] | None = None,
    run: str | None = None,
    frames_per_sample: int = 1,
    progress: Progress | None = None,
) -> list[Path]:
    """Convert several HCP subjects, one store each: ``<out_dir>/hcp_<subject>.h5``; returns the paths.

    subjects: folder names; None takes every subject folder holding the file (:func:`hcp_subjects`).
    run: as for :func:`convert_hcp`, the same for every subject (subjects without it are skipped).
    Every subject's areas must have the same voxel counts (MinD-Vis stacks subjects without padding);
    that is checked for all of them before the first store is written.
    progress: ``progress(stage, k)`` with stage "subjects" and "samples".
    """
    step = _check_frames_per_sample(frames_per_sample)
    run = _check_run(run)
    root = Path(root).absolute()
    subjects = hcp_subjects(root, run=run) if subjects is None else list(subjects)
    if not subjects:
        if run is None:
            expected = f"{root}/<subject>/{FILE_NAME} or {root}/<subject>/<run>/{FILE_NAME}"
        else:
            expected = f"{root}/<subject>/{run + '/' if run else ''}{FILE_NAME}"
        # the old workaround for the nested layout: a subject's folder given as root
        runs = sorted(p.name for p in root.iterdir() if p.is_dir() and RUN_FOLDER.fullmatch(p.name))
        hint = f" ({root.name} holds the run folder {', '.join(runs)}: pass its parent folder as root)" if runs else ""
        raise FileNotFoundError(f"HCP visual voxels not found: expected {expected}{hint}")
    for subject in subjects:
        _check_subject(subject, root)
    first = None
    for subject in subjects:
        path, _ = _find_file(root, subject, run)
        with NpzArrays(path, f"HCP visual voxels of subject {subject!r}") as npz:
            _, widths = _check_areas(npz)
        if first is None:
            first = (subject, widths)
        elif widths != first[1]:
            expected = f"the voxels per area of subject {first[0]!r}: {dict(zip(AREAS, first[1]))}"
            raise format_error(npz.path, None, expected, dict(zip(AREAS, widths)))
    out_dir = Path(out_dir)
    paths = []
    for subject in subjects:
        out = out_dir / f"hcp_{subject}.h5"
        paths.append(convert_hcp(root, subject, out, run=run, frames_per_sample=step, progress=progress))
        if progress is not None:
            progress("subjects", 1)
    return paths


def _check_subject(subject: object, root: str | os.PathLike) -> None:
    if not isinstance(subject, str) or not subject or Path(subject).name != subject:
        raise ValueError(f"'subject' must be the name of a subject folder. {subject!r} was provided.")
    if RUN_FOLDER.fullmatch(subject):
        root = Path(root).absolute()
        raise ValueError(
            f"'subject' must be the name of a subject folder, not of a run folder ({subject}): for "
            f"{root / subject / FILE_NAME}, pass {root.parent} as root and {root.name!r} as subject."
        )


def _check_run(run: object) -> str | None:
    if run is not None and (not isinstance(run, str) or (run and Path(run).name != run)):
        raise ValueError(f"'run' must be a run folder's name (e.g. 'REST1_LR'), '' or None. {run!r} was provided.")
    return run


def _voxel_files(folder: Path) -> list[tuple[str, Path]]:
    """(run folder, file) for each place in a subject folder that holds the file: '' for the folder itself."""
    found = [("", folder / FILE_NAME)] if (folder / FILE_NAME).is_file() else []
    if folder.is_dir():
        found += [(sub.name, sub / FILE_NAME) for sub in sorted(folder.iterdir()) if (sub / FILE_NAME).is_file()]
    return found


def _find_file(root: Path, subject: str, run: str | None) -> tuple[Path, str]:
    """The subject's file and the run folder it is in ('' for none), in either layout."""
    folder = root / subject
    what = f"HCP visual voxels of subject {subject!r}"
    if run is not None:
        return require_file(folder / run / FILE_NAME, what), run
    found = _voxel_files(folder)
    if not found:
        raise FileNotFoundError(f"{what} not found: expected {folder / FILE_NAME} or {folder / '<run>' / FILE_NAME}")
    if len(found) > 1:
        # '' in the list is the file directly in the subject folder
        raise format_error(folder, None, f"one {FILE_NAME}, or run= naming its folder", f"run folders {[name for name, _ in found]}")
    run, path = found[0]
    return path, run


def _check_frames_per_sample(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"'frames_per_sample' must be an integer >= 1. {value!r} was provided.")
    return int(value)


def _check_areas(npz: NpzArrays) -> tuple[int, list[int]]:
    """The frame count and the voxels of each area, checked: 2-D numeric arrays with equal frames."""
    missing = [area for area in AREAS if area not in npz]
    if missing:
        raise format_error(npz.path, missing[0], f"arrays {', '.join(AREAS)}", f"arrays {sorted(npz.keys)}")
    for area in AREAS:
        shape = npz.shape(area)
        if len(shape) != 2 or 0 in shape:
            raise format_error(npz.path, area, "a 2-D array (frames, voxels)", f"shape {shape}")
        check_numeric(npz.path, area, shape, npz.dtype(area), "(frames, voxels)")
    frames = npz.shape(AREAS[0])[0]
    for area in AREAS[1:]:
        if npz.shape(area)[0] != frames:
            raise format_error(npz.path, area, f"{frames} frames, as {AREAS[0]}", f"shape {npz.shape(area)}")
    return frames, [npz.shape(area)[1] for area in AREAS]

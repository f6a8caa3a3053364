"""HCP resting state, as packaged for MinD-Vis pre-training → fMRI-only subject store.

Files read, under the folder of subject folders (MinD-Vis's ``data/HCP/npz``)::

    <subject>/HCP_visual_voxel.npz    V1, V2, V3, V4: each (n_frames, n_voxels_in_area) time series
                                      (1200 frames, one resting-state run, per MinD-Vis's code)

Subject folders without the file are skipped when listing subjects (:func:`hcp_subjects`), as
MinD-Vis skips them. No images: this is the fMRI-only data of masked brain modelling.

What the store holds (``kind`` "fmri-only"):

- ``betas``: one row per sample. With ``frames_per_sample`` 1 (the default) a sample is one frame,
  as released; with k > 1 each run of k consecutive frames is averaged and a trailing remainder
  dropped (MinD-Vis uses 10 frames, about 8 s: 1200 frames give 120 samples).
  ``provenance/first_frame`` is each sample's first frame (0-based); ``trial_session`` is 1 (one run).
  float32 as released; MinD-Vis z-scores each subject with one global mean and std, so the values
  are not z-scored per voxel (attr ``zscored`` false).
- voxels: V1, V2, V3, V4 concatenated in that order (MinD-Vis's "VC"); ``voxel/roi`` labels the
  four areas and ``voxel/roi_sets/VC`` all of them. The npz gives no voxel locations, so the store
  has none (``Store.has_location`` is false).
- attrs: ``source`` (the folder of subjects), ``source_files``, ``frames``, ``frames_per_sample``,
  ``area_voxels`` (voxels per area), ``unused_keys`` (other arrays in the npz, not converted).

Unconfirmed (DATASETS.md §5), checked rather than assumed: the dtype (any real numbers, stored as
float32); the voxels per area (whatever the file holds; :func:`convert_hcp_subjects` checks them to
be the same for every subject, since MinD-Vis stacks subjects without padding); the frame count (the
four areas must agree).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from brainlens.datasets._utils import NpzArrays, Progress, check_finite, check_numeric, format_error
from brainlens.store import StoreWriter

__all__ = ["AREAS", "FILE_NAME", "hcp_subjects", "convert_hcp", "convert_hcp_subjects"]

AREAS = ("V1", "V2", "V3", "V4")
FILE_NAME = "HCP_visual_voxel.npz"
_ROW_BLOCK = 400


def hcp_subjects(root: str | os.PathLike) -> list[str]:
    """The subject folders under ``root`` that hold ``HCP_visual_voxel.npz``, sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"HCP subject folders not found: expected the folder {root}")
    return sorted(path.name for path in root.iterdir() if (path / FILE_NAME).is_file())


def convert_hcp(
    root: str | os.PathLike,
    subject: str,
    out: str | os.PathLike,
    *,
    frames_per_sample: int = 1,
    progress: Progress | None = None,
) -> Path:
    """Convert one HCP subject's ``HCP_visual_voxel.npz`` into a fMRI-only store at ``out``; returns ``out``.

    root: the folder of subject folders. subject: a subject folder's name, e.g. "100307".
    frames_per_sample: frames averaged into one sample (1 keeps every frame; MinD-Vis uses 10).
    progress: ``progress(stage, k)`` with stage "samples".

    Example: ``convert_hcp("data/HCP/npz", "100307", "hcp_100307.h5", frames_per_sample=10)``.
    """
    if not isinstance(subject, str) or not subject or Path(subject).name != subject:
        raise ValueError(f"'subject' must be the name of a subject folder. {subject!r} was provided.")
    step = _check_frames_per_sample(frames_per_sample)
    root = Path(root).absolute()
    out = Path(out)
    path = root / subject / FILE_NAME
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
                blocks = [np.asarray(block, dtype=np.float32) for _, _, block in parts]
                for block, area in zip(blocks, AREAS):
                    check_finite(block, path, area, start)
                frames = np.concatenate(blocks, axis=1)
                usable = frames.shape[0] // step * step
                if usable == 0:
                    break
                samples = frames[:usable].reshape(usable // step, step, -1).mean(axis=1, dtype=np.float64)
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
    frames_per_sample: int = 1,
    progress: Progress | None = None,
) -> list[Path]:
    """Convert several HCP subjects, one store each: ``<out_dir>/hcp_<subject>.h5``; returns the paths.

    subjects: folder names; None takes every subject folder holding the file (:func:`hcp_subjects`).
    Every subject's areas must have the same voxel counts (MinD-Vis stacks subjects without padding);
    that is checked for all of them before the first store is written.
    progress: ``progress(stage, k)`` with stage "subjects" and "samples".
    """
    step = _check_frames_per_sample(frames_per_sample)
    root = Path(root).absolute()
    subjects = hcp_subjects(root) if subjects is None else list(subjects)
    if not subjects:
        raise FileNotFoundError(f"HCP visual voxels not found: expected {root}/<subject>/{FILE_NAME}")
    first = None
    for subject in subjects:
        with NpzArrays(root / subject / FILE_NAME, f"HCP visual voxels of subject {subject!r}") as npz:
            _, widths = _check_areas(npz)
        if first is None:
            first = (subject, widths)
        elif widths != first[1]:
            expected = f"the voxels per area of subject {first[0]!r}: {dict(zip(AREAS, first[1]))}"
            raise format_error(npz.path, None, expected, dict(zip(AREAS, widths)))
    out_dir = Path(out_dir)
    paths = []
    for subject in subjects:
        paths.append(convert_hcp(root, subject, out_dir / f"hcp_{subject}.h5", frames_per_sample=step, progress=progress))
        if progress is not None:
            progress("subjects", 1)
    return paths


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

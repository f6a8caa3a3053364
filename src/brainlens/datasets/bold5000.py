"""BOLD5000, as packaged for MinD-Vis (GLMsingle ROI betas) → subject store.

Files read, under the BOLD5000 folder (MinD-Vis's ``data/BOLD5000``; CSIk is the subject, CSI1..CSI4)::

    BOLD5000_GLMsingle_ROI_betas/py/CSIk_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_allses_<H><ROI>.npy
        (n_trials, n_voxels_in_ROI), rows in presentation order; <H> is LH or RH and <ROI> one of
        EarlyVis, LOC, OPA, PPA, RSC (10 files)
    BOLD5000_Stimuli/Scene_Stimuli/Presented_Stimuli/img_dict.npy
        pickled dict {image file name: (256, 256, 3) uint8}
    BOLD5000_Stimuli/Scene_Stimuli/repeated_stimuli_113_list.txt
        the names of the 113 repeated test images, one per line
    BOLD5000_Stimuli/Stimuli_Presentation_Lists/CSIk/<session folder>/<run>.txt
        one image name per line (37 per run); a leading ``rep_`` marks a repeated image and is not
        part of its name

The presentation lists are read in either naming::

    Stimuli_Presentation_Lists/CSI1/CSI1_sess01/CSI1_sess01_run01.txt     MinD-Vis's folder names
    Stimuli_Presentation_Lists/Subj01/Sess01/Subj01_sess01_run01.txt      the BOLD5000 authors' names

(CSIk when both are there). Session folders are taken in sorted name order; files beside them, such
as the authors' ``Subj01_sess_setup_info.txt``, are skipped. Within each, the ``.txt`` run lists are
taken in sorted name order (the ``.mat`` twin of each run is not read); concatenated, their lines are
the rows of the beta files (5254 for CSI1–3 over 15 sessions, 3108 for CSI4 over 9).

What the store holds:

- ``images``: every image the subject saw, in order of first presentation; ``provenance/image_name``
  their file names. ``split`` is 2 (test) for the repeated images of ``repeated_stimuli_113_list.txt``
  that the subject saw (all 113 for CSI1–3, 106 for CSI4), 0 otherwise, as MinD-Vis splits BOLD5000.
  The list decides, not the ``rep_`` mark: one showing of each repeated image lacks it.
- ``betas``: one row per trial, in presentation order; ``trial_image`` the image shown,
  ``trial_session`` the session (1-based position of its folder; attr ``session_folders`` names
  them), ``provenance/run`` the run within the session (1-based). Columns follow MinD-Vis: for each
  region in EarlyVis, LOC, OPA, PPA, RSC, the left hemisphere, then the right. float32 as released,
  already standardised in a way that is unconfirmed (per voxel or per region), so attr ``zscored``
  is false and readers z-score each voxel within each session.
- voxels: ``voxel/roi`` labels the five regions; ``voxel/roi_sets/hemisphere`` labels LH and RH.
  The region files give no voxel locations, so the store has none (``Store.has_location`` is false).
- attrs: ``source`` (the folder), ``source_files``, ``session_folders``.

Checked rather than assumed: the names of the session folders and run lists within the subject's
folder (only their sorted order is used, and the lists must have exactly one line per beta row); the
number of trials (whatever the files hold, as long as all ten agree with the lists).
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from brainlens.datasets._utils import Progress, blocks, check_finite, check_numeric, format_error, require_file
from brainlens.store import StoreWriter

__all__ = ["ROIS", "SUBJECTS", "convert_bold5000"]

SUBJECTS = (1, 2, 3, 4)
ROIS = ("EarlyVis", "LOC", "OPA", "PPA", "RSC")
HEMISPHERES = ("LH", "RH")
BETA_TYPE = "TYPED-FITHRF-GLMDENOISE-RR"
REPEAT_PREFIX = "rep_"
_ROW_BLOCK = 1024


def convert_bold5000(
    root: str | os.PathLike, subject: int, out: str | os.PathLike, *, progress: Progress | None = None
) -> Path:
    """Convert one BOLD5000 subject (CSI1..CSI4), as packaged for MinD-Vis, into a store at ``out``.

    root: the folder holding ``BOLD5000_GLMsingle_ROI_betas`` and ``BOLD5000_Stimuli``. subject: 1..4.
    progress: ``progress(stage, k)`` with stage "images" and "trials". Returns ``out``.

    Example: ``convert_bold5000("data/BOLD5000", 1, "bold5000_csi1.h5")``.
    """
    if isinstance(subject, bool) or not isinstance(subject, (int, np.integer)) or subject not in SUBJECTS:
        raise ValueError(f"'subject' must be one of {SUBJECTS}. {subject!r} was provided.")
    root = Path(root).absolute()
    out = Path(out)
    csi = f"CSI{subject}"
    stimuli = root / "BOLD5000_Stimuli/Scene_Stimuli"
    beta_paths = [
        root / "BOLD5000_GLMsingle_ROI_betas/py" / f"{csi}_GLMbetas-{BETA_TYPE}_allses_{hemi}{roi}.npy"
        for roi in ROIS
        for hemi in HEMISPHERES
    ]
    betas = [_load_betas(path) for path in beta_paths]
    lists_dir = _lists_folder(root / "BOLD5000_Stimuli/Stimuli_Presentation_Lists", subject)
    trial_names, trial_session, trial_run, session_folders = _read_presentation_lists(lists_dir)
    for data, path in zip(betas, beta_paths):
        check_numeric(path, None, data.shape, data.dtype, "(n_trials, n_voxels)")
        if data.ndim != 2 or data.shape[1] == 0:
            raise format_error(path, None, "(n_trials, n_voxels) betas", f"shape {data.shape}")
        if data.shape[0] != len(trial_names):
            expected = f"one row per line of the presentation lists in {lists_dir} ({len(trial_names)})"
            raise format_error(path, None, expected, f"{data.shape[0]} rows")
    repeated_path = require_file(stimuli / "repeated_stimuli_113_list.txt", "BOLD5000 repeated test images")
    repeated = {_strip_repeat(line.strip()) for line in repeated_path.read_text().splitlines() if line.strip()}
    img_dict_path = require_file(stimuli / "Presented_Stimuli/img_dict.npy", "BOLD5000 images")
    img_dict = _read_img_dict(img_dict_path)

    names, first = np.unique(np.array(trial_names, dtype=object), return_index=True)
    image_names = [str(name) for name in names[np.argsort(first)]]  # first-presentation order
    position = {name: k for k, name in enumerate(image_names)}
    missing = [name for name in image_names if name not in img_dict]
    if missing:
        where = trial_names.index(missing[0])
        expected = f"an image for every presented name (session {trial_session[where]}, run {trial_run[where]} shows {missing[0]!r})"
        raise format_error(img_dict_path, None, expected, f"{len(missing)} presented names without one")
    shape = None
    for name in image_names:
        image = img_dict[name]
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
            found = f"shape {getattr(image, 'shape', None)} dtype {getattr(image, 'dtype', type(image).__name__)}"
            raise format_error(img_dict_path, repr(name), "an (H, W, 3) uint8 image", found)
        shape = shape or image.shape
        if image.shape != shape:
            raise format_error(img_dict_path, repr(name), f"the shape of the other images, {shape}", f"shape {image.shape}")
    split = np.array([2 if name in repeated else 0 for name in image_names], dtype=np.int8)
    if not (split == 2).any():
        expected = f"some of its {len(repeated)} names among the images {csi} saw (the test images)"
        raise format_error(repeated_path, None, expected, "none")
    trial_image = np.array([position[name] for name in trial_names], dtype=np.int64)
    widths = [data.shape[1] for data in betas]  # LH, RH of each region in turn
    edges = np.cumsum([0, *widths])
    labels = np.concatenate([np.full(w, 1 + k // 2, dtype=np.int16) for k, w in enumerate(widths)])
    hemisphere = np.concatenate([np.full(w, 1 + k % 2, dtype=np.int16) for k, w in enumerate(widths)])

    with StoreWriter(
        out,
        n_voxels=sum(widths),
        dataset="bold5000",
        subject=csi,
        source=str(root),
        zscored=False,
        beta_dtype="float32",
        extra_attrs={
            "session_folders": session_folders,
            "source_files": {
                "betas": [str(path) for path in beta_paths],
                "images": str(img_dict_path),
                "repeated": str(repeated_path),
                "presentation_lists": str(lists_dir),
            },
        },
    ) as writer:
        images = writer.create_images(len(image_names), shape[0], shape[1])
        for k, name in enumerate(image_names):
            images[k] = img_dict[name]
            if progress is not None:
                progress("images", 1)
        writer.set_split(split)
        for start, stop in blocks(len(trial_names), _ROW_BLOCK):
            rows = np.concatenate([np.asarray(data[start:stop], dtype=np.float32) for data in betas], axis=1)
            bad = np.argwhere(~np.isfinite(rows))
            if bad.size:
                part = int(np.searchsorted(edges, bad[0][1], side="right")) - 1
                check_finite(rows[:, edges[part] : edges[part + 1]], beta_paths[part], None, start)
            writer.append_trials(rows, trial_session[start:stop], trial_image[start:stop])
            if progress is not None:
                progress("trials", stop - start)
        writer.set_voxels(
            roi=labels, roi_names=["", *ROIS], roi_sets={"hemisphere": (hemisphere, ["", *HEMISPHERES])}
        )
        writer.set_array("provenance/image_name", np.array(image_names, dtype=h5py.string_dtype()))
        writer.set_array("provenance/run", np.asarray(trial_run, dtype=np.int32))
    return out


def _strip_repeat(name: str) -> str:
    return name[len(REPEAT_PREFIX) :] if name.startswith(REPEAT_PREFIX) else name


def _lists_folder(lists: Path, subject: int) -> Path:
    """The subject's presentation-list folder: MinD-Vis's ``CSIk``, or else the authors' ``Subj0k``."""
    options = [lists / f"CSI{subject}", lists / f"Subj{subject:02d}"]
    for folder in options:
        if folder.is_dir():
            return folder
    raise FileNotFoundError(f"BOLD5000 presentation lists not found: expected the folder {options[0]} or {options[1]}")


def _read_presentation_lists(folder: Path) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """Image names per trial (``rep_`` removed), their sessions and runs (1-based), the session folders."""
    sessions = sorted(path for path in folder.iterdir() if path.is_dir())
    if not sessions:
        raise format_error(folder, None, "one folder per session holding .txt run lists", "no folders")
    names, session_of, run_of = [], [], []
    for s, session in enumerate(sessions, start=1):
        runs = sorted(session.glob("*.txt"))
        if not runs:
            raise format_error(session, None, "one .txt list per run", "no .txt files")
        for r, run in enumerate(runs, start=1):
            lines = [line.strip() for line in run.read_text().splitlines()]
            shown = [_strip_repeat(line) for line in lines if line]
            names += shown
            session_of += [s] * len(shown)
            run_of += [r] * len(shown)
    return names, np.array(session_of, dtype=np.int32), np.array(run_of, dtype=np.int32), [p.name for p in sessions]


def _load_betas(path: Path) -> np.ndarray:
    """One region file, memory-mapped: (n_trials, n_voxels)."""
    try:
        return np.load(require_file(path, "BOLD5000 ROI betas"), mmap_mode="r")
    except ValueError as err:  # not an .npy file, or a pickled one
        raise format_error(path, None, "a numeric .npy array (n_trials, n_voxels)", f"a file numpy cannot map ({err})") from None


def _read_img_dict(path: Path) -> dict[str, np.ndarray]:
    # a pickled dict, so it needs allow_pickle (DATASETS.md §7); it is part of the dataset as released
    data = np.load(path, allow_pickle=True)
    if data.dtype != object or data.shape != () or not isinstance(data.item(), dict):
        raise format_error(
            path, None, "a pickled dict {image name: (256, 256, 3) uint8}", f"an array of shape {data.shape} dtype {data.dtype}"
        )
    return {str(name): image for name, image in data.item().items()}

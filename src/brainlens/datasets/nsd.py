"""Natural Scenes Dataset (NSD) → subject store.

Files read, under the NSD root (the layout of the NSD bucket; ``subjXX`` is ``subj01``..``subj08``,
``<version>`` the beta version, by default ``betas_fithrf_GLMdenoise_RR``, NN the session 01..40)::

    nsddata/experiments/nsd/nsd_expdesign.mat        masterordering, subjectim, sharedix (1-based)
    nsddata/experiments/nsd/nsd_stim_info_merged.csv optional: COCO ids, and cross-checks of shared1000
                                                     and subjectK_rep0..2 against the design
    nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5     imgBrick (73000, 425, 425, 3) uint8, 0-based 73k id
                                                     (required: NSD's PNG export nsddata/stimuli/nsd/
                                                     shared1000/shared0001_nsd02951.png ... holds only
                                                     the 1000 shared images, not a subject's other 9000)
  space="func1pt8mm":
    nsddata_betas/ppdata/subjXX/func1pt8mm/<version>/betas_sessionNN.hdf5   betas (750, Z, Y, X) int16
        or, where there is no .hdf5, betas_sessionNN.nii.gz                 (X, Y, Z, 750) int16
    nsddata_betas/ppdata/subjXX/func1pt8mm/<version>/ncsnr.nii.gz           optional (X, Y, Z)
    nsddata/ppdata/subjXX/func1pt8mm/roi/<name>.nii.gz                      mask and region labels
    nsddata/freesurfer/subjXX/label/<name>.mgz.ctab                         region names, lines
                                                                            "<int> <name><TAB><spaces>"
  space="fsaverage":
    nsddata_betas/ppdata/subjXX/fsaverage/<version>/{lh,rh}.betas_sessionNN.mgh  (163842, 1, 1, 750) float,
                                                                                 unscaled (checked: unconfirmed)
    nsddata_betas/ppdata/subjXX/fsaverage/<version>/{lh,rh}.ncsnr.mgh            optional
    nsddata/freesurfer/fsaverage/label/{lh,rh}.<name>.mgz and <name>.mgz.ctab   mask, labels, names

What the store holds:

- ``images``: the images shown in the converted sessions, in ascending 73k id;
  ``provenance/nsd_id`` (n_images,) gives each one's 0-based 73k id (and ``provenance/coco_id`` its
  COCO id when the stim-info CSV is there). ``split`` is 2 (test) for the shared1000 images, 0 otherwise.
- ``betas``: one row per trial, sessions in order, trials in presentation order;
  ``trial_session`` is NSD's session number (1..40); ``provenance/global_trial`` the 0-based trial
  number across the subject's sessions. Volume betas are int16 percent signal change × 300 and are
  divided by 300; then, with ``zscore`` (the default), each voxel is z-scored within each session and
  stored as float16, otherwise kept as float32 percent signal change. A voxel with a non-finite
  value in a session is set to 0 for that whole session; attrs ``nonfinite_voxels`` counts them.
- voxels: ``mask`` names a label file (volume ``roi/<mask>.nii.gz``, surface ``{lh,rh}.<mask>.mgz``)
  and keeps the voxels labelled > 0, or None keeps the whole grid (every vertex). Volume voxels
  are in C order of the (X, Y, Z) grid (``voxel/ijk``), as MindEye and brain-diffuser flatten them;
  surface vertices are left then right (``voxel/vertex``, right ones offset by 163842).
- regions: ``voxel/roi`` holds ``prf-visualrois`` (V1v..hV4); ``nsdgeneral`` and each further label
  file of :data:`ROI_FAMILIES` that exists becomes ``voxel/roi_sets/<name>``, since they overlap.
  Label −1 (outside the labelled region) becomes 0. ``voxel/ncsnr`` when the file is there.
- attrs: ``source`` (the root), ``space``, ``beta_version``, ``sessions``, ``mask``, ``source_files``,
  ``nonfinite_voxels``.

Resuming. Sessions are converted one at a time, each into ``<out>.parts/sessionNN.h5`` (written to a
temporary name and renamed, so a part that exists is whole). A part records a fingerprint of what it
was made from: the source files' paths, sizes and modification times, the voxel selection, the
z-scoring and dtype. A later run reuses a part whose fingerprint matches and remakes any other, so an
interrupted conversion continues where it stopped and a changed source or mask is never mixed in.
Only when every session is ready is the store written (atomically, through StoreWriter); the parts
folder is then removed. Memory is bounded by one session: a few copies of (750, n_kept) float32
(47 MB each for subj01's 15724 nsdgeneral voxels, 2.1 GB for its whole 699192-voxel grid) plus one
read block of at most 64 MB.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import scipy.io

from brainlens.datasets._utils import (
    FSAVERAGE_VERTICES,
    HEMIS,
    ROI_FAMILIES,
    Progress,
    Regions,
    as_labels,
    blocks,
    check_choice,
    check_subject,
    format_error,
    read_ctab,
    require_file,
    roi_names,
)
from brainlens.store import StoreWriter, zscore_sessions

__all__ = ["SPACES", "BETA_VERSIONS", "SESSIONS_PER_SUBJECT", "ROI_FAMILIES", "convert_nsd"]

SPACES = ("func1pt8mm", "fsaverage")
BETA_VERSIONS = ("betas_fithrf_GLMdenoise_RR", "betas_fithrf", "betas_assumehrf")
# sessions each subject completed (subj01..08); the design itself always lists 40
SESSIONS_PER_SUBJECT = {1: 40, 2: 40, 3: 32, 4: 30, 5: 40, 6: 32, 7: 40, 8: 30}
DESIGN_SESSIONS = 40
BETA_SCALE = 300  # volume betas: percent signal change × 300, as int16

_PART_FORMAT = 1  # bump when the content of a session part changes
_READ_BLOCK_BYTES = 64 * 2**20
_IMAGE_BLOCK = 32


@dataclass(frozen=True)
class _Layout:
    """Where each NSD file of one subject and space sits."""

    root: Path
    subject: int
    space: str
    beta_version: str

    @property
    def subj(self) -> str:
        return f"subj{self.subject:02d}"

    @property
    def design(self) -> Path:
        return self.root / "nsddata/experiments/nsd/nsd_expdesign.mat"

    @property
    def stim_info(self) -> Path:
        return self.root / "nsddata/experiments/nsd/nsd_stim_info_merged.csv"

    @property
    def stimuli(self) -> Path:
        return self.root / "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5"

    @property
    def shared1000(self) -> Path:
        """NSD's PNG export of the shared images (not read: it lacks every subject's other images)."""
        return self.root / "nsddata/stimuli/nsd/shared1000"

    @property
    def betas_dir(self) -> Path:
        return self.root / "nsddata_betas/ppdata" / self.subj / self.space / self.beta_version

    @property
    def surface(self) -> bool:
        return self.space == "fsaverage"

    def session_files(self, session: int) -> list[Path]:
        """The beta files of one session: [lh, rh] on the surface; [hdf5] or else [nifti] in the volume."""
        name = f"betas_session{session:02d}"
        if self.surface:
            files = [self.betas_dir / f"{hemi}.{name}.mgh" for hemi in HEMIS]
            missing = [path for path in files if not path.is_file()]
            if not missing:
                return files
            expected = " and ".join(str(path) for path in missing)
        else:
            options = [self.betas_dir / f"{name}.hdf5", self.betas_dir / f"{name}.nii.gz"]
            for path in options:
                if path.is_file():
                    return [path]
            expected = " or ".join(str(path) for path in options)
        raise FileNotFoundError(
            f"NSD betas of session {session} not found: expected {expected}. "
            "Releases before 2023 hold 37 sessions per subject; pass sessions=range(1, 38) for those."
        )

    def label_files(self, name: str) -> list[Path]:
        if self.surface:
            return [self.root / "nsddata/freesurfer/fsaverage/label" / f"{hemi}.{name}.mgz" for hemi in HEMIS]
        return [self.root / "nsddata/ppdata" / self.subj / self.space / "roi" / f"{name}.nii.gz"]

    def ctab(self, name: str) -> Path:
        owner = "fsaverage" if self.surface else self.subj
        return self.root / "nsddata/freesurfer" / owner / "label" / f"{name}.mgz.ctab"

    def ncsnr_files(self) -> list[Path]:
        if self.surface:
            return [self.betas_dir / f"{hemi}.ncsnr.mgh" for hemi in HEMIS]
        return [self.betas_dir / "ncsnr.nii.gz"]


@dataclass(frozen=True)
class _Voxels:
    """The voxels a conversion keeps, in store order: volume indices, or vertices per hemisphere."""

    ijk: np.ndarray | None = None  # (n, 3) int64, C order of the (X, Y, Z) grid
    grid: tuple[int, int, int] | None = None
    hemi_vertices: tuple[np.ndarray, np.ndarray] | None = None  # (n_lh,), (n_rh,) int64

    @property
    def n(self) -> int:
        return len(self.ijk) if self.ijk is not None else sum(len(v) for v in self.hemi_vertices)

    def take(self, maps: list[np.ndarray]) -> np.ndarray:
        """Values of whole-brain maps ([volume (X, Y, Z)] or [lh, rh] (163842,)) at the kept voxels."""
        if self.ijk is not None:
            return maps[0][tuple(self.ijk.T)]
        return np.concatenate([m[v] for m, v in zip(maps, self.hemi_vertices)])

    @property
    def vertex(self) -> np.ndarray:
        lh, rh = self.hemi_vertices
        return np.concatenate([lh, rh + FSAVERAGE_VERTICES])

    def fingerprint(self) -> str:
        digest = hashlib.sha1()
        parts = [self.ijk, np.array(self.grid)] if self.ijk is not None else list(self.hemi_vertices)
        for part in parts:
            digest.update(np.ascontiguousarray(part, dtype=np.int64).tobytes())
            digest.update(b"|")
        return digest.hexdigest()


@dataclass(frozen=True)
class _Design:
    """The subject's trials and images from nsd_expdesign.mat, all 0-based."""

    trial_nsd_id: np.ndarray  # (40 * trials_per_session,) 73k id shown on each global trial
    shared: np.ndarray  # (n_shared,) sorted 73k ids of the shared images
    trials_per_session: int


def convert_nsd(
    root: str | os.PathLike,
    subject: int,
    out: str | os.PathLike,
    *,
    space: str = "func1pt8mm",
    sessions: Iterable[int] | None = None,
    mask: str | None = "nsdgeneral",
    beta_version: str = "betas_fithrf_GLMdenoise_RR",
    zscore: bool = True,
    progress: Progress | None = None,
) -> Path:
    """Convert one NSD subject into a subject store at ``out``; returns ``out``.

    root: the NSD root (holding ``nsddata``, ``nsddata_betas``, ``nsddata_stimuli``).
    subject: 1..8. space: "func1pt8mm" or "fsaverage".
    sessions: NSD session numbers to convert (e.g. ``range(1, 38)`` for the 37-session release);
        None converts every session the subject completed (40, 40, 32, 30, 40, 32, 40, 30).
    mask: a label file's name (e.g. "nsdgeneral", "floc-faces"); voxels labelled > 0 are kept. None
        keeps every voxel of the grid (every fsaverage vertex).
    zscore: z-score each voxel within each session (float16); False keeps percent signal change (float32).
    progress: ``progress(stage, k)`` with stage "sessions" (one per session ready) and "images".

    Example: ``convert_nsd("/data/nsd", 1, "subj01.h5", sessions=range(1, 38))``.
    """
    subject = check_subject(subject)
    check_choice("space", space, SPACES)
    check_choice("beta_version", beta_version, BETA_VERSIONS)
    if mask is not None and (not isinstance(mask, str) or not mask):
        raise ValueError(f"'mask' must be a label file's name (e.g. 'nsdgeneral') or None. {mask!r} was provided.")
    layout = _Layout(Path(root).absolute(), subject, space, beta_version)
    out = Path(out)
    sessions = _check_sessions(sessions, subject)

    # everything is checked before the first session is read
    design = _read_design(require_file(layout.design, "NSD experimental design"), subject)
    brick_path = _require_stimuli(layout, design)
    files = {session: layout.session_files(session) for session in sessions}
    n_trials = design.trials_per_session
    global_trial = np.concatenate([np.arange((s - 1) * n_trials, s * n_trials) for s in sessions])
    trial_nsd_id = design.trial_nsd_id[global_trial]
    nsd_id = np.unique(trial_nsd_id)  # the store's images, ascending 73k id
    trial_image = np.searchsorted(nsd_id, trial_nsd_id)
    n_brick = _check_brick(brick_path, nsd_id)
    coco_id = None
    if layout.stim_info.is_file():
        coco_id = _check_stim_info(layout.stim_info, subject, nsd_id, trial_image, global_trial, design.shared, n_brick)
    voxels = _select_voxels(layout, mask, files[sessions[0]])
    main, sets = _regions(layout, voxels)
    ncsnr = _ncsnr(layout, voxels)

    work = out.with_name(out.name + ".parts")
    work.mkdir(parents=True, exist_ok=True)
    beta_dtype = "float16" if zscore else "float32"
    parts, nonfinite = {}, {}
    for session in sessions:
        parts[session], nonfinite[session] = _session_part(
            work, session, files[session], voxels, n_trials, zscore=zscore, dtype=beta_dtype
        )
        if progress is not None:
            progress("sessions", 1)

    source_files = {
        "design": str(layout.design),
        "stimuli": str(brick_path),
        "stim_info": str(layout.stim_info) if coco_id is not None else "",
        "betas": [str(path) for s in sessions for path in files[s]],
        "mask": [str(path) for path in layout.label_files(mask)] if mask else [],
        "ncsnr": [str(path) for path in layout.ncsnr_files()] if ncsnr is not None else [],
    }
    with StoreWriter(
        out,
        n_voxels=voxels.n,
        dataset="nsd",
        subject=str(subject),
        source=str(layout.root),
        zscored=zscore,
        beta_dtype=beta_dtype,
        extra_attrs={
            "space": space,
            "beta_version": beta_version,
            "sessions": list(sessions),
            "mask": mask or "",
            "source_files": source_files,
            "nonfinite_voxels": {str(s): n for s, n in nonfinite.items()},
        },
    ) as writer:
        _copy_images(writer, brick_path, nsd_id, progress)
        writer.set_split(np.where(np.isin(nsd_id, design.shared), 2, 0))
        for session in sessions:
            rows = global_trial // n_trials == session - 1
            with h5py.File(parts[session], "r") as part:
                writer.append_trials(part["betas"][()], session, trial_image[rows])
        location = {"vertex": voxels.vertex} if layout.surface else {"ijk": voxels.ijk, "volume_shape": voxels.grid}
        writer.set_voxels(roi=main[0], roi_names=main[1], space=space, ncsnr=ncsnr, roi_sets=sets, **location)
        writer.set_array("provenance/nsd_id", nsd_id.astype(np.int64))
        writer.set_array("provenance/global_trial", global_trial.astype(np.int64))
        if coco_id is not None:
            writer.set_array("provenance/coco_id", coco_id)
    shutil.rmtree(work)
    return out


# --------------------------------------------------------------------------------------------
# design, stimuli, stim info


def _check_sessions(sessions: Iterable[int] | None, subject: int) -> list[int]:
    completed = SESSIONS_PER_SUBJECT[subject]
    if sessions is None:
        return list(range(1, completed + 1))
    chosen = [int(s) for s in sessions]
    bad = [s for s in chosen if not 1 <= s <= completed]
    if bad or not chosen or len(set(chosen)) != len(chosen):
        raise ValueError(
            f"'sessions' must be distinct session numbers 1..{completed} (subject {subject} completed "
            f"{completed}). {chosen!r} was provided."
        )
    return sorted(chosen)


def _read_design(path: Path, subject: int) -> _Design:
    try:
        mat = scipy.io.loadmat(path)
    except NotImplementedError as err:  # scipy's answer to a v7.3 (HDF5) file
        raise format_error(path, None, "a MATLAB v5 file (read by scipy.io.loadmat)", f"another version ({err})") from err
    missing = [key for key in ("masterordering", "subjectim", "sharedix") if key not in mat]
    if missing:
        found = sorted(key for key in mat if not key.startswith("__"))
        raise format_error(path, missing[0], "variables masterordering, subjectim, sharedix", found)
    subjectim = mat["subjectim"]
    if subjectim.ndim != 2 or subjectim.shape[0] != 8:
        raise format_error(path, "subjectim", "shape (8, 10000): each subject's 73k ids", f"shape {subjectim.shape}")
    n_own = subjectim.shape[1]
    ordering = _one_based(mat["masterordering"], path, "masterordering", n_own)
    if ordering.size == 0 or ordering.size % DESIGN_SESSIONS:
        expected = f"{DESIGN_SESSIONS} sessions × trials per session (30000)"
        raise format_error(path, "masterordering", expected, f"{ordering.size} trials")
    own = _one_based(subjectim[subject - 1], path, f"subjectim[{subject - 1}]")
    shared = np.sort(_one_based(mat["sharedix"], path, "sharedix"))
    # the first columns of subjectim are the shared images, ascending, for every subject
    if shared.size > n_own or not np.array_equal(own[: shared.size], shared):
        expected = f"its first {shared.size} columns to equal sharedix (the shared images, ascending)"
        raise format_error(path, f"subjectim[{subject - 1}]", expected, f"{own[:5] + 1} ... (1-based)")
    return _Design(trial_nsd_id=own[ordering], shared=shared, trials_per_session=ordering.size // DESIGN_SESSIONS)


def _one_based(values: np.ndarray, path: Path, key: str, upper: int | None = None) -> np.ndarray:
    """1-based indices of a MATLAB variable as 0-based int64, checked to be 1..upper."""
    values = np.asarray(values).reshape(-1)
    index = as_labels(values, path, key, lowest=0)
    if index.size and index.min() < 1:
        raise format_error(path, key, "1-based indices (MATLAB), all >= 1", f"{index.min()} (is the file 0-based?)")
    if upper is not None and index.size and index.max() > upper:
        raise format_error(path, key, f"indices 1..{upper}", f"{index.max()}")
    return index - 1


def _require_stimuli(layout: _Layout, design: _Design) -> Path:
    """nsd_stimuli.hdf5; without it, an error that says what the shared1000 PNGs, if that is what
    the user has, cannot give: the images each subject saw alone."""
    if layout.stimuli.is_file():
        return layout.stimuli
    message = f"NSD stimuli not found: expected {layout.stimuli}"
    pngs = sorted(layout.shared1000.glob("shared*_nsd*.png")) if layout.shared1000.is_dir() else []
    if pngs:
        others = np.setdiff1d(design.trial_nsd_id, design.shared).size
        message += (
            f". {layout.shared1000} holds {len(pngs)} shared1000 PNGs ({pngs[0].name} ...), NSD's export of the "
            f"shared images only: subject {layout.subject}'s other {others} images are not among them. Download "
            f"nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5 (all 73000 images) into {layout.root}."
        )
    raise FileNotFoundError(message)


def _check_brick(path: Path, nsd_id: np.ndarray) -> int:
    with h5py.File(path, "r") as f:
        if "imgBrick" not in f:
            raise format_error(path, "imgBrick", "a dataset 'imgBrick' (73000, 425, 425, 3) uint8", f"keys {sorted(f)}")
        brick = f["imgBrick"]
        if brick.ndim != 4 or brick.shape[-1] != 3 or brick.dtype != np.uint8:
            raise format_error(path, "imgBrick", "(73000, 425, 425, 3) uint8", f"shape {brick.shape} dtype {brick.dtype}")
        if nsd_id.max() >= brick.shape[0]:
            expected = f"an image for 73k id {nsd_id.max()} (0-based), which the design lists"
            raise format_error(path, "imgBrick", expected, f"{brick.shape[0]} images")
        return brick.shape[0]


def _check_stim_info(
    path: Path,
    subject: int,
    nsd_id: np.ndarray,
    trial_image: np.ndarray,
    global_trial: np.ndarray,
    shared: np.ndarray,
    n_brick: int,
) -> np.ndarray:
    """COCO ids (n_images,) int64 of the store's images, after checking the CSV agrees with the design.

    Columns are addressed by name (the order of the ``_rep`` columns is unconfirmed); rows are in
    73k id order; ``subjectK_repR`` is the 1-based global trial of a presentation, 0 for none.
    """
    reps = [f"subject{subject}_rep{r}" for r in range(3)]
    wanted = ["nsdId", "cocoId", "shared1000", f"subject{subject}", *reps]
    with path.open(newline="") as f:
        rows = csv.reader(f)
        header = next(rows, [])
        missing = [name for name in wanted if name not in header]
        if missing:
            raise format_error(path, "header", f"columns {wanted}", f"no {missing}")
        columns = [header.index(name) for name in wanted]
        table = []
        for row in rows:
            if len(row) != len(header):
                raise format_error(path, f"line {rows.line_num}", f"{len(header)} fields as the header", len(row))
            table.append([row[c] for c in columns])
    if len(table) != n_brick:
        raise format_error(path, None, f"one row per image of imgBrick ({n_brick})", f"{len(table)} rows")
    info = np.empty((nsd_id.size, len(wanted)), dtype=np.int64)
    for i, image in enumerate(nsd_id):
        row = table[image]
        try:
            info[i] = [_csv_int(value) for value in row]
        except ValueError as err:
            raise format_error(path, f"row {image}", "integers and True/False", f"{row} ({err})") from None
    is_shared = np.isin(nsd_id, shared)
    checks = [
        ("nsdId", info[:, 0] != nsd_id, "the row's own 0-based 73k id (rows in 73k id order)"),
        ("shared1000", info[:, 2].astype(bool) != is_shared, "what sharedix in nsd_expdesign.mat says"),
        (f"subject{subject}", info[:, 3] != 1, f"1: nsd_expdesign.mat shows the image to subject {subject}"),
    ]
    for column, wrong, expected in checks:
        if wrong.any():
            i = np.flatnonzero(wrong)[0]
            found = {"nsdId": info[i, 0], "shared1000": bool(info[i, 2])}.get(column, info[i, 3])
            raise format_error(path, f"row {nsd_id[i]}, {column}", expected, found)
    listed = np.any(info[trial_image, 4:] == (global_trial + 1)[:, None], axis=1)
    if not listed.all():
        t = np.flatnonzero(~listed)[0]
        image = nsd_id[trial_image[t]]
        raise format_error(
            path,
            f"row {image}, {', '.join(reps)}",
            f"1-based global trial {global_trial[t] + 1} among them: nsd_expdesign.mat shows image {image} then",
            info[trial_image[t], 4:].tolist(),
        )
    return info[:, 1]


def _csv_int(value: str) -> int:
    if value in ("True", "False"):
        return int(value == "True")
    return int(float(value))


def _copy_images(writer: StoreWriter, brick_path: Path, nsd_id: np.ndarray, progress: Progress | None) -> None:
    with h5py.File(brick_path, "r") as f:
        brick = f["imgBrick"]
        images = writer.create_images(nsd_id.size, brick.shape[1], brick.shape[2])
        for start, stop in blocks(nsd_id.size, _IMAGE_BLOCK):
            # one image at a time: h5py's list indexing is far slower than a slice per image
            images[start:stop] = np.stack([brick[k] for k in nsd_id[start:stop]])
            if progress is not None:
                progress("images", stop - start)


# --------------------------------------------------------------------------------------------
# voxels, regions, ncsnr


def _select_voxels(layout: _Layout, mask: str | None, first_session: list[Path]) -> _Voxels:
    if mask is not None:
        maps = _read_maps(layout, layout.label_files(mask), f"NSD mask {mask!r}")
        keep = [as_labels(m, path, lowest=-1) > 0 for m, path in zip(maps, layout.label_files(mask))]
    elif layout.surface:
        keep = [np.ones(FSAVERAGE_VERTICES, dtype=bool)] * 2
    else:
        keep = [np.ones(_volume_grid(first_session[0]), dtype=bool)]
    if not any(k.any() for k in keep):
        raise format_error(layout.label_files(mask)[0], None, "some voxels labelled > 0 to keep", "none")
    if layout.surface:
        return _Voxels(hemi_vertices=tuple(np.flatnonzero(k) for k in keep))
    return _Voxels(ijk=np.argwhere(keep[0]), grid=tuple(int(n) for n in keep[0].shape))


def _volume_grid(path: Path) -> tuple[int, int, int]:
    """The (X, Y, Z) grid of a volume beta file, from its header."""
    if path.suffix == ".hdf5":
        with h5py.File(path, "r") as f:
            if "betas" not in f or f["betas"].ndim != 4:
                raise format_error(path, "betas", "a dataset 'betas' (750, Z, Y, X)", f"keys {sorted(f)}")
            return tuple(int(n) for n in f["betas"].shape[:0:-1])
    shape = nib.load(path).shape
    if len(shape) != 4:
        raise format_error(path, None, "a 4-D volume (X, Y, Z, 750)", f"shape {shape}")
    return tuple(int(n) for n in shape[:3])


def _read_maps(layout: _Layout, paths: list[Path], what: str, *, voxels: _Voxels | None = None) -> list[np.ndarray]:
    """Whole-brain maps: [volume (X, Y, Z)] or [lh, rh] each (163842,), checked against the grid."""
    maps = []
    for path in paths:
        data = np.asarray(nib.load(require_file(path, what)).get_fdata(dtype=np.float32))
        if layout.surface:
            data = data.reshape(-1) if data.size == data.shape[0] else data
            if data.shape != (FSAVERAGE_VERTICES,):
                raise format_error(path, None, f"{FSAVERAGE_VERTICES} fsaverage vertices", f"shape {data.shape}")
        else:
            if data.ndim != 3:
                raise format_error(path, None, "a 3-D volume (X, Y, Z)", f"shape {data.shape}")
            if voxels is not None and data.shape != voxels.grid:
                raise format_error(path, None, f"the betas' grid {voxels.grid}", f"shape {data.shape}")
        maps.append(data)
    return maps


def _regions(layout: _Layout, voxels: _Voxels) -> tuple[Regions, dict[str, Regions]]:
    """voxel/roi (prf-visualrois) and the region sets (nsdgeneral and the other label files present)."""
    main = (np.zeros(voxels.n, dtype=np.int16), [""])
    sets = {}
    for name in ("nsdgeneral", *ROI_FAMILIES):
        paths = layout.label_files(name)
        if not any(path.is_file() for path in paths):
            continue
        maps = _read_maps(layout, paths, f"NSD label file {name!r}", voxels=voxels)
        labels = np.clip(as_labels(voxels.take(maps), paths[0], lowest=-1), 0, None)
        if name == "nsdgeneral":
            regions = ((labels > 0).astype(np.int16), ["", "nsdgeneral"])
        else:
            names = read_ctab(require_file(layout.ctab(name), f"names of NSD label file {name!r}"))
            regions = (labels.astype(np.int16), roi_names(names, labels, layout.ctab(name)))
        if name == ROI_FAMILIES[0]:
            main = regions
        else:
            sets[name] = regions
    return main, sets


def _ncsnr(layout: _Layout, voxels: _Voxels) -> np.ndarray | None:
    paths = layout.ncsnr_files()
    if not all(path.is_file() for path in paths):
        return None
    ncsnr = voxels.take(_read_maps(layout, paths, "NSD ncsnr", voxels=voxels))
    negative = np.flatnonzero(ncsnr < 0)
    if negative.size:
        raise format_error(paths[0], None, "ncsnr >= 0", f"{ncsnr[negative[0]]} at kept voxel {negative[0]}")
    # outside the brain ncsnr may be NaN; such a voxel has no explainable variance
    return np.nan_to_num(ncsnr, nan=0.0, posinf=0.0).astype(np.float32)


# --------------------------------------------------------------------------------------------
# sessions


def _session_part(
    work: Path, session: int, files: list[Path], voxels: _Voxels, n_trials: int, *, zscore: bool, dtype: str
) -> tuple[Path, int]:
    """The session's finished betas in ``work`` (reused when its fingerprint matches); the part's path
    and the number of voxels set to 0 for non-finite values."""
    part = work / f"session{session:02d}.h5"
    fingerprint = json.dumps(
        {
            "format": _PART_FORMAT,
            "files": [[str(path.resolve()), path.stat().st_size, path.stat().st_mtime_ns] for path in files],
            "voxels": voxels.fingerprint(),
            "trials": n_trials,
            "zscore": zscore,
            "dtype": dtype,
        },
        sort_keys=True,
    )
    try:
        with h5py.File(part, "r") as f:
            if f.attrs.get("fingerprint") == fingerprint and f["betas"].shape == (n_trials, voxels.n):
                return part, int(f.attrs["nonfinite_voxels"])
    except (OSError, KeyError):  # no part yet, or one that cannot be read: make it afresh
        pass
    betas = _read_session(files, voxels, n_trials)  # (n_trials, n_voxels) float32
    nonfinite = ~np.isfinite(betas).all(axis=0)
    betas[:, nonfinite] = 0.0
    if zscore:
        betas = zscore_sessions(betas, np.full(n_trials, session))
    tmp = part.with_name(f".{part.name}.{os.getpid()}.tmp")
    try:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("betas", data=betas.astype(dtype))
            f.attrs["fingerprint"] = fingerprint
            f.attrs["nonfinite_voxels"] = int(nonfinite.sum())
        os.replace(tmp, part)
    finally:
        tmp.unlink(missing_ok=True)
    return part, int(nonfinite.sum())


def _read_session(files: list[Path], voxels: _Voxels, n_trials: int) -> np.ndarray:
    """One session's betas at the kept voxels: (n_trials, n_voxels) float32, percent signal change."""
    if voxels.ijk is None:
        return np.concatenate(
            [_read_mgh(path, vertices, n_trials) for path, vertices in zip(files, voxels.hemi_vertices)], axis=1
        )
    path = files[0]
    raw = _read_hdf5(path, voxels, n_trials) if path.suffix == ".hdf5" else _read_nifti(path, voxels, n_trials)
    betas = raw.astype(np.float32)
    betas /= BETA_SCALE
    return betas


def _read_hdf5(path: Path, voxels: _Voxels, n_trials: int) -> np.ndarray:
    """(n_trials, n_voxels) int16. h5py reads the file as (trials, Z, Y, X), so the voxels' (i, j, k)
    are looked up as [:, k, j, i]: the file is read in Z slabs, each cut to the kept voxels' bounding
    box (the file is chunked along trials, one chunk per voxel, so any box reads efficiently)."""
    with h5py.File(path, "r") as f:
        if "betas" not in f:
            raise format_error(path, "betas", "a dataset 'betas'", f"keys {sorted(f)}")
        ds = f["betas"]
        x, y, z = voxels.grid
        if ds.shape != (n_trials, z, y, x):
            expected = f"shape {(n_trials, z, y, x)}: (trials, Z, Y, X) of the (X, Y, Z) grid {voxels.grid}"
            raise format_error(path, "betas", expected, f"shape {ds.shape}")
        if ds.dtype != np.int16:
            raise format_error(path, "betas", "int16 (percent signal change × 300)", f"dtype {ds.dtype}")
        out = np.empty((n_trials, voxels.n), dtype=np.int16)
        i, j, k = voxels.ijk.T
        for z0, z1 in blocks(z, _READ_BLOCK_BYTES // (n_trials * y * x * 2)):
            cols = np.flatnonzero((k >= z0) & (k < z1))
            if cols.size:
                y0, x0 = j[cols].min(), i[cols].min()
                slab = ds[:, z0:z1, y0 : j[cols].max() + 1, x0 : i[cols].max() + 1]  # (n_trials, dz, dy, dx)
                out[:, cols] = slab[:, k[cols] - z0, j[cols] - y0, i[cols] - x0]
    return out


def _read_nifti(path: Path, voxels: _Voxels, n_trials: int) -> np.ndarray:
    """(n_trials, n_voxels) int16 from an (X, Y, Z, trials) volume, read in blocks of trials."""
    with _stream(path) as fobj:
        image = nib.Nifti1Image.from_stream(fobj)
        expected = (*voxels.grid, n_trials)
        if image.shape != expected:
            raise format_error(path, None, f"shape {expected}: (X, Y, Z, trials)", f"shape {image.shape}")
        if image.get_data_dtype() != np.int16 or image.dataobj.slope != 1 or image.dataobj.inter != 0:
            found = f"dtype {image.get_data_dtype().name}, scl_slope {image.dataobj.slope}, scl_inter {image.dataobj.inter}"
            raise format_error(path, None, "unscaled int16 (percent signal change × 300)", found)
        out = np.empty((n_trials, voxels.n), dtype=np.int16)
        index = tuple(voxels.ijk.T)
        for t0, t1 in blocks(n_trials, _READ_BLOCK_BYTES // (2 * int(np.prod(voxels.grid)))):
            out[t0:t1] = np.asarray(image.dataobj[..., t0:t1])[index].T
    return out


def _read_mgh(path: Path, vertices: np.ndarray, n_trials: int) -> np.ndarray:
    """(n_trials, n_vertices) float32 from one hemisphere's (163842, 1, 1, trials) MGH file."""
    with _stream(path) as fobj:
        image = nib.MGHImage.from_stream(fobj)
        expected = (FSAVERAGE_VERTICES, 1, 1, n_trials)
        if image.shape != expected:
            raise format_error(path, None, f"shape {expected}", f"shape {image.shape}")
        # DATASETS.md: float percent signal change, unlike the int16 × 300 volumes (unconfirmed)
        if not np.issubdtype(image.get_data_dtype(), np.floating):
            expected = "float betas (percent signal change, not scaled to int16)"
            raise format_error(path, None, expected, f"dtype {image.get_data_dtype().name}")
        out = np.empty((n_trials, vertices.size), dtype=np.float32)
        for t0, t1 in blocks(n_trials, _READ_BLOCK_BYTES // (4 * FSAVERAGE_VERTICES)):
            out[t0:t1] = np.asarray(image.dataobj[:, 0, 0, t0:t1])[vertices].T
    return out


@contextmanager
def _stream(path: Path):
    """One open handle for a whole read, so that blocks of a .gz file decompress once, in order."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fobj:
        yield fobj

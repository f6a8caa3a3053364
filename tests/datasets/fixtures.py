"""Tiny copies of NSD and Algonauts 2023 in their released layout, for the converter tests.

Each builder writes the dataset's own files into a folder (names, keys, dtypes, axis orders, index
bases and scaling as DATASETS.md gives them: MATLAB v5 via scipy.io.savemat, HDF5 via h5py, NIfTI
and MGH via nibabel, PNG via PIL) and returns what it put where, so tests can check where each value
lands. Only the sizes shrink: 3 trials per session instead of 750, a 40-image list per subject with
6 shared images instead of 10000 with 1000, 80 stimuli instead of 73000, a (6, 7, 5) voxel grid.
Per-item shapes stay real: 425 × 425 RGB images, 163842 vertices per fsaverage hemisphere.

Every image encodes its 0-based 73k id in its top-left pixel (base-256 digits in R, G, B), so a test
can tell which image landed where.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import scipy.io
from PIL import Image

IMAGE_SIZE = 425
FSAVERAGE_VERTICES = 163842
# sessions each subject completed, as DATASETS.md §1.2 gives them (kept here, apart from the module, as the spec)
SESSIONS_PER_SUBJECT = {1: 40, 2: 40, 3: 32, 4: 30, 5: 40, 6: 32, 7: 40, 8: 30}
# label names by file, as the NSD ctab files and the Algonauts mapping dicts give them
LABEL_NAMES = {
    "prf-visualrois": ["V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4"],
    "floc-bodies": ["EBA", "FBA-1", "FBA-2", "mTL-bodies"],
    "floc-faces": ["OFA", "FFA-1", "FFA-2", "mTL-faces", "aTL-faces"],
    "floc-places": ["OPA", "PPA", "RSC"],
    "floc-words": ["OWFA", "VWFA-1", "VWFA-2", "mfs-words", "mTL-words"],
    "streams": ["early", "midventral", "midlateral", "midparietal", "ventral", "lateral", "parietal"],
}
NSD_FAMILIES = ("prf-visualrois", "floc-faces", "floc-places")  # the label files the NSD copy has


def nsd_image(nsd_id: int, size: int = IMAGE_SIZE) -> np.ndarray:
    """The fixture's stimulus for a 73k id: (size, size, 3) uint8."""
    row = np.empty((size, 3), dtype=np.uint8)
    row[:, 0] = nsd_id % 256
    row[:, 1] = nsd_id // 256 % 256
    row[:, 2] = nsd_id // 65536 + np.arange(size) % 64 * 2  # a gradient, so images are not flat
    return np.ascontiguousarray(np.broadcast_to(row, (size, size, 3)))


def image_id(image: np.ndarray) -> int:
    """The 73k id an image of :func:`nsd_image` encodes."""
    return int(image[0, 0, 0]) + 256 * int(image[0, 0, 1]) + 65536 * int(image[0, 0, 2])


def ctab_line(label: int, name: str) -> str:
    """One line of an NSD ``.mgz.ctab`` as the release writes it: ``<int> <name><TAB><spaces>`` (the
    padding varies from line to line), so a reader that splits on single spaces keeps the whitespace."""
    return f"{label} {name}\t{' ' * (1 + label % 3)}\n"


def _ctab(path: Path, names: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(ctab_line(k, name) for k, name in enumerate(["Unknown", *names])))


# --------------------------------------------------------------------------------------------
# NSD


@dataclass
class NSDCopy:
    root: Path
    trials_per_session: int
    grid: tuple[int, int, int]  # (X, Y, Z)
    shared: np.ndarray  # (n_shared,) 0-based 73k ids
    trial_nsd_id: dict[int, np.ndarray]  # subject -> (40 * trials_per_session,) 0-based 73k id per global trial
    volume_labels: dict[str, np.ndarray]  # file name -> (X, Y, Z) labels as written (-1 outside)
    surface_labels: dict[str, tuple[np.ndarray, np.ndarray]]  # file name -> (lh, rh) (163842,) labels; {} without fsaverage
    volume_betas: dict[tuple[int, int], np.ndarray] = field(repr=False)  # (subject, session) -> (X, Y, Z, T) int16
    surface_betas: dict[int, tuple[np.ndarray, np.ndarray]] = field(repr=False)  # session -> (163842, T) float32 ×2
    planted_volume: tuple  # (subject, session, trial in session, (i, j, k), int16 value)
    planted_surface: tuple  # (session, trial in session, hemisphere index, vertex, value)
    nan_surface: tuple  # (session, hemisphere index, vertex) with NaN betas

    def betas_dir(self, subject: int, space: str = "func1pt8mm") -> Path:
        return self.root / f"nsddata_betas/ppdata/subj{subject:02d}/{space}/betas_fithrf_GLMdenoise_RR"

    @property
    def design_path(self) -> Path:
        return self.root / "nsddata/experiments/nsd/nsd_expdesign.mat"

    @property
    def stim_info_path(self) -> Path:
        return self.root / "nsddata/experiments/nsd/nsd_stim_info_merged.csv"


def make_nsd(
    root: Path,
    *,
    subjects: tuple[int, ...] = (1, 4),
    volume_format: str = "hdf5",
    fsaverage_sessions: tuple[int, ...] = (1, 2),
    seed: int = 0,
) -> NSDCopy:
    """Write a tiny NSD under ``root``: the design for all 8 subjects, stimuli, stim info, and for
    ``subjects`` the func1pt8mm betas of every session they completed (``volume_format`` "hdf5" or
    "nifti"), ROI files with ctab names and ncsnr; for subject 1 also fsaverage betas of
    ``fsaverage_sessions`` (none when empty) with fsaverage labels."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    trials, n_own, n_shared, n_brick = 3, 40, 6, 80

    # the design, decided 0-based, written 1-based as the .mat file holds it
    ordering = rng.permutation(np.repeat(np.arange(n_own), trials))  # 10k index per global trial
    pool = rng.permutation(n_brick)
    shared = np.sort(pool[:n_shared])
    own_ids = {1: pool[n_shared : n_shared + 34], 4: pool[n_shared + 34 : n_shared + 68]}
    subject_ids = np.empty((8, n_own), dtype=np.int64)
    for s in range(1, 9):
        subject_ids[s - 1] = np.concatenate([shared, own_ids.get(s, rng.permutation(own_ids[1]))])
    trial_nsd_id = {s: subject_ids[s - 1][ordering] for s in range(1, 9)}
    design = root / "nsddata/experiments/nsd/nsd_expdesign.mat"
    design.parent.mkdir(parents=True)
    scipy.io.savemat(
        design,
        {
            "masterordering": (ordering + 1)[None, :].astype(np.float64),
            "subjectim": (subject_ids + 1).astype(np.float64),
            "sharedix": (shared + 1)[None, :].astype(np.float64),
        },
    )

    brick = root / "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5"
    brick.parent.mkdir(parents=True)
    with h5py.File(brick, "w") as f:
        # compressed here only to keep the tests' disk traffic low; readers see the same dataset
        shape = (n_brick, IMAGE_SIZE, IMAGE_SIZE, 3)
        ds = f.create_dataset("imgBrick", shape=shape, dtype=np.uint8, chunks=(1, *shape[1:]), compression="lzf")
        for k in range(n_brick):
            ds[k] = nsd_image(k)

    _write_stim_info(root / "nsddata/experiments/nsd/nsd_stim_info_merged.csv", trial_nsd_id, shared, n_brick, trials, rng)

    # volume: the brain mask leaves x = 0 and x = 5 out; labels are defined (>= 0) on y >= 1 within it
    grid = (6, 7, 5)
    x, y, z = np.indices(grid)
    brain = (x >= 1) & (x <= 4)
    labelled = brain & (y >= 1)
    volume_labels = {"nsdgeneral": np.where(labelled, (z >= 2).astype(np.int64), -1)}
    for name in NSD_FAMILIES:
        labels = rng.integers(0, len(LABEL_NAMES[name]) + 1, size=grid) * (rng.random(grid) < 0.5)
        volume_labels[name] = np.where(labelled, labels, -1)
    affine = np.diag([1.8, 1.8, 1.8, 1.0])
    volume_betas = {}
    for subject in subjects:
        roi_dir = root / f"nsddata/ppdata/subj{subject:02d}/func1pt8mm/roi"
        roi_dir.mkdir(parents=True)
        for name, labels in volume_labels.items():
            # ROI volumes hold integer labels stored as float
            nib.save(nib.Nifti1Image(labels.astype(np.float32), affine), roi_dir / f"{name}.nii.gz")
            if name != "nsdgeneral":
                _ctab(root / f"nsddata/freesurfer/subj{subject:02d}/label/{name}.mgz.ctab", LABEL_NAMES[name])
        betas_dir = root / f"nsddata_betas/ppdata/subj{subject:02d}/func1pt8mm/betas_fithrf_GLMdenoise_RR"
        betas_dir.mkdir(parents=True)
        ncsnr = np.where(brain, rng.random(grid) * 0.8, np.nan).astype(np.float32)
        nib.save(nib.Nifti1Image(ncsnr, affine), betas_dir / "ncsnr.nii.gz")
        for session in range(1, SESSIONS_PER_SUBJECT[subject] + 1):
            raw = np.where(brain[..., None], rng.normal(0.0, 1.5 * 300, (*grid, trials)), 0).astype(np.int16)
            volume_betas[subject, session] = raw
    planted_volume = (1, 5, 2, (3, 4, 3), 1234)
    subject, session, trial, ijk, value = planted_volume
    volume_betas[subject, session][(*ijk, trial)] = value
    for (subject, session), raw in volume_betas.items():
        write_volume_betas(root, subject, session, raw, volume_format)

    surface = _write_fsaverage(root, fsaverage_sessions, trials, rng) if fsaverage_sessions else ({}, {}, None, None)
    return NSDCopy(
        root=root,
        trials_per_session=trials,
        grid=grid,
        shared=shared,
        trial_nsd_id=trial_nsd_id,
        volume_labels=volume_labels,
        surface_labels=surface[0],
        volume_betas=volume_betas,
        surface_betas=surface[1],
        planted_volume=planted_volume,
        planted_surface=surface[2],
        nan_surface=surface[3],
    )


def _write_fsaverage(root: Path, sessions: tuple[int, ...], trials: int, rng):
    """Subject 1's fsaverage files: float betas (percent signal change) per hemisphere, with a planted
    value and a NaN vertex in the last session, ncsnr, and the fsaverage label files with ctabs.
    Returns (labels, betas, planted, nan) as NSDCopy holds them."""
    label_dir = root / "nsddata/freesurfer/fsaverage/label"
    label_dir.mkdir(parents=True)
    surface_labels = {}
    general = [np.sort(rng.choice(FSAVERAGE_VERTICES, 60, replace=False)) for _ in range(2)]
    for name in ("nsdgeneral", *NSD_FAMILIES):
        pair = []
        for hemi, hemi_general in zip(("lh", "rh"), general):
            labels = np.zeros(FSAVERAGE_VERTICES, dtype=np.int32)
            if name == "nsdgeneral":
                labels[hemi_general] = 1
            else:  # regions mostly inside nsdgeneral, a few vertices outside it
                where = np.concatenate([rng.choice(hemi_general, 30, replace=False), rng.choice(FSAVERAGE_VERTICES, 5)])
                labels[where] = rng.integers(1, len(LABEL_NAMES[name]) + 1, where.size)
            nib.save(nib.MGHImage(labels[:, None, None], np.eye(4)), label_dir / f"{hemi}.{name}.mgz")
            pair.append(labels)
        surface_labels[name] = tuple(pair)
        if name != "nsdgeneral":
            _ctab(label_dir / f"{name}.mgz.ctab", LABEL_NAMES[name])
    surface_dir = root / "nsddata_betas/ppdata/subj01/fsaverage/betas_fithrf_GLMdenoise_RR"
    surface_dir.mkdir(parents=True)
    rh_general = np.flatnonzero(surface_labels["nsdgeneral"][1])
    planted_surface = (sessions[-1], 1, 1, int(rh_general[3]), 7.25)
    nan_surface = (sessions[-1], 0, int(np.flatnonzero(surface_labels["nsdgeneral"][0])[5]))
    surface_betas = {}
    for session in sessions:
        pair = tuple(rng.normal(0.0, 2.0, (FSAVERAGE_VERTICES, trials)).astype(np.float32) for _ in range(2))
        surface_betas[session] = pair
    session, trial, hemi, vertex, value = planted_surface
    surface_betas[session][hemi][vertex, trial] = value
    session, hemi, vertex = nan_surface
    surface_betas[session][hemi][vertex, :] = np.nan
    for session, pair in surface_betas.items():
        for hemi, data in zip(("lh", "rh"), pair):
            nib.save(nib.MGHImage(data[:, None, None, :], np.eye(4)), surface_dir / f"{hemi}.betas_session{session:02d}.mgh")
    for hemi in ("lh", "rh"):
        ncsnr = rng.random(FSAVERAGE_VERTICES).astype(np.float32)
        nib.save(nib.MGHImage(ncsnr[:, None, None], np.eye(4)), surface_dir / f"{hemi}.ncsnr.mgh")
    return surface_labels, surface_betas, planted_surface, nan_surface


def write_volume_betas(root: Path, subject: int, session: int, raw: np.ndarray, volume_format: str) -> Path:
    """Write one session's (X, Y, Z, T) int16 betas as NSD does: HDF5 ``betas`` read by h5py as
    (T, Z, Y, X), chunked along trials per voxel; or a NIfTI volume (X, Y, Z, T)."""
    folder = root / f"nsddata_betas/ppdata/subj{subject:02d}/func1pt8mm/betas_fithrf_GLMdenoise_RR"
    if volume_format == "hdf5":
        path = folder / f"betas_session{session:02d}.hdf5"
        path.unlink(missing_ok=True)
        with h5py.File(path, "w") as f:
            f.create_dataset("betas", data=raw.transpose(3, 2, 1, 0), chunks=(raw.shape[3], 1, 1, 1))
        return path
    path = folder / f"betas_session{session:02d}.nii.gz"
    image = nib.Nifti1Image(raw, np.diag([1.8, 1.8, 1.8, 1.0]))
    image.set_data_dtype(np.int16)
    nib.save(image, path)
    return path


def _write_stim_info(path: Path, trial_nsd_id: dict[int, np.ndarray], shared: np.ndarray, n_brick: int, trials: int, rng):
    """nsd_stim_info_merged.csv: one row per 73k id, an unnamed index column first; subjectK_repR is
    the 1-based global trial of each presentation (0 for none). The _rep columns go in a shuffled
    order, since their real order is unconfirmed and readers must address them by name."""
    reps = [f"subject{s}_rep{r}" for s in range(1, 9) for r in range(3)]
    header = ["", "cocoId", "cocoSplit", "cropBox", "loss", "nsdId", "flagged", "BOLD5000", "shared1000"]
    header += [f"subject{s}" for s in range(1, 9)] + [reps[i] for i in rng.permutation(len(reps))]
    seen = {s: np.zeros(n_brick, dtype=bool) for s in range(1, 9)}
    presented = {s: np.zeros((n_brick, 3), dtype=np.int64) for s in range(1, 9)}
    for s, ids in trial_nsd_id.items():
        seen[s][np.unique(ids)] = True
        done = ids[: SESSIONS_PER_SUBJECT[s] * trials]  # presentations in the sessions the subject completed
        for t, image in enumerate(done):
            slot = np.count_nonzero(presented[s][image])
            presented[s][image, slot] = t + 1
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for k in range(n_brick):
            row = {"": k, "cocoId": int(coco_id(k)), "cocoSplit": "train2017", "cropBox": "(0, 0, 0.1671875, 0.1671875)"}
            row.update(loss=0.0, nsdId=k, flagged=False, BOLD5000=False, shared1000=bool(np.isin(k, shared)))
            for s in range(1, 9):
                row[f"subject{s}"] = int(seen[s][k])
                for r in range(3):
                    row[f"subject{s}_rep{r}"] = int(presented[s][k, r])
            writer.writerow([row[name] for name in header])


def write_shared1000_pngs(root: Path, shared: np.ndarray) -> Path:
    """NSD's own PNG export of the shared images, ``nsddata/stimuli/nsd/shared1000/shared0001_nsd02951.png``
    (425 × 425 RGB): the shared image's 1-based position, then its 73k id (written 1-based here, as
    NSD's nsddata files count; the converter does not read the number). Returns the folder."""
    folder = root / "nsddata/stimuli/nsd/shared1000"
    folder.mkdir(parents=True, exist_ok=True)
    for k, nsd_id in enumerate(shared, start=1):
        Image.fromarray(nsd_image(int(nsd_id))).save(folder / f"shared{k:04d}_nsd{int(nsd_id) + 1:05d}.png")
    return folder


class Tally(dict):
    """A progress callback that adds up what each stage reports."""

    def __call__(self, stage: str, k: int) -> None:
        self[stage] = self.get(stage, 0) + k


def coco_id(nsd_id: np.ndarray) -> np.ndarray:
    """The fixture's COCO id of each 73k id."""
    return 500000 + 7 * np.asarray(nsd_id)


# --------------------------------------------------------------------------------------------
# Algonauts 2023


@dataclass
class AlgonautsCopy:
    root: Path
    subject: int
    train_ids: np.ndarray  # (n_train,) 0-based 73k ids, fMRI row order (ascending)
    test_ids: np.ndarray  # (n_test,)
    fmri: tuple[np.ndarray, np.ndarray] = field(repr=False)  # (n_train, n_lh), (n_train, n_rh) float32
    vertices: tuple[np.ndarray, np.ndarray]  # challenge vertices per hemisphere
    labels: dict[str, tuple[np.ndarray, np.ndarray]]  # family -> challenge-space labels per hemisphere
    planted: tuple  # (row, hemisphere index, column, value)

    @property
    def folder(self) -> Path:
        return self.root / f"subj{self.subject:02d}"


def make_algonauts(root: Path, *, subject: int = 1, n_train: int = 12, n_test: int = 4, seed: int = 0) -> AlgonautsCopy:
    """Write a tiny Algonauts 2023 subject under ``root`` in the challenge's released layout."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / f"subj{subject:02d}"
    ids = rng.choice(73000, n_train + n_test, replace=False)
    train_ids, test_ids = np.sort(ids[:n_train]), np.sort(ids[n_train:])
    n_vertices = (30, 40)
    vertices = tuple(np.sort(rng.choice(FSAVERAGE_VERTICES, n, replace=False)) for n in n_vertices)
    fmri = tuple(rng.normal(0.0, 0.7, (n_train, n)).astype(np.float32) for n in n_vertices)
    planted = (3, 1, 5, 3.5)  # row 3 is train-0004
    row, hemi, column, value = planted
    fmri[hemi][row, column] = value

    fmri_dir = folder / "training_split/training_fmri"
    fmri_dir.mkdir(parents=True)
    for hemi, data in zip(("lh", "rh"), fmri):
        np.save(fmri_dir / f"{hemi}_training_fmri.npy", data)
    splits = [("training_split/training_images", "train", train_ids), ("test_split/test_images", "test", test_ids)]
    for split, prefix, split_ids in splits:
        image_dir = folder / split
        image_dir.mkdir(parents=True)
        for row, nsd_id in enumerate(split_ids):
            Image.fromarray(nsd_image(int(nsd_id))).save(image_dir / f"{prefix}-{row + 1:04d}_nsd-{nsd_id:05d}.png")

    masks = folder / "roi_masks"
    masks.mkdir()
    labels = {}
    for hemi, hemi_vertices in zip(("lh", "rh"), vertices):
        challenge = np.zeros(FSAVERAGE_VERTICES, dtype=np.int32)
        challenge[hemi_vertices] = 1
        np.save(masks / f"{hemi}.all-vertices_fsaverage_space.npy", challenge)
    for family, names in LABEL_NAMES.items():
        pair = []
        for hemi, hemi_vertices in zip(("lh", "rh"), vertices):
            values = rng.integers(0, len(names) + 1, hemi_vertices.size) * (rng.random(hemi_vertices.size) < 0.6)
            full = np.zeros(FSAVERAGE_VERTICES, dtype=np.int32)
            full[hemi_vertices] = values
            np.save(masks / f"{hemi}.{family}_fsaverage_space.npy", full)
            np.save(masks / f"{hemi}.{family}_challenge_space.npy", values)
            pair.append(values)
        labels[family] = tuple(pair)
        # a dict saved with np.save is pickled: reading it back needs allow_pickle=True. As the organisers'
        # dicts: Python-int keys, and the names unstripped, as their ctab lines end (tab and spaces)
        mapping = {int(k): ctab_line(k, name).split(" ", 1)[1].rstrip("\n") for k, name in enumerate(["Unknown", *names])}
        np.save(masks / f"mapping_{family}.npy", mapping)
    return AlgonautsCopy(
        root=Path(root),
        subject=subject,
        train_ids=train_ids,
        test_ids=test_ids,
        fmri=fmri,
        vertices=vertices,
        labels=labels,
        planted=planted,
    )

"""Tiny copies of GOD, BOLD5000 and HCP as MinD-Vis packages them, in their released layout.

Each builder writes the files MinD-Vis reads (names, npz keys, dtypes, axis orders, 0-based indices,
pickled dicts, plain-text lists as DATASETS.md §3–5 gives them) into a folder and returns what it
put where, so tests can check where each value lands. Only the counts shrink (8 training images
instead of 1200, 24 BOLD5000 trials instead of 5254, a few voxels per region); per-item shapes stay
real: 256 × 256 RGB images, 1200 HCP frames.

Every image encodes a number in its top-left pixel (see ``fixtures.nsd_image``): GOD's training
image k encodes k and test image k encodes 1000 + k; BOLD5000's image encodes its position in
``img_dict.npy``.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .fixtures import nsd_image

GOD_IMAGE_SIZE = 256
GOD_TEST_OFFSET = 1000  # test image k encodes 1000 + k
# voxel count of each GOD area in the fixture; FFA shares one voxel with LOC
GOD_AREA_SIZES = {"V1": 4, "V2": 4, "V3": 3, "V4": 3, "LOC": 5, "FFA": 4, "PPA": 3}
GOD_UNLABELLED = 5  # voxels outside every mask
BOLD5000_ROIS = ("EarlyVis", "LOC", "OPA", "PPA", "RSC")
# (LH, RH) voxel counts of each BOLD5000 region in the fixture
BOLD5000_WIDTHS = {"EarlyVis": (5, 4), "LOC": (3, 3), "OPA": (2, 1), "PPA": (2, 2), "RSC": (1, 2)}
HCP_FRAMES = 1200
HCP_WIDTHS = {"V1": 7, "V2": 6, "V3": 5, "V4": 4}


# --------------------------------------------------------------------------------------------
# GOD


@dataclass
class GODCopy:
    root: Path
    subject: int
    train_fmri: np.ndarray = field(repr=False)  # (n_train_trials, V) as written
    test_fmri: np.ndarray = field(repr=False)  # (n_test_trials, V)
    averaged: np.ndarray = field(repr=False)  # (n_test_images, V)
    train_image: np.ndarray  # (n_train_trials,) 0-based row of train_images
    test_image: np.ndarray  # (n_test_trials,) 0-based row of test_images
    masks: dict[str, np.ndarray]  # name -> (V,) bool
    noise_ceiling: np.ndarray
    snr: np.ndarray
    image_ids: dict[str, list[str]]  # "train"/"test" -> first CSV field per image
    wnids: dict[str, list[int]]
    class_names: dict[int, str]  # WordNet offset -> name, as the JSON gives them
    planted: dict[str, tuple[int, int, float]]  # "train"/"test" -> (row, voxel, value)

    @property
    def npz(self) -> Path:
        return self.root / f"sbj_{self.subject}.npz"


def make_god(
    root: Path,
    *,
    subject: int = 3,
    image_scale: str = "uint8",
    fmri_dtype: str = "float32",
    n_per_category: int = 2,
    repeats: int = 4,
    seed: int = 0,
) -> GODCopy:
    """Write a tiny GOD package under ``root``: ``sbj_<subject>.npz``, ``images_256.npz`` (uint8, or
    float in [0, 1] with ``image_scale="float 0-1"``), the two label CSVs and the class index JSON."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    train_wnids = [1518878, 2084071, 2085620, 3376595]  # 4 categories, n_per_category images each
    test_wnids = [1443537, 2690373, 4254680]  # 1 image each, categories unseen in training
    n_train, n_test = len(train_wnids) * n_per_category, len(test_wnids)

    # voxels: each area a block of positions, FFA's first being LOC's last; file columns shuffled
    positions, start = {}, 0
    for name, size in GOD_AREA_SIZES.items():
        start -= name == "FFA"
        positions[name] = np.arange(start, start + size)
        start += size
    n_voxels = start + GOD_UNLABELLED
    column = rng.permutation(n_voxels)
    masks = {}
    for name, block in positions.items():
        masks[name] = np.zeros(n_voxels, dtype=bool)
        masks[name][column[block]] = True
    masks["LVC"] = masks["V1"] | masks["V2"] | masks["V3"]
    masks["HVC"] = masks["LOC"] | masks["FFA"] | masks["PPA"]
    masks["VC"] = masks["LVC"] | masks["V4"] | masks["HVC"]

    dtype = np.dtype(fmri_dtype)
    scale = 100 if np.issubdtype(dtype, np.integer) else 1

    def fmri(n):
        return (rng.normal(0.0, 1.0, (n, n_voxels)) * scale).astype(dtype)

    train_image = rng.permutation(n_train)  # one trial per training image, in presentation order
    test_image = rng.permutation(np.repeat(np.arange(n_test), repeats))
    train_fmri, test_fmri = fmri(n_train), fmri(n_test * repeats)
    vc = np.flatnonzero(masks["VC"])
    planted = {"train": (5, int(vc[2]), 9.5 * scale), "test": (7, int(vc[-1]), -8.25 * scale)}
    for data, (row, col, value) in ((train_fmri, planted["train"]), (test_fmri, planted["test"])):
        data[row, col] = value
    averaged = np.stack([test_fmri[test_image == k].mean(axis=0) for k in range(n_test)]).astype(dtype)
    noise_ceiling = rng.random(n_voxels).astype(np.float32)
    snr = rng.random(n_voxels).astype(np.float32) * 3
    # savez names positional arrays arr_0, arr_1, ... in order; the masks go in by name
    np.savez(
        root / f"sbj_{subject}.npz",
        train_fmri, test_fmri, averaged, train_image, test_image, noise_ceiling, snr,
        **masks,
    )

    images = {
        "train": np.stack([nsd_image(k, GOD_IMAGE_SIZE) for k in range(n_train)]),
        "test": np.stack([nsd_image(GOD_TEST_OFFSET + k, GOD_IMAGE_SIZE) for k in range(n_test)]),
    }
    if image_scale == "float 0-1":
        images = {split: (im / 255.0).astype(np.float32) for split, im in images.items()}
    np.savez(root / "images_256.npz", train_images=images["train"], test_images=images["test"])

    image_ids, wnids = {}, {}
    for split, split_wnids, per in (("train", train_wnids, n_per_category), ("test", test_wnids, 1)):
        wnids[split] = [w for w in split_wnids for _ in range(per)]
        numbers = rng.choice(20000, len(wnids[split]), replace=False)
        # Kamitani's image id: "<WordNet offset>.<6-digit image number>", then the JPEG's name
        image_ids[split] = [f"{w}.{n:06d}" for w, n in zip(wnids[split], numbers)]
        name = "training" if split == "train" else "testing"
        with (root / f"imagenet_{name}_label.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            for image_id, w, n in zip(image_ids[split], wnids[split], numbers):
                writer.writerow([image_id, f"n{w:08d}_{n}.JPEG"])

    # a class may list several WordNet ids; the last test category has no class here
    class_names = {1518878: "ostrich", 2084071: "dog", 2085620: "dog", 3376595: "folding chair", 1443537: "goldfish"}
    index = {
        "0": ["n01443537", "goldfish"],
        "1": ["n01518878", "ostrich"],
        "2": ["n02084071", "n02085620", "dog"],
        "3": ["n03376595", "folding chair"],
        "4": ["n09999999", "unused"],
    }
    (root / "imagenet_class_index.json").write_text(json.dumps(index))
    return GODCopy(
        root=root,
        subject=subject,
        train_fmri=train_fmri,
        test_fmri=test_fmri,
        averaged=averaged,
        train_image=train_image,
        test_image=test_image,
        masks=masks,
        noise_ceiling=noise_ceiling,
        snr=snr,
        image_ids=image_ids,
        wnids=wnids,
        class_names=class_names,
        planted=planted,
    )


# --------------------------------------------------------------------------------------------
# BOLD5000


@dataclass
class BOLD5000Copy:
    root: Path
    subject: int
    image_names: list[str]  # keys of img_dict.npy in order; image k encodes k
    trial_names: list[str]  # per trial, the image's name (no rep_)
    trial_session: np.ndarray  # (n_trials,) 1-based
    repeated: list[str]  # the names in repeated_stimuli_113_list.txt
    betas: dict[tuple[str, str], np.ndarray] = field(repr=False)  # (hemisphere, region) -> (n_trials, n) float32
    planted: tuple  # (trial, hemisphere, region, column in that file, value)

    @property
    def lists_dir(self) -> Path:
        return self.root / f"BOLD5000_Stimuli/Stimuli_Presentation_Lists/CSI{self.subject}"

    def beta_path(self, hemisphere: str, region: str, subject: int | None = None) -> Path:
        csi = f"CSI{subject or self.subject}"
        name = f"{csi}_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_allses_{hemisphere}{region}.npy"
        return self.root / "BOLD5000_GLMsingle_ROI_betas/py" / name


def make_bold5000(root: Path, *, subject: int = 1, seed: int = 0) -> BOLD5000Copy:
    """Write a tiny BOLD5000 under ``root`` in MinD-Vis's layout: 2 sessions × 2 runs × 6 trials for
    CSI<subject>; 3 repeated test images shown 3 times each (with and without the ``rep_`` mark), 15
    images shown once; img_dict.npy also holds 4 images this subject never saw; the 113-list names
    one image the subject never saw."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    stimuli = root / "BOLD5000_Stimuli/Scene_Stimuli"
    (stimuli / "Presented_Stimuli").mkdir(parents=True)
    # BOLD5000 mixes COCO, ImageNet and SUN scene images, each named as its source names it
    names = [f"COCO_train2014_{k:012d}.jpg" for k in (391895, 522418, 184613, 318219, 554625, 397133, 37777)]
    names += [f"n0{1440764 + 7 * k}_{1000 + k}.JPEG" for k in range(7)]
    places = ["airport", "bedroom", "kitchen", "library", "alley", "beach", "canyon", "desert"]
    names += [f"{place}{k}.jpg" for k, place in enumerate(places)]
    order = rng.permutation(len(names))
    names = [names[k] for k in order]
    repeated, unseen = names[:3], names[18:]  # names[3:18] are shown once
    np.save(stimuli / "Presented_Stimuli/img_dict.npy", {name: nsd_image(k, 256) for k, name in enumerate(names)})
    (stimuli / "repeated_stimuli_113_list.txt").write_text("\n".join([*repeated, unseen[0]]) + "\n")

    # the presentation order: each repeated image 3 times, every other image once
    trial_names = [names[k] for k in rng.permutation(np.array([0, 1, 2] * 3 + list(range(3, 18))))]
    shown_before = set()
    listed = []
    for name in trial_names:
        # the first repeated image is marked rep_ on every showing, the others only after the first
        marked = name in repeated and (name == repeated[0] or name in shown_before)
        listed.append(f"rep_{name}" if marked else name)
        shown_before.add(name)
    lists = root / f"BOLD5000_Stimuli/Stimuli_Presentation_Lists/CSI{subject}"
    per_run, k = 6, 0
    trial_session = []
    for session in (1, 2):
        folder = lists / f"CSI{subject}_sess{session:02d}"
        folder.mkdir(parents=True)
        (folder / "notes.md").write_text("not a run list\n")
        for run in (1, 2):
            lines = listed[k : k + per_run]
            (folder / f"CSI_sess{session:02d}_run{run:02d}.txt").write_text("\n".join(lines) + "\n")
            trial_session += [session] * len(lines)
            k += per_run
    (lists / "README.txt").write_text("a file beside the session folders, skipped\n")

    n_trials = len(trial_names)
    betas = {}
    for region in BOLD5000_ROIS:
        for hemisphere, width in zip(("LH", "RH"), BOLD5000_WIDTHS[region]):
            betas[hemisphere, region] = rng.normal(0.0, 1.0, (n_trials, width)).astype(np.float32)
    planted = (13, "RH", "PPA", 1, 6.5)
    trial, hemisphere, region, column, value = planted
    betas[hemisphere, region][trial, column] = value
    copy = BOLD5000Copy(root, subject, names, trial_names, np.array(trial_session), repeated + [unseen[0]], betas, planted)
    copy.beta_path("LH", "EarlyVis").parent.mkdir(parents=True)
    for (hemisphere, region), data in betas.items():
        np.save(copy.beta_path(hemisphere, region), data)
    # another subject's file in the same folder, which must not be picked up
    np.save(copy.beta_path("LH", "EarlyVis", subject=subject % 4 + 1), np.zeros((5, 2), np.float32))
    return copy


# --------------------------------------------------------------------------------------------
# HCP


@dataclass
class HCPCopy:
    root: Path
    subjects: list[str]  # folders holding the file
    areas: dict[str, dict[str, np.ndarray]] = field(repr=False)  # subject -> area -> (frames, n) as written
    planted: tuple  # (subject, area, frame, voxel, value)


def make_hcp(root: Path, *, seed: int = 0) -> HCPCopy:
    """Write MinD-Vis's HCP folder under ``root``: two subject folders with ``HCP_visual_voxel.npz``
    (V1–V4 of 1200 frames; one float32, one int16, since the dtype is unconfirmed; the second also
    holds an extra array), a subject folder without the file, and a stray file."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    areas = {}
    for subject, dtype in (("dummy_sub_01", np.float32), ("dummy_sub_02", np.int16)):
        scale = 100 if dtype == np.int16 else 1
        areas[subject] = {
            area: (rng.normal(0.0, 1.0, (HCP_FRAMES, n)) * scale).astype(dtype) for area, n in HCP_WIDTHS.items()
        }
    planted = ("dummy_sub_01", "V3", 37, 2, 11.0)
    subject, area, frame, voxel, value = planted
    areas[subject][area][frame, voxel] = value
    for subject, arrays in areas.items():
        (root / subject).mkdir(parents=True)
        extra = {"LOC": np.zeros((HCP_FRAMES, 3), np.float32)} if subject == "dummy_sub_02" else {}
        np.savez(root / subject / "HCP_visual_voxel.npz", **arrays, **extra)
    (root / "dummy_sub_03").mkdir()
    (root / "README.md").write_text("HCP visual voxels\n")
    return HCPCopy(root=root, subjects=sorted(areas), areas=areas, planted=planted)

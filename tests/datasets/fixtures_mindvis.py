"""Tiny copies of GOD, BOLD5000 and HCP as MinD-Vis packages them, in their released layout.

Each builder writes the files MinD-Vis reads (names, npz keys, dtypes, axis orders, 0-based indices,
pickled dicts, plain-text lists as DATASETS.md §3–5 gives them) into a folder and returns what it
put where, so tests can check where each value lands. Only the counts shrink (4 training categories
of 8 images instead of 150, 3 BOLD5000 runs instead of 142, a few voxels per region); per-item shapes
stay real: 256 × 256 RGB images, 37-line BOLD5000 runs, 1200 float64 HCP frames.

Every image encodes a number in its top-left pixel (see ``fixtures.nsd_image``): GOD's training
image k encodes k and test image k encodes 1000 + k; BOLD5000's image encodes its position in
``img_dict.npy``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.io

from .fixtures import nsd_image

GOD_IMAGE_SIZE = 256
GOD_TEST_OFFSET = 1000  # test image k encodes 1000 + k
# voxel count of each GOD area in the fixture; FFA shares one voxel with LOC
GOD_AREA_SIZES = {"V1": 4, "V2": 4, "V3": 3, "V4": 3, "LOC": 5, "FFA": 4, "PPA": 3}
GOD_UNLABELLED = 5  # voxels outside every mask
BOLD5000_ROIS = ("EarlyVis", "LOC", "OPA", "PPA", "RSC")
# (LH, RH) voxel counts of each BOLD5000 region in the fixture
BOLD5000_WIDTHS = {"EarlyVis": (5, 4), "LOC": (3, 3), "OPA": (2, 1), "PPA": (2, 2), "RSC": (1, 2)}
BOLD5000_RUN_LINES = 37  # images per run, as every run list of the release holds
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
    image_files: dict[str, list[str]]  # "train"/"test" -> the JPEG's name, the CSV's quoted second field
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
    n_per_category: int = 8,
    repeats: int = 4,
    seed: int = 0,
) -> GODCopy:
    """Write a tiny GOD package under ``root``: ``sbj_<subject>.npz``, ``images_256.npz`` (uint8, or
    float in [0, 1] with ``image_scale="float 0-1"``), the two label CSVs and the class index JSON.

    As released (DATASETS.md, "Confirmed against real release files"): the training CSV lists each
    category's images in consecutive rows (8 per category), each row ``1518878.010042,"n01518878_10042.JPEG"``;
    the test categories are disjoint from the training ones."""
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

    image_ids, wnids, image_files = {}, {}, {}
    for split, split_wnids, per in (("train", train_wnids, n_per_category), ("test", test_wnids, 1)):
        wnids[split] = [w for w in split_wnids for _ in range(per)]
        numbers = rng.choice(20000, len(wnids[split]), replace=False)
        # Kamitani's image id: "<WordNet offset>.<6-digit image number>", then the JPEG's name
        image_ids[split] = [f"{w}.{n:06d}" for w, n in zip(wnids[split], numbers)]
        image_files[split] = [f"n{w:08d}_{n}.JPEG" for w, n in zip(wnids[split], numbers)]
        name = "training" if split == "train" else "testing"
        # as the release writes them: the id unquoted, the JPEG's name quoted, no header
        lines = [f'{image_id},"{jpeg}"\n' for image_id, jpeg in zip(image_ids[split], image_files[split])]
        (root / f"imagenet_{name}_label.csv").write_text("".join(lines))

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
        image_files=image_files,
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
    lists_dir: Path  # Stimuli_Presentation_Lists/CSIk (MinD-Vis) or Stimuli_Presentation_Lists/Subj0k (the authors')
    image_names: list[str]  # keys of img_dict.npy in order; image k encodes k
    trial_names: list[str]  # per trial, the image's name (no rep_)
    trial_lines: list[str]  # per trial, the line as the run list writes it (some with rep_)
    trial_session: np.ndarray  # (n_trials,) 1-based
    trial_run: np.ndarray  # (n_trials,) 1-based run within its session
    session_folders: list[str]
    repeated: list[str]  # the names in repeated_stimuli_113_list.txt
    seen_repeated: list[str]  # those this subject saw, in list order
    betas: dict[tuple[str, str], np.ndarray] = field(repr=False)  # (hemisphere, region) -> (n_trials, n) float32
    planted: tuple  # (trial, hemisphere, region, column in that file, value)

    def beta_path(self, hemisphere: str, region: str, subject: int | None = None) -> Path:
        csi = f"CSI{subject or self.subject}"
        name = f"{csi}_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_allses_{hemisphere}{region}.npy"
        return self.root / "BOLD5000_GLMsingle_ROI_betas/py" / name

    def run_path(self, session: int, run: int) -> Path:
        """The run list of a session (1-based) and run (1-based)."""
        return sorted((self.lists_dir / self.session_folders[session - 1]).glob("*.txt"))[run - 1]


def bold5000_name(k: int) -> str:
    """An image name as BOLD5000 names its COCO, ImageNet and SUN scene images."""
    if k % 3 == 0:
        return f"COCO_train2014_{391895 + 7919 * k:012d}.jpg"
    if k % 3 == 1:
        return f"n0{1440764 + 17 * k}_{1000 + k}.JPEG"
    places = ("airport", "bedroom", "kitchen", "library", "alley", "beach", "canyon", "desert")
    return f"{places[k % len(places)]}{k}.jpg"


def make_bold5000(
    root: Path,
    *,
    subject: int = 1,
    runs_per_session: tuple[int, ...] = (2, 1),
    n_listed: int = 12,
    n_seen: int | None = None,
    repeats: tuple[int, ...] = (4, 4, 4, 5, 3, 2),
    layout: str = "CSI",
    seed: int = 0,
) -> BOLD5000Copy:
    """Write a tiny BOLD5000 under ``root`` in MinD-Vis's layout, its presentation lists shaped as the
    release's (DATASETS.md, "Confirmed against real release files").

    Runs hold 37 lines each (``runs_per_session`` runs per session; the release has 9 or 10); each run
    list has a ``.mat`` twin and a ``<subject>_sess_setup_info.txt`` sits beside the session folders.
    ``layout`` "CSI" names the folders as MinD-Vis does (``CSI1/CSI1_sess01/CSI1_sess01_run01.txt``),
    "Subj" as the authors' repository does (``Subj01/Sess01/Subj01_sess01_run01.txt``).
    The repeated list names ``n_listed`` images (113 in the release), of which the subject saw the first
    ``n_seen`` (all by default, as CSI1–3; CSI4 saw 106 of 113); the seen ones are shown ``repeats``
    times in turn (cycled), and exactly one showing of each lacks the ``rep_`` prefix, not always the
    first. Every other trial shows an image once. img_dict.npy also holds 3 images nobody was shown."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    n_seen = n_listed if n_seen is None else n_seen
    n_trials = BOLD5000_RUN_LINES * sum(runs_per_session)
    counts = [repeats[k % len(repeats)] for k in range(n_seen)]
    n_once = n_trials - sum(counts)
    if n_once < 0:
        raise ValueError(f"{n_seen} repeated images shown {repeats} times do not fit in {n_trials} trials")
    names = [bold5000_name(k) for k in rng.permutation(n_listed + n_once + 3)]
    repeated, once = names[:n_listed], names[n_listed : n_listed + n_once]
    stimuli = root / "BOLD5000_Stimuli/Scene_Stimuli"
    (stimuli / "Presented_Stimuli").mkdir(parents=True)
    # MinD-Vis's img_dict holds every subject's images, so also some this subject never saw
    np.save(stimuli / "Presented_Stimuli/img_dict.npy", {name: nsd_image(k, 256) for k, name in enumerate(names)})
    (stimuli / "repeated_stimuli_113_list.txt").write_text("\n".join(repeated) + "\n")

    showings = [name for name, count in zip(repeated, counts) for _ in range(count)] + once
    trial_names = [showings[k] for k in rng.permutation(len(showings))]
    # exactly one showing of each repeated image lacks rep_ (chosen at random, so not always the first)
    plain = {name: rng.integers(count) for name, count in zip(repeated, counts)}
    seen_so_far: dict[str, int] = {}
    trial_lines = []
    for name in trial_names:
        k = seen_so_far[name] = seen_so_far.get(name, -1) + 1
        trial_lines.append(f"rep_{name}" if name in plain and k != plain[name] else name)

    owner = f"CSI{subject}" if layout == "CSI" else f"Subj{subject:02d}"
    lists = root / "BOLD5000_Stimuli/Stimuli_Presentation_Lists" / owner
    lists.mkdir(parents=True)
    (lists / f"{owner}_sess_setup_info.txt").write_text("session\tdate\tscanner\n01\t2016-03-01\tPrisma\n")
    trial_session, trial_run, folders, k = [], [], [], 0
    for session, n_runs in enumerate(runs_per_session, start=1):
        folder = lists / (f"{owner}_sess{session:02d}" if layout == "CSI" else f"Sess{session:02d}")
        folder.mkdir()
        folders.append(folder.name)
        for run in range(1, n_runs + 1):
            lines = trial_lines[k : k + BOLD5000_RUN_LINES]
            stem = f"{owner}_sess{session:02d}_run{run:02d}"
            (folder / f"{stem}.txt").write_text("\n".join(lines) + "\n")
            scipy.io.savemat(folder / f"{stem}.mat", {"stimuli": np.array(lines, dtype=object), "run": run})
            trial_session += [session] * len(lines)
            trial_run += [run] * len(lines)
            k += len(lines)

    betas = {}
    for region in BOLD5000_ROIS:
        for hemisphere, width in zip(("LH", "RH"), BOLD5000_WIDTHS[region]):
            betas[hemisphere, region] = rng.normal(0.0, 1.0, (n_trials, width)).astype(np.float32)
    planted = (n_trials - 40, "RH", "PPA", 1, 6.5)
    trial, hemisphere, region, column, value = planted
    betas[hemisphere, region][trial, column] = value
    copy = BOLD5000Copy(
        root=root,
        subject=subject,
        lists_dir=lists,
        image_names=names,
        trial_names=trial_names,
        trial_lines=trial_lines,
        trial_session=np.array(trial_session),
        trial_run=np.array(trial_run),
        session_folders=folders,
        repeated=repeated,
        seen_repeated=repeated[:n_seen],
        betas=betas,
        planted=planted,
    )
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
    run: str  # the run folder between subject and file ("" for MinD-Vis's flat layout)
    areas: dict[str, dict[str, np.ndarray]] = field(repr=False)  # subject -> area -> (frames, n) float64 as written
    planted: tuple  # (subject, area, frame, voxel, value)

    def path(self, subject: str) -> Path:
        return self.root / subject / self.run / "HCP_visual_voxel.npz"


def zscored_over_time(rng, n_frames: int, n_voxels: int) -> np.ndarray:
    """(n_frames, n_voxels) float64, each voxel's time series at mean 0 and std 1, as hcp-utils leaves them."""
    data = rng.normal(0.0, 1.0, (n_frames, n_voxels)).cumsum(axis=0)  # slow drifts, as resting state has
    return (data - data.mean(axis=0)) / data.std(axis=0)


def make_hcp(root: Path, *, subjects: tuple[str, ...] = ("dummy_sub_01", "dummy_sub_02"), run: str = "", seed: int = 0) -> HCPCopy:
    """Write MinD-Vis's HCP folder under ``root``: per subject ``<subject>/HCP_visual_voxel.npz``, or
    ``<subject>/<run>/HCP_visual_voxel.npz`` with ``run`` (e.g. "REST1_LR", as a published variant
    of the preprocessing writes it). V1–V4 of 1200 frames, float64, already z-scored over time per
    voxel, the same voxel counts for every subject (DATASETS.md, "Confirmed against real release
    files"); the last subject's file also holds an extra array. Besides: a subject folder without the
    file (in the nested layout, with an empty run folder) and a stray file."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    areas = {subject: {area: zscored_over_time(rng, HCP_FRAMES, n) for area, n in HCP_WIDTHS.items()} for subject in subjects}
    planted = (subjects[0], "V3", 37, 2, 3.875)
    subject, area, frame, voxel, value = planted
    areas[subject][area][frame, voxel] = value
    copy = HCPCopy(root=root, subjects=sorted(subjects), run=run, areas=areas, planted=planted)
    for subject, arrays in areas.items():
        copy.path(subject).parent.mkdir(parents=True)
        extra = {"LOC": np.zeros((HCP_FRAMES, 3))} if subject == subjects[-1] else {}
        np.savez(copy.path(subject), **arrays, **extra)
    (root / "no_file_sub" / run).mkdir(parents=True)
    (root / "README.md").write_text("HCP visual voxels\n")
    return copy

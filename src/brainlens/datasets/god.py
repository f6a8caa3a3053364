"""GOD (Generic Object Decoding, Horikawa & Kamitani), as packaged for MinD-Vis → subject store.

Files read, under the package folder (MinD-Vis's ``data/Kamitani/npz``; K is the subject, 1..5)::

    sbj_K.npz                    arr_0 (n_train_trials, V) training fMRI, one row per trial (1200)
                                 arr_1 (n_test_trials, V)  test fMRI, every repeat (not averaged)
                                 arr_2 (n_test_images, V)  test fMRI averaged over repeats (50)
                                 arr_3 (n_train_trials,)   0-based row of train_images for each arr_0 row
                                 arr_4 (n_test_trials,)    0-based row of test_images for each arr_1 row
                                 arr_5, arr_6 (V,)         optional: per-voxel noise ceiling and SNR
                                 V1 V2 V3 V4 LOC FFA PPA LVC HVC VC  (V,) boolean voxel masks
    images_256.npz               train_images (1200, 256, 256, 3), test_images (50, 256, 256, 3)
    imagenet_training_label.csv  one row per train image, no header: the Kamitani id, then optionally the
                                 JPEG's name, as released: 1518878.010042,"n01518878_10042.JPEG"
    imagenet_testing_label.csv   the same for the test images
    imagenet_class_index.json    optional: {"k": [wnid, ..., name]}, for the class names

What the store holds:

- ``images``: the training images, then the test images, in their npz order; ``split`` 0 for
  training, 2 for test. ``provenance/image_id`` is each image's Kamitani id as the label CSV writes
  it (e.g. "1518878.005958"), ``provenance/image_file`` the JPEG's name from the CSV's second field
  ('' where there is none), ``provenance/wnid`` its WordNet offset; ``labels`` one-hot over the
  distinct WordNet ids (label names like "n01518878"); ``provenance/class_name`` the class name
  when the JSON is there and names it ('' otherwise).
- ``betas``: the training trials (arr_0, ``trial_image`` from arr_3, ``trial_session`` 1), then
  the test trials (arr_1, ``trial_image`` = n_train_images + arr_4, ``trial_session`` 2): the npz
  does not say which run a row came from. float32 as released; their normalisation is unconfirmed,
  so attr ``zscored`` is false and readers z-score each voxel within the training and the test
  block. ``test_averaged/betas`` keeps arr_2 and ``test_averaged/image`` its images, since MinD-Vis
  tests on those rows.
- voxels: ``mask`` (e.g. "VC", MinD-Vis's default) keeps that mask's voxels; None keeps every column.
  The npz gives no voxel locations, so the store has none (``Store.has_location`` is false).
  ``voxel/roi`` holds V1, V2, V3, V4, LOC, FFA, PPA where they do not overlap; LVC, HVC, VC, any
  other mask in the file, and an area that overlaps one placed before it each become
  ``voxel/roi_sets/<name>``. arr_5 and arr_6 become ``voxel/noise_ceiling`` and ``voxel/snr``
  (definitions as released; not NSD's ncsnr).
- attrs: ``source`` (the folder), ``source_files``, ``mask``, ``image_scale``.

Unconfirmed in the released files (DATASETS.md §3), checked rather than assumed: the dtype of the
fMRI arrays (any real numbers are accepted and stored as float32); the number of test trials (any,
as long as arr_1 and arr_4 agree); the image dtype and scale (uint8, or float in [0, 1] as Weizmann's
images_112.npz, which is multiplied by 255, or float in [0, 255]; anything else fails); the label
CSVs beyond what MinD-Vis's parser needs. Indices are checked to be 0-based.
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import h5py
import numpy as np

from brainlens.datasets._utils import (
    NpzArrays,
    Progress,
    Regions,
    as_labels,
    check_finite,
    check_numeric,
    format_error,
    require_file,
)
from brainlens.store import StoreWriter

__all__ = ["AREAS", "SUBJECTS", "convert_god"]

SUBJECTS = (1, 2, 3, 4, 5)
# visual areas that a voxel/roi label can hold when they do not overlap; the masks LVC (V1–V3),
# HVC (LOC, FFA, PPA) and VC (all of them) group them, as MinD-Vis and Kamitani's lab use them
AREAS = ("V1", "V2", "V3", "V4", "LOC", "FFA", "PPA")
_FMRI_KEYS = ("arr_0", "arr_1", "arr_2", "arr_3", "arr_4")
_VOXEL_KEYS = {"arr_5": "voxel/noise_ceiling", "arr_6": "voxel/snr"}
_ROW_BLOCK = 256
_IMAGE_BLOCK = 64


def convert_god(
    root: str | os.PathLike,
    subject: int,
    out: str | os.PathLike,
    *,
    mask: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Convert one GOD subject, as packaged for MinD-Vis, into a subject store at ``out``; returns ``out``.

    root: the folder holding ``sbj_1.npz`` .. ``sbj_5.npz``, ``images_256.npz`` and the label files.
    subject: 1..5. mask: a mask of the npz (e.g. "VC") whose voxels are kept; None keeps all.
    progress: ``progress(stage, k)`` with stage "images" and "trials".

    Example: ``convert_god("data/Kamitani/npz", 3, "god_sbj3.h5", mask="VC")``.
    """
    if isinstance(subject, bool) or not isinstance(subject, (int, np.integer)) or subject not in SUBJECTS:
        raise ValueError(f"'subject' must be one of {SUBJECTS}. {subject!r} was provided.")
    if mask is not None and (not isinstance(mask, str) or not mask):
        raise ValueError(f"'mask' must be a mask's name in the npz (e.g. 'VC') or None. {mask!r} was provided.")
    root = Path(root).absolute()
    out = Path(out)
    paths = {
        "fmri": root / f"sbj_{subject}.npz",
        "images": root / "images_256.npz",
        "train_labels": root / "imagenet_training_label.csv",
        "test_labels": root / "imagenet_testing_label.csv",
        "class_index": root / "imagenet_class_index.json",
    }
    # everything is checked before anything is written
    with NpzArrays(paths["fmri"], "GOD fMRI") as fmri, NpzArrays(paths["images"], "GOD images") as image_npz:
        for key in ("train_labels", "test_labels"):
            require_file(paths[key], "GOD image labels")
        layout = _check_fmri(fmri)
        n_voxels_all = layout["n_voxels"]
        masks = _read_masks(fmri, n_voxels_all)
        if mask is not None and mask not in masks:
            raise format_error(paths["fmri"], mask, f"a voxel mask named {mask!r}", f"masks {sorted(masks)}")
        keep = np.flatnonzero(masks[mask]) if mask is not None else np.arange(n_voxels_all)
        if keep.size == 0:
            raise format_error(paths["fmri"], mask, "some voxels in the mask", "none")
        n_images = {split: _check_images(image_npz, f"{split}_images") for split in ("train", "test")}
        shape = {split: image_npz.shape(f"{split}_images")[1:3] for split in n_images}
        if shape["train"] != shape["test"]:
            raise format_error(paths["images"], "test_images", f"the size of train_images, {shape['train']}", shape["test"])
        ids = {
            "train": _read_label_csv(paths["train_labels"], n_images["train"]),
            "test": _read_label_csv(paths["test_labels"], n_images["test"]),
        }
        train_image = _read_index(fmri, "arr_3", n_images["train"], "train_images")
        test_image = _read_index(fmri, "arr_4", n_images["test"], "test_images")
        if layout["n_averaged"] != n_images["test"]:
            expected = f"one averaged row per test image ({n_images['test']} in {paths['images'].name})"
            raise format_error(paths["fmri"], "arr_2", expected, f"{layout['n_averaged']} rows")
        scale = {split: _image_scale(image_npz, f"{split}_images") for split in n_images}
        if scale["train"] != scale["test"]:
            raise format_error(paths["images"], "test_images", f"the scale of train_images ({scale['train']})", scale["test"])
        class_names = _read_class_index(paths["class_index"]) if paths["class_index"].is_file() else None
        main, sets = _regions(masks, keep)

        image_id = ids["train"][0] + ids["test"][0]
        wnid = np.array(ids["train"][1] + ids["test"][1], dtype=np.int64)
        image_file = ids["train"][2] + ids["test"][2]
        categories, category = np.unique(wnid, return_inverse=True)
        n_train = n_images["train"]
        source_files = {key: str(path) for key, path in paths.items() if key != "class_index" or class_names is not None}
        with StoreWriter(
            out,
            n_voxels=keep.size,
            dataset="god",
            subject=str(subject),
            source=str(root),
            zscored=False,
            beta_dtype="float32",
            extra_attrs={"source_files": source_files, "mask": mask or "", "image_scale": scale["train"]},
        ) as writer:
            images = writer.create_images(n_train + n_images["test"], *shape["train"])
            for split, offset in (("train", 0), ("test", n_train)):
                for start, stop, block in image_npz.blocks(f"{split}_images", _IMAGE_BLOCK):
                    images[offset + start : offset + stop] = _to_uint8(block, scale["train"])
                    if progress is not None:
                        progress("images", stop - start)
            writer.set_split(np.repeat(np.array([0, 2], dtype=np.int8), [n_train, n_images["test"]]))
            writer.set_labels(np.eye(categories.size, dtype=np.float32)[category], [f"n{w:08d}" for w in categories])
            for key, session, trial_image in (("arr_0", 1, train_image), ("arr_1", 2, n_train + test_image)):
                for start, stop, block in fmri.blocks(key, _ROW_BLOCK):
                    rows = np.asarray(block[:, keep], dtype=np.float32)
                    check_finite(rows, paths["fmri"], key, start)
                    writer.append_trials(rows, session, trial_image[start:stop])
                    if progress is not None:
                        progress("trials", stop - start)
            writer.set_voxels(roi=main[0], roi_names=main[1], roi_sets=sets)
            for key, name in _VOXEL_KEYS.items():
                if key in fmri:
                    writer.set_array(name, np.asarray(fmri.read(key), dtype=np.float32)[keep], source=f"{paths['fmri'].name} {key}")
            averaged = np.asarray(fmri.read("arr_2"), dtype=np.float32)[:, keep]
            check_finite(averaged, paths["fmri"], "arr_2")
            writer.set_array("test_averaged/betas", averaged)
            writer.set_array("test_averaged/image", n_train + np.arange(n_images["test"], dtype=np.int64))
            writer.set_array("provenance/image_id", np.array(image_id, dtype=h5py.string_dtype()))
            writer.set_array("provenance/image_file", np.array(image_file, dtype=h5py.string_dtype()))
            writer.set_array("provenance/wnid", wnid)
            if class_names is not None:
                names = [class_names.get(int(w), "") for w in wnid]
                writer.set_array("provenance/class_name", np.array(names, dtype=h5py.string_dtype()))
    return out


# --------------------------------------------------------------------------------------------
# fMRI npz


def _check_fmri(fmri: NpzArrays) -> dict[str, int]:
    """Shapes of arr_0 .. arr_4 checked against each other; the voxel count and row counts."""
    missing = [key for key in _FMRI_KEYS if key not in fmri]
    if missing:
        raise format_error(fmri.path, missing[0], f"arrays {', '.join(_FMRI_KEYS)}", f"arrays {sorted(fmri.keys)}")
    for key in ("arr_0", "arr_1", "arr_2"):
        shape, dtype = fmri.shape(key), fmri.dtype(key)
        if len(shape) != 2 or 0 in shape:
            raise format_error(fmri.path, key, "a 2-D array (rows, voxels)", f"shape {shape}")
        check_numeric(fmri.path, key, shape, dtype, "fMRI")
    n_voxels = fmri.shape("arr_0")[1]
    for key in ("arr_1", "arr_2"):
        if fmri.shape(key)[1] != n_voxels:
            raise format_error(fmri.path, key, f"{n_voxels} voxel columns, as arr_0", f"shape {fmri.shape(key)}")
    for key, rows in (("arr_3", "arr_0"), ("arr_4", "arr_1")):
        expected = (fmri.shape(rows)[0],)
        if fmri.shape(key) != expected:
            raise format_error(fmri.path, key, f"shape {expected}: one image index per row of {rows}", f"shape {fmri.shape(key)}")
    for key in _VOXEL_KEYS:
        if key in fmri and fmri.shape(key) != (n_voxels,):
            raise format_error(fmri.path, key, f"shape ({n_voxels},): one value per voxel", f"shape {fmri.shape(key)}")
    return {"n_voxels": n_voxels, "n_averaged": fmri.shape("arr_2")[0]}


def _read_index(fmri: NpzArrays, key: str, n_images: int, images_key: str) -> np.ndarray:
    """0-based image rows, checked to lie in 0..n_images-1 (a 1-based file would reach n_images)."""
    index = as_labels(fmri.read(key), fmri.path, key)
    if index.size and index.max() >= n_images:
        hint = " (is it 1-based?)" if index.min() >= 1 and index.max() == n_images else ""
        expected = f"0-based rows of {images_key}, 0..{n_images - 1}"
        raise format_error(fmri.path, key, expected, f"{index.max()}{hint}")
    return index


def _read_masks(fmri: NpzArrays, n_voxels: int) -> dict[str, np.ndarray]:
    """Every named array other than arr_N is a voxel mask (V,), boolean or 0/1."""
    masks = {}
    for key in fmri.keys:
        if re.fullmatch(r"arr_\d+", key):
            continue
        values = fmri.read(key)
        if values.shape != (n_voxels,):
            raise format_error(fmri.path, key, f"a voxel mask of shape ({n_voxels},)", f"shape {values.shape}")
        if values.dtype != bool:
            check_numeric(fmri.path, key, values.shape, values.dtype, "a voxel mask")
            if not np.isin(values, (0, 1)).all():
                raise format_error(fmri.path, key, "a boolean (or 0/1) voxel mask", f"values {np.unique(values)[:5]}")
        masks[key] = values.astype(bool)
    return masks


def _regions(masks: dict[str, np.ndarray], keep: np.ndarray) -> tuple[Regions, dict[str, Regions]]:
    """voxel/roi from the areas that do not overlap; every other mask a region set of its own."""
    labels = np.zeros(keep.size, dtype=np.int16)
    names = [""]
    sets = {}
    for name in [a for a in AREAS if a in masks] + [m for m in masks if m not in AREAS]:
        inside = masks[name][keep]
        if name in AREAS and not (labels[inside] > 0).any():
            names.append(name)
            labels[inside] = len(names) - 1
        else:
            sets[name] = (inside.astype(np.int16), ["", name])
    return (labels, names), sets


# --------------------------------------------------------------------------------------------
# images and labels


def _check_images(images: NpzArrays, key: str) -> int:
    shape = images.shape(key)
    if len(shape) != 4 or shape[-1] != 3 or shape[0] == 0:
        raise format_error(images.path, key, "(n_images, H, W, 3) RGB images", f"shape {shape}")
    check_numeric(images.path, key, shape, images.dtype(key), "images")
    return shape[0]


def _image_scale(images: NpzArrays, key: str) -> str:
    """How the images are stored: "uint8", "float 0-1" or "float 0-255" (any other range fails)."""
    dtype = images.dtype(key)
    if dtype == np.uint8:
        return "uint8"
    low, high = np.inf, -np.inf
    for _, _, block in images.blocks(key, _IMAGE_BLOCK):
        if not np.isfinite(block).all():
            raise format_error(images.path, key, "finite pixel values", "NaN or infinite values")
        low, high = min(low, block.min()), max(high, block.max())
    if np.issubdtype(dtype, np.integer):
        if low < 0 or high > 255:
            raise format_error(images.path, key, "pixel values 0..255", f"{dtype} values {low}..{high}")
        return "uint8"
    if low < 0 or high > 255:
        raise format_error(images.path, key, "pixel values in [0, 1] or [0, 255]", f"{dtype} values {low}..{high}")
    # a whole image set whose brightest pixel is at most 1 is on the 0..1 scale
    return "float 0-1" if high <= 1 else "float 0-255"


def _to_uint8(block: np.ndarray, scale: str) -> np.ndarray:
    if block.dtype == np.uint8:
        return block
    if scale == "float 0-1":
        block = np.asarray(block, dtype=np.float64) * 255
    return np.clip(np.rint(block), 0, 255).astype(np.uint8)


def _read_label_csv(path: Path, n_images: int) -> tuple[list[str], list[int], list[str]]:
    """The image ids (first field), their WordNet offsets (the integer before its first '.') and the
    JPEG names (the second field, quoted in the release; '' where a row has none)."""
    ids, wnids, files = [], [], []
    with path.open(newline="") as f:
        for row in csv.reader(f):
            if not row:
                continue
            first = row[0].strip()
            offset = first.split(".")[0]
            if not offset.isdigit():
                expected = "a first field '<WordNet offset>.<image number>', e.g. 1518878.005958 (no header)"
                raise format_error(path, f"row {len(ids) + 1}", expected, repr(row[0]))
            ids.append(first)
            wnids.append(int(offset))
            files.append(row[1].strip() if len(row) > 1 else "")
    if len(ids) != n_images:
        raise format_error(path, None, f"one row per image of images_256.npz ({n_images})", f"{len(ids)} rows")
    return ids, wnids, files


def _read_class_index(path: Path) -> dict[int, str]:
    """{WordNet offset: class name} from a class index whose entries are [wnid, ..., name]."""
    try:
        index = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise format_error(path, None, "JSON", f"invalid JSON ({err})") from None
    if not isinstance(index, dict):
        raise format_error(path, None, 'an object {"0": [wnid, ..., name], ...}', type(index).__name__)
    names = {}
    for key, entry in index.items():
        valid = isinstance(entry, list) and len(entry) >= 2 and all(isinstance(x, str) for x in entry)
        if not valid or not all(re.fullmatch(r"n\d+", w) for w in entry[:-1]):
            raise format_error(path, key, "[wnid like 'n01440764', ..., name]", entry)
        for wnid in entry[:-1]:
            names.setdefault(int(wnid[1:]), entry[-1])
    return names

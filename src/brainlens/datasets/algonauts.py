"""Algonauts 2023 challenge data → subject store.

Files read, under the challenge data root (``subjXX`` is ``subj01``..``subj08``)::

    subjXX/training_split/training_fmri/lh_training_fmri.npy      (n_train, n_lh) float32
    subjXX/training_split/training_fmri/rh_training_fmri.npy      (n_train, n_rh) float32
    subjXX/training_split/training_images/train-NNNN_nsd-MMMMM.png  425 × 425 RGB
    subjXX/test_split/test_images/test-NNNN_nsd-MMMMM.png
    subjXX/roi_masks/{lh,rh}.all-vertices_fsaverage_space.npy     (163842,) non-zero = challenge vertex
    subjXX/roi_masks/{lh,rh}.<family>_challenge_space.npy         (n_lh,) / (n_rh,) integer labels
    subjXX/roi_masks/mapping_<family>.npy                          pickled dict {label: name}, names
                                                                   stripped of surrounding whitespace

NNNN is the 1-based row of the fMRI arrays (train) or of the test set; MMMMM the 0-based NSD 73k id.

What the store holds:

- ``images``: the training images in fMRI row order, then the test images in their order;
  ``split`` 0 for training, 2 for test; ``provenance/nsd_id`` (n_images,) their 73k ids.
- ``betas``: one row per training image, left then right hemisphere, as released: already z-scored
  per session and averaged over repeats by the organisers (attrs ``zscored`` and ``repeats_averaged``
  true), float32. ``trial_image`` is the row's image; ``trial_session`` is 0 for every row, since a
  row mixes sessions. Test images have no rows: their fMRI was never released.
- voxels: the challenge vertices on fsaverage (``voxel/vertex``, right ones offset by 163842).
  ``voxel/roi`` holds ``prf-visualrois``; each other family of :data:`ROI_FAMILIES` becomes
  ``voxel/roi_sets/<family>``, since they overlap; names come from the ``mapping_*`` dicts.
- attrs: ``source`` (the root), ``source_files``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from brainlens.datasets._utils import (
    FSAVERAGE_VERTICES,
    HEMIS,
    ROI_FAMILIES,
    Progress,
    Regions,
    as_labels,
    blocks,
    check_subject,
    format_error,
    require_file,
    roi_names,
)
from brainlens.store import StoreWriter

__all__ = ["ROI_FAMILIES", "convert_algonauts"]

_ROW_BLOCK = 512


def convert_algonauts(
    root: str | os.PathLike, subject: int, out: str | os.PathLike, progress: Progress | None = None
) -> Path:
    """Convert one Algonauts 2023 subject into a subject store at ``out``; returns ``out``.

    root: the folder holding ``subj01`` .. ``subj08``. subject: 1..8.
    progress: ``progress(stage, k)`` with stage "images" and "trials".

    Example: ``convert_algonauts("/data/algonauts_2023_challenge_data", 1, "algonauts_subj01.h5")``.
    """
    subject = check_subject(subject)
    out = Path(out)
    root = Path(root).absolute()
    folder = root / f"subj{subject:02d}"
    fmri_paths = [folder / "training_split/training_fmri" / f"{hemi}_training_fmri.npy" for hemi in HEMIS]
    fmri = [np.load(require_file(path, "Algonauts training fMRI"), mmap_mode="r") for path in fmri_paths]
    for data, path in zip(fmri, fmri_paths):
        if data.ndim != 2 or not np.issubdtype(data.dtype, np.floating):
            raise format_error(path, None, "(n_train_images, n_vertices) float32", f"shape {data.shape} dtype {data.dtype}")
    if fmri[0].shape[0] != fmri[1].shape[0]:
        raise format_error(fmri_paths[1], None, f"{fmri[0].shape[0]} rows as {fmri_paths[0].name}", f"{fmri[1].shape[0]}")
    n_train = fmri[0].shape[0]
    train_images, train_ids = _list_images(folder / "training_split/training_images", "train", n_rows=n_train)
    test_images, test_ids = _list_images(folder / "test_split/test_images", "test")

    masks = folder / "roi_masks"
    hemi_vertices = []
    for hemi, data, path in zip(HEMIS, fmri, fmri_paths):
        mask_path = require_file(masks / f"{hemi}.all-vertices_fsaverage_space.npy", "Algonauts challenge vertices")
        challenge = np.load(mask_path)
        if challenge.shape != (FSAVERAGE_VERTICES,):
            raise format_error(mask_path, None, f"shape ({FSAVERAGE_VERTICES},)", f"shape {challenge.shape}")
        vertices = np.flatnonzero(challenge)
        if vertices.size != data.shape[1]:
            expected = f"{data.shape[1]} challenge vertices, one per column of {path.name}"
            raise format_error(mask_path, None, expected, f"{vertices.size} non-zero entries")
        hemi_vertices.append(vertices)
    n_voxels = sum(v.size for v in hemi_vertices)
    main, sets = _regions(masks, [v.size for v in hemi_vertices])

    paths = train_images + test_images
    with StoreWriter(
        out,
        n_voxels=n_voxels,
        dataset="algonauts2023",
        subject=str(subject),
        source=str(root),
        zscored=True,
        beta_dtype="float32",
        extra_attrs={
            "repeats_averaged": True,
            "source_files": {
                "fmri": [str(p) for p in fmri_paths],
                "training_images": str(folder / "training_split/training_images"),
                "test_images": str(folder / "test_split/test_images"),
                "roi_masks": str(masks),
            },
        },
    ) as writer:
        first = _read_png(paths[0])
        images = writer.create_images(len(paths), first.shape[0], first.shape[1])
        for i, path in enumerate(paths):
            image = _read_png(path)
            if image.shape != first.shape:
                raise format_error(path, None, f"the size of {paths[0].name}, {first.shape}", f"{image.shape}")
            images[i] = image
            if progress is not None:
                progress("images", 1)
        writer.set_split(np.repeat(np.array([0, 2], dtype=np.int8), [len(train_images), len(test_images)]))
        for start, stop in blocks(n_train, _ROW_BLOCK):
            rows = np.concatenate([np.asarray(data[start:stop], dtype=np.float32) for data in fmri], axis=1)
            bad = np.argwhere(~np.isfinite(rows))
            if bad.size:
                row, col = bad[0]
                hemi = int(col >= hemi_vertices[0].size)
                where = f"row {start + row}, column {col - hemi * hemi_vertices[0].size}"
                raise format_error(fmri_paths[hemi], where, "finite values", rows[row, col])
            writer.append_trials(rows, 0, np.arange(start, stop))
            if progress is not None:
                progress("trials", stop - start)
        vertex = np.concatenate([hemi_vertices[0], hemi_vertices[1] + FSAVERAGE_VERTICES])
        writer.set_voxels(roi=main[0], roi_names=main[1], vertex=vertex, space="fsaverage", roi_sets=sets)
        writer.set_array("provenance/nsd_id", np.array(train_ids + test_ids, dtype=np.int64))
    return out


def _list_images(folder: Path, prefix: str, n_rows: int | None = None) -> tuple[list[Path], list[int]]:
    """The ``<prefix>-NNNN_nsd-MMMMM.png`` files of ``folder`` in NNNN order (1-based, 1..n without gaps),
    and their 0-based 73k ids."""
    if not folder.is_dir():
        raise FileNotFoundError(f"Algonauts {prefix} images not found: expected the folder {folder}")
    pattern = re.compile(rf"{prefix}-(\d{{4}})_nsd-(\d{{5}})\.png")
    found: dict[int, tuple[Path, int]] = {}
    for path in sorted(folder.glob("*.png")):
        match = pattern.fullmatch(path.name)
        if match is None:
            raise format_error(path, None, f"a name like {prefix}-0001_nsd-00013.png", repr(path.name))
        row = int(match.group(1))
        if row in found:
            raise format_error(path, None, f"one image for row {row}", f"also {found[row][0].name}")
        found[row] = (path, int(match.group(2)))
    n = len(found) if n_rows is None else n_rows
    rows = sorted(found)
    if rows != list(range(1, n + 1)):
        missing = sorted(set(range(1, n + 1)) - set(rows))[:3]
        extra = sorted(set(rows) - set(range(1, n + 1)))[:3]
        expected = f"{prefix}-0001 .. {prefix}-{n:04d}, one per row (1-based)"
        raise format_error(folder, None, expected, f"{len(rows)} images; missing rows {missing}, unexpected rows {extra}")
    if n == 0:
        raise format_error(folder, None, f"{prefix}-NNNN_nsd-MMMMM.png images", "none")
    return [found[r][0] for r in rows], [found[r][1] for r in rows]


def _read_png(path: Path) -> np.ndarray:
    """(H, W, 3) uint8."""
    from PIL import Image

    with Image.open(path) as image:
        if image.mode != "RGB":
            raise format_error(path, None, "an RGB image", f"mode {image.mode}")
        return np.asarray(image, dtype=np.uint8)


def _regions(masks: Path, n_hemi: list[int]) -> tuple[Regions, dict[str, Regions]]:
    """voxel/roi (prf-visualrois) and the region sets from the challenge-space label files present."""
    main = (np.zeros(sum(n_hemi), dtype=np.int16), [""])
    sets = {}
    for family in ROI_FAMILIES:
        paths = [masks / f"{hemi}.{family}_challenge_space.npy" for hemi in HEMIS]
        if not any(path.is_file() for path in paths):
            continue
        labels = []
        for path, n in zip(paths, n_hemi):
            data = np.load(require_file(path, f"Algonauts {family} labels"))
            if data.shape != (n,):
                raise format_error(path, None, f"shape ({n},): one label per challenge vertex", f"shape {data.shape}")
            labels.append(as_labels(data, path))
        labels = np.concatenate(labels)
        mapping_path = require_file(masks / f"mapping_{family}.npy", f"Algonauts {family} names")
        # a pickled dict, so it needs allow_pickle (DATASETS.md §7)
        mapping = np.load(mapping_path, allow_pickle=True)
        if mapping.dtype != object or mapping.shape != () or not isinstance(mapping.item(), dict):
            found = f"an array of shape {mapping.shape} dtype {mapping.dtype}"
            raise format_error(mapping_path, None, "a pickled dict {label: name}", found)
        # the organisers' names keep the whitespace that ends their ctab lines (a tab and spaces)
        names = {int(label): str(name).strip() for label, name in mapping.item().items()}
        regions = (labels.astype(np.int16), roi_names(names, labels, mapping_path))
        if family == ROI_FAMILIES[0]:
            main = regions
        else:
            sets[family] = regions
    return main, sets

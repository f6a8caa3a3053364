"""The subject store: one HDF5 file per subject, the only format later stages read.

Schema (version 1)::

    images              (n_images, H, W, 3) uint8     stimuli, chunked one image per chunk
    betas               (n_trials, n_voxels) f16/f32  single-trial responses
    trial_image         (n_trials,) int64             image shown on each trial (0-based)
    trial_session       (n_trials,) int32             session of each trial
    split               (n_images,) int8              0 train, 1 validation, 2 test
    captions            (n_images,) str               optional
    labels              (n_images, n_labels) float32  optional, attr label_names
    fine_class          (n_images,) int64             optional fine class of each image (e.g. "object/bicycle"),
                                                      an index into attr fine_class_names
    voxel/roi           (n_voxels,) int16             region label, 0 = none; attr roi_names (index = label)
    voxel/roi_sets/<s>  (n_voxels,) int16             optional further (possibly overlapping) label sets
    voxel/vertex        (n_voxels,) int64             surface vertex (both hemispheres, left first); attr space
    voxel/ijk           (n_voxels, 3) int32           or volume index; attrs space, volume_shape
                                                      (neither, when the dataset gives no voxel locations,
                                                      as GOD's and HCP's preprocessed files: see has_location)
    voxel/ncsnr         (n_voxels,) float32           optional noise-ceiling SNR
    truth/...                                         optional ground truth of a simulated subject
    attrs: version, dataset, subject, source, kind ("paired" or "fmri-only"), zscored; further
           attributes a writer adds (extra_attrs) are kept as given when they are str, int, float
           or bool, and as JSON text otherwise (lists, dicts), named in attr json_attrs (a JSON
           list); Store.attrs returns those decoded

A fMRI-only store (resting state, for masked brain modelling) has no images, trial_image, split,
captions, labels or fine_class; its betas rows are samples (e.g. time points), grouped by trial_session.

Writes go to a temporary file in the target folder that is renamed into place on success, so an
interrupted write never leaves a file that looks whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

__all__ = [
    "SCHEMA_VERSION",
    "JSON_ATTRS",
    "SPLITS",
    "SURFACE_SPACES",
    "StoreError",
    "Store",
    "StoreWriter",
    "SplitData",
    "write",
    "open_store",
    "validate",
    "zscore_sessions",
    "average_repeats",
    "load_split",
]

SCHEMA_VERSION = 1
# the attribute naming the attributes written as JSON text (lists and dicts of extra_attrs), as a JSON
# list: marked on write, so that reading decodes exactly those and never a plain string that looks like JSON
JSON_ATTRS = "json_attrs"
SPLITS = {"train": 0, "val": 1, "test": 2}
# vertices per space, both hemispheres together (left first)
SURFACE_SPACES = {"fsaverage5": 2 * 10242, "fsaverage6": 2 * 40962, "fsaverage": 2 * 163842}
_BETA_DTYPES = (np.float16, np.float32)
# rows read at once when scanning betas; bounds memory for whole-cortex stores
_SCAN_ROWS = 2048
# bytes read at once by random-access reads
_READ_BLOCK_BYTES = 64 * 2**20


class StoreError(ValueError):
    """A store file is missing something or holds a bad value; the message names file, key and value."""

    def __init__(self, path: str | os.PathLike, key: str | None, problem: str):
        self.path = str(path)
        self.key = key
        self.problem = problem
        where = f"{self.path}" + (f" [{key}]" if key else "")
        super().__init__(f"{where}: {problem}")


# --------------------------------------------------------------------------------------------
# writing


class StoreWriter:
    """Write a store incrementally (betas session by session), atomically.

    Use as a context manager; the file appears at ``path`` only when the block exits without error::

        with StoreWriter(path, n_voxels=v, dataset="nsd", subject="1") as w:
            w.set_images(images)
            for session_betas, trial_image, session in sessions:
                w.append_trials(session_betas, trial_image, session)
            w.set_voxels(roi=roi, roi_names=names, vertex=vertex, space="fsaverage5")
            w.set_split(split)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        n_voxels: int,
        dataset: str,
        subject: str,
        source: str = "",
        kind: str = "paired",
        zscored: bool = True,
        beta_dtype: str = "float16",
        extra_attrs: Mapping[str, object] | None = None,
    ):
        if kind not in ("paired", "fmri-only"):
            raise ValueError(f"kind must be 'paired' or 'fmri-only'; {kind!r} was provided.")
        if np.dtype(beta_dtype) not in [np.dtype(d) for d in _BETA_DTYPES]:
            raise ValueError(f"beta_dtype must be float16 or float32; {beta_dtype!r} was provided.")
        if int(n_voxels) < 1:
            raise ValueError(f"n_voxels must be at least 1; {n_voxels!r} was provided.")
        self.path = Path(path)
        self.n_voxels = int(n_voxels)
        self.kind = kind
        self._beta_dtype = np.dtype(beta_dtype)
        self._attrs = dict(
            version=SCHEMA_VERSION,
            dataset=str(dataset),
            subject=str(subject),
            source=str(source),
            kind=kind,
            zscored=bool(zscored),
        )
        encoded = []
        for key, value in (extra_attrs or {}).items():
            if key == JSON_ATTRS:
                raise ValueError(f"'{JSON_ATTRS}' is the store's own attribute (it names the JSON-encoded ones); "
                                 "give the attribute another name.")
            if isinstance(value, np.generic):
                value = value.item()
            if isinstance(value, (str, int, float, bool)):
                self._attrs[key] = value
            else:
                self._attrs[key] = json.dumps(value)
                encoded.append(key)
        self._attrs[JSON_ATTRS] = json.dumps(sorted(encoded))
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._file: h5py.File | None = None
        self._n_trials = 0

    # -- context manager ------------------------------------------------------------------
    def __enter__(self) -> StoreWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = h5py.File(self._tmp, "w")
        for key, value in self._attrs.items():
            self._file.attrs[key] = value
        chunk_rows = 64
        chunk_cols = min(self.n_voxels, 4096)
        self._file.create_dataset(
            "betas",
            shape=(0, self.n_voxels),
            maxshape=(None, self.n_voxels),
            dtype=self._beta_dtype,
            chunks=(chunk_rows, chunk_cols),
        )
        self._file.create_dataset("trial_session", shape=(0,), maxshape=(None,), dtype=np.int32, chunks=(4096,))
        if self.kind == "paired":
            self._file.create_dataset("trial_image", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(4096,))
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()
        if exc_type is None:
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)

    @property
    def file(self) -> h5py.File:
        if self._file is None:
            raise RuntimeError("StoreWriter must be used inside a `with` block.")
        return self._file

    # -- content --------------------------------------------------------------------------
    def _require_paired(self, what: str) -> None:
        if self.kind != "paired":
            raise ValueError(f"a fmri-only store has no {what}; write it with kind='paired'.")

    def set_images(self, images: np.ndarray) -> None:
        """images: (n_images, H, W, 3) uint8."""
        self._require_paired("images")
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"images must be (n, H, W, 3) uint8; got shape {images.shape} dtype {images.dtype}.")
        self.file.create_dataset("images", data=images, chunks=(1, *images.shape[1:]))

    def create_images(self, n_images: int, height: int, width: int) -> h5py.Dataset:
        """An empty (n_images, height, width, 3) uint8 dataset to fill in pieces (large image sets)."""
        self._require_paired("images")
        return self.file.create_dataset("images", shape=(n_images, height, width, 3), dtype=np.uint8, chunks=(1, height, width, 3))

    def append_trials(self, betas: np.ndarray, session: np.ndarray | int, trial_image: np.ndarray | None = None) -> None:
        """Append single trials. betas: (n, n_voxels); session: (n,) or one int; trial_image: (n,) for paired stores."""
        betas = np.asarray(betas)
        if betas.ndim != 2 or betas.shape[1] != self.n_voxels:
            raise ValueError(f"betas must be (n_trials, {self.n_voxels}); got shape {betas.shape}.")
        if self.kind != "paired" and trial_image is not None:
            raise ValueError("a fmri-only store has no trial_image; give trial_image=None.")
        n = betas.shape[0]
        session = np.broadcast_to(np.asarray(session, dtype=np.int32), (n,))
        start, stop = self._n_trials, self._n_trials + n
        self.file["betas"].resize(stop, axis=0)
        self.file["betas"][start:stop] = betas.astype(self._beta_dtype, copy=False)
        self.file["trial_session"].resize(stop, axis=0)
        self.file["trial_session"][start:stop] = session
        if self.kind == "paired":
            if trial_image is None:
                raise ValueError("trial_image is required for a paired store.")
            trial_image = np.asarray(trial_image)
            if trial_image.shape != (n,):
                raise ValueError(f"trial_image must be ({n},) to match betas; got shape {trial_image.shape}.")
            self.file["trial_image"].resize(stop, axis=0)
            self.file["trial_image"][start:stop] = trial_image.astype(np.int64)
        self._n_trials = stop

    def set_split(self, split: np.ndarray) -> None:
        """split: (n_images,) int8 of 0 train, 1 validation, 2 test."""
        self._require_paired("split")
        self.file.create_dataset("split", data=np.asarray(split, dtype=np.int8))

    def set_captions(self, captions: Sequence[str]) -> None:
        self._require_paired("captions")
        self.file.create_dataset("captions", data=np.array(list(captions), dtype=h5py.string_dtype()))

    def set_labels(self, labels: np.ndarray, names: Sequence[str]) -> None:
        """labels: (n_images, n_labels) float32, e.g. how much of each category an image shows."""
        self._require_paired("labels")
        ds = self.file.create_dataset("labels", data=np.asarray(labels, dtype=np.float32))
        ds.attrs["label_names"] = list(names)

    def set_fine_classes(self, fine_class: np.ndarray, names: Sequence[str]) -> None:
        """fine_class: (n_images,) int, each image's index into ``names`` (e.g. "object/bicycle"), the classes
        of an n-way top-1 metric."""
        self._require_paired("fine_class")
        ds = self.file.create_dataset("fine_class", data=np.asarray(fine_class, dtype=np.int64))
        ds.attrs["fine_class_names"] = list(names)

    def set_voxels(
        self,
        *,
        roi: np.ndarray,
        roi_names: Sequence[str],
        vertex: np.ndarray | None = None,
        ijk: np.ndarray | None = None,
        space: str | None = None,
        volume_shape: Sequence[int] | None = None,
        ncsnr: np.ndarray | None = None,
        roi_sets: Mapping[str, tuple[np.ndarray, Sequence[str]]] | None = None,
    ) -> None:
        """Voxel metadata. roi_names[k] names label k (roi_names[0] is the unlabelled name, usually "").

        Locations: vertex (surface) or ijk (volume), with their ``space``; or neither, for a dataset
        that gives its voxels without locations (the store then has ``has_location`` false).
        """
        if vertex is not None and ijk is not None:
            raise ValueError("give at most one of vertex (surface) or ijk (volume), not both.")
        located = vertex is not None or ijk is not None
        if located and not space:
            kind = "surface" if vertex is not None else "volume"
            raise ValueError(f"space must name the {kind} of the voxel locations; {space!r} was provided.")
        if not located and space:
            raise ValueError(f"space={space!r} needs voxel locations (vertex or ijk); neither was provided.")
        group = self.file.create_group("voxel")
        ds = group.create_dataset("roi", data=np.asarray(roi, dtype=np.int16))
        ds.attrs["roi_names"] = list(roi_names)
        if vertex is not None:
            ds = group.create_dataset("vertex", data=np.asarray(vertex, dtype=np.int64))
            ds.attrs["space"] = space
        elif ijk is not None:
            ds = group.create_dataset("ijk", data=np.asarray(ijk, dtype=np.int32))
            if volume_shape is not None:
                ds.attrs["volume_shape"] = list(volume_shape)
            ds.attrs["space"] = space
        if ncsnr is not None:
            group.create_dataset("ncsnr", data=np.asarray(ncsnr, dtype=np.float32))
        for set_name, (labels, names) in (roi_sets or {}).items():
            ds = group.create_dataset(f"roi_sets/{set_name}", data=np.asarray(labels, dtype=np.int16))
            ds.attrs["roi_names"] = list(names)

    def set_array(self, key: str, data: np.ndarray, **attrs: object) -> None:
        """Any further array, e.g. ``truth/signal`` of a simulated subject."""
        ds = self.file.create_dataset(key, data=data)
        for name, value in attrs.items():
            ds.attrs[name] = value


def write(
    path: str | os.PathLike,
    *,
    betas: np.ndarray,
    trial_session: np.ndarray,
    roi: np.ndarray,
    roi_names: Sequence[str],
    dataset: str,
    subject: str,
    space: str | None = None,
    images: np.ndarray | None = None,
    trial_image: np.ndarray | None = None,
    split: np.ndarray | None = None,
    vertex: np.ndarray | None = None,
    ijk: np.ndarray | None = None,
    volume_shape: Sequence[int] | None = None,
    ncsnr: np.ndarray | None = None,
    captions: Sequence[str] | None = None,
    labels: np.ndarray | None = None,
    label_names: Sequence[str] | None = None,
    fine_class: np.ndarray | None = None,
    fine_class_names: Sequence[str] | None = None,
    roi_sets: Mapping[str, tuple[np.ndarray, Sequence[str]]] | None = None,
    extra: Mapping[str, np.ndarray] | None = None,
    source: str = "",
    zscored: bool = True,
    beta_dtype: str = "float16",
    extra_attrs: Mapping[str, object] | None = None,
) -> Path:
    """Write a whole store from in-memory arrays, atomically, then validate it. Returns the path.

    Without ``images`` the store is fMRI-only (no trial_image, split, captions, labels or fine_class either).
    Without ``vertex`` and ``ijk`` (and ``space``) it has no voxel locations. ``fine_class`` needs its
    ``fine_class_names``.
    """
    kind = "fmri-only" if images is None else "paired"
    if kind == "fmri-only":
        paired_only = {"trial_image": trial_image, "split": split, "captions": captions, "labels": labels,
                       "fine_class": fine_class}
        given = [name for name, value in paired_only.items() if value is not None]
        if given:
            raise ValueError(f"{', '.join(given)} given without images; a fmri-only store has none of them.")
    if fine_class is not None and fine_class_names is None:
        raise ValueError("fine_class_names is required with fine_class (the class each index stands for); "
                         "fine_class_names=None was provided.")
    betas = np.asarray(betas)
    if betas.ndim != 2:
        raise ValueError(f"betas must be (n_trials, n_voxels); got shape {betas.shape}.")
    with StoreWriter(
        path,
        n_voxels=betas.shape[1],
        dataset=dataset,
        subject=subject,
        source=source,
        kind=kind,
        zscored=zscored,
        beta_dtype=beta_dtype,
        extra_attrs=extra_attrs,
    ) as writer:
        if images is not None:
            writer.set_images(images)
            if split is None:
                raise ValueError("split is required when images are given.")
            writer.set_split(split)
        writer.append_trials(betas, trial_session, trial_image)
        writer.set_voxels(
            roi=roi,
            roi_names=roi_names,
            vertex=vertex,
            ijk=ijk,
            space=space,
            volume_shape=volume_shape,
            ncsnr=ncsnr,
            roi_sets=roi_sets,
        )
        if captions is not None:
            writer.set_captions(captions)
        if labels is not None:
            writer.set_labels(labels, label_names or [str(k) for k in range(np.shape(labels)[1])])
        if fine_class is not None:
            writer.set_fine_classes(fine_class, fine_class_names)
        for key, value in (extra or {}).items():
            writer.set_array(key, value)
        # validate the temporary file before it is renamed into place
        writer.file.flush()
        _validate_file(writer.file, writer.path)
    return Path(path)


# --------------------------------------------------------------------------------------------
# reading


def _open_h5(path: str | os.PathLike) -> h5py.File:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"store file not found: {path}")
    if path.is_dir():
        raise StoreError(path, None, "is a folder, not a store file")
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError as err:
        raise StoreError(path, None, f"cannot be read ({err})") from err
    if not is_hdf5:
        raise StoreError(path, None, "is not an HDF5 file (no HDF5 signature)")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise StoreError(path, None, f"cannot be opened as HDF5, the file may be truncated or corrupt ({err})") from err


@dataclass(frozen=True)
class SplitData:
    """Responses of one split. With repeats averaged, one row per image; otherwise one row per trial."""

    image_index: np.ndarray  # (n_rows,) int64 index into the store's images
    betas: np.ndarray  # (n_rows, n_selected_voxels) float32
    n_repeats: np.ndarray  # (n_rows,) int64 trials behind each row (1 when not averaged)


@dataclass
class Store:
    """A read-only, lazy view of a store file. Open with :func:`open_store` (checks the schema first).

    Images and betas stay on disk; ``images_at`` and ``betas_at`` read only what is asked for.
    """

    path: Path
    file: h5py.File = field(repr=False)

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- shapes and attributes ------------------------------------------------------------
    @property
    def attrs(self) -> dict[str, object]:
        """The store's attributes as plain Python values; those written from lists and dicts (e.g.
        ``source_files``, ``session_folders``) come back as lists and dicts, decoded from their JSON text."""
        attrs = {key: _plain(value) for key, value in self.file.attrs.items()}
        if JSON_ATTRS in attrs:
            encoded = self._json_attr(JSON_ATTRS, attrs.pop(JSON_ATTRS))
            if not isinstance(encoded, list) or not all(isinstance(key, str) for key in encoded):
                raise StoreError(self.path, JSON_ATTRS, f"must be a JSON list of attribute names; found {encoded!r}")
            for key in set(encoded) & attrs.keys():
                attrs[key] = self._json_attr(key, attrs[key])
        else:
            # written before JSON_ATTRS existed: the writer encoded every list and dict, and only those
            for key, value in attrs.items():
                attrs[key] = _legacy_json(value)
        return attrs

    def _json_attr(self, key: str, text: object) -> object:
        """The value of an attribute written as JSON text (named in ``JSON_ATTRS``)."""
        if not isinstance(text, str):
            raise StoreError(self.path, key, f"must hold JSON text; found a {type(text).__name__}: {text!r}")
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise StoreError(self.path, key, f"must hold JSON text; found {text!r} ({err})") from None

    @property
    def kind(self) -> str:
        return str(self.file.attrs.get("kind", "paired"))

    @property
    def zscored(self) -> bool:
        return bool(self.file.attrs.get("zscored", True))

    @property
    def n_trials(self) -> int:
        return int(self.file["betas"].shape[0])

    @property
    def n_voxels(self) -> int:
        return int(self.file["betas"].shape[1])

    @property
    def n_images(self) -> int:
        return int(self.file["images"].shape[0]) if "images" in self.file else 0

    @property
    def image_shape(self) -> tuple[int, int, int] | None:
        return tuple(self.file["images"].shape[1:]) if "images" in self.file else None

    # -- per-trial and per-image arrays (small; read whole) -------------------------------
    @property
    def trial_image(self) -> np.ndarray:
        return self._require("trial_image")[()]

    @property
    def trial_session(self) -> np.ndarray:
        return self.file["trial_session"][()]

    @property
    def split(self) -> np.ndarray:
        return self._require("split")[()]

    @property
    def captions(self) -> list[str] | None:
        if "captions" not in self.file:
            return None
        return [c.decode() if isinstance(c, bytes) else str(c) for c in self.file["captions"][()]]

    @property
    def labels(self) -> tuple[np.ndarray, list[str]] | None:
        if "labels" not in self.file:
            return None
        ds = self.file["labels"]
        return ds[()], [str(n) for n in ds.attrs["label_names"]]

    @property
    def fine_classes(self) -> tuple[np.ndarray, list[str]] | None:
        """(fine class index of each image (n_images,) int64, class names), or None when the store has none."""
        if "fine_class" not in self.file:
            return None
        ds = self.file["fine_class"]
        return ds[()], [str(n) for n in ds.attrs["fine_class_names"]]

    @property
    def ncsnr(self) -> np.ndarray | None:
        return self.file["voxel/ncsnr"][()] if "voxel/ncsnr" in self.file else None

    @property
    def has_location(self) -> bool:
        """Whether the voxels have locations (``voxel/vertex`` or ``voxel/ijk``); GOD's and HCP's
        preprocessed files give none."""
        return "voxel/vertex" in self.file or "voxel/ijk" in self.file

    @property
    def space(self) -> str:
        """The surface or volume of the voxel locations, e.g. "fsaverage" or "func1pt8mm"."""
        key = "voxel/vertex" if "voxel/vertex" in self.file else "voxel/ijk"
        self._require_location(key)
        return str(self.file[key].attrs["space"])

    @property
    def vertex(self) -> np.ndarray | None:
        """(n_voxels,) surface vertex of each voxel; None for a volume store (see ``ijk``)."""
        if "voxel/ijk" in self.file:
            return None
        return self._require_location("voxel/vertex")[()]

    @property
    def ijk(self) -> np.ndarray | None:
        """(n_voxels, 3) volume index of each voxel; None for a surface store (see ``vertex``)."""
        if "voxel/vertex" in self.file:
            return None
        return self._require_location("voxel/ijk")[()]

    def _require_location(self, key: str) -> h5py.Dataset:
        if not self.has_location:
            raise StoreError(
                self.path,
                key,
                f"missing: this store has no voxel locations (neither voxel/vertex nor voxel/ijk; "
                f"dataset {self.attrs.get('dataset', '?')!r} gives its voxels without them)",
            )
        return self.file[key]

    @property
    def roi(self) -> np.ndarray:
        return self.file["voxel/roi"][()]

    @property
    def roi_names(self) -> list[str]:
        return [str(n) for n in self.file["voxel/roi"].attrs["roi_names"]]

    def _require(self, key: str) -> h5py.Dataset:
        if key not in self.file:
            raise StoreError(self.path, key, f"missing (this is a {self.kind} store)")
        return self.file[key]

    # -- lazy random access -------------------------------------------------------------
    def images_at(self, index: np.ndarray | Sequence[int] | int) -> np.ndarray:
        """Images by index, in the order given: (len(index), H, W, 3) uint8 (or (H, W, 3) for one int)."""
        ds = self._require("images")
        if np.isscalar(index):
            return ds[_check_index(self.path, "images", int(index), ds.shape[0])]
        return _read_rows(ds, _check_indices(self.path, "images", index, ds.shape[0]))

    def betas_at(self, trials: np.ndarray | Sequence[int], voxels: np.ndarray | None = None) -> np.ndarray:
        """Betas of these trials (and voxels): (len(trials), n_selected) float32, in the order given."""
        ds = self.file["betas"]
        rows = _check_indices(self.path, "betas", trials, ds.shape[0])
        out = _read_rows(ds, rows, voxels).astype(np.float32, copy=False)
        return out

    # -- regions ----------------------------------------------------------------------------
    def region_names(self) -> list[str]:
        """Every region name this store knows: the main labels, then those of any further label set."""
        names = [n for n in self.roi_names if n]
        for _, ds in self._roi_sets():
            names += [str(n) for n in ds.attrs["roi_names"] if n and str(n) not in names]
        return names

    def region_voxels(self, name: str) -> np.ndarray:
        """Indices (into the voxel axis) of the voxels of region ``name``: (n_region_voxels,) int64."""
        for ds in [self.file["voxel/roi"]] + [ds for _, ds in self._roi_sets()]:
            names = [str(n) for n in ds.attrs["roi_names"]]
            if name in names and name:
                return np.flatnonzero(ds[()] == names.index(name))
        raise KeyError(f"unknown region {name!r} in {self.path}; known regions: {', '.join(self.region_names())}")

    def _roi_sets(self) -> Iterator[tuple[str, h5py.Dataset]]:
        if "voxel/roi_sets" in self.file:
            yield from self.file["voxel/roi_sets"].items()

    # -- summary --------------------------------------------------------------------------
    def info(self) -> dict[str, object]:
        """A JSON-ready summary of the store."""
        roi = self.roi
        regions = {name: int(np.sum(roi == k)) for k, name in enumerate(self.roi_names) if name}
        summary: dict[str, object] = {
            "path": str(self.path),
            **self.attrs,
            "n_images": self.n_images,
            "image_shape": list(self.image_shape) if self.image_shape else None,
            "n_trials": self.n_trials,
            "n_voxels": self.n_voxels,
            "n_sessions": int(np.unique(self.trial_session).size),
            "beta_dtype": str(self.file["betas"].dtype),
            "space": self.space if self.has_location else None,
            "has_location": self.has_location,
            "regions": regions,
            "region_sets": {name: [str(n) for n in ds.attrs["roi_names"] if n] for name, ds in self._roi_sets()},
            "has_ncsnr": "voxel/ncsnr" in self.file,
            "has_captions": "captions" in self.file,
            "has_fine_classes": "fine_class" in self.file,
            "has_truth": "truth" in self.file,
        }
        if self.kind == "paired":
            split = self.split
            counts = np.bincount(self.trial_image, minlength=self.n_images)
            summary["split_images"] = {name: int(np.sum(split == code)) for name, code in SPLITS.items()}
            summary["repeats_per_image"] = {"min": int(counts.min()), "max": int(counts.max()), "mean": float(counts.mean())}
        return summary


def open_store(path: str | os.PathLike, *, check: bool = True) -> Store:
    """Open a store lazily. With ``check``, the schema (keys, shapes, dtypes, index ranges) is checked
    first; the full NaN scan of the betas is left to :func:`validate`."""
    file = _open_h5(path)
    try:
        if check:
            _validate_file(file, Path(path), scan_betas=False)
    except BaseException:
        file.close()
        raise
    return Store(Path(path), file)


# --------------------------------------------------------------------------------------------
# validation


def validate(path: str | os.PathLike, *, progress: Callable[[int], None] | None = None) -> dict[str, object]:
    """Check a store completely (schema, shapes, dtypes, index ranges, every beta finite).

    Raises StoreError naming the key and the offending value; returns the store's summary when valid.
    ``progress(k)`` is called with the number of trials scanned since the last call.
    """
    with _open_h5(path) as file:
        _validate_file(file, Path(path), scan_betas=True, progress=progress)
    with open_store(path, check=False) as store:
        return store.info()


def _validate_file(
    file: h5py.File,
    path: Path,
    *,
    scan_betas: bool = True,
    progress: Callable[[int], None] | None = None,
) -> None:
    def fail(key: str | None, problem: str) -> None:
        raise StoreError(path, key, problem)

    try:
        version = file.attrs.get("version")
        if version is None:
            fail(None, "missing attribute 'version' (not a brainlens store?)")
        if int(version) > SCHEMA_VERSION:
            fail(None, f"schema version {int(version)} is newer than this brainlens reads ({SCHEMA_VERSION})")
        for attr in ("dataset", "subject"):
            if attr not in file.attrs:
                fail(None, f"missing attribute {attr!r}")
        kind = str(file.attrs.get("kind", "paired"))
        if kind not in ("paired", "fmri-only"):
            fail(None, f"attribute 'kind' must be 'paired' or 'fmri-only'; found {kind!r}")
        required = ["betas", "trial_session", "voxel/roi"]
        if kind == "paired":
            required += ["images", "trial_image", "split"]
        for key in required:
            if key not in file:
                fail(key, "missing")
        if kind == "fmri-only":
            for key in ("images", "trial_image", "split", "captions", "labels", "fine_class"):
                if key in file:
                    fail(key, "present in a fmri-only store "
                              "(kind 'fmri-only' has no images, trial_image, split, captions, labels or fine_class)")

        betas = file["betas"]
        if betas.ndim != 2:
            fail("betas", f"must be 2-D (n_trials, n_voxels); found shape {betas.shape}")
        if betas.dtype not in [np.dtype(d) for d in _BETA_DTYPES]:
            fail("betas", f"must be float16 or float32; found {betas.dtype}")
        n_trials, n_voxels = betas.shape
        if n_trials == 0 or n_voxels == 0:
            fail("betas", f"is empty; shape {betas.shape}")

        _check_vector(file, "trial_session", n_trials, "integer", fail)
        if kind == "paired":
            images = file["images"]
            if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
                fail("images", f"must be (n_images, H, W, 3) uint8; found shape {images.shape} dtype {images.dtype}")
            n_images = images.shape[0]
            trial_image = _check_vector(file, "trial_image", n_trials, "integer", fail)
            bad = np.flatnonzero((trial_image < 0) | (trial_image >= n_images))
            if bad.size:
                fail("trial_image", f"trial {bad[0]} shows image {trial_image[bad[0]]}, outside 0..{n_images - 1} ({bad.size} such trials)")
            split = _check_vector(file, "split", n_images, "integer", fail)
            bad = np.flatnonzero(~np.isin(split, list(SPLITS.values())))
            if bad.size:
                fail("split", f"image {bad[0]} has split {split[bad[0]]}; allowed: 0 train, 1 validation, 2 test")
            if "captions" in file and file["captions"].shape != (n_images,):
                fail("captions", f"must be ({n_images},) to match images; found shape {file['captions'].shape}")
            if "labels" in file:
                labels = file["labels"]
                if labels.ndim != 2 or labels.shape[0] != n_images:
                    fail("labels", f"must be ({n_images}, n_labels); found shape {labels.shape}")
                if "label_names" not in labels.attrs or len(labels.attrs["label_names"]) != labels.shape[1]:
                    fail("labels", f"needs attribute label_names with {labels.shape[1]} names")
            if "fine_class" in file:
                fine_class = _check_vector(file, "fine_class", n_images, "integer", fail)
                if "fine_class_names" not in file["fine_class"].attrs:
                    fail("fine_class", "needs attribute fine_class_names")
                n_names = len(file["fine_class"].attrs["fine_class_names"])
                bad = np.flatnonzero((fine_class < 0) | (fine_class >= n_names))
                if bad.size:
                    fail("fine_class", f"image {bad[0]} has fine class {fine_class[bad[0]]}; fine_class_names has "
                                       f"{n_names} entries (0..{n_names - 1})")

        _check_labels(file, "voxel/roi", n_voxels, fail)
        if "voxel/roi_sets" in file:
            for name in file["voxel/roi_sets"]:
                _check_labels(file, f"voxel/roi_sets/{name}", n_voxels, fail)
        _check_location(file, n_voxels, fail)
        if "voxel/ncsnr" in file:
            ncsnr = _check_vector(file, "voxel/ncsnr", n_voxels, "float", fail)
            bad = np.flatnonzero(~np.isfinite(ncsnr) | (ncsnr < 0))
            if bad.size:
                fail("voxel/ncsnr", f"voxel {bad[0]} has ncsnr {ncsnr[bad[0]]}; must be finite and >= 0")

        if scan_betas:
            for start in range(0, n_trials, _SCAN_ROWS):
                block = betas[start : start + _SCAN_ROWS]
                finite = np.isfinite(block)
                if not finite.all():
                    row, col = np.argwhere(~finite)[0]
                    fail(
                        "betas",
                        f"trial {start + row}, voxel {col} is {block[row, col]} "
                        f"(not finite; {int((~finite).sum())} such values in trials {start}..{start + len(block) - 1})",
                    )
                if progress is not None:
                    progress(len(block))
    except StoreError:
        raise
    except (OSError, KeyError, RuntimeError) as err:
        # h5py raises these when a dataset's bytes are missing (a truncated or damaged file)
        raise StoreError(path, None, f"cannot be read, the file may be truncated or corrupt ({err})") from err


def _check_vector(file: h5py.File, key: str, length: int, kind: str, fail: Callable[[str, str], None]) -> np.ndarray:
    ds = file[key]
    if ds.shape != (length,):
        fail(key, f"must have shape ({length},); found {ds.shape}")
    wanted = np.integer if kind == "integer" else np.floating
    if not np.issubdtype(ds.dtype, wanted):
        fail(key, f"must be {kind}; found dtype {ds.dtype}")
    return ds[()]


def _check_labels(file: h5py.File, key: str, n_voxels: int, fail: Callable[[str, str], None]) -> None:
    labels = _check_vector(file, key, n_voxels, "integer", fail)
    if "roi_names" not in file[key].attrs:
        fail(key, "needs attribute roi_names")
    n_names = len(file[key].attrs["roi_names"])
    bad = np.flatnonzero((labels < 0) | (labels >= n_names))
    if bad.size:
        fail(key, f"voxel {bad[0]} has label {labels[bad[0]]}; roi_names has {n_names} entries (0..{n_names - 1})")


def _check_location(file: h5py.File, n_voxels: int, fail: Callable[[str, str], None]) -> None:
    if "voxel/vertex" in file and "voxel/ijk" in file:
        fail("voxel/ijk", "present beside voxel/vertex; a store locates its voxels on a surface or in a volume, not both")
    for key in ("voxel/vertex", "voxel/ijk"):
        if key in file and not str(file[key].attrs.get("space", "")):
            fail(key, "needs attribute space (the surface or volume of the locations)")
    if "voxel/vertex" in file:
        vertex = _check_vector(file, "voxel/vertex", n_voxels, "integer", fail)
        space = str(file["voxel/vertex"].attrs.get("space", ""))
        limit = SURFACE_SPACES.get(space)
        if limit is not None:
            bad = np.flatnonzero((vertex < 0) | (vertex >= limit))
            if bad.size:
                fail("voxel/vertex", f"voxel {bad[0]} sits at vertex {vertex[bad[0]]}, outside 0..{limit - 1} of {space}")
    elif "voxel/ijk" in file:
        ijk = file["voxel/ijk"]
        if ijk.shape != (n_voxels, 3) or not np.issubdtype(ijk.dtype, np.integer):
            fail("voxel/ijk", f"must be ({n_voxels}, 3) integer; found shape {ijk.shape} dtype {ijk.dtype}")
    # neither: a store whose dataset gives no voxel locations (Store.has_location is false)


# --------------------------------------------------------------------------------------------
# helpers every later stage needs


def zscore_sessions(betas: np.ndarray, sessions: np.ndarray) -> np.ndarray:
    """Z-score each voxel within each session, as NSD's analyses do.

    betas: (n_trials, n_voxels); sessions: (n_trials,). Returns float32 of the same shape.
    A voxel constant within a session becomes 0 there.
    """
    betas = np.asarray(betas, dtype=np.float32)
    sessions = np.asarray(sessions)
    if sessions.shape != (betas.shape[0],):
        raise ValueError(f"sessions must be ({betas.shape[0]},) to match betas; got shape {sessions.shape}.")
    out = np.empty_like(betas)
    for session in np.unique(sessions):
        rows = sessions == session
        block = betas[rows]
        std = block.std(axis=0)
        out[rows] = (block - block.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return out


def average_repeats(betas: np.ndarray, trial_image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Average the trials of each image.

    betas: (n_trials, n_voxels); trial_image: (n_trials,).
    Returns (images (n_unique,) sorted, mean betas (n_unique, n_voxels) float32, repeats (n_unique,)).
    """
    trial_image = np.asarray(trial_image)
    if trial_image.shape != (np.shape(betas)[0],):
        raise ValueError(f"trial_image must be ({np.shape(betas)[0]},) to match betas; got shape {trial_image.shape}.")
    images, inverse, counts = np.unique(trial_image, return_inverse=True, return_counts=True)
    sums = np.zeros((images.size, np.shape(betas)[1]), dtype=np.float64)
    np.add.at(sums, inverse, np.asarray(betas, dtype=np.float64))
    return images, (sums / counts[:, None]).astype(np.float32), counts


def load_split(
    store: Store,
    split: str,
    *,
    voxels: np.ndarray | str | None = None,
    average: bool = True,
) -> SplitData:
    """Responses of one split ("train", "val" or "test"), z-scored per session if the store is not.

    voxels: indices into the voxel axis, a region name, or None for all.
    With ``average`` the repeats of each image are averaged (one row per image); otherwise one row per
    trial, and ``image_index`` gives the groups that model selection must keep together.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}; {split!r} was provided.")
    if isinstance(voxels, str):
        voxels = store.region_voxels(voxels)
    elif voxels is not None:
        voxels = _check_indices(store.path, "voxels", voxels, store.n_voxels)
    in_split = np.flatnonzero(store.split == SPLITS[split])
    if in_split.size == 0:
        raise StoreError(store.path, "split", f"has no {split!r} images")
    trial_image = store.trial_image
    trials = np.flatnonzero(np.isin(trial_image, in_split))
    if trials.size == 0:
        raise StoreError(store.path, "trial_image", f"no trial shows a {split!r} image")
    if store.zscored:
        betas = store.betas_at(trials, voxels)
    else:
        # z-scoring needs every trial of each session involved, not only this split's
        sessions = store.trial_session
        session_trials = np.flatnonzero(np.isin(sessions, np.unique(sessions[trials])))
        zscored = zscore_sessions(store.betas_at(session_trials, voxels), sessions[session_trials])
        betas = zscored[np.searchsorted(session_trials, trials)]
    if not average:
        return SplitData(trial_image[trials], betas, np.ones(trials.size, dtype=np.int64))
    images, mean, counts = average_repeats(betas, trial_image[trials])
    return SplitData(images, mean, counts)


# --------------------------------------------------------------------------------------------
# small private helpers


def _check_index(path: Path, key: str, index: int, length: int) -> int:
    if not -length <= index < length:
        raise IndexError(f"{path} [{key}]: index {index} out of range for {length} entries")
    return index % length


def _check_indices(path: Path, key: str, index: np.ndarray | Sequence[int], length: int) -> np.ndarray:
    index = np.asarray(index)
    if index.dtype == bool:
        if index.shape != (length,):
            raise IndexError(f"{path} [{key}]: boolean mask of shape {index.shape} for {length} entries")
        return np.flatnonzero(index)
    if index.ndim != 1 or (index.size and not np.issubdtype(index.dtype, np.integer)):
        raise IndexError(f"{path} [{key}]: indices must be a 1-D integer array; got shape {index.shape} dtype {index.dtype}")
    bad = np.flatnonzero((index < 0) | (index >= length))
    if bad.size:
        raise IndexError(f"{path} [{key}]: index {index[bad[0]]} out of range 0..{length - 1}")
    return index.astype(np.int64)


def _read_rows(ds: h5py.Dataset, rows: np.ndarray, cols: np.ndarray | None = None) -> np.ndarray:
    """Rows (any order, repeats allowed) of a dataset, optionally a column subset.

    h5py's fancy indexing wants sorted unique indices and is slow for scattered rows, so this reads
    contiguous runs of the sorted unique rows and puts them back in the order asked.
    """
    unique, inverse = np.unique(rows, return_inverse=True)
    n_cols = ds.shape[1] if cols is None else len(cols)
    out = np.empty((unique.size, n_cols, *ds.shape[2:]), dtype=ds.dtype)
    if unique.size:
        row_bytes = ds.dtype.itemsize * int(np.prod(ds.shape[1:]))
        block_rows = max(1, _READ_BLOCK_BYTES // row_bytes)
        breaks = np.flatnonzero(np.diff(unique) != 1) + 1
        pos = 0
        for run in np.split(unique, breaks):
            for start in range(0, run.size, block_rows):
                lo = int(run[start])
                hi = int(run[min(start + block_rows, run.size) - 1]) + 1
                block = ds[lo:hi]
                out[pos : pos + hi - lo] = block if cols is None else block[:, cols]
                pos += hi - lo
    return out[inverse]


def _legacy_json(value: object) -> object:
    """A list or dict from JSON text, as stores written before ``JSON_ATTRS`` hold them; any other value as is."""
    if not isinstance(value, str) or (value[:1], value[-1:]) not in (("[", "]"), ("{", "}")):
        return value
    try:
        decoded = json.loads(value)
    except json.JSONDecodeError:
        return value
    return decoded if isinstance(decoded, (list, dict)) else value


def _plain(value: object) -> object:
    """An HDF5 attribute as a plain Python value (for JSON)."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value

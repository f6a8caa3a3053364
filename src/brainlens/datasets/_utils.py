"""Checks shared by the dataset converters.

A missing file is reported by the path where it was expected; a file that holds something else than
the dataset's documented layout is reported with the file, the key, what was expected and what was found.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

# progress(stage, k): k more units of `stage` are done (the CLI feeds these to its bars)
Progress = Callable[[str, int], None]
# one label set of a store: (labels (n_voxels,) int16, names indexed by label)
Regions = tuple[np.ndarray, list[str]]

N_SUBJECTS = 8
FSAVERAGE_VERTICES = 163842  # per hemisphere
HEMIS = ("lh", "rh")
# NSD's label files (also Algonauts' ROI families): the first is a store's main voxel/roi, the others
# overlap it and each other, so each becomes a voxel/roi_sets entry
ROI_FAMILIES = ("prf-visualrois", "floc-bodies", "floc-faces", "floc-places", "floc-words", "streams")


def require_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` if it is a file; otherwise FileNotFoundError naming ``what`` and the expected path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: expected {path}")
    return path


def format_error(path: str | os.PathLike, key: str | None, expected: str, found: object) -> ValueError:
    """The error for a file whose content does not match the documented layout."""
    where = f"{path}" + (f" [{key}]" if key else "")
    return ValueError(f"{where}: expected {expected}; found {found}.")


def check_choice(name: str, value: object, allowed: Sequence[object]) -> None:
    if value not in allowed:
        raise ValueError(f"'{name}' must be one of {tuple(allowed)}. {value!r} was provided.")


def check_subject(subject: object) -> int:
    """A subject number 1..8 (NSD and Algonauts 2023 share NSD's eight subjects)."""
    if isinstance(subject, bool) or not isinstance(subject, (int, np.integer)) or not 1 <= subject <= N_SUBJECTS:
        raise ValueError(f"'subject' must be an integer 1..{N_SUBJECTS}. {subject!r} was provided.")
    return int(subject)


def as_labels(values: np.ndarray, path: str | os.PathLike, key: str | None = None, *, lowest: int = 0) -> np.ndarray:
    """Integer labels from a label file that may store them as floats: (n,) int64, each >= ``lowest``."""
    values = np.asarray(values)
    if not (np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)):
        raise format_error(path, key, "numeric labels", f"dtype {values.dtype}")
    rounded = np.rint(values) if np.issubdtype(values.dtype, np.floating) else values
    bad = np.flatnonzero((rounded != values) | (rounded < lowest))
    if bad.size:
        value = values.reshape(-1)[bad[0]]
        found = f"{value!r} at flat index {bad[0]} ({bad.size} such values)"
        raise format_error(path, key, f"integer labels >= {lowest}", found)
    return rounded.astype(np.int64)


def read_ctab(path: Path) -> dict[int, str]:
    """A FreeSurfer colour table as ``{label: name}``: one ``<int> <name>`` pair per line, split on any
    whitespace, so NSD's lines ``<int> <name><TAB><spaces>`` give the bare name (further columns, such
    as colours, are ignored; blank lines and ``#`` comments are skipped)."""
    names: dict[int, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) < 2 or not fields[0].lstrip("-").isdigit():
            raise format_error(path, f"line {number}", "'<integer label> <name>'", repr(line))
        label = int(fields[0])
        if label in names:
            raise format_error(path, f"line {number}", "each label once", f"label {label} again")
        names[label] = fields[1]
    return names


def roi_names(names: Mapping[int, str], labels: np.ndarray, source: str | os.PathLike) -> list[str]:
    """The store's ``roi_names`` list (index = label, label 0 unnamed) for ``labels``; every label that
    occurs must be named in ``names`` (read from ``source``). Names are stripped of surrounding whitespace."""
    names = {label: str(name).strip() for label, name in names.items()}
    named = {label for label, name in names.items() if name}
    missing = sorted(set(np.unique(labels).tolist()) - named - {0})
    if missing:
        expected = f"a name for every label in the data (it names {sorted(named)})"
        raise format_error(source, None, expected, f"labels {missing} unnamed")
    out = [""] * (max([0, *names]) + 1)
    for label, name in names.items():
        if label > 0:
            out[label] = name
    return out


def blocks(n: int, size: int) -> Iterator[tuple[int, int]]:
    """(start, stop) pairs covering range(n) in steps of ``size``."""
    size = max(1, int(size))
    for start in range(0, n, size):
        yield start, min(start + size, n)


def check_numeric(path: str | os.PathLike, key: str, shape: tuple[int, ...], dtype: np.dtype, expected: str) -> None:
    """A released array must hold real numbers (its exact dtype is often unconfirmed)."""
    if np.dtype(dtype).kind == "b" or not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
        raise format_error(path, key, f"{expected} of real numbers", f"shape {shape} dtype {dtype}")


def check_finite(block: np.ndarray, path: str | os.PathLike, key: str | None, first_row: int = 0) -> None:
    """Released, preprocessed responses are finite; name the first value that is not."""
    bad = np.argwhere(~np.isfinite(block))
    if bad.size:
        row, col = bad[0]
        where = f"{key + ', ' if key else ''}row {first_row + row}, column {col}"
        raise format_error(path, where, f"finite values ({bad.shape[0]} are not)", block[row, col])


class NpzArrays:
    """The arrays of a ``.npz`` file, read lazily: shapes and dtypes from the headers alone, and
    rows in blocks, so that a large member never has to sit in memory whole (``np.load`` reads a
    member whole on access and ignores ``mmap_mode`` for ``.npz``).

    Use as a context manager. Pickled (object) members are refused: read those with ``np.load``.
    """

    def __init__(self, path: str | os.PathLike, what: str):
        self.path = require_file(path, what)
        try:
            self._zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as err:
            raise format_error(self.path, None, "an .npz file (a zip of .npy arrays)", f"a file that is not one ({err})") from None
        self._headers: dict[str, tuple[tuple[int, ...], np.dtype, bool]] = {}
        self.keys = [name[: -len(".npy")] for name in self._zip.namelist() if name.endswith(".npy")]

    def __enter__(self) -> NpzArrays:
        return self

    def __exit__(self, *exc) -> None:
        self._zip.close()

    def __contains__(self, key: str) -> bool:
        return key in self.keys

    def _open(self, key: str):
        """The member's stream positioned after its header; (stream, shape, dtype, fortran_order)."""
        if key not in self.keys:
            raise format_error(self.path, key, f"an array named {key!r}", f"arrays {sorted(self.keys)}")
        stream = self._zip.open(f"{key}.npy")
        try:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
            else:
                raise ValueError(f"npy format version {version}")
        except ValueError as err:
            stream.close()
            raise format_error(self.path, key, "a .npy array (format 1.0 or 2.0)", str(err)) from None
        if dtype.hasobject:
            stream.close()
            raise format_error(self.path, key, "a numeric array", f"a pickled object array (dtype {dtype})")
        return stream, tuple(int(n) for n in shape), dtype, fortran

    def shape(self, key: str) -> tuple[int, ...]:
        return self._header(key)[0]

    def dtype(self, key: str) -> np.dtype:
        return self._header(key)[1]

    def _header(self, key: str) -> tuple[tuple[int, ...], np.dtype, bool]:
        if key not in self._headers:
            stream, shape, dtype, fortran = self._open(key)
            stream.close()
            self._headers[key] = (shape, dtype, fortran)
        return self._headers[key]

    def read(self, key: str) -> np.ndarray:
        """The whole array."""
        out = None
        for _, _, block in self.blocks(key, None):
            out = block
        return out

    def blocks(self, key: str, rows: int | None) -> Iterator[tuple[int, int, np.ndarray]]:
        """(start, stop, array[start:stop]) along the first axis, ``rows`` at a time (None: all at once)."""
        stream, shape, dtype, fortran = self._open(key)
        with stream:
            n = shape[0] if shape else 1
            if fortran or not shape:  # rare: rows are not contiguous on disk, so read the whole array
                count = int(np.prod(shape))
                data = np.frombuffer(self._read_exactly(stream, key, count * dtype.itemsize), dtype=dtype)
                data = data.reshape(shape, order="F" if fortran else "C")
                yield 0, n, data
                return
            row_items = int(np.prod(shape[1:]))
            step = n if rows is None else max(1, int(rows))
            for start, stop in blocks(n, step) if n else [(0, 0)]:
                raw = self._read_exactly(stream, key, (stop - start) * row_items * dtype.itemsize)
                yield start, stop, np.frombuffer(raw, dtype=dtype).reshape(stop - start, *shape[1:]).copy()

    def _read_exactly(self, stream, key: str, size: int) -> bytes:
        data = stream.read(size)
        if len(data) != size:
            raise format_error(self.path, key, f"{size} more bytes of array data", f"{len(data)} (a truncated file?)")
        return data

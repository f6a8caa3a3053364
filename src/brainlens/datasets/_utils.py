"""Checks shared by the dataset converters.

A missing file is reported by the path where it was expected; a file that holds something else than
the dataset's documented layout is reported with the file, the key, what was expected and what was found.
"""

from __future__ import annotations

import os
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
    """A FreeSurfer colour table as ``{label: name}``: one ``<int> <name>`` pair per line (further
    columns, such as colours, are ignored; blank lines and ``#`` comments are skipped)."""
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
    occurs must be named in ``names`` (read from ``source``)."""
    missing = sorted(set(np.unique(labels).tolist()) - set(names) - {0})
    if missing:
        expected = f"a name for every label in the data (it names {sorted(names)})"
        raise format_error(source, None, expected, f"labels {missing} unnamed")
    out = [""] * (max([0, *names]) + 1)
    for label, name in names.items():
        if label > 0:
            out[label] = str(name)
    return out


def blocks(n: int, size: int) -> Iterator[tuple[int, int]]:
    """(start, stop) pairs covering range(n) in steps of ``size``."""
    size = max(1, int(size))
    for start in range(0, n, size):
        yield start, min(start + size, n)

"""Atomic file writes shared by every stage: a temporary file beside the target, renamed into place,
so a reader never sees a half-written file and an interrupted write leaves the old one whole."""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["write_json", "write_text"]


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically, creating the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | os.PathLike, data: object) -> Path:
    """Write ``data`` as indented JSON atomically; values JSON cannot hold (paths, numpy scalars) become strings."""
    return write_text(path, json.dumps(data, indent=2, default=str) + "\n")

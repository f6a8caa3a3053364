"""Atomic file writes shared by every stage: a temporary file beside the target, renamed into place,
so a reader never sees a half-written file and an interrupted write leaves the old one whole; and the
training checkpoints that resumable runs write that way and read back with ``weights_only=True``."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

__all__ = ["fresh_staging", "load_checkpoint", "replace_folder", "save_checkpoint", "save_safetensors", "write_json", "write_text"]


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


def save_safetensors(path: str | os.PathLike, tensors: Mapping) -> Path:
    """Write a ``{name: tensor}`` mapping as safetensors atomically (tensors made contiguous, on the CPU)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file({name: value.detach().cpu().contiguous() for name, value in tensors.items()}, str(tmp))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def fresh_staging(target: str | os.PathLike) -> Path:
    """An empty-to-be folder beside ``target`` to build a model in; leftovers of an interrupted build are removed."""
    target = Path(target)
    staging = target.with_name(f".{target.name}.staging")
    if staging.exists():
        shutil.rmtree(staging)
    return staging


def replace_folder(staging: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Move a finished ``staging`` folder to ``target``, so a reader never sees a half-written model."""
    staging, target = Path(staging), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.with_name(f".{target.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    if old.exists():
        shutil.rmtree(old)
    return target


def save_checkpoint(path: Path, state: dict) -> None:
    """Write a training state with torch.save, atomically."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, settings: dict) -> dict | None:
    """The last epoch's state, if a run with the same settings left one at `path`."""
    import torch

    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("settings") != settings:
        raise ValueError(
            f"{path} holds a checkpoint of a run with other settings ({state.get('settings')}); "
            f"delete it to start again, or rerun with those settings to continue it."
        )
    return state

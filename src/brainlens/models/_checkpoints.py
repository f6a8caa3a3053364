"""Reading torchvision-layout checkpoint files, shared by the networks of MindEye's table (``alexnet``,
``resnet``, ``inception_v3``, ``efficientnet``): nothing is ever downloaded; a missing file names where it was
looked for and its URL; a file that does not fit names its first wrong keys."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

# ImageNet's per-channel statistics, the normalisation every torchvision classifier was trained with
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def checkpoint_path(path: str | Path | None, file_name: str, url: str, what: str) -> Path:
    """The checkpoint file to read: ``path``, ``path/file_name`` for a folder, or torch.hub's cached ``file_name``.

    Raises FileNotFoundError naming the path looked for and the URL to download the file from; nothing is
    downloaded here.
    """
    if path is None:
        file = Path(torch.hub.get_dir()) / "checkpoints" / file_name
    else:
        file = Path(path).expanduser()
        if file.is_dir():
            file = file / file_name
    if not file.is_file():
        raise FileNotFoundError(
            f"{what} weights not found: {file}. Download {url} on a networked machine and put it there "
            f"(torch.hub's cache is {Path(torch.hub.get_dir()) / 'checkpoints'}), or pass its path."
        )
    return file


def read_state_dict(file: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file: ``.safetensors`` via safetensors, anything else via
    ``torch.load(weights_only=True)`` (no code in the file runs). Raises ValueError naming the file if it cannot
    be read or holds no dict of tensors."""
    file = Path(file)
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(file))
        else:
            state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling and format errors of either library
        raise ValueError(f"cannot read checkpoint {file}: {type(error).__name__}: {error}") from error
    if not isinstance(state, Mapping):
        raise ValueError(f"checkpoint {file} holds a {type(state).__name__}, not a state dict")
    return dict(state)


def load_checked(model: nn.Module, state: Mapping[str, torch.Tensor], file: str | Path, *, may_miss: Iterable[str] = ()) -> None:
    """Load ``state`` into ``model``, requiring every key and shape to match (keys in ``may_miss`` may be absent).

    Raises ValueError naming ``file`` and the first missing, unexpected or mis-shaped keys. BatchNorm's
    ``num_batches_tracked`` may be absent from old checkpoints; torch fills it in, as torchvision's loading does.
    """
    expected = model.state_dict()
    wrong_shape = [
        f"{key} {tuple(value.shape)} (model {tuple(expected[key].shape)})"
        for key, value in state.items()
        if key in expected and isinstance(value, torch.Tensor) and value.shape != expected[key].shape
    ]
    not_tensors = [key for key, value in state.items() if not isinstance(value, torch.Tensor)]
    problems = []
    if not_tensors:
        problems.append(f"non-tensor entries {_first(not_tensors)}")
    if wrong_shape:
        problems.append(f"wrong shapes {_first(wrong_shape)}")
    if not problems:
        result = model.load_state_dict(dict(state), strict=False)
        allowed = set(may_miss)
        missing = [key for key in result.missing_keys if key not in allowed]
        if missing:
            problems.append(f"missing keys {_first(missing)}")
        if result.unexpected_keys:
            problems.append(f"unexpected keys {_first(result.unexpected_keys)}")
    if problems:
        raise ValueError(f"checkpoint {file} does not fit {type(model).__name__}: " + "; ".join(problems))


def _first(keys: list[str], n: int = 5) -> str:
    shown = ", ".join(keys[:n])
    return f"[{shown}{f', … ({len(keys)} in all)' if len(keys) > n else ''}]"

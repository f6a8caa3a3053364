"""Pieces shared by the training loops: of the shipped generative models (embedder, VAE, diffusion), and the
per-epoch checkpoints that the decoders and the masked brain model resume from."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from brainlens._io import load_checkpoint, save_checkpoint
from brainlens.insilico import stimuli


def warmup_cosine(optimiser: torch.optim.Optimizer, total_steps: int, warmup: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning-rate schedule stepped once per batch: linear warm-up over the first `warmup` fraction of
    `total_steps` (at least one step), then cosine decay to zero."""
    warm = max(1, int(warmup * total_steps))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total_steps - warm)))

    return torch.optim.lr_scheduler.LambdaLR(optimiser, factor)


def _frozen(model: torch.nn.Module) -> set[str]:
    return {name for name, parameter in model.named_parameters() if not parameter.requires_grad}


def save_epoch(path: Path, settings: dict, epoch: int, model: torch.nn.Module, optimiser: torch.optim.Optimizer,
               scheduler: torch.optim.lr_scheduler.LRScheduler, history: list[dict]) -> None:
    """Checkpoint the end of ``epoch``: everything :func:`resume_epoch` needs to go on exactly as if never stopped.

    Frozen parameters are left out (training does not change them and the resumed run builds them again): a brain LDM's
    checkpoint holds what it trains, not Stable Diffusion's frozen UNet."""
    frozen = _frozen(model)
    trained = {name: value for name, value in model.state_dict().items() if name not in frozen}
    save_checkpoint(path, {"settings": settings, "epoch": epoch, "model": trained,
                           "optimiser": optimiser.state_dict(), "scheduler": scheduler.state_dict(),
                           "rng": torch.get_rng_state(), "history": json.dumps(history)})


def resume_epoch(path: Path, settings: dict, model: torch.nn.Module, optimiser: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler) -> tuple[list[dict], int]:
    """Load the last checkpoint of a run with the same ``settings`` into the model, optimiser, scheduler and
    torch's random state: → (the history so far, the first epoch still to run); ([], 0) when there is none."""
    state = load_checkpoint(path, settings)
    if state is None:
        return [], 0
    current, saved = model.state_dict(), state["model"]
    # everything trained must be there; frozen tensors may be (checkpoints written before they were left out)
    missing, unknown = set(current) - _frozen(model) - set(saved), set(saved) - set(current)
    differing = sorted(missing | unknown | {name for name in set(saved) & set(current) if saved[name].shape != current[name].shape})
    if differing:
        raise ValueError(f"checkpoint {path} does not match the model being trained (first differing tensor: {differing[0]}); "
                         "delete it to start again.")
    model.load_state_dict(saved, strict=False)
    optimiser.load_state_dict(state["optimiser"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    return json.loads(state["history"]), int(state["epoch"]) + 1


# Stimulus seeds: training images are those of the embedder (30_000 + seed); evaluation draws from a
# seed that no shipped model trains on.
TRAIN_SEED = 30_000
HELDOUT_SEED = 60_000

Progress = Callable[[str, int], None]


def check_positive(**values) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int; {name}={value!r} was provided.")


def as_uint8(images: torch.Tensor) -> np.ndarray:
    """float (B, 3, H, W) in [0, 1] → uint8 (B, H, W, 3)."""
    return images.clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def stage_ticker(progress: Progress | None, stage: str) -> Callable[[int], None] | None:
    return None if progress is None else (lambda k: progress(stage, k))


def training_images(n: int, seed: int, size: int, images: np.ndarray | None, progress: Progress | None) -> np.ndarray:
    """The training stimuli (n, size, size, 3) uint8: those given (drawn with the same seed) or drawn now."""
    if images is None:
        return stimuli.generate(n, seed=TRAIN_SEED + seed, size=size, progress=stage_ticker(progress, "stimuli")).images
    if images.ndim != 4 or images.shape[0] < n or images.shape[1:] != (size, size, 3) or images.dtype != np.uint8:
        raise ValueError(f"'images' must be uint8 (>= {n}, {size}, {size}, 3); got {images.dtype} {images.shape}.")
    return images[:n]


def checkpoint_folder(out_dir: Path) -> Path:
    return out_dir.with_name(f".{out_dir.name}.checkpoint")


def loaded(model_or_name: Any, load: Callable[[str | os.PathLike], Any]) -> Any:
    """A model given as itself, or loaded by ``load`` from its name or folder."""
    return load(model_or_name) if isinstance(model_or_name, (str, os.PathLike)) else model_or_name

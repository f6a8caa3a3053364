"""Pieces shared by the training loops of the shipped generative models (embedder, VAE, diffusion)."""

from __future__ import annotations

import math

import torch


def warmup_cosine(optimiser: torch.optim.Optimizer, total_steps: int, warmup: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning-rate schedule stepped once per batch: linear warm-up over the first `warmup` fraction of
    `total_steps` (at least one step), then cosine decay to zero."""
    warm = max(1, int(warmup * total_steps))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total_steps - warm)))

    return torch.optim.lr_scheduler.LambdaLR(optimiser, factor)

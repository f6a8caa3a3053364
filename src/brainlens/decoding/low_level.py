"""MindEye's low-level pipeline: from the decoder's shared features to the VAE latent of the seen image.

The reconstruction starts its img2img from this latent, decoded: a blurry image with the layout and colours
the brain carries, which the embedding alone does not fix. As MindEye2's "blurry" head it reads the
backbone's hidden features: Linear(hidden → width · (h/4) · (w/4)), then two stages of GroupNorm, SiLU,
2× nearest upsampling and a 3 × 3 convolution, then GroupNorm, SiLU and a 3 × 3 convolution to the latent's
channels. Trained with L1 against the generator's scaled VAE latents. For the shipped VAE the latent is
8 × 16 × 16 (from a 4 × 4 grid); for Stable Diffusion's at 512 px, 4 × 64 × 64 (from 16 × 16, as MindEye).

>>> head = LowLevelHead(hidden=1024, latent_shape=(4, 16, 16))
>>> latents = head(features)          # features (B, 1024) → (B, 4, 16, 16)
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LowLevelHead"]

_UPSAMPLING = 4  # two 2× stages


def _groups(channels: int) -> int:
    return next(g for g in (32, 16, 8, 4, 2, 1) if channels % g == 0)


class LowLevelHead(nn.Module):
    """features (B, hidden) → latents (B, C, h, w)."""

    def __init__(self, hidden: int, latent_shape: tuple[int, int, int], width: int = 64):
        super().__init__()
        channels, height, width_px = latent_shape
        if height % _UPSAMPLING or width_px % _UPSAMPLING:
            raise ValueError(f"the low-level latent's height and width must be multiples of {_UPSAMPLING}; got {tuple(latent_shape)}.")
        self.latent_shape = (int(channels), int(height), int(width_px))
        self.width = width
        self.grid = (height // _UPSAMPLING, width_px // _UPSAMPLING)
        self.linear = nn.Linear(hidden, width * self.grid[0] * self.grid[1])
        stages = []
        for _ in range(2):
            stages += [nn.GroupNorm(_groups(width), width), nn.SiLU(), nn.Upsample(scale_factor=2, mode="nearest"),
                       nn.Conv2d(width, width, 3, padding=1)]
        self.upsample = nn.Sequential(*stages, nn.GroupNorm(_groups(width), width), nn.SiLU(), nn.Conv2d(width, channels, 3, padding=1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        grid = self.linear(features).view(len(features), self.width, *self.grid)  # (B, width, h/4, w/4)
        return self.upsample(grid)

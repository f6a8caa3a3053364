"""The one interface every image feature extractor implements.

A backbone maps images to tokens of several layers. Each layer gives local tokens, a grid of
feature vectors ``(batch, channels, h, w)``, and a global token ``(batch, channels)`` (a CLS token or
a pooled summary). Voxelwise encoders read either: ridge a pooled vector per layer, FactorTopy a
location sampled from the local grid mixed with the global token.

To plug in a model of your own, subclass :class:`Backbone`, set ``name`` and ``layers`` and
implement ``tokens``. Images arrive as float tensors in [0, 1], ``(batch, 3, H, W)``, at any size;
the backbone resizes and normalises them itself, differentiably, so a brain encoder built on it
can pass gradients back to the pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["Backbone", "LayerTokens"]


@dataclass
class LayerTokens:
    """The tokens of one layer for a batch of images."""

    local: torch.Tensor  # (batch, channels, h, w)
    global_: torch.Tensor  # (batch, channels)


class Backbone(nn.Module):
    """Images → per-layer tokens. Subclasses set ``name`` and ``layers`` and implement ``tokens``."""

    name: str = "backbone"
    layers: tuple[str, ...] = ()

    def tokens(self, images: torch.Tensor, layers: tuple[str, ...] | None = None) -> dict[str, LayerTokens]:
        """images (batch, 3, H, W) in [0, 1] → {layer: LayerTokens}, for ``layers`` (default all)."""
        raise NotImplementedError

    def forward(self, images: torch.Tensor, layers: tuple[str, ...] | None = None) -> dict[str, LayerTokens]:
        return self.tokens(images, layers)

    def check_layers(self, layers: tuple[str, ...] | None) -> tuple[str, ...]:
        """The requested layers, in the backbone's order; an unknown name is a ValueError."""
        if layers is None:
            return self.layers
        unknown = [layer for layer in layers if layer not in self.layers]
        if unknown:
            raise ValueError(f"backbone {self.name!r} has no layer {unknown[0]!r}; its layers are {list(self.layers)}")
        return tuple(layer for layer in self.layers if layer in layers)

    def check_images(self, images: torch.Tensor) -> None:
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"images must be a torch.Tensor (batch, 3, H, W) in [0, 1], got {type(images).__name__}")
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must have shape (batch, 3, H, W), got {tuple(images.shape)}")

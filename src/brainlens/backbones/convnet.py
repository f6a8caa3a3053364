"""The shipped tagging convnet (:mod:`brainlens.models.convnet`) behind the backbone interface.

Its four stages are the layers: at 64 px, stage1 gives 32×32 tokens, stage2 16×16, stage3 8×8 and stage4
4×4; each layer's global token is its map's mean.
"""

from __future__ import annotations

from pathlib import Path

import torch

from brainlens.backbones.base import Backbone, LayerTokens
from brainlens.models.convnet import SHIPPED_DIR, ConvNet, load_convnet

__all__ = ["ConvNetBackbone", "load_convnet_backbone"]


class ConvNetBackbone(Backbone):
    """A :class:`~brainlens.models.convnet.ConvNet`'s stage maps as tokens of layers stage1..stageN."""

    def __init__(self, net: ConvNet, name: str | None = None):
        super().__init__()
        self.net = net
        self.name = name or net.name
        self.layers = net.stage_names

    def tokens(self, images: torch.Tensor, layers: tuple[str, ...] | None = None) -> dict[str, LayerTokens]:
        wanted = self.check_layers(layers)
        if not wanted:
            return {}
        maps = self.net.stage_maps(images, 1 + self.layers.index(wanted[-1]))  # checks the images; each (B, C, h, w)
        return {layer: LayerTokens(local=x, global_=x.mean(dim=(2, 3))) for layer, x in zip(self.layers, maps) if layer in wanted}


def load_convnet_backbone(folder: str | Path = SHIPPED_DIR) -> ConvNetBackbone:
    """The backbone on a convnet folder saved by :meth:`ConvNet.save` (the shipped one by default)."""
    return ConvNetBackbone(load_convnet(folder))

"""Image feature extractors behind one interface (per-layer local and global tokens), and their cache.

>>> backbone = load_backbone("insilico-convnet")          # the shipped default
>>> backbone = load_backbone("embedder")                  # the shipped image–text embedder (CLIP's role)
>>> backbone = load_backbone("openai/clip-vit-base-patch16")  # any transformers vision model, by hub id or folder
>>> tokens = backbone.tokens(images)                      # {layer: LayerTokens(local (B, C, h, w), global_ (B, C))}
"""

from __future__ import annotations

import json
from pathlib import Path

from brainlens.backbones.base import Backbone, LayerTokens
from brainlens.backbones.cache import FeatureCache, extract_features
from brainlens.backbones.convnet import ConvNetBackbone, load_convnet_backbone
from brainlens.backbones.embedder import EmbedderBackbone, load_embedder_backbone

__all__ = [
    "Backbone", "LayerTokens", "ConvNetBackbone", "EmbedderBackbone", "FeatureCache", "extract_features", "load_backbone",
    "backbone_for", "SHIPPED_BACKBONES",
]

# shipped backbones by name, each with its loader
SHIPPED_BACKBONES = {"insilico-convnet": load_convnet_backbone, "embedder": load_embedder_backbone}


def load_backbone(name: str, **kwargs) -> Backbone:
    """A backbone by name: a shipped one (``SHIPPED_BACKBONES``), a folder, or a Hugging Face hub id.

    A folder saved by :meth:`~brainlens.models.convnet.ConvNet.save` loads as a convnet, one saved by ``brainlens zoo train
    embedder`` (an image–text dual encoder) as an :class:`EmbedderBackbone`; any other name goes to
    ``transformers`` (vision models: CLIP, SigLIP, DINOv2, ViT). ``kwargs`` go to its ``from_pretrained``.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"backbone must be a non-empty name, folder or hub id; {name!r} was provided.")
    if name in SHIPPED_BACKBONES:
        return SHIPPED_BACKBONES[name]()
    config = Path(name) / "config.json"
    if config.is_file():
        settings = json.loads(config.read_text())
        if "vocabulary" in settings:
            return load_convnet_backbone(name)
        if settings.get("model_type") == "vision-text-dual-encoder":
            return load_embedder_backbone(name)
    from brainlens.backbones.hf import HFVisionBackbone

    return HFVisionBackbone.from_pretrained(name, **kwargs)


def backbone_for(backbone: Backbone | str) -> Backbone:
    """Accept a backbone or its name."""
    return backbone if isinstance(backbone, Backbone) else load_backbone(backbone)


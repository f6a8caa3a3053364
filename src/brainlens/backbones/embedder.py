"""An image–text embedder's image tower as a backbone: CLIP's role in BrainDiVE's encoders.

BrainDiVE fits its brain encoders on CLIP image features. For the in-silico subject the shipped
embedder (:mod:`brainlens.models.embedder`, a small CLIP trained on in-silico images and their
captions) plays CLIP, and this backbone reads it: each stage of its image tower is a layer of local
tokens, and the image embedding itself is one more layer, ``"embedding"``. So

    brainlens encode fit --store sub1.h5 --backbone embedder --out enc

fits an encoder on the embedder, which unlike the default ``insilico-convnet`` was trained
contrastively against whole captions. Hub CLIPs load as backbones on their own
(``openai/clip-vit-base-patch16``, through :class:`~brainlens.backbones.hf.HFVisionBackbone`).
"""

from __future__ import annotations

import torch

from brainlens.backbones.base import Backbone, LayerTokens

__all__ = ["EmbedderBackbone", "load_embedder_backbone"]


class EmbedderBackbone(Backbone):
    """An :class:`~brainlens.models.embedder.Embedder`'s image tower behind the backbone interface.

    Layers: ``stage1`` … ``stageN`` for a ResNet tower (its stage maps, ``(B, C, h, w)``) or
    ``block1`` … ``blockN`` for a ViT tower (its patch tokens on their grid, the class token as the
    global token), then ``embedding``: the image embedding before normalisation, ``(B, dim)``, as a
    1 × 1 grid.
    """

    def __init__(self, embedder, name: str = "embedder"):
        super().__init__()
        self.embedder = embedder.eval().requires_grad_(False)
        self.name = name
        vision = embedder.model.config.vision_config
        self._vit = vision.model_type != "resnet"
        # a ResNet tower's hidden states are its stem's and one per stage; a ViT's, its embeddings' and one per block
        depth = len(vision.hidden_sizes) if not self._vit else int(vision.num_hidden_layers)
        prefix = "block" if self._vit else "stage"
        self.layers = tuple(f"{prefix}{i + 1}" for i in range(depth)) + ("embedding",)

    def tokens(self, images: torch.Tensor, layers: tuple[str, ...] | None = None) -> dict[str, LayerTokens]:
        self.check_images(images)
        wanted = self.check_layers(layers)
        tower = [layer for layer in wanted if layer != "embedding"]
        if tower:
            hidden, embedding = self.embedder.image_features(images)  # one pass: the stem's state, then one per layer
            out = {layer: self._layer_tokens(hidden[self.layers.index(layer) + 1].float()) for layer in tower}
        else:
            embedding, out = self.embedder.embed_images(images, normalize=False), {}
        if "embedding" in wanted:
            out["embedding"] = LayerTokens(local=embedding[:, :, None, None], global_=embedding)  # embedding (B, dim)
        return {layer: out[layer] for layer in wanted}

    def _layer_tokens(self, states: torch.Tensor) -> LayerTokens:
        if not self._vit:
            return LayerTokens(local=states, global_=states.mean((2, 3)))  # states (B, C, h, w)
        patches = states[:, 1:]  # (B, grid², C) after the class token
        grid = int(round(patches.shape[1] ** 0.5))
        local = patches.transpose(1, 2).reshape(states.shape[0], states.shape[2], grid, grid)
        return LayerTokens(local=local, global_=states[:, 0])


def load_embedder_backbone(name_or_path: str = "embedder") -> EmbedderBackbone:
    """The backbone on an embedder by zoo name or folder (default the shipped ``"embedder"``), in float32."""
    from brainlens.models.embedder import load_embedder

    return EmbedderBackbone(load_embedder(name_or_path, dtype=torch.float32), name=str(name_or_path))

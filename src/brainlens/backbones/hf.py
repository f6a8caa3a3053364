"""Vision transformers from Hugging Face ``transformers`` as backbones: CLIP, SigLIP, DINOv2, ViT.

Each transformer block is a layer (``block1`` … ``blockN``). Its local tokens are the patch tokens
laid back on their grid, ``(batch, hidden, grid, grid)``; its global token is the first (CLS) token,
or the mean of the patch tokens for models without one (SigLIP).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from brainlens.backbones.base import Backbone, LayerTokens

__all__ = ["HFVisionBackbone"]

# the vision tower class for model types whose default model is an image-text pair
_VISION_TOWERS = {"clip": "CLIPVisionModel", "siglip": "SiglipVisionModel", "siglip2": "Siglip2VisionModel"}
_CLIP_MEAN, _CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_DEFAULT_NORMALISATION = {"clip": (_CLIP_MEAN, _CLIP_STD), "siglip": ((0.5,) * 3, (0.5,) * 3), "siglip2": ((0.5,) * 3, (0.5,) * 3)}


class HFVisionBackbone(Backbone):
    """A ``transformers`` vision model behind the backbone interface.

    Build with :meth:`from_pretrained` from a hub id (``openai/clip-vit-base-patch16``,
    ``facebook/dinov2-base``, ``google/vit-base-patch16-224``) or a local folder.
    """

    def __init__(self, model: torch.nn.Module, name: str, image_size: int, mean: tuple, std: tuple):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.name = name
        config = model.config
        self.patch_size = int(config.patch_size)
        self.image_size = int(image_size)
        self.layers = tuple(f"block{i + 1}" for i in range(int(config.num_hidden_layers)))
        self.has_cls = config.model_type not in ("siglip", "siglip2")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    @classmethod
    def from_pretrained(cls, name_or_path: str, **kwargs) -> HFVisionBackbone:
        """Load a vision model by hub id or folder; ``kwargs`` go to ``from_pretrained`` (e.g. ``torch_dtype``)."""
        from brainlens.models.zoo import load_model

        model = load_model(name_or_path, kind="vision", **kwargs)
        config = model.config
        mean, std = _DEFAULT_NORMALISATION.get(config.model_type, (_IMAGENET_MEAN, _IMAGENET_STD))
        image_size = int(config.image_size)
        if config.model_type == "dinov2":
            image_size = 224  # DINOv2 configs give the pretraining size (518); its processor crops to 224
        return cls(model, name=str(name_or_path), image_size=image_size, mean=mean, std=std)

    def tokens(self, images: torch.Tensor, layers: tuple[str, ...] | None = None) -> dict[str, LayerTokens]:
        self.check_images(images)
        wanted = self.check_layers(layers)
        size = self.image_size
        if images.shape[-2:] != (size, size):
            images = F.interpolate(images, size=(size, size), mode="bicubic", antialias=True, align_corners=False)
        pixels = ((images - self.mean) / self.std).to(self.model.dtype)
        hidden = self.model(pixel_values=pixels, output_hidden_states=True).hidden_states  # n_layers + 1 × (B, T, C)
        grid = size // self.patch_size
        out: dict[str, LayerTokens] = {}
        for layer in wanted:
            states = hidden[self.layers.index(layer) + 1]  # (B, n_prefix + grid², C)
            patches = states[:, states.shape[1] - grid * grid :]  # register tokens, if any, sit before the patches
            local = patches.transpose(1, 2).reshape(states.shape[0], states.shape[2], grid, grid)
            global_ = states[:, 0] if self.has_cls else patches.mean(1)
            out[layer] = LayerTokens(local=local.float(), global_=global_.float())
        return out

"""ViT-H/14 in plain torch, with torchvision's state-dict layout: the ImageNet classifier of MinD-Vis's 50-way top-1.

MinD-Vis (and CAD after it) labels each seen image with the argmax of torchvision's ``vit_h_14`` under
``ViT_H_14_Weights.DEFAULT`` (``IMAGENET1K_SWAG_E2E_V1``: SWAG weights fine-tuned end to end on ImageNet-1k at
518 px, 88.6 % top-1) and scores each generated image by that classifier's softmax. This file builds the same
network (module names, parameter names and shapes identical; 633,470,440 parameters), so the checkpoint
``vit_h_14_swag-80465313.pth`` loads strictly without torchvision; :func:`load_vit_h_14` reads it from torch.hub's
cache, ``torch.hub.get_dir()/checkpoints``. Files saved before torchvision 0.14 name the MLP layers
``mlp.linear_1`` and ``mlp.linear_2``; they load too.

Preprocessing is the weights' own (:func:`vit_pixels`): resize the shorter side to 518 (bicubic, antialiased),
centre-crop 518 × 518, ImageNet normalisation. At that size one image costs about 1 TFLOP (torchvision's count,
1,017 GFLOPs): beyond a few images, a job for a GPU.

>>> net = load_vit_h_14()                                  # from torch.hub's cache
>>> probabilities = net.probabilities(images)             # images (N, 3, H, W) in [0, 1] → (N, 1000)
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from brainlens.models._checkpoints import IMAGENET_MEAN, IMAGENET_STD, checkpoint_path, load_checked, read_state_dict

__all__ = ["VIT_H_14_FILE", "VIT_H_14_URL", "VIT_H_14_SIZE", "VisionTransformer", "load_vit_h_14", "vit_pixels"]

# torchvision's ViT_H_14_Weights.IMAGENET1K_SWAG_E2E_V1 (the DEFAULT); torch.hub caches it under this file name
VIT_H_14_URL = "https://download.pytorch.org/models/vit_h_14_swag-80465313.pth"
VIT_H_14_FILE = "vit_h_14_swag-80465313.pth"
VIT_H_14_SIZE = 518  # the weights' resize and crop size, and the image size their position embeddings are for


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: x + attention(ln_1(x)), then + mlp(ln_2(x)); tokens (N, S, D) → (N, S, D)."""

    def __init__(self, hidden_dim: int, num_heads: int, mlp_dim: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(hidden_dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(hidden_dim, num_heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(hidden_dim, eps=1e-6)
        # indices 0 and 3 hold the weights, as torchvision's MLPBlock (Linear, GELU, Dropout, Linear, Dropout)
        self.mlp = nn.Sequential(nn.Linear(hidden_dim, mlp_dim), nn.GELU(), nn.Dropout(0.0), nn.Linear(mlp_dim, hidden_dim),
                                 nn.Dropout(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln_1(x)
        x = x + self.self_attention(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    """Position embedding (1, S, D) added, the blocks ``encoder_layer_0`` …, a final LayerNorm ``ln``."""

    def __init__(self, seq_length: int, num_layers: int, num_heads: int, hidden_dim: int, mlp_dim: int):
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, seq_length, hidden_dim).normal_(std=0.02))
        self.layers = nn.Sequential(OrderedDict(
            (f"encoder_layer_{i}", EncoderBlock(hidden_dim, num_heads, mlp_dim)) for i in range(num_layers)))
        self.ln = nn.LayerNorm(hidden_dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(self.layers(x + self.pos_embedding))


class VisionTransformer(nn.Module):
    """images (N, 3, S, S), ImageNet-normalised, S = ``image_size`` → logits (N, num_classes); torchvision's layout:
    ``conv_proj`` (patches), ``class_token``, ``encoder`` (:class:`Encoder`), ``heads.head``. The defaults are ViT-H/14
    at 518 px."""

    def __init__(self, image_size: int = VIT_H_14_SIZE, patch_size: int = 14, num_layers: int = 32, num_heads: int = 16,
                 hidden_dim: int = 1280, mlp_dim: int = 5120, num_classes: int = 1000):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch_size}.")
        self.image_size, self.patch_size = image_size, patch_size
        self.conv_proj = nn.Conv2d(3, hidden_dim, kernel_size=patch_size, stride=patch_size)
        self.class_token = nn.Parameter(torch.zeros(1, 1, hidden_dim))
        self.encoder = Encoder((image_size // patch_size) ** 2 + 1, num_layers, num_heads, hidden_dim, mlp_dim)
        self.heads = nn.Sequential(OrderedDict(head=nn.Linear(hidden_dim, num_classes)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            raise ValueError(f"images must have shape (N, 3, {self.image_size}, {self.image_size}); got {tuple(x.shape)}.")
        tokens = self.conv_proj(x).flatten(2).transpose(1, 2)  # (N, patches, D)
        tokens = torch.cat([self.class_token.expand(len(x), -1, -1), tokens], dim=1)
        return self.heads(self.encoder(tokens)[:, 0])

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """images (N, 3, H, W) in [0, 1], any size → class probabilities (N, num_classes) float32, with the weights'
        preprocessing (:func:`vit_pixels`)."""
        return self(vit_pixels(images, self.image_size)).float().softmax(-1)


def vit_pixels(images: torch.Tensor, size: int = VIT_H_14_SIZE) -> torch.Tensor:
    """images (N, 3, H, W) in [0, 1] → the classifier's input (N, 3, size, size): the shorter side resized to
    ``size`` (bicubic, antialiased), the centre cropped, ImageNet-normalised — the weights' transforms."""
    height, width = images.shape[-2:]
    scale = size / min(height, width)
    resized = (max(size, round(height * scale)), max(size, round(width * scale)))
    if resized != (height, width):
        images = F.interpolate(images, size=resized, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
    top, left = round((resized[0] - size) / 2), round((resized[1] - size) / 2)
    images = images[..., top : top + size, left : left + size]
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    return (images - mean) / std


def _renamed(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys of files saved before torchvision 0.14 (``mlp.linear_1`` / ``mlp.linear_2``) → ``mlp.0`` / ``mlp.3``."""
    return {key.replace(".mlp.linear_1.", ".mlp.0.").replace(".mlp.linear_2.", ".mlp.3."): value for key, value in state.items()}


def load_vit_h_14(path: str | Path | None = None) -> VisionTransformer:
    """torchvision's ImageNet ViT-H/14 (SWAG, end-to-end fine-tuned, 518 px) from ``path`` (default:
    ``torch.hub.get_dir()/checkpoints/vit_h_14_swag-80465313.pth``): the file (``.pth`` or ``.safetensors``) or a
    folder holding it. The state dict must fit exactly. Returns the network frozen, in eval mode."""
    file = checkpoint_path(path, VIT_H_14_FILE, VIT_H_14_URL, "ViT-H/14")
    state = _renamed(read_state_dict(file))
    with torch.device("meta"):  # built without drawing 633 M random numbers; the file's tensors replace them
        net = VisionTransformer()
    net.to_empty(device="cpu")
    load_checked(net, state, file)
    return net.eval().requires_grad_(False)

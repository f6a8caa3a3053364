"""ResNet-50 in plain torch, with torchvision's state-dict layout: the backbone of MindEye's SwAV row.

MindEye's table compares the 2048-d average-pooled features of a ResNet-50 trained with SwAV
(``torch.hub.load("facebookresearch/swav:main", "resnet50")``, which builds torchvision's ResNet-50 and loads
``swav_800ep_pretrain.pth.tar`` into it) by correlation distance. This file builds the same network as
``torchvision.models.resnet50`` (Bottleneck blocks, stride on the 3×3 conv; names ``conv1``/``bn1``/
``layer1..4``/``fc``, ``downsample.0``/``.1``), so a torchvision ResNet-50 checkpoint loads strictly, and
:func:`load_swav_resnet50` reads SwAV's file from torch.hub's cache, ``torch.hub.get_dir()/checkpoints``.

SwAV's file is a flat dict whose keys carry DataParallel's ``module.`` prefix and which also holds the
pre-training projection head and prototypes, but no classifier: SwAV's hubconf strips the prefix and loads it
non-strictly. :func:`load_swav_resnet50` does the same but checks it: every backbone key must be there.

>>> net = load_swav_resnet50()
>>> net.pooled(images).shape          # images: SWAV_PREPROCESS applied → (N, 2048)
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from brainlens.models._checkpoints import IMAGENET_MEAN, IMAGENET_STD, checkpoint_path, load_checked, read_state_dict

__all__ = ["SWAV_FILE", "SWAV_URL", "SWAV_PREPROCESS", "Bottleneck", "ResNet50", "load_swav_resnet50"]

# the file SwAV's hubconf (facebookresearch/swav:main, resnet50) downloads; torch.hub caches it under this name
SWAV_URL = "https://dl.fbaipublicfiles.com/deepcluster/swav_800ep_pretrain.pth.tar"
SWAV_FILE = "swav_800ep_pretrain.pth.tar"

# MindEye Reconstruction_Metrics "SwAV" row: Resize(224, bilinear) + ImageNet Normalize, no crop
SWAV_PREPROCESS = {"resize": 224, "interpolation": "bilinear", "mean": IMAGENET_MEAN, "std": IMAGENET_STD}

# pre-training heads in SwAV's file that the backbone does not use
_SWAV_HEADS = ("projection_head.", "prototypes.")


class Bottleneck(nn.Module):
    """x (N, in_channels, H, W) → (N, 4·width, H/stride, W/stride): 1×1 → 3×3 (stride) → 1×1 with a residual."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1):
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet50(nn.Module):
    """images (N, 3, H, W), ImageNet-normalised → logits (N, num_classes); torchvision's ResNet-50 layout.

    Stem ``conv1`` (7×7, stride 2) / ``bn1`` / max-pool, then ``layer1..layer4`` of 3, 4, 6 and 3 Bottleneck
    blocks (widths 64, 128, 256, 512; 256..2048 channels out), ``avgpool`` and ``fc``. The resolution falls by 32.
    """

    def __init__(self, num_classes: int = 1000, blocks: tuple[int, int, int, int] = (3, 4, 6, 3)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        channels = 64
        for i, (n_blocks, width) in enumerate(zip(blocks, (64, 128, 256, 512))):
            stride = 1 if i == 0 else 2
            layer = [Bottleneck(channels, width, stride)]
            channels = width * Bottleneck.expansion
            layer += [Bottleneck(channels, width) for _ in range(n_blocks - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*layer))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(channels, num_classes)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """images (N, 3, H, W), ImageNet-normalised → (N, 2048): the ``avgpool`` output, flattened (MindEye's node)."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"images must have shape (N, 3, H, W), got {tuple(x.shape)}")
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pooled(x))


def load_swav_resnet50(path: str | Path | None = None) -> ResNet50:
    """SwAV's ResNet-50 from ``path`` (default: ``torch.hub.get_dir()/checkpoints/swav_800ep_pretrain.pth.tar``).

    ``path`` may be the file (``.pth.tar``/``.pth`` or ``.safetensors``) or a folder holding
    ``swav_800ep_pretrain.pth.tar``. The file may be SwAV's flat dict or a training checkpoint with a
    ``"state_dict"`` entry; a leading ``module.`` is stripped and the ``projection_head.*``/``prototypes.*``
    pre-training heads are ignored. Every backbone key must be present with torchvision's shape (ValueError
    otherwise). SwAV trained no classifier: unless the file holds ``fc``, ``fc`` is zero, as SwAV's hub model
    leaves it untrained; use :meth:`ResNet50.pooled`. Returns the network frozen, in eval mode.
    """
    file = checkpoint_path(path, SWAV_FILE, SWAV_URL, "SwAV ResNet-50")
    state = read_state_dict(file)
    if isinstance(state.get("state_dict"), dict):  # a checkpoint saved during SwAV training
        state = state["state_dict"]
    backbone = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        if not key.startswith(_SWAV_HEADS):
            backbone[key] = value
    net = ResNet50()
    with torch.no_grad():
        net.fc.weight.zero_()
        net.fc.bias.zero_()
    load_checked(net, backbone, file, may_miss=("fc.weight", "fc.bias"))
    return net.eval().requires_grad_(False)

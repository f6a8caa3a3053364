"""Inception v3 in plain torch, with torchvision's state-dict layout: MindEye's InceptionV3 row.

MindEye's table scores two-way identification on Inception v3's 2048-d average-pooled features
(``create_feature_extractor(inception_v3(weights=Inception_V3_Weights.DEFAULT), ["avgpool"])``). This file
builds the same network as ``torchvision.models.inception_v3`` (``Conv2d_1a_3x3`` … ``Mixed_7c``, the
``AuxLogits`` head, BasicConv2d = conv without bias + BatchNorm with eps 0.001 + ReLU), so torchvision's
checkpoint ``inception_v3_google-0cc3c7bd.pth`` (weights ported from TensorFlow) loads strictly;
:func:`load_inception_v3` reads it from torch.hub's cache, ``torch.hub.get_dir()/checkpoints``.

The Google weights expect inputs normalised to [-1, 1] (mean 0.5, std 0.5). torchvision sets
``transform_input=True`` whenever it loads them, which re-maps an ImageNet-normalised input
(x − mean) / std to (x − 0.5) / 0.5 inside the network; :func:`load_inception_v3` does the same by default,
so callers normalise with ImageNet's mean and std as MindEye does.

>>> net = load_inception_v3()
>>> net.pooled(images).shape          # images: INCEPTION_PREPROCESS applied → (N, 2048)
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from brainlens.models._checkpoints import IMAGENET_MEAN, IMAGENET_STD, checkpoint_path, load_checked, read_state_dict

__all__ = [
    "INCEPTION_FILE",
    "INCEPTION_URL",
    "INCEPTION_PREPROCESS",
    "BasicConv2d",
    "InceptionV3",
    "load_inception_v3",
    "imagenet_to_inception",
]

# torchvision's Inception_V3_Weights.IMAGENET1K_V1 (the DEFAULT); torch.hub caches it under this file name
INCEPTION_URL = "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth"
INCEPTION_FILE = "inception_v3_google-0cc3c7bd.pth"

# MindEye Reconstruction_Metrics "InceptionV3" row: Resize(342, bilinear) + ImageNet Normalize, no crop
INCEPTION_PREPROCESS = {"resize": 342, "interpolation": "bilinear", "mean": IMAGENET_MEAN, "std": IMAGENET_STD}


def imagenet_to_inception(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) normalised with ImageNet's mean/std → the same pixels normalised with mean 0.5, std 0.5.

    Per channel c: x·(std_c / 0.5) + (mean_c − 0.5) / 0.5, i.e. ((x·std_c + mean_c) − 0.5) / 0.5 — torchvision's
    ``Inception3._transform_input``.
    """
    # the factors in double precision first, as torchvision's Python-float arithmetic has them
    scale = torch.tensor([s / 0.5 for s in IMAGENET_STD], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    shift = torch.tensor([(m - 0.5) / 0.5 for m in IMAGENET_MEAN], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return x * scale + shift


class BasicConv2d(nn.Module):
    """conv (no bias) → BatchNorm (eps 0.001) → ReLU; ``conv``/``bn`` as in torchvision."""

    def __init__(self, in_channels: int, out_channels: int, **conv_args):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **conv_args)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


def _avg3(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)


class InceptionA(nn.Module):
    """35×35 block: 1×1, 5×5, double 3×3 and pooled branches → 224 + pool_features channels."""

    def __init__(self, in_channels: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch5x5_2(self.branch5x5_1(x))
        c = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        d = self.branch_pool(_avg3(x))
        return torch.cat([a, b, c, d], 1)


class InceptionB(nn.Module):
    """Grid reduction 35 → 17: strided 3×3, strided double 3×3 and max-pool branches → 480 + in_channels."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3(x)
        b = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        c = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([a, b, c], 1)


class InceptionC(nn.Module):
    """17×17 block with factorised 7×7 convolutions (channels_7x7 wide) → 768 channels."""

    def __init__(self, in_channels: int, channels_7x7: int):
        super().__init__()
        c7 = channels_7x7
        row, col = {"kernel_size": (1, 7), "padding": (0, 3)}, {"kernel_size": (7, 1), "padding": (3, 0)}
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, **row)
        self.branch7x7_3 = BasicConv2d(c7, 192, **col)
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, **col)
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, **row)
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, **col)
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, **row)
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        c = self.branch7x7dbl_1(x)
        for conv in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            c = conv(c)
        d = self.branch_pool(_avg3(x))
        return torch.cat([a, b, c, d], 1)


class InceptionD(nn.Module):
    """Grid reduction 17 → 8: strided 3×3, 7×7-then-strided-3×3 and max-pool branches → 512 + in_channels."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3_2(self.branch3x3_1(x))
        b = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        c = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([a, b, c], 1)


class InceptionE(nn.Module):
    """8×8 block with split 1×3 / 3×1 branches → 2048 channels."""

    def __init__(self, in_channels: int):
        super().__init__()
        row, col = {"kernel_size": (1, 3), "padding": (0, 1)}, {"kernel_size": (3, 1), "padding": (1, 0)}
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, **row)
        self.branch3x3_2b = BasicConv2d(384, 384, **col)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, **row)
        self.branch3x3dbl_3b = BasicConv2d(384, 384, **col)
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch3x3_1(x)
        b = torch.cat([self.branch3x3_2a(b), self.branch3x3_2b(b)], 1)
        c = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        c = torch.cat([self.branch3x3dbl_3a(c), self.branch3x3dbl_3b(c)], 1)
        d = self.branch_pool(_avg3(x))
        return torch.cat([a, b, c, d], 1)


class InceptionAux(nn.Module):
    """The auxiliary classifier on Mixed_6e's 17×17 map (used in training only): (N, 768, 17, 17) → (N, num_classes)."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.conv0 = BasicConv2d(in_channels, 128, kernel_size=1)
        self.conv1 = BasicConv2d(128, 768, kernel_size=5)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.conv0(F.avg_pool2d(x, kernel_size=5, stride=3)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1))


class InceptionV3(nn.Module):
    """images (N, 3, H ≥ 75, W ≥ 75) → logits (N, num_classes); torchvision's ``Inception3`` layout.

    ``transform_input``: the input is ImageNet-normalised and is re-mapped to the (0.5, 0.5) normalisation the
    Google weights expect (see :func:`imagenet_to_inception`); off by default here as in torchvision's class,
    on in :func:`load_inception_v3` as in torchvision's loader. ``aux_logits`` keeps the ``AuxLogits`` head that
    torchvision's checkpoint holds; it runs only in training mode, where ``forward`` returns (logits, aux).
    At 299 px the final map is 8×8; 75 px is the smallest input (1×1).
    """

    def __init__(self, num_classes: int = 1000, aux_logits: bool = True, transform_input: bool = False, dropout: float = 0.5):
        super().__init__()
        self.transform_input = transform_input
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.AuxLogits = InceptionAux(768, num_classes) if aux_logits else None
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280)
        self.Mixed_7c = InceptionE(2048)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(2048, num_classes)

    def _trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """images → (pooled (N, 2048), aux logits in training with AuxLogits, else None)."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"images must have shape (N, 3, H, W), got {tuple(x.shape)}")
        if x.shape[-1] < 75 or x.shape[-2] < 75:
            raise ValueError(f"Inception v3 needs images of at least 75×75 pixels, got {tuple(x.shape[-2:])}")
        if self.transform_input:
            x = imagenet_to_inception(x)
        for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3", "maxpool2"):
            x = getattr(self, name)(x)
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
            x = getattr(self, name)(x)
        aux = self.AuxLogits(x) if self.training and self.AuxLogits is not None else None
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        return torch.flatten(self.avgpool(x), 1), aux

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """images (N, 3, H, W) → (N, 2048): the ``avgpool`` output, flattened (MindEye's node). Use in eval mode."""
        return self._trunk(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        pooled, aux = self._trunk(x)
        logits = self.fc(self.dropout(pooled))
        return logits if aux is None else (logits, aux)


def load_inception_v3(path: str | Path | None = None, *, transform_input: bool = True) -> InceptionV3:
    """torchvision's ImageNet Inception v3 from ``path`` (default:
    ``torch.hub.get_dir()/checkpoints/inception_v3_google-0cc3c7bd.pth``).

    ``path`` may be the file (``.pth`` or ``.safetensors``) or a folder holding it. The state dict must fit
    exactly, ``AuxLogits`` included. ``transform_input`` (default True, as torchvision sets it for these weights):
    feed ImageNet-normalised images. Returns the network frozen, in eval mode.
    """
    file = checkpoint_path(path, INCEPTION_FILE, INCEPTION_URL, "Inception v3")
    net = InceptionV3(transform_input=transform_input)
    load_checked(net, read_state_dict(file), file)
    return net.eval().requires_grad_(False)

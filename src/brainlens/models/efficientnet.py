"""EfficientNet-B1 in plain torch, with torchvision's state-dict layout: MindEye's EffNet-B row.

MindEye's table compares EfficientNet-B1's 1280-d average-pooled features
(``create_feature_extractor(efficientnet_b1(weights=EfficientNet_B1_Weights.DEFAULT), ["avgpool"])``) by
correlation distance. This file builds the same network as ``torchvision.models.efficientnet_b1`` (width 1.0,
depth 1.1: ``features.0`` stem, ``features.1..7`` stages of MBConv blocks with ``block.N`` sub-layers and a
SqueezeExcitation ``fc1``/``fc2``, ``features.8`` head conv, ``avgpool``, ``classifier.1``; BatchNorm with
torch's defaults, eps 1e-5 and momentum 0.1), so torchvision's DEFAULT checkpoint ``efficientnet_b1-c27df63c.pth``
(``EfficientNet_B1_Weights.IMAGENET1K_V2``) loads strictly; :func:`load_efficientnet_b1` reads it from torch.hub's
cache, ``torch.hub.get_dir()/checkpoints``. The older IMAGENET1K_V1 file (``efficientnet_b1_rwightman-533bc792.pth``)
has the same layout and loads by path.

>>> net = load_efficientnet_b1()
>>> net.pooled(images).shape          # images: EFFICIENTNET_PREPROCESS applied → (N, 1280)
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from brainlens.models._checkpoints import IMAGENET_MEAN, IMAGENET_STD, checkpoint_path, load_checked, read_state_dict

__all__ = [
    "EFFICIENTNET_B1_FILE",
    "EFFICIENTNET_B1_URL",
    "EFFICIENTNET_PREPROCESS",
    "ConvNormActivation",
    "SqueezeExcitation",
    "StochasticDepth",
    "MBConv",
    "EfficientNetB1",
    "load_efficientnet_b1",
]

# torchvision's EfficientNet_B1_Weights.IMAGENET1K_V2 (the DEFAULT that MindEye loads); torch.hub caches it under this name
EFFICIENTNET_B1_URL = "https://download.pytorch.org/models/efficientnet_b1-c27df63c.pth"
EFFICIENTNET_B1_FILE = "efficientnet_b1-c27df63c.pth"

# MindEye Reconstruction_Metrics "EffNet-B" row: Resize(255, bilinear) + ImageNet Normalize, no crop
EFFICIENTNET_PREPROCESS = {"resize": 255, "interpolation": "bilinear", "mean": IMAGENET_MEAN, "std": IMAGENET_STD}

# EfficientNet-B0's stages (expand ratio, kernel, stride, channels in, channels out, blocks), from the paper's Table 1
_B0_STAGES = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
              (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1))  # fmt: skip


def _divisible(value: float, divisor: int = 8) -> int:
    """``value`` rounded to a multiple of ``divisor`` (at least ``divisor``), never more than 10 % below it."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class ConvNormActivation(nn.Sequential):
    """torchvision's ``Conv2dNormActivation``: ``0`` conv (no bias, 'same' padding), ``1`` BatchNorm, ``2`` activation (optional)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, groups: int = 1, activation: bool = True
    ):
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        if activation:
            layers.append(nn.SiLU(inplace=True))
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    """x (N, C, H, W) → x · sigmoid(fc2(SiLU(fc1(mean over H, W)))); ``fc1``/``fc2`` are 1×1 convs with bias."""

    def __init__(self, channels: int, squeeze_channels: int):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.activation = nn.SiLU(inplace=True)
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return self.scale_activation(scale) * x


class StochasticDepth(nn.Module):
    """In training, zeroes each sample's residual branch with probability ``p`` and rescales the rest by 1/(1−p);
    the identity in eval mode. No parameters (torchvision's ``StochasticDepth(p, "row")``)."""

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"drop probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        noise = torch.empty((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * (noise / keep if keep > 0 else noise)


class MBConv(nn.Module):
    """Inverted residual: [1×1 expand] → k×k depthwise (stride) → squeeze-excitation → 1×1 project, as ``block.N``.

    Without expansion (ratio 1) ``block`` is 0 depthwise, 1 SE, 2 project; with it 0 expand, 1 depthwise, 2 SE,
    3 project. The residual (through stochastic depth) is added when the stride is 1 and channels are kept.
    """

    def __init__(self, expand_ratio: float, kernel: int, stride: int, in_channels: int, out_channels: int, drop_p: float):
        super().__init__()
        self.use_res_connect = stride == 1 and in_channels == out_channels
        expanded = _divisible(in_channels * expand_ratio)
        layers: list[nn.Module] = []
        if expanded != in_channels:
            layers.append(ConvNormActivation(in_channels, expanded, kernel_size=1))
        layers += [
            ConvNormActivation(expanded, expanded, kernel_size=kernel, stride=stride, groups=expanded),
            SqueezeExcitation(expanded, max(1, in_channels // 4)),
            ConvNormActivation(expanded, out_channels, kernel_size=1, activation=False),
        ]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(drop_p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return self.stochastic_depth(out) + x if self.use_res_connect else out


class EfficientNetB1(nn.Module):
    """images (N, 3, H, W), ImageNet-normalised → logits (N, num_classes); torchvision's ``efficientnet_b1`` layout.

    Stages of 2, 3, 3, 4, 4, 5 and 2 MBConv blocks (the B0 counts × 1.1, rounded up); the stochastic-depth
    probability grows linearly from 0 to 0.2 over the 23 blocks. The resolution falls by 32.
    """

    def __init__(
        self, num_classes: int = 1000, width: float = 1.0, depth: float = 1.1, dropout: float = 0.2, stochastic_depth: float = 0.2
    ):
        super().__init__()
        stages = [
            (ratio, kernel, stride, _divisible(c_in * width), _divisible(c_out * width), int(math.ceil(n * depth)))
            for ratio, kernel, stride, c_in, c_out, n in _B0_STAGES
        ]
        total = sum(stage[-1] for stage in stages)
        layers: list[nn.Module] = [ConvNormActivation(3, stages[0][3], kernel_size=3, stride=2)]
        index = 0
        for ratio, kernel, stride, c_in, c_out, n in stages:
            blocks = []
            for i in range(n):
                first = i == 0
                blocks.append(
                    MBConv(ratio, kernel, stride if first else 1, c_in if first else c_out, c_out, stochastic_depth * index / total)
                )
                index += 1
            layers.append(nn.Sequential(*blocks))
        last = stages[-1][4]
        layers.append(ConvNormActivation(last, 4 * last, kernel_size=1))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout, inplace=True), nn.Linear(4 * last, num_classes))

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """images (N, 3, H, W), ImageNet-normalised → (N, 1280): the ``avgpool`` output, flattened (MindEye's node)."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"images must have shape (N, 3, H, W), got {tuple(x.shape)}")
        return torch.flatten(self.avgpool(self.features(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pooled(x))


def load_efficientnet_b1(path: str | Path | None = None) -> EfficientNetB1:
    """torchvision's ImageNet EfficientNet-B1 from ``path`` (default:
    ``torch.hub.get_dir()/checkpoints/efficientnet_b1-c27df63c.pth``).

    ``path`` may be the file (``.pth`` or ``.safetensors``) or a folder holding it. The state dict must fit
    exactly. Returns the network frozen, in eval mode.
    """
    file = checkpoint_path(path, EFFICIENTNET_B1_FILE, EFFICIENTNET_B1_URL, "EfficientNet-B1")
    net = EfficientNetB1()
    load_checked(net, read_state_dict(file), file)
    return net.eval().requires_grad_(False)

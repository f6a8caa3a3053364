"""AlexNet in plain torch, with torchvision's state-dict layout: MindEye's AlexNet(2) and AlexNet(5) rows.

MindEye's reconstruction table scores two-way identification on AlexNet's early (``features.4``, the ReLU
after conv2) and mid (``features.11``, the ReLU after conv5) activations. This file builds the same network
as ``torchvision.models.alexnet`` (module names, parameter names and shapes identical), so torchvision's
ImageNet checkpoint ``alexnet-owt-7be5be79.pth`` (``AlexNet_Weights.IMAGENET1K_V1``) loads strictly without
torchvision. :func:`load_alexnet` reads it from torch.hub's cache, ``torch.hub.get_dir()/checkpoints``.

>>> net = load_alexnet()                                   # from torch.hub's cache
>>> maps = net.stage_features(images)                      # images: ALEXNET_PREPROCESS applied
>>> maps["features.4"].shape, maps["features.11"].shape    # (N, 192, 27, 27), (N, 256, 13, 13) at 224 px
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from brainlens.models._checkpoints import IMAGENET_MEAN, IMAGENET_STD, checkpoint_path, load_checked, read_state_dict

__all__ = [
    "ALEXNET_FILE",
    "ALEXNET_URL",
    "ALEXNET_PREPROCESS",
    "AlexNet",
    "load_alexnet",
]

# torchvision's AlexNet_Weights.IMAGENET1K_V1 (the DEFAULT); torch.hub caches it under this file name
ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"


# MindEye Reconstruction_Metrics "AlexNet(2)"/"AlexNet(5)" rows: Resize(256, bilinear) + ImageNet Normalize, no crop
ALEXNET_PREPROCESS = {"resize": 256, "interpolation": "bilinear", "mean": IMAGENET_MEAN, "std": IMAGENET_STD}

# the features.* indices whose outputs MindEye compares: the ReLU after conv2 and after conv5
_STAGES = ("features.4", "features.11")


class AlexNet(nn.Module):
    """images (N, 3, H ≥ 63, W ≥ 63), ImageNet-normalised → logits (N, num_classes); torchvision's layout.

    ``features`` is a Sequential with indices 0..12 (conv 0/3/6/8/10, ReLU 1/4/7/9/11, max-pool 2/5/12),
    ``avgpool`` pools to 6×6, and ``classifier`` holds Dropout 0/3, Linear 1/4/6 and ReLU 2/5.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),  # features.4: MindEye's AlexNet(2)
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),  # features.11: MindEye's AlexNet(5)
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))

    def stage_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """images (N, 3, H, W), ImageNet-normalised → {"features.4": (N, 192, h2, w2), "features.11": (N, 256, h5, w5)}.

        The outputs of the ReLU after conv2 and after conv5, the nodes MindEye's table reads with torchvision's
        ``create_feature_extractor(alexnet, ["features.4", "features.11"])``. At 256 px (MindEye's resize) they
        are 31×31 and 15×15.
        """
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"images must have shape (N, 3, H, W), got {tuple(x.shape)}")
        out = {}
        for index, layer in enumerate(self.features):
            x = layer(x)
            name = f"features.{index}"
            if name in _STAGES:
                out[name] = x
                if len(out) == len(_STAGES):
                    break
        return out


def load_alexnet(path: str | Path | None = None) -> AlexNet:
    """torchvision's ImageNet AlexNet from ``path`` (default: ``torch.hub.get_dir()/checkpoints/alexnet-owt-7be5be79.pth``).

    ``path`` may be the file (``.pth`` or ``.safetensors``) or a folder holding ``alexnet-owt-7be5be79.pth``.
    The state dict must fit exactly. Returns the network frozen, in eval mode.
    """
    file = checkpoint_path(path, ALEXNET_FILE, ALEXNET_URL, "AlexNet")
    net = AlexNet()
    load_checked(net, read_state_dict(file), file)
    return net.eval().requires_grad_(False)

"""The fixed network from which the in-silico brain's category regions read category evidence.

A small convolutional network trained once on in-silico stimuli (multi-label category presence plus
the two attributes that split regions into halves) and shipped with the package. It keeps its
evidence as spatial maps, so each voxel can pool it over its own receptive field.

Retrain with ``brainlens insilico train-category-net``; the shipped weights came from the defaults.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from brainlens._io import save_safetensors, write_json
from brainlens.insilico import stimuli

__all__ = ["CategoryNetConfig", "CategoryNet", "OUTPUT_NAMES", "load_category_net", "train_category_net", "SHIPPED_DIR"]

# one evidence map per category, then one per attribute
OUTPUT_NAMES = stimuli.CATEGORIES + stimuli.ATTRIBUTES
SHIPPED_DIR = Path(__file__).parent / "weights" / "category_net"


@dataclass(frozen=True)
class CategoryNetConfig:
    widths: tuple[int, ...] = (24, 48, 96)  # channels of the three stages; each stage halves the resolution
    image_size: int = 64  # input images are resized to this
    n_outputs: int = len(OUTPUT_NAMES)  # evidence maps: categories then attributes


class CategoryNet(nn.Module):
    """images (B, 3, H, W) in [0, 1] → evidence logit maps (B, n_outputs, size/8, size/8)."""

    def __init__(self, config: CategoryNetConfig = CategoryNetConfig()):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        channels = 3
        for width in config.widths:
            layers += [
                nn.Conv2d(channels, width, 3, padding=1),
                nn.GroupNorm(4, width),
                nn.GELU(),
                nn.Conv2d(width, width, 3, padding=1),
                nn.GroupNorm(4, width),
                nn.GELU(),
                nn.MaxPool2d(2),
            ]
            channels = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(channels, config.n_outputs, 1)
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        size = self.config.image_size
        if images.shape[-2:] != (size, size):
            images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        return self.head(self.features((images - self.mean) * 4.0))  # (B, n_outputs, size/8, size/8)

    @staticmethod
    def pool(maps: torch.Tensor) -> torch.Tensor:
        """Image-level logits from evidence maps by a soft maximum over space: (B, C, h, w) → (B, C)."""
        return torch.logsumexp(maps.flatten(2), dim=2) - math.log(maps.shape[-1] * maps.shape[-2])

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / "config.json", asdict(self.config))
        save_safetensors(folder / "model.safetensors", self.state_dict())


def load_category_net(folder: str | Path = SHIPPED_DIR) -> CategoryNet:
    """Load a CategoryNet saved by :meth:`CategoryNet.save` (the shipped one by default), in eval mode."""
    from safetensors.torch import load_file

    folder = Path(folder)
    for name in ("config.json", "model.safetensors"):
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"category network file missing: {folder / name} (retrain with `brainlens insilico train-category-net`)"
            )
    config = json.loads((folder / "config.json").read_text())
    config["widths"] = tuple(config["widths"])
    net = CategoryNet(CategoryNetConfig(**config))
    net.load_state_dict(load_file(str(folder / "model.safetensors")))
    return net.eval().requires_grad_(False)


def _targets(batch: stimuli.Stimuli) -> tuple[torch.Tensor, torch.Tensor]:
    # soft targets: 1 for the main category, 0.5 for a second one, so the main one wins the argmax
    presence = torch.from_numpy(batch.labels.astype(np.float32))  # (B, 6)
    attributes = torch.from_numpy(batch.attributes)  # (B, 2), NaN where not applicable
    return presence, attributes


def _loss(net: CategoryNet, images: torch.Tensor, presence: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
    logits = CategoryNet.pool(net(images))
    n_categories = presence.shape[1]
    loss = F.binary_cross_entropy_with_logits(logits[:, :n_categories], presence)
    known = ~torch.isnan(attributes)
    if known.any():
        loss = loss + F.binary_cross_entropy_with_logits(logits[:, n_categories:][known], attributes[known])
    return loss


def train_category_net(
    *,
    n_train: int = 24000,
    n_val: int = 2000,
    epochs: int = 8,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    config: CategoryNetConfig = CategoryNetConfig(),
    progress: Callable[[str, dict], None] | None = None,
) -> tuple[CategoryNet, dict[str, float]]:
    """Train a CategoryNet on fresh in-silico stimuli, deterministically from ``seed``.

    Returns the network (eval mode) and validation metrics: main-category accuracy and attribute accuracy.
    ``progress(event, values)`` is called after each epoch.
    """
    torch.manual_seed(seed)
    train = stimuli.generate(n_train, seed=10_000 + seed, size=config.image_size)
    val = stimuli.generate(n_val, seed=20_000 + seed, size=config.image_size)
    net = CategoryNet(config)
    optimiser = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(n_train / batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps)
    generator = torch.Generator().manual_seed(seed)
    presence, attributes = _targets(train)
    metrics: dict[str, float] = {}
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(n_train, generator=generator).numpy()
        total = 0.0
        for start in range(0, n_train, batch_size):
            idx = np.sort(order[start : start + batch_size])
            images = stimuli.to_tensor(train.images[idx])
            # horizontal flips keep the categories and double the variety
            flip = torch.rand(len(idx), generator=generator) < 0.5
            images[flip] = images[flip].flip(-1)
            loss = _loss(net, images, presence[idx], attributes[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(idx)
        metrics = evaluate_category_net(net.eval(), val)
        metrics["train_loss"] = total / n_train
        if progress is not None:
            progress("epoch", {"epoch": epoch + 1, **metrics})
    return net.eval().requires_grad_(False), metrics


@torch.no_grad()
def evaluate_category_net(net: CategoryNet, data: stimuli.Stimuli, batch_size: int = 256) -> dict[str, float]:
    """Main-category accuracy (argmax over category logits) and attribute accuracy where applicable."""
    n_categories = len(stimuli.CATEGORIES)
    logits = torch.cat(
        [CategoryNet.pool(net(stimuli.to_tensor(data.images[i : i + batch_size]))) for i in range(0, len(data), batch_size)]
    ).numpy()
    accuracy = float(np.mean(logits[:, :n_categories].argmax(1) == data.category))
    known = ~np.isnan(data.attributes)
    attribute_accuracy = float(np.mean((logits[:, n_categories:][known] > 0) == (data.attributes[known] > 0.5)))
    return {"category_accuracy": accuracy, "attribute_accuracy": attribute_accuracy}

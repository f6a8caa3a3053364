"""The shipped default backbone: a small residual convnet that learned to tag in-silico images.

It plays the part that an ImageNet or CLIP network plays for real data. It is trained with language
supervision only: from each image it predicts which words its caption uses (a bag of words over the
caption vocabulary). It never sees the category labels or the attributes that the in-silico brain's
own category network was trained on, and it shares none of its weights or architecture.

Four stages of residual blocks, each halving the resolution: at 64 px, stage1 gives 32×32 tokens,
stage2 16×16, stage3 8×8 and stage4 4×4. Retrain with ``brainlens zoo train insilico-convnet``.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from brainlens._io import save_safetensors, write_json
from brainlens.insilico import stimuli

__all__ = [
    "ConvNetConfig", "ConvNet", "SHIPPED_DIR", "load_convnet", "load_resolved", "train_convnet", "evaluate_convnet", "caption_words",
]

SHIPPED_DIR = Path(__file__).parent / "weights" / "insilico_convnet"
_STOPWORDS = frozenset("a an the of with and on in by to at as its their them one".split())


@dataclass(frozen=True)
class ConvNetConfig:
    widths: tuple[int, ...] = (32, 64, 128, 192)  # channels of each stage; each stage halves the resolution
    blocks: int = 1  # residual blocks per stage after the downsampling block
    image_size: int = 64  # images are resized to this before the first layer
    vocabulary: tuple[str, ...] = ()  # the caption words the head predicts, in output order


class _Residual(nn.Module):
    def __init__(self, channels_in: int, channels_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, bias=False)
        self.norm1 = nn.BatchNorm2d(channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(channels_out)
        self.skip = (
            nn.Identity()
            if stride == 1 and channels_in == channels_out
            else nn.Sequential(nn.Conv2d(channels_in, channels_out, 1, stride=stride, bias=False), nn.BatchNorm2d(channels_out))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)))
        return F.relu(self.norm2(self.conv2(y)) + self.skip(x))


class ConvNet(nn.Module):
    """images (B, 3, H, W) in [0, 1] → stage maps of stage1..stage4 and, from the last, word-tag logits.

    :class:`~brainlens.backbones.convnet.ConvNetBackbone` serves it to encoders as per-layer tokens.
    """

    def __init__(self, config: ConvNetConfig, name: str = "insilico-convnet"):
        super().__init__()
        self.config = config
        self.name = name
        self.stage_names = tuple(f"stage{i + 1}" for i in range(len(config.widths)))
        # the stem halves the resolution at once: full-resolution feature maps would cost most of the time
        self.stem = nn.Sequential(
            nn.Conv2d(3, config.widths[0], 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(config.widths[0]), nn.ReLU()
        )
        stages = []
        channels = config.widths[0]
        for i, width in enumerate(config.widths):
            blocks = [_Residual(channels, width, stride=1 if i == 0 else 2)] + [_Residual(width, width, 1) for _ in range(config.blocks)]
            stages.append(nn.Sequential(*blocks))
            channels = width
        self.stages = nn.ModuleList(stages)
        self.head = nn.Linear(channels, max(len(config.vocabulary), 1))
        # per-channel statistics of in-silico images; fixed, so the input scaling is part of the model
        self.register_buffer("mean", torch.full((1, 3, 1, 1), 0.5))
        self.register_buffer("std", torch.full((1, 3, 1, 1), 0.25))

    def stage_maps(self, images: torch.Tensor, n_stages: int | None = None) -> list[torch.Tensor]:
        """Images (B, 3, H, W) in [0, 1], resized to the training size → maps (B, C, h, w) of the first
        ``n_stages`` stages (default all)."""
        _check_images(images)
        size = self.config.image_size
        if images.shape[-2:] != (size, size):
            images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        return self._stage_maps(images, len(self.stages) if n_stages is None else n_stages)

    def _stage_maps(self, images: torch.Tensor, n_stages: int) -> list[torch.Tensor]:
        x = self.stem((images - self.mean) / self.std)
        maps = []
        for stage in self.stages[:n_stages]:
            x = stage(x)
            maps.append(x)
        return maps

    def feature_maps(self, images: torch.Tensor, n_stages: int) -> list[torch.Tensor]:
        """Maps (B, C, h, w) of the first ``n_stages`` stages at the images' own scale (no resizing).

        The network is fully convolutional, so crops of any size work, e.g. for a perceptual loss.
        """
        if not 1 <= n_stages <= len(self.stages):
            raise ValueError(f"n_stages must be in 1..{len(self.stages)}; {n_stages!r} was provided.")
        _check_images(images)
        return self._stage_maps(images, n_stages)

    def tag_logits(self, images: torch.Tensor) -> torch.Tensor:
        """images → (B, len(vocabulary)) logits that each caption word is used."""
        return self.head(self.stage_maps(images)[-1].mean(dim=(2, 3)))

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / "config.json", asdict(self.config))
        # stored in half precision (half the size); loading casts back to float32
        save_safetensors(
            folder / "model.safetensors", {k: (v.half() if v.is_floating_point() else v) for k, v in self.state_dict().items()}
        )


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor (batch, 3, H, W) in [0, 1], got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape (batch, 3, H, W), got {tuple(images.shape)}")


def load_convnet(folder: str | Path = SHIPPED_DIR) -> ConvNet:
    """Load a convnet saved by :meth:`ConvNet.save` (the shipped one by default), frozen, in eval mode."""
    from safetensors.torch import load_file

    folder = Path(folder)
    for name in ("config.json", "model.safetensors"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"convnet file missing: {folder / name} (retrain with `brainlens zoo train insilico-convnet`)")
    values = json.loads((folder / "config.json").read_text())
    values["widths"] = tuple(values["widths"])
    values["vocabulary"] = tuple(values["vocabulary"])
    name = "insilico-convnet" if folder.resolve() == SHIPPED_DIR.resolve() else str(folder)
    net = ConvNet(ConvNetConfig(**values), name=name)
    net.load_state_dict(load_file(str(folder / "model.safetensors")))
    return net.eval().requires_grad_(False)


def caption_words(caption: str) -> set[str]:
    """The content words of a caption; quoted text (the words shown in word images) is left out."""
    unquoted = re.sub(r"'[^']*'", " ", caption.lower())
    return {w for w in re.findall(r"[a-z][a-z\-]*", unquoted) if w not in _STOPWORDS}


def _bag_of_words(captions: tuple[str, ...], vocabulary: tuple[str, ...]) -> torch.Tensor:
    index = {w: i for i, w in enumerate(vocabulary)}
    bags = torch.zeros(len(captions), len(vocabulary))
    for row, caption in enumerate(captions):
        for word in caption_words(caption):
            if word in index:
                bags[row, index[word]] = 1.0
    return bags  # (n, vocabulary)


def train_convnet(
    out: str | Path,
    *,
    n_train: int = 20000,
    n_val: int = 2000,
    epochs: int = 5,
    batch_size: int = 128,
    lr: float = 3e-3,
    min_count: int = 20,
    seed: int = 0,
    config: ConvNetConfig = ConvNetConfig(),
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, float]:
    """Train the tagging convnet on fresh in-silico stimuli, deterministically from ``seed``; save it in ``out``.

    The vocabulary is every caption word used by at least ``min_count`` training images. Returns the
    validation metrics (mean average precision of the word tags), also written to ``out/metrics.json``.
    ``progress(stage, k)``: stage "training images" counts images seen, "epochs" epochs done.
    """
    torch.manual_seed(seed)
    train = stimuli.generate(n_train, seed=30_000 + seed, size=config.image_size)
    val = stimuli.generate(n_val, seed=40_000 + seed, size=config.image_size)
    counts = Counter(w for caption in train.captions for w in caption_words(caption))
    vocabulary = tuple(sorted(w for w, n in counts.items() if n >= min_count))
    config = ConvNetConfig(**{**asdict(config), "vocabulary": vocabulary})
    net = ConvNet(config)
    targets, val_targets = _bag_of_words(train.captions, vocabulary), _bag_of_words(val.captions, vocabulary)
    optimiser = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=5e-4)
    steps = epochs * math.ceil(n_train / batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps)
    generator = torch.Generator().manual_seed(seed)
    metrics: dict[str, float] = {}
    for _epoch in range(epochs):
        net.train()
        order = torch.randperm(n_train, generator=generator).numpy()
        total = 0.0
        for start in range(0, n_train, batch_size):
            idx = np.sort(order[start : start + batch_size])
            images = stimuli.to_tensor(train.images[idx])
            # captions say nothing about left and right, so flips are free variety
            flip = torch.rand(len(idx), generator=generator) < 0.5
            images[flip] = images[flip].flip(-1)
            loss = F.binary_cross_entropy_with_logits(net.tag_logits(images), targets[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(idx)
            if progress is not None:
                progress("training images", len(idx))
        net.eval()
        metrics = {"train_loss": total / n_train, **evaluate_tags(net, val.images, val_targets)}
        if progress is not None:
            progress("epochs", 1)
    net.save(out)
    write_json(Path(out) / "metrics.json", {**metrics, "n_train": n_train, "epochs": epochs, "seed": seed})
    return metrics


def evaluate_convnet(folder: str | Path = SHIPPED_DIR, *, n: int = 2000, seed: int = 60_000) -> dict[str, float]:
    """Word-tag mean average precision of a saved convnet on ``n`` fresh held-out in-silico images."""
    net = load_convnet(folder)
    data = stimuli.generate(n, seed=seed, size=net.config.image_size)
    return evaluate_tags(net, data.images, _bag_of_words(data.captions, net.config.vocabulary))


@torch.no_grad()
def evaluate_tags(net: ConvNet, images: np.ndarray, targets: torch.Tensor, batch_size: int = 256) -> dict[str, float]:
    """Mean average precision of the word tags over words present in ``targets`` (n, vocabulary)."""
    logits = torch.cat([net.tag_logits(stimuli.to_tensor(images[i : i + batch_size])) for i in range(0, len(images), batch_size)])
    precisions = []
    for word in range(targets.shape[1]):
        truth = targets[:, word]
        if truth.sum() == 0:
            continue
        order = torch.argsort(logits[:, word], descending=True)
        hits = truth[order]
        precision_at_hit = torch.cumsum(hits, 0) / torch.arange(1, len(hits) + 1)
        precisions.append(float((precision_at_hit * hits).sum() / hits.sum()))
    return {"tag_map": float(np.mean(precisions)), "n_words": len(precisions)}


def load_resolved(resolved, **kwargs) -> ConvNet:
    """The loader of kind "backbone" in :func:`brainlens.models.load_model`: a convnet folder, already resolved."""
    if kwargs:
        raise TypeError(f"a convnet loads from its folder alone; unexpected options {sorted(kwargs)}")
    return load_convnet(resolved.location)

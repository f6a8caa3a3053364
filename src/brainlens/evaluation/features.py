"""Feature networks by name, each with the preprocessing its metric row was published with.

MindEye's table reads six rows from ImageNet and CLIP networks, and MinD-Vis's 50-way top-1 one more from an
ImageNet classifier (:data:`PUBLISHED_ROWS`; its "features" are the classifier's softmax); brainlens runs
them in plain torch from the files a user has (torchvision's checkpoint files, SwAV's released file, the
Hugging Face cache), see :mod:`brainlens.models.alexnet` and its siblings. Offline, where none of those
files exist, the shipped in-silico models fill the same roles under their own names
(:data:`OFFLINE_ROWS`): the convnet's early and late stages for the AlexNet rows, the embedder for the CLIP
row. An output never presents an offline row as a published one.

>>> network = load_feature_network("insilico-convnet")
>>> features = extract_features(network, images)   # {"insilico_convnet_early": (N, d), "insilico_convnet_late": ...}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from brainlens.evaluation.image import as_float_images, resize_shorter_side

__all__ = [
    "Row",
    "PUBLISHED_ROWS",
    "OFFLINE_ROWS",
    "ROWS",
    "NETWORKS",
    "PUBLISHED_NETWORKS",
    "OFFLINE_NETWORKS",
    "FeatureNetwork",
    "load_feature_network",
    "extract_features",
]


@dataclass(frozen=True)
class Row:
    """One row of the table: its key in metrics.json, its title, what it scores and with which network."""

    key: str
    title: str
    # "identification": 2-way, higher is better, chance 0.5; "distance": 1 − r, lower is better; "n_way": n-way top-1
    kind: str
    network: str  # the network and layer, in words, written into every output


PUBLISHED_ROWS = (
    Row("alexnet2", "AlexNet(2)", "identification", "AlexNet (torchvision IMAGENET1K_V1), ReLU after conv2"),
    Row("alexnet5", "AlexNet(5)", "identification", "AlexNet (torchvision IMAGENET1K_V1), ReLU after conv5"),
    Row("inception", "InceptionV3", "identification", "Inception v3 (torchvision IMAGENET1K_V1), average pool"),
    Row("clip", "CLIP", "identification", "CLIP ViT-L/14 (OpenAI), image embedding"),
    Row("effnet", "EffNet-B", "distance", "EfficientNet-B1 (torchvision DEFAULT), average pool"),
    Row("swav", "SwAV", "distance", "SwAV ResNet-50 (800 epochs), average pool"),
    Row("imagenet_50way", "50-way top-1", "n_way",
        "ViT-H/14 (torchvision IMAGENET1K_SWAG_E2E_V1, 518 px), softmax, 1000 trials: MinD-Vis's classifier (chance 2 %)"),
)
OFFLINE_ROWS = (
    Row("insilico_convnet_early", "convnet early", "identification",
        "brainlens in-silico convnet (shipped), stage 2 of 4: an offline stand-in for the AlexNet(2) row"),
    Row("insilico_convnet_late", "convnet late", "identification",
        "brainlens in-silico convnet (shipped), stage 4 of 4: an offline stand-in for the AlexNet(5) row"),
    Row("insilico_embedder", "embedder", "identification",
        "brainlens in-silico embedder (shipped), image embedding: an offline stand-in for the CLIP row"),
)
ROWS = {row.key: row for row in PUBLISHED_ROWS + OFFLINE_ROWS}

# network name → the rows it gives
PUBLISHED_NETWORKS = {
    "alexnet": ("alexnet2", "alexnet5"),
    "inception": ("inception",),
    "clip": ("clip",),
    "effnet": ("effnet",),
    "swav": ("swav",),
    "vit-h-14": ("imagenet_50way",),
}
OFFLINE_NETWORKS = {
    "insilico-convnet": ("insilico_convnet_early", "insilico_convnet_late"),
    "insilico-embedder": ("insilico_embedder",),
}
NETWORKS = {**PUBLISHED_NETWORKS, **OFFLINE_NETWORKS}


@dataclass
class FeatureNetwork:
    """A loaded network: images (N, 3, H, W) in [0, 1] → {row key: features (N, ...)}, preprocessing included."""

    name: str
    rows: tuple[str, ...]
    forward: Callable[[torch.Tensor], dict[str, torch.Tensor]]
    device: torch.device
    source: str  # the file, folder or shipped model it was loaded from

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return self.forward(images.to(self.device))


def _preprocess(settings: dict, device) -> Callable[[torch.Tensor], torch.Tensor]:
    """A row's published preprocessing (``settings``: resize, mean, std): Resize(side) bilinear on the shorter
    side, then Normalize(mean, std)."""
    mean = torch.tensor(settings["mean"], device=device).view(1, 3, 1, 1)
    std = torch.tensor(settings["std"], device=device).view(1, 3, 1, 1)
    return lambda images: (resize_shorter_side(images, settings["resize"]) - mean) / std


def _load_alexnet(weights, device):
    from brainlens.models.alexnet import ALEXNET_PREPROCESS, load_alexnet

    net = load_alexnet(weights).to(device)
    prepare = _preprocess(ALEXNET_PREPROCESS, device)

    def forward(images):
        maps = net.stage_features(prepare(images))
        return {"alexnet2": maps["features.4"].flatten(1), "alexnet5": maps["features.11"].flatten(1)}

    return forward


def _load_inception(weights, device):
    from brainlens.models.inception_v3 import INCEPTION_PREPROCESS, load_inception_v3

    net = load_inception_v3(weights).to(device)
    prepare = _preprocess(INCEPTION_PREPROCESS, device)
    return lambda images: {"inception": net.pooled(prepare(images))}


def _load_clip(weights, device):
    from brainlens.models.clip_vision import CLIP_MODEL_ID, CLIP_PREPROCESS, image_embeddings, load_clip_vision

    model = load_clip_vision(weights or CLIP_MODEL_ID, device=device)
    prepare = _preprocess(CLIP_PREPROCESS, device)
    return lambda images: {"clip": image_embeddings(model, prepare(images))}


def _load_effnet(weights, device):
    from brainlens.models.efficientnet import EFFICIENTNET_PREPROCESS, load_efficientnet_b1

    net = load_efficientnet_b1(weights).to(device)
    prepare = _preprocess(EFFICIENTNET_PREPROCESS, device)
    return lambda images: {"effnet": net.pooled(prepare(images))}


def _load_swav(weights, device):
    from brainlens.models.resnet import SWAV_PREPROCESS, load_swav_resnet50

    net = load_swav_resnet50(weights).to(device)
    prepare = _preprocess(SWAV_PREPROCESS, device)
    return lambda images: {"swav": net.pooled(prepare(images))}


def _load_vit_h_14(weights, device):
    from brainlens.models.vit import load_vit_h_14

    net = load_vit_h_14(weights).to(device)
    return lambda images: {"imagenet_50way": net.probabilities(images)}


def _load_insilico_convnet(weights, device):
    from brainlens.models.convnet import SHIPPED_DIR, load_convnet

    net = load_convnet(weights or SHIPPED_DIR).to(device)

    def forward(images):
        maps = net.stage_maps(images)  # resized to the convnet's own training size
        return {"insilico_convnet_early": maps[1].flatten(1), "insilico_convnet_late": maps[3].flatten(1)}

    return forward


def _load_insilico_embedder(weights, device):
    from brainlens.models.embedder import load_embedder

    embedder = load_embedder(weights or "embedder", device=device).eval()
    return lambda images: {"insilico_embedder": embedder.embed_images(images)}


_LOADERS = {
    "alexnet": _load_alexnet,
    "inception": _load_inception,
    "clip": _load_clip,
    "effnet": _load_effnet,
    "swav": _load_swav,
    "vit-h-14": _load_vit_h_14,
    "insilico-convnet": _load_insilico_convnet,
    "insilico-embedder": _load_insilico_embedder,
}


def load_feature_network(name: str, weights: str | Path | None = None, device: str | torch.device = "cpu") -> FeatureNetwork:
    """The network ``name`` (one of :data:`NETWORKS`) with its rows' preprocessing.

    ``weights``: the file or folder to read (default: where torchvision / torch.hub / the Hugging Face cache
    keep it, or the shipped model). A missing file raises FileNotFoundError naming it and where to get it.
    """
    if name not in NETWORKS:
        raise ValueError(f"unknown feature network {name!r}; known: {sorted(NETWORKS)}")
    device = torch.device(device)
    forward = _LOADERS[name](weights, device)
    return FeatureNetwork(name, NETWORKS[name], forward, device, str(weights) if weights else "default location")


def extract_features(
    network: FeatureNetwork, images, *, batch_size: int = 32, progress: Callable[[int], None] | None = None
) -> dict[str, np.ndarray]:
    """Features of images (uint8 (N, H, W, 3) or float (N, 3, H, W) in [0, 1]) for each of the network's rows:
    {row key: (N, d) float32}, in batches of ``batch_size``."""
    images = as_float_images(images)
    out: dict[str, list[np.ndarray]] = {row: [] for row in network.rows}
    for start in range(0, len(images), batch_size):
        batch = network(images[start : start + batch_size])
        for row in network.rows:
            out[row].append(batch[row].flatten(1).float().cpu().numpy())
        if progress is not None:
            progress(min(batch_size, len(images) - start))
    return {row: np.concatenate(parts) for row, parts in out.items()}

"""Backbone features of an image set, computed once and kept on disk (float16, memory-mapped).

Each layer keeps its global token ``(n_images, C)`` and its local tokens average-pooled to a small
``grid × grid`` map ``(n_images, C, grid, grid)``. A cache entry is keyed by the backbone (name and a
fingerprint of its weights), the layers, the grid and the image set (a fingerprint of the images),
so features never outlive the images or the model they came from. Rows are marked done only after
they are flushed to disk: an interrupted extraction resumes where it stopped, and nothing cached is
computed twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from brainlens.backbones.base import Backbone
from brainlens.store import Store

__all__ = ["FeatureCache", "Features", "extract_features", "pool_local", "image_fingerprint"]

_FORMAT = 1


def pool_local(local: torch.Tensor, grid: int) -> torch.Tensor:
    """Local tokens (B, C, h, w) averaged onto a grid × grid map (B, C, grid, grid); grid 0 keeps none."""
    return F.adaptive_avg_pool2d(local, grid) if grid > 0 else local[:, :, :0, :0]


def image_fingerprint(images: Store | np.ndarray, n_probe: int = 16) -> str:
    """A short hash of an image set: its shape and the pixels of ``n_probe`` evenly spaced images."""
    n = images.n_images if isinstance(images, Store) else len(images)
    probe = np.unique(np.linspace(0, n - 1, min(n, n_probe)).astype(np.int64)) if n else np.zeros(0, np.int64)
    sample = images.images_at(probe) if isinstance(images, Store) else np.asarray(images)[probe]
    digest = hashlib.sha1(repr((n, tuple(sample.shape[1:]))).encode())
    digest.update(np.ascontiguousarray(sample).tobytes())
    return digest.hexdigest()[:16]


def backbone_fingerprint(backbone: Backbone) -> str:
    """A short hash of a backbone's name and weights."""
    digest = hashlib.sha1(backbone.name.encode())
    for key, value in backbone.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().to("cpu", torch.float16).contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


@dataclass
class Features:
    """Cached features of one image set: per layer, ``local`` (n, C, grid, grid) and ``global_`` (n, C), float16 memmaps."""

    layers: tuple[str, ...]
    grid: int
    local: dict[str, np.ndarray]
    global_: dict[str, np.ndarray]
    folder: Path

    @property
    def n_images(self) -> int:
        return next(iter(self.global_.values())).shape[0]

    @property
    def n_features(self) -> int:
        return sum(self.local[layer][0].size + self.global_[layer].shape[1] for layer in self.layers)

    def matrix(self, rows: np.ndarray | None = None, layers: tuple[str, ...] | None = None) -> np.ndarray:
        """Design matrix (len(rows), n_features) float32: per layer the pooled local tokens, flattened, then the global token."""
        rows = np.arange(self.n_images) if rows is None else np.asarray(rows)
        blocks = []
        for layer in layers or self.layers:
            blocks.append(self.local[layer][rows].reshape(len(rows), -1))
            blocks.append(self.global_[layer][rows])
        return np.concatenate(blocks, axis=1).astype(np.float32)


class FeatureCache:
    """A folder of cached feature sets. ``FeatureCache(root).get(backbone, images, ...)`` computes what is missing."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def get(
        self,
        backbone: Backbone,
        images: Store | np.ndarray,
        *,
        layers: tuple[str, ...] | None = None,
        grid: int = 4,
        batch_size: int = 64,
        device: str = "cpu",
        progress: Callable[[int], None] | None = None,
    ) -> Features:
        """Features of every image in ``images`` (a store or (n, H, W, 3) uint8); computes only rows not yet cached.

        ``progress(k)`` is called with the number of images newly done after each batch.
        """
        layers = backbone.check_layers(tuple(layers) if layers else None)
        if grid < 0:
            raise ValueError(f"grid must be ≥ 0 (0 keeps only global tokens); {grid!r} was provided.")
        n_images = images.n_images if isinstance(images, Store) else len(images)
        if n_images == 0:
            raise ValueError("the image set is empty: there is nothing to extract features from")
        key = {
            "format": _FORMAT,
            "backbone": backbone.name,
            "weights": backbone_fingerprint(backbone),
            "layers": list(layers),
            "grid": grid,
            "images": image_fingerprint(images),
            "n_images": n_images,
        }
        folder = self.root / hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        backbone = backbone.to(device).eval()
        with torch.no_grad():
            probe = backbone.tokens(torch.zeros(1, 3, 8, 8, device=device) + 0.5, layers)
        shapes = {layer: (probe[layer].local.shape[1], probe[layer].global_.shape[1]) for layer in layers}
        done = _open_entry(folder, key, shapes, n_images, grid)
        features = Features(
            layers=layers,
            grid=grid,
            local={layer: np.load(folder / f"{layer}.local.npy", mmap_mode="r+") for layer in layers},
            global_={layer: np.load(folder / f"{layer}.global.npy", mmap_mode="r+") for layer in layers},
            folder=folder,
        )
        todo = np.flatnonzero(~done)
        for start in range(0, todo.size, batch_size):
            rows = todo[start : start + batch_size]
            pixels = images.images_at(rows) if isinstance(images, Store) else np.asarray(images[rows])
            batch = torch.from_numpy(np.ascontiguousarray(pixels)).to(device).permute(0, 3, 1, 2).float().div(255.0)
            with torch.no_grad():
                tokens = backbone.tokens(batch, layers)
            for layer in layers:
                local = pool_local(tokens[layer].local, grid)
                _check_finite(backbone.name, layer, rows, local, tokens[layer].global_)
                features.local[layer][rows] = local.cpu().numpy().astype(np.float16)
                features.global_[layer][rows] = tokens[layer].global_.cpu().numpy().astype(np.float16)
            for array in (*features.local.values(), *features.global_.values()):
                array.flush()
            done[rows] = True
            done.flush()
            if progress is not None:
                progress(len(rows))
        for layer in layers:
            features.local[layer] = np.load(folder / f"{layer}.local.npy", mmap_mode="r")
            features.global_[layer] = np.load(folder / f"{layer}.global.npy", mmap_mode="r")
        return features


def extract_features(
    backbone: Backbone,
    images: Store | np.ndarray,
    *,
    cache_dir: str | Path,
    layers: tuple[str, ...] | None = None,
    grid: int = 4,
    batch_size: int = 64,
    device: str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> Features:
    """Features of ``images`` from ``backbone``, through the cache in ``cache_dir`` (see :class:`FeatureCache`)."""
    return FeatureCache(cache_dir).get(
        backbone, images, layers=layers, grid=grid, batch_size=batch_size, device=device, progress=progress
    )


def _open_entry(folder: Path, key: dict, shapes: dict, n_images: int, grid: int) -> np.ndarray:
    """Create the entry's arrays if new (or broken) and return its writable ``done`` mask."""
    meta = folder / "key.json"
    arrays = [folder / "done.npy"] + [folder / f"{layer}.{kind}.npy" for layer in shapes for kind in ("local", "global")]
    if meta.is_file() and all(path.is_file() for path in arrays):
        try:
            if json.loads(meta.read_text()) == key:
                return np.load(folder / "done.npy", mmap_mode="r+")
        except (ValueError, OSError):
            pass  # unreadable: rebuild the entry below
    folder.mkdir(parents=True, exist_ok=True)
    for layer, (channels, width) in shapes.items():
        np.lib.format.open_memmap(folder / f"{layer}.local.npy", "w+", np.float16, (n_images, channels, grid, grid)).flush()
        np.lib.format.open_memmap(folder / f"{layer}.global.npy", "w+", np.float16, (n_images, width)).flush()
    np.lib.format.open_memmap(folder / "done.npy", "w+", np.bool_, (n_images,)).flush()
    tmp = meta.with_suffix(".tmp")
    tmp.write_text(json.dumps(key, indent=2))
    os.replace(tmp, meta)
    return np.load(folder / "done.npy", mmap_mode="r+")


def _check_finite(backbone: str, layer: str, rows: np.ndarray, local: torch.Tensor, global_: torch.Tensor) -> None:
    bad = ~(torch.isfinite(local.flatten(1)).all(1) & torch.isfinite(global_).all(1))
    if bad.any():
        first = int(rows[int(torch.nonzero(bad)[0])])
        raise ValueError(
            f"backbone {backbone!r} gave non-finite features at layer {layer!r} for image {first} "
            f"({int(bad.sum())} of {len(rows)} images in this batch); nothing was cached for them"
        )

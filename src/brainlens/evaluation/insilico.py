"""In-silico fMRI experiments: show images to the ground-truth brain and score them against the truth.

For synthesized images the questions are BrainDiVE's: does the target region respond to them more
than to its best natural images? Do images made for two halves of a region differ in the attribute
that, in truth, separates the halves?
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from brainlens.insilico import stimuli
from brainlens.insilico.brain import InSilicoSubject
from brainlens.insilico.category_net import CategoryNet

__all__ = ["subject", "TruthEncoder", "NaturalBaseline", "natural_baseline", "region_response", "attribute_probabilities"]

# a fixed pool of natural in-silico images, apart from every training and test seed
NATURAL_SEED = 91_000


@functools.lru_cache(maxsize=4)
def subject(number: int) -> InSilicoSubject:
    """The in-silico subject ``number``, built once per process (it is deterministic and read-only here)."""
    return InSilicoSubject(number)


class TruthEncoder(nn.Module):
    """The ground-truth brain behind the encoder interface (images → every voxel): the oracle for guidance."""

    def __init__(self, subject: InSilicoSubject):
        super().__init__()
        self.brain = subject.brain
        self.register_buffer("voxel_index", torch.arange(subject.n_voxels))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.brain(images.float())


def region_response(subject: InSilicoSubject, images: np.ndarray | torch.Tensor, voxels: np.ndarray) -> np.ndarray:
    """True noiseless response of a region (mean over its voxels) to each image: (N,)."""
    return subject.respond(images)[:, voxels].mean(1)


@dataclass(frozen=True)
class NaturalBaseline:
    """An objective's true values on a pool of natural stimuli: a region's response, or a contrast A − B."""

    top1pct_mean: float  # mean over the pool's top 1 % images for this objective
    random_mean: float  # mean over the whole pool (a random natural image)
    top_images: np.ndarray  # (k, H, W, 3) uint8, the top 1 %, best first
    n_pool: int


def natural_baseline(subject: InSilicoSubject, voxels: np.ndarray, n_pool: int = 5000, size: int = 64,
                     contrast_voxels: np.ndarray | None = None) -> NaturalBaseline:
    """The objective's top 1 % and average natural stimuli, from a fixed pool of ``n_pool`` images: the region's
    mean response, or with ``contrast_voxels`` the region's minus that region's (the top 1 % by the contrast)."""
    if n_pool < 100:
        raise ValueError(f"n_pool must be at least 100 so that its top 1 % is an image; {n_pool!r} was provided.")
    images, responses = _natural_pool(subject, n_pool, size)
    response = responses[:, voxels].mean(1)  # (n_pool,)
    if contrast_voxels is not None:
        response = response - responses[:, contrast_voxels].mean(1)
    top = np.argsort(response)[::-1][: max(1, n_pool // 100)]
    return NaturalBaseline(float(response[top].mean()), float(response.mean()), images[top], n_pool)


@functools.lru_cache(maxsize=2)
def _natural_pool(subject: InSilicoSubject, n_pool: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The natural pool (n_pool, size, size, 3) uint8 and the subject's responses to it (n_pool, n_voxels),
    kept for the next region: a demo scores seven objectives against the same pool."""
    pool = stimuli.generate(n_pool, seed=NATURAL_SEED, size=size)
    return pool.images, subject.respond(pool.images)


@torch.no_grad()
def attribute_probabilities(subject: InSilicoSubject, images: torch.Tensor) -> dict[str, np.ndarray]:
    """The truth's own reading of each attribute (indoor, warm) for images (N, 3, H, W) in [0, 1]: {name: (N,)}."""
    maps = subject.brain.category_net(images.float())
    pooled = torch.sigmoid(CategoryNet.pool(maps[:, len(stimuli.CATEGORIES):]))  # (N, n_attributes)
    return {name: pooled[:, k].numpy() for k, name in enumerate(stimuli.ATTRIBUTES)}

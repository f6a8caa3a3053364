"""Semantic scores of images: zero-shot category accuracy, as BrainDiVE measures its synthesized images,
and MinD-Vis's n-way top-1 (:func:`n_way_top1`, from :mod:`brainlens.identification`).

BrainDiVE classifies each image with CLIP among five categories (faces, places, bodies, words, food)
and reports, per target region, the fraction classified as the region's preferred category. Here the
classifier is any embedder with ``classify`` (the shipped one by default; a hub CLIP by id), through
:func:`brainlens.models.embedder.category_probabilities`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from brainlens.identification import n_way_top1
from brainlens.models.embedder import category_probabilities

__all__ = ["BRAINDIVE_CATEGORIES", "category_accuracy", "n_way_top1"]

# BrainDiVE's five-way classification, by the in-silico category names
BRAINDIVE_CATEGORIES = ("face", "place", "body", "word", "food")


def category_accuracy(
    embedder, images: torch.Tensor, target: str, categories: Sequence[str] = BRAINDIVE_CATEGORIES, *,
    style: str = "captions",
) -> dict[str, object]:
    """Fraction of images classified as ``target`` among ``categories``, and the share of each category."""
    if target not in categories:
        raise ValueError(f"target must be one of {list(categories)}; {target!r} was provided.")
    predicted = category_probabilities(embedder, images, categories, style=style).argmax(1).numpy()
    shares = {name: float(np.mean(predicted == k)) for k, name in enumerate(categories)}
    return {"category_accuracy": shares[target], "category_shares": shares}

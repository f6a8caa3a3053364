"""Semantic scores of images: zero-shot category accuracy, as BrainDiVE measures its synthesized images.

BrainDiVE classifies each image with CLIP among five categories (faces, places, bodies, words, food)
and reports, per target region, the fraction classified as the region's preferred category. Here the
classifier is any embedder with ``classify`` (the shipped one by default; a hub CLIP by id).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

__all__ = ["BRAINDIVE_CATEGORIES", "PROMPT_STYLES", "category_prompts", "category_probabilities", "category_accuracy"]

# BrainDiVE's five-way classification, by the in-silico category names
BRAINDIVE_CATEGORIES = ("face", "place", "body", "word", "food")


PROMPT_STYLES = ("captions", "names")


def category_prompts(categories: Sequence[str], style: str = "captions") -> Mapping[str, Sequence[str]]:
    """Prompts per category: "captions", phrases in the style of the in-silico captions (the shipped
    embedder's text tower knows only their words); "names", CLIP's "a photo of a {name}" for hub models."""
    if style == "names":
        return {name: [f"a photo of a {name}"] for name in categories}
    if style != "captions":
        raise ValueError(f"prompt style must be one of {PROMPT_STYLES}; {style!r} was provided.")
    from brainlens.generation.embedder import CATEGORY_PROMPTS

    unknown = [name for name in categories if name not in CATEGORY_PROMPTS]
    if unknown:
        raise ValueError(f"no caption-style prompts for category {unknown[0]!r}; known: {sorted(CATEGORY_PROMPTS)}")
    return {name: CATEGORY_PROMPTS[name] for name in categories}


@torch.no_grad()
def category_probabilities(
    embedder, images: torch.Tensor, categories: Sequence[str] = BRAINDIVE_CATEGORIES, *, style: str = "captions",
    batch_size: int = 128,
) -> torch.Tensor:
    """Zero-shot probabilities (N, n_categories) of images (N, 3, H, W) in [0, 1]."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, H, W) in [0, 1]; got shape {tuple(images.shape)}")
    prompts = category_prompts(categories, style)
    return torch.cat([embedder.classify(images[i : i + batch_size], prompts).float().cpu()
                      for i in range(0, len(images), batch_size)])


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

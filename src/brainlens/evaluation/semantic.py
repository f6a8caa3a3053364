"""Semantic scores of images: zero-shot category accuracy, as BrainDiVE measures its synthesized images,
and MinD-Vis's n-way top-1 (:func:`n_way_top1`, from :mod:`brainlens.identification`) with its ImageNet
classifier (:func:`imagenet_n_way`) or, on in-silico images, the shipped embedder's fine classes
(:func:`fine_class_n_way`).

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

__all__ = ["BRAINDIVE_CATEGORIES", "category_accuracy", "fine_class_n_way", "imagenet_n_way", "n_way_top1"]

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


@torch.no_grad()
def fine_class_n_way(truth, recon, embedder="embedder", *, n: int = 50, trials: int = 1000, seed: int = 0,
                     batch_size: int = 128) -> dict:
    """MinD-Vis's n-way top-1 on in-silico images, the shipped embedder's zero-shot classifier over the in-silico
    fine classes (``stimuli.FINE_CLASSES``) standing in for its ImageNet classifier.

    The classifier's label of each seen image is its class (as MinD-Vis labels its ground truths); each
    reconstruction's probabilities are then scored by :func:`n_way_top1`. truth: N images, uint8 (N, H, W, 3) or
    float (N, 3, H, W) in [0, 1]; recon: the same, or S samples per brain, uint8 (N, S, H, W, 3) or float
    (N, S, 3, H, W). Returns :func:`n_way_top1`'s dict and ``n_classes``.
    """
    from brainlens.insilico.stimuli import FINE_CLASSES
    from brainlens.models.embedder import fine_class_probabilities, load_embedder

    if isinstance(embedder, str):
        embedder = load_embedder(embedder).eval()
    result = _n_way(lambda images: fine_class_probabilities(embedder, images, batch_size=batch_size), truth, recon, n, trials, seed)
    result["n_classes"] = len(FINE_CLASSES)
    return result


@torch.no_grad()
def imagenet_n_way(truth, recon, classifier=None, *, n: int = 50, trials: int = 1000, seed: int = 0, device="cpu",
                   batch_size: int = 8) -> dict:
    """MinD-Vis's n-way top-1 with its classifier, torchvision's ImageNet ViT-H/14 (SWAG, end-to-end, 518 px).

    ``classifier``: a :class:`~brainlens.models.vit.VisionTransformer`, or the weights file or folder (default
    torch.hub's cache; see :func:`~brainlens.models.vit.load_vit_h_14`). Images as for :func:`fine_class_n_way`, any
    size (each is resized and centre-cropped as the weights expect). Returns :func:`n_way_top1`'s dict and
    ``n_classes``. About 1 TFLOP an image: use a GPU (``device``) for more than a few dozen.
    """
    from brainlens.models.vit import load_vit_h_14

    if not isinstance(classifier, torch.nn.Module):
        classifier = load_vit_h_14(classifier)
    classifier = classifier.to(device).eval()

    def probabilities(images: torch.Tensor) -> torch.Tensor:
        return torch.cat([classifier.probabilities(images[start : start + batch_size].to(device)).cpu()
                          for start in range(0, len(images), batch_size)])

    result = _n_way(probabilities, truth, recon, n, trials, seed)
    result["n_classes"] = int(classifier.heads.head.out_features)
    return result


def _n_way(probabilities_of, truth, recon, n: int, trials: int, seed: int) -> dict:
    """n-way top-1 of reconstructions (N or (N, S) images) against the classes that ``probabilities_of`` (float images
    (M, 3, H, W) in [0, 1] → (M, C)) gives the seen images."""
    from brainlens.insilico.stimuli import to_tensor

    truth = to_tensor(truth)
    samples_axis = recon.ndim == 5
    if samples_axis:  # (N, S, ...) → (N · S, ...) and back after classifying
        n_brains, n_samples = recon.shape[:2]
        recon = recon.reshape(n_brains * n_samples, *recon.shape[2:])
    recon = to_tensor(recon)
    if len(truth) != (n_brains if samples_axis else len(recon)):
        raise ValueError(f"truth and recon must hold the same number of brains; got {len(truth)} and "
                         f"{n_brains if samples_axis else len(recon)}.")
    labels = probabilities_of(truth).argmax(1).numpy()
    probabilities = probabilities_of(recon)
    if samples_axis:
        probabilities = probabilities.view(n_brains, n_samples, -1)
    return n_way_top1(probabilities, labels, n=n, trials=trials, seed=seed)

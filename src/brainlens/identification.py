"""Identification and retrieval scores on paired vectors: which of the true items a prediction points to.

These are formulas on arrays, with no network or image in them, so they sit at the bottom beside
:mod:`brainlens.reliability`: the shipped models' own checks use them, and :mod:`brainlens.evaluation`
applies them to image features, brain embeddings and classifier outputs (and lists them among its own).

- :func:`two_way_identification`: MindEye's exhaustive 2-way identification from feature correlations.
- :func:`retrieval_top1`: MindEye's image and brain retrieval among 300, over 30 random draws.
- :func:`n_way_top1`: MinD-Vis's n-way top-1 of a classifier's probabilities.

Each takes numpy arrays or torch tensors (on any device) and computes in float64.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["correlation_matrix", "paired_correlation", "two_way_identification", "retrieval_top1", "n_way_top1"]

# two-sided 95 % quantile of the standard normal: MindEye's interval is mean ± this × standard error
_Z95 = 1.959963984540054


def _as_rows(values, name: str) -> torch.Tensor:
    """Any (n, ...) array or tensor → (n, d) float64 tensor on its own device; NaN or inf is refused."""
    tensor = values if isinstance(values, torch.Tensor) else torch.as_tensor(np.ascontiguousarray(values))
    if tensor.ndim < 2:
        raise ValueError(f"{name} must have shape (n, ...) with one row per item; got shape {tuple(tensor.shape)}.")
    tensor = tensor.reshape(len(tensor), -1).double()
    bad = ~torch.isfinite(tensor)
    if bad.any():
        row = int(bad.any(1).nonzero()[0])
        raise ValueError(f"{name} holds NaN or infinite values (first in row {row}); {int(bad.any(1).sum())} rows affected.")
    return tensor


def _check_pairs(truth: torch.Tensor, recon: torch.Tensor, names: tuple[str, str]) -> None:
    if truth.shape != recon.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, one row per pair; "
                         f"got {tuple(truth.shape)} and {tuple(recon.shape)}.")
    if len(truth) < 2:
        raise ValueError(f"identification needs at least 2 pairs; {len(truth)} was provided.")


def _unit_centred(rows: torch.Tensor) -> torch.Tensor:
    """Each row (n, d) minus its mean, scaled to unit norm: dot products of such rows are Pearson correlations.
    A constant row stays 0, so its correlations are 0 rather than NaN."""
    centred = rows - rows.mean(1, keepdim=True)
    return centred / centred.norm(dim=1, keepdim=True).clamp_min(1e-300)


def correlation_matrix(a, b) -> torch.Tensor:
    """Pearson correlation of every row of ``a`` (n, ...) with every row of ``b`` (m, ...): (n, m) float64.

    A constant row has no correlation; it gives 0 rather than NaN.
    """
    a, b = _as_rows(a, "a"), _as_rows(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same number of values per row; got {a.shape[1]} and {b.shape[1]}.")
    return _unit_centred(a) @ _unit_centred(b.to(a.device)).T


def paired_correlation(a, b, names: tuple[str, str] = ("a", "b")) -> torch.Tensor:
    """Pearson correlation of each row of ``a`` (n, ...) with the same row of ``b`` (n, ...): (n,) float64.

    Rows are flattened; a constant row gives 0 rather than NaN. ``names`` name the two in errors.
    """
    a, b = _as_rows(a, names[0]), _as_rows(b, names[1])
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, one row per pair; "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}.")
    return (_unit_centred(a) * _unit_centred(b.to(a.device))).sum(1)


def two_way_identification(truth_features, recon_features, *, per_image: bool = False):
    """2-way identification as MindEye scores it, exhaustive over all pairs.

    ``r[i, j]`` is the Pearson correlation of the features of ground truth i with those of
    reconstruction j; for each j, the fraction of the other ground truths i ≠ j with
    ``r[i, j] < r[j, j]``; the mean over j. Chance is 0.5.

    truth_features, recon_features: (n, ...) one row per pair, flattened. Returns the mean (float) or,
    with ``per_image=True``, ``(mean, per-reconstruction fractions (n,) ndarray)``.

    >>> two_way_identification(np.eye(3), np.eye(3))
    1.0
    """
    truth, recon = _as_rows(truth_features, "truth_features"), _as_rows(recon_features, "recon_features")
    _check_pairs(truth, recon, ("truth_features", "recon_features"))
    r = _unit_centred(truth) @ _unit_centred(recon.to(truth.device)).T  # (n truths, n recons) Pearson r
    own = r.diagonal()  # r[j, j]
    beaten = (r < own[None, :]).sum(0)  # per j: the i with r[i, j] < r[j, j]; i = j never counts
    fractions = (beaten.double() / (len(r) - 1)).cpu().numpy()
    mean = float(fractions.mean())
    return (mean, fractions) if per_image else mean


def retrieval_top1(brain_embeddings, image_embeddings, n: int = 300, trials: int = 30, seed: int = 0) -> dict:
    """Image and brain retrieval top-1 as MindEye measures it.

    Each trial draws ``n`` test pairs at random (without replacement); embeddings are flattened and
    L2-normalised, and compared by cosine similarity. *Image retrieval*: for each brain embedding, is its
    own image's embedding the most similar of the ``n``? *Brain retrieval*: for each image, is its own
    brain embedding the most similar? Chance is 1/n.

    brain_embeddings, image_embeddings: (N, ...) one row per test image, N ≥ n.

    Returns ``{"image_top1", "brain_top1"}`` (means over trials), each with ``*_ci95`` (MindEye's normal
    interval: mean ± 1.96 × standard deviation over trials / √trials), ``*_trials`` (each trial's
    accuracy), and ``n``, ``trials``, ``chance``.
    """
    brain, image = _as_rows(brain_embeddings, "brain_embeddings"), _as_rows(image_embeddings, "image_embeddings")
    if brain.shape != image.shape:
        raise ValueError(f"brain_embeddings and image_embeddings must have the same shape; got {tuple(brain.shape)} "
                         f"and {tuple(image.shape)}.")
    if not 2 <= n <= len(brain):
        raise ValueError(f"n must be between 2 and the number of test pairs ({len(brain)}); n={n!r} was provided.")
    if trials < 1:
        raise ValueError(f"trials must be at least 1; {trials!r} was provided.")
    brain = torch.nn.functional.normalize(brain, dim=1)
    image = torch.nn.functional.normalize(image, dim=1)
    generator = torch.Generator().manual_seed(seed)
    image_hits, brain_hits = [], []
    for _ in range(trials):
        picked = torch.randperm(len(brain), generator=generator)[:n].to(brain.device)
        similarity = brain[picked] @ image[picked].T  # (n brains, n images)
        own = torch.arange(n, device=brain.device)
        image_hits.append(float((similarity.argmax(1) == own).double().mean()))
        brain_hits.append(float((similarity.argmax(0) == own).double().mean()))
    result = {"n": n, "trials": trials, "chance": 1.0 / n}
    for name, hits in (("image_top1", image_hits), ("brain_top1", brain_hits)):
        mean = float(np.mean(hits))
        half = _Z95 * float(np.std(hits)) / math.sqrt(trials)
        result[name] = mean
        result[f"{name}_ci95"] = [mean - half, mean + half]
        result[f"{name}_trials"] = hits
    return result


def n_way_top1(probabilities, true_classes, n: int = 50, trials: int = 1000, seed: int = 0) -> dict:
    """n-way top-1 as MinD-Vis measures it.

    For each generated image, the true class (the classifier's label of its ground-truth image) and
    ``n − 1`` other classes drawn at random (``trials`` times); a trial succeeds when the true class has
    the highest probability of the ``n`` (a tie counts as success, as in MinD-Vis's top-k). Chance is 1/n.

    probabilities: (N, C) a classifier's softmax for each generated image, or (N, S, C) for S samples per
    brain; true_classes: (N,) ints in [0, C). Returns ``{"mean", "max", "per_image_mean", "per_image_max",
    "n", "trials", "chance"}``: per brain the mean and the max over its samples of the success rate, then
    averaged over brains (equal when S = 1).
    """
    probs = probabilities if isinstance(probabilities, torch.Tensor) else torch.as_tensor(np.ascontiguousarray(probabilities))
    probs = probs.double()
    if probs.ndim == 2:
        probs = probs[:, None, :]
    if probs.ndim != 3:
        raise ValueError(f"probabilities must be (N, C) or (N, samples, C); got shape {tuple(probs.shape)}.")
    if not torch.isfinite(probs).all():
        raise ValueError("probabilities hold NaN or infinite values.")
    n_images, _, n_classes = probs.shape
    classes = torch.as_tensor(np.asarray(true_classes)).long().to(probs.device)
    if classes.shape != (n_images,):
        raise ValueError(f"true_classes must be ({n_images},), one per brain; got shape {tuple(classes.shape)}.")
    if n_images and (classes.min() < 0 or classes.max() >= n_classes):
        raise ValueError(f"true_classes must be in [0, {n_classes}); found {int(classes.min())}..{int(classes.max())}.")
    if not 2 <= n <= n_classes:
        raise ValueError(f"n must be between 2 and the number of classes ({n_classes}); n={n!r} was provided.")
    if trials < 1:
        raise ValueError(f"trials must be at least 1; {trials!r} was provided.")
    generator = torch.Generator().manual_seed(seed)
    rates = torch.empty(probs.shape[:2], dtype=torch.float64)  # (N, S)
    for i in range(n_images):
        true = int(classes[i])
        others = torch.cat([torch.arange(true), torch.arange(true + 1, n_classes)]).to(probs.device)  # (C - 1,)
        # n - 1 distinct other classes per trial: the first n - 1 of a random order of the others
        order = torch.rand(trials, n_classes - 1, generator=generator).argsort(1)[:, : n - 1].to(probs.device)
        drawn = others[order]  # (trials, n - 1)
        rival = probs[i][:, drawn].amax(-1)  # (S, trials)
        rates[i] = (probs[i][:, true, None] >= rival).double().mean(1).cpu()
    per_mean, per_max = rates.mean(1).numpy(), rates.amax(1).numpy()
    return {
        "mean": float(per_mean.mean()) if n_images else float("nan"),
        "max": float(per_max.mean()) if n_images else float("nan"),
        "per_image_mean": per_mean,
        "per_image_max": per_max,
        "n": n,
        "trials": trials,
        "chance": 1.0 / n,
    }

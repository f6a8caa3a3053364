"""MindEye's contrastive losses between brain embeddings and image targets.

Both compare flattened, L2-normalised embeddings in a batch: ``preds`` (B, d) from the brain, ``targets``
(B, d) from the images, with logits ``preds · targetsᵀ / τ``.

- **BiMixCo** (the first third of training): about half the batch's voxel vectors are mixed with a partner,
  ``x ← β x + (1 − β) x_perm``, β ~ Beta(0.15, 0.15) (:func:`mixco`); the soft labels put β on the own image and
  1 − β on the partner's; cross-entropy in both directions (:func:`mixco_nce`), τ = 0.006.
- **SoftCLIP** (the rest): soft labels from the targets' own similarities, softmax(t tᵀ / τ), against the
  brain→image and image→brain log-softmax (:func:`soft_clip_loss`); τ follows a cosine from 0.004 up to 0.0075
  over the SoftCLIP epochs (:func:`soft_clip_temperature`).
"""

from __future__ import annotations

import math

import torch

__all__ = ["MIXCO_TEMPERATURE", "mixco", "mixco_nce", "soft_clip_loss", "soft_clip_temperature"]

MIXCO_TEMPERATURE = 0.006  # MindEye's BiMixCo temperature


def mixco(voxels: torch.Tensor, beta: float = 0.15, mix_prob: float = 0.5):
    """Mix a random subset of the batch's voxels with a permuted partner (MindEye's MixCo augmentation).

    voxels (B, V) → (mixed voxels (B, V), perm (B,), betas (B,), selected (B,) bool); an unmixed row keeps
    β = 1. The input is not modified. Draws from torch's global generator (a training run seeds it and saves
    its state with each checkpoint).
    """
    n = len(voxels)
    perm = torch.randperm(n).to(voxels.device)
    betas = torch.distributions.Beta(beta, beta).sample((n,)).to(voxels.device, voxels.dtype)
    selected = (torch.rand(n) <= mix_prob).to(voxels.device)
    betas = torch.where(selected, betas, torch.ones_like(betas))
    mixed = voxels * betas[:, None] + voxels[perm] * (1 - betas[:, None])
    return mixed, perm, betas, selected


def mixco_nce(preds: torch.Tensor, targets: torch.Tensor, perm: torch.Tensor, betas: torch.Tensor,
              temperature: float = MIXCO_TEMPERATURE) -> torch.Tensor:
    """BiMixCo: cross-entropy of the brain→image and image→brain logits against the mixing's soft labels.

    preds, targets: (B, d) L2-normalised; perm, betas from :func:`mixco` (unmixed rows: β = 1).
    """
    logits = preds @ targets.T / temperature  # (B brains, B images)
    labels = torch.diag(betas)
    rows = torch.arange(len(preds), device=preds.device)
    labels[rows, perm] = labels[rows, perm] + (1 - betas)  # a row mixed with itself keeps all its mass
    forward = -(logits.log_softmax(-1) * labels).sum(-1).mean()
    backward = -(logits.T.log_softmax(-1) * labels.T).sum(-1).mean()
    return (forward + backward) / 2


def soft_clip_loss(preds: torch.Tensor, targets: torch.Tensor, temperature: float) -> torch.Tensor:
    """SoftCLIP: the targets' own similarity softmax as labels for both directions. preds, targets: (B, d)."""
    labels = (targets @ targets.T / temperature).softmax(-1)  # (B, B)
    logits = preds @ targets.T / temperature
    forward = -(logits.log_softmax(-1) * labels).sum(-1).mean()
    backward = -(logits.T.log_softmax(-1) * labels).sum(-1).mean()
    return (forward + backward) / 2


def soft_clip_temperature(epoch: int, first: int, last: int, start: float = 0.004, end: float = 0.0075) -> float:
    """MindEye's SoftCLIP temperature at ``epoch``: a cosine from ``start`` at epoch ``first`` up to ``end`` at
    epoch ``last`` (inclusive)."""
    if last <= first:
        return start
    fraction = min(max((epoch - first) / (last - first), 0.0), 1.0)
    return end + (start - end) / 2 * (1 + math.cos(math.pi * fraction))

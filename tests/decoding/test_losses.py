"""MindEye's contrastive losses against the formulas written out per row."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from brainlens.decoding.losses import mixco, mixco_nce, soft_clip_loss, soft_clip_temperature


def _unit(n, d, seed):
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), dim=1)


def test_soft_clip_loss_matches_the_formula_row_by_row():
    preds, targets, tau = _unit(6, 5, 0), _unit(6, 5, 1), 0.05
    expected = 0.0
    for i in range(6):
        labels = np.exp([float(targets[i] @ targets[j]) / tau for j in range(6)])
        labels /= labels.sum()
        forward = np.array([float(preds[i] @ targets[j]) / tau for j in range(6)])
        backward = np.array([float(preds[j] @ targets[i]) / tau for j in range(6)])
        log_forward = forward - np.log(np.exp(forward).sum())
        log_backward = backward - np.log(np.exp(backward).sum())
        expected += -(labels * log_forward).sum() / 12 - (labels * log_backward).sum() / 12
    assert float(soft_clip_loss(preds, targets, tau)) == pytest.approx(expected, rel=1e-10)


def test_mixco_mixes_about_half_and_labels_follow_the_mix():
    torch.manual_seed(0)
    voxels = torch.randn(400, 7, dtype=torch.float64)
    mixed, perm, betas, selected = mixco(voxels)
    assert 0.4 < selected.double().mean() < 0.6 and torch.all(betas[~selected] == 1)
    np.testing.assert_allclose(mixed, voxels * betas[:, None] + voxels[perm] * (1 - betas[:, None]))
    assert torch.equal(mixed[~selected], voxels[~selected]) and not torch.equal(mixed, voxels)
    # Beta(0.15, 0.15) puts most mass near 0 and 1
    chosen = betas[selected]
    assert ((chosen < 0.1) | (chosen > 0.9)).double().mean() > 0.5


def test_mixco_nce_matches_the_soft_label_cross_entropy():
    preds, targets, tau = _unit(5, 4, 2), _unit(5, 4, 3), 0.1
    perm = torch.tensor([1, 0, 2, 4, 3])
    betas = torch.tensor([0.7, 1.0, 0.4, 0.9, 0.2], dtype=torch.float64)
    labels = np.zeros((5, 5))
    for i in range(5):
        labels[i, i] += float(betas[i])
        labels[i, int(perm[i])] += 1 - float(betas[i])  # row 2 is mixed with itself: all its mass stays
    logits = (preds @ targets.T / tau).numpy()
    log_rows = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    log_cols = logits.T - np.log(np.exp(logits.T).sum(1, keepdims=True))
    expected = (-(log_rows * labels).sum(1).mean() - (log_cols * labels.T).sum(1).mean()) / 2
    assert float(mixco_nce(preds, targets, perm, betas, tau)) == pytest.approx(expected, rel=1e-10)
    assert labels[2, 2] == pytest.approx(1.0)


def test_soft_clip_temperature_follows_mindeyes_cosine():
    assert soft_clip_temperature(20, 20, 59) == pytest.approx(0.004)
    assert soft_clip_temperature(59, 20, 59) == pytest.approx(0.0075)
    middle = soft_clip_temperature(39.5, 20, 59)
    assert middle == pytest.approx((0.004 + 0.0075) / 2)
    quarter = soft_clip_temperature(20 + 39 / 4, 20, 59)
    assert quarter == pytest.approx(0.0075 + (0.004 - 0.0075) / 2 * (1 + math.cos(math.pi / 4)))

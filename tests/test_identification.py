"""Identification and retrieval scores against plain per-item loops (exact) and closed-form expectations."""

import math

import numpy as np
import pytest
import torch

from brainlens.identification import correlation_matrix, n_way_top1, retrieval_top1, two_way_identification


def test_correlation_matrix_matches_numpy_corrcoef():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 7)), rng.normal(size=(4, 7))
    np.testing.assert_allclose(correlation_matrix(a, b).numpy(), np.corrcoef(a, b)[:5, 5:], atol=1e-12)
    # a constant row has no correlation: 0, not NaN
    assert correlation_matrix(np.ones((1, 7)), b).abs().max() == 0


def test_two_way_identification_against_a_plain_loop():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(12, 2, 3))  # features of any shape are flattened
    recon = truth + rng.normal(scale=1.5, size=truth.shape)
    r = np.corrcoef(truth.reshape(12, -1), recon.reshape(12, -1))[:12, 12:]
    per_recon = [np.mean([r[i, j] < r[j, j] for i in range(12) if i != j]) for j in range(12)]
    mean, fractions = two_way_identification(torch.tensor(truth), recon, per_image=True)
    assert mean == pytest.approx(np.mean(per_recon), abs=1e-12)
    np.testing.assert_allclose(fractions, per_recon, atol=1e-12)
    assert two_way_identification(truth, truth) == 1.0
    # reversed one-hot pairs: only the middle one is its own
    assert two_way_identification(np.eye(3), np.eye(3)[::-1]) == pytest.approx(1 / 3)


def test_two_way_identification_refuses_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        two_way_identification(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="at least 2 pairs"):
        two_way_identification(np.zeros((1, 2)), np.zeros((1, 2)))
    bad = np.random.default_rng(0).normal(size=(4, 3))
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="recon_features holds NaN .*row 2"):
        two_way_identification(np.ones((4, 3)), bad)


def _retrieval_by_loops(brain, image, n, trials, seed):
    """The same draws as the library (torch.randperm from the seed), scored with Python loops."""
    generator = torch.Generator().manual_seed(seed)
    image_hits, brain_hits = [], []
    for _ in range(trials):
        picked = torch.randperm(len(brain), generator=generator)[:n].tolist()
        cos = lambda u, v: float(np.dot(u, v) / np.linalg.norm(u) / np.linalg.norm(v))  # noqa: E731
        sim = [[cos(brain[i], image[j]) for j in picked] for i in picked]
        image_hits.append(np.mean([max(range(n), key=lambda j: sim[a][j]) == a for a in range(n)]))
        brain_hits.append(np.mean([max(range(n), key=lambda i: sim[i][b]) == b for b in range(n)]))
    return image_hits, brain_hits


def test_retrieval_top1_against_a_loop_over_draws():
    rng = np.random.default_rng(1)
    image = rng.normal(size=(40, 6))
    brain = image + rng.normal(scale=1.2, size=image.shape)
    result = retrieval_top1(brain, image, n=15, trials=6, seed=3)
    image_hits, brain_hits = _retrieval_by_loops(brain, image, 15, 6, 3)
    assert result["image_top1_trials"] == pytest.approx(image_hits)
    assert result["brain_top1_trials"] == pytest.approx(brain_hits)
    assert result["image_top1"] == pytest.approx(np.mean(image_hits))
    half = 1.959964 * np.std(brain_hits) / math.sqrt(6)
    assert result["brain_top1_ci95"] == pytest.approx([np.mean(brain_hits) - half, np.mean(brain_hits) + half], abs=1e-6)
    assert result["chance"] == pytest.approx(1 / 15)
    # the two directions differ when the similarity is not symmetric in its use
    assert 0 < result["image_top1"] < 1


def test_retrieval_top1_refuses_bad_input():
    x = np.zeros((10, 3))
    with pytest.raises(ValueError, match="n must be between 2 and the number of test pairs \\(10\\); n=300"):
        retrieval_top1(x, x)
    with pytest.raises(ValueError, match="same shape"):
        retrieval_top1(x, np.zeros((9, 3)), n=5)


def _n_way_by_loop(probs, classes, n, trials, seed):
    """Per image and sample, the same draws as the library, scored one trial at a time."""
    generator = torch.Generator().manual_seed(seed)
    n_classes = probs.shape[-1]
    rates = np.zeros(probs.shape[:2])
    for i, true in enumerate(classes):
        others = [c for c in range(n_classes) if c != true]
        order = torch.rand(trials, n_classes - 1, generator=generator).argsort(1)[:, : n - 1]
        for s in range(probs.shape[1]):
            wins = 0
            for t in range(trials):
                drawn = [others[k] for k in order[t].tolist()]
                wins += all(probs[i, s, true] >= probs[i, s, c] for c in drawn)
            rates[i, s] = wins / trials
    return rates


def test_n_way_top1_against_a_plain_loop():
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(12) * 0.5, size=(5, 3))  # 5 brains, 3 samples each, 12 classes
    classes = rng.integers(0, 12, size=5)
    result = n_way_top1(probs, classes, n=4, trials=50, seed=7)
    rates = _n_way_by_loop(probs, classes, 4, 50, 7)
    assert result["mean"] == pytest.approx(rates.mean(1).mean(), abs=1e-12)
    assert result["max"] == pytest.approx(rates.max(1).mean(), abs=1e-12)
    np.testing.assert_allclose(result["per_image_mean"], rates.mean(1))


def test_n_way_top1_matches_its_closed_form_expectation():
    # With k other classes above the true one, a trial succeeds when none of them is drawn:
    # C(C-1-k, n-1) / C(C-1, n-1). Over many trials the rate converges to it.
    rng = np.random.default_rng(3)
    n_classes, n = 60, 50
    probs = rng.dirichlet(np.ones(n_classes), size=8)
    classes = np.array([np.argsort(p)[::-1][rank] for p, rank in zip(probs, [0, 0, 1, 1, 2, 3, 5, 0])])
    expected = []
    for p, true in zip(probs, classes):
        k = int((p > p[true]).sum())
        expected.append(math.comb(n_classes - 1 - k, n - 1) / math.comb(n_classes - 1, n - 1))
    result = n_way_top1(probs, classes, n=n, trials=4000, seed=0)
    np.testing.assert_allclose(result["per_image_mean"], expected, atol=0.03)
    assert result["mean"] == pytest.approx(np.mean(expected), abs=0.015)


def test_n_way_top1_refuses_bad_input():
    probs = np.full((3, 10), 0.1)
    with pytest.raises(ValueError, match="n must be between 2 and the number of classes \\(10\\); n=50"):
        n_way_top1(probs, [0, 1, 2])
    with pytest.raises(ValueError, match="true_classes must be in \\[0, 10\\)"):
        n_way_top1(probs, [0, 1, 10], n=5)
    with pytest.raises(ValueError, match="one per brain"):
        n_way_top1(probs, [0, 1], n=5)
    probs[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        n_way_top1(probs, [0, 1, 2], n=5)


def test_n_way_top1_counts_a_tie_with_the_true_class_as_success():
    # probabilities rounded to one decimal tie often; the plain loop (>= as MinD-Vis's top-k) is the reference
    rng = np.random.default_rng(5)
    probs = np.round(rng.dirichlet(np.ones(8), size=(4, 2)), 1)
    classes = np.array([np.argmax(p[0]) for p in probs])  # a top class, often tied with others
    assert any((p[0] == p[0, c]).sum() > 1 for p, c in zip(probs, classes))  # there are ties to count
    result = n_way_top1(probs, classes, n=4, trials=40, seed=1)
    rates = _n_way_by_loop(probs, classes, 4, 40, 1)
    np.testing.assert_allclose(result["per_image_mean"], rates.mean(1), atol=1e-12)
    np.testing.assert_allclose(result["per_image_max"], rates.max(1), atol=1e-12)
    # every class equally likely: every trial is a tie, and every tie a success
    assert n_way_top1(np.full((3, 10), 0.1), [0, 4, 9], n=5, trials=20)["mean"] == 1.0

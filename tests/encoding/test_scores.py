import numpy as np
import pytest

from brainlens import reliability
from brainlens.encoding import scores


def test_r2_and_pearson_match_their_definitions():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(50, 4))
    pred = y * [1.0, 0.5, 0.0, -1.0] + rng.normal(scale=0.3, size=(50, 4))
    pred[:, 2] = 1.0  # a constant prediction
    r2 = scores.r2_score(y, pred)
    expected = 1 - ((y - pred) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)
    np.testing.assert_allclose(r2, expected)
    r = scores.pearson_r(y, pred)
    np.testing.assert_allclose(r[[0, 1, 3]], [np.corrcoef(y[:, k], pred[:, k])[0, 1] for k in (0, 1, 3)])
    assert r[2] == 0.0
    assert r[3] < -0.9 and r2[3] < 0


def test_score_inputs_are_checked():
    with pytest.raises(ValueError, match=r"one shape; got \(5, 2\) and \(5, 3\)"):
        scores.r2_score(np.zeros((5, 2)), np.zeros((5, 3)))
    bad = np.zeros((5, 2))
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="y_pred holds a non-finite value nan at sample 3, voxel 1"):
        scores.pearson_r(np.ones((5, 2)), bad)


def test_noise_ceiling_normalisation_and_region_summary():
    ceiling = reliability.noise_ceiling(np.array([1.0, 0.5, 0.0]), n_repeats=3)
    np.testing.assert_allclose(ceiling[:2], [75.0, 100 * 0.25 / (0.25 + 1 / 3)])
    ratio = scores.normalised_by_ceiling(np.array([0.6, 0.1, 0.2]), ceiling)
    np.testing.assert_allclose(ratio[:2], [0.8, 0.1 / (ceiling[1] / 100)])
    assert np.isnan(ratio[2])  # no signal: undefined, not infinite
    summary = scores.region_summary({"ratio": ratio}, {"A": np.array([0, 1]), "B": np.array([2])})
    assert summary["A"] == {"n_voxels": 2, "ratio": pytest.approx(np.median(ratio[:2]))}
    assert summary["B"]["ratio"] is None


def test_algonauts_score_is_the_median_normalised_r_squared_in_percent():
    r = np.array([0.5, 0.3, 0.9, 0.2])
    ceiling = np.array([50.0, 30.0, 0.0, 10.0])
    # 0.25/0.5, 0.09/0.3, 0.04/0.1 → 50 %, 30 %, 40 %; the zero-ceiling vertex is left out
    assert scores.algonauts_score(r, ceiling) == pytest.approx(40.0)
    with pytest.raises(ValueError, match="no vertex has a positive noise ceiling"):
        scores.algonauts_score(r, np.zeros(4))

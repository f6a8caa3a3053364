import numpy as np
import pytest

from brainlens import reliability


def test_ncsnr_from_repeats_matches_a_plain_loop_with_uneven_repeats():
    rng = np.random.default_rng(3)
    trial_image = np.array([0, 1, 1, 2, 2, 2, 3, 3, 0, 4])  # image 4 once; others 2–3 times
    signal = rng.normal(size=(5, 3))
    betas = signal[trial_image] + rng.normal(scale=0.5, size=(10, 3))
    noise = np.mean([betas[trial_image == i].var(0, ddof=1) for i in range(4)], axis=0)
    expected = np.sqrt(np.clip(betas.var(0, ddof=1) - noise, 0, None) / noise)
    np.testing.assert_allclose(reliability.ncsnr_from_repeats(betas, trial_image), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="at least twice"):
        reliability.ncsnr_from_repeats(betas[:3], np.arange(3))

"""Reliability and accuracy scores for voxel responses (definitions in shared METRICS.md)."""

from __future__ import annotations

import numpy as np

__all__ = ["noise_ceiling", "ncsnr_from_repeats"]


def noise_ceiling(ncsnr: np.ndarray, n_repeats: int = 3) -> np.ndarray:
    """NSD's noise ceiling, in percent of variance, for responses averaged over ``n_repeats`` trials.

    NC = 100 · ncsnr² / (ncsnr² + 1 / n_repeats). ncsnr: (V,) → (V,) float64.
    """
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be at least 1; {n_repeats!r} was provided.")
    ncsnr = np.asarray(ncsnr, dtype=np.float64)
    return 100.0 * ncsnr**2 / (ncsnr**2 + 1.0 / n_repeats)


def ncsnr_from_repeats(betas: np.ndarray, trial_image: np.ndarray) -> np.ndarray:
    """Noise-ceiling SNR per voxel from repeated trials, as NSD computes it.

    The noise variance is the mean over images (those shown at least twice) of the variance across
    their repeats; the signal variance is the total variance minus the noise variance, floored at 0;
    ncsnr = sqrt(signal variance / noise variance). betas: (n_trials, V), z-scored per session;
    trial_image: (n_trials,). Returns (V,) float64.
    """
    betas = np.asarray(betas, dtype=np.float64)
    trial_image = np.asarray(trial_image)
    if trial_image.shape != (betas.shape[0],):
        raise ValueError(f"trial_image must be ({betas.shape[0]},) to match betas; got shape {trial_image.shape}.")
    _, inverse, counts = np.unique(trial_image, return_inverse=True, return_counts=True)
    used = counts >= 2
    if not used.any():
        raise ValueError("ncsnr needs images shown at least twice; every image in trial_image appears once.")
    sums = np.zeros((counts.size, betas.shape[1]))
    np.add.at(sums, inverse, betas)
    residual = betas - (sums / counts[:, None])[inverse]
    squares = np.zeros_like(sums)
    np.add.at(squares, inverse, residual**2)
    # unbiased variance across repeats, averaged over the images shown more than once
    noise_var = (squares[used] / (counts[used] - 1)[:, None]).mean(0)
    total_var = betas.var(axis=0, ddof=1)
    signal_var = np.clip(total_var - noise_var, 0, None)
    return np.sqrt(signal_var / np.maximum(noise_var, 1e-12))

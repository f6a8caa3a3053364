"""How reliable each voxel is: NSD's noise-ceiling SNR from repeated trials and the noise ceiling it gives.

These describe the data, not a model, so they sit beside the store: the in-silico subject writes its
ncsnr with them, and encoders are scored against the ceiling (:mod:`brainlens.encoding.scores`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ncsnr_from_repeats", "noise_ceiling"]


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
    import torch

    betas = torch.as_tensor(np.asarray(betas, dtype=np.float32))
    trial_image = np.asarray(trial_image)
    if trial_image.shape != (betas.shape[0],):
        raise ValueError(f"trial_image must be ({betas.shape[0]},) to match betas; got shape {trial_image.shape}.")
    _, inverse, counts = np.unique(trial_image, return_inverse=True, return_counts=True)
    used = counts >= 2
    if not used.any():
        raise ValueError("ncsnr needs images shown at least twice; every image in trial_image appears once.")
    # per-image sums by scatter-add: memory-bound passes over the betas, multi-threaded by torch
    inverse = torch.from_numpy(inverse.reshape(-1))
    counts_t = torch.from_numpy(counts).to(betas.dtype)[:, None]
    means = torch.zeros(counts.size, betas.shape[1]).index_add_(0, inverse, betas) / counts_t
    squares = torch.zeros(counts.size, betas.shape[1]).index_add_(0, inverse, (betas - means[inverse]).square_())
    # unbiased variance across repeats, averaged over the images shown more than once
    noise_var = (squares[torch.from_numpy(used)].double() / (counts_t[torch.from_numpy(used)].double() - 1)).mean(0).numpy()
    total_var = betas.double().var(0).numpy()
    signal_var = np.clip(total_var - noise_var, 0, None)
    return np.sqrt(signal_var / np.maximum(noise_var, 1e-12))

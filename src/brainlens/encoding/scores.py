"""Reliability and accuracy scores for voxel responses (definitions in shared METRICS.md)."""

from __future__ import annotations

import numpy as np

__all__ = [
    "noise_ceiling",
    "ncsnr_from_repeats",
    "r2_score",
    "pearson_r",
    "normalised_by_ceiling",
    "region_summary",
    "algonauts_score",
]


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


def _check_pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.ndim != 2 or y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must be (n_samples, n_voxels) of one shape; got {y_true.shape} and {y_pred.shape}."
        )
    if y_true.shape[0] < 2:
        raise ValueError(f"scores need at least 2 samples; got {y_true.shape[0]}.")
    for name, array in (("y_true", y_true), ("y_pred", y_pred)):
        if not np.isfinite(array).all():
            row, col = np.argwhere(~np.isfinite(array))[0]
            raise ValueError(f"{name} holds a non-finite value {array[row, col]} at sample {row}, voxel {col}.")
    return y_true, y_pred


def r2_score(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-voxel coefficient of determination, 1 - SSE / SST: (n, V), (n, V) → (V,); 0 for a constant voxel."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    sse = ((y_true - y_pred) ** 2).sum(0)
    sst = ((y_true - y_true.mean(0)) ** 2).sum(0)
    return np.where(sst > 0, 1.0 - sse / np.where(sst > 0, sst, 1.0), 0.0)


def pearson_r(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-voxel Pearson correlation: (n, V), (n, V) → (V,); 0 where either side is constant."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    a = y_true - y_true.mean(0)
    b = y_pred - y_pred.mean(0)
    norm = np.sqrt((a**2).sum(0) * (b**2).sum(0))
    return np.where(norm > 0, (a * b).sum(0) / np.where(norm > 0, norm, 1.0), 0.0)


def normalised_by_ceiling(explained: np.ndarray, ceiling_percent: np.ndarray, min_ceiling: float = 1.0) -> np.ndarray:
    """A fraction of explained variance (R² or r²) over the noise ceiling: explained / (NC / 100).

    Voxels whose ceiling is below ``min_ceiling`` percent get NaN: their ratio is noise over noise.
    (V,), (V,) → (V,) float64.
    """
    explained = np.asarray(explained, dtype=np.float64)
    ceiling = np.asarray(ceiling_percent, dtype=np.float64)
    if explained.shape != ceiling.shape:
        raise ValueError(f"scores {explained.shape} and noise ceilings {ceiling.shape} must have one shape.")
    usable = ceiling >= min_ceiling
    return np.where(usable, explained / np.where(usable, ceiling / 100.0, 1.0), np.nan)


def region_summary(values: dict[str, np.ndarray], regions: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Median of each per-voxel score within each region, ignoring NaN.

    values: {score name: (V,)}; regions: {region name: voxel indices}. Returns
    {region: {"n_voxels": k, score name: median, ...}}; a median over no finite values is None.
    """
    summary: dict[str, dict[str, float]] = {}
    for region, index in regions.items():
        entry: dict[str, float] = {"n_voxels": int(len(index))}
        for name, per_voxel in values.items():
            finite = np.asarray(per_voxel)[index]
            finite = finite[np.isfinite(finite)]
            entry[name] = float(np.median(finite)) if finite.size else None
        summary[region] = entry
    return summary


def algonauts_score(r: np.ndarray, ceiling_percent: np.ndarray) -> float:
    """Algonauts 2023's challenge score: the median over vertices of 100 · r² / (NC / 100), in percent.

    Vertices with a zero noise ceiling are left out (their ratio is undefined); ratios above 100 %
    are kept as they are, as the challenge did.
    """
    ratio = normalised_by_ceiling(np.asarray(r, dtype=np.float64) ** 2, ceiling_percent, min_ceiling=1e-9)
    ratio = ratio[np.isfinite(ratio)]
    if ratio.size == 0:
        raise ValueError("no vertex has a positive noise ceiling: the Algonauts score is undefined.")
    return float(100.0 * np.median(ratio))

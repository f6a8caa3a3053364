"""Accuracy scores for voxel responses (definitions in shared METRICS.md); the noise ceiling they are
normalised by is :mod:`brainlens.reliability`'s."""

from __future__ import annotations

import numpy as np

__all__ = [
    "r2_score",
    "pearson_r",
    "normalised_by_ceiling",
    "region_summary",
    "algonauts_score",
]


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

"""The ridge baseline (Brain-Diffuser's decoder): one linear map from voxels to the flattened target tokens.

Fitted in closed form on the train split's repeat-averaged betas; the penalty is chosen from a grid by the
validation split's retrieval top-1 (never the test split). Its predictions are compared with the targets
exactly as MindEye's projector outputs are, so every figure has a side-by-side baseline.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from brainlens.identification import retrieval_top1
from brainlens.store import average_repeats

__all__ = ["RidgeDecoder", "fit_ridge_decoder", "RIDGE_ALPHAS"]

# penalties tried, relative to the mean eigenvalue of the centred voxel Gram matrix
RIDGE_ALPHAS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


class RidgeDecoder(nn.Module):
    """voxels (B, V) → predicted target tokens (B, n_tokens, dim): ``(voxels − voxel_mean) @ weight + bias``."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, voxel_mean: torch.Tensor, n_tokens: int, dim: int):
        super().__init__()
        self.register_buffer("weight", weight.float())  # (V, n_tokens · dim)
        self.register_buffer("bias", bias.float())  # (n_tokens · dim,)
        self.register_buffer("voxel_mean", voxel_mean.float())  # (V,)
        self.n_tokens, self.dim = int(n_tokens), int(dim)

    @property
    def n_voxels(self) -> int:
        return int(self.weight.shape[0])

    def forward(self, voxels: torch.Tensor) -> torch.Tensor:
        if voxels.ndim != 2 or voxels.shape[1] != self.n_voxels:
            raise ValueError(f"voxels must be (batch, {self.n_voxels}); got {tuple(voxels.shape)}.")
        return ((voxels - self.voxel_mean) @ self.weight + self.bias).view(len(voxels), self.n_tokens, self.dim)


def fit_ridge_decoder(trial_betas: np.ndarray, trial_image: np.ndarray, train_targets: np.ndarray,
                      val_betas: np.ndarray, val_targets: np.ndarray, *, alphas: Sequence[float] = RIDGE_ALPHAS,
                      seed: int = 0) -> tuple[RidgeDecoder, dict]:
    """Fit on the train split's repeat-averaged betas; choose the penalty by validation retrieval.

    trial_betas (n_trials, V), trial_image (n_trials,) rows of train_targets (n_train, T, D); val_betas
    (n_val, V), val_targets (n_val, T, D). Returns the decoder and ``{"alpha", "alphas", "val_image_top1"
    (per alpha), ...}``.
    """
    n_train, n_tokens, dim = train_targets.shape
    _, averaged, _ = average_repeats(trial_betas, trial_image)  # rows 0..n_train-1, each image's trials averaged
    x = torch.from_numpy(averaged.astype(np.float64))  # (n_train, V)
    y = torch.from_numpy(train_targets.reshape(n_train, -1).astype(np.float64))
    x_mean, y_mean = x.mean(0), y.mean(0)
    u, s, vt = torch.linalg.svd(x - x_mean, full_matrices=False)
    projected = u.T @ (y - y_mean)  # (rank, T·D)
    scale = float((s**2).mean())
    val_x = torch.from_numpy(val_betas.astype(np.float64)) - x_mean
    n_val = len(val_betas)
    scores, weights = [], []
    for alpha in alphas:
        weight = vt.T @ ((s / (s**2 + alpha * scale))[:, None] * projected)  # (V, T·D)
        prediction = (val_x @ weight + y_mean).numpy()
        retrieval = retrieval_top1(prediction, val_targets.reshape(n_val, -1), n=min(300, n_val), trials=10, seed=seed)
        scores.append((retrieval["image_top1"] + retrieval["brain_top1"]) / 2)
        weights.append(weight)
    best = int(np.argmax(scores))
    decoder = RidgeDecoder(weights[best], y_mean, x_mean, n_tokens, dim)
    return decoder, {"alpha": alphas[best], "alphas": list(alphas), "val_mean_top1": [round(v, 4) for v in scores]}

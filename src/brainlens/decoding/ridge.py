"""The ridge baseline (Brain-Diffuser's decoder): linear maps from voxels to each thing a decoder predicts.

Fitted in closed form on the train split's repeat-averaged betas, one singular value decomposition shared
by every map. Each map's penalty is chosen from a grid on the validation split (never the test split):

- the target tokens, by retrieval top-1 — compared with the targets exactly as MindEye's projector outputs
  are, so every retrieval figure has a side-by-side baseline;
- with a generator, its conditioning embedding (by mean cosine similarity) and its VAE latent (by mean squared
  error): Brain-Diffuser's two ridge maps, which feed the same reconstruction as MindEye's prior and
  low-level head.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from brainlens.identification import retrieval_top1
from brainlens.store import average_repeats

__all__ = ["RidgeDecoder", "fit_ridge_decoder", "RIDGE_ALPHAS"]

# penalties tried, relative to the mean eigenvalue of the centred voxel Gram matrix
RIDGE_ALPHAS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
# what the optional maps predict: the generator's conditioning embedding and its VAE latent
HEADS = ("embedding", "latent")


class RidgeDecoder(nn.Module):
    """voxels (B, V) → predicted target tokens (B, n_tokens, dim): ``(voxels − voxel_mean) @ weight + bias``; with
    a generator also its embedding (B, 1, D) and latent (B, C, h, w) through :meth:`predict`."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, voxel_mean: torch.Tensor, n_tokens: int, dim: int,
                 heads: dict[str, tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]] | None = None):
        super().__init__()
        self.register_buffer("weight", weight.float())  # (V, n_tokens · dim)
        self.register_buffer("bias", bias.float())  # (n_tokens · dim,)
        self.register_buffer("voxel_mean", voxel_mean.float())  # (V,)
        self.n_tokens, self.dim = int(n_tokens), int(dim)
        self.head_shapes: dict[str, tuple[int, ...]] = {}
        for name, (head_weight, head_bias, shape) in (heads or {}).items():
            if name not in HEADS:
                raise ValueError(f"unknown ridge head {name!r}; heads: {list(HEADS)}")
            self.register_buffer(f"{name}_weight", head_weight.float())  # (V, prod(shape))
            self.register_buffer(f"{name}_bias", head_bias.float())
            self.head_shapes[name] = tuple(int(v) for v in shape)

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], n_tokens: int, dim: int,
                     head_shapes: dict[str, tuple[int, ...]]) -> RidgeDecoder:
        """The decoder saved as ``state_dict()``; ``head_shapes`` gives each map's output shape (from the generator
        recorded in the decoder's config)."""
        heads = {name: (tensors[f"{name}_weight"], tensors[f"{name}_bias"], shape) for name, shape in head_shapes.items()}
        return cls(tensors["weight"], tensors["bias"], tensors["voxel_mean"], n_tokens, dim, heads)

    @property
    def n_voxels(self) -> int:
        return int(self.weight.shape[0])

    def _centred(self, voxels: torch.Tensor) -> torch.Tensor:
        if voxels.ndim != 2 or voxels.shape[1] != self.n_voxels:
            raise ValueError(f"voxels must be (batch, {self.n_voxels}); got {tuple(voxels.shape)}.")
        return voxels - self.voxel_mean

    def forward(self, voxels: torch.Tensor) -> torch.Tensor:
        return (self._centred(voxels) @ self.weight + self.bias).view(len(voxels), self.n_tokens, self.dim)

    def head(self, voxels: torch.Tensor, name: str) -> torch.Tensor:
        """The ``name`` map ("embedding" or "latent") of voxels (B, V) → (B, *its shape)."""
        if name not in self.head_shapes:
            raise ValueError(f"this ridge decoder has no {name!r} map (fitted without a generator); it has {list(self.head_shapes)}.")
        centred = self._centred(voxels)
        return (centred @ getattr(self, f"{name}_weight") + getattr(self, f"{name}_bias")).view(len(voxels), *self.head_shapes[name])


class RidgePath:
    """Ridge solutions of one design matrix for any targets and penalties, from one SVD of the centred voxels."""

    def __init__(self, x: torch.Tensor):
        self.x_mean = x.mean(0)
        self.u, self.s, self.vt = torch.linalg.svd(x - self.x_mean, full_matrices=False)
        self.scale = float((self.s**2).mean())

    def best(self, y: np.ndarray, val_x: torch.Tensor, score: Callable[[np.ndarray], float],
             alphas: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor, int, list[float]]:
        """(weight (V, K), bias (K,), index of the best alpha, scores) for targets y (n, K); higher score is better."""
        y = torch.from_numpy(y.reshape(len(y), -1).astype(np.float64))
        y_mean = y.mean(0)
        projected = self.u.T @ (y - y_mean)  # (rank, K)
        centred_val = val_x - self.x_mean
        scores, weights = [], []
        for alpha in alphas:
            weight = self.vt.T @ ((self.s / (self.s**2 + alpha * self.scale))[:, None] * projected)  # (V, K)
            scores.append(score((centred_val @ weight + y_mean).numpy()))
            weights.append(weight)
        best = int(np.argmax(scores))
        return weights[best], y_mean, best, scores


def fit_ridge_decoder(data, *, alphas: Sequence[float] = RIDGE_ALPHAS, seed: int = 0) -> tuple[RidgeDecoder, dict]:
    """Fit on the train split's repeat-averaged betas of ``data`` (a :class:`brainlens.decoding.data.TrainingData`);
    choose each map's penalty on its validation split.

    Returns the decoder and ``{"alpha", "alphas", "val_mean_top1" (per alpha), and with a generator
    "embedding_alpha", "val_embedding_cosine", "latent_alpha", "val_latent_mse"}``."""
    n_train, n_tokens, dim = data.train_targets.shape
    n_val = len(data.val_betas)
    _, averaged, _ = average_repeats(data.trial_betas, data.trial_image)  # rows 0..n_train-1, each image's trials averaged
    path = RidgePath(torch.from_numpy(averaged.astype(np.float64)))
    val_x = torch.from_numpy(data.val_betas.astype(np.float64))
    val_targets = data.val_targets.reshape(n_val, -1)

    def retrieval(prediction: np.ndarray) -> float:
        result = retrieval_top1(prediction, val_targets, n=min(300, n_val), trials=10, seed=seed)
        return (result["image_top1"] + result["brain_top1"]) / 2

    weight, bias, best, scores = path.best(data.train_targets, val_x, retrieval, alphas)
    info = {"alpha": alphas[best], "alphas": list(alphas), "val_mean_top1": [round(v, 4) for v in scores]}
    heads = {}
    if data.train_embeddings is not None:
        val_embeddings = torch.from_numpy(data.val_embeddings.reshape(n_val, -1))

        def cosine(prediction: np.ndarray) -> float:
            return float(F.cosine_similarity(torch.from_numpy(prediction).float(), val_embeddings, dim=-1).mean())

        def negative_mse(prediction: np.ndarray) -> float:
            return -float(np.mean((prediction - data.val_latents.reshape(n_val, -1)) ** 2))

        for name, train_values, score, label in (("embedding", data.train_embeddings, cosine, "val_embedding_cosine"),
                                                 ("latent", data.train_latents, negative_mse, "val_latent_mse")):
            head_weight, head_bias, head_best, head_scores = path.best(train_values, val_x, score, alphas)
            heads[name] = (head_weight, head_bias, train_values.shape[1:])
            info[f"{name}_alpha"] = alphas[head_best]
            info[label] = round(abs(head_scores[head_best]), 5)
    return RidgeDecoder(weight, bias, path.x_mean, n_tokens, dim, heads), info

"""What brain-guided synthesis maximises: objectives over an encoder's predicted voxels.

An objective maps predicted responses ``(batch, n_voxels)`` of an encoder to one score per image
``(batch,)``. The encoder predicts a subset of a store's voxels (its ``voxel_index``); objectives are
built against that encoder, so a region name becomes the encoder's own columns.

>>> target = RegionMean.from_store(encoder, "sub1.h5", "FFA-1")
>>> contrast = Contrast(RegionMean.from_store(encoder, store, "OPA-anterior"),
...                     RegionMean.from_store(encoder, store, "OPA-posterior"))
>>> guidance = BrainGuidance(encoder, target, scale=100.0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from brainlens.store import Store, open_store

__all__ = ["Objective", "RegionMean", "Contrast", "SingleVoxel", "CustomObjective", "BrainGuidance", "rerank"]


class Objective:
    """Predicted voxels (batch, n_voxels) → score per image (batch,); higher is what synthesis seeks."""

    name: str = "objective"

    def __call__(self, predicted: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def _encoder_columns(encoder: nn.Module, store_voxels: np.ndarray, what: str) -> torch.Tensor:
    """Positions in the encoder's output of these store voxels; all of them must be predicted."""
    index = encoder.voxel_index.detach().cpu().numpy()
    position = {int(v): k for k, v in enumerate(index)}
    columns = [position[int(v)] for v in store_voxels if int(v) in position]
    if not columns:
        raise ValueError(f"the encoder predicts none of the voxels of {what}: fit it on those voxels first")
    if len(columns) < len(store_voxels):
        raise ValueError(
            f"the encoder predicts {len(columns)} of the {len(store_voxels)} voxels of {what}; "
            f"fit it on the whole region (its voxel_index is a different subset)"
        )
    return torch.as_tensor(columns, dtype=torch.long)


@dataclass
class RegionMean(Objective):
    """Mean predicted response over a set of the encoder's output columns (a region)."""

    columns: torch.Tensor  # (n_region_voxels,) int64 positions in the encoder's output
    name: str = "region"
    store_voxels: np.ndarray | None = None  # (n_region_voxels,) the same voxels as indices into the store

    @classmethod
    def from_store(cls, encoder: nn.Module, store: Store | str | Path, region: str) -> RegionMean:
        """The region called ``region`` in ``store`` (main labels or any label set, e.g. halves)."""
        if isinstance(store, Store):
            voxels = store.region_voxels(region)
        else:
            with open_store(store) as opened:
                voxels = opened.region_voxels(region)
        return cls(_encoder_columns(encoder, voxels, f"region {region!r}"), name=region, store_voxels=voxels)

    def __call__(self, predicted: torch.Tensor) -> torch.Tensor:
        return predicted[:, self.columns.to(predicted.device)].mean(1)


@dataclass
class Contrast(Objective):
    """One objective minus another (A − B), e.g. one half of a region against the other."""

    a: Objective
    b: Objective

    @property
    def name(self) -> str:
        return f"{self.a.name} - {self.b.name}"

    def __call__(self, predicted: torch.Tensor) -> torch.Tensor:
        return self.a(predicted) - self.b(predicted)


@dataclass
class SingleVoxel(Objective):
    """The predicted response of one store voxel."""

    column: int
    name: str = "voxel"

    @classmethod
    def from_store_voxel(cls, encoder: nn.Module, voxel: int) -> SingleVoxel:
        column = int(_encoder_columns(encoder, np.array([voxel]), f"voxel {voxel}")[0])
        return cls(column, name=f"voxel {voxel}")

    def __call__(self, predicted: torch.Tensor) -> torch.Tensor:
        return predicted[:, self.column]


@dataclass
class CustomObjective(Objective):
    """Any differentiable function of the predicted voxels (batch, n_voxels) → (batch,)."""

    function: Callable[[torch.Tensor], torch.Tensor]
    name: str = "custom"

    def __call__(self, predicted: torch.Tensor) -> torch.Tensor:
        score = self.function(predicted)
        if not isinstance(score, torch.Tensor) or score.shape != predicted.shape[:1]:
            shape = tuple(score.shape) if isinstance(score, torch.Tensor) else type(score).__name__
            raise ValueError(f"objective {self.name!r} must return one score per image, shape ({predicted.shape[0]},); got {shape}")
        return score


class BrainGuidance:
    """An encoder, an objective and a strength: the gradient that steers each denoising step.

    ``score(images)`` is the objective of the encoder's prediction for images (B, 3, H, W) in [0, 1];
    the pipeline follows its gradient with respect to the latents, times ``scale``.
    """

    def __init__(self, encoder: nn.Module, objective: Objective, scale: float = 100.0):
        if not isinstance(objective, Objective):
            raise TypeError(f"objective must be an Objective (RegionMean, Contrast, ...); got {type(objective).__name__}")
        scale = float(scale)
        if not np.isfinite(scale):
            raise ValueError(f"guidance scale must be finite; {scale!r} was provided.")
        self.encoder = encoder.eval().requires_grad_(False)
        self.objective = objective
        self.scale = scale

    def score(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) in [0, 1] → objective per image (B,), differentiable; the encoder runs in float32."""
        return self.objective(self.encoder(images.float()))


@torch.no_grad()
def rerank(guidance: BrainGuidance, images: torch.Tensor, keep: int, batch_size: int = 64) -> torch.Tensor:
    """Indices of the ``keep`` images (N, 3, H, W) with the highest objective, best first (BrainDiVE's optional step)."""
    if not 1 <= keep <= len(images):
        raise ValueError(f"keep must be in 1..{len(images)}; {keep!r} was provided.")
    scores = torch.cat([guidance.score(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])
    return torch.argsort(scores.cpu(), descending=True)[:keep]

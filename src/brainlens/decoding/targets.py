"""What a decoder predicts from the brain: an image embedding space, as tokens (T, D) per image.

MindEye predicts CLIP ViT-L/14's 257 image tokens (each 768 wide) rather than its one final embedding: the
final embedding keeps too little of each image for retrieval and reconstruction. brainlens offers:

- ``"clip-tokens"`` (real data, MindEye's target): a CLIP vision tower by hub id or folder (default
  ``openai/clip-vit-large-patch14``); the last hidden states through the post-layernorm and the visual
  projection, each token divided by the norm of the class token (Versatile Diffusion's convention): (257, 768).
- ``"clip-final"``: the same model's final image embedding, (1, 768) — MindEye's variant for LAION retrieval.
- ``"embedder-tokens"`` (in-silico, the default): the shipped embedder's stage-2 feature map pooled to 4 × 4,
  each position a token of 64 channels: (16, 64), 1,024 values. Measured with ridge from repeat-averaged
  betas of a 10,000-image subject, 300-way top-1 image/brain: 0.47 / 0.65 to these tokens against 0.08 / 0.12
  to the embedder's 128-d final embedding.

Targets are computed once per image by :func:`compute_targets`; :class:`TargetSpace` records the space's
name, source and token shape in the decoder's config so that the same space is rebuilt at evaluation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["TARGETS", "TargetSpace", "target_space", "compute_targets"]

# target name → (default source, what it is)
TARGETS = {
    "embedder-tokens": ("embedder", "the shipped embedder's stage-2 map pooled to 4 × 4: 16 tokens × 64"),
    "clip-tokens": ("openai/clip-vit-large-patch14", "CLIP image tokens (class token + patches), MindEye's normalisation"),
    "clip-final": ("openai/clip-vit-large-patch14", "CLIP's final image embedding, one token"),
}
# the embedder's hidden state read as tokens (the stem is 0) and the grid it is pooled to
_EMBEDDER_STAGE = 2
_EMBEDDER_GRID = 4


@dataclass(frozen=True)
class TargetSpace:
    """A target space, as saved in a decoder's config: ``name`` from :data:`TARGETS`, the model it comes from,
    and its token shape (n_tokens, dim)."""

    name: str
    source: str
    n_tokens: int
    dim: int

    def to_dict(self) -> dict:
        return asdict(self)


def _check_name(name: str) -> None:
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; known targets: {sorted(TARGETS)}")


def _embedder_tokens(embedder, images: torch.Tensor) -> torch.Tensor:
    states = embedder.image_hidden_states(images)
    if len(states) <= _EMBEDDER_STAGE or states[_EMBEDDER_STAGE].ndim != 4:
        raise ValueError("embedder-tokens needs an embedder with a convolutional (ResNet) image tower, as the shipped "
                         "one; for a CLIP ViT use clip-tokens.")
    pooled = F.adaptive_avg_pool2d(states[_EMBEDDER_STAGE].float(), _EMBEDDER_GRID)  # (B, C, 4, 4)
    return pooled.flatten(2).transpose(1, 2)  # (B, 16, C)


def _clip_tokens(embedder, images: torch.Tensor) -> torch.Tensor:
    from brainlens.models.clip_vision import image_tokens

    return image_tokens(embedder.model, embedder.preprocess(images))  # a CLIPModel has the vision tower's two parts


def _clip_final(embedder, images: torch.Tensor) -> torch.Tensor:
    return embedder.embed_images(images, normalize=False)[:, None]  # (B, 1, dim)


_EXTRACTORS: dict[str, Callable] = {"embedder-tokens": _embedder_tokens, "clip-tokens": _clip_tokens, "clip-final": _clip_final}


@functools.lru_cache(maxsize=1)
def _load(name: str, source: str | None, device):
    """The target's model, kept for the next call: a fit reads the targets of train, validation and test images
    (and a hub CLIP ViT-L/14 takes seconds to load)."""
    from brainlens.models.embedder import load_embedder

    return load_embedder(source or TARGETS[name][0], device=device).eval()


def target_space(name: str = "embedder-tokens", source: str | None = None, *, device="cpu") -> TargetSpace:
    """The :class:`TargetSpace` ``name`` (with its model ``source``, default per :data:`TARGETS`), its token
    shape read from one blank image."""
    _check_name(name)
    embedder = _load(name, source, device)
    with torch.no_grad():
        probe = _EXTRACTORS[name](embedder, torch.zeros(1, 3, embedder.image_size, embedder.image_size, device=device))
    return TargetSpace(name, str(source or TARGETS[name][0]), int(probe.shape[1]), int(probe.shape[2]))


@torch.no_grad()
def compute_targets(
    space: TargetSpace, images: np.ndarray, *, device="cpu", batch_size: int = 128,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Targets of images (N, H, W, 3) uint8 (or a lazy array that slices so, e.g. a store's images):
    (N, n_tokens, dim) float32."""
    _check_name(space.name)
    embedder = _load(space.name, space.source, device)
    out = np.empty((len(images), space.n_tokens, space.dim), np.float32)
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size])).to(device)
        tokens = _EXTRACTORS[space.name](embedder, batch.permute(0, 3, 1, 2).float().div(255.0))
        if tokens.shape[1:] != (space.n_tokens, space.dim):
            raise ValueError(f"target {space.name} from {space.source} gives tokens {tuple(tokens.shape[1:])}; "
                             f"the decoder expects {(space.n_tokens, space.dim)}.")
        out[start : start + len(batch)] = tokens.cpu().numpy()
        if progress is not None:
            progress(len(batch))
    return out

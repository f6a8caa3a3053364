"""The image generator a decoder reconstructs with, and the two things it learns to give it.

Reconstruction draws images from a diffusion model conditioned on an image embedding, starting (img2img)
from a low-level image. A decoder that reconstructs therefore learns, beside its retrieval tokens, the
generator's conditioning embedding (through its diffusion prior) and the generator's VAE latent of the
seen image (through its low-level head). :class:`GeneratorSpace` names the generator and the embedder whose
embeddings it was trained on, and records their shapes in the decoder's config, so that reconstruction
loads the same pair.

In-silico the generator is the shipped ``diffusion`` pipeline, conditioned on the shipped ``embedder``'s
L2-normalised 128-d image embedding, on 8 × 16 × 16 latents of 64-pixel images.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

__all__ = ["GeneratorSpace", "generator_space", "load_generator", "compute_generator_targets"]


@dataclass(frozen=True)
class GeneratorSpace:
    """A generator as saved in a decoder's config: the pipeline, the embedder it is conditioned on, the
    embedding's width and the VAE latent's (channels, height, width)."""

    pipeline: str
    embedder: str
    embedding_dim: int
    latent_shape: tuple[int, int, int]

    def to_dict(self) -> dict:
        values = asdict(self)
        values["latent_shape"] = list(self.latent_shape)
        return values

    @classmethod
    def from_dict(cls, values: dict) -> GeneratorSpace:
        return cls(values["pipeline"], values["embedder"], int(values["embedding_dim"]), tuple(int(v) for v in values["latent_shape"]))


@functools.lru_cache(maxsize=1)
def load_generator(pipeline: str, embedder: str, device="cpu"):
    """(the diffusion pipeline, its conditioning embedder), float32 in eval mode; kept for the next call."""
    from brainlens.models import load_embedder, load_pipeline

    pipe = load_pipeline(pipeline, dtype=torch.float32, device=device)
    pipe.set_progress_bar_config(disable=True)
    return pipe, load_embedder(embedder, device=device).float().eval()


def generator_space(pipeline: str = "diffusion", embedder: str = "embedder", *, device="cpu") -> GeneratorSpace:
    """The :class:`GeneratorSpace` of ``pipeline`` (a shipped name or a pipeline folder) and ``embedder``; their
    widths must agree."""
    pipe, model = load_generator(pipeline, embedder, device)
    with torch.no_grad():
        width = int(model.embed_images(torch.zeros(1, 3, model.image_size, model.image_size, device=device)).shape[-1])
    if width != pipe.embedding_dim:
        raise ValueError(f"the generator {pipeline} is conditioned on {pipe.embedding_dim}-d embeddings; the embedder "
                         f"{embedder} gives {width}-d ones.")
    return GeneratorSpace(str(pipeline), str(embedder), width, tuple(pipe.latent_shape))


@torch.no_grad()
def compute_generator_targets(
    space: GeneratorSpace, images: np.ndarray, *, device="cpu", batch_size: int = 128,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, H, W, 3) uint8 (or a lazy array that slices so) → (the conditioning embeddings (N, 1, D),
    the scaled VAE latents (N, C, h, w)), float32; images are resized to the generator's size."""
    import torch.nn.functional as F

    pipe, embedder = load_generator(space.pipeline, space.embedder, device)
    embeddings = np.empty((len(images), 1, space.embedding_dim), np.float32)
    latents = np.empty((len(images), *space.latent_shape), np.float32)
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size])).to(device)
        pixels = batch.permute(0, 3, 1, 2).float().div(255.0)  # (B, 3, H, W) in [0, 1]
        embeddings[start : start + len(batch), 0] = embedder.embed_images(pixels).float().cpu().numpy()
        if pixels.shape[-1] != pipe.image_size or pixels.shape[-2] != pipe.image_size:
            pixels = F.interpolate(pixels, size=(pipe.image_size, pipe.image_size), mode="bilinear", antialias=True,
                                   align_corners=False).clamp(0, 1)
        latents[start : start + len(batch)] = pipe.encode_images(pixels).float().cpu().numpy()
        if progress is not None:
            progress(len(batch))
    return embeddings, latents

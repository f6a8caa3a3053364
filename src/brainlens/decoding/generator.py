"""The image generator a decoder reconstructs with, and the two things it learns to give it.

Reconstruction draws images from a diffusion model conditioned on an image embedding, starting (img2img)
from a low-level image. A decoder that reconstructs therefore learns, beside its retrieval tokens, the
generator's conditioning embedding (through its diffusion prior) and the generator's VAE latent of the
seen image (through its low-level head). :class:`GeneratorSpace` names the generator and the embedder whose
embeddings it was trained on, and records their shapes in the decoder's config, so that reconstruction
loads the same pair. Two kinds of generator:

- ``"embedding"``: an :class:`~brainlens.models.pipeline_embedding.EmbeddingDiffusionPipeline` conditioned on one
  L2-normalised embedding of an :class:`~brainlens.models.embedder.Embedder`. In-silico this is the shipped
  ``diffusion`` pipeline with the shipped ``embedder``: 128-d embeddings, 8 × 16 × 16 latents of 64-pixel images.
- ``"clip-tokens"``: Versatile Diffusion's image variation (MindEye's generator), by hub id
  (``shi-labs/versatile-diffusion``, from the local cache) or a folder in its layout (``image_unet/``, ``vae/``,
  ``scheduler/``, ``image_encoder/``): its UNet reads, by cross-attention, the 257 × 768 tokens of its CLIP
  ViT-L/14 image encoder divided by the class token's norm; its unconditional side is the tokens of the blank
  image its feature extractor makes of a constant 0.5 array (rescaled by 1/255, so nearly black); 4 × 64 × 64
  latents of 512-pixel images. ``embedder`` is then ignored: the generator's own ``image_encoder`` embeds.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from brainlens.models.latents import unit_pixels

__all__ = ["CONDITIONINGS", "GeneratorSpace", "Generator", "generator_space", "load_generator", "compute_generator_targets"]

CONDITIONINGS = ("embedding", "clip-tokens")
# Versatile Diffusion's unconditional image: a constant 0.5 array that its CLIP feature extractor rescales by 1/255
_BLANK_PIXEL = 0.5 / 255


@dataclass(frozen=True)
class GeneratorSpace:
    """A generator as saved in a decoder's config: the pipeline, the embedder it is conditioned on, the
    embedding's width, the VAE latent's (channels, height, width), the embedding's tokens and its kind
    (one of :data:`CONDITIONINGS`)."""

    pipeline: str
    embedder: str
    embedding_dim: int
    latent_shape: tuple[int, int, int]
    embedding_tokens: int = 1
    conditioning: str = "embedding"

    def to_dict(self) -> dict:
        values = asdict(self)
        values["latent_shape"] = list(self.latent_shape)
        return values

    @classmethod
    def from_dict(cls, values: dict) -> GeneratorSpace:
        return cls(values["pipeline"], values["embedder"], int(values["embedding_dim"]), tuple(int(v) for v in values["latent_shape"]),
                   int(values.get("embedding_tokens", 1)), str(values.get("conditioning", "embedding")))


@dataclass(frozen=True)
class Generator:
    """A loaded generator: the pipeline, ``embed`` (images (N, 3, H, W) in [0, 1] → conditioning (N, T, D)) and
    the unconditional conditioning of classifier-free guidance (1, T, D), or None for the pipeline's zeros."""

    pipeline: object
    embed: Callable[[torch.Tensor], torch.Tensor]
    negative: torch.Tensor | None
    conditioning: str


def _versatile_diffusion(source: str) -> bool:
    """Whether ``source`` (a folder or a hub id in the local cache) holds a Versatile Diffusion pipeline."""
    folder = Path(source).expanduser()
    if folder.is_dir():
        index = folder / "model_index.json"
        if not index.is_file():
            return (folder / "image_unet").is_dir() and (folder / "image_encoder").is_dir()
    elif source.count("/") == 1 and not source.startswith((".", "/", "~")):
        try:
            from huggingface_hub import hf_hub_download

            index = Path(hf_hub_download(source, "model_index.json", local_files_only=True))
        except Exception:  # not cached, or not a hub id: the pipeline loader names the problem
            return False
    else:
        return False
    return "VersatileDiffusion" in json.loads(index.read_text()).get("_class_name", "")


def _load_versatile_diffusion(source: str, device) -> Generator:
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel

    from brainlens.models.clip_vision import clip_pixels, image_tokens, load_clip_vision
    from brainlens.models.pipeline_embedding import EmbeddingDiffusionPipeline

    options = {"local_files_only": True}
    pipe = EmbeddingDiffusionPipeline(
        vae=AutoencoderKL.from_pretrained(source, subfolder="vae", **options),
        unet=UNet2DConditionModel.from_pretrained(source, subfolder="image_unet", **options),
        scheduler=DDIMScheduler.from_pretrained(source, subfolder="scheduler", **options),
    ).to(device)
    encoder = load_clip_vision(source, subfolder="image_encoder", device=device)

    def embed(images: torch.Tensor) -> torch.Tensor:
        return image_tokens(encoder, clip_pixels(encoder, images.to(device)))

    size = encoder.config.image_size
    negative = embed(torch.full((1, 3, size, size), _BLANK_PIXEL, device=device))
    return Generator(pipe, embed, negative, "clip-tokens")


@functools.lru_cache(maxsize=1)
def load_generator(pipeline: str, embedder: str, device="cpu") -> Generator:
    """The :class:`Generator` of ``pipeline`` (a shipped name, a folder or a hub id) conditioned on ``embedder``
    (a Versatile Diffusion pipeline brings its own), float32 in eval mode; kept for the next call."""
    if _versatile_diffusion(str(pipeline)):
        generator = _load_versatile_diffusion(str(pipeline), device)
    else:
        from brainlens.models import load_embedder, load_pipeline

        pipe = load_pipeline(pipeline, dtype=torch.float32, device=device)
        model = load_embedder(embedder, device=device).float().eval()
        generator = Generator(pipe, lambda images: model.embed_images(images.to(device))[:, None], None, "embedding")
    generator.pipeline.set_progress_bar_config(disable=True)
    return generator


def generator_space(pipeline: str = "diffusion", embedder: str = "embedder", *, device="cpu") -> GeneratorSpace:
    """The :class:`GeneratorSpace` of ``pipeline`` (a shipped name, a pipeline folder or a hub id) and ``embedder``;
    their widths must agree."""
    generator = load_generator(pipeline, embedder, device)
    pipe = generator.pipeline
    with torch.no_grad():
        probe = generator.embed(torch.zeros(1, 3, pipe.image_size, pipe.image_size, device=device))  # (1, T, D)
    if probe.shape[-1] != pipe.embedding_dim:
        raise ValueError(f"the generator {pipeline} is conditioned on {pipe.embedding_dim}-d embeddings; the embedder "
                         f"{embedder} gives {probe.shape[-1]}-d ones.")
    return GeneratorSpace(str(pipeline), str(embedder), int(probe.shape[-1]), tuple(pipe.latent_shape), int(probe.shape[1]),
                          generator.conditioning)


@torch.no_grad()
def compute_generator_targets(
    space: GeneratorSpace, images: np.ndarray, *, device="cpu", batch_size: int = 128,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, H, W, 3) uint8 (or a lazy array that slices so) → (the conditioning embeddings (N, T, D),
    the scaled VAE latents (N, C, h, w)), float32; images are resized to the generator's size."""
    generator = load_generator(space.pipeline, space.embedder, device)
    pipe = generator.pipeline
    embeddings = np.empty((len(images), space.embedding_tokens, space.embedding_dim), np.float32)
    latents = np.empty((len(images), *space.latent_shape), np.float32)
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        embeddings[start : start + len(batch)] = generator.embed(unit_pixels(batch, device=device)).float().cpu().numpy()
        pixels = unit_pixels(batch, pipe.image_size, device)  # (B, 3, size, size) in [0, 1]
        latents[start : start + len(batch)] = pipe.encode_images(pixels).float().cpu().numpy()
        if progress is not None:
            progress(len(batch))
    return embeddings, latents

"""CLIP ViT-L/14 image embeddings through transformers: MindEye's CLIP row.

MindEye's table scores two-way identification on OpenAI CLIP ViT-L/14's image embedding
(``clip.load("ViT-L/14").encode_image``, 768-d). transformers' ``CLIPVisionModelWithProjection`` computes the
same embedding (``image_embeds``: the pooled class token through the visual projection) from the hub model
``openai/clip-vit-large-patch14``. :func:`load_clip_vision` reads it from the local Hugging Face cache or a
folder saved with ``save_pretrained``, never downloading; transformers is imported only when it is called.

>>> model = load_clip_vision()                     # "openai/clip-vit-large-patch14" from the local cache
>>> image_embeddings(model, pixels).shape          # pixels: CLIP_PREPROCESS applied → (N, 768)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

__all__ = ["CLIP_MODEL_ID", "CLIP_MEAN", "CLIP_STD", "CLIP_PREPROCESS", "load_clip_vision", "image_embeddings", "clip_pixels",
           "image_tokens"]

CLIP_MODEL_ID = "openai/clip-vit-large-patch14"
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# MindEye Reconstruction_Metrics "CLIP" row: Resize(224, bilinear) + CLIP Normalize, no crop (CLIP's own
# preprocessing resizes bicubically and centre-crops 224; MindEye's square images make the crop a no-op)
CLIP_PREPROCESS = {"resize": 224, "interpolation": "bilinear", "mean": CLIP_MEAN, "std": CLIP_STD}


def load_clip_vision(source: str | Path = CLIP_MODEL_ID, *, subfolder: str | None = None, device: str | torch.device = "cpu",
                     dtype: torch.dtype = torch.float32) -> Any:
    """A ``transformers.CLIPVisionModelWithProjection`` from a hub id (local cache only) or a saved folder, or from
    their ``subfolder`` (a pipeline's ``image_encoder``).

    Raises FileNotFoundError naming ``source`` when it is neither a model folder nor in the local Hugging Face
    cache, with the command that fetches it on a networked machine. Returns the model frozen, in eval mode.
    """
    from transformers import CLIPVisionModelWithProjection

    name = str(source)
    folder = Path(name).expanduser()
    if isinstance(source, Path) or folder.exists() or name.startswith(("/", ".", "~")):
        folder = folder / subfolder if subfolder else folder
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"no CLIP vision model folder at {folder}: config.json missing (save one with save_pretrained)")
        return _ready(CLIPVisionModelWithProjection.from_pretrained(str(folder), local_files_only=True), device, dtype)
    try:
        model = CLIPVisionModelWithProjection.from_pretrained(name, subfolder=subfolder or "", local_files_only=True)
    except (OSError, ValueError) as error:  # not in the cache (OSError) or not a valid hub id (huggingface_hub's ValueError)
        raise FileNotFoundError(
            f"CLIP vision model {name!r} is not in the local Hugging Face cache ({type(error).__name__}: {str(error)[:200]}). "
            f"On a networked machine run `huggingface-cli download {name}` and copy the cache (HF_HOME) here, "
            f"or pass a folder saved with save_pretrained."
        ) from error
    return _ready(model, device, dtype)


def _ready(model: Any, device: str | torch.device, dtype: torch.dtype) -> Any:
    return model.to(device=device, dtype=dtype).eval().requires_grad_(False)


def image_embeddings(model: Any, pixels: torch.Tensor) -> torch.Tensor:
    """pixels (N, 3, S, S) prepared as :data:`CLIP_PREPROCESS` (S = the model's image size, 224 for ViT-L/14)
    → (N, projection_dim) image embeddings, 768 for ViT-L/14; not L2-normalised (as ``encode_image``)."""
    if pixels.ndim != 4 or pixels.shape[1] != 3:
        raise ValueError(f"pixels must have shape (N, 3, H, W), got {tuple(pixels.shape)}")
    size = model.config.image_size
    if tuple(pixels.shape[-2:]) != (size, size):
        raise ValueError(f"pixels must be {size}×{size} for this CLIP model, got {tuple(pixels.shape[-2:])}")
    parameter = next(model.parameters())
    with torch.no_grad():
        out = model(pixel_values=pixels.to(device=parameter.device, dtype=parameter.dtype))
    return out.image_embeds


def clip_pixels(model: Any, images: torch.Tensor) -> torch.Tensor:
    """Images (N, 3, H, W) in [0, 1] → the model's input: resized (bicubic) to its square size and normalised with
    CLIP's mean and std, as CLIP's image processor does for square images."""
    import torch.nn.functional as F

    size = model.config.image_size
    images = images.float()
    if tuple(images.shape[-2:]) != (size, size):
        images = F.interpolate(images, size=(size, size), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
    mean = torch.tensor(CLIP_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=images.device).view(1, 3, 1, 1)
    return (images - mean) / std


def image_tokens(model: Any, pixels: torch.Tensor) -> torch.Tensor:
    """pixels (N, 3, S, S) from :func:`clip_pixels` → (N, 1 + patches, projection_dim): every token of the last
    layer through the post-layernorm and the visual projection, divided by the class token's norm — the
    conditioning of Versatile Diffusion's image variation, and MindEye's target (257 × 768 for ViT-L/14)."""
    parameter = next(model.parameters())
    hidden = model.vision_model(pixel_values=pixels.to(device=parameter.device, dtype=parameter.dtype)).last_hidden_state
    tokens = model.visual_projection(model.vision_model.post_layernorm(hidden)).float()
    return tokens / tokens[:, :1].norm(dim=-1, keepdim=True)

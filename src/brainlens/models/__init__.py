"""Every model brainlens ships or loads by name.

- :mod:`~brainlens.models.zoo`: the loader and the registry. A source is a shipped name (``brainlens zoo
  list``), a folder saved with ``save_pretrained``, or a Hugging Face hub id; :func:`register` adds a shipped
  model (its folder, kind, and train / evaluate functions).
- The shipped models, each in its own file with its training and evaluation: :mod:`~brainlens.models.convnet`
  (the default encoding backbone), :mod:`~brainlens.models.embedder` (CLIP's role), :mod:`~brainlens.models.vae`,
  :mod:`~brainlens.models.diffusion` (the UNet and its guide) with its pipeline
  :mod:`~brainlens.models.pipeline_embedding`; their weights under ``models/weights/``.

Heavy libraries (transformers, diffusers) are imported only when a model is loaded.

>>> from brainlens.models import load_model
>>> embedder = load_model("embedder")                                 # shipped
>>> unet = load_model("stabilityai/stable-diffusion-2-1-base", kind="unet")   # hub id, from the local cache
"""

from brainlens.models.embedder import load_embedder
from brainlens.models.zoo import (
    KINDS,
    SHIPPED,
    ModelNotFoundError,
    ShippedModel,
    load_model,
    load_pipeline,
    load_scheduler,
    load_text_encoder,
    load_tokenizer,
    load_unet,
    load_vae,
    load_vision_encoder,
    register,
    resolve,
)

__all__ = [
    "KINDS",
    "SHIPPED",
    "ModelNotFoundError",
    "ShippedModel",
    "load_embedder",
    "load_model",
    "load_pipeline",
    "load_scheduler",
    "load_text_encoder",
    "load_tokenizer",
    "load_unet",
    "load_vae",
    "load_vision_encoder",
    "register",
    "resolve",
]

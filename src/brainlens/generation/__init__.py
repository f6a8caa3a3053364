"""Generation: pretrained generative and embedding models by name, shipped small models, and (to come)
brain-guided synthesis and reconstruction pipelines.

Heavy libraries (transformers, diffusers) are imported only when a model is loaded.
"""

from brainlens.generation.zoo import (
    KINDS,
    SHIPPED,
    ModelNotFoundError,
    ShippedModel,
    load_embedder,
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

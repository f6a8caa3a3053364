"""Image–text embedder: CLIP's role for the in-silico subject, and one wrapper for any CLIP.

The shipped embedder is a small image–text dual encoder trained contrastively on in-silico images and their
captions: a BatchNorm ResNet image tower (64-pixel images) beside CLIP's text transformer, with a word-level
tokenizer built from the caption vocabulary, saved with ``save_pretrained`` as a transformers
``VisionTextDualEncoderModel`` under ``generation/weights/embedder``. It loads through exactly the code that
loads ``openai/clip-vit-large-patch14`` from the Hugging Face hub, and the same :class:`Embedder` wraps either.
(A ViT tower, i.e. a plain ``CLIPModel``, is one setting away, ``EmbedderSpec(vision_tower="vit")``, but on a
CPU budget it learns the categories several times more slowly.) Embed through :class:`Embedder`: the dual
encoder's own ``get_image_features`` fails on a ResNet tower, whose pooled output keeps its 1 × 1 grid.

:class:`Embedder` takes images as float tensors in [0, 1], ``(batch, 3, H, W)`` at any size, and resizes and
normalises them in torch, so gradients reach the pixels (brain-guided synthesis needs that).

Zero-shot classification describes each class by captions: :data:`CATEGORY_PROMPTS` holds, for each in-silico
category, captions that the stimulus generator writes for images of that category alone, and
:func:`fine_class_prompts` likewise for each fine class of ``stimuli.FINE_CLASSES`` (the 50-way top-1 of MinD-Vis
needs a classifier over such classes; :func:`fine_class_probabilities` is one).

Retrain with ``brainlens zoo train embedder``; the shipped weights came from the defaults of
:func:`train_embedder`.

Example
-------
>>> from brainlens.models import load_embedder
>>> embedder = load_embedder("embedder")              # or "openai/clip-vit-large-patch14"
>>> images = torch.rand(2, 3, 64, 64)
>>> embedder.embed_images(images).shape
torch.Size([2, 128])
>>> embedder.classify(images, CATEGORY_PROMPTS).shape  # probabilities over the six categories
torch.Size([2, 6])
"""

from __future__ import annotations

import collections
import functools
import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from brainlens._io import fresh_staging, replace_folder, write_json
from brainlens.insilico import stimuli
from brainlens.insilico.stimuli import to_tensor
from brainlens.models import zoo
from brainlens.models._training import warmup_cosine

__all__ = [
    "CATEGORY_PROMPTS",
    "Embedder",
    "EmbedderSpec",
    "build_tokenizer",
    "category_probabilities",
    "category_prompts",
    "evaluate_embedder",
    "fine_class_probabilities",
    "fine_class_prompts",
    "load_embedder",
    "train_embedder",
]

class _CaptionPrompts(Mapping):
    """For each in-silico category, the distinct captions that the stimulus generator writes for images of that
    category alone: class descriptions for zero-shot classification ("classification by caption").

    Captions describe a category in all its variety (a face may be "a close-up of a frowning face" or "a
    person's face with curly grey hair"), so summing the probabilities of many of them names the category far
    better than one hand-written prompt; the shipped text tower also knows exactly their words. They are drawn
    on first use (a fraction of a second) from their own seed, apart from every training and evaluation seed.
    """

    def __init__(self, per_category: int, seed: int):
        self.per_category = per_category
        self.seed = seed
        self._prompts: dict[str, tuple[str, ...]] | None = None

    def _build(self) -> dict[str, tuple[str, ...]]:
        if self._prompts is None:
            # captions do not depend on the image size, so the images are drawn small
            self._prompts = {
                name: tuple(dict.fromkeys(
                    stimuli.generate(self.per_category, seed=self.seed, size=16, categories=[name], mix_prob=0.0).captions
                ))
                for name in stimuli.CATEGORIES
            }
        return self._prompts

    def __getitem__(self, name: str) -> tuple[str, ...]:
        if name not in stimuli.CATEGORIES:
            raise KeyError(name)
        return self._build()[name]

    def __iter__(self):
        return iter(stimuli.CATEGORIES)

    def __len__(self) -> int:
        return len(stimuli.CATEGORIES)

    def __contains__(self, name: object) -> bool:
        return name in stimuli.CATEGORIES

    def __repr__(self) -> str:
        return f"CATEGORY_PROMPTS(per_category={self.per_category}, seed={self.seed})"


# category name → captions of images of that category alone (up to 96 distinct ones each)
CATEGORY_PROMPTS: Mapping[str, tuple[str, ...]] = _CaptionPrompts(per_category=96, seed=60_000)

# OpenAI CLIP's pixel statistics: the fallback for a hub CLIP saved without a preprocessor config.
_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# Special tokens of the shipped word-level tokenizer, in id order. The end token must not get id 2:
# transformers' CLIP text tower treats eos_token_id == 2 as a legacy config and pools at the largest id.
_PAD, _UNK, _START, _END = "<pad>", "<unk>", "<start>", "<end>"
_SPECIALS = (_PAD, _UNK, _START, _END)


@dataclass(frozen=True)
class EmbedderSpec:
    """Shape of the shipped embedder; :meth:`model_config` turns it into a transformers config."""

    # "resnet": a BatchNorm ResNet image tower beside CLIP's text transformer (a transformers
    # VisionTextDualEncoderModel); on a CPU budget it learns the in-silico categories several times faster
    # than a ViT or a ConvNeXt. "vit": CLIP's own ViT (a transformers CLIPModel).
    vision_tower: str = "resnet"
    image_size: int = 64  # images are resized to this square before the image tower
    resnet_stem: int = 32  # channels of the ResNet stem (7×7 stride-2 convolution, then max-pool: 64 px → 16)
    resnet_widths: tuple[int, ...] = (32, 64, 128, 256)  # channels of the ResNet stages; each after the first halves the grid
    resnet_depths: tuple[int, ...] = (1, 1, 1, 1)  # basic blocks per ResNet stage
    vit_patch: int = 8  # ViT patch side in pixels: 64 px → 8 × 8 patches
    vit_width: int = 128  # ViT hidden size
    vit_layers: int = 4  # ViT transformer blocks
    text_width: int = 128  # text transformer hidden size
    text_layers: int = 2  # text transformer blocks (captions are a small language)
    heads: int = 4  # attention heads of the text transformer (and of the ViT)
    embed_dim: int = 128  # shared image–text embedding size
    max_length: int = 64  # longest token sequence, start and end tokens included (captions use ≤ 45)

    def __post_init__(self):
        if self.vision_tower not in ("resnet", "vit"):
            raise ValueError(f"'vision_tower' must be one of ('resnet', 'vit'). {self.vision_tower!r} was provided.")
        if len(self.resnet_widths) != len(self.resnet_depths):
            raise ValueError(f"resnet_widths and resnet_depths must have the same length; "
                             f"{self.resnet_widths!r} and {self.resnet_depths!r} were provided.")

    def text_config(self, vocab_size: int) -> dict:
        return dict(
            vocab_size=vocab_size,
            hidden_size=self.text_width,
            intermediate_size=4 * self.text_width,
            num_hidden_layers=self.text_layers,
            num_attention_heads=self.heads,
            max_position_embeddings=self.max_length,
            pad_token_id=0,
            bos_token_id=2,
            eos_token_id=3,
            projection_dim=self.embed_dim,
        )

    def model_config(self, vocab_size: int):
        """A ``CLIPConfig`` (ViT) or a ``VisionTextDualEncoderConfig`` (ResNet + CLIP text transformer)."""
        import transformers

        if self.vision_tower == "vit":
            vision = dict(
                image_size=self.image_size,
                patch_size=self.vit_patch,
                hidden_size=self.vit_width,
                intermediate_size=4 * self.vit_width,
                num_hidden_layers=self.vit_layers,
                num_attention_heads=self.heads,
                projection_dim=self.embed_dim,
            )
            return transformers.CLIPConfig(text_config=self.text_config(vocab_size), vision_config=vision,
                                           projection_dim=self.embed_dim)
        vision = transformers.ResNetConfig(
            num_channels=3,
            embedding_size=self.resnet_stem,
            hidden_sizes=list(self.resnet_widths),
            depths=list(self.resnet_depths),
            layer_type="basic",
            downsample_in_first_stage=False,
            image_size=self.image_size,
            # the dual encoder sizes its projection by the tower's hidden_size, which ResNet names hidden_sizes[-1]
            hidden_size=self.resnet_widths[-1],
        )
        text = transformers.CLIPTextConfig(**self.text_config(vocab_size))
        return transformers.VisionTextDualEncoderConfig.from_vision_text_configs(vision, text, projection_dim=self.embed_dim)

    def build(self, vocab_size: int):
        """A freshly initialised model of this shape."""
        import transformers

        config = self.model_config(vocab_size)
        if self.vision_tower == "vit":
            return transformers.CLIPModel(config)
        return transformers.VisionTextDualEncoderModel(config)


# ---------------------------------------------------------------------------------------------
# The wrapper


class Embedder(nn.Module):
    """A CLIP model with its tokenizer and pixel statistics: images and texts → one embedding space.

    Build it with :func:`brainlens.generation.load_embedder` (a shipped name, a local folder or a hub id).

    Parameters
    ----------
    model : transformers.CLIPModel
    tokenizer : transformers tokenizer
        Turns texts into the model's ``input_ids``.
    image_size : int
        Side of the square the image tower reads: the shorter image side is resized to it, then the centre
        is cropped, as CLIP's own preprocessing does.
    image_mean, image_std : sequence of 3 floats
        Per-channel normalisation applied to pixels in [0, 1].
    name : str
        Where the model came from, for messages.
    """

    def __init__(
        self,
        model,
        tokenizer,
        *,
        image_size: int,
        image_mean: Sequence[float] = _CLIP_MEAN,
        image_std: Sequence[float] = _CLIP_STD,
        name: str = "clip",
    ):
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.image_size = int(image_size)
        self.name = name
        self._prompt_cache: dict[tuple[str, ...], torch.Tensor] = {}
        self.register_buffer("image_mean", torch.tensor(image_mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("image_std", torch.tensor(image_std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    @property
    def dim(self) -> int:
        """Size of the shared embedding."""
        return int(self.model.config.projection_dim)

    @property
    def device(self) -> torch.device:
        return self.model.logit_scale.device

    @property
    def logit_scale(self) -> torch.Tensor:
        """The learned inverse temperature (a scalar), as CLIP multiplies cosine similarities by it."""
        return self.model.logit_scale.exp()

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) in [0, 1] → pixel values (B, 3, S, S) for the image tower, differentiably."""
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"images must be a torch.Tensor (batch, 3, H, W) in [0, 1], got {type(images).__name__}")
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must have shape (batch, 3, H, W), got {tuple(images.shape)}")
        images = images.to(self.device, torch.float32)
        size = self.image_size
        height, width = images.shape[-2:]
        if (height, width) != (size, size):
            scale = size / min(height, width)
            new = (max(size, round(height * scale)), max(size, round(width * scale)))
            # antialiasing only matters when shrinking; F.interpolate rejects it for some upsampling paths
            images = F.interpolate(images, size=new, mode="bicubic", antialias=min(height, width) > size, align_corners=False)
            top, left = (new[0] - size) // 2, (new[1] - size) // 2
            images = images[:, :, top : top + size, left : left + size]
        dtype = self.model.visual_projection.weight.dtype
        return ((images - self.image_mean) / self.image_std).to(dtype)

    def embed_images(self, images: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """images (B, 3, H, W) in [0, 1] → embeddings (B, dim), L2-normalised unless ``normalize=False``.

        Differentiable: gradients flow back to ``images``.
        """
        embeddings = self._project(self.model.vision_model(pixel_values=self.preprocess(images)).pooler_output)
        return F.normalize(embeddings, dim=-1) if normalize else embeddings

    def image_hidden_states(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """images (B, 3, H, W) in [0, 1] → the image tower's hidden states, the stem's first. Differentiable.

        A ViT gives one per block, each (B, 1 + n_patches, width) with the class token first; a ResNet one
        per stage, each a map (B, channels, h, w).
        """
        return self.image_features(images)[0]

    def image_features(self, images: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """The hidden states of :meth:`image_hidden_states` and the embedding (B, dim) before normalisation,
        from one pass through the image tower. Differentiable."""
        out = self.model.vision_model(pixel_values=self.preprocess(images), output_hidden_states=True)
        return tuple(out.hidden_states), self._project(out.pooler_output)

    def _project(self, pooled: torch.Tensor) -> torch.Tensor:
        """The tower's pooled output (B, vision width), or (B, width, 1, 1) from a ResNet → embeddings (B, dim)."""
        return self.model.visual_projection(pooled.flatten(1)).float()

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """texts → ``input_ids`` and ``attention_mask`` (B, L) on the model's device, padded to the longest."""
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings, not one string; wrap it: [text]")
        limit = int(self.model.config.text_config.max_position_embeddings)
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=limit, return_tensors="pt")
        return {key: batch[key].to(self.device) for key in ("input_ids", "attention_mask")}

    def embed_texts(self, texts: Sequence[str], normalize: bool = True) -> torch.Tensor:
        """texts (list of B strings) → embeddings (B, dim), L2-normalised unless ``normalize=False``."""
        return self.embed_tokens(self.tokenize(texts), normalize)

    def embed_tokens(self, tokens: Mapping[str, torch.Tensor], normalize: bool = True) -> torch.Tensor:
        """Output of :meth:`tokenize` → embeddings (B, dim), L2-normalised unless ``normalize=False``."""
        pooled = self.model.text_model(**tokens).pooler_output  # (B, text width)
        embeddings = self.model.text_projection(pooled).float()  # (B, dim)
        return F.normalize(embeddings, dim=-1) if normalize else embeddings

    def classify(
        self,
        images: torch.Tensor,
        classes: Sequence[str] | Mapping[str, Sequence[str]],
        template: str = "a photo of a {}",
    ) -> torch.Tensor:
        """Zero-shot class probabilities (B, n_classes) of images (B, 3, H, W) in [0, 1].

        ``classes`` is either a list of class names, each made into the prompt ``template.format(name)``, or a
        mapping from class name to several prompts (as :data:`CATEGORY_PROMPTS`); a class then gets the summed
        probability of its prompts. Classes keep their given order. For the shipped embedder pass prompts in
        the style of the in-silico captions (its text tower knows only their words).

        Gradients flow to ``images``; the prompts' embeddings are computed without gradients and kept for the
        next call with the same prompts (until the model is put back in training mode).
        """
        if isinstance(classes, Mapping):
            names = list(classes)
            prompts = [list(classes[name]) if not isinstance(classes[name], str) else [classes[name]] for name in names]
        else:
            if isinstance(classes, str):
                raise TypeError("classes must be a list of class names or a mapping of names to prompts, not one string")
            names = list(classes)
            prompts = [[template.format(name)] for name in names]
        if not names or any(not p for p in prompts):
            raise ValueError(f"classes must name at least one class, each with at least one prompt; {classes!r} was provided.")
        owner = torch.tensor([k for k, group in enumerate(prompts) for _ in group], device=self.device)
        texts = self._prompt_embeddings(tuple(p for group in prompts for p in group))  # (n_prompts, dim)
        logits = self.logit_scale * self.embed_images(images) @ texts.T  # (B, n_prompts)
        probabilities = logits.softmax(dim=-1)
        per_class = torch.zeros(len(images), len(names), device=self.device, dtype=probabilities.dtype)
        return per_class.index_add(1, owner, probabilities)  # (B, n_classes)

    @torch.no_grad()
    def _prompt_embeddings(self, prompts: tuple[str, ...]) -> torch.Tensor:
        if prompts not in self._prompt_cache:
            if len(self._prompt_cache) >= 8:
                self._prompt_cache.pop(next(iter(self._prompt_cache)))
            self._prompt_cache[prompts] = torch.cat(
                [self.embed_texts(list(prompts[i : i + 256])) for i in range(0, len(prompts), 256)]
            )
        return self._prompt_cache[prompts]

    def train(self, mode: bool = True) -> Embedder:
        self._prompt_cache.clear()  # weights may change
        return super().train(mode)

    def save_pretrained(self, folder: str | os.PathLike) -> None:
        """Save model, tokenizer and ``preprocessor_config.json`` so :func:`load_embedder` reads them back."""
        folder = Path(folder)
        with zoo.quiet_library_bars():
            self.model.save_pretrained(folder)
            self.tokenizer.save_pretrained(folder)
        write_json(folder / "preprocessor_config.json", _preprocessor_config(
            self.image_size, self.image_mean.flatten().tolist(), self.image_std.flatten().tolist()
        ))


PROMPT_STYLES = ("captions", "names")


def category_prompts(categories: Sequence[str], style: str = "captions") -> Mapping[str, Sequence[str]]:
    """Prompts per category: "captions", phrases in the style of the in-silico captions (the shipped
    embedder's text tower knows only their words); "names", CLIP's "a photo of a {name}" for hub models."""
    if style == "names":
        return {name: [f"a photo of a {name}"] for name in categories}
    if style != "captions":
        raise ValueError(f"prompt style must be one of {PROMPT_STYLES}; {style!r} was provided.")
    unknown = [name for name in categories if name not in CATEGORY_PROMPTS]
    if unknown:
        raise ValueError(f"no caption-style prompts for category {unknown[0]!r}; known: {sorted(CATEGORY_PROMPTS)}")
    return {name: CATEGORY_PROMPTS[name] for name in categories}


@torch.no_grad()
def category_probabilities(
    embedder, images: torch.Tensor, categories: Sequence[str], *, style: str = "captions",
    batch_size: int = 128,
) -> torch.Tensor:
    """Zero-shot probabilities (N, n_categories) of images (N, 3, H, W) in [0, 1] over ``categories``
    (in-silico category names), each described by :func:`category_prompts` of ``style``."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, H, W) in [0, 1]; got shape {tuple(images.shape)}")
    prompts = category_prompts(categories, style)
    return torch.cat([embedder.classify(images[i : i + batch_size], prompts).float().cpu()
                      for i in range(0, len(images), batch_size)])


# Seed of the images whose captions describe the fine classes: apart from every training and evaluation seed
# and from that of CATEGORY_PROMPTS.
_FINE_PROMPT_SEED = 61_000


def fine_class_prompts(
    classes: Sequence[str] = stimuli.FINE_CLASSES,
    style: str = "captions",
    *,
    per_class: int = 128,
    images_per_category: int = 1200,
    seed: int = _FINE_PROMPT_SEED,
) -> dict[str, tuple[str, ...]]:
    """Prompts per fine class, for zero-shot classification over ``classes`` (names from ``stimuli.FINE_CLASSES``).

    "captions" (for the shipped embedder, whose text tower knows only the words of the in-silico captions): up to
    ``per_class`` distinct captions that the stimulus generator writes for images of the class, read off
    ``images_per_category`` images of each category alone (no second category) from their own ``seed``. A
    caption written for images of several classes ("two people side by side", whatever their pose; "a close-up of
    a happy face", whatever the hair) describes none of them and is left out, unless that leaves a class without
    prompts. Measured on the shipped embedder, drawing more images or keeping more captions changes the top-1 by
    under 0.01. The captions are drawn on first use (about a second per category) and kept.

    "names" (for a hub CLIP): CLIP's "a photo of {kind}, a type of {category}", e.g. "a photo of bicycle, a type
    of object".

    Returns {class name: prompts}, in the order of ``classes``.
    """
    if isinstance(classes, str):
        raise TypeError("classes must be a list of fine class names, not one string; wrap it: [name]")
    classes = list(classes)
    unknown = [name for name in classes if name not in stimuli.FINE_CLASSES]
    if not classes or unknown:
        raise ValueError(f"classes must be names from stimuli.FINE_CLASSES (e.g. {stimuli.FINE_CLASSES[0]!r}); "
                         f"{(unknown or classes)!r} was provided.")
    if style == "names":
        return {name: (f"a photo of {name.split('/')[1]}, a type of {name.split('/')[0]}",) for name in classes}
    if style != "captions":
        raise ValueError(f"prompt style must be one of {PROMPT_STYLES}; {style!r} was provided.")
    if per_class < 1 or images_per_category < 1:
        raise ValueError(f"per_class and images_per_category must be >= 1; {per_class!r} and {images_per_category!r} "
                         "were provided.")
    prompts = {}
    for name in classes:
        captions = _fine_class_captions(name.split("/")[0], per_class, images_per_category, seed)
        if not captions.get(name):
            raise ValueError(f"none of {images_per_category} images of seed {seed} has fine class {name!r}; "
                             "draw more (images_per_category).")
        prompts[name] = captions[name]
    return prompts


@functools.lru_cache(maxsize=16)
def _fine_class_captions(category: str, per_class: int, images_per_category: int, seed: int) -> dict[str, tuple[str, ...]]:
    """{fine class of `category`: its distinct captions}, those written for several classes left out (see
    :func:`fine_class_prompts`)."""
    # captions do not depend on the image size, so the images are drawn small
    drawn = stimuli.generate(images_per_category, seed=seed, size=16, categories=[category], mix_prob=0.0)
    every: dict[str, dict[str, None]] = collections.defaultdict(dict)
    for caption, index in zip(drawn.captions, drawn.fine_class):
        every[stimuli.FINE_CLASSES[index]][caption] = None
    owners = collections.Counter(caption for captions in every.values() for caption in captions)
    result = {}
    for name, captions in every.items():
        own = [caption for caption in captions if owners[caption] == 1] or list(captions)
        result[name] = tuple(own[:per_class])
    return result


@torch.no_grad()
def fine_class_probabilities(
    embedder, images: torch.Tensor, classes: Sequence[str] = stimuli.FINE_CLASSES, *, style: str = "captions",
    batch_size: int = 128, **prompt_options,
) -> torch.Tensor:
    """Zero-shot probabilities (N, n_classes) of images (N, 3, H, W) in [0, 1] over fine ``classes`` (names from
    ``stimuli.FINE_CLASSES``, in their given order), each described by :func:`fine_class_prompts` of ``style``
    (``prompt_options`` go there too); a class gets the summed probability of its prompts, so each row sums to 1.

    With the shipped embedder, top-1 over the 63 in-silico fine classes is 0.78 on images of one category each
    and 0.73 on images as the in-silico subject draws them (:func:`evaluate_embedder`, 1,200 images each). Its
    worst: a bald head (read as light or dark hair), sausages, books, chairs, scissors and lamps (0.0–0.45).
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, H, W) in [0, 1]; got shape {tuple(images.shape)}")
    prompts = fine_class_prompts(classes, style, **prompt_options)
    return torch.cat([embedder.classify(images[i : i + batch_size], prompts).float().cpu()
                      for i in range(0, len(images), batch_size)])


def load_resolved(resolved: zoo.Resolved, *, dtype=None, device=None, **kwargs) -> Embedder:
    """The loader of kind "clip" in :func:`brainlens.models.load_model`, for a source already resolved."""
    transformers = zoo.require("transformers", "a CLIP embedder")

    dtype = zoo.torch_dtype(dtype)

    def load(location, local_only):
        extra = {**kwargs, "dtype": dtype}
        config = transformers.AutoConfig.from_pretrained(location, local_files_only=local_only)
        if config.model_type not in zoo.DUAL_ENCODERS:
            raise zoo.ModelNotFoundError(
                f"{resolved.source!r} is a {config.model_type!r} model, not an image–text model "
                f"({' or '.join(zoo.DUAL_ENCODERS)}) that can serve as an embedder"
            )
        model = transformers.AutoModel.from_pretrained(location, local_files_only=local_only, **extra)
        tokenizer = transformers.AutoTokenizer.from_pretrained(location, local_files_only=local_only)
        try:
            preprocessor = zoo.read_json(resolved, "preprocessor_config.json", None, local_only)
        except (OSError, *zoo.hub_error_types()):
            preprocessor = None
        return model, tokenizer, preprocessor

    model, tokenizer, preprocessor = zoo.load_with_fallback("CLIP embedder", resolved, load)
    model = zoo.finish(model, None)
    settings = _pixel_settings(preprocessor, int(getattr(model.config.vision_config, "image_size", 224)))
    embedder = Embedder(model, tokenizer, name=resolved.source, **settings)
    if device is not None:
        embedder = embedder.to(device)
    return embedder.eval()


def load_embedder(name_or_path: str | os.PathLike = "embedder", *, dtype=None, device=None, **kwargs) -> Embedder:
    """An :class:`~brainlens.models.embedder.Embedder`: the shipped ``"embedder"`` (default), a folder, or a
    hub CLIP such as ``"openai/clip-vit-large-patch14"``."""
    return load_resolved(zoo.resolve(name_or_path), dtype=dtype, device=device, **kwargs)


def _preprocessor_config(size: int, mean: Sequence[float], std: Sequence[float]) -> dict:
    """A ``preprocessor_config.json`` in the layout of CLIP's, so transformers' processor reads it too."""
    return {
        "image_processor_type": "CLIPImageProcessor",
        "do_resize": True,
        "size": {"shortest_edge": size},
        "resample": 3,
        "do_center_crop": True,
        "crop_size": {"height": size, "width": size},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [float(m) for m in mean],
        "image_std": [float(s) for s in std],
        "do_convert_rgb": True,
    }


def _pixel_settings(preprocessor: dict | None, model_image_size: int) -> dict:
    """image_size, image_mean and image_std for :class:`Embedder` from a preprocessor config (or defaults)."""
    if not preprocessor:
        return {"image_size": model_image_size, "image_mean": _CLIP_MEAN, "image_std": _CLIP_STD}
    crop = preprocessor.get("crop_size", model_image_size)
    size = crop.get("height", model_image_size) if isinstance(crop, dict) else int(crop)
    return {
        "image_size": int(size),
        "image_mean": tuple(preprocessor.get("image_mean", _CLIP_MEAN)),
        "image_std": tuple(preprocessor.get("image_std", _CLIP_STD)),
    }


# ---------------------------------------------------------------------------------------------
# Tokenizer


_WORD = re.compile(r"\w+|[^\w\s]+")


def build_tokenizer(captions: Sequence[str], max_length: int = 64):
    """A word-level ``PreTrainedTokenizerFast`` over the lower-cased words and punctuation of ``captions``.

    Words are ordered by count (ties alphabetically), after ``<pad>``, ``<unk>``, ``<start>``, ``<end>``, so the
    same captions always give the same ids. Every text becomes ``<start> words… <end>``.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    counts = collections.Counter(w for caption in captions for w in _WORD.findall(caption.lower()))
    words = sorted(counts, key=lambda w: (-counts[w], w))
    vocab = {token: i for i, token in enumerate(list(_SPECIALS) + words)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=_UNK))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Whitespace()  # splits \w+ and runs of punctuation, as _WORD does
    core.post_processor = processors.TemplateProcessing(
        single=f"{_START} $A {_END}", special_tokens=[(_START, vocab[_START]), (_END, vocab[_END])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=_PAD,
        unk_token=_UNK,
        bos_token=_START,
        eos_token=_END,
        model_max_length=max_length,
    )


# ---------------------------------------------------------------------------------------------
# Training


def _contrastive_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, scale: torch.Tensor, caption_ids: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE where every pair with the same caption counts as a positive.

    Captions repeat ("a black chair"), so one-hot targets would push an image away from its own words.
    """
    logits = scale * image_emb @ text_emb.T  # (B, B)
    same = (caption_ids[:, None] == caption_ids[None, :]).float()  # (B, B)
    targets = same / same.sum(dim=1, keepdim=True)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))


def _bag_of_words(tokens: Mapping[str, torch.Tensor], vocab_size: int) -> torch.Tensor:
    """Which words each text holds: (B, vocab_size) of 0/1, special tokens left out."""
    ids = tokens["input_ids"] * tokens["attention_mask"]  # padding → <pad>, a special token
    bag = torch.zeros(len(ids), vocab_size, device=ids.device).scatter_(1, ids, 1.0)
    bag[:, : len(_SPECIALS)] = 0.0
    return bag


def _word_loss(head: nn.Linear, embeddings: torch.Tensor, bag: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the caption's words predicted from unit embeddings, per word present."""
    logits = head(embeddings * math.sqrt(embeddings.shape[1]))  # (B, vocab)
    return F.binary_cross_entropy_with_logits(logits, bag, reduction="sum") / bag.sum().clamp(min=1.0)


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """Blur images (B, 3, H, W) with a separable Gaussian of standard deviation ``sigma`` pixels (one per image,
    or one for all; 0 leaves an image as it is). The kernel spans ±3 σ of the largest σ; borders are replicated."""
    sigma = torch.as_tensor(sigma, dtype=images.dtype).expand(len(images)).clamp_min(1e-3)  # (B,)
    radius = max(1, math.ceil(3 * float(sigma.max())))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype)
    kernel = torch.exp(-offsets**2 / (2 * sigma[:, None] ** 2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(3, 0)  # (B·3, K): one kernel per channel
    b, c, h, w = images.shape
    x = F.pad(images.reshape(1, b * c, h, w), (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, kernel[:, None, None, :], groups=b * c)  # along width
    x = F.conv2d(x, kernel[:, None, :, None], groups=b * c)  # along height
    return x.reshape(b, c, h, w)


def _weight_decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    # matrices decay; biases, norms, embeddings of positions and the temperature do not
    decay, keep = [], []
    for name, parameter in model.named_parameters():
        (decay if parameter.ndim >= 2 and "embedding" not in name else keep).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": keep, "weight_decay": 0.0}]


def train_embedder(
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    n_train: int = 40000,
    epochs: int = 8,
    batch_size: int = 128,
    lr: float = 3e-3,
    weight_decay: float = 0.1,
    warmup: float = 0.05,
    word_weight: float = 1.0,
    reuse: int = 2,
    blur_prob: float = 0.5,
    max_blur: float = 1.5,
    n_val: int = 600,
    n_eval: int = 1200,
    spec: EmbedderSpec = EmbedderSpec(),
    progress: Callable[[str, int], None] | None = None,
) -> dict:
    """Train the image–text embedder on in-silico images and captions and save it to ``out_dir``.

    Every ``reuse`` epochs draw ``n_train`` fresh stimuli (drawing costs a third of a training step), and images
    without text are mirrored at random. A share ``blur_prob`` of the images is blurred by a Gaussian of σ drawn
    uniformly up to ``max_blur`` pixels: without it, the embedder reads a slightly soft sign (a VAE's
    reconstruction, a diffusion sample) as an object, and a soft body as something else. The loss is symmetric InfoNCE with
    a learned temperature, plus ``word_weight`` times a caption-word tagging loss: one linear head, shared by
    both towers and dropped after training, predicts from the image embedding and from the text embedding which
    words the caption holds. InfoNCE alone spends its first thousands of steps on colours and leaves the
    embeddings nearly collapsed; naming the caption's nouns from the image (as CatLIP pretrains on caption
    nouns) teaches the categories within a CPU budget, and sharing the head pulls both towers into one space.
    AdamW with linear warm-up (``warmup`` of the steps) and a cosine decay. The result depends only on
    ``seed`` (and the torch build).

    ``out_dir`` receives the model, tokenizer and ``preprocessor_config.json`` (loadable with
    :func:`load_embedder`) and ``metrics.json``: :func:`evaluate_embedder` on ``n_eval`` held-out images per
    test, the per-epoch zero-shot accuracy on ``n_val`` validation images, and the training settings.

    ``progress(stage, k)`` is called with ``"stimuli"`` and the number of images drawn, ``"steps"`` and 1 after
    each optimiser step, and ``"epochs"`` and 1 after each epoch.

    Returns the metrics written to ``metrics.json``.
    """
    for name, value in (("n_train", n_train), ("epochs", epochs), ("batch_size", batch_size), ("reuse", reuse)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1; {name}={value!r} was provided.")
    if not 0.0 <= blur_prob <= 1.0 or not (math.isfinite(max_blur) and max_blur >= 0):
        raise ValueError(f"blur_prob must be in [0, 1] and max_blur finite and ≥ 0; {blur_prob!r} and {max_blur!r} were provided.")
    out_dir = Path(out_dir)
    started = time.perf_counter()
    tick = (lambda stage: (lambda k: progress(stage, k))) if progress is not None else (lambda stage: None)
    train_seed = 30_000 + seed  # apart from the seeds of the category network and of evaluation

    first = stimuli.generate(n_train, seed=train_seed, size=spec.image_size, progress=tick("stimuli"))
    tokenizer = build_tokenizer(first.captions, spec.max_length)
    torch.manual_seed(seed)
    model = spec.build(len(tokenizer))
    word_head = nn.Linear(spec.embed_dim, len(tokenizer))
    embedder = Embedder(model, tokenizer, image_size=spec.image_size, image_mean=(0.5,) * 3, image_std=(0.25,) * 3,
                        name="embedder")
    val = stimuli.generate(n_val, seed=train_seed + 1, size=spec.image_size, mix_prob=0.0)

    parameters = _weight_decay_groups(model, weight_decay) + _weight_decay_groups(word_head, weight_decay)
    optimiser = torch.optim.AdamW(parameters, lr=lr, betas=(0.9, 0.98), eps=1e-6)
    steps_per_epoch = math.ceil(n_train / batch_size)
    total = epochs * steps_per_epoch
    schedule = warmup_cosine(optimiser, total, warmup)
    generator = torch.Generator().manual_seed(seed)
    max_scale = math.log(100.0)  # CLIP caps the temperature at 1/100 so the logits cannot blow up
    history = []
    data = first
    for epoch in range(epochs):
        if epoch and epoch % reuse == 0:
            data = stimuli.generate(n_train, seed=train_seed, size=spec.image_size, start=epoch // reuse * n_train,
                                    progress=tick("stimuli"))
        captions = [c.lower() for c in data.captions]
        caption_ids = torch.tensor(_caption_ids(captions))
        # a mirror image keeps its caption true, unless it shows text
        can_flip = torch.from_numpy(data.labels[:, stimuli.CATEGORIES.index("word")] == 0)
        embedder.train()
        order = torch.randperm(n_train, generator=generator).numpy()
        running = 0.0
        for start in range(0, n_train, batch_size):
            idx = np.sort(order[start : start + batch_size])
            tokens = embedder.tokenize([captions[i] for i in idx])
            images = to_tensor(data.images[idx])  # (B, 3, H, W)
            flip = can_flip[idx] & (torch.rand(len(idx), generator=generator) < 0.5)
            images[flip] = images[flip].flip(-1)
            if blur_prob:
                sigma = torch.rand(len(idx), generator=generator) * max_blur
                sigma[torch.rand(len(idx), generator=generator) >= blur_prob] = 0.0
                images = gaussian_blur(images, sigma)
            image_emb = embedder.embed_images(images)  # (B, dim), unit length
            text_emb = embedder.embed_tokens(tokens)  # (B, dim), unit length
            loss = _contrastive_loss(image_emb, text_emb, model.logit_scale.exp(), caption_ids[idx])
            if word_weight:
                bag = _bag_of_words(tokens, len(tokenizer))  # (B, vocab)
                words = _word_loss(word_head, image_emb, bag) + _word_loss(word_head, text_emb, bag)
                loss = loss + word_weight * 0.5 * words
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([*model.parameters(), *word_head.parameters()], 1.0)
            optimiser.step()
            schedule.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0.0, max_scale)
            running += loss.item() * len(idx)
            if progress is not None:
                progress("steps", 1)
        embedder.eval()
        with torch.no_grad():
            accuracy = _zero_shot_accuracy(embedder, val)
        history.append({"epoch": epoch + 1, "train_loss": running / n_train, "val_zero_shot_accuracy": accuracy,
                        "temperature": math.exp(-model.logit_scale.item())})
        if progress is not None:
            progress("epochs", 1)
    seconds = time.perf_counter() - started

    staging = fresh_staging(out_dir)
    # half precision halves the shipped size; the loader brings the weights back to float32
    model.half()
    embedder.save_pretrained(staging)
    metrics = evaluate_embedder(load_embedder(staging), n=n_eval)
    metrics.update({
        "train_seconds": round(seconds, 1),
        "history": history,
        "training": {"seed": seed, "n_train": n_train, "epochs": epochs, "batch_size": batch_size, "lr": lr,
                     "weight_decay": weight_decay, "warmup": warmup, "word_weight": word_weight, "reuse": reuse,
                     "blur_prob": blur_prob, "max_blur": max_blur, "spec": asdict(spec),
                     "torch": torch.__version__, "threads": torch.get_num_threads()},
    })
    write_json(staging / "metrics.json", metrics)
    replace_folder(staging, out_dir)
    return metrics


def _caption_ids(captions: Sequence[str]) -> list[int]:
    """Equal captions get equal ids."""
    index: dict[str, int] = {}
    return [index.setdefault(caption, len(index)) for caption in captions]


# ---------------------------------------------------------------------------------------------
# Evaluation


def _predicted_categories(embedder: Embedder, data: stimuli.Stimuli, blur: float = 0.0) -> np.ndarray:
    """The zero-shot category (index into `stimuli.CATEGORIES`) of each image, blurred by σ = `blur`: (n,)."""
    images = to_tensor(data.images)
    if blur:
        images = gaussian_blur(images, blur)
    return category_probabilities(embedder, images, stimuli.CATEGORIES).argmax(1).numpy()


def _zero_shot_accuracy(embedder: Embedder, data: stimuli.Stimuli) -> float:
    return float(np.mean(_predicted_categories(embedder, data) == data.category))


@torch.no_grad()
def evaluate_embedder(embedder: Embedder | str | os.PathLike = "embedder", *, n: int = 1200, seed: int = 50_000) -> dict:
    """Held-out scores of an embedder on fresh in-silico stimuli (seed ``seed``, never used in training).

    - ``zero_shot_accuracy``: six-way category accuracy of :meth:`Embedder.classify` with
      :data:`CATEGORY_PROMPTS` on ``n`` images of one category each (the bar for the shipped model is 0.95);
    - ``zero_shot_accuracy_mixed``: the same on ``n`` images drawn as the in-silico subject draws them (a fifth
      hold a second, smaller category); the main category counts as right;
    - ``zero_shot_accuracy_blurred``: the first test with the images blurred (Gaussian, σ = 1 pixel), as soft
      as a VAE's reconstructions;
    - ``retrieval_top1_image_to_text`` / ``text_to_image``: among 500 image–caption pairs, how often the best match
      is the right one (an identical caption counts as right);
    - ``fine_class_top1``: top-1 of :func:`fine_class_probabilities` over the ``n_fine_classes`` classes of
      ``stimuli.FINE_CLASSES`` on the images of the first test (the classifier of MinD-Vis's n-way top-1), and
      ``fine_class_top1_mixed`` on those of the second.

    ``embedder`` is an :class:`Embedder` or anything :func:`brainlens.generation.load_embedder` takes.
    """
    if not isinstance(embedder, Embedder):
            embedder = load_embedder(embedder)
    embedder.eval()
    pure = stimuli.generate(n, seed=seed, size=64, mix_prob=0.0)
    mixed = stimuli.generate(n, seed=seed + 1, size=64)
    per_category = {}
    predicted = _predicted_categories(embedder, pure)
    fine = fine_class_probabilities(embedder, to_tensor(pure.images)).argmax(1).numpy()
    fine_mixed = fine_class_probabilities(embedder, to_tensor(mixed.images)).argmax(1).numpy()
    blurred = _predicted_categories(embedder, pure, blur=1.0)
    for k, name in enumerate(stimuli.CATEGORIES):
        chosen = pure.category == k
        per_category[name] = float(np.mean(predicted[chosen] == k)) if chosen.any() else float("nan")

    n_pairs = min(500, n)
    image_emb = torch.cat([embedder.embed_images(to_tensor(mixed.images[i : i + 250])) for i in range(0, n_pairs, 250)])
    captions = [c.lower() for c in mixed.captions[:n_pairs]]
    text_emb = torch.cat([embedder.embed_texts(captions[i : i + 250]) for i in range(0, n_pairs, 250)])
    ids = torch.tensor(_caption_ids(captions))
    similarity = image_emb @ text_emb.T  # (n_pairs, n_pairs)
    image_to_text = float((ids[similarity.argmax(1)] == ids).float().mean())
    text_to_image = float((ids[similarity.argmax(0)] == ids).float().mean())
    return {
        "zero_shot_accuracy": float(np.mean(predicted == pure.category)),
        "zero_shot_accuracy_mixed": _zero_shot_accuracy(embedder, mixed),
        "zero_shot_accuracy_blurred": float(np.mean(blurred == pure.category)),
        "zero_shot_accuracy_per_category": per_category,
        "retrieval_top1_image_to_text": image_to_text,
        "retrieval_top1_text_to_image": text_to_image,
        "fine_class_top1": float(np.mean(fine == pure.fine_class)),
        "fine_class_top1_mixed": float(np.mean(fine_mixed == mixed.fine_class)),
        "n_fine_classes": len(stimuli.FINE_CLASSES),
        "n_images": n,
        "seed": seed,
        "bar": 0.95,
    }

"""Models by name: the small models shipped with brainlens, local folders, and the Hugging Face hub.

One loader serves diffusion pipelines, VAEs, UNets, schedulers, vision and text encoders, tokenizers and
CLIP-style embedders. A source is resolved in this order:

1. a **shipped** model name (``brainlens zoo list``), e.g. ``"embedder"``: a folder inside the package;
2. a **local folder** saved with ``save_pretrained`` (or a hub snapshot copied by hand);
3. a **hub id** such as ``"stabilityai/stable-diffusion-2-1-base"``, ``"openai/clip-vit-large-patch14"`` or
   ``"facebook/dinov2-base"``: first from the local Hugging Face cache only, then, unless ``HF_HUB_OFFLINE`` is
   set, downloaded.

Whatever fails surfaces as one :class:`ModelNotFoundError` that names the source, what was tried and how to fix
it, never as a traceback from inside transformers or diffusers.

Shipped models live in :data:`SHIPPED`; adding one is a single :func:`register` call naming its folder under
``models/weights/``, its kind and its train and evaluate functions. This module names the model files only by
``"module:function"`` strings (their loaders, trainers and evaluators), so that they can import it and no
import circle forms.

Example
-------
>>> embedder = load_model("embedder")                              # shipped, an Embedder
>>> vae = load_model("stabilityai/stable-diffusion-2-1-base", kind="vae")   # the pipeline's vae/ subfolder
>>> dino = load_model("facebook/dinov2-base", kind="vision")
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import re
import socket
import sys
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "KINDS",
    "PIPELINE_CLASSES",
    "SHIPPED",
    "WEIGHTS_DIR",
    "ModelNotFoundError",
    "ShippedModel",
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

WEIGHTS_DIR = Path(__file__).parent / "weights"

KINDS = ("pipeline", "vae", "unet", "scheduler", "vision", "text", "tokenizer", "clip", "backbone", "mae")
_ALIASES = {"embedder": "clip", "image": "vision", "text_encoder": "text", "image_encoder": "vision"}
# Where each kind sits inside a diffusers pipeline folder (one with model_index.json).
_PIPELINE_PARTS = {"vae": "vae", "unet": "unet", "scheduler": "scheduler", "text": "text_encoder",
                   "tokenizer": "tokenizer", "vision": "image_encoder"}
_HUB_EXTRA = "pip install transformers diffusers (dependencies of brainlens)"
# transformers model types that pair an image tower with a text tower in one embedding space
DUAL_ENCODERS = ("clip", "vision-text-dual-encoder")
# Pipeline classes that live in brainlens rather than in diffusers, by the `_class_name` their
# model_index.json records: "ClassName": "module:ClassName".
PIPELINE_CLASSES: dict[str, str] = {
    "EmbeddingDiffusionPipeline": "brainlens.models.pipeline_embedding:EmbeddingDiffusionPipeline",
}
# Kinds whose models are brainlens's own classes, loaded by a function of their model file: "module:function",
# called as function(resolved, **kwargs).
_OWN_LOADERS = {"clip": "brainlens.models.embedder:load_resolved", "backbone": "brainlens.models.convnet:load_resolved",
                "mae": "brainlens.models.image_mae:load_resolved"}


class ModelNotFoundError(ValueError):
    """A model could not be found or loaded: the message names the source, what was tried and the fix."""


@dataclass(frozen=True)
class ShippedModel:
    """A small model that brainlens trains on in-silico stimuli and ships inside the package.

    ``train`` and ``evaluate`` name functions as ``"module:function"`` so that listing the zoo imports nothing
    heavy. They are called as ``train(out_dir, seed=seed, progress=progress) -> dict`` (metrics; the function
    writes the model and ``metrics.json`` into ``out_dir``) and ``evaluate(folder) -> dict``.
    """

    name: str
    kind: str  # one of KINDS: how load_model reads the folder
    folder: str  # under models/weights/
    train: str  # "module:function"
    evaluate: str  # "module:function"
    description: str = ""
    bar: tuple[str, float] | None = None  # (metric, least value) that the shipped weights must reach
    root: Path | None = None  # where ``folder`` lies, when not under models/weights/ (a decoder's own weights, say)
    sample: str | None = None  # "module:function" drawing example outputs: sample(out_dir, model, n=, seed=) -> paths

    @property
    def path(self) -> Path:
        return (self.root or WEIGHTS_DIR) / self.folder

    @property
    def train_fn(self) -> Callable[..., dict]:
        return _function(self.train)

    @property
    def evaluate_fn(self) -> Callable[..., dict]:
        return _function(self.evaluate)

    @property
    def sample_fn(self) -> Callable[..., list] | None:
        return None if self.sample is None else _function(self.sample)

    def is_present(self) -> bool:
        return self.path.is_dir() and any(self.path.iterdir())

    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file()) if self.path.is_dir() else 0


SHIPPED: dict[str, ShippedModel] = {}


def _check_kind(kind: str) -> str:
    kind = _ALIASES.get(kind, kind)
    if kind not in KINDS:
        raise ValueError(f"'kind' must be one of {KINDS}. {kind!r} was provided.")
    return kind


def register(model: ShippedModel) -> ShippedModel:
    """Add a shipped model to :data:`SHIPPED` (replacing one of the same name)."""
    kind = _check_kind(model.kind)
    if kind != model.kind:
        raise ValueError(f"ShippedModel.kind must be one of {KINDS}; {model.kind!r} was provided.")
    SHIPPED[model.name] = model
    return model


def _function(reference: str) -> Callable[..., Any]:
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


register(ShippedModel(
    name="embedder",
    kind="clip",
    folder="embedder",
    train="brainlens.models.embedder:train_embedder",
    evaluate="brainlens.models.embedder:evaluate_embedder",
    description="CLIP's role: image-text dual encoder (ResNet 64 px + CLIP text transformer) trained "
                "contrastively on in-silico images and captions",
    bar=("zero_shot_accuracy", 0.95),
))

register(ShippedModel(
    name="insilico-convnet",
    kind="backbone",
    folder="insilico_convnet",
    train="brainlens.models.convnet:train_convnet",
    evaluate="brainlens.models.convnet:evaluate_convnet",
    description="default encoding backbone: residual convnet that tags the words of in-silico captions (4 stages)",
    bar=("tag_map", 0.35),
))

# The shipped VAE is the diffusion pipeline's vae/ subfolder, stored once: diffusers reads a pipeline only from
# one self-contained folder. Retraining it (`brainlens zoo train vae`) therefore replaces the pipeline's VAE;
# retrain the diffusion model after it, as the UNet learned the old VAE's latents.
register(ShippedModel(
    name="vae",
    kind="vae",
    folder="diffusion/vae",
    train="brainlens.models.vae:train_vae",
    evaluate="brainlens.models.vae:evaluate_vae",
    sample="brainlens.models.vae:sample_vae",
    description="AutoencoderKL: 64 px RGB <-> 16 x 16 x 8 latents, trained on in-silico images",
))
register(ShippedModel(
    name="diffusion",
    kind="pipeline",
    folder="diffusion",
    train="brainlens.models.diffusion:train_diffusion",
    evaluate="brainlens.models.diffusion:evaluate_diffusion",
    sample="brainlens.models.diffusion:sample_diffusion",
    description="latent diffusion on the vae, UNet conditioned on the embedder's image embedding (or none): "
                "autoguided sampling, embedding -> image, img2img",
))
register(ShippedModel(
    name="image-mae",
    kind="mae",
    folder="image_mae",
    train="brainlens.models.image_mae:train_image_mae",
    evaluate="brainlens.models.image_mae:evaluate_image_mae",
    description="ViT-MAE (transformers) on 64 px in-silico images, 8 px patches: the image MAE of CAD's cross-modal "
                "phase, offline (facebook/vit-mae-base's part)",
))


# ---------------------------------------------------------------------------------------------
# Resolving a source


@dataclass(frozen=True)
class Resolved:
    """Where a source was found: ``where`` is "shipped", "local" or "hub"; ``location`` a folder or a hub id."""

    source: str
    where: str
    location: str
    shipped: ShippedModel | None = None


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def resolve(name_or_path: str | os.PathLike) -> Resolved:
    """Find a model source: a shipped name, then a local folder, then a hub id (not checked for existence).

    Raises :class:`ModelNotFoundError` for a shipped model without weights, a path that does not exist, or a
    string that is neither.
    """
    source = os.fspath(name_or_path)
    if not isinstance(source, str) or not source:
        raise ModelNotFoundError(f"a model source must be a shipped name, a folder or a hub id; {name_or_path!r} was provided.")
    if source in SHIPPED:
        entry = SHIPPED[source]
        if not entry.is_present():
            raise ModelNotFoundError(
                f"shipped model {source!r} has no weights at {entry.path}; "
                f"train them with `brainlens zoo train {source}`."
            )
        return Resolved(source, "shipped", str(entry.path), entry)
    path = Path(source).expanduser()
    if path.is_dir():
        return Resolved(source, "local", str(path))
    looks_like_path = source.startswith((".", "/", "~")) or "\\" in source or source.count("/") > 1 or path.exists()
    if looks_like_path or not _HUB_ID.match(source):
        raise ModelNotFoundError(
            f"no model folder at {source!r}: it is not a shipped model ({', '.join(sorted(SHIPPED))}), "
            f"not an existing folder, and not a Hugging Face hub id like 'openai/clip-vit-large-patch14'."
        )
    return Resolved(source, "hub", source)


def _offline() -> bool:
    flags = (os.environ.get(name, "").strip().upper() for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    if any(flag in {"1", "ON", "YES", "TRUE"} for flag in flags):
        return True
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(getattr(constants, "HF_HUB_OFFLINE", False))


def _hub_endpoint() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.ENDPOINT)
    except ImportError:
        return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def _hub_unreachable() -> str | None:
    """Why the hub cannot be reached from here, or None when it can: a TCP connection to its host (or to the
    proxy that would carry the download) within a few seconds. Without network, a download would otherwise
    retry for about a minute before failing."""
    endpoint = urllib.parse.urlsplit(_hub_endpoint())
    scheme = endpoint.scheme or "https"
    proxy = os.environ.get(f"{scheme.upper()}_PROXY") or os.environ.get(f"{scheme}_proxy")
    target = endpoint
    if proxy:
        target = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    host = target.hostname
    port = target.port or (443 if target.scheme == "https" else 80)
    if host is None:
        return None  # an endpoint this check cannot read: let the download itself say
    return _connection_error(host, port)


@functools.lru_cache(maxsize=8)
def _connection_error(host: str, port: int, timeout: float = 3.0) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as err:
        return f"{host}:{port} cannot be reached from this machine ({err.strerror or type(err).__name__})"


def _hub_cache() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except ImportError:
        return os.path.join(os.environ.get("HF_HOME", "~/.cache/huggingface"), "hub")


def _not_cached_message(kind: str, repo: str, reason: str) -> str:
    return (
        f"cannot load {kind} {repo!r}: it is not a shipped model ({', '.join(sorted(SHIPPED))}) or a local folder, "
        f"{reason}. To fix: on a machine with network run `huggingface-cli download {repo}` (or `hf download {repo}`) "
        f"and copy its Hugging Face cache here, pointing HF_HOME at it (the cache now in use is {_hub_cache()}); "
        f"or save the model with save_pretrained and pass that folder; or unset HF_HUB_OFFLINE where the hub can be reached."
    )


def require(module: str, what: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"loading {what} needs the {module!r} package: {_HUB_EXTRA}") from None


def load_with_fallback(kind: str, resolved: Resolved, load: Callable[[str, bool], Any]) -> Any:
    """Run ``load(location, local_files_only)``, cache first for hub ids, and turn failures into ModelNotFoundError."""
    hub_errors = hub_error_types()
    if resolved.where != "hub":
        try:
            with quiet_library_bars():
                return load(resolved.location, True)
        except (OSError, *hub_errors) as err:
            raise ModelNotFoundError(
                f"cannot load {kind} from {resolved.where} folder {resolved.location}: {_first_line(err)}"
            ) from None
    repo = resolved.location
    try:
        return load(repo, True)
    except (OSError, *hub_errors) as err:
        cache_error = err
    if _offline():
        raise ModelNotFoundError(_not_cached_message(
            kind, repo, "it is not in the local Hugging Face cache and downloads are off (HF_HUB_OFFLINE is set)"
        )) from None
    unreachable = _hub_unreachable()
    if unreachable is not None:
        raise ModelNotFoundError(_not_cached_message(
            kind, repo, f"it is not in the local Hugging Face cache and the hub is out of reach: {unreachable}"
        )) from None
    try:
        return load(repo, False)
    except (OSError, *hub_errors) as err:
        raise ModelNotFoundError(_not_cached_message(
            kind, repo, f"it is not in the local Hugging Face cache ({_first_line(cache_error)}), and downloading it "
            f"failed ({_first_line(err)})"
        )) from None


@contextlib.contextmanager
def quiet_library_bars():
    """Silence transformers' and diffusers' own progress bars (loading weights, writing shards) for a while.

    Library code does not print; for local folders there is nothing to download, so their bars say nothing.
    """
    toggled = []
    for name in ("transformers", "diffusers"):
        module = sys.modules.get(name)
        logging = getattr(getattr(module, "utils", None), "logging", None) if module else None
        if logging is not None and logging.is_progress_bar_enabled():
            logging.disable_progress_bar()
            toggled.append(logging)
    try:
        yield
    finally:
        for logging in toggled:
            logging.enable_progress_bar()


def hub_error_types() -> tuple[type[BaseException], ...]:
    try:
        from huggingface_hub.errors import EntryNotFoundError, HFValidationError
    except ImportError:
        return ()
    return (HFValidationError, EntryNotFoundError)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def read_json(resolved: Resolved, filename: str, subfolder: str | None, local_only: bool) -> dict | None:
    """A JSON file of the model, or None when it has none."""
    name = f"{subfolder}/{filename}" if subfolder else filename
    if resolved.where != "hub":
        path = Path(resolved.location) / name
        return json.loads(path.read_text()) if path.is_file() else None
    hub = require("huggingface_hub", "models from the hub")
    try:
        path = hub.hf_hub_download(resolved.location, name, local_files_only=local_only)
    except hub.errors.LocalEntryNotFoundError:
        raise  # not cached, which says nothing about whether the repo has the file
    except hub.errors.EntryNotFoundError:
        return None
    return json.loads(Path(path).read_text())


def _default_subfolder(kind: str, resolved: Resolved, subfolder: str | None) -> str | None:
    """Inside a pipeline folder, a component kind reads its own subfolder (``vae/``, ``unet/``, ...)."""
    if subfolder is not None or kind not in _PIPELINE_PARTS:
        return subfolder or None
    if resolved.where != "hub":
        root = Path(resolved.location)
        part = _PIPELINE_PARTS[kind]
        return part if (root / "model_index.json").is_file() and (root / part).is_dir() else None
    for local_only in (True, False):
        if not local_only and (_offline() or _hub_unreachable() is not None):
            break
        try:
            if read_json(resolved, "model_index.json", None, local_only) is not None:
                return _PIPELINE_PARTS[kind]
            return None
        except (OSError, *hub_error_types()):
            continue
    return None


def _with(subfolder: str | None, **kwargs) -> dict:
    return {**kwargs, **({"subfolder": subfolder} if subfolder else {})}


# ---------------------------------------------------------------------------------------------
# Loaders


def load_model(name_or_path: str | os.PathLike, kind: str | None = None, **kwargs) -> Any:
    """Load a model of ``kind`` from a shipped name, a local folder or a hub id.

    Parameters
    ----------
    name_or_path : str or path
        ``"embedder"`` (shipped), a folder saved with ``save_pretrained``, or a hub id.
    kind : str, optional
        One of :data:`KINDS` ("embedder" is an alias of "clip"): ``pipeline`` (a diffusers pipeline),
        ``vae`` / ``unet`` (diffusers models), ``scheduler``, ``vision`` / ``text`` (transformers encoders),
        ``tokenizer``, ``clip`` (an :class:`~brainlens.models.embedder.Embedder`). Defaults to the shipped
        model's kind, or for a local folder what its files say; a hub id needs it.
    **kwargs
        Passed to the specific loader (``subfolder``, ``dtype``, ``device``, ...).

    Raises
    ------
    ModelNotFoundError
        The source cannot be found or read; the message says how to fix it.
    """
    kind = None if kind is None else _check_kind(kind)
    resolved = resolve(name_or_path)
    loader = _LOADERS[_check_kind(kind or _guess_kind(resolved))]
    return loader(resolved, **kwargs)


def _guess_kind(resolved: Resolved) -> str:
    if resolved.shipped is not None:
        return resolved.shipped.kind
    if resolved.where == "local":
        root = Path(resolved.location)
        if (root / "model_index.json").is_file():
            return "pipeline"
        if (root / "scheduler_config.json").is_file():
            return "scheduler"
        config = root / "config.json"
        if config.is_file():
            data = json.loads(config.read_text())
            if "_class_name" in data:
                return "vae" if "Autoencoder" in data["_class_name"] or "VQ" in data["_class_name"] else "unet"
            model_type = data.get("model_type", "")
            if model_type in DUAL_ENCODERS:
                return "clip"
            if model_type == "vit_mae":
                return "mae"
            return "text" if "text" in model_type else "vision"
        if (root / "tokenizer_config.json").is_file():
            return "tokenizer"
    raise ValueError(
        f"cannot tell what kind of model {resolved.source!r} is; pass kind= one of {KINDS}."
    )


def torch_dtype(dtype):
    """A torch dtype from a dtype or its name; None gives float32, whatever precision the weights were saved in
    (the shipped ones are half precision to stay small; transformers 5 would otherwise keep that)."""
    import torch

    if dtype is None:
        return torch.float32
    if not isinstance(dtype, str) or dtype == "auto":
        return dtype

    value = getattr(torch, dtype, None)
    if not isinstance(value, torch.dtype):
        raise ValueError(f"'dtype' must be a torch dtype or its name such as 'float16'. {dtype!r} was provided.")
    return value


def _diffusers_dtype_key(diffusers) -> str:
    # diffusers renamed `torch_dtype` to `dtype` (and warns on the old name); older releases know only the old one
    deprecation = getattr(getattr(diffusers, "utils", None), "deprecation_utils", None)
    return "dtype" if hasattr(deprecation, "_TORCH_DTYPE_DEPRECATION_MESSAGE") else "torch_dtype"


def finish(model, device):
    if device is not None:
        model = model.to(device)
    if hasattr(model, "eval"):
        model.eval()
    return model


def _load_pipeline(resolved: Resolved, *, dtype=None, device=None, **kwargs):
    diffusers = require("diffusers", "diffusion pipelines")
    dtype = torch_dtype(dtype)
    extra = {**kwargs, _diffusers_dtype_key(diffusers): dtype}

    def load(location, local_only):
        index = read_json(resolved, "model_index.json", None, local_only) or {}
        reference = PIPELINE_CLASSES.get(index.get("_class_name", ""))
        cls = _function(reference) if reference else diffusers.DiffusionPipeline
        return cls.from_pretrained(location, local_files_only=local_only, **extra)

    pipe = load_with_fallback("pipeline", resolved, load)
    return pipe.to(device) if device is not None else pipe


def _diffusers_model(kind: str, resolved: Resolved, *, subfolder=None, dtype=None, device=None, **kwargs):
    diffusers = require("diffusers", f"a {kind}")
    subfolder = _default_subfolder(kind, resolved, subfolder)
    dtype = torch_dtype(dtype)

    def load(location, local_only):
        # any diffusers model class reads any model's config.json; its _class_name says which class to build
        config = diffusers.AutoencoderKL.load_config(location, local_files_only=local_only, **_with(subfolder))
        class_name = config.get("_class_name", "")
        cls = getattr(diffusers, class_name, None)
        if cls is None or not isinstance(cls, type) or not issubclass(cls, diffusers.ModelMixin):
            raise ModelNotFoundError(f"{resolved.source!r} holds {class_name or 'no diffusers model'}, not a {kind}")
        is_vae = "Autoencoder" in class_name or class_name.startswith("VQ")
        if is_vae != (kind == "vae"):
            raise ModelNotFoundError(f"{resolved.source!r}{'/' + subfolder if subfolder else ''} holds a {class_name}, not a {kind}")
        extra = {**kwargs, _diffusers_dtype_key(diffusers): dtype}
        return cls.from_pretrained(location, local_files_only=local_only, **_with(subfolder, **extra))

    return finish(load_with_fallback(kind, resolved, load), device)


def load_vae(name_or_path: str | os.PathLike, *, subfolder: str | None = None, dtype=None, device=None, **kwargs):
    """A diffusers VAE (``AutoencoderKL`` or whichever class its config names); a pipeline's ``vae/`` by default."""
    return _diffusers_model("vae", resolve(name_or_path), subfolder=subfolder, dtype=dtype, device=device, **kwargs)


def load_unet(name_or_path: str | os.PathLike, *, subfolder: str | None = None, dtype=None, device=None, **kwargs):
    """A diffusers UNet (``UNet2DConditionModel``, ``UNet2DModel``, ...); a pipeline's ``unet/`` by default."""
    return _diffusers_model("unet", resolve(name_or_path), subfolder=subfolder, dtype=dtype, device=device, **kwargs)


def _load_scheduler(resolved: Resolved, *, subfolder=None, scheduler_class: str | None = None, **kwargs):
    diffusers = require("diffusers", "a scheduler")
    subfolder = _default_subfolder("scheduler", resolved, subfolder)

    def load(location, local_only):
        config = diffusers.DDIMScheduler.load_config(location, local_files_only=local_only, **_with(subfolder))
        class_name = scheduler_class or config.get("_class_name", "")
        cls = getattr(diffusers, class_name, None)
        if cls is None or not isinstance(cls, type) or not issubclass(cls, diffusers.SchedulerMixin):
            raise ModelNotFoundError(f"{class_name!r} is not a diffusers scheduler class (from {resolved.source!r})")
        return cls.from_config(config, **kwargs)

    return load_with_fallback("scheduler", resolved, load)


def load_scheduler(name_or_path: str | os.PathLike, *, subfolder: str | None = None, scheduler_class: str | None = None, **kwargs):
    """A diffusers scheduler from ``scheduler_config.json``; ``scheduler_class="DDIMScheduler"`` swaps the class
    (e.g. DDIM sampling with Stable Diffusion's noise schedule)."""
    return _load_scheduler(resolve(name_or_path), subfolder=subfolder, scheduler_class=scheduler_class, **kwargs)


def _transformers_model(kind: str, resolved: Resolved, *, subfolder=None, dtype=None, device=None, **kwargs):
    transformers = require("transformers", f"a {kind} encoder")
    subfolder = _default_subfolder(kind, resolved, subfolder)
    dtype = torch_dtype(dtype)

    def load(location, local_only):
        config = transformers.AutoConfig.from_pretrained(location, local_files_only=local_only, **_with(subfolder))
        extra = {**kwargs, "dtype": dtype}
        if config.model_type == "vision-text-dual-encoder":
            # no class of its own for one tower: load both and keep the one asked for (without the projection)
            both = transformers.AutoModel.from_pretrained(location, local_files_only=local_only, **_with(subfolder, **extra))
            return both.vision_model if kind == "vision" else both.text_model
        if config.model_type != "clip":
            return transformers.AutoModel.from_pretrained(location, local_files_only=local_only, **_with(subfolder, **extra))
        # a full CLIP checkpoint: take the tower asked for, with its projection into the shared space; the other
        # tower's weights are left out on purpose, so transformers' report of them would only alarm
        cls = transformers.CLIPVisionModelWithProjection if kind == "vision" else transformers.CLIPTextModelWithProjection
        logging = transformers.utils.logging
        verbosity = logging.get_verbosity()
        logging.set_verbosity_error()
        try:
            return cls.from_pretrained(location, local_files_only=local_only, **_with(subfolder, **extra))
        finally:
            logging.set_verbosity(verbosity)

    return finish(load_with_fallback(f"{kind} encoder", resolved, load), device)


def load_vision_encoder(name_or_path: str | os.PathLike, *, subfolder: str | None = None, dtype=None, device=None, **kwargs):
    """A transformers image model: ``CLIPVisionModelWithProjection`` for a CLIP checkpoint, else ``AutoModel``
    (e.g. ``Dinov2Model`` for ``facebook/dinov2-base``)."""
    return _transformers_model("vision", resolve(name_or_path), subfolder=subfolder, dtype=dtype, device=device, **kwargs)


def load_text_encoder(name_or_path: str | os.PathLike, *, subfolder: str | None = None, dtype=None, device=None, **kwargs):
    """A transformers text model: ``CLIPTextModelWithProjection`` for a CLIP checkpoint, else ``AutoModel``
    (e.g. ``CLIPTextModel`` from a Stable Diffusion pipeline's ``text_encoder/``)."""
    return _transformers_model("text", resolve(name_or_path), subfolder=subfolder, dtype=dtype, device=device, **kwargs)


def _load_tokenizer(resolved: Resolved, *, subfolder=None, **kwargs):
    transformers = require("transformers", "a tokenizer")
    subfolder = _default_subfolder("tokenizer", resolved, subfolder)

    def load(location, local_only):
        return transformers.AutoTokenizer.from_pretrained(location, local_files_only=local_only, **_with(subfolder, **kwargs))

    return load_with_fallback("tokenizer", resolved, load)


def load_tokenizer(name_or_path: str | os.PathLike, *, subfolder: str | None = None, **kwargs):
    """A transformers tokenizer (``AutoTokenizer``); a pipeline's ``tokenizer/`` by default."""
    return _load_tokenizer(resolve(name_or_path), subfolder=subfolder, **kwargs)


def load_pipeline(name_or_path: str | os.PathLike, *, dtype=None, device=None, **kwargs):
    """A diffusers pipeline (``DiffusionPipeline.from_pretrained`` picks the class from ``model_index.json``)."""
    return _load_pipeline(resolve(name_or_path), dtype=dtype, device=device, **kwargs)


_LOADERS: dict[str, Callable[..., Any]] = {
    "pipeline": _load_pipeline,
    "vae": lambda resolved, **kw: _diffusers_model("vae", resolved, **kw),
    "unet": lambda resolved, **kw: _diffusers_model("unet", resolved, **kw),
    "scheduler": _load_scheduler,
    "vision": lambda resolved, **kw: _transformers_model("vision", resolved, **kw),
    "text": lambda resolved, **kw: _transformers_model("text", resolved, **kw),
    "tokenizer": _load_tokenizer,
    "clip": lambda resolved, **kw: _function(_OWN_LOADERS["clip"])(resolved, **kw),
    "mae": lambda resolved, **kw: _function(_OWN_LOADERS["mae"])(resolved, **kw),
    "backbone": lambda resolved, **kw: _function(_OWN_LOADERS["backbone"])(resolved, **kw),
}

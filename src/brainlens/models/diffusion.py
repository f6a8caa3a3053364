"""The shipped latent diffusion model: an embedding-conditioned UNet on the shipped VAE (:mod:`brainlens.models.vae`).

Both are diffusers components trained on in-silico stimuli and saved in diffusers' folder format, so
the code that loads ``stabilityai/stable-diffusion-2-1-base`` from the hub loads them too:

- ``weights/diffusion/``: an :class:`~brainlens.models.pipeline_embedding.EmbeddingDiffusionPipeline`
  folder (``model_index.json``, ``vae/``, ``unet/``, ``guide_unet/``, ``scheduler/``). Its ``UNet2DConditionModel``
  reads the shipped embedder's image embedding through a class-embedding projection added to the
  timestep embedding, as Stable unCLIP does. It was trained with the embedding, dropped to zero
  for 15 % of samples, so the same network samples unconditionally and
  supports classifier-free guidance (``brainlens zoo train diffusion``, after the VAE and the embedder).
  A smaller, shorter-trained ``guide_unet`` autoguides unconditional sampling (:func:`train_guide`).

Weights are stored in float16 to keep the package small; loaders cast them back to float32.

Training is deterministic from its seed (on one torch build and thread count), saves a checkpoint
after every epoch in a hidden folder beside the output, and an interrupted run continues from it.

Example
-------
>>> from brainlens.models import load_embedder, load_pipeline
>>> pipe, embedder = load_pipeline("diffusion"), load_embedder("embedder")
>>> images = pipe(num_images=8, generator=torch.Generator().manual_seed(0), output_type="pt").images
>>> again = pipe(embedder.embed_images(images), generator=torch.Generator().manual_seed(1)).images
"""

from __future__ import annotations

import copy
import functools
import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from brainlens._io import fresh_staging, load_checkpoint, replace_folder, save_checkpoint, write_json
from brainlens.identification import two_way_identification
from brainlens.insilico import stimuli
from brainlens.insilico.stimuli import to_tensor
from brainlens.models import zoo
from brainlens.models._training import (
    HELDOUT_SEED,
    TRAIN_SEED,
    Progress,
    as_uint8,
    check_positive,
    checkpoint_folder,
    loaded,
    stage_ticker,
    training_images,
    warmup_cosine,
)
from brainlens.models.embedder import category_probabilities, load_embedder
from brainlens.models.latents import images_to_latents

__all__ = [
    "UNetSpec",
    "build_scheduler",
    "evaluate_diffusion",
    "sample_diffusion",
    "train_diffusion",
    "train_guide",
]



@dataclass(frozen=True)
class UNetSpec:
    """Shape of the shipped UNet (a diffusers ``UNet2DConditionModel``) on 16 × 16 latents."""

    block_out_channels: tuple[int, ...] = (48, 96, 160)  # widths at 16, 8 and 4 latent cells
    layers_per_block: int = 1  # resnets per down block (up blocks have one more)
    attention_head_dim: int = 32  # self-attention at the coarsest level only, 160 / 32 = 5 heads
    norm_num_groups: int = 16  # GroupNorm groups; divides every width

    def build(self, embedding_dim: int, latent_channels: int = 4, latent_size: int = 16):
        from diffusers import UNet2DConditionModel

        n = len(self.block_out_channels)
        down = ("DownBlock2D",) * (n - 1) + ("AttnDownBlock2D",)
        up = ("AttnUpBlock2D",) + ("UpBlock2D",) * (n - 1)
        return UNet2DConditionModel(
            sample_size=latent_size,
            in_channels=latent_channels,
            out_channels=latent_channels,
            down_block_types=down,
            up_block_types=up,
            mid_block_type="UNetMidBlock2D",
            block_out_channels=tuple(self.block_out_channels),
            layers_per_block=self.layers_per_block,
            attention_head_dim=self.attention_head_dim,
            norm_num_groups=self.norm_num_groups,
            # the embedding is projected and added to the timestep embedding, which scales and
            # shifts every resnet's features (FiLM)
            class_embed_type="projection",
            projection_class_embeddings_input_dim=embedding_dim,
            resnet_time_scale_shift="scale_shift",
            cross_attention_dim=embedding_dim,  # unused: no cross-attention blocks
        )


# The shipped pipeline's guide for autoguided sampling: a quarter of the UNet's parameters, trained for
# a sixth of its epochs, from its own seed. The scale was chosen on the embedder's category proportions
# of unconditional samples (benchmarks/RESULTS.md).
GUIDE_SPEC = UNetSpec(block_out_channels=(24, 48, 80), attention_head_dim=32, norm_num_groups=8)  # 1.1 M parameters
GUIDE_EPOCHS = 4
AUTOGUIDANCE_SCALE = 2.0
_GUIDE_SEED_OFFSET = 1


def build_scheduler(prediction_type: str = "v_prediction"):
    """The noise schedule of training, as a DDIM scheduler (swap in DPM-Solver etc. with ``from_config``).

    Stable Diffusion's scaled-linear betas; "trailing" timestep spacing so that sampling starts at the
    last training step, where the latents are closest to pure noise. The UNet predicts v
    (``prediction_type="v_prediction"``, as Stable Diffusion 2 does): at high noise a noise prediction
    must be divided by a tiny √ᾱ to give the clean latent, so its errors blow up into blotches, while v
    there is the clean latent itself.
    """
    from diffusers import DDIMScheduler

    if prediction_type not in ("epsilon", "v_prediction"):
        raise ValueError(f"prediction_type must be 'epsilon' or 'v_prediction'; {prediction_type!r} was provided.")
    return DDIMScheduler(
        num_train_timesteps=1000,
        beta_schedule="scaled_linear",
        beta_start=0.00085,
        beta_end=0.012,
        prediction_type=prediction_type,
        clip_sample=False,
        set_alpha_to_one=False,
        timestep_spacing="trailing",
    )


# ---------------------------------------------------------------------------------------------
# Diffusion


@torch.no_grad()
def _encode_latents(vae, data: np.ndarray, progress: Progress | None, batch_size: int = 200) -> torch.Tensor:
    """Training images → scaled VAE latents (n, C, h, w), float16, through the posterior mean."""
    vae = vae.float().eval()
    tick = stage_ticker(progress, "encoding")
    parts = []
    for i in range(0, len(data), batch_size):
        z = images_to_latents(vae, to_tensor(data[i : i + batch_size]))
        parts.append(z.half())
        if tick is not None:
            tick(len(z))
    return torch.cat(parts)


@torch.no_grad()
def _embed(embedder, data: np.ndarray, progress: Progress | None, batch_size: int = 200) -> torch.Tensor:
    """Training images → the embedder's image embeddings (n, D), float32."""
    tick = stage_ticker(progress, "embedding")
    parts = []
    for i in range(0, len(data), batch_size):
        parts.append(embedder.embed_images(to_tensor(data[i : i + batch_size])).float().cpu())
        if tick is not None:
            tick(len(parts[-1]))
    return torch.cat(parts)


def _cached(path: Path, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
    """A tensor kept beside the checkpoint, so a resumed run skips recomputing it."""
    if path.is_file():
        return torch.load(path, map_location="cpu", weights_only=True)
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(value, path.with_name(path.name + ".tmp"))
    os.replace(path.with_name(path.name + ".tmp"), path)
    return value


def _ema_update(ema: dict[str, torch.Tensor], model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for name, value in model.state_dict().items():
            if value.dtype.is_floating_point:
                ema[name].mul_(decay).add_(value, alpha=1 - decay)
            else:
                ema[name].copy_(value)


class _TrainingData:
    """The training stimuli of a UNet and what it learns from them, each kept beside the checkpoint.

    The stimuli are drawn at most once, and only when a cache misses; their VAE latents and embeddings
    are computed once and reloaded by a resumed run.
    """

    def __init__(self, checkpoint_dir: Path, n: int, seed: int, size: int, images: np.ndarray | None, progress: Progress | None):
        self.checkpoint_dir, self.progress = checkpoint_dir, progress
        self._draw = lambda: training_images(n, seed, size, images, progress)
        self._images: np.ndarray | None = None

    def images(self) -> np.ndarray:
        if self._images is None:
            self._images = self._draw()
        return self._images

    def latents(self, vae) -> torch.Tensor:
        """Scaled VAE latents (n, C, h, w), float16."""
        return _cached(self.checkpoint_dir / "latents.pt", lambda: _encode_latents(vae, self.images(), self.progress))

    def embeddings(self, embedder) -> torch.Tensor:
        """The embedder's image embeddings (n, D), float32."""
        return _cached(self.checkpoint_dir / "embeddings.pt", lambda: _embed(embedder, self.images(), self.progress))


@dataclass(frozen=True)
class _UNetFit:
    """How one UNet is trained (see :func:`train_diffusion` for each field)."""

    n_train: int
    unconditional_epochs: int
    epochs: int
    batch_size: int
    lr: float
    warmup: float
    drop_prob: float
    ema_decay: float
    min_snr_gamma: float
    prediction_type: str

    def check(self) -> None:
        check_positive(n_train=self.n_train, epochs=self.epochs, batch_size=self.batch_size)
        value = self.unconditional_epochs
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"unconditional_epochs must be an int >= 0; unconditional_epochs={value!r} was provided.")
        if not 0.0 <= self.drop_prob < 1.0:
            raise ValueError(f"drop_prob must be in [0, 1); drop_prob={self.drop_prob!r} was provided.")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1); ema_decay={self.ema_decay!r} was provided.")


def _fit_unet(
    unet,
    latents: torch.Tensor,
    conditioning: Callable[[], torch.Tensor],
    fit: _UNetFit,
    *,
    seed: int,
    checkpoint: Path,
    settings: dict,
    progress: Progress | None,
) -> dict:
    """Train `unet` on `latents` (n, C, h, w); return its EMA weights, history, steps and seconds.

    ``conditioning()`` gives the embeddings (n, D) of the latents' images; it is called when the
    conditional phase begins. A checkpoint is written to `checkpoint` after every epoch, and a run
    with the same `settings` continues from it.
    """
    embedding_dim = int(unet.config.projection_class_embeddings_input_dim)
    noise_schedule = build_scheduler(fit.prediction_type)
    alphas_cumprod = noise_schedule.alphas_cumprod  # (T,)
    snr = alphas_cumprod / (1 - alphas_cumprod)
    # (T,) min-SNR weights: min(SNR, gamma) over the SNR-weight the target already carries
    loss_weight = snr.clamp(max=fit.min_snr_gamma) / (snr + 1 if fit.prediction_type == "v_prediction" else snr)
    optimiser = torch.optim.AdamW(unet.parameters(), lr=fit.lr, weight_decay=0.01)
    steps_per_epoch = math.ceil(fit.n_train / fit.batch_size)
    n_epochs = fit.unconditional_epochs + fit.epochs
    schedule = warmup_cosine(optimiser, n_epochs * steps_per_epoch, fit.warmup)
    generator = torch.Generator().manual_seed(seed)
    ema = {name: value.detach().clone() for name, value in unet.state_dict().items()}
    history: list[dict] = []
    first_epoch, step, elapsed = 0, 0, 0.0
    state = load_checkpoint(checkpoint, settings)
    if state is not None:
        unet.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(state["schedule"])
        generator.set_state(state["generator"])
        ema = state["ema"]
        history, first_epoch, step, elapsed = state["history"], state["epoch"], state["step"], state["seconds"]

    embeddings = None
    tick = stage_ticker(progress, "unet steps")
    n_timesteps = len(alphas_cumprod)
    for epoch in range(first_epoch, n_epochs):
        conditional = epoch >= fit.unconditional_epochs
        if conditional and embeddings is None:
            embeddings = conditioning()
            if embeddings.shape[1] != embedding_dim:
                raise ValueError(f"the embedder gives {embeddings.shape[1]}-d embeddings; the UNet reads {embedding_dim}-d ones.")
        epoch_started = time.perf_counter()
        unet.train()
        order = torch.randperm(fit.n_train, generator=generator)
        running = 0.0
        for start in range(0, fit.n_train, fit.batch_size):
            idx = order[start : start + fit.batch_size].sort().values
            clean = latents[idx].float()  # (B, C, h, w)
            condition = torch.zeros(len(idx), embedding_dim)  # (B, D): "no embedding"
            if conditional:
                keep = torch.rand(len(idx), generator=generator) >= fit.drop_prob
                condition[keep] = embeddings[idx][keep]
            t = torch.randint(0, n_timesteps, (len(idx),), generator=generator)
            noise = torch.randn(clean.shape, generator=generator)
            noisy = noise_schedule.add_noise(clean, noise, t)
            target = noise_schedule.get_velocity(clean, noise, t) if fit.prediction_type == "v_prediction" else noise
            predicted = unet(noisy, t, encoder_hidden_states=None, class_labels=condition).sample
            per_sample = (predicted - target).pow(2).mean(dim=(1, 2, 3))
            loss = (loss_weight[t] * per_sample).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            step += 1
            # the average warms up, so early weights do not linger in it
            _ema_update(ema, unet, min(fit.ema_decay, (1 + step) / (10 + step)))
            running += loss.item() * len(idx)
            if tick is not None:
                tick(1)
        elapsed += time.perf_counter() - epoch_started
        history.append({"epoch": epoch + 1, "conditional": conditional, "train_loss": running / fit.n_train})
        save_checkpoint(checkpoint, {
            "settings": settings, "model": unet.state_dict(), "optimiser": optimiser.state_dict(),
            "schedule": schedule.state_dict(), "generator": generator.get_state(), "ema": ema,
            "history": history, "epoch": epoch + 1, "step": step, "seconds": elapsed,
        })
    return {"ema": ema, "history": history, "steps": step, "seconds": elapsed}


def _trained(unet, fitted: dict):
    """`unet` with its EMA weights, rounded to float16 (what is evaluated is what gets shipped)."""
    unet.load_state_dict(fitted["ema"])
    return unet.half().float().eval()


def _drop_source_paths(folder: Path) -> None:
    """Remove ``_name_or_path`` from every diffusers ``config.json`` under `folder`: a model loaded from
    disk carries the folder it came from, a path on this machine that means nothing in a saved copy."""
    for config_file in folder.rglob("config.json"):
        config = json.loads(config_file.read_text())
        if config.pop("_name_or_path", None) is not None:
            write_json(config_file, config)


def _save_pipeline(pipe, out_dir: Path, metrics: dict) -> None:
    """Write `pipe` in float16 with ``metrics.json`` to `out_dir`, replacing it as a whole."""
    from brainlens.models.pipeline_embedding import EmbeddingDiffusionPipeline

    staging = fresh_staging(out_dir)
    # float16 storage (loaders cast back to float32), on copies: the caller's models stay as they were
    halved = lambda model: None if model is None else copy.deepcopy(model).half()  # noqa: E731
    stored = EmbeddingDiffusionPipeline(vae=halved(pipe.vae), unet=halved(pipe.unet), scheduler=pipe.scheduler,
                                        guide_unet=halved(pipe.guide_unet),
                                        autoguidance_scale=pipe.config.autoguidance_scale)
    stored.save_pretrained(staging)
    _drop_source_paths(staging)
    write_json(staging / "metrics.json", metrics)
    replace_folder(staging, out_dir)


def train_diffusion(
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    vae="vae",
    embedder="embedder",
    embedding_dim: int = 128,
    n_train: int = 30_000,
    unconditional_epochs: int = 0,
    epochs: int = 24,
    batch_size: int = 64,
    lr: float = 1e-3,
    warmup: float = 0.02,
    drop_prob: float = 0.15,
    ema_decay: float = 0.999,
    min_snr_gamma: float = 5.0,
    prediction_type: str = "v_prediction",
    spec: UNetSpec = UNetSpec(),
    guide_spec: UNetSpec | None = GUIDE_SPEC,
    guide_epochs: int = GUIDE_EPOCHS,
    autoguidance_scale: float = AUTOGUIDANCE_SCALE,
    images: np.ndarray | None = None,
    evaluate: bool = True,
    progress: Progress | None = None,
) -> dict:
    """Train the embedding-conditioned UNet and its guide on VAE latents of in-silico images; save the pipeline.

    DDPM training (v or noise prediction at uniform timesteps of :func:`build_scheduler`'s schedule),
    with min-SNR loss weights (Hang et al. 2023: ``min(SNR, gamma) / (SNR + 1)`` for v), AdamW with
    warm-up and cosine decay over all epochs, and an exponential moving average of the weights, which
    is what gets saved. Two phases over the same images:

    1. `unconditional_epochs` (none by default) with every embedding zero: the UNet learns the images
       themselves, without the embedder (so this phase can run before one exists);
    2. `epochs` conditioned on the embedder's image embedding of each clean image, replaced by zeros
       with probability `drop_prob` ("no embedding": unconditional sampling and classifier-free
       guidance).

    Then the guide UNet for autoguided sampling (`guide_spec`, see :func:`train_guide`), unless
    `guide_spec` is None.

    The defaults are those of the shipped model (4.4 M parameters): 24 epochs of 30,000 images at batch
    64 (11,256 steps, 50 minutes on 2 CPU cores), then the guide (4 epochs, 1,876 steps, 174 seconds).

    Latents and embeddings of the training set are computed once and kept with the checkpoint.

    Parameters
    ----------
    out_dir : path
        Pipeline folder to write (``model_index.json``, ``vae/``, ``unet/``, ``guide_unet/``,
        ``scheduler/``, ``metrics.json``); replaced as a whole at the end. Checkpoints as in
        :func:`train_vae`.
    seed : int
        Seeds the weights, batches, noise and embedding drops; the training stimuli are
        ``stimuli.generate(n_train, 30_000 + seed)``.
    vae, embedder : model or name
        The VAE whose latents the UNet learns (copied into the pipeline) and the embedder that
        conditions it; shipped names by default. The embedder is loaded when phase 2 begins.
    embedding_dim : int
        Size of the embedder's embeddings (the UNet is built before the embedder is loaded).
    guide_spec, guide_epochs, autoguidance_scale
        The guide UNet's shape, its training epochs (conditioned as in phase 2) and the pipeline's
        default autoguidance scale.
    evaluate : bool
        Run :func:`evaluate_diffusion` on the result and put its figures in ``metrics.json``.
    progress : callable, optional
        ``progress(stage, k)``: ``"stimuli"``, ``"encoding"`` and ``"embedding"`` (images),
        ``"unet steps"`` (1 per step), and the stages of :func:`evaluate_diffusion`.

    Returns
    -------
    dict
        The metrics written to ``metrics.json``.
    """
    from brainlens.models.pipeline_embedding import EmbeddingDiffusionPipeline, check_autoguidance

    fit = _UNetFit(n_train, unconditional_epochs, epochs, batch_size, lr, warmup, drop_prob, ema_decay,
                   min_snr_gamma, prediction_type)
    fit.check()
    check_positive(embedding_dim=embedding_dim, guide_epochs=guide_epochs)
    if guide_spec is not None:
        check_autoguidance(autoguidance_scale, guide_spec)
    out_dir = Path(out_dir)
    started = time.perf_counter()
    vae_model = loaded(vae, zoo.load_vae).float().eval()
    name_of = lambda model: str(model) if isinstance(model, (str, os.PathLike)) else type(model).__name__  # noqa: E731
    settings = {"seed": seed, **asdict(fit), "spec": asdict(spec), "embedding_dim": embedding_dim,
                "vae": name_of(vae), "embedder": name_of(embedder)}
    checkpoint_dir = checkpoint_folder(out_dir)
    data = _TrainingData(checkpoint_dir, n_train, seed, int(vae_model.config.sample_size), images, progress)
    latents = data.latents(vae_model)

    @functools.cache
    def embedder_model():  # loaded when first needed: the unconditional phase runs without it
        return loaded(embedder, load_embedder).float().eval()

    def conditioning() -> torch.Tensor:
        return data.embeddings(embedder_model())

    torch.manual_seed(seed)
    unet = spec.build(embedding_dim, latents.shape[1], latents.shape[-1])
    fitted = _fit_unet(unet, latents, conditioning, fit, seed=seed, checkpoint=checkpoint_dir / "state.pt",
                       settings=settings, progress=progress)
    pipe = EmbeddingDiffusionPipeline(vae=vae_model, unet=_trained(unet, fitted), scheduler=build_scheduler(prediction_type))
    training = {**settings, "steps": fitted["steps"], "torch": torch.__version__, "threads": torch.get_num_threads()}
    metrics = {"train_seconds": round(fitted["seconds"], 1), "history": fitted["history"],
               "parameters": sum(p.numel() for p in pipe.unet.parameters()), "training": training}
    if guide_spec is not None:
        guide_fit = replace(fit, unconditional_epochs=0, epochs=guide_epochs)
        pipe, guide_metrics = _add_guide(pipe, latents, conditioning, guide_fit, guide_spec, autoguidance_scale,
                                         seed=seed, checkpoint_dir=checkpoint_dir, progress=progress)
        metrics["guide"] = guide_metrics
    if evaluate:
        metrics = {**evaluate_diffusion(pipe, embedder_model(), progress=progress), **metrics}
    metrics["wall_seconds"] = round(time.perf_counter() - started, 1)
    _save_pipeline(pipe, out_dir, metrics)
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return metrics


def train_guide(
    out_dir: str | os.PathLike,
    pipeline="diffusion",
    *,
    seed: int = 0,
    embedder="embedder",
    n_train: int = 30_000,
    epochs: int = GUIDE_EPOCHS,
    batch_size: int = 64,
    lr: float = 1e-3,
    warmup: float = 0.02,
    drop_prob: float = 0.15,
    ema_decay: float = 0.999,
    min_snr_gamma: float = 5.0,
    spec: UNetSpec = GUIDE_SPEC,
    autoguidance_scale: float = AUTOGUIDANCE_SCALE,
    images: np.ndarray | None = None,
    evaluate: bool = True,
    progress: Progress | None = None,
) -> dict:
    """Give a trained pipeline a guide UNet for autoguided sampling; save the pipeline to `out_dir`.

    Autoguidance (Karras et al. 2024) extrapolates the UNet's prediction away from that of a weaker
    version of itself: here a smaller UNet (`spec`) trained for fewer epochs on the same latents, with
    the same embedding drops, so that its errors are the main UNet's errors made larger. This is the
    second stage of :func:`train_diffusion`; with the same `seed` and training images, it trains the
    same guide, so it adds one to a pipeline trained before guides existed.

    Parameters are those of :func:`train_diffusion`; `pipeline` is a model or a name for
    :func:`brainlens.generation.load_pipeline` whose VAE encodes the training images. The pipeline's
    ``metrics.json``, when it has one, keeps its training figures; ``guide`` and (with `evaluate`)
    fresh evaluation figures are added.
    """
    from brainlens.models.pipeline_embedding import check_autoguidance

    source = pipeline
    pipe = loaded(pipeline, zoo.load_pipeline).to(dtype=torch.float32)
    fit = _UNetFit(n_train, 0, epochs, batch_size, lr, warmup, drop_prob, ema_decay, min_snr_gamma,
                   pipe.scheduler.config.prediction_type)
    fit.check()
    check_autoguidance(autoguidance_scale, spec)
    out_dir = Path(out_dir)
    started = time.perf_counter()
    checkpoint_dir = checkpoint_folder(out_dir)
    data = _TrainingData(checkpoint_dir, n_train, seed, pipe.image_size, images, progress)
    latents = data.latents(pipe.vae.eval())
    embedder_model = loaded(embedder, load_embedder).float().eval()
    pipe, guide_metrics = _add_guide(pipe, latents, lambda: data.embeddings(embedder_model), fit, spec, autoguidance_scale,
                                     seed=seed, checkpoint_dir=checkpoint_dir, progress=progress)
    metrics = _previous_metrics(source)
    metrics["guide"] = guide_metrics
    if evaluate:
        metrics.update(evaluate_diffusion(pipe, embedder_model, progress=progress))
    metrics["guide"]["wall_seconds"] = round(time.perf_counter() - started, 1)
    _save_pipeline(pipe, out_dir, metrics)
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return metrics


def _previous_metrics(pipeline) -> dict:
    """The ``metrics.json`` of a pipeline given by name or folder; empty for models in memory or without one."""
    if not isinstance(pipeline, (str, os.PathLike)):
        return {}
    from brainlens.models.zoo import resolve

    path = Path(resolve(pipeline).location) / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _add_guide(pipe, latents, conditioning, fit: _UNetFit, spec: UNetSpec, autoguidance_scale: float, *,
               seed: int, checkpoint_dir: Path, progress: Progress | None):
    """`pipe` with a guide UNet of `spec` trained on `latents` as `fit` says; and the guide's training figures."""
    from brainlens.models.pipeline_embedding import EmbeddingDiffusionPipeline

    guide_seed = seed + _GUIDE_SEED_OFFSET
    settings = {"seed": guide_seed, **asdict(fit), "spec": asdict(spec)}
    torch.manual_seed(guide_seed)
    guide = spec.build(pipe.embedding_dim, latents.shape[1], latents.shape[-1])
    fitted = _fit_unet(guide, latents, conditioning, fit, seed=guide_seed, checkpoint=checkpoint_dir / "guide.pt",
                       settings=settings, progress=progress)
    guided = EmbeddingDiffusionPipeline(vae=pipe.vae, unet=pipe.unet, scheduler=pipe.scheduler,
                                        guide_unet=_trained(guide, fitted), autoguidance_scale=autoguidance_scale)
    return guided, {"train_seconds": round(fitted["seconds"], 1), "history": fitted["history"],
                    "parameters": sum(p.numel() for p in guide.parameters()),
                    "training": {**settings, "steps": fitted["steps"]}, "autoguidance_scale": autoguidance_scale}


@torch.no_grad()
def evaluate_diffusion(
    pipeline="diffusion",
    embedder="embedder",
    *,
    n_samples: int = 300,
    n_heldout: int = 300,
    num_inference_steps: int = 25,
    guidance_scale: float = 3.0,
    seed: int = HELDOUT_SEED,
    batch_size: int = 100,
    progress: Progress | None = None,
) -> dict:
    """The bar figures of the diffusion model, measured with the embedder.

    - **Unconditional samples** (`n_samples`, DDIM with `num_inference_steps`, autoguided as the
      pipeline's config says): the embedder's zero-shot
      category of each; ``category_proportions`` against those of the training images
      (``train_proportions``, their true main categories, and ``train_proportions_embedder``, the
      embedder's reading of them); ``max_proportion_gap_points`` is the largest gap to the true
      proportions in percentage points (bar ≤ 10). ``confidence``: mean top probability, against
      ``train_confidence`` on training images; ``confident_fraction``: samples with top probability > 0.5.
    - **Embedding → image** on `n_heldout` held-out stimuli: generate from each one's embedding (guidance
      `guidance_scale`), embed the result; ``two_way_identification`` in embedding space (bar ≥ 0.9),
      ``embedding_cosine`` (mean cosine of each pair) and ``category_agreement`` (the embedder puts the
      regenerated image in the original's main category).

    ``pipeline`` and ``embedder`` are models or names for :func:`brainlens.generation.load_pipeline` /
    ``load_embedder``. ``progress(stage, k)``: ``"sampling"`` and ``"regenerating"`` with images done.
    """

    check_positive(n_samples=n_samples, n_heldout=n_heldout, num_inference_steps=num_inference_steps, batch_size=batch_size)
    if n_heldout < 2:
        raise ValueError(f"n_heldout must be >= 2 for identification; n_heldout={n_heldout!r} was provided.")
    pipe, embedder = loaded(pipeline, zoo.load_pipeline), loaded(embedder, load_embedder)
    embedder.eval()
    n_categories = len(stimuli.CATEGORIES)

    def classify(images: torch.Tensor) -> torch.Tensor:  # (N, 3, H, W) → (N, n_categories)
        return category_probabilities(embedder, images, stimuli.CATEGORIES)

    train = stimuli.generate(2000, seed=TRAIN_SEED, size=pipe.image_size)
    train_probs = classify(to_tensor(train.images))
    train_proportions = np.bincount(train.category, minlength=n_categories) / len(train)
    train_read = np.bincount(train_probs.argmax(1).numpy(), minlength=n_categories) / len(train)

    tick = stage_ticker(progress, "sampling")
    samples = []
    for b, start in enumerate(range(0, n_samples, batch_size)):
        count = min(batch_size, n_samples - start)
        out = pipe(num_images=count, num_inference_steps=num_inference_steps,
                   generator=torch.Generator().manual_seed(seed + b), output_type="pt")
        samples.append(out.images.float().cpu())
        if tick is not None:
            tick(count)
    sample_probs = classify(torch.cat(samples))
    proportions = np.bincount(sample_probs.argmax(1).numpy(), minlength=n_categories) / n_samples

    heldout = stimuli.generate(n_heldout, seed=seed, size=pipe.image_size)
    truth = to_tensor(heldout.images)
    truth_emb = torch.cat([embedder.embed_images(truth[i : i + 250]).cpu() for i in range(0, n_heldout, 250)])
    tick = stage_ticker(progress, "regenerating")
    regenerated = []
    for b, start in enumerate(range(0, n_heldout, batch_size)):
        out = pipe(truth_emb[start : start + batch_size], num_inference_steps=num_inference_steps,
                   guidance_scale=guidance_scale, generator=torch.Generator().manual_seed(seed + 10_000 + b),
                   output_type="pt")
        regenerated.append(out.images.float().cpu())
        if tick is not None:
            tick(len(out.images))
    regenerated = torch.cat(regenerated)
    recon_emb = torch.cat([embedder.embed_images(regenerated[i : i + 250]).cpu() for i in range(0, n_heldout, 250)])
    recon_category = classify(regenerated).argmax(1).numpy()

    names = list(stimuli.CATEGORIES)
    as_dict = lambda values: {name: round(float(v), 4) for name, v in zip(names, values)}  # noqa: E731
    gap = float(100 * np.abs(proportions - train_proportions).max())
    identification = two_way_identification(truth_emb, recon_emb)
    return {
        "category_proportions": as_dict(proportions),
        "train_proportions": as_dict(train_proportions),
        "train_proportions_embedder": as_dict(train_read),
        "max_proportion_gap_points": round(gap, 2),
        "max_proportion_gap_points_vs_embedder": round(float(100 * np.abs(proportions - train_read).max()), 2),
        "confidence": round(float(sample_probs.max(1).values.mean()), 4),
        "confident_fraction": round(float((sample_probs.max(1).values > 0.5).float().mean()), 4),
        "train_confidence": round(float(train_probs.max(1).values.mean()), 4),
        "two_way_identification": round(identification, 4),
        "embedding_cosine": round(float((F.normalize(truth_emb, dim=1) * F.normalize(recon_emb, dim=1)).sum(1).mean()), 4),
        "category_agreement": round(float(np.mean(recon_category == heldout.category)), 4),
        "settings": {"n_samples": n_samples, "n_heldout": n_heldout, "num_inference_steps": num_inference_steps,
                     "guidance_scale": guidance_scale, "seed": seed, "scheduler": type(pipe.scheduler).__name__,
                     "autoguidance_scale": pipe.config.get("autoguidance_scale", 1.0) if pipe.guide_unet is not None else 1.0},
        "bars": {"max_proportion_gap_points": "<= 10", "two_way_identification": ">= 0.9"},
        "passes_bar": bool(gap <= 10 and identification >= 0.9),
    }


@torch.no_grad()
def sample_diffusion(
    out_dir: str | os.PathLike,
    pipeline="diffusion",
    *,
    embedder="embedder",
    n: int = 10,
    num_inference_steps: int = 25,
    guidance_scale: float = 3.0,
    strength: float = 0.6,
    seed: int = 0,
) -> list[Path]:
    """Draw one grid of what the pipeline does into ``out_dir/diffusion_samples.png``.

    Rows of `n`: two of unconditional samples (labelled with the embedder's category), held-out
    stimuli, images regenerated from their embeddings, rough versions of them (8 × 8 pixel blocks),
    and img2img from the rough images guided by the embeddings (`strength`). Held-out stimuli are
    drawn with seed ``HELDOUT_SEED + seed``. Returns the paths written.
    """
    from brainlens.viz.images import image_grid, save_image

    check_positive(n=n, num_inference_steps=num_inference_steps)
    pipe, embedder = loaded(pipeline, zoo.load_pipeline), loaded(embedder, load_embedder)
    embedder.eval()
    generator = lambda offset: torch.Generator().manual_seed(seed + offset)  # noqa: E731

    free = pipe(num_images=2 * n, num_inference_steps=num_inference_steps, generator=generator(0), output_type="pt").images
    free_labels = [stimuli.CATEGORIES[k] for k in category_probabilities(embedder, free, stimuli.CATEGORIES).argmax(1).tolist()]
    heldout = stimuli.generate(n, seed=HELDOUT_SEED + seed, size=pipe.image_size)
    truth = to_tensor(heldout.images)
    embeds = embedder.embed_images(truth)
    regenerated = pipe(embeds, num_inference_steps=num_inference_steps, guidance_scale=guidance_scale,
                       generator=generator(1), output_type="pt").images
    rough = F.interpolate(F.avg_pool2d(truth, 8), scale_factor=8, mode="nearest")
    redrawn = pipe(embeds, rough, strength=strength, num_inference_steps=num_inference_steps,
                   guidance_scale=guidance_scale, generator=generator(2), output_type="pt").images
    rows = torch.cat([free, truth, regenerated, rough, redrawn])
    labels = free_labels + [stimuli.CATEGORIES[k] for k in heldout.category] + [""] * (3 * n)
    grid = image_grid(
        as_uint8(rows), nrow=n, labels=labels, scale=2,
        row_labels=["sampled", "sampled", "held-out", "from emb.", "rough", "img2img"],
    )
    path = Path(out_dir) / "diffusion_samples.png"
    save_image(grid, path)
    return [path]

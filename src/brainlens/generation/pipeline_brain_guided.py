"""Brain-guided synthesis (BrainDiVE): unconditional latent diffusion steered by a brain encoder.

At each denoising step the pipeline estimates the clean latent from the noise prediction, decodes it
to an image, runs the brain encoder, scores the prediction with the guidance objective and moves the
noise prediction against the objective's gradient with respect to the latents (energy guidance, as
classifier guidance does):

    x̂0 = (x_t − √(1−ᾱ_t) ε) / √ᾱ_t,     ε' = ε − √(1−ᾱ_t) · scale · ∇_{x_t} objective(encoder(decode(x̂0)))

and the scheduler (DDIM, DPM-Solver, …) steps with ε'. The model draws without a prompt: the shipped
latent model with its null embedding, Stable Diffusion with the empty prompt, as BrainDiVE does.

Two gradient paths: ``"unet"`` differentiates through the UNet as the published method does;
``"x0"`` treats the noise prediction as fixed, so the gradient only passes through the VAE decoder
and the encoder (cheaper; see benchmarks/guidance_overhead.py). ``guidance_every`` guides one step
in k. A model with a ``guide_unet`` (the shipped one) is autoguided as it samples without guidance
(see :mod:`~brainlens.models.pipeline_embedding`), and brain guidance steers that sampler.

>>> pipe = BrainGuidedPipeline.from_model("diffusion")               # or "stabilityai/stable-diffusion-2-1-base"
>>> out = pipe(BrainGuidance(encoder, RegionMean.from_store(encoder, store, "FFA-1"), scale=100), num_images=8, seed=0)
>>> out.images.shape                                                 # (8, 3, 64, 64) float in [0, 1]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from diffusers import DiffusionPipeline
from diffusers.utils.torch_utils import randn_tensor

from brainlens.generation.guidance import BrainGuidance
from brainlens.models.latents import latents_to_images
from brainlens.models.pipeline_embedding import autoguided, check_autoguidance

__all__ = ["BrainGuidedPipeline", "BrainGuidedOutput", "GRADIENT_PATHS", "SCHEDULERS", "default_autoguidance_scale"]

GRADIENT_PATHS = ("unet", "x0")
# schedulers whose latents are x_t = √ᾱ x0 + √(1−ᾱ) ε, so the estimate of x0 above holds
SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "dpm": "DPMSolverMultistepScheduler",
    "dpm-single": "DPMSolverSinglestepScheduler",
    "ddpm": "DDPMScheduler",
    "pndm": "PNDMScheduler",
    "unipc": "UniPCMultistepScheduler",
}


# Autoguidance under brain guidance, measured for a model (benchmarks/RESULTS.md). The shipped model
# samples unguided images with autoguidance (``AUTOGUIDANCE_SCALE``), but under brain guidance
# autoguidance costs FFA-1: on the earlier, narrower UNet its category accuracy fell 0.75 → 0.63 at 1.5
# and 0.81 → 0.44 at 2.5; on the retrained chain its true response falls 2.94 → 2.62 at 2. So brain
# guidance turns it off there.
_AUTOGUIDANCE_SCALES = {"diffusion": 1.0}


def default_autoguidance_scale(model: str) -> float | None:
    """Autoguidance under brain guidance when none is given: measured for shipped models; None keeps the model's own."""
    return _AUTOGUIDANCE_SCALES.get(str(model))


@dataclass
class BrainGuidedOutput:
    images: torch.Tensor  # (N, 3, H, W) float in [0, 1]
    scores: torch.Tensor | None  # (N,) the objective of the encoder's prediction for each final image


class BrainGuidedPipeline(DiffusionPipeline):
    """Latent diffusion without a prompt, steered by a :class:`BrainGuidance` (inference only).

    Build from any model the zoo loads with :meth:`from_model`, or from components: a VAE, a UNet
    (unconditional, embedding-conditioned with a null embedding, or text-conditioned with the empty
    prompt when ``text_encoder`` and ``tokenizer`` are given) and a scheduler; optionally a weaker
    ``guide_unet`` of the same kind and the ``autoguidance_scale`` to sample with.
    """

    _optional_components = ["text_encoder", "tokenizer", "guide_unet"]

    def __init__(self, vae, unet, scheduler, text_encoder=None, tokenizer=None, guide_unet=None, autoguidance_scale: float = 1.0):
        super().__init__()
        check_autoguidance(autoguidance_scale, guide_unet)
        self.register_modules(vae=vae, unet=unet, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer,
                              guide_unet=guide_unet)
        self.autoguidance_scale = float(autoguidance_scale)
        self.set_progress_bar_config(disable=True)  # progress goes through the `progress` callback

    @classmethod
    def from_model(
        cls,
        name_or_path: str,
        *,
        dtype: torch.dtype | None = None,
        device: str | None = None,
        autoguidance_scale: float | None = None,
    ) -> BrainGuidedPipeline:
        """The pipeline on a zoo model: a shipped name ("diffusion"), a folder or a hub id.

        `autoguidance_scale` None takes :func:`default_autoguidance_scale`, else the model's own.
        """
        from brainlens.models.zoo import load_pipeline

        base = load_pipeline(name_or_path, dtype=dtype, device=device)
        parts = base.components
        missing = [name for name in ("vae", "unet", "scheduler") if parts.get(name) is None]
        if missing:
            raise ValueError(f"model {name_or_path!r} is not a latent diffusion pipeline: it has no {missing[0]!r}")
        pipe = cls(parts["vae"], parts["unet"], parts["scheduler"], parts.get("text_encoder"), parts.get("tokenizer"),
                   parts.get("guide_unet"), base.config.get("autoguidance_scale", 1.0))
        scale = default_autoguidance_scale(name_or_path) if autoguidance_scale is None else autoguidance_scale
        if scale is not None:
            pipe.use_autoguidance(scale)
        return pipe

    def use_scheduler(self, name: str) -> None:
        """Swap the sampler for another built from the same noise schedule: one of ``SCHEDULERS``."""
        import diffusers

        if name not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {sorted(SCHEDULERS)}; {name!r} was provided.")
        self.scheduler = getattr(diffusers, SCHEDULERS[name]).from_config(self.scheduler.config)

    def use_autoguidance(self, scale: float) -> None:
        """Sample with autoguidance `scale` by the model's ``guide_unet`` (1: the main UNet alone)."""
        check_autoguidance(scale, self.guide_unet)
        self.autoguidance_scale = float(scale)

    # ----------------------------------------------------------------------------------------
    # pieces

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        size = self.unet.config.sample_size
        size = size if isinstance(size, int) else size[0]
        return (int(self.unet.config.in_channels), int(size), int(size))

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents (B, C, h, w) → images (B, 3, H, W) in [0, 1], differentiable."""
        return latents_to_images(self.vae, latents)

    def _predict(self, model_input: torch.Tensor, t, condition: dict) -> torch.Tensor:
        """The (autoguided) noise or v prediction without a prompt."""
        return autoguided(self.unet, self.guide_unet, self.autoguidance_scale, model_input, t, **condition)

    def _unconditional(self, batch: int, device, dtype) -> dict:
        """UNet keyword arguments for drawing without a prompt."""
        config = self.unet.config
        if config.get("class_embed_type") == "projection":
            return {"class_labels": torch.zeros(batch, config.projection_class_embeddings_input_dim, device=device, dtype=dtype),
                    "encoder_hidden_states": None}
        if self.text_encoder is not None and self.tokenizer is not None:
            tokens = self.tokenizer([""], padding="max_length", max_length=self.tokenizer.model_max_length,
                                    truncation=True, return_tensors="pt")
            with torch.no_grad():
                empty = self.text_encoder(tokens.input_ids.to(device))[0].to(dtype)  # (1, T, D)
            return {"encoder_hidden_states": empty.expand(batch, -1, -1)}
        if config.get("cross_attention_dim") is not None:
            # embedding-conditioned models read one token; the zero embedding is "no condition"
            return {"encoder_hidden_states": torch.zeros(batch, 1, config.cross_attention_dim, device=device, dtype=dtype)}
        return {}

    def check_inputs(self, guidance, num_images, num_inference_steps, guidance_every, gradient_path, batch_size) -> None:
        if guidance is not None and not isinstance(guidance, BrainGuidance):
            raise TypeError(f"guidance must be a BrainGuidance or None; got {type(guidance).__name__}")
        for name, value in (("num_images", num_images), ("num_inference_steps", num_inference_steps),
                            ("guidance_every", guidance_every), ("batch_size", batch_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer ≥ 1; {value!r} was provided.")
        if gradient_path not in GRADIENT_PATHS:
            raise ValueError(f"gradient_path must be one of {GRADIENT_PATHS}; {gradient_path!r} was provided.")
        kind = type(self.scheduler).__name__
        if kind not in SCHEDULERS.values():
            raise ValueError(
                f"scheduler {kind} is not supported for brain guidance (it needs latents x_t = √ᾱ·x0 + √(1−ᾱ)·ε); "
                f"use one of {sorted(SCHEDULERS)} via use_scheduler()"
            )
        prediction = self.scheduler.config.get("prediction_type", "epsilon")
        if prediction not in ("epsilon", "v_prediction"):
            raise ValueError(f"scheduler prediction_type {prediction!r} is not supported; epsilon or v_prediction")

    # ----------------------------------------------------------------------------------------
    # sampling

    def __call__(
        self,
        guidance: BrainGuidance | None = None,
        *,
        num_images: int = 1,
        num_inference_steps: int = 50,
        seed: int = 0,
        guidance_every: int = 1,
        gradient_path: str = "unet",
        batch_size: int = 8,
        progress: Callable[[int], None] | None = None,
    ) -> BrainGuidedOutput:
        """Draw ``num_images`` images, guided by ``guidance`` (None: unguided sampling).

        Image i starts from noise seeded by ``seed + i``, so a run is reproducible whatever the batch
        size. ``progress(k)`` is called after each denoising step with the images in that batch.
        """
        self.check_inputs(guidance, num_images, num_inference_steps, guidance_every, gradient_path, batch_size)
        device = self._execution_device
        images, scores = [], []
        for start in range(0, num_images, batch_size):
            seeds = range(seed + start, seed + min(start + batch_size, num_images))
            generators = [torch.Generator(device="cpu").manual_seed(s) for s in seeds]
            latents = self._sample(guidance, generators, num_inference_steps, guidance_every, gradient_path, device, progress)
            with torch.no_grad():
                batch_images = self.decode(latents)
                images.append(batch_images.cpu())
                if guidance is not None:
                    scores.append(guidance.score(batch_images).cpu())
        return BrainGuidedOutput(torch.cat(images), torch.cat(scores) if scores else None)

    def _sample(self, guidance, generators, num_inference_steps, guidance_every, gradient_path, device, progress):
        batch = len(generators)
        dtype = self.unet.dtype
        latents = randn_tensor((batch, *self.latent_shape), generator=generators, device=torch.device("cpu"), dtype=torch.float32)
        latents = (latents * self.scheduler.init_noise_sigma).to(device=device, dtype=dtype)
        condition = self._unconditional(batch, device, dtype)
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        alphas = self.scheduler.alphas_cumprod.to(device=device, dtype=torch.float32)
        v_prediction = self.scheduler.config.get("prediction_type", "epsilon") == "v_prediction"
        for step, t in enumerate(self.scheduler.timesteps):
            guided = guidance is not None and guidance.scale != 0 and step % guidance_every == 0
            model_input = self.scheduler.scale_model_input(latents, t)
            if guided:
                prediction = self._guided_prediction(guidance, latents, model_input, t, alphas[t], condition,
                                                     v_prediction, gradient_path)
            else:
                with torch.no_grad():
                    prediction = self._predict(model_input, t, condition)
            latents = self.scheduler.step(prediction, t, latents).prev_sample.detach()
            if progress is not None:
                progress(batch)
        return latents

    def _guided_prediction(self, guidance, latents, model_input, t, alpha, condition, v_prediction, gradient_path):
        sqrt_a, sqrt_1ma = alpha.sqrt(), (1 - alpha).sqrt()
        with torch.enable_grad():
            x = latents.detach().requires_grad_(True)
            if gradient_path == "unet":
                prediction = self._predict(self.scheduler.scale_model_input(x, t), t, condition)
            else:
                with torch.no_grad():
                    prediction = self._predict(model_input, t, condition)
            if v_prediction:
                x0 = sqrt_a * x.float() - sqrt_1ma * prediction.float()
            else:
                x0 = (x.float() - sqrt_1ma * prediction.float()) / sqrt_a
            score = guidance.score(self.decode(x0))  # (B,)
            gradient = torch.autograd.grad(score.sum(), x)[0].float()
        step = guidance.scale * sqrt_1ma * gradient
        prediction = prediction.detach().float()
        if v_prediction:
            # ε' = ε − step, written back as v = (ε − √(1−ᾱ) x) / √ᾱ
            return (prediction - step / sqrt_a).to(latents.dtype)
        return (prediction - step).to(latents.dtype)

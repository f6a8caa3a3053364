"""A latent diffusion pipeline conditioned on one image embedding per image.

One diffusers pipeline does the three things that brainlens asks of an image generator:

- **unconditional sampling** (no embedding): what brain-guided synthesis (BrainDiVE) steers;
- **embedding → image**, with classifier-free guidance: what reconstruction from an embedding
  decoded from the brain needs, as Versatile Diffusion's and Stable unCLIP's image variations do;
- **img2img** from a rough image (`strength` says how much of it to redraw), with or without an
  embedding, as in MindEye's low-level + high-level reconstruction.

The UNet reads the embedding either through its class-embedding projection, added to the timestep
embedding (``class_embed_type="projection"``, as Stable unCLIP does), or as a one-token sequence for
cross-attention (as the Stable Diffusion image-variations model does); `EmbeddingDiffusionPipeline`
supports both and picks from the UNet's config. "No embedding" is the zero vector, which is what
training dropped embeddings to.

Unconditional sampling can be **autoguided** (Karras et al. 2024, "Guiding a diffusion model with a
bad version of itself"): an optional ``guide_unet``, a smaller and shorter-trained UNet of the same
kind, makes its own prediction, and the pipeline extrapolates away from it,
``guide + autoguidance_scale * (unet - guide)``. The guide's errors are the main UNet's errors made
larger (blurred, category-less blobs), so stepping away from them sharpens samples into the kinds of
image the training set holds. The pipeline's default scale is part of its config.

The pieces stay plain for code that steers the sampling itself: ``pipe.vae``, ``pipe.unet``,
``pipe.scheduler``, and the differentiable steps `encode_images`, `decode_latents` and
`predict_noise`.

Example
-------
>>> pipe = EmbeddingDiffusionPipeline.from_pretrained("path/to/folder", torch_dtype=torch.float32)
>>> out = pipe(num_images=4, num_inference_steps=25, generator=torch.Generator().manual_seed(0))
>>> out.images.shape   # (4, 64, 64, 3), float in [0, 1]
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np
import torch
from diffusers import AutoencoderKL, DiffusionPipeline, UNet2DConditionModel
from diffusers.pipelines.pipeline_utils import ImagePipelineOutput
from diffusers.schedulers import KarrasDiffusionSchedulers
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from brainlens.models.latents import images_to_latents, latents_to_images

__all__ = ["EmbeddingDiffusionPipeline", "OUTPUT_TYPES", "autoguided", "check_autoguidance"]

OUTPUT_TYPES = ("np", "pt", "pil", "latent")


class EmbeddingDiffusionPipeline(DiffusionPipeline):
    """Latent diffusion conditioned on image embeddings: sampling, embedding → image, img2img.

    Parameters
    ----------
    vae : diffusers.AutoencoderKL
        Images in [-1, 1] ↔ latents. Its config's ``scaling_factor`` (and ``shift_factor``, if set)
        bring latents to unit variance: ``latents = (z - shift_factor) * scaling_factor``.
    unet : diffusers.UNet2DConditionModel
        Noise predictor on scaled latents, conditioned on an embedding of size `embedding_dim`
        through ``class_embed_type="projection"`` or through cross-attention on one token.
    scheduler : a diffusers scheduler
        Any of the Karras-style schedulers (DDIM, DPM-Solver, Euler, ...) built from the training
        noise schedule; swap with ``pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)``.
    guide_unet : diffusers.UNet2DConditionModel, optional
        A weaker UNet trained on the same latents and conditioning, for autoguided unconditional
        sampling.
    autoguidance_scale : float
        Default autoguidance of unconditional sampling when there is a ``guide_unet``; 1 is none.
    """

    model_cpu_offload_seq = "unet->guide_unet->vae"
    _optional_components = ["guide_unet"]

    def __init__(
        self,
        vae: AutoencoderKL,
        unet: UNet2DConditionModel,
        scheduler: KarrasDiffusionSchedulers,
        guide_unet: UNet2DConditionModel | None = None,
        autoguidance_scale: float = 1.0,
    ):
        super().__init__()
        check_autoguidance(autoguidance_scale, guide_unet)
        self.register_modules(vae=vae, unet=unet, scheduler=scheduler, guide_unet=guide_unet)
        self.register_to_config(autoguidance_scale=float(autoguidance_scale))
        # library code never prints: progress goes through the `progress` callback of __call__
        self.set_progress_bar_config(disable=True)

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """As ``DiffusionPipeline.from_pretrained``, without diffusers' loading bar (library code never prints)."""
        with _no_loading_bar():
            return super().from_pretrained(*args, **kwargs)

    # ----------------------------------------------------------------------------------------
    # shapes

    @property
    def embedding_dim(self) -> int:
        """Size D of the image embeddings the UNet is conditioned on."""
        config = self.unet.config
        if config.class_embed_type == "projection":
            return int(config.projection_class_embeddings_input_dim)
        return int(config.cross_attention_dim)

    @property
    def vae_scale(self) -> int:
        """Pixels per latent cell along each side."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def image_size(self) -> int:
        """Side in pixels of the images the UNet was trained on."""
        return int(self.unet.config.sample_size) * self.vae_scale

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one latent."""
        size = int(self.unet.config.sample_size)
        return (int(self.unet.config.in_channels), size, size)

    # ----------------------------------------------------------------------------------------
    # differentiable steps (no torch.no_grad here: guidance differentiates through them)

    def encode_images(self, images: torch.Tensor, generator: torch.Generator | None = None, sample: bool = False) -> torch.Tensor:
        """images (B, 3, H, W) in [0, 1] → scaled latents (B, C, H/s, W/s).

        The posterior mean unless `sample`, then a draw from the posterior with `generator`.
        """
        return images_to_latents(self.vae, images, generator, sample)

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents (B, C, h, w) → images (B, 3, h*s, w*s) in [0, 1], differentiable."""
        return latents_to_images(self.vae, latents)

    def predict_noise(
        self,
        latents: torch.Tensor,
        t: torch.Tensor | int,
        image_embeds: torch.Tensor | None = None,
        guidance_scale: float = 1.0,
        autoguidance_scale: float | None = None,
        negative_image_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The UNet's prediction (noise, or v for a v-prediction scheduler) for latents at step `t`.

        Parameters
        ----------
        latents : Tensor (B, C, h, w)
            Noisy scaled latents (already passed through ``scheduler.scale_model_input``).
        t : int or 0-d Tensor
            Timestep of the training schedule.
        image_embeds : Tensor (B, D) or, for a cross-attention UNet, (B, T, D), optional
            Conditioning embeddings; None is unconditional (the zero embedding).
        negative_image_embeds : Tensor, optional
            The unconditional embedding of classifier-free guidance, shaped as one item of `image_embeds`
            (or as all of them); default zeros, what training dropped embeddings to.
        guidance_scale : float
            Classifier-free guidance: ``uncond + scale * (cond - uncond)``; 1 (or no embedding)
            runs the UNet once.
        autoguidance_scale : float, optional
            Without embeddings only: ``guide + scale * (unet - guide)`` with the ``guide_unet``;
            None takes the pipeline's default, 1 runs the main UNet alone.
        """
        batch = latents.shape[0]
        null = torch.zeros(batch, self.embedding_dim, device=latents.device, dtype=latents.dtype)
        if image_embeds is None:
            scale = self.config.autoguidance_scale if autoguidance_scale is None else autoguidance_scale
            return autoguided(self.unet, self.guide_unet, scale, latents, t, **self._conditioning(null))
        image_embeds = image_embeds.to(device=latents.device, dtype=latents.dtype)
        if guidance_scale == 1.0:
            return self.unet(latents, t, **self._conditioning(image_embeds)).sample
        if negative_image_embeds is None:
            null = torch.zeros_like(image_embeds)
        else:
            null = negative_image_embeds.to(device=latents.device, dtype=latents.dtype).expand_as(image_embeds)
        both = self.unet(torch.cat([latents, latents]), t, **self._conditioning(torch.cat([null, image_embeds]))).sample
        uncond, cond = both.chunk(2)
        return uncond + guidance_scale * (cond - uncond)

    def prepare_latents(self, batch: int, generator: torch.Generator | list[torch.Generator] | None = None) -> torch.Tensor:
        """Pure noise (batch, C, h, w) scaled to the scheduler's first step."""
        latents = randn_tensor((batch, *self.latent_shape), generator=generator, device=self._execution_device, dtype=self.unet.dtype)
        return latents * self.scheduler.init_noise_sigma

    # ----------------------------------------------------------------------------------------
    # inference

    def check_inputs(self, image_embeds, image, num_images, strength, num_inference_steps, guidance_scale, output_type) -> int:
        """Check the arguments of __call__; return the batch size."""
        batch = None
        if image_embeds is not None:
            if not isinstance(image_embeds, torch.Tensor):
                raise TypeError(
                    f"'image_embeds' must be a torch.Tensor of shape (B, {self.embedding_dim}); got {type(image_embeds).__name__}."
                )
            tokens_allowed = self.unet.config.class_embed_type != "projection"
            if image_embeds.ndim not in ((2, 3) if tokens_allowed else (2,)) or image_embeds.shape[-1] != self.embedding_dim:
                shapes = f"(B, {self.embedding_dim})" + (f" or (B, T, {self.embedding_dim})" if tokens_allowed else "")
                raise ValueError(f"'image_embeds' must have shape {shapes}; got {tuple(image_embeds.shape)}.")
            if not torch.isfinite(image_embeds).all():
                raise ValueError("'image_embeds' holds NaN or infinite values.")
            batch = image_embeds.shape[0]
        if image is not None:
            if not isinstance(image, torch.Tensor):
                raise TypeError(f"'image' must be a torch.Tensor (B, 3, H, W) in [0, 1]; got {type(image).__name__}.")
            if image.ndim != 4 or image.shape[1] != 3:
                raise ValueError(f"'image' must have shape (B, 3, H, W); got {tuple(image.shape)}.")
            if image.shape[2] % self.vae_scale or image.shape[3] % self.vae_scale:
                raise ValueError(f"'image' height and width must be multiples of {self.vae_scale}; got {tuple(image.shape[2:])}.")
            if image.min() < 0 or image.max() > 1:
                raise ValueError(f"'image' values must lie in [0, 1]; got [{float(image.min()):.3g}, {float(image.max()):.3g}].")
            if batch is not None and image.shape[0] != batch:
                raise ValueError(f"'image' and 'image_embeds' must hold as many items; got {image.shape[0]} and {batch}.")
            batch = image.shape[0]
            if not 0.0 < strength <= 1.0:
                raise ValueError(f"'strength' must be in (0, 1]; strength={strength!r} was provided.")
        if num_images is not None:
            if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1:
                raise ValueError(f"'num_images' must be a positive int; num_images={num_images!r} was provided.")
            if batch is not None and num_images != batch:
                raise ValueError(
                    f"'num_images' must match the {batch} embeddings or images given, or be left out; "
                    f"num_images={num_images!r} was provided."
                )
            batch = num_images
        if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, int) or num_inference_steps < 1:
            raise ValueError(f"'num_inference_steps' must be a positive int; num_inference_steps={num_inference_steps!r} was provided.")
        if not guidance_scale >= 0:
            raise ValueError(f"'guidance_scale' must be >= 0; guidance_scale={guidance_scale!r} was provided.")
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"'output_type' must be one of {OUTPUT_TYPES}; {output_type!r} was provided.")
        return 1 if batch is None else batch

    @torch.no_grad()
    def __call__(
        self,
        image_embeds: torch.Tensor | None = None,
        image: torch.Tensor | None = None,
        *,
        negative_image_embeds: torch.Tensor | None = None,
        num_images: int | None = None,
        strength: float = 0.6,
        num_inference_steps: int = 25,
        guidance_scale: float = 3.0,
        autoguidance_scale: float | None = None,
        eta: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> ImagePipelineOutput | tuple:
        """Generate images.

        Parameters
        ----------
        image_embeds : Tensor (B, D) or, for a cross-attention UNet, (B, T, D), optional
            One embedding (or token sequence) per image to generate (embedding → image); None samples
            unconditionally.
        negative_image_embeds : Tensor, optional
            The unconditional embedding of classifier-free guidance, one item's shape or all of them;
            default zeros (Versatile Diffusion's: a blank image's tokens).
        image : Tensor (B, 3, H, W) in [0, 1], optional
            Starting images for img2img: they are encoded, noised to `strength` and denoised.
        num_images : int, optional
            How many images to draw without embeddings or images (default 1); otherwise B.
        strength : float in (0, 1]
            img2img only: the fraction of the denoising schedule to run; 1 ignores the image.
        num_inference_steps : int
            Denoising steps of the whole schedule (img2img runs ``round(strength * steps)``).
        guidance_scale : float
            Classifier-free guidance with embeddings; 1 turns it off.
        autoguidance_scale : float, optional
            Autoguidance of sampling without embeddings by the ``guide_unet``; None takes the
            pipeline's ``config.autoguidance_scale``, 1 turns it off.
        eta : float
            Fresh noise added at each step, for schedulers that take it (DDIM): 0 is deterministic
            DDIM, 1 is as stochastic as DDPM sampling.
        generator : torch.Generator, optional
            Makes the draw repeatable.
        output_type : {"np", "pt", "pil", "latent"}
            "np": float array (B, H, W, 3) in [0, 1]; "pt": Tensor (B, 3, H, W) in [0, 1];
            "pil": list of PIL images; "latent": scaled latents (B, C, h, w).
        progress : callable, optional
            Called with 1 after each denoising step.

        Returns
        -------
        ImagePipelineOutput
            ``.images`` in the `output_type`'s form; a 1-tuple when ``return_dict=False``.
        """
        batch = self.check_inputs(image_embeds, image, num_images, strength, num_inference_steps, guidance_scale, output_type)
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"'eta' must be in [0, 1]; eta={eta!r} was provided.")
        if autoguidance_scale is not None:
            check_autoguidance(autoguidance_scale, self.guide_unet)
        if negative_image_embeds is not None:
            if image_embeds is None:
                raise ValueError("'negative_image_embeds' is the unconditional side of 'image_embeds'; pass both.")
            if tuple(negative_image_embeds.shape[-(image_embeds.ndim - 1):]) != tuple(image_embeds.shape[1:]):
                raise ValueError(f"'negative_image_embeds' must end in the shape of one item of 'image_embeds', "
                                 f"{tuple(image_embeds.shape[1:])}; got {tuple(negative_image_embeds.shape)}.")
        # schedulers differ in what their step takes: pass eta and generator only where accepted
        accepted = inspect.signature(self.scheduler.step).parameters
        step_options = {k: v for k, v in (("eta", eta), ("generator", generator)) if k in accepted}
        device = self._execution_device
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        if image is None:
            latents = self.prepare_latents(batch, generator)
        else:
            # skip the first (1 - strength) of the schedule and start from the noised image
            n_run = min(max(round(strength * num_inference_steps), 1), num_inference_steps)
            start = (num_inference_steps - n_run) * self.scheduler.order
            timesteps = timesteps[start:]
            if hasattr(self.scheduler, "set_begin_index"):
                self.scheduler.set_begin_index(start)
            clean = self.encode_images(image.to(device))
            noise = randn_tensor(clean.shape, generator=generator, device=device, dtype=clean.dtype)
            latents = self.scheduler.add_noise(clean, noise, timesteps[:1].repeat(batch)).to(self.unet.dtype)
        for t in timesteps:
            model_input = self.scheduler.scale_model_input(latents, t)
            prediction = self.predict_noise(model_input, t, image_embeds, guidance_scale, autoguidance_scale, negative_image_embeds)
            latents = self.scheduler.step(prediction, t, latents, **step_options).prev_sample
            if progress is not None:
                progress(1)
        images = latents if output_type == "latent" else self.decode_latents(latents)
        self.maybe_free_model_hooks()
        images = self._postprocess(images, output_type)
        if not return_dict:
            return (images,)
        return ImagePipelineOutput(images=images)

    # ----------------------------------------------------------------------------------------
    # helpers

    def _conditioning(self, embeds: torch.Tensor) -> dict:
        """UNet keyword arguments carrying embeddings (B, D), or token sequences (B, T, D), the way this UNet reads them."""
        if self.unet.config.class_embed_type == "projection":
            # a UNet without cross-attention blocks ignores encoder_hidden_states
            return {"class_labels": embeds, "encoder_hidden_states": None}
        return {"encoder_hidden_states": embeds if embeds.ndim == 3 else embeds[:, None, :]}  # (B, T or 1 token, D)

    @staticmethod
    def _postprocess(images: torch.Tensor, output_type: str):
        if output_type in ("latent", "pt"):
            return images
        array = images.float().permute(0, 2, 3, 1).cpu().numpy()  # (B, H, W, 3)
        if output_type == "np":
            return array
        return [Image.fromarray(np.round(a * 255).astype(np.uint8)) for a in array]


def autoguided(unet, guide_unet, scale: float, latents: torch.Tensor, t, **conditioning) -> torch.Tensor:
    """``unet``'s prediction for `latents` at step `t`, autoguided by ``guide_unet`` with `scale`.

    ``guide + scale * (main - guide)``; the main UNet alone when there is no guide or `scale` is 1.
    Differentiable, so brain guidance can take gradients through it.
    """
    prediction = unet(latents, t, **conditioning).sample
    if guide_unet is None or scale == 1.0:
        return prediction
    weaker = guide_unet(latents, t, **conditioning).sample
    return weaker + scale * (prediction - weaker)


def check_autoguidance(scale, guide_unet) -> None:
    """Raise a ValueError unless `scale` is a finite number >= 0 that the pipeline can use."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale < 0:
        raise ValueError(f"'autoguidance_scale' must be a finite number >= 0; autoguidance_scale={scale!r} was provided.")
    if guide_unet is None and scale != 1.0:
        raise ValueError(f"autoguidance_scale={scale!r} needs a guide_unet, and this pipeline has none; use 1.")


@contextmanager
def _no_loading_bar():
    from diffusers.utils import logging as diffusers_logging

    was_enabled = diffusers_logging.is_progress_bar_enabled()
    diffusers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            diffusers_logging.enable_progress_bar()

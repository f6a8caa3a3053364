"""Brain activity → images with a fitted brain-conditioned latent diffusion model (MinD-Vis's DC-LDM, CAD).

``brainlens decode fit --model ldm`` fits the model into a folder: the trained tensors (fMRI encoder, mappers,
cross-attention, time conditioning) and the name of the diffusion model they build on. This pipeline loads that
folder and draws images for any brain activity of the subject it was fitted on: betas (N, V) as the subject's store
holds them — single trials, or a test image's repeats averaged. They are normalised as the encoder saw the subject and
wrap-padded to its length; each brain gets ``num_images_per_brain`` draws from its own seeded noise (brain i, sample
s: the same images whatever the batch), with classifier-free guidance against the dropped condition.
``brainlens decode reconstruct`` draws the same way for a store's test split and scores the images.

>>> pipe = BrainConditionedPipeline.from_decoder("runs/ldm_sc")              # PLMS sampling, as MinD-Vis
>>> out = pipe(betas, num_images_per_brain=5, num_inference_steps=25, guidance_scale=3.0, seed=0)
>>> out.images.shape                                                         # (N, 5, H, W, 3) uint8
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import DiffusionPipeline

from brainlens.decoding.ldm.fit import load_ldm, padded_voxels
from brainlens.decoding.ldm.model import BrainLDM
from brainlens.decoding.ldm.sample import SAMPLERS, sample_brains

__all__ = ["BrainConditionedPipeline", "BrainConditionedOutput"]


@dataclass
class BrainConditionedOutput:
    images: np.ndarray  # (N, samples, H, W, 3) uint8: the samples of each brain


class BrainConditionedPipeline(DiffusionPipeline):
    """A fitted :class:`~brainlens.decoding.ldm.model.BrainLDM` (``brain``, which holds the UNet), its diffusion
    model's VAE and noise schedule, and how the subject's betas were normalised (``voxel_mean``, ``voxel_std``) for an
    encoder fitted on ``n_voxels`` voxels. Build it from a decoder folder with :meth:`from_decoder`."""

    def __init__(self, vae, scheduler, brain: BrainLDM, *, voxel_mean: float, voxel_std: float, n_voxels: int,
                 sampler: str = "plms"):
        super().__init__()
        self.register_modules(vae=vae, scheduler=scheduler, brain=brain)
        if not np.isfinite(voxel_std) or voxel_std <= 0:
            raise ValueError(f"voxel_std must be positive; {voxel_std!r} was provided.")
        self.voxel_mean, self.voxel_std, self.n_voxels = float(voxel_mean), float(voxel_std), int(n_voxels)
        self.use_sampler(sampler)
        self.set_progress_bar_config(disable=True)  # progress goes through the `progress` callback

    @classmethod
    def from_decoder(cls, folder: str | Path, *, device: str = "cpu", sampler: str = "plms") -> BrainConditionedPipeline:
        """The pipeline of a decoder folder written by ``brainlens decode fit --model ldm`` (or ``fit_ldm``)."""
        model, pipe, config = load_ldm(folder, device)
        norm = config["normalisation"]
        return cls(pipe.vae, pipe.scheduler, model, voxel_mean=norm["mean"], voxel_std=norm["std"],
                   n_voxels=config["n_voxels"], sampler=sampler)

    @property
    def unet(self):
        return self.brain.unet

    def use_sampler(self, name: str) -> None:
        """Sample with ``"plms"`` (MinD-Vis's sampler) or ``"ddim"`` through the model's noise schedule."""
        if name not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}; {name!r} was provided.")
        self.sampler = name

    def padded_voxels(self, betas) -> torch.Tensor:
        """Betas (N, V) or (V,), numpy or torch, as the subject's store holds them → the encoder's input (N, L)."""
        values = betas.detach().cpu().numpy() if isinstance(betas, torch.Tensor) else np.asarray(betas)
        values = values[None] if values.ndim == 1 else values
        if values.ndim != 2 or values.shape[1] != self.n_voxels:
            raise ValueError(f"betas must be (N, {self.n_voxels}): the decoder was fitted on {self.n_voxels} voxels; "
                             f"got shape {tuple(np.shape(betas))}.")
        if not np.issubdtype(values.dtype, np.number) or not np.isfinite(values).all():
            raise ValueError("betas hold NaN, infinite or non-numeric values.")
        return padded_voxels(values.astype(np.float32), self.voxel_mean, self.voxel_std, self.brain.conditioner.encoder.config.length)

    @torch.no_grad()
    def __call__(
        self,
        betas,
        num_images_per_brain: int = 5,
        num_inference_steps: int = 25,
        guidance_scale: float = 3.0,
        seed: int = 0,
        batch_size: int = 16,
        progress: Callable[[str, int], None] | None = None,
    ) -> BrainConditionedOutput:
        """Draw ``num_images_per_brain`` images for each brain of ``betas`` (N, V): ``num_inference_steps`` steps of
        the pipeline's sampler, classifier-free guidance ``guidance_scale`` (1 = none). ``progress("ldm samples", k)``
        is called as images are drawn."""
        voxels = self.padded_voxels(betas)
        images = sample_brains(self.brain, self, voxels, samples=num_images_per_brain, steps=num_inference_steps,
                               guidance=guidance_scale, sampler=self.sampler, seed=seed, batch_size=batch_size,
                               progress=progress)
        return BrainConditionedOutput(images=images)

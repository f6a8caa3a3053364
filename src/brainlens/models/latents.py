"""Images ↔ a VAE's scaled latents, and the pixel tensors they start from.

A latent diffusion model works on ``latents = (z - shift_factor) * scaling_factor``, where ``z`` comes from
its VAE and the two factors (``shift_factor`` is optional) from the VAE's config. Every encoder and decoder of
latents in brainlens goes through this module, so the convention lives in one place.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def unit_pixels(images, size: int | tuple[int, int] | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """uint8 images (N, H, W, 3), numpy or torch → float pixels (N, 3, H', W') in [0, 1] on `device`.

    Resized (bilinear, antialiased) to `size` (a side, or (height, width)) when it is given and differs from
    the images' size.
    """
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    pixels = images.to(device).permute(0, 3, 1, 2).float().div(255.0)
    size = (size, size) if isinstance(size, int) else size
    if size is not None and tuple(pixels.shape[-2:]) != tuple(size):
        pixels = F.interpolate(pixels, size=tuple(size), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
    return pixels


def uint8_images(pixels: torch.Tensor) -> np.ndarray:
    """Float pixels (N, 3, H, W) in [0, 1] → uint8 images (N, H, W, 3) on the CPU; the inverse of `unit_pixels`."""
    return (pixels.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def latent_shift(vae) -> float:
    """The VAE config's ``shift_factor``, 0 where it has none."""
    shift = getattr(vae.config, "shift_factor", None)
    return 0.0 if shift is None else float(shift)


def images_to_latents(vae, pixels: torch.Tensor, generator: torch.Generator | None = None, sample: bool = False) -> torch.Tensor:
    """Pixels (B, 3, H, W) in [0, 1] → scaled latents (B, C, H/s, W/s) in the VAE's dtype, differentiable.

    The posterior mean unless `sample`, then a draw from the posterior with `generator`.
    """
    posterior = vae.encode(pixels.to(vae.device, vae.dtype) * 2 - 1).latent_dist
    z = posterior.sample(generator=generator) if sample else posterior.mode()
    return (z - latent_shift(vae)) * vae.config.scaling_factor


def latents_to_images(vae, latents: torch.Tensor) -> torch.Tensor:
    """Scaled latents (B, C, h, w) → float32 pixels (B, 3, h*s, w*s) in [0, 1], differentiable."""
    z = latents.to(vae.device, vae.dtype) / vae.config.scaling_factor + latent_shift(vae)
    return (vae.decode(z).sample.float() / 2 + 0.5).clamp(0, 1)

"""The shipped VAE: a diffusers ``AutoencoderKL`` from 64-pixel RGB images to 16 × 16 × 8 latents.

Trained on in-silico stimuli with L1 on pixels and on their differences, a small KL term and an LPIPS-style
perceptual term through the shipped convnet (letters on signs need it); the latents' mean and spread, measured
on training images, are saved as ``shift_factor`` and ``scaling_factor`` in its config. It lives in the
diffusion pipeline's folder (``weights/diffusion/vae/``), and loads by name: ``load_vae("vae")``. Retrain with
``brainlens zoo train vae`` (then retrain the diffusion model, whose UNet learned this VAE's latents).

Training is deterministic from its seed (on one torch build and thread count), saves a checkpoint after every
epoch in a hidden folder beside the output, and an interrupted run continues from it.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from brainlens._io import fresh_staging, load_checkpoint, replace_folder, save_checkpoint, write_json
from brainlens.insilico import stimuli
from brainlens.insilico.stimuli import to_tensor
from brainlens.models._training import (
    HELDOUT_SEED,
    Progress,
    as_uint8,
    check_positive,
    checkpoint_folder,
    loaded,
    stage_ticker,
    training_images,
    warmup_cosine,
)
from brainlens.models.convnet import load_convnet
from brainlens.models.zoo import load_vae

__all__ = ["VAESpec", "evaluate_vae", "sample_vae", "train_vae"]


@dataclass(frozen=True)
class VAESpec:
    """Shape of the shipped VAE (a diffusers ``AutoencoderKL``)."""

    image_size: int = 64  # side of the training images in pixels
    block_out_channels: tuple[int, ...] = (16, 32, 64)  # each block after the first halves the side: 64 → 16
    layers_per_block: int = 1  # resnets per encoder block (the decoder has one more)
    latent_channels: int = 8  # channels of the latent image (4 lose small letters)
    norm_num_groups: int = 8  # GroupNorm groups; divides every width

    def build(self):
        from diffusers import AutoencoderKL

        n = len(self.block_out_channels)
        return AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * n,
            up_block_types=("UpDecoderBlock2D",) * n,
            block_out_channels=tuple(self.block_out_channels),
            layers_per_block=self.layers_per_block,
            latent_channels=self.latent_channels,
            norm_num_groups=self.norm_num_groups,
            sample_size=self.image_size,
            # no attention: the VAE stays fully convolutional, so it can train on crops
            mid_block_add_attention=False,
        )




def _image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


class _PerceptualDistance(torch.nn.Module):
    """LPIPS-style distance through the frozen in-silico convnet (the shipped encoding backbone).

    At each position of the first `n_stages` stages' maps, the channel vectors of the two images are
    scaled to unit length and their squared difference summed over channels; the distance is the
    mean over positions, summed over stages. Early stages see strokes and edges, which pixel losses
    blur away: letters on signs are the case that needs it.
    """

    def __init__(self, n_stages: int = 2):
        super().__init__()
        self.net = load_convnet()
        self.n_stages = n_stages

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """y, x (B, 3, H, W) in [-1, 1] → scalar distance, differentiable in y."""
        total = y.new_zeros(())
        pairs = zip(self.net.feature_maps((y + 1) / 2, self.n_stages), self.net.feature_maps((x + 1) / 2, self.n_stages))
        for a, b in pairs:
            a, b = F.normalize(a, dim=1, eps=1e-6), F.normalize(b, dim=1, eps=1e-6)
            total = total + (a - b).pow(2).sum(1).mean()
        return total


def _vae_loss(vae, x: torch.Tensor, generator: torch.Generator, kl_weight: float, edge_weight: float,
              perceptual: _PerceptualDistance | None = None, perceptual_weight: float = 0.0) -> tuple[torch.Tensor, dict]:
    """x (B, 3, H, W) in [-1, 1] → loss: L1 on pixels and on their differences (edges stay sharp),
    the KL divergence, and `perceptual_weight` × the `perceptual` distance when one is given."""
    posterior = vae.encode(x).latent_dist
    z = posterior.sample(generator=generator)  # (B, C, H/4, W/4)
    y = vae.decode(z).sample
    pixel = (y - x).abs().mean()
    (ydx, ydy), (xdx, xdy) = _image_gradients(y), _image_gradients(x)
    edge = (ydx - xdx).abs().mean() + (ydy - xdy).abs().mean()
    kl = posterior.kl().mean() / z[0].numel()  # per latent element
    loss = pixel + edge_weight * edge + kl_weight * kl
    parts = {"pixel_l1": pixel.item(), "edge_l1": edge.item(), "kl": kl.item()}
    if perceptual is not None:
        distance = perceptual(y, x)
        loss = loss + perceptual_weight * distance
        parts["perceptual"] = distance.item()
    return loss, parts


def _random_crops(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """One random square crop of side `size` per image (B, 3, H, W) → (B, 3, size, size)."""
    if size >= x.shape[-1]:
        return x
    # crop corners on the latent grid, so crops see the same alignment as whole images
    cells = (x.shape[-1] - size) // 4 + 1
    corners = torch.randint(0, cells, (x.shape[0], 2), generator=generator) * 4
    return torch.stack([img[:, r : r + size, c : c + size] for img, (r, c) in zip(x, corners.tolist())])


@torch.no_grad()
def _latent_statistics(vae, images: np.ndarray, batch_size: int = 250) -> tuple[float, float]:
    """Mean and standard deviation over all elements of the posterior means of `images`."""
    total, total_sq, count = 0.0, 0.0, 0
    for i in range(0, len(images), batch_size):
        z = vae.encode(to_tensor(images[i : i + batch_size]) * 2 - 1).latent_dist.mode().double()
        total += float(z.sum())
        total_sq += float((z * z).sum())
        count += z.numel()
    mean = total / count
    return mean, math.sqrt(max(total_sq / count - mean * mean, 1e-12))


def train_vae(
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    n_train: int = 40_000,
    epochs: int = 5,
    batch_size: int = 32,
    crop: int = 32,
    lr: float = 2e-3,
    warmup: float = 0.02,
    kl_weight: float = 1e-4,
    edge_weight: float = 0.5,
    perceptual_weight: float = 1.0,
    spec: VAESpec = VAESpec(),
    images: np.ndarray | None = None,
    progress: Progress | None = None,
) -> dict:
    """Train the VAE on in-silico images and save it, with ``metrics.json``, to ``out_dir``.

    Each step reconstructs random `crop` × `crop` pieces of `batch_size` training images (the VAE is
    fully convolutional; crops cost a quarter of whole 64-pixel images per step and teach the same
    local code). The loss is L1 on pixels plus `edge_weight` × L1 on horizontal and vertical pixel
    differences plus `perceptual_weight` × an LPIPS-style distance on the shipped in-silico convnet's
    first two stages plus `kl_weight` × the KL divergence per latent element. AdamW with linear warm-up
    and cosine decay. Afterwards the latents' mean and standard deviation over 4000 training images
    become the config's ``shift_factor`` and ``1 / scaling_factor``, and the reconstruction PSNR is
    measured on held-out images (:func:`evaluate_vae`).

    Parameters
    ----------
    out_dir : path
        Folder to write (replaced as a whole when training ends); the checkpoint of each epoch goes to a
        hidden folder beside it (``.NAME.checkpoint``), which a rerun with the same settings continues
        from and which is removed at the end.
    seed : int
        Seeds the weights, the batches and the training stimuli (``stimuli.generate(n_train, 30_000 + seed)``).
    images : uint8 array (>= n_train, 64, 64, 3), optional
        Those training stimuli, when already drawn (saves a minute and a half).
    progress : callable, optional
        ``progress(stage, k)``: ``"stimuli"`` with images drawn, ``"vae steps"`` with 1 per step.

    Returns
    -------
    dict
        The metrics written to ``metrics.json``: ``psnr_db`` on held-out images and the training record.
    """
    check_positive(n_train=n_train, epochs=epochs, batch_size=batch_size, crop=crop)
    if not (math.isfinite(perceptual_weight) and perceptual_weight >= 0):
        raise ValueError(f"perceptual_weight must be finite and ≥ 0; {perceptual_weight!r} was provided.")
    if crop % 4 or crop > spec.image_size:
        raise ValueError(f"crop must be a multiple of 4 and at most {spec.image_size}; crop={crop!r} was provided.")
    out_dir = Path(out_dir)
    started = time.perf_counter()
    settings = {"seed": seed, "n_train": n_train, "epochs": epochs, "batch_size": batch_size, "crop": crop, "lr": lr,
                "warmup": warmup, "kl_weight": kl_weight, "edge_weight": edge_weight,
                "perceptual_weight": perceptual_weight, "spec": asdict(spec)}
    perceptual = _PerceptualDistance() if perceptual_weight else None
    data = training_images(n_train, seed, spec.image_size, images, progress)

    torch.manual_seed(seed)
    vae = spec.build()
    optimiser = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    steps_per_epoch = math.ceil(n_train / batch_size)
    total = epochs * steps_per_epoch
    schedule = warmup_cosine(optimiser, total, warmup)
    generator = torch.Generator().manual_seed(seed)
    checkpoint_dir = checkpoint_folder(out_dir)
    history: list[dict] = []
    first_epoch, elapsed = 0, 0.0
    state = load_checkpoint(checkpoint_dir / "state.pt", settings)
    if state is not None:
        vae.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(state["schedule"])
        generator.set_state(state["generator"])
        history, first_epoch, elapsed = state["history"], state["epoch"], state["seconds"]

    tick = stage_ticker(progress, "vae steps")
    for epoch in range(first_epoch, epochs):
        epoch_started = time.perf_counter()
        vae.train()
        order = torch.randperm(n_train, generator=generator).numpy()
        sums: dict[str, float] = {}
        for start in range(0, n_train, batch_size):
            idx = np.sort(order[start : start + batch_size])
            x = _random_crops(to_tensor(data[idx]) * 2 - 1, crop, generator)
            loss, parts = _vae_loss(vae, x, generator, kl_weight, edge_weight, perceptual, perceptual_weight)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            for key, value in {"loss": loss.item(), **parts}.items():
                sums[key] = sums.get(key, 0.0) + value * len(idx)
            if tick is not None:
                tick(1)
        elapsed += time.perf_counter() - epoch_started
        history.append({"epoch": epoch + 1, **{k: v / n_train for k, v in sums.items()}})
        save_checkpoint(checkpoint_dir / "state.pt", {
            "settings": settings, "model": vae.state_dict(), "optimiser": optimiser.state_dict(),
            "schedule": schedule.state_dict(), "generator": generator.get_state(), "history": history,
            "epoch": epoch + 1, "seconds": elapsed,
        })

    vae.eval()
    shift, std = _latent_statistics(vae, data[:4000])
    vae.register_to_config(shift_factor=shift, scaling_factor=1.0 / std)
    metrics = evaluate_vae(vae)
    metrics.update({
        "latent_mean": shift, "latent_std": std, "train_seconds": round(elapsed, 1),
        "wall_seconds": round(time.perf_counter() - started, 1), "history": history,
        "training": {**settings, "torch": torch.__version__, "threads": torch.get_num_threads()},
        "parameters": sum(p.numel() for p in vae.parameters()),
    })
    staging = fresh_staging(out_dir)
    vae.half().save_pretrained(staging)  # float16 storage; loaders cast back to float32
    write_json(staging / "metrics.json", metrics)
    replace_folder(staging, out_dir)
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return metrics


@torch.no_grad()
def _reconstruct(vae, images: np.ndarray, batch_size: int = 250) -> torch.Tensor:
    """uint8 (n, H, W, 3) → VAE reconstructions (n, 3, H, W) in [0, 1] through the posterior mean."""
    vae = vae.float().eval()
    parts = []
    for i in range(0, len(images), batch_size):
        x = to_tensor(images[i : i + batch_size]) * 2 - 1
        parts.append((vae.decode(vae.encode(x).latent_dist.mode()).sample / 2 + 0.5).clamp(0, 1))
    return torch.cat(parts)


def evaluate_vae(vae="vae", *, n: int = 500, seed: int = HELDOUT_SEED) -> dict:
    """Reconstruction quality on `n` held-out stimuli (drawn with `seed`, never used in training).

    Returns ``psnr_db`` (mean over images of 10 log10(1 / MSE), pixels in [0, 1]) and
    ``pixel_correlation`` (mean Pearson r between each image and its reconstruction).
    `vae` is an ``AutoencoderKL`` or anything :func:`brainlens.generation.load_vae` takes.
    """
    check_positive(n=n)
    vae = loaded(vae, load_vae)
    heldout = stimuli.generate(n, seed=seed, size=int(vae.config.sample_size))
    truth = to_tensor(heldout.images)
    recon = _reconstruct(vae, heldout.images)
    mse = (recon - truth).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    a = truth.flatten(1) - truth.flatten(1).mean(1, keepdim=True)
    b = recon.flatten(1) - recon.flatten(1).mean(1, keepdim=True)
    r = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)
    return {
        "psnr_db": float((10 * torch.log10(1.0 / mse)).mean()),
        "pixel_correlation": float(r.mean()),
        "n_images": n,
        "seed": seed,
    }


def sample_vae(out_dir: str | os.PathLike, vae="vae", *, n: int = 16, seed: int = 0) -> list[Path]:
    """Draw `n` held-out stimuli (seed ``HELDOUT_SEED + seed``) above their VAE reconstructions into
    ``out_dir/vae_samples.png``; returns the paths written."""
    from brainlens.viz.images import image_grid, save_image

    check_positive(n=n)
    vae = loaded(vae, load_vae)
    heldout = stimuli.generate(n, seed=HELDOUT_SEED + seed, size=int(vae.config.sample_size))
    recon = as_uint8(_reconstruct(vae, heldout.images))
    rows = np.concatenate([heldout.images, recon])
    grid = image_grid(rows, nrow=n, row_labels=["held-out", "VAE"], scale=2)
    path = Path(out_dir) / "vae_samples.png"
    save_image(grid, path)
    return [path]



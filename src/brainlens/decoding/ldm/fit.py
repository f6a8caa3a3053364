"""Fine-tune the brain-conditioned latent diffusion model on a paired store (MinD-Vis's DC-LDM stage).

>>> fit_ldm("god_sub1.h5", "ldm", encoder="mbm")          # the shipped diffusion model, the pretrained encoder
>>> model, pipe, config = load_ldm("ldm")

Training reads the train split's single trials and validates on the validation split's averages each epoch; the
test split is never read. The decoder folder keeps the trained parameters only (model.safetensors) and names the
diffusion model whose frozen UNet, VAE and scheduler it builds on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from brainlens._io import fresh_staging, replace_folder, save_safetensors, write_json
from brainlens.decoding.data import check_finite_betas, open_paired
from brainlens.decoding.ldm.model import BrainLDM, BrainLDMConfig
from brainlens.decoding.mbm.data import subject_normalisation, wrap_pad
from brainlens.decoding.mbm.mae import MaskedBrainModel, MBMConfig
from brainlens.decoding.mbm.pretrain import PretrainConfig, load_mbm, train_epochs
from brainlens.models.latents import images_to_latents, unit_pixels
from brainlens.store import SPLITS, StoreError, load_split

__all__ = ["LDM_TRAIN_DEFAULTS", "fit_ldm", "load_ldm", "encode_latents", "padded_voxels"]

Progress = Callable[[str, int], None]

# The in-silico defaults: MinD-Vis fine-tunes 500 epochs at lr 5.3e-5 with batches of 5 on GOD's 1,200 images; at
# batches of 16 the in-silico model trains with a proportionally larger step for fewer epochs.
LDM_TRAIN_DEFAULTS = {"epochs": 30, "batch_size": 16, "lr": 1.7e-4, "weight_decay": 0.01, "warmup_epochs": 1.0,
                      "clip_grad": 1.0}


def padded_voxels(betas: np.ndarray, mean: float, std: float, length: int) -> torch.Tensor:
    """Betas (n, V) → normalised as the encoder saw the subject, wrap-padded to its length: (n, length) float32."""
    return torch.from_numpy(wrap_pad(((betas - mean) / std).astype(np.float32), length))


@torch.no_grad()
def encode_latents(pipe, images: np.ndarray, batch_size: int = 64) -> torch.Tensor:
    """uint8 images (n, H, W, 3) → the diffusion model's scaled VAE latents (n, C, h, w), the posterior mean."""
    vae = pipe.vae
    size = int(pipe.unet.config.sample_size) * 2 ** (len(vae.config.block_out_channels) - 1)
    out = []
    for start in range(0, len(images), batch_size):
        pixels = unit_pixels(images[start : start + batch_size], size, vae.device)
        out.append(images_to_latents(vae, pixels).float().cpu())
    return torch.cat(out)


class _DiffusionLoss(torch.nn.Module):
    """(padded voxels (B, L), clean latents (B, C, h, w)) → (the diffusion loss at random timesteps, {})."""

    def __init__(self, model: BrainLDM, scheduler):
        super().__init__()
        self.model = model
        self.scheduler = scheduler

    def target(self, latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        if self.scheduler.config.prediction_type == "v_prediction":
            return self.scheduler.get_velocity(latents, noise, timesteps)
        return noise

    def loss(self, voxels, latents, noise, timesteps, keep) -> torch.Tensor:
        noisy = self.scheduler.add_noise(latents, noise, timesteps)
        prediction = self.model(noisy, timesteps, voxels, keep)
        return F.mse_loss(prediction.float(), self.target(latents, noise, timesteps).float())

    def forward(self, voxels: torch.Tensor, latents: torch.Tensor) -> tuple[torch.Tensor, dict]:
        batch = len(latents)
        noise = torch.randn_like(latents)
        timesteps = torch.randint(0, self.scheduler.config.num_train_timesteps, (batch,), device=latents.device)
        keep = torch.rand(batch, device=latents.device) >= self.model.config.condition_dropout
        return self.loss(voxels, latents, noise, timesteps, keep), {}


@torch.no_grad()
def _validation_loss(objective: _DiffusionLoss, voxels: torch.Tensor, latents: torch.Tensor, seed: int = 0,
                     draws: int = 4) -> dict:
    """The diffusion loss on the validation split at fixed noise and timesteps, with the brain condition and with it
    dropped: the gap is what the condition tells the model."""
    objective.eval()
    generator = torch.Generator().manual_seed(seed)
    with_brain, without = [], []
    for _ in range(draws):
        noise = torch.randn(latents.shape, generator=generator)
        timesteps = torch.randint(0, objective.scheduler.config.num_train_timesteps, (len(latents),), generator=generator)
        for keep_value, losses in ((True, with_brain), (False, without)):
            keep = torch.full((len(latents),), keep_value)
            losses.append(float(objective.loss(voxels, latents, noise, timesteps, keep)))
    state = {"val_loss": round(float(np.mean(with_brain)), 5), "val_loss_unconditional": round(float(np.mean(without)), 5)}
    objective.train()
    return state


def _training_trials(store, n_voxels_limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train single-trial betas (n, V), each trial's image, val betas averaged (m, V), val images)."""
    train = load_split(store, "train", average=False)
    val = load_split(store, "val")
    check_finite_betas(train.betas, store, "the train split")
    check_finite_betas(val.betas, store, "the val split")
    if train.betas.shape[1] > n_voxels_limit:
        raise ValueError(f"{store.path} has {train.betas.shape[1]} voxels, more than the encoder's length of {n_voxels_limit}.")
    if not (store.split == SPLITS["test"]).any():
        raise StoreError(store.path, "split", "has no test images: an LDM decoder is judged on the test split")
    return train.betas.astype(np.float32), train.image_index, val.betas.astype(np.float32), val.image_index


def fit_ldm(
    store: str | Path,
    out: str | Path,
    *,
    encoder: str | Path,
    random_encoder: bool = False,
    diffusion: str = "diffusion",
    config: BrainLDMConfig | None = None,
    train: PretrainConfig | None = None,
    resume: bool = False,
    device: str = "cpu",
    progress: Progress | None = None,
) -> dict:
    """Fine-tune a brain LDM on ``store``'s training trials into ``out``; returns the metrics of ``out/metrics.json``.

    ``encoder``: a masked brain model folder (``brainlens pretrain mbm`` or ``pretrain cross-modal``); with
    ``random_encoder`` its architecture starts from random weights instead (the baseline that shows what
    pretraining gives). ``diffusion``: the diffusion model by name, folder or hub id (the shipped ``diffusion``, or
    e.g. ``runwayml/stable-diffusion-v1-5`` from the cache). ``train``: epochs, batch, optimiser (default
    :data:`LDM_TRAIN_DEFAULTS`)."""
    from brainlens.models import load_pipeline

    config = config or BrainLDMConfig()
    train = train or PretrainConfig(**LDM_TRAIN_DEFAULTS)
    started = time.perf_counter()
    out = Path(out)
    fmri, encoder_config = load_mbm(encoder)
    if random_encoder:
        torch.manual_seed(train.seed)
        fmri = MaskedBrainModel(MBMConfig(**encoder_config["model"]))
    with open_paired(store) as opened:
        betas, trial_image, val_betas, val_images = _training_trials(opened, fmri.config.length)
        images, which = np.unique(trial_image, return_inverse=True)
        pipe = load_pipeline(diffusion, dtype=torch.float32)
        pipe.vae.to(device)
        latents = encode_latents(pipe, opened.images_at(images))[which]  # (n_trials, C, h, w)
        val_latents = encode_latents(pipe, opened.images_at(val_images))
    n_voxels = betas.shape[1]
    mean, std = subject_normalisation(encoder_config, Path(store).stem, n_voxels, lambda: betas)
    voxels, val_voxels = (padded_voxels(b, mean, std, fmri.config.length) for b in (betas, val_betas))

    torch.manual_seed(train.seed)
    model = BrainLDM(fmri.train(), pipe.unet.float(), config)
    objective = _DiffusionLoss(model, pipe.scheduler)
    settings = {"kind": "brain-ldm", "store": str(store), "encoder": str(encoder), "random_encoder": random_encoder,
                "diffusion": str(diffusion), "ldm": config.to_dict(), "mbm": fmri.config.to_dict(), "n_voxels": n_voxels,
                "normalisation": {"mean": mean, "std": std}, "train": asdict(train),
                "native_cross_attention": model.native}
    pipe.vae.to("cpu")
    _, history, is_main = train_epochs(
        objective, (voxels, latents), train=train, settings=settings, checkpoint=out / "checkpoint.pt",
        validate=lambda trained: _validation_loss(trained, val_voxels, val_latents, seed=train.seed), resume=resume,
        device=device, progress=progress, stage="ldm steps")
    metrics = {"n_train_trials": len(betas), "n_train_images": len(images), "n_val_images": len(val_images),
               "trained_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
               "history": history, "validation": {k: v for k, v in history[-1].items() if k.startswith("val_")},
               "seconds": round(time.perf_counter() - started, 1)}
    if is_main:
        staging = fresh_staging(out)
        save_safetensors(staging / "model.safetensors", model.trained_state())
        write_json(staging / "config.json", settings)
        write_json(staging / "metrics.json", metrics)
        replace_folder(staging, out)
    return metrics


def load_ldm(folder: str | Path, device: str = "cpu") -> tuple[BrainLDM, object, dict]:
    """A fitted brain LDM (eval mode), the diffusion pipeline it builds on (VAE, scheduler) and its config.json."""
    import json

    from safetensors.torch import load_file

    from brainlens.models import load_pipeline

    folder = Path(folder)
    for name in ("config.json", "model.safetensors"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"brain LDM file missing: {folder / name} (fit one with `brainlens decode fit --model ldm`).")
    config = json.loads((folder / "config.json").read_text())
    if config.get("kind") != "brain-ldm":
        raise ValueError(f"{folder} does not hold a brain LDM (config kind {config.get('kind')!r}).")
    pipe = load_pipeline(config["diffusion"], dtype=torch.float32)
    model = BrainLDM(MaskedBrainModel(MBMConfig(**config["mbm"])), pipe.unet, BrainLDMConfig(**config["ldm"]))
    trained = load_file(str(folder / "model.safetensors"))
    missing = sorted(set(model.trained_state()) - set(trained))
    if missing:
        raise ValueError(f"{folder / 'model.safetensors'} lacks {len(missing)} trained tensors (first: {missing[0]}).")
    model.load_state_dict(trained, strict=False)
    return model.to(device).eval(), pipe.to(device), config

"""CAD's phase 2: tuning a pretrained masked brain model with an image masked autoencoder, on paired data.

The fMRI MAE (pretrained, trained further) and an image MAE (a ``transformers`` ViT-MAE: the shipped
``image-mae``, trained on in-silico images, a local folder, or a hub id such as ``facebook/vit-mae-base``; its
encoder frozen, its decoder trained) each get cross-attention
blocks that read the other modality:

- fMRI side: the voxel vector is masked (0.75); the visible tokens, after the fMRI encoder, pass through
  cross-attention blocks that attend to the *unmasked* image's hidden states, and the fMRI decoder fills in the
  hidden patches (masked-patch MSE, as in pretraining);
- image side: the image is masked (0.5); the frozen image encoder's visible tokens pass through
  cross-attention blocks that attend to the *unmasked* fMRI latent, and the image decoder fills in the hidden
  pixels (masked-patch pixel MSE, per-patch normalised when the image MAE was trained so);
- loss = 0.25 × fMRI + 1.5 × image (CAD's weights). The image side's gradient reaches the fMRI encoder
  through the latent it attends to: that is what tunes the encoder toward what is informative about images.

Only the fMRI MAE is kept afterwards (the cross-attention blocks are dropped, as CAD does before its diffusion
stage): the output folder is an ordinary masked brain model folder, loadable by :func:`load_mbm`.

Training reads the target subject's training trials with their images; the validation split's trials are
scored after every epoch. The test split is never read.

>>> pretrain_cross_modal("mbm/", "sub1.h5", "mbm_phase2/", image_mae="facebook/vit-mae-base")
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from brainlens.decoding.data import check_finite_betas, open_paired
from brainlens.decoding.mbm.data import store_samples, subject_normalisation, wrap_pad
from brainlens.decoding.mbm.mae import MaskedBrainModel
from brainlens.decoding.mbm.pretrain import PretrainConfig, load_mbm, patch_error, save_mbm, train_epochs
from brainlens.models import load_model
from brainlens.models.image_mae import normalise_pixels
from brainlens.models.latents import unit_pixels
from brainlens.store import SPLITS, StoreError

__all__ = ["CrossModalConfig", "CrossAttentionBlock", "CrossModalModel", "load_image_mae", "pretrain_cross_modal"]

@dataclass
class CrossModalConfig:
    image_mae: str = "image-mae"  # the shipped in-silico ViT-MAE, a folder, or a hub id (CAD: facebook/vit-mae-base)
    cross_layers: int = 3  # cross-attention blocks on each side (CAD: 3)
    fmri_mask_ratio: float = 0.75  # (CAD)
    image_mask_ratio: float = 0.5  # (CAD's paper)
    fmri_weight: float = 0.25  # (CAD)
    image_weight: float = 1.5  # (CAD)

    def __post_init__(self):
        if isinstance(self.cross_layers, bool) or not isinstance(self.cross_layers, int) or self.cross_layers < 1:
            raise ValueError(f"CrossModalConfig.cross_layers must be a positive integer; {self.cross_layers!r} was provided.")
        for name in ("fmri_mask_ratio", "image_mask_ratio"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"CrossModalConfig.{name} must be in (0, 1); {getattr(self, name)!r} was provided.")
        for name in ("fmri_weight", "image_weight"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"CrossModalConfig.{name} must be >= 0; {getattr(self, name)!r} was provided.")


# CAD phase 2's optimiser settings (lr 5.3e-5, 15 epochs, batch 16, 2 warm-up epochs, clip 0.8, weight decay 0.05)
PHASE2_TRAINING = PretrainConfig(epochs=15, batch_size=16, lr=5.3e-5, warmup_epochs=2.0)


class CrossAttentionBlock(nn.Module):
    """Pre-norm self-attention, cross-attention to a context of another width, MLP; each residual:
    tokens (B, n, width), context (B, m, context_width) → (B, n, width)."""

    def __init__(self, width: int, context_width: int, heads: int):
        super().__init__()
        self.self_norm = nn.LayerNorm(width, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(width, heads, batch_first=True)
        self.cross_norm = nn.LayerNorm(width, eps=1e-6)
        self.context_norm = nn.LayerNorm(context_width, eps=1e-6)
        self.cross_attention = nn.MultiheadAttention(width, heads, kdim=context_width, vdim=context_width, batch_first=True)
        self.mlp_norm = nn.LayerNorm(width, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, tokens: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = self.self_norm(tokens)
        tokens = tokens + self.self_attention(x, x, x, need_weights=False)[0]
        memory = self.context_norm(context)
        tokens = tokens + self.cross_attention(self.cross_norm(tokens), memory, memory, need_weights=False)[0]
        return tokens + self.mlp(self.mlp_norm(tokens))


def load_image_mae(name: str | Path):
    """A ``transformers`` ViTMAEForPreTraining by shipped name, folder or hub id (from the local cache), its
    encoder frozen."""
    model = load_model(name, kind="mae").float()
    model.vit.requires_grad_(False)
    return model


class CrossModalModel(nn.Module):
    """The fMRI MAE and the image MAE with cross-attention both ways; ``forward(voxels, pixels)`` → (loss, parts)
    with voxels (B, length) normalised and padded, pixels (B, 3, S, S) uint8 at the image MAE's size."""

    def __init__(self, fmri: MaskedBrainModel, image, config: CrossModalConfig):
        super().__init__()
        self.fmri, self.image, self.config = fmri, image, config
        fmri_width, image_width = fmri.config.width, image.config.hidden_size
        self.fmri_cross = nn.ModuleList(CrossAttentionBlock(fmri_width, image_width, fmri.config.heads)
                                        for _ in range(config.cross_layers))
        self.image_cross = nn.ModuleList(CrossAttentionBlock(image_width, fmri_width, image.config.num_attention_heads)
                                         for _ in range(config.cross_layers))

    def train(self, mode: bool = True):
        super().train(mode)
        self.image.vit.eval()  # the frozen encoder stays in eval mode (no dropout)
        return self

    def _image_states(self, pixels: torch.Tensor, mask_ratio: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The frozen image encoder on a masked view: (hidden states (B, 1 + kept, H), mask (B, N), restore (B, N))."""
        saved = self.image.config.mask_ratio
        self.image.config.mask_ratio = mask_ratio  # ViT-MAE reads its ratio from the config at each call
        try:
            with torch.no_grad():
                output = self.image.vit(pixels)
        finally:
            self.image.config.mask_ratio = saved
        return output.last_hidden_state, output.mask, output.ids_restore

    def _pixel_loss(self, pixels: torch.Tensor, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        target = self.image.patchify(pixels)  # (B, N, patch² · 3)
        if self.image.config.norm_pix_loss:
            target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6).sqrt()
        per_patch = ((logits - target) ** 2).mean(-1)
        return (per_patch * mask).sum() / mask.sum()

    def forward(self, voxels: torch.Tensor, pixels: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        pixels = normalise_pixels(pixels)
        # the fMRI side: masked voxels, attending to the whole image
        image_support, _, _ = self._image_states(pixels, 0.0)
        latent, mask, restore = self.fmri._masked_encode(voxels, self.config.fmri_mask_ratio)
        for block in self.fmri_cross:
            latent = block(latent, image_support)
        fmri_loss = self.fmri.masked_mse(voxels, self.fmri._decode(latent, restore), mask).mean()
        # the image side: a masked image, attending to the whole fMRI latent
        states, image_mask, image_restore = self._image_states(pixels, self.config.image_mask_ratio)
        brain = self.fmri.encode(voxels)
        for block in self.image_cross:
            states = block(states, brain)
        logits = self.image.decoder(states, image_restore).logits
        image_loss = self._pixel_loss(pixels, logits, image_mask)
        loss = self.config.fmri_weight * fmri_loss + self.config.image_weight * image_loss
        return loss, {"fmri_mse": fmri_loss.detach(), "image_mse": image_loss.detach()}


def _paired_split(store, split: str, image_size: int, n_images: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A split's single trials (n, V) float32 and each trial's image (n, 3, S, S) uint8 at the image MAE's size;
    with ``n_images``, only the trials of the split's first ``n_images`` images (in store order)."""
    rows = np.flatnonzero(store.split[store.trial_image] == SPLITS[split])
    if len(rows) == 0:
        raise StoreError(store.path, "split", f"has no {split!r} trials to tune on")
    if n_images is not None:
        first = np.unique(store.trial_image[rows])
        if len(first) < n_images:
            raise ValueError(f"n_images is {n_images}, but {store.path} has {len(first)} {split} images.")
        rows = rows[np.isin(store.trial_image[rows], first[:n_images])]
    betas = store.betas_at(rows).astype(np.float32)
    check_finite_betas(betas, store, f"the {split} split")
    images, which = np.unique(store.trial_image[rows], return_inverse=True)
    resized = []
    for start in range(0, len(images), 256):
        pixels = unit_pixels(store.images_at(images[start : start + 256]), image_size)  # (B, 3, size, size)
        resized.append((pixels * 255).round().byte())
    return betas, torch.cat(resized).numpy()[which]


def pretrain_cross_modal(encoder: str | Path, store: str | Path, out: str | Path, *, config: CrossModalConfig | None = None,
                         train: PretrainConfig | None = None, n_images: int | None = None, resume: bool = False,
                         device: str = "cpu", progress=None) -> dict:
    """Tune the masked brain model in ``encoder`` on ``store``'s training pairs with an image MAE (CAD phase 2)
    into ``out``, a masked brain model folder; returns the metrics written to ``out/metrics.json``. ``n_images``
    keeps the trials of the first that many training images (1,200: GOD's size, the images the probe fits on)."""
    if n_images is not None and (isinstance(n_images, bool) or not isinstance(n_images, int) or n_images < 1):
        raise ValueError(f"n_images must be a positive integer; {n_images!r} was provided.")
    config = config or CrossModalConfig()
    train = train or PHASE2_TRAINING
    started = time.perf_counter()
    out = Path(out)
    fmri, encoder_config = load_mbm(encoder)
    image = load_image_mae(config.image_mae)
    size = image.config.image_size
    with open_paired(store) as opened:
        betas, pixels = _paired_split(opened, "train", size, n_images)
        val_betas, val_pixels = _paired_split(opened, "val", size)
    n_voxels = betas.shape[1]
    if n_voxels > fmri.config.length:
        raise ValueError(f"{store} has {n_voxels} voxels, more than the encoder's length of {fmri.config.length}.")
    mean, std = subject_normalisation(encoder_config, Path(store).stem, n_voxels, lambda: store_samples(store)[0])

    def padded(values: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(wrap_pad(((values - mean) / std).astype(np.float32), fmri.config.length))

    torch.manual_seed(train.seed)
    model = CrossModalModel(fmri.train(), image, config)
    val_voxels, val_images = padded(val_betas), torch.from_numpy(val_pixels)
    settings = {"encoder": str(encoder), "store": str(store), "n_images": n_images, "cross_modal": asdict(config),
                "train": asdict(train),
                "normalisation": {"mean": mean, "std": std}}

    @torch.no_grad()
    def validate(trained: CrossModalModel) -> dict:
        trained.eval()
        state = torch.get_rng_state()
        torch.manual_seed(0)
        parts = [trained(val_voxels[i : i + 64], val_images[i : i + 64])[1] for i in range(0, len(val_voxels), 64)]
        torch.set_rng_state(state)
        return {f"val_{key}": round(float(np.mean([float(p[key]) for p in parts])), 5) for key in parts[0]}

    model, history, is_main = train_epochs(model, (padded(betas), torch.from_numpy(pixels)), train=train, settings=settings,
                                           checkpoint=out / "checkpoint.pt", validate=validate, resume=resume, device=device,
                                           progress=progress, stage="cross-modal steps")
    tuned = model.fmri.eval()
    validation = patch_error(tuned, ((val_betas - mean) / std).astype(np.float32), n_voxels)
    metrics = {"phase": "cross-modal", "n_train": len(betas), "n_val": len(val_betas), "history": history,
               "validation": {Path(store).stem: validation}, "seconds": round(time.perf_counter() - started, 1)}
    if is_main:
        save_mbm(out, tuned, {**encoder_config, "cross_modal": settings}, metrics)
    return metrics

"""The shipped image MAE: a ``transformers`` ViT-MAE (``ViTMAEForPreTraining``) on 64-pixel in-silico images.

CAD's cross-modal phase tunes the fMRI encoder beside a frozen image MAE (``facebook/vit-mae-base`` on real
data). This one plays that part offline: 8-pixel patches (an 8 × 8 grid), a 4-block 128-wide encoder and a
2-block 96-wide decoder, trained as MAE is — 75 % of the patches hidden, the loss the MSE of the hidden
patches' pixels, each patch normalised by its own mean and variance (``norm_pix_loss``) — with AdamW at MAE's
betas and weight decay. Pixels enter as ViT-MAE's processor gives them: scaled to [0, 1], then normalised by
ImageNet's mean and std (:func:`normalise_pixels`).

It loads by name, ``load_model("image-mae")``; retrain with ``brainlens zoo train image-mae``. Training is
deterministic from its seed (on one torch build and thread count), checkpoints every epoch in a hidden folder
beside the output and continues from it after an interruption.
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

from brainlens._io import fresh_staging, replace_folder, write_json
from brainlens.insilico import stimuli
from brainlens.models import zoo
from brainlens.models._training import (
    HELDOUT_SEED,
    Progress,
    check_positive,
    checkpoint_folder,
    loaded,
    resume_epoch,
    save_epoch,
    stage_ticker,
    training_images,
    warmup_cosine,
)

__all__ = ["IMAGE_MEAN", "IMAGE_STD", "ImageMAESpec", "evaluate_image_mae", "load_resolved", "masked_image_loss",
           "normalise_pixels", "train_image_mae"]

# ViT-MAE's processor normalisation (ImageNet's statistics), kept for the shipped model so that one function
# prepares pixels for it and for facebook/vit-mae-base alike
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ImageMAESpec:
    """Shape of the shipped image MAE (facebook/vit-mae-base: 224 px, patch 16, 768 wide, 12 blocks; decoder 512, 8)."""

    image_size: int = 64
    patch_size: int = 8
    hidden_size: int = 128
    layers: int = 4
    heads: int = 4
    decoder_hidden_size: int = 96
    decoder_layers: int = 2
    decoder_heads: int = 4
    mask_ratio: float = 0.75

    def build(self):
        from transformers import ViTMAEConfig, ViTMAEForPreTraining

        config = ViTMAEConfig(
            image_size=self.image_size, patch_size=self.patch_size, num_channels=3,
            hidden_size=self.hidden_size, num_hidden_layers=self.layers, num_attention_heads=self.heads,
            intermediate_size=4 * self.hidden_size,
            decoder_hidden_size=self.decoder_hidden_size, decoder_num_hidden_layers=self.decoder_layers,
            decoder_num_attention_heads=self.decoder_heads, decoder_intermediate_size=4 * self.decoder_hidden_size,
            mask_ratio=self.mask_ratio, norm_pix_loss=True,
        )
        return ViTMAEForPreTraining(config)


def load_resolved(resolved: zoo.Resolved, *, dtype=None, device=None, **kwargs):
    """The loader of kind "mae" in :func:`brainlens.models.load_model`: a ``ViTMAEForPreTraining``."""
    transformers = zoo.require("transformers", "an image MAE")
    dtype = zoo.torch_dtype(dtype)

    def load(location, local_only):
        try:
            model_type = transformers.AutoConfig.from_pretrained(location, local_files_only=local_only).model_type
        except ValueError:  # a config.json that names no transformers model type
            model_type = None
        if model_type != "vit_mae":
            raise zoo.ModelNotFoundError(f"{resolved.source!r} holds a {model_type!r} model, not a ViT-MAE "
                                         f"(model_type 'vit_mae') that can serve as the image MAE")
        return transformers.ViTMAEForPreTraining.from_pretrained(location, local_files_only=local_only,
                                                                 **{**kwargs, "dtype": dtype})

    return zoo.finish(zoo.load_with_fallback("image MAE", resolved, load), device)


def normalise_pixels(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 images (B, 3, S, S) → ViT-MAE's input: [0, 1], then ImageNet's mean and std per channel."""
    mean = torch.tensor(IMAGE_MEAN, device=pixels.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD, device=pixels.device).view(1, 3, 1, 1)
    return (pixels.float() / 255.0 - mean) / std


def _channels_first(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)  # (B, H, W, 3) → (B, 3, H, W)


def _masked_forward(model, pixels: torch.Tensor, generator: torch.Generator):
    """The MAE on normalised pixels (B, 3, S, S) with masks drawn from `generator` → its output (loss, mask, …)."""
    n_patches = (model.config.image_size // model.config.patch_size) ** 2
    noise = torch.rand(len(pixels), n_patches, generator=generator)  # ViT-MAE keeps the patches of least noise
    return model(pixel_values=pixels, noise=noise)


def masked_image_loss(model, images: np.ndarray, generator: torch.Generator) -> torch.Tensor:
    """MAE's loss on uint8 images (B, S, S, 3): the hidden patches' normalised pixels, masks drawn from `generator`."""
    return _masked_forward(model, normalise_pixels(_channels_first(images)), generator).loss


def train_image_mae(
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    n_train: int = 10_000,
    epochs: int = 6,
    batch_size: int = 128,
    lr: float = 1e-3,
    warmup: float = 0.05,
    weight_decay: float = 0.05,
    spec: ImageMAESpec = ImageMAESpec(),
    images: np.ndarray | None = None,
    progress: Progress | None = None,
) -> dict:
    """Train the image MAE on in-silico images and save it, with ``metrics.json``, to ``out_dir``.

    AdamW (MAE's betas 0.9 / 0.95 and weight decay 0.05) with linear warm-up and cosine decay, a fresh random
    mask for every image at every step; afterwards :func:`evaluate_image_mae` on held-out images.

    Parameters
    ----------
    out_dir : path
        Folder to write (replaced as a whole at the end); each epoch's checkpoint goes to a hidden folder beside
        it (``.NAME.checkpoint``), which a rerun with the same settings continues from.
    seed : int
        Seeds the weights, the masks, the batches and the training stimuli.
    images : uint8 array (>= n_train, 64, 64, 3), optional
        Those training stimuli, when already drawn.
    progress : callable, optional
        ``progress(stage, k)``: ``"stimuli"`` with images drawn, ``"image mae steps"`` with 1 per step.
    """
    check_positive(n_train=n_train, epochs=epochs, batch_size=batch_size)
    out_dir = Path(out_dir)
    started = time.perf_counter()
    settings = {"seed": seed, "n_train": n_train, "epochs": epochs, "batch_size": batch_size, "lr": lr,
                "warmup": warmup, "weight_decay": weight_decay, "spec": asdict(spec)}
    data = training_images(n_train, seed, spec.image_size, images, progress)

    torch.manual_seed(seed)
    model = spec.build()
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=weight_decay)
    steps_per_epoch = math.ceil(n_train / batch_size)
    schedule = warmup_cosine(optimiser, epochs * steps_per_epoch, warmup)
    checkpoint = checkpoint_folder(out_dir) / "state.pt"
    history, first_epoch = resume_epoch(checkpoint, settings, model, optimiser, schedule)

    tick = stage_ticker(progress, "image mae steps")
    for epoch in range(first_epoch, epochs):
        epoch_started = time.perf_counter()
        model.train()
        generator = torch.Generator().manual_seed(seed * 1_000 + epoch)  # the same draws after a resume
        order = torch.randperm(n_train, generator=generator).numpy()
        total = 0.0
        for start in range(0, n_train, batch_size):
            idx = np.sort(order[start : start + batch_size])
            loss = masked_image_loss(model, data[idx], generator)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"image MAE training stopped: the loss is {loss.item()} at epoch {epoch}, "
                                         f"step {start // batch_size}.")
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(idx)
            if tick is not None:
                tick(1)
        history.append({"epoch": epoch + 1, "loss": total / n_train,
                        "seconds": round(time.perf_counter() - epoch_started, 1)})
        save_epoch(checkpoint, settings, epoch, model, optimiser, schedule, history)

    model.eval()
    metrics = evaluate_image_mae(model)
    metrics.update({
        "train_seconds": round(sum(h["seconds"] for h in history), 1),
        "wall_seconds": round(time.perf_counter() - started, 1), "history": history,
        "training": {**settings, "torch": torch.__version__, "threads": torch.get_num_threads()},
        "parameters": sum(p.numel() for p in model.parameters()),
    })
    staging = fresh_staging(out_dir)
    model.half().save_pretrained(staging)  # float16 storage; loaders cast back to float32
    write_json(staging / "metrics.json", metrics)
    replace_folder(staging, out_dir)
    shutil.rmtree(checkpoint.parent, ignore_errors=True)
    return metrics


@torch.no_grad()
def evaluate_image_mae(model="image-mae", *, n: int = 500, seed: int = HELDOUT_SEED) -> dict:
    """Masked-patch error on `n` held-out stimuli (drawn with `seed`, never trained on), against predicting each
    hidden patch's own mean (zero in the normalised-pixel target): ``masked_patch_ratio`` = the MAE's loss / that."""
    check_positive(n=n)
    model = loaded(model, lambda name: zoo.load_model(name, kind="mae")).float().eval()
    heldout = stimuli.generate(n, seed=seed, size=int(model.config.image_size)).images
    generator = torch.Generator().manual_seed(seed)
    losses, zero = [], []
    for start in range(0, n, 100):
        batch = heldout[start : start + 100]
        pixels = normalise_pixels(_channels_first(batch))
        output = _masked_forward(model, pixels, generator)
        target = model.patchify(pixels)
        mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
        target = (target - mean) / (var + 1e-6) ** 0.5  # ViT-MAE's norm_pix_loss target
        hidden = output.mask.bool()
        losses.append(float(output.loss) * len(batch))
        zero.append(float(target[hidden].pow(2).mean()) * len(batch))
    loss, baseline = sum(losses) / n, sum(zero) / n
    return {"masked_patch_mse": loss, "zero_mse": baseline, "masked_patch_ratio": loss / baseline,
            "n_images": n, "seed": seed}

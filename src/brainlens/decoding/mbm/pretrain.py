"""Pretraining the masked brain model on unlabelled fMRI, and scoring it on samples it never saw.

An encoder folder holds ``config.json`` (the model, the corpus it learned from with each subject's
normalisation, the training settings), ``model.safetensors``, ``metrics.json`` and, while it trains,
``checkpoint.pt`` (after every epoch; ``resume=True`` continues from it and ends where an uninterrupted run
ends). Training runs through ``accelerate`` (several processes under ``accelerate launch``; mixed precision on
a GPU) with MinD-Vis's optimiser: AdamW (0.9, 0.95), weight decay 0.05 except on biases, norms and tokens,
linear warm-up then a half cosine, gradients clipped at 0.8.

The masked-patch error is scored against predicting zero (each subject's normalised mean), over the real
voxels of the hidden patches (never the wrap-padded copies), with the masks drawn from a fixed seed.

>>> pretrain_mbm(["hcp1.h5", "sub2.h5"], "mbm/", objective="dc-mae")
>>> masked_patch_error("mbm/", "sub1.h5")          # a subject held out of pretraining
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from brainlens._io import save_safetensors, write_json
from brainlens.decoding.mbm.data import Corpus, load_corpus, store_samples, subject_normalisation, wrap_pad
from brainlens.decoding.mbm.mae import OBJECTIVES, MaskedBrainModel, MBMConfig
from brainlens.models._training import resume_epoch, save_epoch, warmup_cosine

__all__ = ["PretrainConfig", "pretrain_mbm", "train_epochs", "save_mbm", "load_mbm", "patch_error", "masked_patch_error", "encode_voxels"]

Progress = Callable[[str, int], None]


@dataclass
class PretrainConfig:
    epochs: int = 3  # MinD-Vis: 500 on ≈ 136 k HCP samples; 3 passes over 54 k in-silico samples take 17 min on 2 cores
    batch_size: int = 100  # as MinD-Vis
    lr: float = 2.5e-4  # as MinD-Vis
    weight_decay: float = 0.05  # as MinD-Vis
    warmup_epochs: float = 0.25  # MinD-Vis: 40 of 500 (8 %)
    clip_grad: float = 0.8  # as MinD-Vis
    seed: int = 0
    mixed_precision: str = "no"  # "no", "fp16" or "bf16" (accelerate; fp16 needs a GPU)

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"PretrainConfig.{name} must be a positive integer; {value!r} was provided.")
        for name in ("lr", "clip_grad"):
            if not getattr(self, name) > 0:
                raise ValueError(f"PretrainConfig.{name} must be > 0; {getattr(self, name)!r} was provided.")
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise ValueError(f"PretrainConfig.mixed_precision must be 'no', 'fp16' or 'bf16'; {self.mixed_precision!r} was provided.")


def _parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on matrices only: none on biases, norms, the CLS and mask tokens (as MAE)."""
    decay, plain = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:  # frozen parts (phase 2's image encoder) are not optimised
            (plain if parameter.ndim < 2 or name.endswith("_token") else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


def _padded_training(corpus: Corpus) -> np.ndarray:
    """Every subject's training samples, padded and stacked: (n_train, length) float32."""
    return np.concatenate([wrap_pad(s.train, corpus.length) for s in corpus.subjects])


@torch.no_grad()
def patch_error(model: MaskedBrainModel, samples: np.ndarray, n_voxels: int, *, seed: int = 0, repeats: int = 3,
                batch_size: int = 256) -> dict:
    """Masked-patch MSE of normalised samples (n, n_voxels) against predicting zero, over the real voxels of the
    hidden patches, for ``repeats`` mask draws from ``seed``."""
    model.eval()
    padded = torch.from_numpy(wrap_pad(samples, model.config.length))
    real = torch.zeros(model.config.length)
    real[:n_voxels] = 1
    real = model.patchify(real[None])[0]  # (n_patches, patch_size): 1 on real voxels
    state = torch.get_rng_state()
    torch.manual_seed(seed)
    squared, zero, count = 0.0, 0.0, 0.0
    for _ in range(repeats):
        for start in range(0, len(padded), batch_size):
            voxels = padded[start : start + batch_size]
            prediction, mask = model.reconstruct(voxels)
            weight = mask[..., None] * real  # (B, n_patches, patch_size)
            target = model.patchify(voxels)
            squared += float((((prediction - target) ** 2) * weight).sum())
            zero += float(((target**2) * weight).sum())
            count += float(weight.sum())
    torch.set_rng_state(state)
    mse, zero_mse = squared / count, zero / count
    return {"masked_mse": round(mse, 5), "zero_mse": round(zero_mse, 5), "ratio": round(mse / zero_mse, 4), "n_samples": len(samples)}


def pretrain_mbm(
    stores: list[str | Path],
    out: str | Path,
    *,
    objective: str = "sc-mbm",
    model_config: dict | None = None,
    train: PretrainConfig | None = None,
    patch_size: int = 16,
    leak_test_split: bool = False,
    resume: bool = False,
    device: str = "cpu",
    progress: Progress | None = None,
) -> dict:
    """Pretrain a masked brain model on the stores' samples (each store one subject) into ``out``; returns the
    metrics written to ``out/metrics.json``. ``model_config``: :class:`MBMConfig` fields other than the length."""
    train = train or PretrainConfig()
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}; {objective!r} was provided.")
    started = time.perf_counter()
    out = Path(out)
    corpus = load_corpus(list(stores), patch_size=patch_size, leak_test_split=leak_test_split, seed=train.seed)
    config = MBMConfig(**{**(model_config or {}), "length": corpus.length, "patch_size": patch_size, "objective": objective})
    torch.manual_seed(train.seed)
    model = MaskedBrainModel(config)
    settings = {"model": config.to_dict(), "train": asdict(train), "corpus": corpus.describe(), "leak_test_split": leak_test_split}

    def validate(trained: MaskedBrainModel) -> dict:
        validation = [patch_error(trained, s.val, s.n_voxels) for s in corpus.subjects if len(s.val)]
        return {"val_ratio": round(float(np.mean([v["ratio"] for v in validation])), 4)} if validation else {}

    model, history, is_main = train_epochs(model, (torch.from_numpy(_padded_training(corpus)),), train=train, settings=settings,
                                           checkpoint=out / "checkpoint.pt", validate=validate, resume=resume, device=device,
                                           progress=progress, stage="mbm steps")
    metrics = {"objective": objective, "n_train": corpus.n_train, "length": corpus.length, "history": history,
               "validation": {s.name: patch_error(model, s.val, s.n_voxels) for s in corpus.subjects if len(s.val)},
               "seconds": round(time.perf_counter() - started, 1)}
    if is_main:
        save_mbm(out, model, {"kind": "masked-brain-model", **settings}, metrics)
    return metrics


def save_mbm(out: Path, model: MaskedBrainModel, config: dict, metrics: dict) -> None:
    """Write a masked brain model folder (model.safetensors, config.json, metrics.json); drop its checkpoint."""
    out.mkdir(parents=True, exist_ok=True)
    save_safetensors(out / "model.safetensors", model.state_dict())
    write_json(out / "config.json", config)
    write_json(out / "metrics.json", metrics)
    (out / "checkpoint.pt").unlink(missing_ok=True)


def train_epochs(model: torch.nn.Module, data: tuple[torch.Tensor, ...], *, train: PretrainConfig, settings: dict,
                 checkpoint: Path, validate: Callable[[torch.nn.Module], dict], resume: bool = False, device: str = "cpu",
                 progress: Progress | None = None, stage: str = "steps") -> tuple[torch.nn.Module, list[dict], bool]:
    """The training loop of masked brain modelling and of its cross-modal phase: ``model(*batch)`` → (loss, parts)
    on shuffled batches of ``data`` (tensors with one row per sample), through accelerate, with MinD-Vis's
    optimiser and schedule; after each epoch ``validate(model)`` is added to the history and a checkpoint written.

    Returns (the trained model on the CPU in eval mode, the history, whether this is the main process)."""
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=device == "cpu", mixed_precision=train.mixed_precision)
    optimiser = torch.optim.AdamW(_parameter_groups(model, train.weight_decay), lr=train.lr, betas=(0.9, 0.95))
    n_samples = len(data[0])
    steps_per_epoch = math.ceil(n_samples / train.batch_size)
    scheduler = warmup_cosine(optimiser, steps_per_epoch * train.epochs, min(0.5, train.warmup_epochs / train.epochs))
    history, first_epoch = resume_epoch(checkpoint, settings, model, optimiser, scheduler) if resume else ([], 0)
    model, optimiser = accelerator.prepare(model, optimiser)
    unwrapped = accelerator.unwrap_model(model)
    shard = slice(accelerator.process_index, None, accelerator.num_processes)
    for epoch in range(first_epoch, train.epochs):
        epoch_started = time.perf_counter()
        model.train()
        order = torch.randperm(n_samples)
        sums: dict[str, float] = {}
        for step in range(steps_per_epoch):
            rows = order[step * train.batch_size : (step + 1) * train.batch_size][shard]
            batch = [tensor[rows].to(accelerator.device) for tensor in data]
            with accelerator.autocast():
                loss, parts = model(*batch)  # through the prepared module, so several processes share gradients
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training stopped: the loss is {loss.item()} at epoch {epoch}, step {step} "
                                         f"(global step {epoch * steps_per_epoch + step}).")
            optimiser.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            accelerator.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], train.clip_grad)
            optimiser.step()
            scheduler.step()
            sums["loss"] = sums.get("loss", 0.0) + loss.item()
            for key, value in parts.items():
                sums[key] = sums.get(key, 0.0) + value.item()
            if progress is not None:
                progress(stage, 1)
        entry = {"epoch": epoch, **{key: round(value / steps_per_epoch, 5) for key, value in sums.items()},
                 "lr": scheduler.get_last_lr()[0], **validate(unwrapped)}
        entry["seconds"] = round(time.perf_counter() - epoch_started, 2)
        history.append(entry)
        if accelerator.is_main_process:
            save_epoch(checkpoint, settings, epoch, unwrapped, optimiser, scheduler, history)
        accelerator.wait_for_everyone()
    return unwrapped.cpu().eval(), history, accelerator.is_main_process


def load_mbm(folder: str | Path, device: str = "cpu") -> tuple[MaskedBrainModel, dict]:
    """A pretrained masked brain model (in eval mode) and its config.json."""
    from safetensors.torch import load_file

    folder = Path(folder)
    for name in ("config.json", "model.safetensors"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"masked brain model file missing: {folder / name} (pretrain one with `brainlens pretrain mbm`).")
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    if config.get("kind") != "masked-brain-model":
        raise ValueError(f"{folder} does not hold a masked brain model (config kind {config.get('kind')!r}).")
    model = MaskedBrainModel(MBMConfig(**config["model"]))
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    return model.to(device).eval(), config


def _subject_samples(config: dict, path: str | Path, test_split: bool, average_repeats: bool) -> tuple[np.ndarray, int]:
    """A store's samples (its test split's, or those pretraining reads), normalised as the encoder saw the subject,
    or by the statistics of the samples pretraining would read for a subject it never saw."""
    samples, _ = store_samples(path, test_split=test_split, average_repeats=average_repeats)
    mean, std = subject_normalisation(config, Path(path).stem, samples.shape[1],
                                      lambda: store_samples(path)[0] if test_split else samples)
    return ((samples - mean) / std).astype(np.float32), samples.shape[1]


def masked_patch_error(folder: str | Path, store: str | Path, *, test_split: bool = True, average_repeats: bool = False,
                       seed: int = 0) -> dict:
    """The pretrained model's masked-patch MSE on a store's samples against predicting zero: by default on its
    test split's single trials (a paired store's; never seen in pretraining unless it leaked); with
    ``average_repeats`` on each test image's repeats averaged."""
    model, config = load_mbm(folder)
    samples, n_voxels = _subject_samples(config, store, test_split, average_repeats)
    if n_voxels > model.config.length:
        raise ValueError(f"{store} has {n_voxels} voxels, more than the model's length of {model.config.length}.")
    return {"store": str(store), "averaged": average_repeats, **patch_error(model, samples, n_voxels, seed=seed)}


@torch.no_grad()
def encode_voxels(model: MaskedBrainModel, voxels: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """Normalised voxels (n, V ≤ length) → the encoder's tokens, nothing masked: (n, 1 + n_patches, width)."""
    model.eval()
    padded = torch.from_numpy(wrap_pad(np.asarray(voxels, dtype=np.float32), model.config.length))
    return np.concatenate([model.encode(padded[i : i + batch_size]).numpy() for i in range(0, len(padded), batch_size)])

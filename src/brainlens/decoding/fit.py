"""Training and scoring decoders: MindEye (contrastive, resumable, through accelerate) and the ridge baseline.

A decoder folder holds ``config.json`` (the model, its sizes, the target space, the training settings, the
store it was fitted on), ``model.safetensors``, ``metrics.json`` and, while MindEye trains, ``checkpoint.pt``
(written after every epoch; a rerun with ``resume=True`` continues from it and ends where an uninterrupted
run ends). :func:`evaluate_decoder` scores a saved decoder on the store's test split.

>>> fit_decoder("sub1.h5", "dec", model="mindeye")      # trains, saves, then scores on the test split
>>> evaluate_decoder("dec", "sub1.h5")["retrieval"]["image_top1"]
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from brainlens._io import save_safetensors, write_json
from brainlens.decoding.data import TrainingData, load_test, load_training
from brainlens.decoding.losses import MIXCO_TEMPERATURE, mixco, mixco_nce, soft_clip_loss, soft_clip_temperature
from brainlens.decoding.mindeye import MindEye, MindEyeConfig
from brainlens.decoding.ridge import RidgeDecoder, fit_ridge_decoder
from brainlens.decoding.targets import TargetSpace, target_space
from brainlens.identification import retrieval_top1
from brainlens.models._training import load_checkpoint, save_checkpoint

__all__ = ["TrainConfig", "DECODER_MODELS", "fit_decoder", "load_decoder", "evaluate_decoder", "embed_voxels"]

DECODER_MODELS = ("mindeye", "ridge")
Progress = Callable[[str, int], None]


@dataclass
class TrainConfig:
    epochs: int = 60  # MindEye: 240 on NSD; the in-silico subject's retrieval levels off well before 60
    batch_size: int = 32  # as MindEye
    max_lr: float = 3e-4  # OneCycle peak, as MindEye
    weight_decay: float = 0.01  # AdamW, none on biases and norms
    warmup_epochs: float = 2.0  # OneCycle's rise, as MindEye
    mixco_fraction: float = 1 / 3  # the first third of epochs trains with BiMixCo, the rest with SoftCLIP
    seed: int = 0
    mixed_precision: str = "no"  # "no", "fp16" or "bf16" (accelerate; fp16 needs a GPU)

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive integer; {getattr(self, name)!r} was provided.")
        if not 0.0 <= self.mixco_fraction <= 1.0:
            raise ValueError(f"TrainConfig.mixco_fraction must be in [0, 1]; {self.mixco_fraction!r} was provided.")
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise ValueError(f"TrainConfig.mixed_precision must be 'no', 'fp16' or 'bf16'; {self.mixed_precision!r} was provided.")


def _flat_normalised(tokens: torch.Tensor) -> torch.Tensor:
    return F.normalize(tokens.flatten(1), dim=-1)


def _weight_decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (no_decay if parameter.ndim < 2 or "norm" in name.lower() else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@torch.no_grad()
def embed_voxels(decoder: torch.nn.Module, betas: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """The decoder's embeddings of betas (N, V) for retrieval: MindEye's projector output or the ridge
    prediction, (N, n_tokens, dim) float32."""
    decoder.eval()
    device = next(iter(decoder.buffers() if isinstance(decoder, RidgeDecoder) else decoder.parameters())).device
    out = []
    for start in range(0, len(betas), batch_size):
        voxels = torch.from_numpy(np.ascontiguousarray(betas[start : start + batch_size])).float().to(device)
        embedded = decoder(voxels)
        out.append((embedded[1] if isinstance(embedded, tuple) else embedded).float().cpu().numpy())
    return np.concatenate(out)


def _retrieval(decoder, betas: np.ndarray, targets: np.ndarray, trials: int, seed: int = 0) -> dict:
    embedded = embed_voxels(decoder, betas)
    n = min(300, len(betas))
    result = retrieval_top1(embedded.reshape(len(betas), -1), targets.reshape(len(targets), -1), n=n, trials=trials, seed=seed)
    return {key: value for key, value in result.items() if not key.endswith("_trials")}


def _train_mindeye(data: TrainingData, space: TargetSpace, model_config: MindEyeConfig, train: TrainConfig, out: Path,
                   *, device: str, resume: bool, progress: Progress | None) -> tuple[MindEye, list[dict]]:
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=device == "cpu", mixed_precision=train.mixed_precision)
    torch.manual_seed(train.seed)
    model = MindEye(model_config)
    optimiser = torch.optim.AdamW(_weight_decay_groups(model, train.weight_decay), lr=train.max_lr)
    n_images = len(data.train_targets)
    steps_per_epoch = math.ceil(n_images / train.batch_size)
    total = steps_per_epoch * train.epochs
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=train.max_lr, total_steps=total, final_div_factor=1000,
                                                    pct_start=min(0.5, train.warmup_epochs / train.epochs))
    settings = {"model": model_config.to_dict(), "train": asdict(train), "target": space.to_dict(), "n_images": n_images}
    checkpoint = out / "checkpoint.pt"
    history, first_epoch = [], 0
    state = load_checkpoint(checkpoint, settings) if resume else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        history, first_epoch = json.loads(state["history"]), int(state["epoch"]) + 1
    model, optimiser = accelerator.prepare(model, optimiser)

    # each image's trials, to draw one per epoch
    order = np.argsort(data.trial_image, kind="stable")
    starts = np.searchsorted(data.trial_image[order], np.arange(n_images))
    counts = np.bincount(data.trial_image, minlength=n_images)
    betas = torch.from_numpy(data.trial_betas)
    targets = _flat_normalised(torch.from_numpy(data.train_targets))  # (n_images, T·D), fixed
    mixco_epochs = int(round(train.mixco_fraction * train.epochs))
    for epoch in range(first_epoch, train.epochs):
        started = time.perf_counter()
        model.train()
        images = torch.randperm(n_images)
        picks = torch.from_numpy(order[starts + (torch.rand(n_images).numpy() * counts).astype(np.int64)])
        temperature = MIXCO_TEMPERATURE if epoch < mixco_epochs else soft_clip_temperature(epoch, mixco_epochs, train.epochs - 1)
        losses = []
        for step in range(steps_per_epoch):
            batch = images[step * train.batch_size : (step + 1) * train.batch_size]
            if len(batch) < 2:  # a contrastive loss needs another image in the batch
                continue
            voxels = betas[picks[batch]].to(accelerator.device)
            target = targets[batch].to(accelerator.device)
            with accelerator.autocast():
                if epoch < mixco_epochs:
                    voxels, perm, mix, _ = mixco(voxels)
                    _, projected = model(voxels)
                    loss = mixco_nce(_flat_normalised(projected.float()), target, perm, mix, temperature)
                else:
                    _, projected = model(voxels)
                    loss = soft_clip_loss(_flat_normalised(projected.float()), target, temperature)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"MindEye training stopped: the loss is {loss.item()} at epoch {epoch}, "
                                         f"step {step} (global step {epoch * steps_per_epoch + step}).")
            optimiser.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            optimiser.step()
            scheduler.step()
            losses.append(loss.item())
            if progress is not None:
                progress("mindeye steps", 1)
        val = _retrieval(accelerator.unwrap_model(model), data.val_betas, data.val_targets, trials=10)
        history.append({"epoch": epoch, "loss": round(float(np.mean(losses)), 5), "temperature": temperature,
                        "loss_kind": "bimixco" if epoch < mixco_epochs else "softclip",
                        "val_image_top1": round(val["image_top1"], 4), "val_brain_top1": round(val["brain_top1"], 4),
                        "seconds": round(time.perf_counter() - started, 2)})
        if accelerator.is_main_process:
            save_checkpoint(checkpoint, {
                "settings": settings, "epoch": epoch, "model": accelerator.unwrap_model(model).state_dict(),
                "optimiser": optimiser.state_dict(), "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state(),
                "history": json.dumps(history),
            })
    return accelerator.unwrap_model(model).cpu().eval(), history


def _save(out: Path, model: torch.nn.Module, config: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    save_safetensors(out / "model.safetensors", model.state_dict())
    write_json(out / "config.json", config)


def fit_decoder(
    store: str | Path,
    out: str | Path,
    *,
    model: str = "mindeye",
    target: str = "embedder-tokens",
    target_source: str | None = None,
    model_config: dict | None = None,
    train: TrainConfig | None = None,
    device: str = "cpu",
    resume: bool = False,
    evaluate: bool = True,
    progress: Progress | None = None,
) -> dict:
    """Fit a decoder on ``store``'s train split (validation split for monitoring and the ridge penalty) into ``out``.

    model: "mindeye" or "ridge"; target: a name from :data:`brainlens.decoding.targets.TARGETS`; model_config:
    changes to :class:`MindEyeConfig`'s defaults (e.g. ``{"hidden": 4096}``). With ``evaluate`` the saved
    decoder is then scored on the test split (:func:`evaluate_decoder`). Returns the metrics written to
    ``out/metrics.json``.
    """
    if model not in DECODER_MODELS:
        raise ValueError(f"model must be one of {list(DECODER_MODELS)}; {model!r} was provided.")
    out, store = Path(out), Path(store)
    train = train or TrainConfig()
    space = target_space(target, target_source, device=device)
    tick = None if progress is None else (lambda k: progress("targets", k))
    data = load_training(store, space, device=device, progress=tick)
    config = {"model": model, "target": space.to_dict(), "store": str(store), "n_voxels": data.n_voxels}
    started = time.perf_counter()
    if model == "ridge":
        decoder, info = fit_ridge_decoder(data.trial_betas, data.trial_image, data.train_targets, data.val_betas,
                                          data.val_targets, seed=train.seed)
        config["ridge"] = info
        history = []
    else:
        unknown = sorted(set(model_config or {}) - {f.name for f in fields(MindEyeConfig)} - {"n_voxels"})
        if unknown:
            raise ValueError(f"unknown MindEye setting {unknown[0]!r}; settings: {[f.name for f in fields(MindEyeConfig)]}")
        mindeye_config = MindEyeConfig(**{**(model_config or {}), "n_voxels": data.n_voxels, "n_tokens": space.n_tokens,
                                          "dim": space.dim})
        decoder, history = _train_mindeye(data, space, mindeye_config, train, out, device=device, resume=resume,
                                          progress=progress)
        config.update({"mindeye": mindeye_config.to_dict(), "train": asdict(train)})
    _save(out, decoder, config)
    metrics = {"model": model, "target": space.name, "fit_seconds": round(time.perf_counter() - started, 1), "history": history,
               "n_train_images": len(data.train_targets), "n_val_images": len(data.val_targets)}
    if evaluate:
        metrics.update(evaluate_decoder(out, store, device=device))
    write_json(out / "metrics.json", metrics)
    return metrics


def load_decoder(folder: str | Path, device: str = "cpu") -> tuple[torch.nn.Module, dict]:
    """A saved decoder (in eval mode) and its config."""
    from safetensors.torch import load_file

    folder = Path(folder)
    for name in ("config.json", "model.safetensors"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"decoder file missing: {folder / name}")
    config = json.loads((folder / "config.json").read_text())
    if config.get("model") not in DECODER_MODELS:
        raise ValueError(f"{folder / 'config.json'}: 'model' must be one of {list(DECODER_MODELS)}; found {config.get('model')!r}")
    tensors = load_file(str(folder / "model.safetensors"))
    space = config["target"]
    if config["model"] == "ridge":
        decoder = RidgeDecoder(tensors["weight"], tensors["bias"], tensors["voxel_mean"], space["n_tokens"], space["dim"])
    else:
        decoder = MindEye(MindEyeConfig(**config["mindeye"]))
        decoder.load_state_dict(tensors)
    return decoder.to(device).eval(), config


def evaluate_decoder(folder: str | Path, store: str | Path | None = None, *, device: str = "cpu", trials: int = 30) -> dict:
    """Retrieval on the test split (repeats averaged), as MindEye: ``{"retrieval": {"image_top1", "brain_top1",
    their 95 % intervals, "n", "trials"}, "n_test_images"}``. ``store`` defaults to the one fitted on."""
    decoder, config = load_decoder(folder, device)
    store = Path(store or config["store"])
    space = TargetSpace(**config["target"])
    test = load_test(store, space, device=device)
    if test.betas.shape[1] != config["n_voxels"]:
        raise ValueError(f"the decoder in {folder} reads {config['n_voxels']} voxels; {store} has {test.betas.shape[1]}.")
    return {"retrieval": _retrieval(decoder, test.betas, test.targets, trials=trials), "n_test_images": len(test.images)}

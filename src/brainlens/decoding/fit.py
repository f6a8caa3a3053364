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
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from brainlens._io import save_safetensors, write_json
from brainlens.decoding.data import TrainingData, load_test, load_training, open_paired
from brainlens.decoding.generator import GeneratorSpace, generator_space
from brainlens.decoding.losses import MIXCO_TEMPERATURE, mixco, mixco_nce, soft_clip_loss, soft_clip_temperature
from brainlens.decoding.mindeye import MindEye, MindEyeConfig
from brainlens.decoding.ridge import RidgeDecoder, fit_ridge_decoder
from brainlens.decoding.targets import TargetSpace, target_space
from brainlens.identification import retrieval_top1
from brainlens.models._training import resume_epoch, save_epoch

__all__ = ["TrainConfig", "DECODER_MODELS", "fit_decoder", "load_decoder", "evaluate_decoder", "embed_voxels", "decoder_subject",
           "check_decoder_voxels"]

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
    # the diffusion prior's MSE in the total loss; None: MindEye's weight for the prior's target, 30 for token targets
    # (257 × 768) and 0.03 for a single embedding (1 × 768), which the in-silico generator's embedding is
    prior_weight: float | None = None
    low_level_weight: float = 0.5  # the low-level head's L1 in the total loss (as MindEye2)

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive integer; {getattr(self, name)!r} was provided.")
        if not 0.0 <= self.mixco_fraction <= 1.0:
            raise ValueError(f"TrainConfig.mixco_fraction must be in [0, 1]; {self.mixco_fraction!r} was provided.")
        for name in ("prior_weight", "low_level_weight"):
            if name == "prior_weight" and self.prior_weight is None:
                continue
            if not getattr(self, name) >= 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0; {getattr(self, name)!r} was provided.")
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise ValueError(f"TrainConfig.mixed_precision must be 'no', 'fp16' or 'bf16'; {self.mixed_precision!r} was provided.")


def mindeye_prior_weight(prior_tokens: int) -> float:
    """MindEye's weight of the prior's loss for a target of ``prior_tokens`` tokens: 30 for token targets
    (257 × 768), 0.03 for a single embedding (1 × 768). With the larger weight on a single embedding the prior's
    loss outweighs the contrastive one and costs retrieval (benchmarks/RESULTS.md)."""
    return 30.0 if prior_tokens > 1 else 0.03


def _flat_normalised(tokens: torch.Tensor) -> torch.Tensor:
    return F.normalize(tokens.flatten(1), dim=-1)


def warmup_share(share: float, total_steps: int) -> float:
    """OneCycle's warm-up share of ``total_steps``: ``share`` (at most half), lengthened where the warm-up would end
    within the first step — torch divides by the warm-up's length in steps, so a store of one or two batches an epoch
    would otherwise fail."""
    share = min(0.5, share)
    if total_steps > 1 and share * total_steps < 1.5:
        share = min(0.9, 1.5 / total_steps)
    return share


def _weight_decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for parameter in model.parameters():
        (no_decay if parameter.ndim < 2 else decay).append(parameter)  # biases and norm weights are 1-D
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@torch.no_grad()
def embed_voxels(decoder: torch.nn.Module, betas: np.ndarray, *, subject: str | None = None, batch_size: int = 256) -> np.ndarray:
    """The decoder's embeddings of betas (N, V) for retrieval: MindEye's projector output (of ``subject`` for a
    decoder of several) or the ridge prediction, (N, n_tokens, dim) float32."""
    was_training = decoder.training
    decoder.eval()
    device = next(iter(decoder.buffers() if isinstance(decoder, RidgeDecoder) else decoder.parameters())).device
    out = []
    for start in range(0, len(betas), batch_size):
        voxels = torch.from_numpy(np.ascontiguousarray(betas[start : start + batch_size])).float().to(device)
        embedded = decoder(voxels) if isinstance(decoder, RidgeDecoder) else decoder(voxels, subject)[1]
        out.append(embedded.float().cpu().numpy())
    decoder.train(was_training)
    return np.concatenate(out)


@torch.no_grad()
def _low_level_l1(model: MindEye, data: TrainingData, subject: str) -> float:
    """Mean L1 of the low-level head's latents on the validation split."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    predicted = model.predict(torch.from_numpy(data.val_betas).float().to(device), subject)[2]
    model.train(was_training)
    return float(F.l1_loss(predicted.float().cpu(), torch.from_numpy(data.val_latents)))


def _retrieval(decoder, betas: np.ndarray, targets: np.ndarray, trials: int, seed: int = 0, subject: str | None = None) -> dict:
    embedded = embed_voxels(decoder, betas, subject=subject)
    n = min(300, len(betas))
    result = retrieval_top1(embedded.reshape(len(betas), -1), targets.reshape(len(targets), -1), n=n, trials=trials, seed=seed)
    return {key: value for key, value in result.items() if not key.endswith("_trials")}


class _TrialSampler:
    """One subject's training data for an epoch: a random order of its images and one of each image's trials."""

    def __init__(self, data: TrainingData):
        self.n_images = len(data.train_targets)
        self.order = np.argsort(data.trial_image, kind="stable")
        self.starts = np.searchsorted(data.trial_image[self.order], np.arange(self.n_images))
        self.counts = np.bincount(data.trial_image, minlength=self.n_images)
        self.betas = torch.from_numpy(data.trial_betas)
        self.targets = _flat_normalised(torch.from_numpy(data.train_targets))  # (n_images, T·D), fixed
        self.embeddings = None if data.train_embeddings is None else torch.from_numpy(data.train_embeddings)  # (n_images, 1, D)
        self.latents = None if data.train_latents is None else torch.from_numpy(data.train_latents)  # (n_images, C, h, w)

    def epoch(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``length`` (image, trial) picks: whole random orders of the images, repeated as far as needed."""
        images = torch.cat([torch.randperm(self.n_images) for _ in range(math.ceil(length / self.n_images))])[:length]
        offsets = (torch.rand(length).numpy() * self.counts[images.numpy()]).astype(np.int64)
        return images, torch.from_numpy(self.order[self.starts[images.numpy()] + offsets])


class _MindEyeLoss(torch.nn.Module):
    """One batch's training loss as one module call, so that DistributedDataParallel (several processes under
    ``accelerate launch``) sees every parameter's use and averages every gradient: the contrastive loss (BiMixCo
    while ``mix``, else SoftCLIP), the prior's MSE and the low-level L1, at the given weights."""

    def __init__(self, model: MindEye, prior_weight: float, low_level_weight: float):
        super().__init__()
        self.model = model
        self.prior_weight, self.low_level_weight = prior_weight, low_level_weight

    def forward(self, voxels: dict[str, torch.Tensor], target: torch.Tensor, *, mix: bool, temperature: float,
                embeddings: torch.Tensor | None = None, latents: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """voxels {subject: (b, V)}, target (B, T·D) normalised, embeddings (B, 1, D), latents (B, C, h, w)."""
        model = self.model
        shared = torch.cat([model.shared(values, name) for name, values in voxels.items()])  # (B, hidden)
        if mix:  # MindEye2 mixes in the shared space, where every subject's voxels meet
            shared, perm, beta, _ = mixco(shared)
        tokens, predicted_latents = model.heads_from_shared(shared)
        projected = _flat_normalised(model.projector(tokens).float())
        contrastive = mixco_nce(projected, target, perm, beta, temperature) if mix else soft_clip_loss(projected, target, temperature)
        parts = {"contrastive": contrastive}
        loss = contrastive
        if model.prior is not None:  # conditioned on the backbone's tokens, as MindEye
            parts["prior"] = model.prior.loss(tokens, embeddings)
            loss = loss + self.prior_weight * parts["prior"]
        if predicted_latents is not None:
            parts["low_level"] = F.l1_loss(predicted_latents.float(), latents)
            loss = loss + self.low_level_weight * parts["low_level"]
        return loss, parts


def _train_mindeye(datasets: dict[str, TrainingData], space: TargetSpace, model_config: MindEyeConfig, train: TrainConfig,
                   out: Path, *, device: str, resume: bool, progress: Progress | None,
                   pretrained: dict[str, torch.Tensor] | None = None) -> tuple[MindEye, list[dict], bool]:
    """Train MindEye on one subject, or MindEye2-style on several (each batch split equally between them);
    ``pretrained`` weights (all but the subject layers) start a fine-tuning run. Returns the model, the history
    and whether this is the main process (under ``accelerate launch`` only the main one saves)."""
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=device == "cpu", mixed_precision=train.mixed_precision)
    torch.manual_seed(train.seed)
    model = MindEye(model_config)
    if pretrained is not None:
        shared = {name: value for name, value in pretrained.items() if not name.startswith("subject_layers.")}
        missing = [name for name in model.state_dict() if not name.startswith("subject_layers.") and name not in shared]
        if missing:
            raise ValueError(f"the pretrained decoder lacks {missing[0]!r}: its sizes differ from this decoder's")
        model.load_state_dict(shared, strict=False)
    optimiser = torch.optim.AdamW(_weight_decay_groups(model, train.weight_decay), lr=train.max_lr)
    subjects = list(datasets)
    per_subject = max(1, train.batch_size // len(subjects))  # each batch split equally between the subjects
    n_images = sum(len(data.train_targets) for data in datasets.values())
    steps_per_epoch = math.ceil(n_images / (per_subject * len(subjects)))
    total = steps_per_epoch * train.epochs
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=train.max_lr, total_steps=total, final_div_factor=1000,
                                                    pct_start=warmup_share(train.warmup_epochs / train.epochs, total))
    settings = {"model": model_config.to_dict(), "train": asdict(train), "target": space.to_dict(),
                "n_images": {name: len(data.train_targets) for name, data in datasets.items()}, "pretrained": pretrained is not None}
    checkpoint = out / "checkpoint.pt"
    history, first_epoch = resume_epoch(checkpoint, settings, model, optimiser, scheduler) if resume else ([], 0)
    step_loss, optimiser = accelerator.prepare(_MindEyeLoss(model, train.prior_weight, train.low_level_weight), optimiser)
    unwrapped = accelerator.unwrap_model(step_loss).model
    # with several processes (accelerate launch), each takes every n-th sample of each batch; DDP averages the gradients
    n_processes = accelerator.num_processes
    if per_subject < n_processes:
        raise ValueError(f"a batch of {train.batch_size} split between {len(subjects)} subject(s) and {n_processes} processes "
                         f"leaves a process without samples; raise the batch size.")
    shard = slice(accelerator.process_index, None, n_processes)

    samplers = {name: _TrialSampler(data) for name, data in datasets.items()}
    mixco_epochs = int(round(train.mixco_fraction * train.epochs))
    for epoch in range(first_epoch, train.epochs):
        started = time.perf_counter()
        step_loss.train()
        picks = {name: sampler.epoch(steps_per_epoch * per_subject) for name, sampler in samplers.items()}
        temperature = MIXCO_TEMPERATURE if epoch < mixco_epochs else soft_clip_temperature(epoch, mixco_epochs, train.epochs - 1)
        losses, part_sums = [], {}
        for step in range(steps_per_epoch):
            part = slice(step * per_subject, (step + 1) * per_subject)
            with accelerator.autocast():
                voxels, targets, embeddings, latents = {}, [], [], []
                for name in subjects:  # this process's share of each subject's part of the batch
                    images, trials = picks[name][0][part][shard], picks[name][1][part][shard]
                    sampler = samplers[name]
                    voxels[name] = sampler.betas[trials].to(accelerator.device)
                    targets.append(sampler.targets[images])
                    if sampler.embeddings is not None:
                        embeddings.append(sampler.embeddings[images])
                        latents.append(sampler.latents[images])
                loss, parts = step_loss(voxels, torch.cat(targets).to(accelerator.device), mix=epoch < mixco_epochs,
                                        temperature=temperature,
                                        embeddings=torch.cat(embeddings).to(accelerator.device) if embeddings else None,
                                        latents=torch.cat(latents).to(accelerator.device) if latents else None)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"MindEye training stopped: the loss is {loss.item()} at epoch {epoch}, "
                                         f"step {step} (global step {epoch * steps_per_epoch + step}).")
            optimiser.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            optimiser.step()
            scheduler.step()
            losses.append(loss.item())
            for key, value in parts.items():
                part_sums[key] = part_sums.get(key, 0.0) + value.item()
            if progress is not None:
                progress("mindeye steps", 1)
        entry = {"epoch": epoch, "loss": round(float(np.mean(losses)), 5), "temperature": temperature,
                 "loss_kind": "bimixco" if epoch < mixco_epochs else "softclip",
                 **{f"{key}_loss": round(value / steps_per_epoch, 5) for key, value in part_sums.items()}}
        for name, data in datasets.items():
            val = _retrieval(unwrapped, data.val_betas, data.val_targets, trials=10, subject=name)
            prefix = "val" if len(datasets) == 1 else f"val_{name}"
            entry[f"{prefix}_image_top1"], entry[f"{prefix}_brain_top1"] = round(val["image_top1"], 4), round(val["brain_top1"], 4)
            if unwrapped.low_level is not None and data.val_latents is not None:
                entry[f"{prefix}_low_level_l1"] = round(_low_level_l1(unwrapped, data, name), 5)
        entry["seconds"] = round(time.perf_counter() - started, 2)
        history.append(entry)
        if accelerator.is_main_process:
            save_epoch(checkpoint, settings, epoch, unwrapped, optimiser, scheduler, history)
        accelerator.wait_for_everyone()
    return unwrapped.cpu().eval(), history, accelerator.is_main_process


def _save(out: Path, model: torch.nn.Module, config: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    save_safetensors(out / "model.safetensors", model.state_dict())
    write_json(out / "config.json", config)


def _subject_names(stores: list[Path]) -> list[str]:
    """Each store's subject name in a decoder: its file name without the extension, e.g. "sub1"."""
    names = [path.stem for path in stores]
    if len(set(names)) != len(names):
        raise ValueError(f"stores must have distinct file names (they name the subjects); got {[str(p) for p in stores]}")
    return names


def fit_decoder(
    store: str | Path | list[str | Path],
    out: str | Path,
    *,
    model: str = "mindeye",
    target: str = "embedder-tokens",
    target_source: str | None = None,
    model_config: dict | None = None,
    train: TrainConfig | None = None,
    pretrained: str | Path | None = None,
    sessions: int | None = None,
    generator: str | None = "diffusion",
    generator_embedder: str = "embedder",
    device: str = "cpu",
    resume: bool = False,
    evaluate: bool = True,
    progress: Progress | None = None,
) -> dict:
    """Fit a decoder on the train split of ``store`` (validation split for monitoring and the ridge penalty) into ``out``.

    model: "mindeye" or "ridge"; target: a name from :data:`brainlens.decoding.targets.TARGETS`; model_config:
    changes to :class:`MindEyeConfig`'s defaults (e.g. ``{"hidden": 4096}``).
    MindEye2: several stores train one decoder with a linear layer per subject (named by the stores' file names),
    each batch split equally between them; ``pretrained`` (a decoder folder) starts from its shared layers with a
    fresh linear layer for the one store given; ``sessions`` keeps the first K sessions of training trials (in
    order, as MindEye2's one-hour fine-tuning).
    With ``evaluate`` the saved decoder is scored on each store's test split (:func:`evaluate_decoder`). Returns
    the metrics written to ``out/metrics.json``: ``retrieval`` of the first store, and per subject under ``subjects``
    (an empty dict in the other processes of an ``accelerate launch`` run: the main process saves and scores).
    generator: the diffusion pipeline reconstructions are drawn with (conditioned on ``generator_embedder``'s
    embeddings); the decoder learns its conditioning embedding (MindEye's diffusion prior; the ridge baseline:
    a ridge map) and its VAE latent (the low-level head) for :func:`brainlens.decoding.reconstruct.reconstruct`.
    None fits a retrieval-only decoder.
    """
    if model not in DECODER_MODELS:
        raise ValueError(f"model must be one of {list(DECODER_MODELS)}; {model!r} was provided.")
    stores = [Path(path) for path in (store if isinstance(store, (list, tuple)) else [store])]
    names = _subject_names(stores)
    out = Path(out)
    train = train or TrainConfig()
    if model == "ridge" and (len(stores) > 1 or pretrained is not None):
        raise ValueError("the ridge baseline fits one subject from scratch; several stores and --pretrained are MindEye's")
    if pretrained is not None and len(stores) != 1:
        raise ValueError(f"fine-tuning a pretrained decoder takes one store (the new subject); {len(stores)} were given")
    base, generated = None, None
    if pretrained is not None:
        base, base_config = load_decoder(pretrained)
        if base_config["model"] != "mindeye":
            raise ValueError(f"{pretrained} holds a {base_config['model']} decoder; only MindEye decoders can be fine-tuned")
        space = TargetSpace(**base_config["target"])
        if (target, target_source) != ("embedder-tokens", None) and (space.name, space.source) != (target, target_source or space.source):
            raise ValueError(f"the pretrained decoder predicts {space.name} ({space.source}); fine-tuning keeps its target")
        model_config = {**{k: v for k, v in base_config["mindeye"].items() if k not in ("n_voxels",)}, **(model_config or {})}
        generated = None if base_config.get("generator") is None else GeneratorSpace.from_dict(base_config["generator"])
    else:
        space = target_space(target, target_source, device=device)
        generated = None if generator is None else generator_space(generator, generator_embedder, device=device)
    tick = None if progress is None else (lambda k: progress("targets", k))
    datasets = {name: load_training(path, space, generator=generated, device=device, sessions=sessions, progress=tick)
                for name, path in zip(names, stores)}
    config = {"model": model, "target": space.to_dict(), "generator": None if generated is None else generated.to_dict(),
              "stores": {name: str(path) for name, path in zip(names, stores)},
              "n_voxels": {name: data.n_voxels for name, data in datasets.items()}, "sessions": sessions,
              "pretrained": None if pretrained is None else str(pretrained)}
    started = time.perf_counter()
    if model == "ridge":
        data = datasets[names[0]]
        decoder, info = fit_ridge_decoder(data, seed=train.seed)
        config["ridge"] = info
        history = []
    else:
        settings = {f.name for f in fields(MindEyeConfig)} - {"n_voxels", "n_tokens", "dim"}
        unknown = sorted(set(model_config or {}) - settings - {"n_tokens", "dim"})
        if unknown:
            raise ValueError(f"unknown MindEye setting {unknown[0]!r}; settings: {sorted(settings)}")
        heads = {} if generated is None else {"prior_dim": generated.embedding_dim, "prior_tokens": generated.embedding_tokens,
                                               "prior_unit_tokens": generated.conditioning == "embedding",
                                               "low_level_shape": generated.latent_shape}
        mindeye_config = MindEyeConfig(**{**heads, **(model_config or {}), "n_voxels": config["n_voxels"],
                                          "n_tokens": space.n_tokens, "dim": space.dim})
        if train.prior_weight is None:
            train = replace(train, prior_weight=mindeye_prior_weight(mindeye_config.prior_tokens))
        decoder, history, main_process = _train_mindeye(datasets, space, mindeye_config, train, out, device=device,
                                                        resume=resume, progress=progress,
                                                        pretrained=None if base is None else base.state_dict())
        if not main_process:  # under accelerate launch, the main process saves and scores
            return {}
        config.update({"mindeye": mindeye_config.to_dict(), "train": asdict(train)})
    _save(out, decoder, config)
    metrics = {"model": model, "target": space.name, "fit_seconds": round(time.perf_counter() - started, 1), "history": history,
               "n_train_images": {name: len(data.train_targets) for name, data in datasets.items()},
               "n_train_trials": {name: len(data.trial_betas) for name, data in datasets.items()},
               "sessions": sessions, "pretrained": config["pretrained"]}
    if evaluate:
        scores = {name: evaluate_decoder(out, path, device=device, subject=name) for name, path in zip(names, stores)}
        metrics.update(scores[names[0]])
        if len(names) > 1:
            metrics["subjects"] = scores
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
        generator = None if config.get("generator") is None else GeneratorSpace.from_dict(config["generator"])
        shapes = {} if generator is None else {"embedding": (generator.embedding_tokens, generator.embedding_dim),
                                               "latent": generator.latent_shape}
        decoder = RidgeDecoder.from_tensors(tensors, space["n_tokens"], space["dim"], shapes)
    else:
        decoder = MindEye(MindEyeConfig(**config["mindeye"]))
        decoder.load_state_dict(tensors)
    return decoder.to(device).eval(), config


def decoder_subject(folder: str | Path, config: dict, store: str | Path | None, subject: str | None) -> tuple[Path, str]:
    """The store to read (default: the first one fitted on) and the decoder's subject it is read as (default: the
    decoder's only subject, or the store's file name)."""
    store = Path(store or next(iter(config["stores"].values())))
    subjects = list(config["n_voxels"])
    subject = subject or (subjects[0] if len(subjects) == 1 else store.stem)
    if subject not in config["n_voxels"]:
        raise ValueError(f"the decoder in {folder} reads subjects {subjects}; name one for {store} (subject=...).")
    return store, subject


def check_decoder_voxels(folder: str | Path, config: dict, store: Path, subject: str) -> None:
    """Refuse a store whose voxel count is not the one the decoder reads for ``subject``."""
    with open_paired(store) as opened:
        n_voxels = opened.n_voxels
    if n_voxels != config["n_voxels"][subject]:
        raise ValueError(f"the decoder in {folder} reads {config['n_voxels'][subject]} voxels for {subject!r}; "
                         f"{store} has {n_voxels}.")


def evaluate_decoder(folder: str | Path, store: str | Path | None = None, *, subject: str | None = None, device: str = "cpu",
                     trials: int = 30) -> dict:
    """Retrieval on the test split (repeats averaged), as MindEye: ``{"retrieval": {"image_top1", "brain_top1",
    their 95 % intervals, "n", "trials"}, "n_test_images"}``.

    ``store`` defaults to the (first) one fitted on; ``subject`` names the decoder's subject it is read as (by
    default the decoder's only subject, or the store's file name)."""
    decoder, config = load_decoder(folder, device)
    store, subject = decoder_subject(folder, config, store, subject)
    space = TargetSpace(**config["target"])
    check_decoder_voxels(folder, config, store, subject)
    test = load_test(store, space, device=device)
    retrieval = _retrieval(decoder, test.betas, test.targets, trials=trials, subject=None if config["model"] == "ridge" else subject)
    return {"retrieval": retrieval, "n_test_images": len(test.images)}

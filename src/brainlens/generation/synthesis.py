"""A BrainDiVE run end to end: encoder + region → guided images → files and figures.

:func:`synthesize` loads a fitted encoder and a diffusion model, builds the objective (a region, or
a region minus another), draws the images (optionally N then the best k by the encoder), saves them
and scores them. On an in-silico store it also runs the in-silico fMRI experiment: the true response
of the region to the images, against its top 1 % natural images, and the oracle (the same pipeline
guided by the ground-truth brain).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from brainlens._io import write_json
from brainlens.encoding.encoder import EncoderEnsemble, guiding_encoders, load_encoder, reference_images
from brainlens.generation.guidance import BrainGuidance, Contrast, Objective, RegionMean, rerank
from brainlens.generation.pipeline_brain_guided import BrainGuidedPipeline
from brainlens.store import open_store

__all__ = ["SynthesisConfig", "synthesize", "region_category", "default_guidance_scale", "n_drawn", "RERANK_FACTOR"]

# which category a region (by NSD's names, halves included) prefers; BrainDiVE's five-way scoring
_REGION_CATEGORY = {
    "OFA": "face", "FFA": "face", "FFA-1": "face", "FFA-2": "face", "EBA": "body", "FBA-1": "body", "FBA-2": "body",
    "OPA": "place", "PPA": "place", "RSC": "place", "VWFA-1": "word", "VWFA-2": "word", "food": "food",
}  # fmt: skip


def region_category(region: str) -> str | None:
    """The category a region prefers, from its name (a half "OPA-anterior" counts as "OPA"); None if unknown."""
    if region in _REGION_CATEGORY:
        return _REGION_CATEGORY[region]
    base = region.rsplit("-", 1)[0]
    return _REGION_CATEGORY.get(base)


@dataclass
class SynthesisConfig:
    region: str  # target region, by its name in the store
    contrast: str | None = None  # a region to subtract (A − B), e.g. the other half
    n: int = 32  # images kept
    # draw this many and keep the n best by the encoder (BrainDiVE's re-ranking); None: RERANK_FACTOR × n, the
    # best fifth as published; 0: no re-ranking
    rerank_from: int | None = None
    guide_encoder: bool = True  # one encoder folder guides together with its guide encoder, when it has one
    model: str = "diffusion"  # zoo name, folder or hub id of the latent diffusion model
    guidance_scale: float | None = None  # None: the model's default (`default_guidance_scale`)
    steps: int = 50  # as BrainDiVE
    scheduler: str = "dpm"
    gradient_path: str = "x0"  # "x0" (cheaper, and as strong on the shipped model: benchmarks/RESULTS.md) or "unet" as published
    guidance_every: int = 1
    autoguidance_scale: float | None = None  # None: `default_autoguidance_scale` of the model; 1 turns it off
    seed: int = 0
    batch_size: int = 16
    device: str = "cpu"
    fp16: bool = False  # half precision for the diffusion model (GPU); the encoder stays float32
    oracle: bool = True  # in-silico only: also guide by the ground-truth brain
    natural_pool: int = 5000  # in-silico only: natural images whose top 1 % is the bar to beat
    embedder: str = "embedder"  # zero-shot classifier for category accuracy: shipped name, folder or hub CLIP id
    category_prompts: str = "captions"  # "captions" for the shipped embedder, "names" ("a photo of a face") for hub CLIPs


# BrainDiVE draws images and keeps the encoder's best fifth.
RERANK_FACTOR = 5
# Brain guidance scales measured to work for a model (benchmarks/RESULTS.md), with one encoder and with an
# encoder and its guide encoder alike; others get BrainDiVE's value for Stable Diffusion 2.1 base with CLIP-based
# encoders. The shipped model's 16 × 16 latents and a ridge encoder's shrunken predictions call for a far larger scale.
_GUIDANCE_SCALES = {"diffusion": 1000.0}
BRAINDIVE_GUIDANCE_SCALE = 130.0


def default_guidance_scale(model: str) -> float:
    """The brain guidance scale used when none is given: measured for shipped models, BrainDiVE's otherwise."""
    return _GUIDANCE_SCALES.get(model, BRAINDIVE_GUIDANCE_SCALE)


def n_drawn(config: SynthesisConfig) -> int:
    """How many images a run draws: ``rerank_from``, or RERANK_FACTOR × n when it is None, or n when it is 0."""
    if config.rerank_from is None:
        return RERANK_FACTOR * config.n
    return config.rerank_from or config.n


def _objective(encoder, store_path: str, config: SynthesisConfig) -> Objective:
    with open_store(store_path) as store:
        target = RegionMean.from_store(encoder, store, config.region)
        if config.contrast is None:
            return target
        return Contrast(target, RegionMean.from_store(encoder, store, config.contrast))


def _draw(pipe, guidance, config: SynthesisConfig, progress) -> tuple[torch.Tensor, torch.Tensor]:
    total = n_drawn(config)
    out = pipe(guidance, num_images=total, num_inference_steps=config.steps, seed=config.seed,
               guidance_every=config.guidance_every, gradient_path=config.gradient_path,
               batch_size=config.batch_size, progress=progress)
    if total > config.n:
        keep = rerank(guidance, out.images, config.n)
        return out.images[keep], out.scores[keep]
    return out.images, out.scores


def synthesize(
    encoder_dir: str | Path | Sequence[str | Path],
    config: SynthesisConfig,
    *,
    out: str | Path | None = None,
    store: str | Path | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> tuple[torch.Tensor, dict]:
    """Run brain-guided synthesis for ``config.region``; returns images (n, 3, H, W) in [0, 1] and metrics.

    ``encoder_dir`` is one encoder folder, or several fitted on the same voxels: they then guide as an
    :class:`~brainlens.encoding.encoder.EncoderEnsemble`, standardised on the store's test images. One folder
    with a guide encoder (``brainlens encode fit``'s default) guides with both unless ``config.guide_encoder``
    is False. By default the run draws five times ``config.n`` images and keeps the encoder's best fifth.
    ``store`` defaults to the one the (first) encoder was fitted on. With ``out``, writes ``out/images/*.png``,
    ``out/grid.png``, ``out/config.json`` and ``out/metrics.json``. ``progress(stage, k)``: stages
    "synthesis" and "oracle" (images × steps).
    """
    encoder_dirs = [Path(encoder_dir)] if isinstance(encoder_dir, (str, Path)) else [Path(d) for d in encoder_dir]
    if not encoder_dirs:
        raise ValueError("no encoder folder was provided")
    if len(encoder_dirs) == 1 and config.guide_encoder:
        encoder_dirs = guiding_encoders(encoder_dirs[0])
    if config.guidance_scale is None:
        config = replace(config, guidance_scale=default_guidance_scale(config.model))
    _check_config(config)
    encoders = [load_encoder(folder, device=config.device) for folder in encoder_dirs]
    store_path = str(store or encoders[0].info.get("store") or json.loads((encoder_dirs[0] / "config.json").read_text())["store"])
    encoder = encoders[0] if len(encoders) == 1 else EncoderEnsemble(encoders, reference_images(store_path))
    objective = _objective(encoder, store_path, config)
    guidance = BrainGuidance(encoder, objective, scale=config.guidance_scale)
    pipe = BrainGuidedPipeline.from_model(config.model, dtype=torch.float16 if config.fp16 else None, device=config.device,
                                          autoguidance_scale=config.autoguidance_scale)
    pipe.use_scheduler(config.scheduler)
    tick = (lambda stage: (lambda k: progress(stage, k))) if progress else (lambda stage: None)
    started = time.perf_counter()
    images, predicted = _draw(pipe, guidance, config, tick("synthesis"))
    seconds = time.perf_counter() - started

    metrics: dict[str, object] = {
        "region": config.region,
        "contrast": config.contrast,
        "encoders": [str(folder) for folder in encoder_dirs],
        "objective": objective.name,
        "n_images": int(len(images)),
        "predicted_objective_mean": float(predicted.mean()),
        "synthesis_seconds": round(seconds, 1),
        "n_drawn": n_drawn(config),
        "guidance_scale": config.guidance_scale,
        "images_per_minute": round(60 * n_drawn(config) / seconds, 2),  # drawn, re-ranking included
    }
    category = region_category(config.region)
    if category is not None:
        from brainlens.evaluation.semantic import category_accuracy
        from brainlens.models.embedder import load_embedder

        embedder = load_embedder(config.embedder, device=config.device)
        metrics.update(category_accuracy(embedder, images.to(config.device), category, style=config.category_prompts))
        metrics["category"] = category
    with open_store(store_path) as opened:
        in_silico = opened.attrs.get("dataset") == "insilico"
        subject_number = int(opened.attrs.get("subject", 1))
        target_voxels = opened.region_voxels(config.region)
        contrast_voxels = opened.region_voxels(config.contrast) if config.contrast else None
    if in_silico:
        metrics.update(_truth_metrics(subject_number, images, target_voxels, contrast_voxels, pipe, objective, config,
                                      tick("oracle")))
    if out is not None:
        _save(Path(out), images, config, metrics)
    return images, metrics


def _truth_metrics(subject_number, images, target_voxels, contrast_voxels, pipe, objective, config, progress) -> dict:
    from brainlens.evaluation.insilico import (
        TruthEncoder,
        attribute_probabilities,
        natural_baseline,
        region_response,
    )
    from brainlens.evaluation.insilico import (
        subject as in_silico_subject,
    )

    subject = in_silico_subject(subject_number)
    true = region_response(subject, images, target_voxels)
    baseline = natural_baseline(subject, target_voxels, n_pool=config.natural_pool)
    metrics: dict[str, object] = {
        "true_response_mean": float(true.mean()),
        "top1pct_natural_response_mean": baseline.top1pct_mean,
        "random_natural_response_mean": baseline.random_mean,
        "true_attributes_mean": {k: float(v.mean()) for k, v in attribute_probabilities(subject, images).items()},
    }
    objective_values = true  # (n,) the objective's true value per image: the response, or the contrast
    if contrast_voxels is not None:
        objective_values = true - region_response(subject, images, contrast_voxels)
        contrast = natural_baseline(subject, target_voxels, n_pool=config.natural_pool, contrast_voxels=contrast_voxels)
        metrics.update({"true_contrast_mean": float(objective_values.mean()),
                        "top1pct_natural_contrast_mean": contrast.top1pct_mean,
                        "random_natural_contrast_mean": contrast.random_mean})
        baseline = contrast
    # the objective itself against the natural pool's top 1 % of the same objective
    metrics.update({"true_objective_mean": float(objective_values.mean()),
                    "top1pct_natural_objective_mean": baseline.top1pct_mean,
                    "random_natural_objective_mean": baseline.random_mean})
    if config.oracle:
        truth = TruthEncoder(subject)
        oracle_objective = _remap_to_truth(objective)
        oracle_images, _ = _draw(pipe, BrainGuidance(truth, oracle_objective, scale=config.guidance_scale), config, progress)
        oracle_response = region_response(subject, oracle_images, target_voxels)
        oracle_true = oracle_response
        if contrast_voxels is not None:
            oracle_true = oracle_response - region_response(subject, oracle_images, contrast_voxels)
        metrics["oracle_true_response_mean"] = float(oracle_response.mean())
        metrics["oracle_true_objective_mean"] = float(oracle_true.mean())
        # the learned encoder's images against the truth's own, on the objective (the response, or the contrast)
        metrics["oracle_ratio"] = float(objective_values.mean() / oracle_true.mean()) if oracle_true.mean() > 0 else None
    return metrics


def _remap_to_truth(objective: Objective) -> Objective:
    """The same objective on the ground-truth brain, whose output columns are the store's voxels."""
    if isinstance(objective, Contrast):
        return Contrast(_remap_to_truth(objective.a), _remap_to_truth(objective.b))
    if isinstance(objective, RegionMean) and objective.store_voxels is not None:
        return RegionMean(torch.as_tensor(objective.store_voxels), name=objective.name, store_voxels=objective.store_voxels)
    raise TypeError(f"no oracle for objective {type(objective).__name__}")


def _save(out: Path, images: torch.Tensor, config: SynthesisConfig, metrics: dict) -> None:
    from PIL import Image

    from brainlens.viz.images import image_grid, save_image

    pixels = (images.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()  # (n, H, W, 3)
    for k, picture in enumerate(pixels):
        save_image(Image.fromarray(picture), out / "images" / f"{k:04d}.png")
    save_image(image_grid(pixels, nrow=8, scale=2), out / "grid.png")
    write_json(out / "config.json", asdict(config))
    write_json(out / "metrics.json", metrics)


def _check_config(config: SynthesisConfig) -> None:
    if not isinstance(config.n, int) or config.n < 1:
        raise ValueError(f"n must be an integer ≥ 1; {config.n!r} was provided.")
    if config.rerank_from is not None and config.rerank_from != 0 and config.rerank_from < config.n:
        raise ValueError(f"rerank_from must be 0 (no re-ranking) or at least n ({config.n}); "
                         f"{config.rerank_from!r} was provided.")
    if not np.isfinite(config.guidance_scale):
        raise ValueError(f"guidance scale must be finite; {config.guidance_scale!r} was provided.")
    if not isinstance(config.steps, int) or config.steps < 1:
        raise ValueError(f"steps must be an integer ≥ 1; {config.steps!r} was provided.")

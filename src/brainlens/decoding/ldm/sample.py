"""Sample a fitted brain LDM: several images per brain (MinD-Vis: 5, PLMS), and reconstruct a store's test split.

>>> metrics = reconstruct_ldm("ldm", "rec", samples=5)     # rec/images, rec/grid.png, rec/metrics.json
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from brainlens._io import write_json
from brainlens.decoding.data import load_test, open_paired
from brainlens.decoding.ldm.fit import load_ldm, padded_voxels
from brainlens.decoding.ldm.model import BrainLDM
from brainlens.models.latents import latents_to_images, uint8_images

__all__ = ["SAMPLERS", "sample_brains", "reconstruct_ldm"]

Progress = Callable[[str, int], None]
SAMPLERS = ("ddim", "plms")


def _sampler(pipe, name: str):
    from diffusers import DDIMScheduler, PNDMScheduler

    if name not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}; {name!r} was provided.")
    if name == "ddim":
        return DDIMScheduler.from_config(pipe.scheduler.config)
    return PNDMScheduler.from_config(pipe.scheduler.config, skip_prk_steps=True)  # PLMS, as MinD-Vis samples


@torch.no_grad()
def sample_brains(model: BrainLDM, pipe, voxels: torch.Tensor, *, samples: int = 5, steps: int = 25,
                  guidance: float = 3.0, sampler: str = "plms", seed: int = 0, batch_size: int = 16,
                  progress: Progress | None = None) -> np.ndarray:
    """Padded voxels (N, L) → uint8 images (N, samples, H, W, 3): for each brain ``samples`` draws from its own
    noise (brain i, sample s seeded by ``seed``, i and s, whatever the batching), ``steps`` denoising steps with
    classifier-free guidance ``guidance`` (1 = none) against the dropped condition. ``pipe`` gives the VAE and the
    noise schedule (``pipe.vae``, ``pipe.scheduler``); ``sampler`` steps through that schedule."""
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive integer; {samples!r} was provided.")
    if not guidance >= 1.0:
        raise ValueError(f"guidance must be at least 1 (1 = none); {guidance!r} was provided.")
    device = next(model.parameters()).device
    scheduler = _sampler(pipe, sampler)
    unet = model.unet.config
    shape = (int(unet.in_channels), int(unet.sample_size), int(unet.sample_size))
    rows = [(i, s) for i in range(len(voxels)) for s in range(samples)]
    out = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        brains = voxels[[i for i, _ in chunk]].to(device)
        latents = torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(seed * 1_000_003 + i * 1_009 + s))
                               for i, s in chunk]).to(device) * scheduler.init_noise_sigma
        context, time_condition = model.condition(brains)
        null_context, null_time = torch.zeros_like(context), torch.zeros_like(time_condition)
        scheduler.set_timesteps(steps)
        for t in scheduler.timesteps:
            scaled = scheduler.scale_model_input(latents, t)
            timesteps = torch.full((len(chunk),), int(t), device=device)
            if guidance == 1.0:
                prediction = model.predict(scaled, timesteps, context, time_condition)
            else:
                both = model.predict(torch.cat([scaled, scaled]), torch.cat([timesteps, timesteps]),
                                     torch.cat([null_context, context]), torch.cat([null_time, time_condition]))
                uncond, cond = both.chunk(2)
                prediction = uncond + guidance * (cond - uncond)
            latents = scheduler.step(prediction, t, latents).prev_sample
        out.append(uint8_images(latents_to_images(pipe.vae, latents)))
        if progress is not None:
            progress("ldm samples", len(chunk))
    images = np.concatenate(out)
    return images.reshape(len(voxels), samples, *images.shape[1:])


def reconstruct_ldm(
    decoder_dir: str | Path,
    out: str | Path,
    *,
    store: str | Path | None = None,
    n: int | None = None,
    samples: int = 5,
    steps: int = 25,
    guidance: float = 3.0,
    sampler: str = "plms",
    seed: int = 0,
    networks: str | list[str] = "offline",
    evaluate: bool = True,
    device: str = "cpu",
    progress: Progress | None = None,
) -> dict:
    """Draw ``samples`` images for each of the first ``n`` (default all) test brains of ``store`` (default the one the
    decoder was fitted on; repeats averaged) into ``out``: ``images/`` (NNNNN_s.png), ``grid.png`` (seen | samples),
    ``config.json`` and ``metrics.json`` — with ``evaluate``, MinD-Vis's 50-way top-1 over the samples (mean and max
    per brain; on in-silico stores the shipped embedder's fine classes), and the MindEye table of the first samples."""
    from brainlens.decoding.reconstruct import evaluate_reconstructions, save_grid, save_images

    model, pipe, config = load_ldm(decoder_dir, device)
    store = Path(store or config["store"])
    test = load_test(store, None)
    if test.betas.shape[1] != config["n_voxels"]:
        raise ValueError(f"{store} has {test.betas.shape[1]} voxels, but the decoder {decoder_dir} was fitted on "
                         f"{config['n_voxels']}.")
    total = len(test.images)
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= total):
        raise ValueError(f"n must be between 1 and the {total} test images of {store}; {n!r} was provided.")
    keep = slice(0, n or total)
    norm = config["normalisation"]
    voxels = padded_voxels(test.betas[keep], norm["mean"], norm["std"], model.conditioner.encoder.config.length)
    started = time.perf_counter()
    recon = sample_brains(model, pipe, voxels, samples=samples, steps=steps, guidance=guidance, sampler=sampler, seed=seed,
                          progress=progress)
    seconds = time.perf_counter() - started
    indices = test.images[keep]
    with open_paired(store) as opened:
        seen = np.asarray(opened.images_at(indices))
        insilico = opened.attrs.get("insilico_subject")
    out = Path(out)
    save_images(out / "images", recon.reshape(-1, *recon.shape[2:]),
                [f"{int(index):05d}_{s}" for index in indices for s in range(samples)])
    save_grid(seen, list(recon.swapaxes(0, 1)), [f"sample {s + 1}" for s in range(recon.shape[1])], out / "grid.png")
    settings = {"samples": samples, "steps": steps, "guidance": guidance, "sampler": sampler, "seed": seed}
    write_json(out / "config.json", {"decoder": str(decoder_dir), "store": str(store), "n": len(indices),
                                     "settings": settings, "networks": networks, "device": device})
    metrics = {"decoder": str(decoder_dir), "model": "ldm", "n_images": len(indices), "samples": samples,
               "reconstruct_seconds": round(seconds, 1), "settings": settings}
    if evaluate:
        metrics.update(_semantic(seen, recon, insilico, networks, device))
        metrics.update(evaluate_reconstructions(seen, recon[:, 0], None, insilico, networks, device, progress))
    write_json(out / "metrics.json", metrics)
    return metrics


def _semantic(seen: np.ndarray, recon: np.ndarray, insilico, networks, device) -> dict:
    """MinD-Vis's 50-way top-1 over all samples of each brain: on an in-silico store with the shipped embedder's fine
    classes; on a real one with MinD-Vis's ImageNet ViT-H/14 where ``networks`` asks for it (``"auto"``: if its file
    is on this machine; else the reason it is not is reported)."""
    from brainlens.evaluation.reconstruction import resolve_networks
    from brainlens.evaluation.semantic import fine_class_n_way, imagenet_n_way

    if insilico is not None:
        result, classifier = fine_class_n_way(seen, recon), "the shipped in-silico embedder, zero-shot over the fine classes"
    else:
        names, skip_missing = resolve_networks(networks)
        if "vit-h-14" not in names:
            return {}
        try:
            result = imagenet_n_way(seen, recon, device=device)
        except FileNotFoundError as error:
            if not skip_missing:
                raise
            return {"n_way_top1_unavailable": str(error)}
        classifier = "ViT-H/14 (torchvision IMAGENET1K_SWAG_E2E_V1, 518 px)"
    return {"n_way_top1": {"mean": round(result["mean"], 4), "max": round(result["max"], 4), "n": result["n"],
                           "chance": result["chance"], "trials": result["trials"], "classifier": classifier}}

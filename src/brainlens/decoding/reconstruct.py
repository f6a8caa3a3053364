"""Reconstructing seen images from the brain, as MindEye does, with any decoder fitted with a generator.

For each test brain (repeats averaged):

1. the decoder gives the generator's conditioning embedding — MindEye samples it from its diffusion prior,
   once per candidate; the ridge baseline predicts it directly — and the low-level latent, decoded by the
   generator's VAE into a blurry image;
2. the generator draws ``recons_per_sample`` candidates conditioned on the embedding (classifier-free
   guidance), each by img2img from the low-level image at ``strength`` (MindEye: 0.85; 1 or
   ``low_level=False`` starts from noise);
3. second-order selection keeps the candidate whose target tokens (the decoder's retrieval space) are
   closest, by cosine similarity, to the brain's projector output.

:func:`reconstruct` writes ``images/`` (one PNG per test image, named by its store image index),
``low_level/``, ``grid.png`` (seen | low-level | reconstruction), ``config.json`` and ``metrics.json`` (the
reconstruction table of :func:`brainlens.evaluation.reconstruction.reconstruction_table`, with brain fidelity
judged by the in-silico subject's ground truth when the store is simulated, and the low-level images' own
PixCorr and SSIM).

>>> reconstruct("dec/", "recon/")        # every test image of the store the decoder was fitted on
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from brainlens._io import write_json
from brainlens.decoding.data import load_test, open_paired
from brainlens.decoding.fit import check_decoder_voxels, decoder_subject, load_decoder
from brainlens.decoding.generator import GeneratorSpace, load_generator
from brainlens.decoding.ridge import RidgeDecoder
from brainlens.decoding.targets import TargetSpace, compute_targets
from brainlens.models.latents import uint8_images, unit_pixels

__all__ = ["ReconstructionSettings", "reconstruct", "reconstruct_brains"]

Progress = Callable[[str, int], None]


@dataclass
class ReconstructionSettings:
    recons_per_sample: int = 4  # candidates per brain for second-order selection (MindEye: 16)
    low_level: bool = True  # img2img from the low-level image; False starts from noise
    strength: float = 0.85  # img2img: the fraction of the schedule redrawn (as MindEye)
    steps: int = 25  # the generator's denoising steps
    guidance: float = 3.0  # classifier-free guidance of the generator (MindEye: 3.5)
    prior_guidance: float = 2.0  # classifier-free guidance of the diffusion prior (1: none; MindEye samples without)
    selection_low_level: float = 0.0  # weight of each candidate's SSIM to the low-level image in the selection (0: MindEye's)
    seed: int = 0
    batch_size: int = 32  # brains per generator batch (each with all its candidates)

    def __post_init__(self):
        for name in ("recons_per_sample", "steps", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; {value!r} was provided.")
        if not 0.0 < self.strength <= 1.0:
            raise ValueError(f"strength must be in (0, 1]; {self.strength!r} was provided.")
        for name in ("guidance", "prior_guidance", "selection_low_level"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0; {getattr(self, name)!r} was provided.")


@torch.no_grad()
def draw_candidates(decoder: torch.nn.Module, config: dict, betas: np.ndarray, *, subject: str | None = None,
                    settings: ReconstructionSettings | None = None, device="cpu",
                    progress: Progress | None = None) -> Iterator[tuple[np.ndarray, np.ndarray, torch.Tensor]]:
    """Betas (N, V), repeats averaged → per batch of brains: (candidates (B, k, H, W, 3) uint8, low-level images
    (B, H, W, 3) uint8, the cosine similarity (B, k) of each candidate's target tokens to the brain's projector
    output — zeros when k is 1)."""
    settings = settings or ReconstructionSettings()
    if config.get("generator") is None:
        raise ValueError("this decoder was fitted without a generator (generator=None): it retrieves but cannot reconstruct; "
                         "fit it again with a generator (the default).")
    generator_space = GeneratorSpace.from_dict(config["generator"])
    target = TargetSpace(**config["target"])
    generator = load_generator(generator_space.pipeline, generator_space.embedder, device)
    pipe = generator.pipeline
    k = settings.recons_per_sample
    random = torch.Generator(device="cpu").manual_seed(settings.seed)
    for start in range(0, len(betas), settings.batch_size):
        voxels = torch.from_numpy(np.ascontiguousarray(betas[start : start + settings.batch_size])).float().to(device)
        batch = len(voxels)
        if isinstance(decoder, RidgeDecoder):
            projected = decoder(voxels)
            embeddings = decoder.head(voxels, "embedding")  # (B, T, D)
            if generator_space.conditioning == "embedding":  # the shipped generator reads unit-norm embeddings
                embeddings = F.normalize(embeddings, dim=-1)
            embeddings = embeddings.repeat_interleave(k, 0)  # (B·k, T, D)
            latents = decoder.head(voxels, "latent")
        else:
            tokens, projected, latents = decoder.predict(voxels, subject)
            embeddings = decoder.prior.sample(tokens.repeat_interleave(k, 0), guidance=settings.prior_guidance,
                                              generator=random)  # (B·k, T, D)
        if generator_space.conditioning == "embedding":
            embeddings = embeddings[:, 0]  # (B·k, D): one embedding per image
        low = pipe.decode_latents(latents.float())  # (B, 3, H, W) in [0, 1]
        start_images = low.repeat_interleave(k, 0) if settings.low_level and settings.strength < 1.0 else None
        candidates = pipe(embeddings.float(), start_images, negative_image_embeds=generator.negative,
                          strength=settings.strength, num_inference_steps=settings.steps,
                          guidance_scale=settings.guidance, generator=random, output_type="pt").images  # (B·k, 3, H, W)
        candidates = uint8_images(candidates)
        similarity = torch.zeros(batch, k)
        if k > 1:  # second-order selection's score in the decoder's retrieval space
            tokens_of = torch.from_numpy(compute_targets(target, candidates, device=device)).flatten(1)  # (B·k, T·D)
            similarity = F.cosine_similarity(tokens_of.view(batch, k, -1), projected.float().cpu().flatten(1)[:, None], dim=-1)
        if progress is not None:
            progress("reconstructing", batch)
        yield candidates.reshape(batch, k, *candidates.shape[1:]), uint8_images(low), similarity


def select_candidates(candidates: np.ndarray, low: np.ndarray, similarity: torch.Tensor,
                      low_level_weight: float = 0.0) -> np.ndarray:
    """Second-order selection: candidates (B, k, H, W, 3), low-level images (B, H, W, 3), token similarity (B, k) →
    the chosen (B, H, W, 3), by token similarity plus ``low_level_weight`` × each candidate's SSIM to its brain's
    low-level image (at the generator's size)."""
    from brainlens.evaluation.image import ssim

    batch, k = similarity.shape
    score = similarity.clone()
    if low_level_weight and k > 1:
        side = min(low.shape[1:3])
        _, agreement = ssim(np.repeat(low, k, axis=0), candidates.reshape(batch * k, *candidates.shape[2:]),
                         per_image=True, side=side)  # (B·k,)
        score += low_level_weight * torch.as_tensor(agreement, dtype=score.dtype).view(batch, k)
    return candidates[np.arange(batch), score.argmax(1).numpy()]


def reconstruct_brains(decoder: torch.nn.Module, config: dict, betas: np.ndarray, *, subject: str | None = None,
                       settings: ReconstructionSettings | None = None, device="cpu",
                       progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Betas (N, V), repeats averaged → (reconstructions (N, H, W, 3) uint8, low-level images (N, H, W, 3) uint8)."""
    settings = settings or ReconstructionSettings()
    low_level_weight = settings.selection_low_level if settings.low_level else 0.0  # without the pipeline, not at all
    recons, lows = [], []
    for candidates, low, similarity in draw_candidates(decoder, config, betas, subject=subject, settings=settings,
                                                       device=device, progress=progress):
        recons.append(select_candidates(candidates, low, similarity, low_level_weight))
        lows.append(low)
    return np.concatenate(recons), np.concatenate(lows)


def save_images(folder: Path, images: np.ndarray, names: list[str]) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for image, name in zip(images, names):
        Image.fromarray(image).save(folder / f"{name}.png")


def save_grid(seen: np.ndarray, columns: list[np.ndarray], names: list[str], path: Path, rows: int = 12) -> None:
    """A grid of the first `rows` brains: seen | one column per entry of `columns`, headed by `names`.

    seen (n, H, W, 3) and each column (n, h, w, 3) uint8; the store's images are shown at the generator's size.
    """
    from brainlens.viz.images import image_grid, save_image

    n, size = min(rows, len(seen)), columns[0].shape[1:3]
    seen = uint8_images(unit_pixels(seen[:n], tuple(size)))
    tiles = np.stack([seen] + [column[:n] for column in columns], 1).reshape(n * (len(columns) + 1), *columns[0].shape[1:])
    labels = ["seen", *names] * n
    save_image(image_grid(tiles, nrow=len(columns) + 1, labels=labels, scale=2), path)


def reconstruct(
    decoder_dir: str | Path,
    out: str | Path,
    *,
    store: str | Path | None = None,
    subject: str | None = None,
    n: int | None = None,
    settings: ReconstructionSettings | None = None,
    networks: str | list[str] = "offline",
    evaluate: bool = True,
    device: str = "cpu",
    progress: Progress | None = None,
) -> dict:
    """Reconstruct the first ``n`` (default all) test images of ``store`` (default: the decoder's first) from their
    repeat-averaged betas into ``out``; with ``evaluate`` score them (``networks`` as in
    :func:`brainlens.evaluation.reconstruction.reconstruction_table`). Returns the metrics written to ``out/metrics.json``."""
    settings = settings or ReconstructionSettings()
    decoder, config = load_decoder(decoder_dir, device)
    store, subject = decoder_subject(decoder_dir, config, store, subject)
    check_decoder_voxels(decoder_dir, config, store, subject)
    test = load_test(store, None)
    total = len(test.images)
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= total):
        raise ValueError(f"n must be between 1 and the {total} test images of {store}; {n!r} was provided.")
    keep = slice(0, n or total)
    betas, indices = test.betas[keep], test.images[keep]
    out = Path(out)
    started = time.perf_counter()
    recon, low = reconstruct_brains(decoder, config, betas, subject=None if config["model"] == "ridge" else subject,
                                    settings=settings, device=device, progress=progress)
    seconds = time.perf_counter() - started
    with open_paired(store) as opened:
        seen = np.asarray(opened.images_at(indices))
        insilico = opened.attrs.get("insilico_subject")
    names = [f"{int(index):05d}" for index in indices]
    save_images(out / "images", recon, names)
    save_images(out / "low_level", low, names)
    save_grid(seen, [low, recon], ["low-level", "reconstruction"], out / "grid.png")
    run_config = {"decoder": str(decoder_dir), "store": str(store), "subject": subject, "n": len(indices),
                  "settings": asdict(settings), "networks": networks, "device": device}
    write_json(out / "config.json", run_config)
    metrics = {"decoder": str(decoder_dir), "model": config["model"], "n_images": len(indices),
               "reconstruct_seconds": round(seconds, 1), "settings": asdict(settings)}
    if evaluate:
        metrics.update(evaluate_reconstructions(seen, recon, low, insilico, networks, device, progress))
    write_json(out / "metrics.json", metrics)
    return metrics


def evaluate_reconstructions(seen: np.ndarray, recon: np.ndarray, low: np.ndarray | None, insilico, networks, device,
                             progress) -> dict:
    """The evaluation table of reconstructions (uint8 (N, H, W, 3)) against the seen images, with brain fidelity on
    an in-silico subject (``insilico``: its number, else None), and the low-level images' PixCorr and SSIM if any."""
    from brainlens.evaluation.image import pixcorr, ssim
    from brainlens.evaluation.reconstruction import reconstruction_table

    brain = None
    if insilico is not None:
        from brainlens.evaluation.insilico import subject as insilico_subject

        brain = insilico_subject(int(insilico))
    table = reconstruction_table(seen, recon, networks=networks, brain=brain, device=device, progress=progress)
    if low is None:
        return {"table": table}
    return {"table": table, "low_level": {"pixcorr": pixcorr(seen, low), "ssim": ssim(seen, low)}}

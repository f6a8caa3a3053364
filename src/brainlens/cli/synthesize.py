"""`brainlens synthesize`: brain-guided images (BrainDiVE)."""

from __future__ import annotations

import argparse
from pathlib import Path

from brainlens.cli._progress import _Bars


def _synthesis_config(args: argparse.Namespace):
    from brainlens.generation.synthesis import SynthesisConfig

    return SynthesisConfig(
        region=args.region, contrast=args.contrast, n=args.n, rerank_from=args.rerank, model=args.model,
        guidance_scale=args.guidance_scale, steps=args.steps, scheduler=args.scheduler, gradient_path=args.gradient_path,
        guidance_every=args.guidance_every, autoguidance_scale=args.autoguidance_scale, seed=args.seed,
        batch_size=args.batch_size, device=args.device, fp16=args.fp16, oracle=not args.no_oracle, embedder=args.embedder,
        category_prompts=args.category_prompts, guide_encoder=not args.no_guide_encoder,
    )


def _print_synthesis(metrics: dict, out: Path) -> None:
    print(f"saved {out}/grid.png and {metrics['n_images']} images for {metrics['objective']}")
    for key in ("category_accuracy", "predicted_objective_mean", "true_response_mean", "top1pct_natural_response_mean",
                "random_natural_response_mean", "oracle_true_response_mean", "oracle_ratio", "true_contrast_mean"):
        if metrics.get(key) is not None:
            print(f"  {key:<32} {metrics[key]:.3f}")


def cmd_synthesize(args: argparse.Namespace) -> int:
    from brainlens.generation.synthesis import synthesize

    config = _synthesis_config(args)
    bars = _Bars(quiet=args.quiet)
    try:
        _, metrics = synthesize(args.encoder, config, out=Path(args.out), store=args.store, progress=bars)
    finally:
        bars.close()
    _print_synthesis(metrics, Path(args.out))
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `synthesize` to the top-level commands."""
    p = commands.add_parser(
        "synthesize", help="brain-guided image synthesis (BrainDiVE): images predicted to drive a region",
        description="Steer an unconditional latent diffusion model with a fitted encoder's gradient so that the images "
        "drive a region (or a region more than another). Writes OUT/images/*.png, OUT/grid.png, OUT/config.json and "
        "OUT/metrics.json (category_accuracy; on an in-silico store also true_response_mean, "
        "top1pct_natural_response_mean, oracle_ratio). By default it draws 5 × N images and keeps the encoder's best N.")
    p.add_argument("--encoder", required=True, nargs="+", metavar="DIR",
                   help="encoder folder from `brainlens encode fit` (with its guide encoder, when it has one, the two "
                   "guide by their standardised mean); or several folders, encoders of the same voxels on different "
                   "backbones, that guide together the same way")
    p.add_argument("--region", required=True, help="target region, by its name in the store (e.g. FFA-1, OPA-anterior)")
    p.add_argument("--contrast", help="a region to subtract: maximise REGION minus CONTRAST (e.g. the other half)")
    p.add_argument("--n", type=int, default=32, help="images to keep (default 32)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--store", help="store to read regions from (default: the encoder's)")
    p.add_argument("--model", default="diffusion", help="diffusion model: shipped name, folder or hub id such as "
                   "stabilityai/stable-diffusion-2-1-base (default: the shipped 'diffusion')")
    p.add_argument("--guidance-scale", type=float, help="strength of the brain guidance (default: 1000 for the shipped "
                   "model, where it was measured; 130, BrainDiVE's value, for other models)")
    p.add_argument("--steps", type=int, default=50, help="denoising steps (default 50, as BrainDiVE)")
    p.add_argument("--scheduler", default="dpm", help="sampler: ddim, dpm, dpm-single, ddpm, pndm, unipc (default dpm)")
    p.add_argument("--gradient-path", choices=("unet", "x0"), default="x0",
                   help="x0 (default): the gradient passes through the VAE decoder and the encoder only, cheaper and as "
                   "strong on the shipped model; unet: also through the UNet, as published")
    p.add_argument("--guidance-every", type=int, default=1, help="guide one denoising step in K (default 1: every step)")
    p.add_argument("--autoguidance-scale", type=float, help="autoguidance of the sampler by the model's weaker guide UNet "
                   "(default: 1, off, for the shipped model, where brain guidance was measured without it; other "
                   "models sample with their own; 1 turns it off)")
    p.add_argument("--rerank", type=int, help="draw this many images and keep the --n best by the encoder's prediction "
                   "(default 5 × --n: the best fifth, as BrainDiVE; 0 turns re-ranking off)")
    p.add_argument("--no-guide-encoder", action="store_true",
                   help="guide by the encoder alone, without the guide encoder that `brainlens encode fit` put in its folder")
    p.add_argument("--seed", type=int, default=0, help="seed of the first image; image i uses seed + i (default 0)")
    p.add_argument("--batch-size", type=int, default=16, help="images per batch (default 16)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--fp16", action="store_true", help="half-precision diffusion model (GPU)")
    p.add_argument("--no-oracle", action="store_true", help="in-silico: skip the run guided by the ground-truth brain")
    p.add_argument("--embedder", default="embedder", help="zero-shot classifier for category accuracy: the shipped "
                   "'embedder', a folder, or a hub CLIP such as openai/clip-vit-large-patch14 (default embedder)")
    p.add_argument("--category-prompts", choices=("captions", "names"), default="captions",
                   help="captions: in-silico caption phrases (shipped embedder); names: 'a photo of a face' (hub CLIPs)")
    p.set_defaults(func=cmd_synthesize)

"""`brainlens decode`: decoders from brain to image embeddings (MindEye, the ridge baseline) and their scores."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from brainlens.cli._progress import _Bars


def _model_settings(items: list[str] | None) -> dict:
    settings = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--set takes NAME=VALUE (e.g. hidden=4096); got {item!r}.")
        try:
            settings[name] = json.loads(value)
        except ValueError:
            settings[name] = value
    return settings


def _fit_ldm(args: argparse.Namespace) -> int:
    from brainlens.decoding.ldm.fit import LDM_TRAIN_DEFAULTS, fit_ldm
    from brainlens.decoding.ldm.model import BrainLDMConfig
    from brainlens.decoding.mbm.pretrain import PretrainConfig

    if args.encoder is None:
        raise ValueError("--model ldm needs --encoder: a masked brain model folder (brainlens pretrain mbm or cross-modal).")
    if len(args.store) != 1:
        raise ValueError(f"--model ldm fits one subject's store; {len(args.store)} were given.")
    if args.generator == "none":
        raise ValueError("--model ldm draws images with its diffusion model: name one with --generator (default diffusion).")
    train = PretrainConfig(**{**LDM_TRAIN_DEFAULTS, "seed": args.seed, "mixed_precision": args.mixed_precision,
                              **{k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size)) if v is not None}})
    bars = _Bars(quiet=args.quiet)
    try:
        metrics = fit_ldm(args.store[0], args.out, encoder=args.encoder, random_encoder=args.random_encoder,
                          diffusion=args.generator, config=BrainLDMConfig(**_model_settings(args.set)), train=train,
                          resume=args.resume, device=args.device, progress=bars)
    finally:
        bars.close()
    validation = metrics["validation"]
    print(f"saved {args.out}: {metrics['n_train_trials']} training trials, {metrics['trained_parameters']:,} trained "
          f"parameters in {metrics['seconds']:.0f} s; validation diffusion loss {validation['val_loss']:.4f} with the "
          f"brain, {validation['val_loss_unconditional']:.4f} without")
    return 0


def cmd_decode_fit(args: argparse.Namespace) -> int:
    from brainlens.decoding.fit import TrainConfig, fit_decoder

    if args.model == "ldm":
        return _fit_ldm(args)
    for flag, value in (("--encoder", args.encoder), ("--random-encoder", args.random_encoder)):
        if value:
            raise ValueError(f"{flag} belongs to --model ldm, not {args.model}.")
    train = TrainConfig(epochs=60 if args.epochs is None else args.epochs,
                        batch_size=32 if args.batch_size is None else args.batch_size, seed=args.seed,
                        mixed_precision=args.mixed_precision, prior_weight=args.prior_weight, low_level_weight=args.low_level_weight)
    generator = None if args.generator == "none" else args.generator
    bars = _Bars(quiet=args.quiet)
    try:
        metrics = fit_decoder(args.store, args.out, model=args.model, target=args.target, target_source=args.target_model,
                              model_config=_model_settings(args.set), train=train, pretrained=args.pretrained,
                              sessions=args.sessions, generator=generator, generator_embedder=args.generator_embedder,
                              device=args.device, resume=args.resume, progress=bars)
    finally:
        bars.close()
    if not metrics:  # another process of an accelerate launch run: the main one reports
        return 0
    retrieval = metrics["retrieval"]
    print(f"saved {args.out}: test retrieval top-1 among {retrieval['n']} (chance {retrieval['chance']:.4f}): image "
          f"{retrieval['image_top1']:.3f}, brain {retrieval['brain_top1']:.3f} over {metrics['n_test_images']} test images")
    for name, scores in metrics.get("subjects", {}).items():
        print(f"  {name}: image {scores['retrieval']['image_top1']:.3f}, brain {scores['retrieval']['brain_top1']:.3f}")
    from brainlens.report import draw_retrieval

    print(f"  {draw_retrieval(args.out)}: the seen image and the first 5 retrieved among 300, for 8 test brains")
    return 0


def cmd_decode_evaluate(args: argparse.Namespace) -> int:
    from brainlens._io import write_json
    from brainlens.decoding.fit import evaluate_decoder

    metrics = evaluate_decoder(args.decoder, args.store, subject=args.subject, device=args.device)
    if args.out:
        write_json(Path(args.out), metrics)
    print(json.dumps(metrics, indent=2))
    return 0


def _reconstruct_ldm(args: argparse.Namespace) -> int:
    from brainlens.decoding.ldm.sample import reconstruct_ldm

    networks = args.networks.split(",") if "," in args.networks else args.networks
    bars = _Bars(quiet=args.quiet)
    try:
        metrics = reconstruct_ldm(args.decoder, args.out, store=args.store, n=args.n, samples=args.samples, steps=args.steps,
                                  guidance=args.guidance, sampler=args.sampler, seed=args.seed, networks=networks,
                                  evaluate=not args.no_evaluate, device=args.device, progress=bars)
    finally:
        bars.close()
    out = Path(args.out)
    print(f"saved {metrics['samples']} samples for each of {metrics['n_images']} test brains in {out / 'images'} "
          f"({metrics['reconstruct_seconds']:.0f} s), the grid {out / 'grid.png'}")
    if "n_way_top1" in metrics:
        top1 = metrics["n_way_top1"]
        print(f"  {top1['n']}-way top-1 (chance {top1['chance']:.2f}): mean over samples {top1['mean']:.4f}, "
              f"best sample {top1['max']:.4f} ({top1['classifier']})")
    elif "n_way_top1_unavailable" in metrics:
        print(f"  no 50-way top-1: {metrics['n_way_top1_unavailable']}")
    if "table" in metrics:
        _report_table(metrics["table"], out / "table.png", f"{metrics['n_images']} reconstructions (first samples)")
    return 0


def _report_table(table: dict, path: Path, title: str) -> None:
    """Draw the evaluation table to ``path`` and print its rows."""
    from brainlens.report import draw_reconstruction_table, reconstruction_rows

    draw_reconstruction_table(table, path, title=title)
    for name, value, _ in reconstruction_rows(table):
        print(f"  {name:<28} {value}")


def cmd_decode_reconstruct(args: argparse.Namespace) -> int:
    from brainlens.decoding.reconstruct import ReconstructionSettings, reconstruct

    config_path = Path(args.decoder) / "config.json"
    if config_path.is_file() and json.loads(config_path.read_text()).get("kind") == "brain-ldm":
        return _reconstruct_ldm(args)
    settings = ReconstructionSettings(recons_per_sample=args.recons_per_sample, low_level=not args.no_low_level,
                                      strength=args.strength, steps=args.steps, guidance=args.guidance,
                                      prior_guidance=args.prior_guidance, selection_low_level=args.selection_low_level,
                                      seed=args.seed, batch_size=args.batch_size)
    networks = args.networks.split(",") if "," in args.networks else args.networks
    bars = _Bars(quiet=args.quiet)
    try:
        metrics = reconstruct(args.decoder, args.out, store=args.store, subject=args.subject, n=args.n, settings=settings,
                              networks=networks, evaluate=not args.no_evaluate, device=args.device, progress=bars)
    finally:
        bars.close()
    out = Path(args.out)
    print(f"saved {metrics['n_images']} reconstructions in {out / 'images'} ({metrics['reconstruct_seconds']:.0f} s), "
          f"the grid {out / 'grid.png'}")
    if "table" in metrics:
        _report_table(metrics["table"], out / "table.png", f"{metrics['n_images']} reconstructions")
        low = metrics["low_level"]
        print(f"  low-level images alone: PixCorr {low['pixcorr']:.4f}, SSIM {low['ssim']:.4f}")
    return 0


def add_commands(commands) -> None:
    decode = commands.add_parser("decode", help="decode brain activity into image embeddings (MindEye, ridge baseline)",
                                 description="Decoders from a subject's voxels to an image embedding space's tokens.")
    tools = decode.add_subparsers(dest="decode_command", required=True, metavar="COMMAND")
    p = tools.add_parser(
        "fit", help="train a decoder on a store's train split and score retrieval on its test split",
        description="Train MindEye (residual MLP and projector, BiMixCo for the first third of the epochs, then "
        "SoftCLIP; validation split for monitoring) or the ridge baseline (penalty chosen on the validation split) "
        "and write OUT/model.safetensors, config.json and metrics.json with MindEye's retrieval top-1 among 300 test "
        "images, both ways, and OUT/retrieval.png (the seen image and the five retrieved for 8 test brains). The test "
        "split is read only after training.")
    p.add_argument("--store", required=True, nargs="+",
                   help="paired subject store (HDF5) with train, validation and test splits; several train one MindEye2 "
                   "decoder with a linear layer per subject (named by file name), each batch split between them")
    p.add_argument("--model", choices=("mindeye", "ridge", "ldm"), default="mindeye",
                   help="decoder (default mindeye); ldm: MinD-Vis's brain-conditioned latent diffusion model on a pretrained "
                   "fMRI encoder (--encoder), fine-tuned on the store's training trials, drawn with --generator")
    p.add_argument("--out", required=True, help="decoder folder to write")
    p.add_argument("--target", default="embedder-tokens", choices=("embedder-tokens", "clip-tokens", "clip-final"),
                   help="what to predict: the shipped embedder's 16 × 64 tokens (default, in-silico), or CLIP's 257 × 768 "
                   "tokens / final embedding (real data)")
    p.add_argument("--target-model", help="the target's model: a hub id or folder (default: embedder, or "
                   "openai/clip-vit-large-patch14 for the CLIP targets)")
    p.add_argument("--epochs", type=int, help="training epochs (default: MindEye 60, MindEye used 240 on NSD; ldm 30, "
                   "MinD-Vis used 500 at batch 5)")
    p.add_argument("--batch-size", type=int, help="batch size (default: MindEye 32, as MindEye; ldm 16)")
    p.add_argument("--encoder", help="ldm: the pretrained fMRI encoder, a masked brain model folder (brainlens pretrain mbm "
                   "or pretrain cross-modal)")
    p.add_argument("--random-encoder", action="store_true",
                   help="ldm: the encoder's architecture from random weights (what pretraining gives, side by side)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="model setting, e.g. MindEye's hidden=4096, n_blocks=4, projector=2048; ldm's context_tokens=77, "
                   "condition_dropout=0.1 (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initialisation and the draws (default 0)")
    p.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), default="no",
                   help="accelerate's mixed precision (fp16 needs a GPU; default no)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--pretrained", help="MindEye2: fine-tune this decoder's shared layers on the one store given, with a "
                   "fresh linear layer for its subject")
    p.add_argument("--sessions", type=int, help="train on the first K sessions of training trials only (MindEye2's one hour: 1)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt after an interruption")
    p.add_argument("--generator", default="diffusion",
                   help="the diffusion pipeline reconstructions are drawn with: a shipped name or folder (default the "
                   "shipped diffusion model), or Versatile Diffusion's image variation as MindEye (shi-labs/versatile-diffusion "
                   "from the local cache, or a folder in its layout); the decoder learns its conditioning embedding (MindEye's "
                   "diffusion prior) and its VAE latent (the low-level head); 'none' fits a retrieval-only decoder")
    p.add_argument("--generator-embedder", default="embedder",
                   help="the embedder whose image embeddings the generator is conditioned on (default the shipped embedder; "
                   "Versatile Diffusion brings its own CLIP image encoder)")
    p.add_argument("--prior-weight", type=float,
                   help="MindEye: weight of the prior's loss (default MindEye's for the generator's embedding: 30 for "
                   "token targets, 0.03 for a single embedding such as the shipped generator's)")
    p.add_argument("--low-level-weight", type=float, default=0.5,
                   help="MindEye: weight of the low-level head's L1 loss (default 0.5, as MindEye2)")
    p.set_defaults(func=cmd_decode_fit)
    p = tools.add_parser("evaluate", help="score a saved decoder's retrieval on a store's test split")
    p.add_argument("decoder", help="decoder folder")
    p.add_argument("--store", help="store to score on (default: the first one it was fitted on)")
    p.add_argument("--subject", help="the decoder's subject to read the store as (default: its only subject, or the "
                   "store's file name)")
    p.add_argument("--out", help="write the metrics JSON here too")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.set_defaults(func=cmd_decode_evaluate)
    p = tools.add_parser(
        "reconstruct", help="reconstruct a store's test images from the brain with a fitted decoder and score them",
        description="For each test brain (repeats averaged): the decoder's generator embedding (MindEye: sampled from "
        "its diffusion prior; ridge: predicted) and low-level image; RECONS_PER_SAMPLE candidates drawn by img2img from "
        "the low-level image; the candidate closest to the brain in the decoder's retrieval space is kept (second-order "
        "selection). Writes OUT/images/ (named by store image index), OUT/low_level/, OUT/grid.png (seen | low-level | "
        "reconstruction), OUT/table.png and OUT/metrics.json (PixCorr, SSIM, identification rows, brain fidelity on "
        "in-silico stores). An ldm decoder instead draws SAMPLES images per brain from its diffusion model (PLMS, "
        "classifier-free guidance against the dropped condition): OUT/images/INDEX_S.png, OUT/grid.png (seen | samples) "
        "and OUT/metrics.json with MinD-Vis's 50-way top-1 (mean and best over samples) and the table of first samples.")
    p.add_argument("--decoder", required=True, help="decoder folder (from decode fit, with a generator)")
    p.add_argument("--out", required=True, help="folder to write")
    p.add_argument("--store", help="store whose test split to reconstruct (default: the first one the decoder was fitted on)")
    p.add_argument("--subject", help="the decoder's subject to read the store as (default: its only subject, or the "
                   "store's file name)")
    p.add_argument("--n", type=int, help="reconstruct the first N test images only (default all)")
    p.add_argument("--recons-per-sample", type=int, default=4,
                   help="candidates per brain for second-order selection (default 4; MindEye 16)")
    p.add_argument("--samples", type=int, default=5,
                   help="ldm decoders: images drawn for each brain, all scored by the 50-way top-1 (default 5, as MinD-Vis)")
    p.add_argument("--sampler", choices=("plms", "ddim"), default="plms",
                   help="ldm decoders: the sampler (default plms, as MinD-Vis)")
    p.add_argument("--no-low-level", action="store_true", help="start from noise instead of the low-level image")
    p.add_argument("--strength", type=float, default=0.85, help="img2img: fraction of the schedule redrawn (default 0.85, as MindEye)")
    p.add_argument("--steps", type=int, default=25, help="the generator's denoising steps (default 25)")
    p.add_argument("--guidance", type=float, default=3.0, help="the generator's classifier-free guidance (default 3)")
    p.add_argument("--prior-guidance", type=float, default=2.0,
                   help="the diffusion prior's classifier-free guidance (default 2; 1 samples without guidance, as MindEye)")
    p.add_argument("--selection-low-level", type=float, default=0.0,
                   help="second-order selection also weighs each candidate's SSIM to the low-level image by this (default 0: "
                   "rank in the token space alone, as MindEye; 2 raises SSIM and lowers brain fidelity; --no-low-level implies 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    p.add_argument("--batch-size", type=int, default=32, help="brains per generator batch (default 32)")
    p.add_argument("--networks", default="offline",
                   help="feature networks of the table: offline (default: the in-silico rows), auto (also the published "
                   "networks whose weights are on this machine), or a comma-separated list; vit-h-14 is MinD-Vis's "
                   "ImageNet classifier, which gives the 50-way top-1 on real stores")
    p.add_argument("--no-evaluate", action="store_true", help="write the images only")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.set_defaults(func=cmd_decode_reconstruct)

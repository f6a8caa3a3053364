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


def cmd_decode_fit(args: argparse.Namespace) -> int:
    from brainlens.decoding.fit import TrainConfig, fit_decoder

    train = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, mixed_precision=args.mixed_precision)
    bars = _Bars(quiet=args.quiet)
    try:
        metrics = fit_decoder(args.store, args.out, model=args.model, target=args.target, target_source=args.target_model,
                              model_config=_model_settings(args.set), train=train, pretrained=args.pretrained,
                              sessions=args.sessions, device=args.device, resume=args.resume, progress=bars)
    finally:
        bars.close()
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
    p.add_argument("--model", choices=("mindeye", "ridge"), default="mindeye", help="decoder (default mindeye)")
    p.add_argument("--out", required=True, help="decoder folder to write")
    p.add_argument("--target", default="embedder-tokens", choices=("embedder-tokens", "clip-tokens", "clip-final"),
                   help="what to predict: the shipped embedder's 16 × 64 tokens (default, in-silico), or CLIP's 257 × 768 "
                   "tokens / final embedding (real data)")
    p.add_argument("--target-model", help="the target's model: a hub id or folder (default: embedder, or "
                   "openai/clip-vit-large-patch14 for the CLIP targets)")
    p.add_argument("--epochs", type=int, default=60, help="MindEye: training epochs (default 60; MindEye used 240 on NSD)")
    p.add_argument("--batch-size", type=int, default=32, help="MindEye: batch size (default 32, as MindEye)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="MindEye size setting, e.g. hidden=4096, n_blocks=4, projector=2048 (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initialisation and the draws (default 0)")
    p.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), default="no",
                   help="accelerate's mixed precision (fp16 needs a GPU; default no)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--pretrained", help="MindEye2: fine-tune this decoder's shared layers on the one store given, with a "
                   "fresh linear layer for its subject")
    p.add_argument("--sessions", type=int, help="train on the first K sessions of training trials only (MindEye2's one hour: 1)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt after an interruption")
    p.set_defaults(func=cmd_decode_fit)
    p = tools.add_parser("evaluate", help="score a saved decoder's retrieval on a store's test split")
    p.add_argument("decoder", help="decoder folder")
    p.add_argument("--store", help="store to score on (default: the first one it was fitted on)")
    p.add_argument("--subject", help="the decoder's subject to read the store as (default: its only subject, or the "
                   "store's file name)")
    p.add_argument("--out", help="write the metrics JSON here too")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.set_defaults(func=cmd_decode_evaluate)

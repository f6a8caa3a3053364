"""`brainlens encode`: voxelwise encoding models (image → brain) and their maps."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from brainlens.cli._progress import _Bars


def _print_encoder_metrics(metrics: dict, out: Path) -> None:
    over_nc = metrics["median_r2_over_nc"]
    print(f"saved {out}: test median R² {metrics['median_r2']:.3f}, median R²/NC "
          f"{'n/a' if over_nc is None else f'{over_nc:.3f}'} over {metrics['n_voxels']} voxels, {metrics['n_images']} images")
    for name, region in metrics["regions"].items():
        value = region["median_r2_over_nc"]
        print(f"  {name:<14} {region['n_voxels']:5d} voxels  R² {region['median_r2']:.3f}  "
              f"R²/NC {'n/a' if value is None else f'{value:.3f}'}")


def _fit_encoder(store_path: Path, backbone: str, model: str, out: Path, *, layers, grid: int, region, cv: int,
                 epochs: int, resume: bool, device: str, quiet: bool) -> dict:
    from brainlens.encoding.encoder import evaluate_encoder, fit_ridge_encoder, write_json

    bars = _Bars(quiet=quiet)
    try:
        if model == "ridge":
            _, metrics = fit_ridge_encoder(store_path, backbone, out=out, layers=layers, grid=grid, voxels=region, cv=cv,
                                           device=device, progress=bars)
        else:
            from brainlens.encoding.factortopy import fit_factortopy

            def report(event: str, values: dict) -> None:
                if event == "step":
                    bars("factortopy steps", 1)
                elif event == "epoch" and not quiet:
                    print(f"  epoch {values.get('epoch')}: " + ", ".join(
                        f"{k} {v:.4f}" for k, v in values.items() if isinstance(v, float)), file=sys.stderr, flush=True)

            encoder = fit_factortopy(store_path, backbone, out, voxels=region, layers=layers, epochs=epochs,
                                     device=device, resume=resume, progress=report)
            metrics = evaluate_encoder(encoder, store_path, device=device)
            write_json(out / "metrics.json", metrics)
    finally:
        bars.close()
    return metrics


def _fit_guide(encoder_dir: Path, backbone: str, main_backbone: str, *, grid: int, cv: int, device: str,
               quiet: bool) -> dict | None:
    """The guide encoder inside ``encoder_dir`` (ridge on ``backbone``, same voxels), or None when ``backbone`` is
    'none' or the encoder's own."""
    from brainlens.encoding.encoder import GUIDE_FOLDER, fit_guide_encoder

    if backbone == "none" or backbone == main_backbone:
        return None
    print(f"fitting the guide encoder on {backbone} into {encoder_dir / GUIDE_FOLDER} (synthesis guides by both)",
          file=sys.stderr, flush=True)
    bars = _Bars(quiet=quiet)
    try:
        _, metrics = fit_guide_encoder(encoder_dir, backbone, grid=grid, cv=cv, device=device, progress=bars)
    finally:
        bars.close()
    return metrics


def cmd_encode_fit(args: argparse.Namespace) -> int:
    out = Path(args.out)
    layers = tuple(name.strip() for name in args.layers.split(",")) if args.layers else None
    metrics = _fit_encoder(Path(args.store), args.backbone, args.model, out, layers=layers, grid=args.grid,
                           region=args.region, cv=args.cv, epochs=args.epochs, resume=args.resume, device=args.device,
                           quiet=args.quiet)
    _print_encoder_metrics(metrics, out)
    guide = _fit_guide(out, args.guide_backbone, args.backbone, grid=args.grid, cv=args.cv, device=args.device,
                       quiet=args.quiet)
    if guide is not None:
        over_nc = guide["median_r2_over_nc"]
        print(f"  guide encoder on {args.guide_backbone}: test median R² {guide['median_r2']:.3f}, median R²/NC "
              f"{'n/a' if over_nc is None else f'{over_nc:.3f}'}")
    return 0


def cmd_encode_map(args: argparse.Namespace) -> int:
    from brainlens.report import draw_encoder_maps

    for path in draw_encoder_maps(args.encoder, args.out):
        print(f"wrote {path}")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `encode` and its tools to the top-level commands."""
    encode = commands.add_parser("encode", help="fit voxelwise encoding models (image → brain) and draw their maps",
                                 description="Encoding models: backbone features → voxel responses.")
    encode_tools = encode.add_subparsers(dest="tool", required=True, metavar="TOOL")
    p = encode_tools.add_parser(
        "fit", help="fit an encoder on a store and score it on the test split",
        description="Fit a voxelwise encoder on the store's train (and val) images, repeats averaged, and score it on "
        "the test split. Writes DIR/config.json, DIR/model.safetensors (the read-out; the backbone loads by name) and "
        "DIR/metrics.json (median_r2, median_r2_over_nc, algonauts_score, per region under 'regions', per voxel under "
        "'voxels'). Ridge features are cached in DIR/feature_cache and never recomputed. By default a second, guide "
        "encoder (ridge on the shipped embedder, the same voxels) goes into DIR/guide/: brain-guided synthesis guides "
        "by both, which drives the category regions further than one encoder (benchmarks/RESULTS.md).")
    p.add_argument("--store", required=True, help="subject store (HDF5) with images and a train/test split")
    p.add_argument("--backbone", default="insilico-convnet",
                   help="shipped backbone (insilico-convnet; embedder, the shipped image-text embedder's image tower, "
                   "CLIP's role in BrainDiVE), a folder, or a Hugging Face vision model id such as "
                   "openai/clip-vit-base-patch16 or facebook/dinov2-base (default insilico-convnet)")
    p.add_argument("--model", choices=("ridge", "factortopy"), default="ridge",
                   help="ridge: per-voxel ridge on pooled tokens of every layer; factortopy: per-voxel layer, place and "
                   "scale selectors (Brain Decodes Deep Nets) (default ridge)")
    p.add_argument("--out", required=True, help="encoder folder to write")
    p.add_argument("--layers", help="comma-separated backbone layers (default: all)")
    p.add_argument("--region", help="fit only this region's voxels (default: every voxel)")
    p.add_argument("--grid", type=int, default=4, help="ridge: local tokens averaged onto a grid × grid map per layer (default 4)")
    p.add_argument("--cv", type=int, default=5, help="ridge: folds for choosing each voxel's alpha (default 5)")
    p.add_argument("--epochs", type=int, default=20, help="factortopy: training epochs (default 20)")
    p.add_argument("--resume", action="store_true", help="factortopy: continue from the last epoch checkpoint in --out")
    p.add_argument("--guide-backbone", default="embedder",
                   help="backbone of the guide encoder fitted into OUT/guide/ for brain-guided synthesis, or 'none' "
                   "(default embedder; skipped when it is --backbone itself)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.set_defaults(func=cmd_encode_fit)
    p = encode_tools.add_parser("map", help="draw an encoder's scores (and FactorTopy selectors) on flat maps",
                                description="Draw test R², R²/noise ceiling and, for FactorTopy, the selected layer, "
                                "place and scale of each voxel on fsaverage5 flat maps.")
    p.add_argument("encoder", help="encoder folder written by `brainlens encode fit`")
    p.add_argument("--out", help="folder for the PNGs (default: the encoder folder)")
    p.set_defaults(func=cmd_encode_map)

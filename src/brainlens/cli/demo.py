"""`brainlens demo`: the whole pipeline on an in-silico subject, drawn into a run folder."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from brainlens._io import write_json as _write_json
from brainlens.cli._progress import _Bars
from brainlens.cli.encode import _fit_encoder, _fit_guide
from brainlens.cli.subject import _simulate


def _category_region_figure(metrics: dict, store_path: Path) -> float | None:
    """Median R²/NC over the voxels of the in-silico category regions, pooled."""
    import numpy as np

    from brainlens.insilico.layout import REGION_CATEGORY
    from brainlens.store import open_store

    with open_store(store_path) as s:
        labels = [s.roi_names.index(name) for name in REGION_CATEGORY if name in s.roi_names]
        inside = np.isin(s.roi[np.asarray(metrics["voxels"]["index"])], labels)
    values = np.array([np.nan if v is None else v for v in metrics["voxels"]["r2_over_nc"]])[inside]
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else None


# BrainDiVE's five category regions, and the split region whose halves differ in truth
DEMO_SYNTHESIS_REGIONS = ("FFA-1", "EBA", "PPA", "VWFA-1", "food")
DEMO_SYNTHESIS_CONTRASTS = (("OPA-anterior", "OPA-posterior"), ("OPA-posterior", "OPA-anterior"))


def _demo_synthesis(encoder_dir: Path, out: Path, n: int, steps: int, quiet: bool) -> dict:
    from brainlens.generation.synthesis import SynthesisConfig, synthesize
    from brainlens.report import draw_synthesis_summary

    runs, table = {}, {}
    jobs = [(region, None) for region in DEMO_SYNTHESIS_REGIONS] + list(DEMO_SYNTHESIS_CONTRASTS)
    for region, contrast in jobs:
        name = region if contrast is None else f"{region} - {contrast}"
        bars = _Bars(quiet=quiet)
        try:
            images, metrics = synthesize(encoder_dir, SynthesisConfig(region=region, contrast=contrast, n=n, steps=steps),
                                         out=out / "synthesis" / name.replace(" - ", "_minus_"), progress=bars)
        finally:
            bars.close()
        pixels = (images * 255).round().byte().permute(0, 2, 3, 1).numpy()
        runs[name] = (pixels, metrics)
        table[name] = {k: v for k, v in metrics.items() if not isinstance(v, (list, dict)) or k == "true_attributes_mean"}
        what = "response" if contrast is None else "contrast"
        print(f"      {name:<28} category accuracy {_fmt(metrics.get('category_accuracy'))}, true {what} "
              f"{_fmt(metrics.get('true_objective_mean'))} vs top 1 % natural "
              f"{_fmt(metrics.get('top1pct_natural_objective_mean'))}, oracle ratio {_fmt(metrics.get('oracle_ratio'))}",
              flush=True)
    pictures = draw_synthesis_summary(runs, out)
    for path in pictures:
        print(f"      {path}")
    return {"regions": table, "pictures": [str(p) for p in pictures]}


def _demo_decoding(store_path: Path, out: Path, epochs: int, n_reconstructions: int, quiet: bool) -> dict:
    """MindEye and the ridge baseline on the demo subject: retrieval, the retrieval picture, reconstructions and their table."""
    from brainlens.decoding.fit import TrainConfig, fit_decoder
    from brainlens.decoding.reconstruct import reconstruct
    from brainlens.report import draw_reconstruction_table, draw_retrieval

    result = {}
    for model in ("mindeye", "ridge"):
        folder = out / ("decoder" if model == "mindeye" else "decoder_ridge")
        bars = _Bars(quiet=quiet)
        try:
            metrics = fit_decoder(store_path, folder, model=model, train=TrainConfig(epochs=epochs), progress=bars)
        finally:
            bars.close()
        retrieval = metrics["retrieval"]
        result[model] = {"decoder": str(folder), "retrieval": retrieval, "fit_seconds": metrics["fit_seconds"]}
        print(f"      {model:<8} retrieval top-1 among {retrieval['n']} test images (chance {retrieval['chance']:.3f}): "
              f"image {retrieval['image_top1']:.3f}, brain {retrieval['brain_top1']:.3f} ({metrics['fit_seconds']:.0f} s)", flush=True)
    picture = draw_retrieval(out / "decoder")
    print(f"      {picture}")
    result["pictures"] = [str(picture)]
    if n_reconstructions > 0:
        bars = _Bars(quiet=quiet)
        try:
            recon = reconstruct(out / "decoder", out / "reconstruction", n=n_reconstructions, progress=bars)
        finally:
            bars.close()
        table = draw_reconstruction_table(recon["table"], out / "reconstruction" / "table.png",
                                          title=f"MindEye, {n_reconstructions} test images")
        table_rows = recon["table"]
        print(f"      {n_reconstructions} reconstructions: PixCorr {table_rows['pixcorr']:.3f}, SSIM {table_rows['ssim']:.3f}, "
              f"2-way with the embedder {table_rows['insilico_embedder']:.2f}, brain r {table_rows['brain']['correlation']:.3f} "
              f"({recon['reconstruct_seconds']:.0f} s)", flush=True)
        for path in (out / "reconstruction" / "grid.png", table):
            print(f"      {path}")
        result["reconstruction"] = {key: value for key, value in recon.items() if key != "table"}
        result["reconstruction"]["table"] = {key: value for key, value in table_rows.items() if not isinstance(value, dict)}
        result["pictures"] += [str(out / "reconstruction" / "grid.png"), str(table)]
    return result


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def cmd_demo(args: argparse.Namespace) -> int:
    from brainlens.report import draw_encoder_maps, draw_subject_pictures

    out = Path(args.out)
    config = {"subject": args.subject, "n_images": args.n_images, "image_size": args.image_size,
              "encoder": {"model": "ridge", "backbone": args.backbone, "grid": 4, "cv": 5},
              "guide_backbone": args.guide_backbone,
              "synthesis": {"images_per_region": args.synthesis_images, "steps": args.synthesis_steps,
                            "regions": list(DEMO_SYNTHESIS_REGIONS),
                            "contrasts": [list(c) for c in DEMO_SYNTHESIS_CONTRASTS]},
              "decoding": {"epochs": args.decoding_epochs, "reconstructions": args.reconstructions}}
    _write_json(out / "config.json", config)
    stages = 3 + (args.synthesis_images > 0) + (args.decoding_epochs > 0)
    print(f"[1/{stages}] simulating in-silico subject {args.subject} ({args.n_images} images)", flush=True)
    store_path = out / f"subject{args.subject}.h5"
    summary = _simulate(args.subject, args.n_images, store_path, image_size=args.image_size,
                        trials_per_session=750, zscore=True, quiet=args.quiet)
    print(f"      {summary['n_trials']} trials, {summary['n_voxels']} voxels in {summary['seconds']} s", flush=True)
    print(f"[2/{stages}] drawing the subject's pictures", flush=True)
    pictures = draw_subject_pictures(store_path, out)
    for path in pictures:
        print(f"      {path}")

    print(f"[3/{stages}] fitting a ridge encoder on {args.backbone} and scoring it on the test images", flush=True)
    started = time.perf_counter()
    encoder_dir = out / "encoder"
    metrics = _fit_encoder(store_path, args.backbone, "ridge", encoder_dir, layers=None, grid=4, region=None, cv=5,
                           epochs=0, resume=False, device="cpu", quiet=args.quiet)
    encoding = {
        "encoder": str(encoder_dir),
        "seconds": round(time.perf_counter() - started, 1),
        "median_r2": metrics["median_r2"],
        "median_r2_over_nc": metrics["median_r2_over_nc"],
        "regions": metrics["regions"],
    }
    encoding["category_regions_median_r2_over_nc"] = _category_region_figure(metrics, store_path)
    maps = draw_encoder_maps(encoder_dir, out)
    print(f"      median R²/NC {metrics['median_r2_over_nc']:.3f} over all voxels, "
          f"{encoding['category_regions_median_r2_over_nc']:.3f} over category-region voxels, in {encoding['seconds']} s")
    for path in maps:
        print(f"      {path}")
    result = {"simulate": summary, "pictures": [str(p) for p in pictures + maps], "encoding": encoding}

    if args.synthesis_images > 0:
        guide = _fit_guide(encoder_dir, args.guide_backbone, args.backbone, grid=4, cv=5, device="cpu", quiet=args.quiet)
        if guide is not None:
            result["encoding"]["guide_encoder"] = {"encoder": str(encoder_dir / "guide"), "backbone": args.guide_backbone,
                                                   "median_r2_over_nc": guide["median_r2_over_nc"]}
        print(f"[4/{stages}] brain-guided synthesis: {args.synthesis_images} images per region, scored by the "
              f"ground-truth brain", flush=True)
        started = time.perf_counter()
        result["synthesis"] = _demo_synthesis(encoder_dir, out, args.synthesis_images, args.synthesis_steps, args.quiet)
        result["synthesis"]["seconds"] = round(time.perf_counter() - started, 1)
    if args.decoding_epochs > 0:
        print(f"[{stages}/{stages}] decoding: MindEye ({args.decoding_epochs} epochs) and the ridge baseline, retrieval on the "
              f"test images, {args.reconstructions} reconstructions scored", flush=True)
        started = time.perf_counter()
        result["decoding"] = _demo_decoding(store_path, out, args.decoding_epochs, args.reconstructions, args.quiet)
        result["decoding"]["seconds"] = round(time.perf_counter() - started, 1)
    _write_json(out / "summary.json", result)
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `demo` to the top-level commands."""
    p = commands.add_parser("demo", help="run the whole pipeline on an in-silico subject and draw pictures",
                            description="Simulate an in-silico subject, draw its region map, noise ceiling, retinotopy, "
                            "category selectivity and stimuli, fit an encoder and draw its maps, synthesize images for "
                            "category regions (BrainDiVE), then decode (MindEye and the ridge baseline: retrieval and "
                            "reconstruction), all into a run folder.")
    p.add_argument("--out", default="runs/demo", help="run folder (default runs/demo)")
    p.add_argument("--subject", type=int, default=1, help="in-silico subject (default 1)")
    p.add_argument("--n-images", type=int, default=2000, help="distinct images to simulate (default 2000)")
    p.add_argument("--image-size", type=int, default=64, help="stimulus size in pixels (default 64)")
    p.add_argument("--backbone", default="insilico-convnet", help="backbone of the demo's encoder (default insilico-convnet)")
    p.add_argument("--synthesis-images", type=int, default=2,
                   help="brain-guided images kept per region, each the best of five drawn (default 2, which keeps the demo "
                   "within 10 minutes; `brainlens synthesize` keeps 32; 0 skips synthesis)")
    # SynthesisConfig.steps, written out so that building the parser does not import the diffusion stack
    p.add_argument("--synthesis-steps", type=int, default=50,
                   help="denoising steps per synthesized image (default 50, as BrainDiVE; fewer are faster and blurrier)")
    p.add_argument("--guide-backbone", default="embedder",
                   help="backbone of the guide encoder (encoder/guide/) that guides synthesis together with the first "
                   "(their standardised mean; benchmarks/RESULTS.md), or 'none' to guide by the first alone (default embedder)")
    p.add_argument("--decoding-epochs", type=int, default=10,
                   help="MindEye's training epochs in the decoding stage (default 10, against 60 for `brainlens decode fit`; "
                   "0 skips decoding)")
    p.add_argument("--reconstructions", type=int, default=16,
                   help="test images the decoding stage reconstructs and scores (default 16; 0: retrieval only)")
    p.set_defaults(func=cmd_demo)

"""`brainlens <command>`: one command per step. Only this module prints and draws progress bars."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from brainlens._io import write_json as _write_json

__all__ = ["main"]


class _LogLines:
    """Progress of one stage for a log file (stderr is not a terminal): a plain line such as
    ``brain: 1224/2000 (61%) in 4 s`` at most every `every` seconds and one when the stage closes,
    with none of the carriage returns and cursor moves that terminal bars write."""

    def __init__(self, stage: str, total: int | None, every: float = 30.0):
        self._stage, self._total, self._every = stage, total, every
        self._count = 0
        self._started = self._last = time.perf_counter()

    def update(self, k: int) -> None:
        self._count += k
        now = time.perf_counter()
        if now - self._last >= self._every:
            self._last = now
            self._write(now)

    def close(self) -> None:
        if self._count:
            self._write(time.perf_counter())
            self._count = 0  # a second close writes nothing

    def _write(self, now: float) -> None:
        done = f"{self._count}/{self._total} ({100 * self._count / self._total:.0f}%)" if self._total else f"{self._count}"
        print(f"{self._stage}: {done} in {now - self._started:.0f} s", file=sys.stderr, flush=True)


class _Bars:
    """Progress bars keyed by stage name, fed by the library's progress callbacks: tqdm bars on a
    terminal, plain lines every 30 s in a log file."""

    def __init__(self, totals: dict[str, int] | None = None, quiet: bool = False):
        self._quiet = quiet
        self._bars: dict = {}
        for stage, total in (totals or {}).items():
            self._open(stage, total)

    def _open(self, stage: str, total: int | None):
        if self._quiet or sys.stderr.isatty():
            from tqdm import tqdm

            self._bars[stage] = tqdm(total=total, desc=stage, disable=self._quiet, leave=True, file=sys.stderr)
        else:
            self._bars[stage] = _LogLines(stage, total)
        return self._bars[stage]

    def __call__(self, stage: str, k: int) -> None:
        # stages whose size the library only learns as it goes get a bar without a total
        bar = self._bars[stage] if stage in self._bars else self._open(stage, None)
        bar.update(k)

    def stage(self, name: str) -> Callable[[int], None]:
        return lambda k: self(name, k)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()


# --------------------------------------------------------------------------------------------
# simulate / info / validate


def _simulate(subject: int, n_images: int, out: Path, *, image_size: int, trials_per_session: int, zscore: bool, quiet: bool) -> dict:
    from brainlens.insilico.brain import InSilicoSubject

    started = time.perf_counter()
    sim_subject = InSilicoSubject(subject)
    bars = _Bars({"stimuli": n_images, "brain": n_images}, quiet)
    try:
        simulation = sim_subject.simulate(
            n_images, image_size=image_size, trials_per_session=trials_per_session, zscore=zscore, progress=bars
        )
    finally:
        bars.close()
    sim_subject.write_store(simulation, out)
    return {
        "store": str(out),
        "subject": subject,
        "n_images": n_images,
        "n_trials": int(simulation.trial_image.size),
        "n_voxels": sim_subject.n_voxels,
        "seconds": round(time.perf_counter() - started, 1),
    }


def cmd_simulate(args: argparse.Namespace) -> int:
    summary = _simulate(
        args.subject,
        args.n_images,
        Path(args.out),
        image_size=args.image_size,
        trials_per_session=args.trials_per_session,
        zscore=not args.raw,
        quiet=args.quiet,
    )
    print(f"wrote {summary['store']}: {summary['n_images']} images, {summary['n_trials']} trials, "
          f"{summary['n_voxels']} voxels in {summary['seconds']} s")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from brainlens import store

    with store.open_store(args.file) as s:
        info = s.info()
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"{info['path']}")
    print(f"  dataset {info['dataset']}, subject {info['subject']}, kind {info['kind']}, schema v{info['version']}")
    if info["n_images"]:
        print(f"  images   {info['n_images']} × {'×'.join(map(str, info['image_shape']))}  "
              f"split train/val/test {info['split_images']['train']}/{info['split_images']['val']}/{info['split_images']['test']}")
        r = info["repeats_per_image"]
        print(f"  trials   {info['n_trials']} in {info['n_sessions']} sessions, repeats per image {r['min']}–{r['max']} (mean {r['mean']:.2f})")
    else:
        print(f"  trials   {info['n_trials']} in {info['n_sessions']} sessions (fMRI only)")
    where = f"in {info['space']}" if info["space"] else "without locations"
    print(f"  voxels   {info['n_voxels']} {where}, betas {info['beta_dtype']}, "
          f"{'z-scored per session' if info['zscored'] else 'not z-scored'}")
    width = max((len(n) for n in info["regions"]), default=0)
    for name, count in info["regions"].items():
        print(f"    {name:<{width}}  {count}")
    for set_name, names in info["region_sets"].items():
        print(f"  region set {set_name}: {', '.join(names)}")
    extras = [k for k in ("has_ncsnr", "has_captions", "has_truth") if info[k]]
    if extras:
        print(f"  with     {', '.join(e[4:] for e in extras)}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from brainlens import store

    with store.open_store(args.file, check=False) as s:
        n_trials = s.n_trials
    with tqdm(total=n_trials, desc="checking betas", unit="trial", disable=args.quiet, file=sys.stderr) as bar:
        info = store.validate(args.file, progress=bar.update)
    print(f"valid: {args.file} ({info['n_trials']} trials, {info['n_voxels']} voxels, {info['n_images']} images)")
    return 0


# --------------------------------------------------------------------------------------------
# in-silico tools


def cmd_train_category_net(args: argparse.Namespace) -> int:
    from brainlens.insilico.category_net import train_category_net

    def report(_event: str, values: dict) -> None:
        print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()), flush=True)

    net, metrics = train_category_net(
        n_train=args.n_train, n_val=args.n_val, epochs=args.epochs, seed=args.seed, progress=None if args.quiet else report
    )
    net.save(args.out)
    _write_json(Path(args.out) / "metrics.json", metrics)
    print(f"saved {args.out}: validation category accuracy {metrics['category_accuracy']:.3f}, "
          f"attribute accuracy {metrics['attribute_accuracy']:.3f}")
    return 0


# --------------------------------------------------------------------------------------------
# convert


def _parse_sessions(text: str | None) -> list[int] | None:
    """'1-37' or '1,2,5-8' → [1, ..., 37]; None → None (all sessions)."""
    if text is None:
        return None
    sessions: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            sessions += list(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            raise ValueError(f"--sessions must look like '1-37' or '1,3,5-8'; {text!r} was provided.") from None
    return sessions


def cmd_convert(args: argparse.Namespace) -> int:
    from brainlens import datasets

    bars = _Bars(quiet=args.quiet)
    try:
        if args.dataset == "nsd":
            out = datasets.convert_nsd(
                args.root, args.subject, args.out, space=args.space, sessions=_parse_sessions(args.sessions),
                mask=None if args.mask == "none" else args.mask, zscore=not args.raw, progress=bars,
            )
        elif args.dataset == "algonauts":
            out = datasets.convert_algonauts(args.root, args.subject, args.out, progress=bars)
        elif args.dataset == "god":
            out = datasets.convert_god(args.root, args.subject, args.out, mask=args.mask, progress=bars)
        elif args.dataset == "bold5000":
            out = datasets.convert_bold5000(args.root, args.subject, args.out, progress=bars)
        elif args.subject == "all":  # hcp: one store per subject folder
            out = datasets.convert_hcp_subjects(args.root, args.out, frames_per_sample=args.frames_per_sample, progress=bars)
        else:
            out = datasets.convert_hcp(args.root, args.subject, args.out, frames_per_sample=args.frames_per_sample, progress=bars)
    finally:
        bars.close()
    for path in out if isinstance(out, list) else [out]:
        print(f"wrote {path}: {_store_summary(path)}")
    return 0


def _store_summary(path: Path) -> str:
    from brainlens import store

    with store.open_store(path) as s:
        if s.kind == "fmri-only":
            return f"fMRI only, {s.n_trials} samples, {s.n_voxels} voxels"
        return f"{s.n_images} images, {s.n_trials} trials, {s.n_voxels} voxels"


# --------------------------------------------------------------------------------------------
# zoo: the small models shipped with brainlens


def _shipped_model(name: str):
    from brainlens.generation.zoo import SHIPPED

    if name not in SHIPPED:
        raise ValueError(f"no shipped model {name!r}; shipped models are {sorted(SHIPPED)} (see `brainlens zoo list`)")
    return SHIPPED[name]


def cmd_zoo_list(args: argparse.Namespace) -> int:
    from brainlens.generation.zoo import SHIPPED

    rows = [
        {"name": m.name, "kind": m.kind, "folder": str(m.path), "present": m.is_present(),
         "size_mb": round(m.size_bytes() / 2**20, 2), "description": m.description}
        for m in SHIPPED.values()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        size = f"{r['size_mb']:6.2f} MB" if r["present"] else "  (not trained)"
        print(f"{r['name']:<{width}}  {r['kind']:<9} {size}  {r['description']}")
    print(f"{'total':<{width}}  {'':<9} {sum(r['size_mb'] for r in rows):6.2f} MB")
    return 0


def cmd_zoo_train(args: argparse.Namespace) -> int:
    model = _shipped_model(args.name)
    out = Path(args.out) if args.out else model.path
    bars = _Bars(quiet=args.quiet)
    try:
        metrics = model.train_fn(out, seed=args.seed, progress=bars)
    finally:
        bars.close()
    summary = ""
    if model.bar is not None and model.bar[0] in metrics:
        name, least = model.bar
        summary = f": {name} {metrics[name]:.3f} (bar {least})"
    print(f"saved {out}{summary}")
    return 0


def cmd_zoo_eval(args: argparse.Namespace) -> int:
    model = _shipped_model(args.name)
    metrics = model.evaluate_fn(Path(args.model) if args.model else model.path)
    if model.bar is not None and model.bar[0] in metrics:
        metrics["passes_bar"] = bool(metrics[model.bar[0]] >= model.bar[1])
    print(json.dumps(metrics, indent=2, default=str))
    return 0


def cmd_zoo_sample(args: argparse.Namespace) -> int:
    import inspect

    model = _shipped_model(args.name)
    draw = model.sample_fn
    if draw is None:
        from brainlens.generation.zoo import SHIPPED

        able = sorted(name for name, m in SHIPPED.items() if m.sample is not None)
        raise ValueError(f"shipped model {args.name!r} draws no samples; models that do: {able}")
    options = {k: v for k, v in (("n", args.n), ("seed", args.seed)) if v is not None}
    if args.steps is not None:
        if "num_inference_steps" not in inspect.signature(draw).parameters:
            raise ValueError(f"--steps applies to diffusion models; {args.name!r} has no denoising steps")
        options["num_inference_steps"] = args.steps
    paths = draw(Path(args.out), Path(args.model) if args.model else model.name, **options)
    for path in paths:
        print(f"wrote {path}")
    return 0


# --------------------------------------------------------------------------------------------
# encode: image → brain


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


def cmd_encode_fit(args: argparse.Namespace) -> int:
    out = Path(args.out)
    layers = tuple(name.strip() for name in args.layers.split(",")) if args.layers else None
    metrics = _fit_encoder(Path(args.store), args.backbone, args.model, out, layers=layers, grid=args.grid,
                           region=args.region, cv=args.cv, epochs=args.epochs, resume=args.resume, device=args.device,
                           quiet=args.quiet)
    _print_encoder_metrics(metrics, out)
    return 0


def cmd_encode_map(args: argparse.Namespace) -> int:
    from brainlens.viz.report import draw_encoder_maps

    for path in draw_encoder_maps(args.encoder, args.out):
        print(f"wrote {path}")
    return 0


# --------------------------------------------------------------------------------------------
# synthesize: brain-guided images (BrainDiVE)


def _synthesis_config(args: argparse.Namespace):
    from brainlens.generation.synthesis import SynthesisConfig

    return SynthesisConfig(
        region=args.region, contrast=args.contrast, n=args.n, rerank_from=args.rerank, model=args.model,
        guidance_scale=args.guidance_scale, steps=args.steps, scheduler=args.scheduler, gradient_path=args.gradient_path,
        guidance_every=args.guidance_every, autoguidance_scale=args.autoguidance_scale, seed=args.seed, batch_size=args.batch_size, device=args.device,
        fp16=args.fp16, oracle=not args.no_oracle, embedder=args.embedder, category_prompts=args.category_prompts,
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


# --------------------------------------------------------------------------------------------
# demo


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


def _demo_synthesis(encoder_dirs: list[Path], out: Path, n: int, quiet: bool) -> dict:
    from brainlens.generation.synthesis import SynthesisConfig, synthesize
    from brainlens.viz.report import draw_synthesis_summary

    runs, table = {}, {}
    jobs = [(region, None) for region in DEMO_SYNTHESIS_REGIONS] + list(DEMO_SYNTHESIS_CONTRASTS)
    for region, contrast in jobs:
        name = region if contrast is None else f"{region} - {contrast}"
        bars = _Bars(quiet=quiet)
        try:
            images, metrics = synthesize(encoder_dirs, SynthesisConfig(region=region, contrast=contrast, n=n),
                                         out=out / "synthesis" / name.replace(" - ", "_minus_"), progress=bars)
        finally:
            bars.close()
        pixels = (images * 255).round().byte().permute(0, 2, 3, 1).numpy()
        runs[name] = (pixels, metrics)
        table[name] = {k: v for k, v in metrics.items() if not isinstance(v, (list, dict)) or k == "true_attributes_mean"}
        print(f"      {name:<28} category accuracy {_fmt(metrics.get('category_accuracy'))}, true response "
              f"{_fmt(metrics.get('true_response_mean'))} vs top 1 % natural {_fmt(metrics.get('top1pct_natural_response_mean'))}, "
              f"oracle ratio {_fmt(metrics.get('oracle_ratio'))}", flush=True)
    pictures = draw_synthesis_summary(runs, out)
    for path in pictures:
        print(f"      {path}")
    return {"regions": table, "pictures": [str(p) for p in pictures]}


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def cmd_demo(args: argparse.Namespace) -> int:
    from brainlens.viz.report import draw_encoder_maps, draw_subject_pictures

    out = Path(args.out)
    config = {"subject": args.subject, "n_images": args.n_images, "image_size": args.image_size,
              "encoder": {"model": "ridge", "backbone": args.backbone, "grid": 4, "cv": 5},
              "guide_backbone": args.guide_backbone,
              "synthesis": {"images_per_region": args.synthesis_images, "regions": list(DEMO_SYNTHESIS_REGIONS),
                            "contrasts": [list(c) for c in DEMO_SYNTHESIS_CONTRASTS]}}
    _write_json(out / "config.json", config)
    stages = 4 if args.synthesis_images > 0 else 3
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
        guides = [encoder_dir]
        if args.guide_backbone != "none":
            print(f"      a second ridge encoder, on {args.guide_backbone}, to guide synthesis with the first", flush=True)
            guides.append(out / "encoder_guide")
            second = _fit_encoder(store_path, args.guide_backbone, "ridge", guides[1], layers=None, grid=4, region=None,
                                  cv=5, epochs=0, resume=False, device="cpu", quiet=args.quiet)
            result["encoding"]["guide_encoder"] = {"encoder": str(guides[1]), "backbone": args.guide_backbone,
                                                   "median_r2_over_nc": second["median_r2_over_nc"]}
        print(f"[4/{stages}] brain-guided synthesis: {args.synthesis_images} images per region, scored by the "
              f"ground-truth brain", flush=True)
        started = time.perf_counter()
        result["synthesis"] = _demo_synthesis(guides, out, args.synthesis_images, args.quiet)
        result["synthesis"]["seconds"] = round(time.perf_counter() - started, 1)
    _write_json(out / "summary.json", result)
    return 0


# --------------------------------------------------------------------------------------------
# parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brainlens",
        description="Images <-> human visual cortex: subject stores, an in-silico subject with known ground truth, "
        "encoding, brain-guided synthesis and decoding.",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("simulate", help="simulate an in-silico subject's NSD-like experiment into a store",
                            description="Simulate an NSD-like experiment on an in-silico subject (ground-truth brain, "
                            "3 repeats per image, sessions of 750 trials, a shared test set) and write a store.")
    p.add_argument("--subject", type=int, default=1, help="subject number; subjects differ in layout and SNR (default 1)")
    p.add_argument("--n-images", type=int, default=2000, help="number of distinct images (default 2000); a tenth are the shared test set")
    p.add_argument("--out", required=True, help="store file to write (HDF5)")
    p.add_argument("--image-size", type=int, default=64, help="stimulus size in pixels (default 64)")
    p.add_argument("--trials-per-session", type=int, default=750, help="trials per scan session (default 750, as NSD)")
    p.add_argument("--raw", action="store_true", help="write betas before per-session z-scoring (with drifts)")
    p.set_defaults(func=cmd_simulate)

    p = commands.add_parser("info", help="summarise a store", description="Summarise a store: sizes, splits, regions.")
    p.add_argument("file", help="store file")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_info)

    p = commands.add_parser("validate", help="check a store completely; non-zero exit on a problem",
                            description="Check a store's schema, shapes, dtypes, index ranges and that every beta is finite.")
    p.add_argument("file", help="store file")
    p.set_defaults(func=cmd_validate)

    p = commands.add_parser("demo", help="run the whole pipeline on an in-silico subject and draw pictures",
                            description="Simulate an in-silico subject, then draw its region map, noise ceiling, "
                            "retinotopy, category selectivity and stimuli into a run folder.")
    p.add_argument("--out", default="runs/demo", help="run folder (default runs/demo)")
    p.add_argument("--subject", type=int, default=1, help="in-silico subject (default 1)")
    p.add_argument("--n-images", type=int, default=2000, help="distinct images to simulate (default 2000)")
    p.add_argument("--image-size", type=int, default=64, help="stimulus size in pixels (default 64)")
    p.add_argument("--backbone", default="insilico-convnet", help="backbone of the demo's encoder (default insilico-convnet)")
    p.add_argument("--synthesis-images", type=int, default=16,
                   help="brain-guided images per region (default 16; 0 skips synthesis)")
    p.add_argument("--guide-backbone", default="embedder",
                   help="backbone of a second encoder that guides synthesis together with the first (their "
                   "standardised mean; benchmarks/RESULTS.md), or 'none' to guide by the first alone (default embedder)")
    p.set_defaults(func=cmd_demo)

    convert = commands.add_parser("convert", help="convert a public dataset into a subject store",
                                  description="Convert a public dataset, read as released, into a subject store.")
    formats = convert.add_subparsers(dest="dataset", required=True, metavar="DATASET")
    from brainlens.datasets import algonauts, bold5000, god, hcp, nsd

    p = formats.add_parser("nsd", help="Natural Scenes Dataset", description=nsd.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, help="NSD root folder (holding nsddata/, nsddata_betas/, nsddata_stimuli/)")
    p.add_argument("--subject", type=int, required=True, help="subject 1..8")
    p.add_argument("--out", required=True, help="store file to write")
    p.add_argument("--space", choices=nsd.SPACES, default="func1pt8mm", help="beta space (default func1pt8mm)")
    p.add_argument("--sessions", default=None, help="sessions to convert, e.g. 1-37 (default: all the subject has)")
    p.add_argument("--mask", default="nsdgeneral", help="label file whose voxels > 0 are kept, or 'none' (default nsdgeneral)")
    p.add_argument("--raw", action="store_true", help="keep percent signal change instead of z-scoring per session")
    p.set_defaults(func=cmd_convert)

    p = formats.add_parser("algonauts", help="Algonauts 2023 challenge data", description=algonauts.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, help="challenge data root (holding subjXX/)")
    p.add_argument("--subject", type=int, required=True, help="subject 1..8")
    p.add_argument("--out", required=True, help="store file to write")
    p.set_defaults(func=cmd_convert)

    p = formats.add_parser("god", help="GOD (Generic Object Decoding) as packaged for MinD-Vis", description=god.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, help="folder holding sbj_K.npz, images_256.npz and the label CSVs")
    p.add_argument("--subject", type=int, required=True, help="subject 1..5")
    p.add_argument("--out", required=True, help="store file to write")
    p.add_argument("--mask", default=None, help="keep only this npz mask's voxels, e.g. VC (default: every voxel)")
    p.set_defaults(func=cmd_convert)

    p = formats.add_parser("bold5000", help="BOLD5000 GLMsingle ROI betas as packaged for MinD-Vis",
                           description=bold5000.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, help="folder holding BOLD5000_GLMsingle_ROI_betas/ and BOLD5000_Stimuli/")
    p.add_argument("--subject", type=int, required=True, help="subject 1..4 (CSI1..CSI4)")
    p.add_argument("--out", required=True, help="store file to write")
    p.set_defaults(func=cmd_convert)

    p = formats.add_parser("hcp", help="HCP resting state as packaged for MinD-Vis (fMRI only)", description=hcp.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, help="folder of subject folders, each holding HCP_visual_voxel.npz")
    p.add_argument("--subject", required=True, help="a subject folder's name, or 'all' for every one (then --out is a folder)")
    p.add_argument("--out", required=True, help="store file to write (a folder of hcp_<subject>.h5 with --subject all)")
    p.add_argument("--frames-per-sample", type=int, default=1,
                   help="average this many consecutive frames into one sample (default 1; MinD-Vis uses 10)")
    p.set_defaults(func=cmd_convert)

    zoo = commands.add_parser("zoo", help="the small models shipped with brainlens: list, retrain, evaluate",
                              description="The small models that brainlens trains on in-silico stimuli and ships "
                              "(stand-ins for CLIP, a VAE and a diffusion model when nothing can be downloaded)."
                              ).add_subparsers(dest="action", required=True, metavar="ACTION")
    p = zoo.add_parser("list", help="shipped models, their kinds and sizes")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(func=cmd_zoo_list)
    p = zoo.add_parser("train", help="retrain a shipped model (deterministic from --seed)",
                       description="Retrain a shipped model on fresh in-silico stimuli; the shipped weights came from the "
                       "defaults. Writes the model and metrics.json into --out.")
    p.add_argument("name", help="shipped model name (see `brainlens zoo list`)")
    p.add_argument("--out", default=None, help="folder to write (default: the shipped folder inside the package)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.set_defaults(func=cmd_zoo_train)
    p = zoo.add_parser("eval", help="score a shipped model on held-out in-silico stimuli; prints JSON")
    p.add_argument("name", help="shipped model name (see `brainlens zoo list`)")
    p.add_argument("--model", default=None, help="folder of a retrained model to score instead of the shipped one")
    p.set_defaults(func=cmd_zoo_eval)
    p = zoo.add_parser("sample", help="draw a shipped model's outputs into an image grid",
                       description="Draw what a shipped model makes (the VAE: held-out images and their reconstructions; "
                       "the diffusion model: samples, images regenerated from embeddings, img2img) into a PNG grid in --out.")
    p.add_argument("name", help="shipped model name (see `brainlens zoo list`)")
    p.add_argument("--out", required=True, help="folder for the PNG")
    p.add_argument("--model", default=None, help="folder of a retrained model to draw instead of the shipped one")
    p.add_argument("--n", type=int, default=None, help="images per row (default: the model's own)")
    p.add_argument("--seed", type=int, default=None, help="seed of the noise and of the held-out stimuli (default 0)")
    p.add_argument("--steps", type=int, default=None, help="denoising steps (diffusion models; default 25)")
    p.set_defaults(func=cmd_zoo_sample)

    encode = commands.add_parser("encode", help="fit voxelwise encoding models (image → brain) and draw their maps",
                                 description="Encoding models: backbone features → voxel responses.")
    encode_tools = encode.add_subparsers(dest="tool", required=True, metavar="TOOL")
    p = encode_tools.add_parser(
        "fit", help="fit an encoder on a store and score it on the test split",
        description="Fit a voxelwise encoder on the store's train (and val) images, repeats averaged, and score it on "
        "the test split. Writes DIR/config.json, DIR/model.safetensors (the read-out; the backbone loads by name) and "
        "DIR/metrics.json (median_r2, median_r2_over_nc, algonauts_score, per region under 'regions', per voxel under "
        "'voxels'). Ridge features are cached in DIR/feature_cache and never recomputed.")
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
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.set_defaults(func=cmd_encode_fit)
    p = encode_tools.add_parser("map", help="draw an encoder's scores (and FactorTopy selectors) on flat maps",
                                description="Draw test R², R²/noise ceiling and, for FactorTopy, the selected layer, "
                                "place and scale of each voxel on fsaverage5 flat maps.")
    p.add_argument("encoder", help="encoder folder written by `brainlens encode fit`")
    p.add_argument("--out", help="folder for the PNGs (default: the encoder folder)")
    p.set_defaults(func=cmd_encode_map)

    p = commands.add_parser(
        "synthesize", help="brain-guided image synthesis (BrainDiVE): images predicted to drive a region",
        description="Steer an unconditional latent diffusion model with a fitted encoder's gradient so that the images "
        "drive a region (or a region more than another). Writes OUT/images/*.png, OUT/grid.png, OUT/config.json and "
        "OUT/metrics.json (category_accuracy; on an in-silico store also true_response_mean, "
        "top1pct_natural_response_mean, oracle_ratio).")
    p.add_argument("--encoder", required=True, nargs="+", metavar="DIR",
                   help="encoder folder from `brainlens encode fit`; several folders (encoders of the same voxels on "
                   "different backbones, e.g. insilico-convnet and embedder) guide by their standardised mean")
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
    p.add_argument("--rerank", type=int, help="draw this many images and keep the --n best by the encoder's prediction")
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

    insilico = commands.add_parser("insilico", help="tools of the in-silico subject").add_subparsers(dest="tool", required=True, metavar="TOOL")
    p = insilico.add_parser("train-category-net", help="retrain the ground-truth brain's category network",
                            description="Retrain the fixed category network that the in-silico brain's category regions read "
                            "(the shipped weights came from the defaults; deterministic from --seed).")
    p.add_argument("--out", required=True, help="folder for config.json, model.safetensors and metrics.json")
    p.add_argument("--n-train", type=int, default=24000, help="training images (default 24000)")
    p.add_argument("--n-val", type=int, default=2000, help="validation images (default 2000)")
    p.add_argument("--epochs", type=int, default=8, help="epochs (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.set_defaults(func=cmd_train_category_net)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from brainlens.store import StoreError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (StoreError, ValueError, KeyError, FileNotFoundError, IndexError, ImportError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"brainlens {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

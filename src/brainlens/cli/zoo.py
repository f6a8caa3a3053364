"""`brainlens zoo`: the small models shipped with brainlens (list, retrain, evaluate, sample)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from brainlens.cli._progress import _Bars


def _shipped_model(name: str):
    from brainlens.models.zoo import SHIPPED

    if name not in SHIPPED:
        raise ValueError(f"no shipped model {name!r}; shipped models are {sorted(SHIPPED)} (see `brainlens zoo list`)")
    return SHIPPED[name]


def cmd_zoo_list(args: argparse.Namespace) -> int:
    from brainlens.models.zoo import SHIPPED

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
    # the VAE is the diffusion pipeline's vae/ folder: count each file once
    files = {f.resolve() for m in SHIPPED.values() if m.path.is_dir() for f in m.path.rglob("*") if f.is_file()}
    print(f"{'total':<{width}}  {'':<9} {sum(f.stat().st_size for f in files) / 2**20:6.2f} MB")
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
        from brainlens.models.zoo import SHIPPED

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


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `zoo` and its actions to the top-level commands."""
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

"""`brainlens <command>`: one command per step. Only this module prints and draws progress bars."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["main"]


class _Bars:
    """tqdm bars keyed by stage name, fed by the library's progress callbacks."""

    def __init__(self, totals: dict[str, int] | None = None, quiet: bool = False):
        self._quiet = quiet
        self._bars: dict = {}
        for stage, total in (totals or {}).items():
            self._open(stage, total)

    def _open(self, stage: str, total: int | None):
        from tqdm import tqdm

        self._bars[stage] = tqdm(total=total, desc=stage, disable=self._quiet, leave=True, file=sys.stderr)
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


def _write_json(path: Path, data: object) -> None:
    """Atomic JSON write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


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
    print(f"  voxels   {info['n_voxels']} in {info['space']}, betas {info['beta_dtype']}, "
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
        else:
            out = datasets.convert_algonauts(args.root, args.subject, args.out, progress=bars)
    finally:
        bars.close()
    info = _store_summary(out)
    print(f"wrote {out}: {info}")
    return 0


def _store_summary(path: Path) -> str:
    from brainlens import store

    with store.open_store(path) as s:
        return f"{s.n_images} images, {s.n_trials} trials, {s.n_voxels} voxels"


# --------------------------------------------------------------------------------------------
# demo


def cmd_demo(args: argparse.Namespace) -> int:
    from brainlens.viz.report import draw_subject_pictures

    out = Path(args.out)
    config = {"subject": args.subject, "n_images": args.n_images, "image_size": args.image_size}
    _write_json(out / "config.json", config)
    print(f"[1/2] simulating in-silico subject {args.subject} ({args.n_images} images)", flush=True)
    summary = _simulate(args.subject, args.n_images, out / f"subject{args.subject}.h5", image_size=args.image_size,
                        trials_per_session=750, zscore=True, quiet=args.quiet)
    print(f"      {summary['n_trials']} trials, {summary['n_voxels']} voxels in {summary['seconds']} s", flush=True)
    print("[2/2] drawing pictures", flush=True)
    pictures = draw_subject_pictures(Path(summary["store"]), out)
    for path in pictures:
        print(f"      {path}")
    _write_json(out / "summary.json", {"simulate": summary, "pictures": [str(p) for p in pictures]})
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
    p.set_defaults(func=cmd_demo)

    convert = commands.add_parser("convert", help="convert a public dataset into a subject store",
                                  description="Convert a public dataset, read as released, into a subject store.")
    formats = convert.add_subparsers(dest="dataset", required=True, metavar="DATASET")
    from brainlens.datasets import algonauts, nsd

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
    except (StoreError, ValueError, KeyError, FileNotFoundError, IndexError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"brainlens {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

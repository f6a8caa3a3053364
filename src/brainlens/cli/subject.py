"""`brainlens simulate`, `info` and `validate` (subject stores), and `brainlens insilico` (tools of the in-silico
subject)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from brainlens._io import write_json as _write_json
from brainlens.cli._progress import _Bars

# each design's defaults: (images — for god, training images —, trials per session)
_DESIGN_DEFAULTS = {"nsd": (2000, 750), "god": (1200, 750), "bold5000": (4916, 370)}


def _simulate(subject: int, n_images: int, out: Path, *, image_size: int, trials_per_session: int, zscore: bool, quiet: bool,
              fmri_only: bool = False, design: str = "nsd") -> dict:
    from brainlens.insilico.brain import GOD_N_TEST, GOD_N_VAL, InSilicoSubject

    started = time.perf_counter()
    sim_subject = InSilicoSubject(subject)
    if design != "nsd" and fmri_only:
        raise ValueError(f"--fmri-only writes NSD-like pretraining data; it does not combine with --design {design}.")
    if design == "god":
        n_images = n_images + GOD_N_VAL + GOD_N_TEST
    bars = _Bars({"stimuli": n_images, "brain": n_images}, quiet)
    settings = {"image_size": image_size, "trials_per_session": trials_per_session, "zscore": zscore, "progress": bars}
    try:
        if design == "god":
            simulation = sim_subject.simulate_god(n_train=n_images - GOD_N_VAL - GOD_N_TEST, **settings)
        elif design == "bold5000":
            simulation = sim_subject.simulate_bold5000(n_images=n_images, **settings)
        else:
            simulation = sim_subject.simulate(n_images, **settings)
    finally:
        bars.close()
    sim_subject.write_store(simulation, out, fmri_only=fmri_only)
    return {
        "store": str(out),
        "subject": subject,
        "n_images": n_images,
        "n_trials": int(simulation.outside_test.sum() if fmri_only else simulation.trial_image.size),
        "fmri_only": fmri_only,
        "design": design,
        "n_voxels": sim_subject.n_voxels,
        "seconds": round(time.perf_counter() - started, 1),
    }


def cmd_simulate(args: argparse.Namespace) -> int:
    n_images, trials_per_session = _DESIGN_DEFAULTS[args.design]
    summary = _simulate(
        args.subject,
        args.n_images if args.n_images is not None else n_images,
        Path(args.out),
        image_size=args.image_size,
        trials_per_session=args.trials_per_session if args.trials_per_session is not None else trials_per_session,
        zscore=not args.raw,
        quiet=args.quiet,
        fmri_only=args.fmri_only,
        design=args.design,
    )
    what = "fMRI only, responses to " if summary["fmri_only"] else ""
    print(f"wrote {summary['store']}: {what}{summary['n_images']} images, {summary['n_trials']} trials, "
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
        print(f"  trials   {info['n_trials']} in {info['n_sessions']} sessions, "
              f"repeats per image {r['min']}–{r['max']} (mean {r['mean']:.2f})")
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
    extras = [k for k in ("has_ncsnr", "has_captions", "has_fine_classes", "has_truth") if info[k]]
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


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `simulate`, `info` and `validate` to the top-level commands."""
    p = commands.add_parser("simulate", help="simulate an in-silico subject's NSD-like experiment into a store",
                            description="Simulate an NSD-like experiment on an in-silico subject (ground-truth brain, "
                            "3 repeats per image, sessions of 750 trials, a shared test set) and write a store; or, with "
                            "--design god, a GOD-like one (test classes unseen in training, test images repeated 35 times), "
                            "or with --design bold5000 a BOLD5000-like one (113 test images repeated 4 times, the rest once).")
    p.add_argument("--subject", type=int, default=1, help="subject number; subjects differ in layout and SNR (default 1)")
    p.add_argument("--n-images", type=int, help="number of distinct images (default 2000; a tenth are the shared test set). "
                   "With --design god: the number of training images (default 1200); with --design bold5000: the number "
                   "of distinct images (default 4916)")
    p.add_argument("--design", choices=tuple(_DESIGN_DEFAULTS), default="nsd",
                   help="nsd (default): every image shown 3 times in sessions of 750 trials. god: Generic Object Decoding's "
                   "design: 1200 training and 50 validation images shown once, and 50 test images of fine classes absent "
                   "from training (a quarter of them, every fourth) shown 35 times; the test images are shared by every "
                   "subject. bold5000: BOLD5000's design as MinD-Vis splits it: 4916 images every subject sees, 113 test "
                   "images shown 4 times, 100 validation and the rest training images shown once, sessions of 370 trials")
    p.add_argument("--out", required=True, help="store file to write (HDF5)")
    p.add_argument("--image-size", type=int, default=64, help="stimulus size in pixels (default 64)")
    p.add_argument("--trials-per-session", type=int,
                   help="trials per scan session (default 750, as NSD and GOD; 370 with --design bold5000)")
    p.add_argument("--raw", action="store_true", help="write betas before per-session z-scoring (with drifts)")
    p.add_argument("--fmri-only", action="store_true",
                   help="write an fMRI-only store for masked brain modelling (betas alone, as HCP's): no images, labels or "
                   "truth, and the shared test images' trials left out")
    p.set_defaults(func=cmd_simulate)

    p = commands.add_parser("info", help="summarise a store", description="Summarise a store: sizes, splits, regions.")
    p.add_argument("file", help="store file")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_info)

    p = commands.add_parser("validate", help="check a store completely; non-zero exit on a problem",
                            description="Check a store's schema, shapes, dtypes, index ranges and that every beta is finite.")
    p.add_argument("file", help="store file")
    p.set_defaults(func=cmd_validate)


def add_insilico_commands(commands: argparse._SubParsersAction) -> None:
    """Add `insilico` and its tools to the top-level commands."""
    insilico = commands.add_parser("insilico", help="tools of the in-silico subject").add_subparsers(
        dest="tool", required=True, metavar="TOOL"
    )
    p = insilico.add_parser("train-category-net", help="retrain the ground-truth brain's category network",
                            description="Retrain the fixed category network that the in-silico brain's category regions read "
                            "(the shipped weights came from the defaults; deterministic from --seed).")
    p.add_argument("--out", required=True, help="folder for config.json, model.safetensors and metrics.json")
    p.add_argument("--n-train", type=int, default=24000, help="training images (default 24000)")
    p.add_argument("--n-val", type=int, default=2000, help="validation images (default 2000)")
    p.add_argument("--epochs", type=int, default=8, help="epochs (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.set_defaults(func=cmd_train_category_net)

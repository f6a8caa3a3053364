"""`brainlens convert`: a public dataset, read as released, into a subject store."""

from __future__ import annotations

import argparse
from pathlib import Path

from brainlens.cli._progress import _Bars


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
            out = datasets.convert_hcp_subjects(
                args.root, args.out, run=args.run, frames_per_sample=args.frames_per_sample, progress=bars
            )
        else:
            out = datasets.convert_hcp(
                args.root, args.subject, args.out, run=args.run, frames_per_sample=args.frames_per_sample, progress=bars
            )
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


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `convert` and its datasets to the top-level commands."""
    convert = commands.add_parser("convert", help="convert a public dataset into a subject store",
                                  description="Convert a public dataset, read as released, into a subject store.")
    formats = convert.add_subparsers(dest="dataset", required=True, metavar="DATASET")
    from brainlens.datasets import algonauts, bold5000, god, hcp, nsd

    p = formats.add_parser("nsd", help="Natural Scenes Dataset", description=nsd.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, help="NSD root folder (holding nsddata/, nsddata_betas/, "
                   "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5)")
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
    p.add_argument("--root", required=True, help="folder holding BOLD5000_GLMsingle_ROI_betas/ and BOLD5000_Stimuli/ "
                   "(presentation lists in Stimuli_Presentation_Lists/CSIk/ or Subj0k/)")
    p.add_argument("--subject", type=int, required=True, help="subject 1..4 (CSI1..CSI4)")
    p.add_argument("--out", required=True, help="store file to write")
    p.set_defaults(func=cmd_convert)

    p = formats.add_parser("hcp", help="HCP resting state as packaged for MinD-Vis (fMRI only)", description=hcp.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, help="folder of subject folders, each holding HCP_visual_voxel.npz "
                   "directly (<subject>/HCP_visual_voxel.npz) or in a run folder (<subject>/<run>/HCP_visual_voxel.npz)")
    p.add_argument("--subject", required=True, help="a subject folder's name, or 'all' for every one (then --out is a folder)")
    p.add_argument("--run", default=None,
                   help="the run folder holding the file, e.g. REST1_LR ('' for none); needed only when a subject "
                        "folder holds it in more than one place (default: wherever it is)")
    p.add_argument("--out", required=True, help="store file to write (a folder of hcp_<subject>.h5 with --subject all)")
    p.add_argument("--frames-per-sample", type=int, default=1,
                   help="average this many consecutive frames into one sample (default 1; MinD-Vis uses 10)")
    p.set_defaults(func=cmd_convert)

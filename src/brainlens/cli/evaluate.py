"""`brainlens evaluate`: the reconstruction table for seen images and their reconstructions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from brainlens.cli._progress import _Bars

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
STORE_SUFFIXES = (".h5", ".hdf5")


def _image_files(folder: Path, what: str) -> dict[str, Path]:
    """{file stem: path} of the images in ``folder``; an unusable folder is an error naming it."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{what} folder not found: {folder}")
    files = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            if path.stem in files:
                raise ValueError(f"{what} folder {folder} holds two images named {path.stem!r} ({files[path.stem].name}, {path.name}).")
            files[path.stem] = path
    if not files:
        raise ValueError(f"{what} folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
    return files


def _read_images(paths: list[Path], what: str) -> np.ndarray:
    """The images as one uint8 array (N, H, W, 3); they must share one size."""
    from PIL import Image, UnidentifiedImageError

    images = []
    for path in paths:
        try:
            with Image.open(path) as image:
                images.append(np.asarray(image.convert("RGB")))
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"{what} image {path} cannot be read: {err}") from err
        if images[-1].shape != images[0].shape:
            raise ValueError(f"{what} images must share one size; {paths[0].name} is {images[0].shape[1]}×{images[0].shape[0]} "
                             f"and {path.name} is {images[-1].shape[1]}×{images[-1].shape[0]}.")
    return np.stack(images)


def _match_folders(truth: dict[str, Path], recon: dict[str, Path]) -> list[str]:
    missing = sorted(set(truth) - set(recon))
    extra = sorted(set(recon) - set(truth))
    if extra:
        raise ValueError(f"{len(extra)} reconstruction(s) have no seen image of the same name, e.g. {extra[:3]}; "
                         f"file names (without extension) must match.")
    if missing and len(missing) == len(truth):
        raise ValueError(f"no file name is shared by the two folders (seen images e.g. {sorted(truth)[:3]}).")
    return sorted(set(truth) & set(recon))


def _pairs_from_store(store_path: Path, recon: dict[str, Path]):
    """Seen images from a store's test split, matched to reconstructions named by store image index."""
    from brainlens.store import SPLITS, open_store

    store = open_store(store_path)
    if store.kind != "paired":
        raise ValueError(f"{store_path} is a {store.kind} store: it has no images to compare reconstructions with.")
    indices = {}
    for stem in recon:
        if not stem.isdigit():
            raise ValueError(f"with a store as --truth, reconstructions are named by store image index (e.g. 00042.png); "
                             f"found {stem!r}.")
        indices[stem] = int(stem)
    test = set(np.flatnonzero(store.split == SPLITS["test"]).tolist())
    outside = sorted(stem for stem, index in indices.items() if index not in test)
    if outside:
        raise ValueError(f"{len(outside)} reconstruction(s) are of images outside the store's test split, e.g. {outside[:3]}.")
    names = sorted(recon, key=lambda stem: indices[stem])
    return names, store.images_at(np.array([indices[s] for s in names])), store


def _regions_for_encoder(encoder, store) -> dict[str, np.ndarray] | None:
    """Each store region as a mask over the encoder's outputs (its ``voxel_index`` into the store)."""
    if store is None:
        return None
    voxel_index = encoder.voxel_index.cpu().numpy()
    regions = {}
    for name in store.region_names():
        mask = np.isin(voxel_index, store.region_voxels(name))
        if mask.sum() >= 2:
            regions[name] = mask
    return regions


def _parse_weights(items: list[str] | None) -> dict[str, str]:
    weights = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--weights takes NETWORK=PATH (e.g. alexnet=~/alexnet-owt-7be5be79.pth); got {item!r}.")
        weights[name] = str(Path(path).expanduser())
    return weights


def cmd_evaluate(args: argparse.Namespace) -> int:
    from brainlens._io import write_json
    from brainlens.evaluation.reconstruction import reconstruction_table
    from brainlens.report import draw_reconstruction_table, reconstruction_rows

    truth_path, recon_dir, out = Path(args.truth), Path(args.recon), Path(args.out)
    if args.subject is not None and args.encoder:
        raise ValueError("give --subject (in-silico ground truth) or --encoder (a fitted encoder), not both.")
    recon_files = _image_files(recon_dir, "reconstruction")
    store = None
    if truth_path.suffix.lower() in STORE_SUFFIXES:
        names, truth, store = _pairs_from_store(truth_path, recon_files)
    else:
        truth_files = _image_files(truth_path, "seen-image")
        names = _match_folders(truth_files, recon_files)
        truth = _read_images([truth_files[n] for n in names], "seen")
    recon = _read_images([recon_files[n] for n in names], "reconstruction")

    brain, regions = None, None
    if args.subject is not None:
        from brainlens.evaluation.insilico import subject

        brain = subject(args.subject)
    elif args.encoder:
        from brainlens.encoding.encoder import load_encoder

        brain = load_encoder(args.encoder, device=args.device)
        regions = _regions_for_encoder(brain, store)

    pairwise = {"auto": "auto", "yes": True, "no": False}[args.pairwise]
    networks = args.networks if args.networks in ("auto", "offline") else [n.strip() for n in args.networks.split(",")]
    bars = _Bars(quiet=args.quiet)
    try:
        table = reconstruction_table(truth, recon, networks=networks, weights=_parse_weights(args.weights),
                                     pairwise=pairwise, brain=brain, regions=regions, device=args.device,
                                     batch_size=args.batch_size, progress=bars)
    finally:
        bars.close()
    table["truth"], table["recon"], table["names"] = str(truth_path), str(recon_dir), names
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", {key: value for key, value in vars(args).items() if key != "func"})
    write_json(out / "metrics.json", table)
    draw_reconstruction_table(table, out / "table.png", f"{len(names)} reconstructions of {truth_path.name} ({recon_dir})")
    rows = reconstruction_rows(table)
    width = max(len(r[0]) for r in rows)
    for metric, value, _ in rows:
        print(f"  {metric:<{width}}  {value}")
    for name, reason in table["unavailable"].items():
        print(f"  (no {name}: {reason.splitlines()[0][:160]})", file=sys.stderr)
    print(f"saved {out / 'metrics.json'} and {out / 'table.png'}")
    return 0


def add_commands(commands) -> None:
    p = commands.add_parser(
        "evaluate",
        help="score reconstructions against the seen images: MindEye's table, MinD-Vis's pair-wise rows, brain fidelity",
        description="Score reconstructions against the seen images with MindEye's table (PixCorr, SSIM, 2-way "
        "identification with AlexNet(2/5), InceptionV3 and CLIP, EffNet-B and SwAV distances) and MinD-Vis's 50-way "
        "top-1 with its ViT-H/14 ImageNet classifier where the networks' files are present, the offline rows of the "
        "shipped in-silico convnet and embedder (named as such), "
        "MinD-Vis's pair-wise identification on pixels, and with --subject or --encoder, brain-space fidelity. "
        "Writes OUT/metrics.json, OUT/table.png and OUT/config.json.",
    )
    p.add_argument("--truth", required=True,
                   help="folder of seen images, or a store (.h5) whose test-split images were reconstructed")
    p.add_argument("--recon", required=True,
                   help="folder of reconstructions, named as the seen images (any image extension), or by store image "
                   "index (00042.png) when --truth is a store")
    p.add_argument("--out", required=True, help="folder for metrics.json, table.png and config.json")
    p.add_argument("--networks", default="auto",
                   help="'auto' (default: the published networks whose files are present, and the offline ones), "
                   "'offline', or a comma-separated list of alexnet, inception, clip, effnet, swav, vit-h-14, "
                   "insilico-convnet, insilico-embedder (a listed network whose file is missing is an error)")
    p.add_argument("--weights", action="append", metavar="NETWORK=PATH",
                   help="where a network's file is, if not in torch.hub's checkpoints folder or the Hugging Face cache "
                   "(repeatable), e.g. swav=~/swav_800ep_pretrain.pth.tar or vit-h-14=~/vit_h_14_swag-80465313.pth")
    p.add_argument("--subject", type=int, help="add brain fidelity judged by in-silico subject K's ground truth")
    p.add_argument("--encoder", help="add brain fidelity judged by this fitted encoder folder (real data)")
    p.add_argument("--pairwise", choices=("auto", "yes", "no"), default="auto",
                   help="MinD-Vis's pair-wise identification on pixels compares all N² pairs: 'auto' (default) runs it up "
                   "to 300 pairs")
    p.add_argument("--device", default="cpu", help="torch device for the networks (default cpu)")
    p.add_argument("--batch-size", type=int, default=32, help="images per network batch (default 32)")
    p.set_defaults(func=cmd_evaluate)


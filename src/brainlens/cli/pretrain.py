"""`brainlens pretrain`: representation learning on unlabelled fMRI (masked brain modelling)."""

from __future__ import annotations

import argparse

from brainlens.cli._progress import _Bars
from brainlens.cli.decode import _model_settings


def cmd_pretrain_mbm(args: argparse.Namespace) -> int:
    from brainlens.decoding.mbm import PretrainConfig, pretrain_mbm, score_encoder
    from brainlens.decoding.mbm.mae import MINDVIS_SIZES

    train = PretrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                           mixed_precision=args.mixed_precision)
    model_config = _model_settings(args.set)
    if args.mindvis_size:
        model_config = {**MINDVIS_SIZES, **model_config}
    bars = _Bars(quiet=args.quiet)
    try:
        metrics = pretrain_mbm(args.stores, args.out, objective=args.objective, model_config=model_config, train=train,
                               patch_size=args.patch_size, leak_test_split=args.leak_test_split, resume=args.resume,
                               device=args.device, progress=bars)
    finally:
        bars.close()
    if args.held_out or args.probe:
        metrics = score_encoder(args.out, held_out=args.held_out or [], probe=args.probe, device=args.device)
    print(f"saved {args.out}: {args.objective}, {metrics['n_train']} samples, padded length {metrics['length']}, "
          f"{metrics['seconds']:.0f} s")
    print("  masked-patch MSE against predicting zero (normalised betas):")
    for name, score in metrics["validation"].items():
        print(f"    {name} (held-out samples): {score['masked_mse']:.4f} / {score['zero_mse']:.4f} = {score['ratio']:.3f}")
    for path, scores in metrics.get("held_out", {}).items():
        for kind, score in scores.items():
            print(f"    {path} (held-out subject, test split, {kind.replace('_', ' ')}): {score['masked_mse']:.4f} / "
                  f"{score['zero_mse']:.4f} = {score['ratio']:.3f}")
    if "probe" in metrics:
        _print_probe(metrics["probe"])
    return 0


def _print_probe(probe: dict) -> None:
    print(f"  linear probe of {probe['store']} ({probe['n_train']} training images → {probe['target']}), "
          f"{probe['n_way']}-way identification on {probe['n_test']} test images (chance {1 / probe['n_way']:.3f}):")
    for name in ("raw_voxels", "encoder", "encoder_tokens"):
        if name in probe:
            low, high = probe[name]["image_top1_ci95"]
            print(f"    {name.replace('_', ' ')}: {probe[name]['image_top1']:.3f} ({low:.3f}–{high:.3f}), "
                  f"{probe[name]['n_features']} features")


def cmd_pretrain_cross_modal(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from brainlens.decoding.mbm import CrossModalConfig, pretrain_cross_modal, score_encoder
    from brainlens.decoding.mbm.cross_modal import PHASE2_TRAINING

    config = CrossModalConfig(image_mae=args.image_mae, cross_layers=args.cross_layers)
    train = replace(PHASE2_TRAINING, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                    mixed_precision=args.mixed_precision)
    bars = _Bars(quiet=args.quiet)
    try:
        metrics = pretrain_cross_modal(args.encoder, args.store, args.out, config=config, train=train, n_images=args.n_images,
                                       resume=args.resume, device=args.device, progress=bars)
    finally:
        bars.close()
    if args.probe:
        metrics = score_encoder(args.out, probe=args.probe, device=args.device)
    score = next(iter(metrics["validation"].values()))
    last = metrics["history"][-1]
    print(f"saved {args.out}: tuned on {metrics['n_train']} training trials with {args.image_mae}, {metrics['seconds']:.0f} s")
    print(f"  last epoch: fMRI masked MSE {last['fmri_mse']:.4f}, image masked MSE {last['image_mse']:.4f}")
    print(f"  validation trials, masked-patch MSE against predicting zero (no image): {score['masked_mse']:.4f} / "
          f"{score['zero_mse']:.4f} = {score['ratio']:.3f}")
    if "probe" in metrics:
        _print_probe(metrics["probe"])
    return 0


def cmd_pretrain_probe(args: argparse.Namespace) -> int:
    from brainlens._io import write_json
    from brainlens.decoding.mbm import linear_probe

    probe = linear_probe(args.store, encoder=args.encoder, n_train=args.n_train, n_way=args.n_way, device=args.device)
    if args.out:
        write_json(args.out, probe)
    _print_probe(probe)
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("pretrain", help="learn an fMRI representation from unlabelled fMRI (masked brain modelling)")
    tools = group.add_subparsers(dest="pretrain_command", required=True, metavar="TOOL")
    p = tools.add_parser(
        "mbm", help="pretrain a masked brain model (MinD-Vis's SC-MBM or CAD's double-contrastive MAE)",
        description="Cuts each subject's voxel vector (wrap-padded to a common length) into 1-D patches, hides 75 %% of "
        "them and learns to fill them in. Reads fMRI-only stores (brainlens convert hcp, brainlens simulate --fmri-only) "
        "and the single trials of paired stores' training and validation images, one subject per store. Writes "
        "OUT/config.json, OUT/model.safetensors and OUT/metrics.json (masked-patch MSE against predicting zero).")
    p.add_argument("--stores", required=True, nargs="+", help="subject stores (HDF5), each one subject, named by file name")
    p.add_argument("--objective", choices=("sc-mbm", "dc-mae"), default="sc-mbm",
                   help="sc-mbm: MinD-Vis's masked-patch MSE (default); dc-mae: CAD phase 1, plus two InfoNCE terms")
    p.add_argument("--out", required=True, help="folder to write")
    p.add_argument("--held-out", nargs="+", metavar="STORE",
                   help="paired stores of subjects left out of pretraining: their test split's masked-patch error is added "
                   "to metrics.json")
    p.add_argument("--probe", metavar="STORE",
                   help="paired store of the subject to decode: the linear probe of the pretrained encoder and of the raw "
                   "voxels (see `brainlens pretrain probe`) is added to metrics.json")
    p.add_argument("--epochs", type=int, default=3, help="passes over the corpus (default 3; MinD-Vis: 500)")
    p.add_argument("--batch-size", type=int, default=100, help="batch size (default 100, as MinD-Vis)")
    p.add_argument("--lr", type=float, default=2.5e-4, help="peak learning rate (default 2.5e-4, as MinD-Vis)")
    p.add_argument("--patch-size", type=int, default=16, help="voxels per patch (default 16, as MinD-Vis)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="model size setting, e.g. width=1024, depth=24, mask_ratio=0.75 (repeatable)")
    p.add_argument("--mindvis-size", action="store_true",
                   help="MinD-Vis's sizes: 1024 wide, 24 deep, 16 heads; decoder 512 wide, 8 deep")
    p.add_argument("--leak-test-split", action="store_true",
                   help="also train on the paired stores' test-split trials (MinD-Vis's stage A2 did; a decoder scored on "
                   "those trials afterwards has seen them)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), default="no",
                   help="accelerate's mixed precision (fp16 needs a GPU; default no)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt after an interruption")
    p.set_defaults(func=cmd_pretrain_mbm)

    p = tools.add_parser(
        "cross-modal", help="CAD phase 2: tune a pretrained masked brain model with an image MAE on paired data",
        description="The fMRI MAE (from brainlens pretrain mbm) and an image MAE (a transformers ViT-MAE; its encoder "
        "frozen) each get cross-attention blocks reading the other modality: masked fMRI (0.75) is filled in while "
        "attending to the whole image, a masked image (0.5) while attending to the whole fMRI latent; loss 0.25 x fMRI "
        "+ 1.5 x image. Reads the store's training trials with their images and scores its validation trials; never "
        "its test split. OUT is an ordinary masked brain model folder (the cross-attention blocks are dropped).")
    p.add_argument("--encoder", required=True, help="pretrained masked brain model folder (brainlens pretrain mbm)")
    p.add_argument("--store", required=True, help="paired store of the subject to decode")
    p.add_argument("--out", required=True, help="folder to write")
    p.add_argument("--image-mae", default="image-mae",
                   help="the image MAE: shipped name, ViT-MAE folder or hub id (default image-mae, trained on in-silico "
                   "images; CAD used facebook/vit-mae-base)")
    p.add_argument("--cross-layers", type=int, default=3, help="cross-attention blocks each way (default 3, as CAD)")
    p.add_argument("--n-images", type=int, help="tune on the trials of the first N training images only (e.g. 1200, GOD's "
                   "size; default all)")
    p.add_argument("--probe", metavar="STORE", help="paired store: add the linear probe (brainlens pretrain probe) to metrics.json")
    p.add_argument("--epochs", type=int, default=15, help="epochs (default 15, as CAD)")
    p.add_argument("--batch-size", type=int, default=16, help="batch size (default 16, as CAD on GOD)")
    p.add_argument("--lr", type=float, default=5.3e-5, help="peak learning rate (default 5.3e-5, as CAD)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), default="no",
                   help="accelerate's mixed precision (fp16 needs a GPU; default no)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt after an interruption")
    p.set_defaults(func=cmd_pretrain_cross_modal)

    p = tools.add_parser(
        "probe", help="linear probe: what a pretrained encoder's tokens tell about the seen images, beside the raw voxels",
        description="Ridge regression from a subject's brain features to the image embedding of what it saw (the shipped "
        "embedder's), fitted on the first N_TRAIN training images (repeats averaged; default 1,200, GOD's size), its "
        "penalty chosen on the validation split, scored by N_WAY identification on the test split. Runs on the raw "
        "voxels and, with --encoder, on the frozen encoder's pooled tokens.")
    p.add_argument("--store", required=True, help="paired store of the subject")
    p.add_argument("--encoder", help="pretrained masked brain model folder (brainlens pretrain mbm); without it, raw voxels only")
    p.add_argument("--n-train", type=int, default=1200, help="training images the probe is fitted on (default 1200)")
    p.add_argument("--n-way", type=int, default=50, help="candidates per identification (default 50)")
    p.add_argument("--out", help="JSON file to write the figures to")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.set_defaults(func=cmd_pretrain_probe)

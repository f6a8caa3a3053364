"""What a pretrained fMRI encoder gives a decoder with little paired data: a linear probe.

The probe is ridge regression from a subject's brain features to the image embedding of the images it saw
(the shipped embedder's final embedding in-silico, any :data:`brainlens.decoding.targets.TARGETS` space
otherwise), fitted on the first ``n_train`` training images (1,200 by default: GOD's size), its penalty chosen
by identification on the validation split, and scored by ``n_way`` identification (50: GOD's test set) on the
test split. Each image's repeats are averaged.

The same probe runs on the raw voxels, on the frozen encoder's pooled tokens (the mean of its patch tokens,
nothing masked) and on all its patch tokens in a row (what a diffusion model's cross-attention reads), so every
pretrained encoder is reported beside what the voxels give on their own. Voxels are
normalised as the encoder saw the subject; a subject it never saw is normalised by its own training betas.

``score_encoder`` adds both kinds of figures to an encoder folder's ``metrics.json``: the masked-patch error on
subjects held out of pretraining, and the probe.

>>> linear_probe("sub1.h5", encoder="mbm/")["encoder"]["image_top1"]
>>> score_encoder("mbm/", held_out=["sub1.h5"], probe="sub1.h5")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from brainlens._io import write_json
from brainlens.decoding.data import check_finite_betas, open_paired
from brainlens.decoding.mbm.data import subject_normalisation
from brainlens.decoding.mbm.mae import MaskedBrainModel
from brainlens.decoding.mbm.pretrain import encode_voxels, load_mbm, masked_patch_error
from brainlens.decoding.ridge import RIDGE_ALPHAS, RidgePath
from brainlens.decoding.targets import compute_targets, target_space
from brainlens.identification import retrieval_top1
from brainlens.store import load_split

__all__ = ["encoder_features", "linear_probe", "score_encoder"]


def encoder_features(model: MaskedBrainModel, voxels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised voxels (n, V) → the frozen encoder's patch tokens, nothing masked: (averaged (n, width),
    all of them in a row (n, n_patches · width), what a diffusion model's cross-attention would read)."""
    tokens = encode_voxels(model, voxels)[:, 1:]  # (n, n_patches, width)
    return tokens.mean(1), tokens.reshape(len(tokens), -1)


def _fit_and_score(features: dict[str, np.ndarray], targets: dict[str, np.ndarray], n_way: int, seed: int) -> dict:
    """Ridge from features (n, F) to targets (n, K) on "train", its penalty chosen on "val", scored on "test"."""
    path = RidgePath(torch.from_numpy(features["train"].astype(np.float64)))
    n_val = len(targets["val"])

    def identification(prediction: np.ndarray) -> float:
        return retrieval_top1(prediction, targets["val"], n=min(n_way, n_val), trials=30, seed=seed)["image_top1"]

    weight, bias, best, scores = path.best(targets["train"], torch.from_numpy(features["val"].astype(np.float64)),
                                           identification, RIDGE_ALPHAS)
    centred = torch.from_numpy(features["test"].astype(np.float64)) - path.x_mean
    prediction = (centred @ weight + bias).numpy()
    result = retrieval_top1(prediction, targets["test"], n=n_way, trials=30, seed=seed)
    return {"image_top1": round(result["image_top1"], 4), "brain_top1": round(result["brain_top1"], 4),
            "image_top1_ci95": [round(v, 4) for v in result["image_top1_ci95"]], "alpha": RIDGE_ALPHAS[best],
            "val_image_top1": [round(v, 4) for v in scores], "n_features": int(features["train"].shape[1])}


def linear_probe(store: str | Path, *, encoder: str | Path | None = None, n_train: int = 1200, n_way: int = 50,
                 target: str = "clip-final", target_source: str | None = "embedder", seed: int = 0,
                 device="cpu") -> dict:
    """Probe ``store``'s subject (a paired store) from its raw voxels and, with ``encoder`` (a folder from
    :func:`brainlens.decoding.mbm.pretrain_mbm`), from the encoder's pooled tokens.

    Returns ``{"raw_voxels": {...}, "encoder": {...}, "n_train", "n_val", "n_test", "n_way", "target"}``, each
    probe with its test ``image_top1`` (the probe's embedding picks its own image among ``n_way``),
    ``brain_top1``, the chosen penalty and the validation score of each penalty."""
    if isinstance(n_train, bool) or not isinstance(n_train, int) or n_train < 2:
        raise ValueError(f"n_train must be an integer of at least 2; {n_train!r} was provided.")
    model, config = load_mbm(encoder) if encoder is not None else (None, None)
    space = target_space(target, target_source, device=device)
    betas, targets = {}, {}
    with open_paired(store) as opened:
        for split in ("train", "val", "test"):
            data = load_split(opened, split)
            keep = slice(0, n_train) if split == "train" else slice(None)
            images = data.image_index[keep]
            if split == "train" and len(images) < n_train:
                raise ValueError(f"n_train is {n_train}, but {store} has {len(images)} training images.")
            check_finite_betas(data.betas[keep], opened, f"the {split} split")
            betas[split] = data.betas[keep]
            targets[split] = compute_targets(space, opened.images_at(images), device=device).reshape(len(images), -1)
    if not 2 <= n_way <= len(targets["test"]):
        raise ValueError(f"n_way must be between 2 and the {len(targets['test'])} test images of {store}; {n_way!r} was provided.")
    mean, std = subject_normalisation(config, Path(store).stem, betas["train"].shape[1], lambda: betas["train"])
    voxels = {split: ((values - mean) / std).astype(np.float32) for split, values in betas.items()}
    result = {"store": str(store), "n_train": n_train, "n_val": len(targets["val"]), "n_test": len(targets["test"]),
              "n_way": n_way, "target": f"{space.name} of {space.source}",
              "raw_voxels": _fit_and_score(voxels, targets, n_way, seed)}
    if model is not None:
        if voxels["train"].shape[1] > model.config.length:
            raise ValueError(f"{store} has {voxels['train'].shape[1]} voxels, more than the encoder's length of "
                             f"{model.config.length}.")
        features = {split: encoder_features(model, values) for split, values in voxels.items()}
        pooled, tokens = ({split: pair[k] for split, pair in features.items()} for k in (0, 1))
        result["encoder"] = {"folder": str(encoder), **_fit_and_score(pooled, targets, n_way, seed)}
        result["encoder_tokens"] = {"folder": str(encoder), **_fit_and_score(tokens, targets, n_way, seed)}
    return result


def score_encoder(folder: str | Path, *, held_out: list[str | Path] = (), probe: str | Path | None = None,
                  n_train: int = 1200, n_way: int = 50, device="cpu") -> dict:
    """Add to ``folder/metrics.json`` the test-split masked-patch error of each ``held_out`` paired store
    (``"held_out"``, on single trials and on each image's repeats averaged) and the :func:`linear_probe` of the
    ``probe`` store (``"probe"``); returns the metrics."""
    import json

    path = Path(folder) / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"no metrics.json in {folder}: not a finished masked brain model folder.")
    metrics = json.loads(path.read_text())
    if held_out:
        metrics["held_out"] = {str(store): {"single_trials": masked_patch_error(folder, store),
                                            "repeats_averaged": masked_patch_error(folder, store, average_repeats=True)}
                               for store in held_out}
    if probe is not None:
        metrics["probe"] = linear_probe(probe, encoder=folder, n_train=n_train, n_way=n_way, device=device)
    write_json(path, metrics)
    return metrics

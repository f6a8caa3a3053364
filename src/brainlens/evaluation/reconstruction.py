"""The reconstruction table: every metric of MindEye's table that can run here, MinD-Vis's pair-wise rows,
and, given a brain, brain-space fidelity, for N pairs of seen images and reconstructions.

>>> table = reconstruction_table(truth, recon)                  # offline rows only where no network files exist
>>> table["pixcorr"], table["ssim"], table["insilico_embedder"]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from brainlens.evaluation.brain import brain_correlation
from brainlens.evaluation.features import (
    NETWORKS,
    OFFLINE_NETWORKS,
    PUBLISHED_NETWORKS,
    ROWS,
    Row,
    extract_features,
    load_feature_network,
)
from brainlens.evaluation.image import (
    PAIRWISE_METRICS,
    as_float_images,
    feature_distance,
    pairwise_identification,
    pixcorr,
    ssim,
)
from brainlens.evaluation.semantic import fine_class_n_way
from brainlens.identification import n_way_top1, two_way_identification

__all__ = ["reconstruction_table", "resolve_networks", "PAIRWISE_AUTO_MAX", "SSIM_KIND", "TABLE_ORDER"]

SSIM_KIND = "MindEye's: 425 px, grayscale (rgb2gray), Gaussian window σ 1.5, data range 1"
PAIRWISE_NOTE = ("MinD-Vis's pair-wise identification on pixels at the truth's size (chance 0.5); ssim_rgb is its RGB "
                 "SSIM (7 × 7 window, data range of the truth's 0–255 values), not MindEye's")
# MinD-Vis's pair-wise rows compare every reconstruction with every truth (N² SSIMs); "auto" runs them up to
# this many pairs (GOD's 50 and BOLD5000's 113 test images, not NSD's 982)
PAIRWISE_AUTO_MAX = 300
# MinD-Vis's semantic row, offline: the shipped embedder's zero-shot classifier over the in-silico fine classes
FINE_CLASS_ROW = Row("insilico_fine_50way", "50-way top-1", "n_way",
                     "brainlens in-silico embedder (shipped), zero-shot over the 63 in-silico fine classes, 1000 trials: "
                     "an offline stand-in for MinD-Vis's ImageNet classifier (chance 2 %)")
# the table's column order: MindEye's, then the offline rows
TABLE_ORDER = ("pixcorr", "ssim", *ROWS, FINE_CLASS_ROW.key)


def resolve_networks(networks: str | Sequence[str]) -> tuple[list[str], bool]:
    """``"auto"`` → (every network, True: skip published ones whose files are missing); a list → (those, False).

    Unknown names raise ValueError listing the known ones.
    """
    if isinstance(networks, str):
        if networks == "auto":
            return [*PUBLISHED_NETWORKS, *OFFLINE_NETWORKS], True
        if networks == "offline":
            return list(OFFLINE_NETWORKS), False
        networks = [networks]
    unknown = [name for name in networks if name not in NETWORKS]
    if unknown:
        raise ValueError(f"unknown feature network {unknown[0]!r}; known: {sorted(NETWORKS)}, or 'auto' / 'offline'")
    return list(dict.fromkeys(networks)), False


def reconstruction_table(
    truth,
    recon,
    *,
    networks: str | Sequence[str] = "auto",
    weights: Mapping[str, str | Path] | None = None,
    pairwise: bool | str = "auto",
    brain=None,
    regions: Mapping[str, np.ndarray] | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 32,
    progress: Callable[[str, int], None] | None = None,
) -> dict:
    """All metrics of N (seen image, reconstruction) pairs.

    truth, recon: uint8 (N, H, W, 3) or float (N, 3, H, W) in [0, 1]; the pairs match by position.
    networks: ``"auto"`` (the published networks whose files are present, and the offline ones), ``"offline"``,
    or names from :data:`~brainlens.evaluation.features.NETWORKS` (a missing file is then an error).
    pairwise: MinD-Vis's pair-wise rows: True, False, or ``"auto"`` (up to :data:`PAIRWISE_AUTO_MAX` pairs).
    weights: network name → file or folder, where not in the default place. brain: the in-silico subject
    or an encoder, for brain fidelity (with optional ``regions``).

    Returns ``pixcorr``, ``ssim`` (with ``ssim_kind``), one value per feature row (2-way identification,
    or correlation distance for ``effnet`` and ``swav``), with the offline embedder also MinD-Vis's 50-way top-1
    over the in-silico fine classes (``insilico_fine_50way``), ``rows`` (row key → the network in words, its
    kind), ``unavailable`` (network → why it was skipped), ``pairwise`` (MinD-Vis's), ``brain`` (when given),
    ``n_pairs``, and ``seconds`` per stage.
    """
    truth, recon = as_float_images(truth, "truth"), as_float_images(recon, "recon")
    if len(truth) != len(recon):
        raise ValueError(f"truth and recon must hold the same number of images; got {len(truth)} and {len(recon)}.")
    if len(truth) < 2:
        raise ValueError(f"the table needs at least 2 pairs (identification compares each with the others); got {len(truth)}.")
    if pairwise not in (True, False, "auto"):
        raise ValueError(f"pairwise must be True, False or 'auto'; {pairwise!r} was provided.")
    names, skip_missing = resolve_networks(networks)
    weights = dict(weights or {})
    unknown = [name for name in weights if name not in NETWORKS]
    if unknown:
        raise ValueError(f"weights given for unknown network {unknown[0]!r}; known: {sorted(NETWORKS)}")
    seconds: dict[str, float] = {}
    table: dict = {"n_pairs": len(truth)}

    def timed(stage: str, compute):
        started = time.perf_counter()
        value = compute()
        seconds[stage] = round(time.perf_counter() - started, 3)
        return value

    table["pixcorr"] = timed("pixcorr", lambda: pixcorr(truth, recon))
    table["ssim"] = timed("ssim", lambda: ssim(truth, recon))
    table["ssim_kind"] = SSIM_KIND
    if progress is not None:
        progress("pixels", len(truth))

    rows, unavailable = {}, {}
    for name in names:
        started = time.perf_counter()
        try:
            network = load_feature_network(name, weights.get(name), device)
        except FileNotFoundError as err:
            if not skip_missing or name in OFFLINE_NETWORKS:
                raise
            unavailable[name] = str(err)
            continue
        tick = None if progress is None else (lambda k, stage=name: progress(stage, k))
        truth_features = extract_features(network, truth, batch_size=batch_size, progress=tick)
        recon_features = extract_features(network, recon, batch_size=batch_size, progress=tick)
        for key in network.rows:
            row = ROWS[key]
            if row.kind == "n_way":  # the features are class probabilities; the seen image's argmax is its class
                table[key] = n_way_top1(recon_features[key], truth_features[key].argmax(1))["mean"]
            else:
                score = two_way_identification if row.kind == "identification" else feature_distance
                table[key] = score(truth_features[key], recon_features[key])
            rows[key] = {"title": row.title, "kind": row.kind, "network": row.network}
        seconds[name] = round(time.perf_counter() - started, 3)
    if "insilico-embedder" in names:
        semantic = timed("insilico_fine_50way", lambda: fine_class_n_way(truth, recon, batch_size=batch_size))
        table[FINE_CLASS_ROW.key] = semantic["mean"]
        rows[FINE_CLASS_ROW.key] = {"title": FINE_CLASS_ROW.title, "kind": FINE_CLASS_ROW.kind, "network": FINE_CLASS_ROW.network}
    table["rows"] = rows
    table["unavailable"] = unavailable

    if pairwise == "auto" and len(truth) > PAIRWISE_AUTO_MAX:
        unavailable["pairwise"] = (f"{len(truth)} pairs: pair-wise identification compares all {len(truth)}² pairs and runs by "
                                   f"default up to {PAIRWISE_AUTO_MAX}; ask for it explicitly (pairwise=True, --pairwise yes)")
    elif pairwise:
        table["pairwise"] = {metric: timed(f"pairwise_{metric}", lambda m=metric: pairwise_identification(truth, recon, m))
                             for metric in PAIRWISE_METRICS}
        table["pairwise"]["note"] = PAIRWISE_NOTE
    if brain is not None:
        tick = None if progress is None else (lambda k: progress("brain", k))
        fidelity = timed("brain", lambda: brain_correlation(brain, truth, recon, regions=regions, batch_size=batch_size, progress=tick))
        fidelity["correlation_per_image"] = [round(float(v), 6) for v in fidelity["correlation_per_image"]]
        table["brain"] = fidelity
    table["seconds"] = seconds
    return table

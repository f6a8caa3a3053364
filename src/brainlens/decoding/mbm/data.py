"""The fMRI that masked brain modelling learns from: many subjects at once, each with its own voxel count.

Each store gives one subject's samples, one voxel vector per row: every row of an fMRI-only store (HCP's, or
``brainlens simulate --fmri-only``), and the single trials of a paired store's training and validation images.
A paired store's test images are left out unless ``leak_test_split`` is set: MinD-Vis's stage A2 tuned on the
target subject's test fMRI, and a number reached that way is not a decoding result.

As MinD-Vis, each subject is normalised by one mean and one standard deviation over all its samples, and each
vector is wrap-padded (its first voxels repeated after its last) to a common length, a multiple of the patch
size. A random ``val_fraction`` of each subject's samples is kept out of training to follow the masked-patch
error on unseen samples.

>>> corpus = load_corpus(["hcp_100307.h5", "sub2.h5"], patch_size=16)
>>> corpus.length, [s.name for s in corpus.subjects]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainlens.decoding.data import check_finite_betas
from brainlens.store import SPLITS, StoreError, open_store

__all__ = ["SubjectSamples", "Corpus", "load_corpus", "store_samples", "normalise", "wrap_pad", "padded_length"]


@dataclass
class SubjectSamples:
    name: str  # the store's file name without its extension
    store: str
    kind: str  # "fmri-only" or "paired"
    n_voxels: int
    mean: float  # the subject's normalisation
    std: float
    train: np.ndarray  # (n_train, n_voxels) float32, normalised, unpadded
    val: np.ndarray  # (n_val, n_voxels)


@dataclass
class Corpus:
    subjects: list[SubjectSamples]
    length: int  # the padded length, a multiple of patch_size
    patch_size: int

    @property
    def n_train(self) -> int:
        return sum(len(s.train) for s in self.subjects)

    def describe(self) -> dict:
        return {"length": self.length, "patch_size": self.patch_size, "subjects": [
            {"name": s.name, "store": s.store, "kind": s.kind, "n_voxels": s.n_voxels, "n_train": len(s.train),
             "n_val": len(s.val), "mean": s.mean, "std": s.std} for s in self.subjects]}


def padded_length(n_voxels: int, patch_size: int) -> int:
    """The smallest multiple of ``patch_size`` that holds ``n_voxels``."""
    return math.ceil(n_voxels / patch_size) * patch_size


def wrap_pad(voxels: np.ndarray, length: int) -> np.ndarray:
    """(n, V) → (n, length): the vector repeated from its start to fill the length, as MinD-Vis pads."""
    n_voxels = voxels.shape[1]
    if n_voxels > length:
        raise ValueError(f"{n_voxels} voxels do not fit the model's length of {length}.")
    return np.pad(voxels, ((0, 0), (0, length - n_voxels)), mode="wrap") if length > n_voxels else voxels


def normalise(voxels: np.ndarray) -> tuple[np.ndarray, float, float]:
    """One mean and one standard deviation over all of a subject's samples (MinD-Vis): → (normalised, mean, std)."""
    mean, std = float(voxels.mean(dtype=np.float64)), float(voxels.std(dtype=np.float64))
    if not std > 0:
        raise ValueError(f"the samples have no variance (std {std}); nothing to learn from them.")
    return ((voxels - mean) / std).astype(np.float32), mean, std


def subject_normalisation(encoder_config: dict | None, name: str, n_voxels: int,
                          fallback: Callable[[], np.ndarray]) -> tuple[float, float]:
    """A subject's mean and std as a pretrained encoder's corpus saw it (matched by store name and voxel count),
    else those of ``fallback()``'s samples (n, V): the subject's own, for a subject pretraining never saw."""
    subjects = encoder_config["corpus"]["subjects"] if encoder_config is not None else []
    known = {s["name"]: s for s in subjects}.get(name)
    if known is not None and known["n_voxels"] == n_voxels:
        return known["mean"], known["std"]
    _, mean, std = normalise(fallback())
    return mean, std


def store_samples(path: str | Path, *, leak_test_split: bool = False, test_split: bool = False,
                  average_repeats: bool = False) -> tuple[np.ndarray, str]:
    """One store's samples, unnormalised: → ((n, V) float32, the store's kind). By default those masked brain
    modelling learns from; with ``test_split`` only a paired store's test trials (to score on), each image's
    repeats averaged with ``average_repeats``."""
    with open_store(path) as store:
        kind = store.kind
        rows = np.arange(store.n_trials)
        if test_split:
            if kind != "paired":
                raise StoreError(store.path, "split", f"missing: a {kind} store has no test split to score on")
            rows = rows[store.split[store.trial_image] == SPLITS["test"]]
            if len(rows) == 0:
                raise StoreError(store.path, "split", "has no test images to score on")
        elif kind == "paired" and not leak_test_split:
            rows = rows[store.split[store.trial_image] != SPLITS["test"]]
            if len(rows) == 0:
                raise StoreError(store.path, "betas", "no samples outside the test split")
        samples = store.betas_at(rows).astype(np.float32)
        check_finite_betas(samples, store, "the samples")
        if average_repeats and kind == "paired":
            _, group = np.unique(store.trial_image[rows], return_inverse=True)
            sums = np.zeros((group.max() + 1, samples.shape[1]), np.float64)
            np.add.at(sums, group, samples)
            samples = (sums / np.bincount(group)[:, None]).astype(np.float32)
        return samples, kind


def load_corpus(stores: list[str | Path], *, patch_size: int = 16, length: int | None = None, val_fraction: float = 0.05,
                leak_test_split: bool = False, seed: int = 0) -> Corpus:
    """Every store's samples, normalised per subject; ``length`` (default: the largest voxel count, rounded up
    to the patch size) is what every vector is padded to."""
    if not stores:
        raise ValueError("masked brain modelling needs at least one store.")
    if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size < 1:
        raise ValueError(f"patch_size must be a positive integer; {patch_size!r} was provided.")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1); {val_fraction!r} was provided.")
    names = [Path(p).stem for p in stores]
    if len(set(names)) != len(names):
        raise ValueError(f"stores must have distinct file names (they name the subjects); got {[str(p) for p in stores]}")
    rng = np.random.default_rng(seed)
    subjects = []
    for name, path in zip(names, stores):
        samples, kind = store_samples(path, leak_test_split=leak_test_split)
        samples, mean, std = normalise(samples)
        order = rng.permutation(len(samples))
        n_val = int(round(val_fraction * len(samples)))
        subjects.append(SubjectSamples(name, str(path), kind, samples.shape[1], mean, std,
                                       train=samples[np.sort(order[n_val:])], val=samples[np.sort(order[:n_val])]))
    largest = max(s.n_voxels for s in subjects)
    if length is None:
        length = padded_length(largest, patch_size)
    if length % patch_size:
        raise ValueError(f"the patch size {patch_size} does not divide the padded length {length}.")
    for s in subjects:
        if s.n_voxels > length:
            raise ValueError(f"{s.store} has {s.n_voxels} voxels, more than the model's length of {length}.")
    return Corpus(subjects, length, patch_size)

"""The paired data a decoder trains and is scored on: a store's betas by split, and the targets of its images.

Training reads single trials (one of each image's repeats is drawn per epoch, as MindEye samples them); the
validation and test splits are repeat-averaged. The test split is read only by :func:`load_test`, which
training never calls: no training step, learning-rate step or checkpoint choice can see it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainlens.decoding.generator import GeneratorSpace, compute_generator_targets
from brainlens.decoding.targets import TargetSpace, compute_targets
from brainlens.store import Store, StoreError, load_split, open_store

__all__ = ["TrainingData", "EvaluationData", "load_training", "load_test", "open_paired"]


@dataclass
class TrainingData:
    """Train and validation data of one store for one target space."""

    trial_betas: np.ndarray  # (n_train_trials, V) float32, z-scored single trials
    trial_image: np.ndarray  # (n_train_trials,) row into `train_targets` of each trial's image
    train_targets: np.ndarray  # (n_train_images, n_tokens, dim) float32
    train_images: np.ndarray  # (n_train_images,) store image index
    val_betas: np.ndarray  # (n_val_images, V) float32, repeats averaged
    val_targets: np.ndarray  # (n_val_images, n_tokens, dim)
    val_images: np.ndarray  # (n_val_images,)
    # with a generator: its conditioning embeddings (n, 1, D) and VAE latents (n, C, h, w) of the same images
    train_embeddings: np.ndarray | None = None
    train_latents: np.ndarray | None = None
    val_embeddings: np.ndarray | None = None
    val_latents: np.ndarray | None = None

    @property
    def n_voxels(self) -> int:
        return int(self.trial_betas.shape[1])


@dataclass
class EvaluationData:
    """Repeat-averaged betas of one split, its images' indices and targets."""

    betas: np.ndarray  # (n_images, V) float32
    targets: np.ndarray | None  # (n_images, n_tokens, dim) float32; None when not asked for
    images: np.ndarray  # (n_images,) store image index


def open_paired(path: str | Path) -> Store:
    """Open a store that pairs images with betas; an fMRI-only store is refused by name."""
    store = open_store(path)
    kind = store.kind
    if kind != "paired":
        store.close()
        raise StoreError(store.path, "images", f"missing: decoding needs a paired store (this one is {kind})")
    return store


def check_finite_betas(betas: np.ndarray, store: Store, what: str) -> None:
    """A StoreError naming the store, `what` ("the train split") and the first bad row if betas (n, V) hold NaN or inf."""
    bad = ~np.isfinite(betas)
    if bad.any():
        rows = np.flatnonzero(bad.any(1))
        raise StoreError(store.path, "betas", f"{len(rows)} rows of {what} hold NaN or inf (first: row {rows[0]})")


def _targets(store: Store, space: TargetSpace, images: np.ndarray, device, progress) -> np.ndarray:
    return compute_targets(space, store.images_at(images), device=device, progress=progress)


def load_training(path: str | Path, space: TargetSpace, *, generator: GeneratorSpace | None = None,
                  sessions: int | None = None, device="cpu", progress: Callable[[int], None] | None = None) -> TrainingData:
    """The train split's single trials and the validation split's averages, with their images' targets (and,
    with a ``generator``, its conditioning embeddings and VAE latents).

    ``sessions``: keep only the training trials of the first K sessions, in order (MindEye2's fine-tuning on one
    hour of a new subject)."""
    with open_paired(path) as store:
        train = load_split(store, "train", average=False)
        if sessions is not None:
            train = _first_sessions(store, train, sessions)
        val = load_split(store, "val")
        check_finite_betas(train.betas, store, "the train split")
        check_finite_betas(val.betas, store, "the val split")
        train_images, trial_image = np.unique(train.image_index, return_inverse=True)
        data = TrainingData(
            trial_betas=train.betas, trial_image=trial_image,
            train_targets=_targets(store, space, train_images, device, progress), train_images=train_images,
            val_betas=val.betas, val_targets=_targets(store, space, val.image_index, device, progress),
            val_images=val.image_index,
        )
        if generator is not None:
            data.train_embeddings, data.train_latents = compute_generator_targets(
                generator, store.images_at(train_images), device=device, progress=progress)
            data.val_embeddings, data.val_latents = compute_generator_targets(
                generator, store.images_at(val.image_index), device=device, progress=progress)
        return data


def _first_sessions(store: Store, train, sessions: int):
    """The training trials of the store's first ``sessions`` sessions (sorted by session number)."""
    from brainlens.store import SPLITS, SplitData

    available = np.unique(store.trial_session)
    if not isinstance(sessions, (int, np.integer)) or not 1 <= sessions <= len(available):
        raise ValueError(f"sessions must be between 1 and the {len(available)} sessions of {store.path}; {sessions!r} was provided.")
    in_train = np.flatnonzero(np.isin(store.trial_image, np.flatnonzero(store.split == SPLITS["train"])))
    keep = np.isin(store.trial_session[in_train], available[:sessions])
    if not keep.any():
        raise StoreError(store.path, "trial_session", f"the first {sessions} session(s) hold no training trial")
    return SplitData(train.image_index[keep], train.betas[keep], train.n_repeats[keep])


def load_test(path: str | Path, space: TargetSpace | None, *, device="cpu",
              progress: Callable[[int], None] | None = None) -> EvaluationData:
    """The test split, repeats averaged, with its images' targets (none when ``space`` is None): for scoring a
    trained decoder only."""
    with open_paired(path) as store:
        test = load_split(store, "test")
        check_finite_betas(test.betas, store, "the test split")
        targets = None if space is None else _targets(store, space, test.image_index, device, progress)
        return EvaluationData(test.betas, targets, test.image_index)

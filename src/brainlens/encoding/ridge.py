"""Voxelwise ridge regression: one linear encoding model per voxel, one alpha per voxel by K-fold CV."""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np
import torch

from brainlens.encoding._ridge_solvers import RIDGE_CV_METHODS, solve_ridge_cv

__all__ = ["VoxelRidge"]

BACKENDS = ("torch",)
DTYPES = {"float32": torch.float32, "float64": torch.float64}
# 20 log-spaced alphas over nine decades: from almost no shrinkage to predicting the mean
DEFAULT_ALPHAS = tuple(np.logspace(-2, 7, 20).tolist())


class VoxelRidge:
    """Ridge regression from features to voxels, with a per-voxel alpha chosen by cross-validation.

    For each voxel v, minimises ||X b_v - y_v||² + alpha_v ||b_v||² (plus an unpenalised intercept),
    where alpha_v is the candidate with the best validation R², averaged over the folds of ``cv`` on
    the training data only. Each fold's features are eigendecomposed once (on the smaller of their
    two Gram matrices); all alphas and voxels then cost matrix products, and voxels stream through
    in chunks so that working memory is bounded by ``chunk_size``, not by the number of voxels.

    Parameters
    ----------
    alphas : sequence of float, shape (n_alphas,)
        Candidate regularisation strengths, all positive. Default: 20 log-spaced from 1e-2 to 1e7.
    cv : int or splitter
        Number of folds (contiguous K-fold, or group K-fold when ``fit`` gets ``groups``), or an
        object with ``split(X, Y, groups)`` yielding (train, validation) row indices, such as a
        scikit-learn splitter.
    fit_intercept : bool
        Fit a per-voxel intercept (features and responses centred on each training set).
    solver : str
        How validation errors are computed, one of ``RIDGE_CV_METHODS``: "spectral" (default) sums
        over the spectrum without forming predictions; "explicit" forms predictions for each alpha.
        Both give the same result; "explicit" is the plain reference.
    backend : str
        Array library doing the work; "torch".
    device : str
        Torch device, "cpu" or "cuda" (or "cuda:1", ...).
    dtype : str
        "float32" or "float64": precision of the voxel-sized products and of ``coef_``. The
        eigendecompositions and the validation scores are always float64.
    chunk_size : int
        Voxels per chunk. Beyond the inputs, ``coef_`` and the per-fold decompositions (a few
        min(n_samples, n_features)² arrays), working memory is about
        chunk_size × (8 · n_samples + 40 · min(n_samples, n_features)) bytes: 120 MB for 2048 voxels
        with 2400 samples and 1000 features.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features, n_voxels)
    intercept_ : ndarray of shape (n_voxels,); zeros when ``fit_intercept`` is False.
    best_alphas_ : ndarray of shape (n_voxels,), float64
    cv_scores_ : ndarray of shape (n_voxels,), float64
        Validation R² at the chosen alpha, averaged over folds.
    n_features_in_ : int

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 8))
    >>> Y = X @ rng.standard_normal((8, 5)) + rng.standard_normal((100, 5))
    >>> model = VoxelRidge(cv=5).fit(X, Y)
    >>> model.coef_.shape, model.best_alphas_.shape, model.score(X, Y).shape
    ((8, 5), (5,), (5,))
    """

    def __init__(
        self,
        alphas=DEFAULT_ALPHAS,
        cv=5,
        fit_intercept: bool = True,
        solver: str = "spectral",
        backend: str = "torch",
        device: str = "cpu",
        dtype: str = "float32",
        chunk_size: int = 2048,
    ):
        self.alphas = alphas
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.backend = backend
        self.device = device
        self.dtype = dtype
        self.chunk_size = chunk_size

    def fit(self, X, Y, groups=None, progress: Callable[[int], None] | None = None) -> VoxelRidge:
        """Choose each voxel's alpha by cross-validation on (X, Y), then refit on all of it.

        X: (n_samples, n_features); Y: (n_samples, n_voxels), any array that slices by columns (a
        ``np.memmap`` is read one chunk at a time); groups: (n_samples,) labels, e.g. the image shown
        on each trial, so that all repeats of an image fall in the same fold and the choice of alpha
        never sees a validation image during training. ``progress(k)`` is called after each chunk
        with the k voxels it held; the calls add up to n_voxels. Returns self.
        """
        torch_dtype = self._check_params()
        alphas = _check_alphas(self.alphas)
        X = _check_matrix("X", X, columns="n_features")
        Y = _check_matrix("Y", Y, columns="n_voxels")
        if X.shape[0] != Y.shape[0]:
            raise ValueError(f"Inconsistent number of samples: X has {X.shape[0]} rows, Y has {Y.shape[0]}.")
        _check_finite("X", X, self.chunk_size)
        _check_finite("Y", Y, self.chunk_size)
        splits = _make_splits(self.cv, X, Y, groups)

        solution = solve_ridge_cv(
            X,
            Y,
            alphas,
            splits,
            method=self.solver,
            fit_intercept=self.fit_intercept,
            chunk_size=self.chunk_size,
            device=self.device,
            dtype=torch_dtype,
            progress=progress,
        )
        self.coef_ = solution.coef
        self.intercept_ = solution.intercept
        self.best_alphas_ = solution.best_alphas
        self.cv_scores_ = solution.cv_scores
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """Predicted responses, X: (n_samples, n_features) → (n_samples, n_voxels) in ``dtype``."""
        X = self._check_predict_input(X)
        n_voxels = self.coef_.shape[1]
        out = np.empty((X.shape[0], n_voxels), dtype=self.coef_.dtype)
        for cols, prediction in self._predict_chunks(X):
            out[:, cols] = prediction.cpu().numpy()
        return out

    def score(self, X, Y) -> np.ndarray:
        """Per-voxel R² of the predictions from X against Y: (n_samples, n_voxels) → (n_voxels,) float64.

        R² = 1 - sum (y - ŷ)² / sum (y - ȳ)², with ȳ the mean of Y itself; 0 for a constant voxel.
        """
        X = self._check_predict_input(X)
        Y = _check_matrix("Y", Y, columns="n_voxels")
        if Y.shape != (X.shape[0], self.coef_.shape[1]):
            raise ValueError(
                f"Y must have shape {(X.shape[0], self.coef_.shape[1])} (n_samples of X, n_voxels fitted); "
                f"got {Y.shape}."
            )
        _check_finite("Y", Y, self.chunk_size)
        r2 = np.empty(Y.shape[1])
        for cols, prediction in self._predict_chunks(X):
            y = torch.as_tensor(np.ascontiguousarray(Y[:, cols]), device=prediction.device).double()
            sse = ((y - prediction.double()) ** 2).sum(0)
            sst = ((y - y.mean(0)) ** 2).sum(0)
            constant = (y == y[:1]).all(0) | (sst == 0)
            r2[cols] = torch.where(constant, 0.0, 1.0 - sse / torch.where(constant, 1.0, sst)).cpu().numpy()
        return r2

    def _predict_chunks(self, X: np.ndarray):
        """Yield (voxel slice, predictions (n_samples, chunk) tensor on ``device``)."""
        X = torch.as_tensor(np.asarray(X, dtype=self.coef_.dtype), device=self.device)
        n_voxels = self.coef_.shape[1]
        for start in range(0, n_voxels, self.chunk_size):
            cols = slice(start, min(start + self.chunk_size, n_voxels))
            coef = torch.as_tensor(self.coef_[:, cols], device=self.device)
            intercept = torch.as_tensor(self.intercept_[cols], device=self.device)
            yield cols, X @ coef + intercept

    def _check_predict_input(self, X) -> np.ndarray:
        if not hasattr(self, "coef_"):
            raise ValueError("This VoxelRidge is not fitted yet; call fit(X, Y) first.")
        X = _check_matrix("X", X, columns="n_features")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but VoxelRidge was fitted with {self.n_features_in_}.")
        _check_finite("X", X, self.chunk_size)
        return X

    def _check_params(self) -> torch.dtype:
        """Check the constructor arguments; returns the torch dtype."""
        if self.backend not in BACKENDS:
            raise ValueError(f"Unknown backend={self.backend!r}; must be one of {BACKENDS}.")
        if self.solver not in RIDGE_CV_METHODS:
            raise ValueError(f"Unknown solver={self.solver!r}; must be one of {tuple(RIDGE_CV_METHODS)}.")
        if self.dtype not in DTYPES:
            raise ValueError(f"Unknown dtype={self.dtype!r}; must be one of {tuple(DTYPES)}.")
        chunk_size = self.chunk_size
        if not isinstance(chunk_size, numbers.Integral) or isinstance(chunk_size, bool) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer; {self.chunk_size!r} was provided.")
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError) as error:
            raise ValueError(f"Unknown device={self.device!r}: {error}") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={self.device!r} was requested, but CUDA is not available.")
        if device.type not in ("cpu", "cuda"):
            raise ValueError(f"Unknown device={self.device!r}; must be 'cpu' or 'cuda'.")
        return DTYPES[self.dtype]


def _check_alphas(alphas) -> np.ndarray:
    values = np.asarray(alphas, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"alphas must be a non-empty 1-D sequence; got shape {values.shape}.")
    if not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError(f"alphas must be positive and finite; {alphas!r} was provided.")
    return values


def _check_matrix(name: str, array, columns: str) -> np.ndarray:
    """A real 2-D numeric array, without copying an ndarray (or memmap)."""
    array = array if isinstance(array, np.ndarray) else np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, {columns}); got shape {array.shape}.")
    if array.dtype.kind not in "fiu":
        raise ValueError(f"{name} must hold real numbers; got dtype {array.dtype}.")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} must have at least one sample and one of {columns}; got shape {array.shape}.")
    return array


def _check_finite(name: str, array: np.ndarray, chunk_size: int) -> None:
    """Raise on NaN or infinity, reading ``chunk_size`` columns at a time so no full-size mask is made."""
    if array.dtype.kind != "f":
        return
    for start in range(0, array.shape[1], chunk_size):
        block = array[:, start : start + chunk_size]
        if not np.isfinite(block).all():
            row, col = np.argwhere(~np.isfinite(block))[0]
            raise ValueError(f"{name} contains NaN or infinity (first at row {row}, column {start + col}).")


def _kfold(n_samples: int, n_splits: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Contiguous folds, the first n_samples % n_splits one row larger (as scikit-learn's KFold)."""
    sizes = np.full(n_splits, n_samples // n_splits)
    sizes[: n_samples % n_splits] += 1
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    rows = np.arange(n_samples)
    return [(np.concatenate([rows[:lo], rows[hi:]]), rows[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])]


def _group_kfold(groups: np.ndarray, n_splits: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds that keep each group whole: largest groups first, each into the currently smallest fold."""
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    if counts.size < n_splits:
        raise ValueError(f"cv={n_splits} needs at least {n_splits} distinct groups; groups has {counts.size}.")
    fold_of_group = np.empty(counts.size, dtype=np.int64)
    load = np.zeros(n_splits, dtype=np.int64)
    for group in np.argsort(-counts, kind="stable"):
        fold = int(np.argmin(load))
        fold_of_group[group] = fold
        load[fold] += counts[group]
    fold_of_row = fold_of_group[inverse.ravel()]
    return [(np.flatnonzero(fold_of_row != k), np.flatnonzero(fold_of_row == k)) for k in range(n_splits)]


def _make_splits(cv, X: np.ndarray, Y: np.ndarray, groups) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, validation) row indices from ``cv``, checked: non-empty, in range, groups kept whole."""
    n_samples = X.shape[0]
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (n_samples,):
            raise ValueError(f"groups must have shape ({n_samples},) to match X; got {groups.shape}.")
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        if not 2 <= cv <= n_samples:
            raise ValueError(f"cv must be between 2 and n_samples={n_samples}; {cv!r} was provided.")
        splits = _kfold(n_samples, int(cv)) if groups is None else _group_kfold(groups, int(cv))
    elif hasattr(cv, "split") and not isinstance(cv, str):
        splits = [(np.asarray(train), np.asarray(val)) for train, val in cv.split(X, Y, groups)]
    else:
        raise ValueError(f"cv must be an integer or have a split(X, Y, groups) method; {cv!r} was provided.")
    if not splits:
        raise ValueError(f"cv={cv!r} produced no splits.")
    for k, (train, val) in enumerate(splits):
        for part, rows in (("training", train), ("validation", val)):
            if rows.ndim != 1 or rows.size == 0 or rows.dtype.kind not in "iu":
                raise ValueError(f"Split {k} of cv={cv!r} has an empty or non-integer {part} set.")
            if rows.min() < 0 or rows.max() >= n_samples:
                raise ValueError(f"Split {k} of cv={cv!r} has {part} rows outside 0..{n_samples - 1}.")
        if groups is not None:
            shared = np.intersect1d(groups[train], groups[val])
            if shared.size:
                raise ValueError(
                    f"Split {k} of cv={cv!r} puts group {shared[0]!r} in both training and validation rows; "
                    "use a group-aware splitter (e.g. GroupKFold) or an integer cv."
                )
    return splits

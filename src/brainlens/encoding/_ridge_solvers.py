"""Solvers for voxelwise ridge regression with one alpha per voxel chosen by K-fold cross-validation.

Plain functions on checked inputs; ``ridge.VoxelRidge`` validates what the user gives and picks a
method by name from ``RIDGE_CV_METHODS``.

Shapes: n samples, p features, V voxels, a alphas, r kept spectral components (at most min(n, p)).

Every fit reduces to one symmetric eigendecomposition of the training features, on the smaller of
the two Gram matrices (p × p, or n × n when there are more features than samples). For a training
set (X, Y), centred when an intercept is fitted, the ridge weights for any alpha are

    B(alpha) = W @ diag(1 / (lambda + alpha)) @ P.T @ Y

with lambda the r non-zero eigenvalues, and (W, P) = (V, X V) from X.T X = V diag(lambda) V.T, or
(W, P) = (X.T U, U) from X X.T = U diag(lambda) U.T. The projection C = P.T @ Y costs one matrix
product per voxel chunk; every alpha then reuses it.

Validation error of fold f for one voxel, with A = X_val @ W, c the voxel's column of C, y its
validation responses and e_k = 1 / (lambda_k + alpha):

    SSE(alpha) = y.y - 2 sum_k e_k c_k (A.T y)_k + sum_kl e_k e_l c_k c_l H_kl,   H = A.T @ A.

The "explicit" method forms the predictions A @ (e * c) for each alpha: a cost of a × n_val × r per
voxel. The "spectral" method (the default) splits the quadratic term into partial fractions,
e_k e_l = (e_k - e_l) / (lambda_l - lambda_k), so that it becomes

    sum_k e_k t_k + sum_k e_k**2 g_k,   t = 2 c * (F @ c),   F_kl = H_kl / (lambda_l - lambda_k),

one r × r product per voxel for all alphas together, and only a × r more per alpha. Pairs of
eigenvalues closer than ``NEAR_EIGENVALUES`` (relative) would make F large and cancel badly; for
those the exact e_k e_l is replaced by e_k**2 (the symmetric pair sums to e_k**2 + e_l**2, which is
off by (e_k - e_l)**2, a relative error below the square of that threshold) and goes into g.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch

__all__ = ["RIDGE_CV_METHODS", "RidgeCVSolution", "Spectrum", "decompose", "solve_ridge_cv"]

# relative gap below which two eigenvalues count as equal in the "spectral" method; far pairs lose
# about eps64 / NEAR_EIGENVALUES to cancellation, near pairs about NEAR_EIGENVALUES**2 to the merge
NEAR_EIGENVALUES = 1e-7


class Spectrum(NamedTuple):
    """Ridge solutions for every alpha from one eigendecomposition of (centred) training features.

    weights = mixing @ diag(1 / (eigenvalues + alpha)) @ projection.T @ Y_centred.

    eigenvalues: (r,), the non-zero eigenvalues of the Gram matrix, ascending; mixing: (p, r);
    projection: (n_train, r); x_mean: (p,) training-feature means (zeros without an intercept).
    All float64.
    """

    eigenvalues: torch.Tensor
    mixing: torch.Tensor
    projection: torch.Tensor
    x_mean: torch.Tensor


class RidgeCVSolution(NamedTuple):
    """What ``solve_ridge_cv`` returns, as numpy arrays on the host.

    coef: (p, V) and intercept: (V,) in the compute dtype, refit on all samples with the selected
    alphas; best_alphas: (V,) float64; cv_scores: (V,) float64, R² averaged over folds at the best
    alpha.
    """

    coef: np.ndarray
    intercept: np.ndarray
    best_alphas: np.ndarray
    cv_scores: np.ndarray


class _SpectralTerms(NamedTuple):
    """What the "spectral" method needs of one fold, float64, with e = 1 / (lambda + alpha): (a, r)."""

    far: torch.Tensor  # (r, r) H_kl / (lambda_l - lambda_k) for separated pairs, else 0
    cross: torch.Tensor  # (a, r) 2 e
    near_diagonal: torch.Tensor  # (a, r) e**2 H_kk
    near_off: torch.Tensor | None  # (r, r) H_kl for distinct pairs treated as equal; None if there are none
    shrink_squared: torch.Tensor  # (a, r) e**2


class _Fold(NamedTuple):
    """One cross-validation fold, prepared once and reused for every voxel chunk."""

    train: torch.Tensor  # (n_train,) row indices
    val: torch.Tensor  # (n_val,) row indices
    projection: torch.Tensor  # (n_train, r) P of the training rows, compute dtype
    val_features: torch.Tensor  # (n_val, r) A = (X_val - x_mean) @ mixing, compute dtype
    shrink: torch.Tensor  # (a, r) float64, 1 / (eigenvalues + alpha)
    terms: _SpectralTerms | None  # "spectral" only


def decompose(X: torch.Tensor, fit_intercept: bool) -> Spectrum:
    """Eigendecompose the smaller Gram matrix of X, keeping the non-zero eigenvalues.

    X: (n, p) float64 tensor. Eigenvalues below max(n, p)-scaled float64 rounding of the largest
    are dropped: those directions carry no training signal (their row of P.T @ Y is rounding noise).
    """
    x_mean = X.mean(0) if fit_intercept else torch.zeros_like(X[0])
    Xc = X - x_mean  # (n, p)
    n, p = Xc.shape
    primal = p <= n
    eigenvalues, vectors = torch.linalg.eigh(Xc.T @ Xc if primal else Xc @ Xc.T)
    tolerance = eigenvalues[-1].clamp(min=0) * max(n, p) * torch.finfo(torch.float64).eps
    keep = eigenvalues > tolerance
    eigenvalues, vectors = eigenvalues[keep], vectors[:, keep]
    if primal:
        mixing, projection = vectors, Xc @ vectors  # (p, r), (n, r)
    else:
        mixing, projection = Xc.T @ vectors, vectors  # (p, r), (n, r)
    return Spectrum(eigenvalues, mixing, projection, x_mean)


def _spectral_terms(val_features, eigenvalues, shrink, alpha_min: float) -> _SpectralTerms:
    """Partial-fraction weights from A: (n_val, r), lambda: (r,) and e: (a, r), all float64."""
    H = val_features.T @ val_features  # (r, r)
    gap = eigenvalues[None, :] - eigenvalues[:, None]  # gap[k, l] = lambda_l - lambda_k
    scale = torch.minimum(eigenvalues[:, None], eigenvalues[None, :]) + alpha_min
    near = gap.abs() <= NEAR_EIGENVALUES * scale
    far = torch.where(near, 0.0, H / torch.where(near, 1.0, gap))
    near_off = torch.where(near, H, 0.0).fill_diagonal_(0.0)
    return _SpectralTerms(
        far=far,
        cross=2.0 * shrink,
        near_diagonal=shrink**2 * H.diagonal(),
        near_off=near_off if bool(near_off.any()) else None,
        shrink_squared=shrink**2,
    )


def _prepare_fold(X, train, val, alphas, fit_intercept, dtype, method) -> _Fold:
    spectrum = decompose(X[train], fit_intercept)
    val_features = (X[val] - spectrum.x_mean) @ spectrum.mixing  # (n_val, r)
    shrink = 1.0 / (spectrum.eigenvalues[None, :] + alphas[:, None])  # (a, r)
    terms = None
    if method == "spectral":
        terms = _spectral_terms(val_features, spectrum.eigenvalues, shrink, float(alphas.min()))
    return _Fold(train, val, spectrum.projection.to(dtype), val_features.to(dtype), shrink, terms)


def _val_errors_spectral(fold: _Fold, c: torch.Tensor, y_res: torch.Tensor) -> torch.Tensor:
    """Validation SSE for every alpha without forming predictions.

    c: (r, Vc) projection P.T @ y of the centred training responses; y_res: (n_val, Vc) validation
    responses minus the training means. Returns (a, Vc) float64.
    """
    terms = fold.terms
    c = c.double()
    # b - F c, with b = A.T @ y_res; then c * (b - F c) in place
    linear = torch.addmm((fold.val_features.T @ y_res).double(), terms.far, c, alpha=-1.0).mul_(c)
    quadratic = c * c
    errors = torch.addmm((y_res * y_res).sum(0, dtype=torch.float64), terms.near_diagonal, quadratic)
    errors.addmm_(terms.cross, linear, alpha=-1.0)
    if terms.near_off is not None:
        errors.addmm_(terms.shrink_squared, c * (terms.near_off @ c))
    return errors


def _val_errors_explicit(fold: _Fold, c: torch.Tensor, y_res: torch.Tensor) -> torch.Tensor:
    """Validation SSE for every alpha from explicit predictions, one alpha at a time.

    Same arguments and result as ``_val_errors_spectral``.
    """
    shrink = fold.shrink.to(c.dtype)
    errors = [((y_res - fold.val_features @ (e[:, None] * c)) ** 2).sum(0, dtype=torch.float64) for e in shrink]
    return torch.stack(errors)


#: validation-error methods of ``solve_ridge_cv``, by name
RIDGE_CV_METHODS: dict[str, Callable[[_Fold, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "spectral": _val_errors_spectral,
    "explicit": _val_errors_explicit,
}


def solve_ridge_cv(
    X: np.ndarray,
    Y: np.ndarray,
    alphas: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    method: str = "spectral",
    fit_intercept: bool = True,
    chunk_size: int = 2048,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    progress: Callable[[int], None] | None = None,
) -> RidgeCVSolution:
    """Ridge regression with one alpha per voxel, chosen by mean validation R² over ``splits``.

    X: (n, p) finite; Y: (n, V) finite, any array that slices by columns (a memmap stays on disk);
    alphas: (a,) positive; splits: (train, val) row-index pairs. Voxels go through in chunks of
    ``chunk_size`` columns, so working memory grows with the chunk and the outputs, not with V.
    Ties between alphas go to the largest. ``progress(k)`` is called after each chunk with the number
    of voxels it held, so the calls add up to V (as every progress callback of brainlens counts).
    """
    error_fn = RIDGE_CV_METHODS[method]
    device = torch.device(device)
    Xd = torch.as_tensor(np.asarray(X), dtype=torch.float64, device=device)
    # ascending, so that flipping makes argmax prefer the largest alpha among equals
    alphas = torch.as_tensor(np.sort(np.asarray(alphas, dtype=np.float64)), device=device)
    folds = []
    for train, val in splits:
        rows = torch.as_tensor(train, device=device), torch.as_tensor(val, device=device)
        folds.append(_prepare_fold(Xd, *rows, alphas, fit_intercept, dtype, method))
    full = decompose(Xd, fit_intercept)
    full_shrink = (1.0 / (full.eigenvalues[None, :] + alphas[:, None])).to(dtype)  # (a, r)
    mixing, projection, x_mean = full.mixing.to(dtype), full.projection.to(dtype), full.x_mean.to(dtype)
    del Xd

    n_features, n_voxels = X.shape[1], Y.shape[1]
    host_dtype = torch.empty((), dtype=dtype).numpy().dtype
    coef = np.empty((n_features, n_voxels), dtype=host_dtype)
    intercept = np.empty(n_voxels, dtype=host_dtype)
    best_alphas = np.empty(n_voxels)
    cv_scores = np.empty(n_voxels)
    for start in range(0, n_voxels, chunk_size):
        cols = slice(start, min(start + chunk_size, n_voxels))
        # a copy (np.array copies), as it is centred in place
        y = torch.from_numpy(np.array(Y[:, cols], dtype=host_dtype, order="C")).to(device)  # (n, Vc)
        constant = (y == y[:1]).all(0)  # (Vc,) e.g. voxels outside the brain: R² 0 for every alpha
        # centring on all rows makes the projections exact for every fold (P.T @ 1 = 0 on centred
        # features) and keeps each fold's own mean a small correction
        y_mean = y.mean(0) if fit_intercept else torch.zeros_like(y[0])
        y -= y_mean
        scores = torch.zeros(alphas.numel(), y.shape[1], dtype=torch.float64, device=device)
        for fold in folds:
            y_train = y[fold.train]
            c = fold.projection.T @ y_train  # (r, Vc)
            y_res = y[fold.val]
            if fit_intercept:
                y_res -= y_train.mean(0)
            del y_train
            s1 = y_res.sum(0, dtype=torch.float64)
            sst = (y_res * y_res).sum(0, dtype=torch.float64) - s1 * s1 / y_res.shape[0]
            errors = error_fn(fold, c, y_res)
            # R², 0 for a voxel constant over the validation rows
            scores += torch.where(sst > 0, 1.0 - errors / torch.where(sst > 0, sst, 1.0), 0.0)
        scores /= len(folds)
        scores[:, constant] = 0.0
        best = scores.shape[0] - 1 - scores.flip(0).argmax(0)  # (Vc,)
        cv_scores[cols] = scores.gather(0, best[None]).squeeze(0).cpu().numpy()
        best_alphas[cols] = alphas[best].cpu().numpy()

        weights = mixing @ (full_shrink[best].T * (projection.T @ y))  # (p, Vc)
        coef[:, cols] = weights.cpu().numpy()
        intercept[cols] = (y_mean - x_mean @ weights).cpu().numpy()
        if progress is not None:
            progress(cols.stop - cols.start)
    return RidgeCVSolution(coef, intercept, best_alphas, cv_scores)

"""Image reconstruction metrics as the published decoders report them.

MindEye, MindEye2 and Brain-Diffuser share one table: PixCorr and SSIM on pixels, 2-way identification
with feature networks (:mod:`brainlens.evaluation.features`), and the correlation distance of
EfficientNet-B1 and SwAV features. MinD-Vis and CAD add pair-wise identification on pixels (MSE,
Pearson, SSIM on RGB 0–255). Images are uint8 arrays or tensors (N, H, W, 3), or float tensors
(N, 3, H, W) in [0, 1], on any device; everything runs batched in torch.

The two SSIMs differ and every output says which: :func:`ssim` is MindEye's (425 px, grayscale as
scikit-image's ``rgb2gray``, Gaussian weights σ 1.5, population covariance, data range 1), the
``ssim_rgb`` of :func:`pairwise_identification` is MinD-Vis's (RGB, 7 × 7 uniform window, sample
covariance, data range of the ground truth's 0–255 values).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from brainlens.identification import correlation_matrix, paired_correlation, retrieval_top1, two_way_identification

__all__ = [
    "as_float_images",
    "resize_shorter_side",
    "pixcorr",
    "ssim",
    "feature_distance",
    "two_way_identification",
    "retrieval_top1",
    "pairwise_identification",
    "PAIRWISE_METRICS",
]

# MindEye resizes both images to 425 px (bilinear) before PixCorr and SSIM
MINDEYE_SIDE = 425
# scikit-image's rgb2gray weights (ITU-R BT.709 luma)
_GRAY = (0.2125, 0.7154, 0.0721)
# MindEye's Gaussian SSIM window: σ 1.5 truncated at 3.5 σ, 11 px wide
_SSIM_WINDOW = 11
# images per batch for the per-pair pixel metrics (16 float64 images at 425 px take 70 MB)
_BATCH = 16


def as_float_images(images, name: str = "images") -> torch.Tensor:
    """uint8 (N, H, W, 3) array or tensor, or float tensor (N, 3, H, W) in [0, 1] → float32 (N, 3, H, W).

    Errors name ``name`` and what was wrong: the shape, the dtype, values outside [0, 1], NaN.
    """
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8:
            raise TypeError(f"{name}: numpy images must be uint8 (N, H, W, 3); got dtype {images.dtype}.")
        images = torch.from_numpy(np.ascontiguousarray(images))
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a uint8 array (N, H, W, 3) or a float tensor (N, 3, H, W); got {type(images).__name__}.")
    if images.dtype == torch.uint8:
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"{name}: uint8 images must have shape (N, H, W, 3); got {tuple(images.shape)}.")
        return images.permute(0, 3, 1, 2).float().div(255.0)
    if not images.is_floating_point():
        raise TypeError(f"{name}: images must be uint8 or float; got dtype {images.dtype}.")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"{name}: float images must have shape (N, 3, H, W); got {tuple(images.shape)}.")
    if not torch.isfinite(images).all():
        raise ValueError(f"{name} hold NaN or infinite values.")
    if images.numel() and (float(images.min()) < -1e-6 or float(images.max()) > 1 + 1e-6):
        low, high = float(images.min()), float(images.max())
        raise ValueError(f"{name}: float images must be in [0, 1]; found values from {low:.4g} to {high:.4g}.")
    return images.float()


def _check_pair(truth, recon) -> tuple[torch.Tensor, torch.Tensor]:
    truth, recon = as_float_images(truth, "truth"), as_float_images(recon, "recon")
    if len(truth) != len(recon):
        raise ValueError(f"truth and recon must hold the same number of images; got {len(truth)} and {len(recon)}.")
    if len(truth) == 0:
        raise ValueError("truth and recon hold no images.")
    return truth, recon.to(truth.device)


def resize_shorter_side(images: torch.Tensor, side: int) -> torch.Tensor:
    """Bilinear resize of (N, 3, H, W) so that the shorter side is ``side``, as torchvision's ``Resize(side)``
    (antialiased, so that shrinking a large reconstruction averages its pixels rather than skipping them)."""
    height, width = images.shape[-2:]
    if min(height, width) == side:
        return images
    scale = side / min(height, width)
    size = (max(side, round(height * scale)), max(side, round(width * scale)))
    shrink = min(height, width) > side
    return F.interpolate(images, size=size, mode="bilinear", antialias=shrink, align_corners=False)


def _batches(truth: torch.Tensor, recon: torch.Tensor, side: int | None):
    """Pairs in batches, each resized to ``side`` (both to the truth's size when ``side`` is None)."""
    for start in range(0, len(truth), _BATCH):
        t, r = truth[start : start + _BATCH].double(), recon[start : start + _BATCH].double()
        if side is not None:
            t, r = resize_shorter_side(t, side), resize_shorter_side(r, side)
        elif r.shape[-2:] != t.shape[-2:]:
            r = F.interpolate(r, size=t.shape[-2:], mode="bilinear", antialias=True, align_corners=False)
        if t.shape != r.shape:
            raise ValueError(f"truth and recon images must have the same aspect ratio; got sizes {tuple(truth.shape[-2:])} "
                             f"and {tuple(recon.shape[-2:])}.")
        yield t, r


def _result(values: list[torch.Tensor], per_image: bool):
    values = torch.cat(values).cpu().numpy()
    mean = float(values.mean())
    return (mean, values) if per_image else mean


@torch.no_grad()
def pixcorr(truth, recon, *, per_image: bool = False, side: int = MINDEYE_SIDE):
    """PixCorr as MindEye: both images resized to ``side`` px (bilinear), RGB flattened, Pearson r per pair.

    Returns the mean over pairs, or with ``per_image=True`` ``(mean, (N,) ndarray)``. Higher is better.
    """
    truth, recon = _check_pair(truth, recon)
    values = []
    for t, r in _batches(truth, recon, side):
        values.append(paired_correlation(t, r))
    return _result(values, per_image)


def _ssim_maps(x: torch.Tensor, y: torch.Tensor, blur: Callable[[torch.Tensor], torch.Tensor],
               data_range: torch.Tensor | float, covariance_norm: float) -> torch.Tensor:
    """SSIM map of (B, C, H, W) image pairs, with ``blur`` the local weighted mean over a window's valid
    positions only (no padding). ``data_range`` is a float or (B, 1, 1, 1)."""
    # without padding, each kept position sees only real pixels: scikit-image crops the border the
    # window reaches over, so its padding mode never enters the mean
    mu_x, mu_y = blur(x), blur(y)
    var_x = covariance_norm * (blur(x * x) - mu_x * mu_x)
    var_y = covariance_norm * (blur(y * y) - mu_y * mu_y)
    cov = covariance_norm * (blur(x * y) - mu_x * mu_y)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))


def _window_blur(kernel: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Separable weighted mean with the 1-D ``kernel`` (k,) over the last two axes of maps (..., H, W), at the
    window's valid positions only: (..., H − k + 1, W − k + 1).

    Each pass is a product with a banded matrix, which BLAS runs several times faster than a one-channel
    convolution; the matrices are built once per map size.
    """
    bands: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def band(n: int, like: torch.Tensor) -> torch.Tensor:
        k = len(kernel)
        matrix = torch.zeros(n, n - k + 1, dtype=like.dtype, device=like.device)  # column i: the window at i
        for offset, weight in enumerate(kernel.tolist()):
            matrix.diagonal(-offset).fill_(weight)
        return matrix

    def blur(maps: torch.Tensor) -> torch.Tensor:
        key = (*maps.shape[-2:], maps.dtype, maps.device)
        if key not in bands:
            bands[key] = (band(maps.shape[-2], maps), band(maps.shape[-1], maps))
        rows, cols = bands[key]
        return rows.T @ maps @ cols

    return blur


def _box_mean(maps: torch.Tensor, size: int) -> torch.Tensor:
    """Uniform ``size`` × ``size`` mean over the last two axes of (..., H, W), at valid positions only, from
    running sums: a few passes over memory whatever the window (float64 keeps the sums exact enough)."""
    for axis in (-1, -2):
        sums = F.pad(maps.cumsum(axis), (1, 0) if axis == -1 else (0, 0, 1, 0))
        length = sums.shape[axis]
        maps = (sums.narrow(axis, size, length - size) - sums.narrow(axis, 0, length - size)) / size
    return maps


def _gaussian_kernel(sigma: float, truncate: float) -> torch.Tensor:
    """scipy.ndimage's Gaussian weights: radius int(truncate·σ + 0.5), normalised to sum 1; (2·radius + 1,)."""
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


@torch.no_grad()
def ssim(truth, recon, *, per_image: bool = False, side: int = MINDEYE_SIDE):
    """SSIM as MindEye: ``side`` px (bilinear), grayscale as scikit-image's ``rgb2gray``, Gaussian window
    σ 1.5 (truncated at 3.5 σ), population covariance, data range 1.0; the mean over each map.

    Agrees with ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1.0)`` on the same gray images. Returns the mean over pairs,
    or with ``per_image=True`` ``(mean, (N,) ndarray)``. Higher is better.
    """
    truth, recon = _check_pair(truth, recon)
    gray = torch.tensor(_GRAY, dtype=torch.float64, device=truth.device).view(1, 3, 1, 1)
    blur = _window_blur(_gaussian_kernel(1.5, 3.5))
    values = []
    for t, r in _batches(truth, recon, side):
        # float32 from here: SSIM's local moments lose nothing that matters at 1e-4, and run 3× faster
        t, r = (t * gray).sum(1, keepdim=True).float(), (r * gray).sum(1, keepdim=True).float()
        if min(t.shape[-2:]) < _SSIM_WINDOW:
            raise ValueError(f"SSIM needs images of at least {_SSIM_WINDOW} px; got {tuple(t.shape[-2:])}.")
        values.append(_ssim_maps(r, t, blur, 1.0, covariance_norm=1.0).mean(dim=(1, 2, 3)).double())
    return _result(values, per_image)


def feature_distance(truth_features, recon_features, *, per_image: bool = False):
    """Mean correlation distance 1 − r between paired features (MindEye's EffNet-B and SwAV rows), as
    ``scipy.spatial.distance.correlation`` per pair. (N, ...) each, flattened. Lower is better."""
    r = paired_correlation(truth_features, recon_features, ("truth_features", "recon_features"))
    return _result([1.0 - r], per_image)


# MinD-Vis's pair-wise metrics: name → whether larger is better
PAIRWISE_METRICS = {"mse": False, "pcc": True, "ssim_rgb": True}


def _ssim_rgb_matrix(recons: torch.Tensor, truths: torch.Tensor) -> torch.Tensor:
    """MinD-Vis's RGB SSIM of every reconstruction with every truth, both (N, 3, H, W) in 0–255: (N recons, N truths).

    scikit-image's defaults (7 × 7 uniform window, sample covariance) with data range the truth's max − min.
    The local means and variances of each image are computed once; only the cross term is per pair.
    """
    def blur(maps):
        return _box_mean(maps, 7)

    norm = 49 / 48  # sample covariance over the 7 × 7 window

    def moments(images):
        mean = blur(images)
        return mean, norm * (blur(images * images) - mean * mean)

    mu_t, var_t = moments(truths)  # (N, 3, h, w) each
    mu_r, var_r = moments(recons)
    data_range = (truths.amax(dim=(1, 2, 3)) - truths.amin(dim=(1, 2, 3))).view(-1, 1, 1, 1)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2  # per truth
    scores = torch.empty(len(recons), len(truths), dtype=torch.float64, device=truths.device)
    for j in range(len(recons)):
        for start in range(0, len(truths), _BATCH * 4):
            part = slice(start, start + _BATCH * 4)
            cov = norm * (blur(recons[j] * truths[part]) - mu_r[j] * mu_t[part])
            maps = ((2 * mu_r[j] * mu_t[part] + c1[part]) * (2 * cov + c2[part])) / (
                (mu_r[j] ** 2 + mu_t[part] ** 2 + c1[part]) * (var_r[j] + var_t[part] + c2[part]))
            scores[j, part] = maps.mean(dim=(1, 2, 3))
    return scores


def _score_matrix(recons: torch.Tensor, truths: torch.Tensor, metric: str) -> torch.Tensor:
    """``metric`` of every reconstruction with every truth, both (N, 3, H, W) in 0–255: (N recons, N truths)."""
    if metric == "mse":
        return torch.cdist(recons.flatten(1), truths.flatten(1)).pow(2) / recons[0].numel()
    if metric == "pcc":
        return correlation_matrix(recons, truths)
    return _ssim_rgb_matrix(recons, truths)


@torch.no_grad()
def pairwise_identification(truth, recon, metric: str = "pcc", *, per_image: bool = False):
    """MinD-Vis's pair-wise identification on pixels: for each reconstruction, the fraction of the other
    ground truths it scores worse against than against its own (MSE: lower is better; ``pcc``, ``ssim_rgb``:
    higher). Pixels in 0–255, at the truth's size; ``ssim_rgb`` is MinD-Vis's RGB SSIM, not MindEye's.

    Returns the mean over reconstructions, or with ``per_image=True`` ``(mean, (N,) ndarray)``. Chance 0.5.
    """
    if metric not in PAIRWISE_METRICS:
        raise ValueError(f"metric must be one of {list(PAIRWISE_METRICS)}; {metric!r} was provided.")
    truth, recon = _check_pair(truth, recon)
    if len(truth) < 2:
        raise ValueError(f"identification needs at least 2 pairs; {len(truth)} was provided.")
    truths, recons = [], []
    for t, r in _batches(truth, recon, None):
        truths.append(t * 255.0)
        recons.append(r * 255.0)
    scores = _score_matrix(torch.cat(recons), torch.cat(truths), metric)  # (N recons, N truths)
    own = scores.diagonal()[:, None]
    wins = (scores < own) if PAIRWISE_METRICS[metric] else (scores > own)  # the diagonal never wins
    return _result([wins.double().sum(1) / (len(scores) - 1)], per_image)

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


def _gaussian_blur(sigma: float, truncate: float, device) -> Callable[[torch.Tensor], torch.Tensor]:
    """Separable Gaussian weighted mean of one-channel maps (B, 1, H, W) with scipy.ndimage's weights
    (radius int(truncate·σ + 0.5), normalised to sum 1), over valid positions only."""
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64, device=device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = (kernel / kernel.sum()).float()
    rows, cols = kernel.view(1, 1, 1, -1), kernel.view(1, 1, -1, 1)
    return lambda maps: F.conv2d(F.conv2d(maps, rows), cols)


def _box_blur(size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Uniform ``size`` × ``size`` mean (scikit-image's default SSIM window), over valid positions only."""
    return lambda maps: F.avg_pool2d(maps, size, stride=1)


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
    blur = _gaussian_blur(1.5, 3.5, truth.device)
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


def _pairwise_scores(pred: torch.Tensor, truths: torch.Tensor, metric: str) -> torch.Tensor:
    """``metric`` of one reconstruction (3, H, W) in 0–255 against each of ``truths`` (M, 3, H, W): (M,)."""
    if metric == "mse":
        return (truths - pred).pow(2).mean(dim=(1, 2, 3))
    if metric == "pcc":
        return correlation_matrix(pred[None], truths)[0]
    # MinD-Vis: scikit-image's defaults (7 × 7 uniform window, sample covariance), data_range = the compared
    # ground truth's max − min
    scores = []
    for start in range(0, len(truths), _BATCH):
        chunk = truths[start : start + _BATCH].float()
        data_range = (chunk.amax(dim=(1, 2, 3)) - chunk.amin(dim=(1, 2, 3))).view(-1, 1, 1, 1)
        maps = _ssim_maps(pred.float()[None].expand_as(chunk), chunk, _box_blur(7), data_range, covariance_norm=49 / 48)
        scores.append(maps.mean(dim=(1, 2, 3)).double())
    return torch.cat(scores)


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
    truths, recons = torch.cat(truths), torch.cat(recons)
    larger_better = PAIRWISE_METRICS[metric]
    fractions = []
    for j in range(len(recons)):
        scores = _pairwise_scores(recons[j], truths, metric)  # (N,) against every ground truth
        others = torch.cat([scores[:j], scores[j + 1 :]])
        wins = (others < scores[j]) if larger_better else (others > scores[j])
        fractions.append(wins.double().mean()[None])
    return _result(fractions, per_image)

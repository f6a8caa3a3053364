"""Image metrics against independent implementations: scikit-image's SSIM and rgb2gray, numpy's corrcoef,
scipy's correlation distance, and MinD-Vis's pair-wise loops written out per pair."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.spatial.distance import correlation as correlation_distance

from brainlens.evaluation.image import (
    as_float_images,
    feature_distance,
    pairwise_identification,
    pixcorr,
    resize_shorter_side,
    ssim,
)

skimage = pytest.importorskip("skimage")
from skimage.color import rgb2gray  # noqa: E402
from skimage.metrics import structural_similarity  # noqa: E402


def _pairs(n=4, size=40, seed=0):
    """Truth images with smooth structure and noisy reconstructions of them, uint8 (n, size, size, 3)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(n, 3, 5, 5)).astype(np.float32)
    truth = F.interpolate(torch.from_numpy(coarse), size=(size, size), mode="bicubic").clamp(0, 255)
    truth = truth.permute(0, 2, 3, 1).numpy().astype(np.uint8)
    recon = np.clip(truth.astype(np.int16) + rng.integers(-60, 61, size=truth.shape), 0, 255).astype(np.uint8)
    return truth, recon


def _resized(images_uint8, side):
    return resize_shorter_side(as_float_images(images_uint8).double(), side)


def test_ssim_agrees_with_scikit_image_per_pair():
    truth, recon = _pairs(n=3, size=48)
    side = 64  # MindEye resizes to 425; the protocol is the same at any side, and 64 keeps the test fast
    mean, values = ssim(truth, recon, per_image=True, side=side)
    gray_truth = rgb2gray(_resized(truth, side).permute(0, 2, 3, 1).numpy())
    gray_recon = rgb2gray(_resized(recon, side).permute(0, 2, 3, 1).numpy())
    expected = [
        structural_similarity(r, t, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
        for t, r in zip(gray_truth, gray_recon)
    ]
    np.testing.assert_allclose(values, expected, atol=1e-4)
    assert mean == pytest.approx(np.mean(expected), abs=1e-4)
    assert ssim(truth, truth, side=side) == pytest.approx(1.0)


def test_ssim_at_mindeyes_425_px():
    truth, recon = _pairs(n=1, size=64, seed=3)
    value = ssim(truth, recon)
    gray = [rgb2gray(_resized(x, 425).permute(0, 2, 3, 1).numpy())[0] for x in (truth, recon)]
    expected = structural_similarity(gray[1], gray[0], gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
    assert value == pytest.approx(expected, abs=1e-4)


def test_pixcorr_agrees_with_numpy_corrcoef():
    truth, recon = _pairs(n=5, size=32, seed=1)
    mean, values = pixcorr(truth, recon, per_image=True)
    flat_t = _resized(truth, 425).reshape(5, -1).numpy()
    flat_r = _resized(recon, 425).reshape(5, -1).numpy()
    expected = [np.corrcoef(t, r)[0, 1] for t, r in zip(flat_t, flat_r)]
    np.testing.assert_allclose(values, expected, atol=1e-9)
    assert mean == pytest.approx(np.mean(expected))
    # float tensors in [0, 1] give the same as their uint8 form
    assert pixcorr(as_float_images(truth), as_float_images(recon)) == pytest.approx(mean)


def test_pixel_metrics_resize_reconstructions_of_another_size():
    truth, _ = _pairs(n=2, size=32, seed=2)
    bigger = F.interpolate(as_float_images(truth), size=(64, 64), mode="bilinear", align_corners=False)
    assert pixcorr(truth, bigger) > 0.98
    assert ssim(truth, bigger) > 0.9


def test_feature_distance_agrees_with_scipy():
    rng = np.random.default_rng(4)
    truth = rng.normal(size=(6, 3, 4))
    recon = truth + rng.normal(size=truth.shape)
    mean, values = feature_distance(truth, recon, per_image=True)
    expected = [correlation_distance(t.ravel(), r.ravel()) for t, r in zip(truth, recon)]
    np.testing.assert_allclose(values, expected, atol=1e-12)
    assert mean == pytest.approx(np.mean(expected))
    truth[3, 1, 2] = np.inf
    with pytest.raises(ValueError, match="truth_features holds NaN or infinite values \\(first in row 3\\)"):
        feature_distance(truth, recon)


def _mindvis_pairwise(truth255, recon255, score, larger_better):
    """MinD-Vis's loop: for each reconstruction, compare its score against its own truth with each other truth."""
    fractions = []
    for j, pred in enumerate(recon255):
        own = score(pred, truth255[j])
        rest = [score(pred, t) for i, t in enumerate(truth255) if i != j]
        fractions.append(np.mean([(own > x) if larger_better else (own < x) for x in rest]))
    return fractions


@pytest.mark.parametrize("metric", ["mse", "pcc", "ssim_rgb"])
def test_pairwise_identification_agrees_with_mindvis_loop(metric):
    truth, recon = _pairs(n=5, size=24, seed=5)
    t = truth.astype(np.float64)
    r = recon.astype(np.float64)
    scores = {
        "mse": (lambda a, b: np.square(a - b).mean(), False),
        "pcc": (lambda a, b: np.corrcoef(a.ravel(), b.ravel())[0, 1], True),
        "ssim_rgb": (lambda a, b: structural_similarity(a, b, data_range=b.max() - b.min(), channel_axis=-1), True),
    }
    score, larger_better = scores[metric]
    expected = _mindvis_pairwise(t, r, score, larger_better)
    mean, values = pairwise_identification(truth, recon, metric, per_image=True)
    np.testing.assert_allclose(values, expected, atol=1e-12)
    assert mean == pytest.approx(np.mean(expected))


def test_ssim_rgb_scores_match_scikit_image_values():
    from brainlens.evaluation.image import _score_matrix

    truth, recon = _pairs(n=3, size=20, seed=6)
    t = torch.from_numpy(truth).permute(0, 3, 1, 2).double()
    r = torch.from_numpy(recon).permute(0, 3, 1, 2).double()
    ours = _score_matrix(r, t, "ssim_rgb").numpy()
    expected = [[structural_similarity(a.astype(float), b.astype(float), data_range=float(b.max()) - float(b.min()), channel_axis=-1)
                 for b in truth] for a in recon]
    np.testing.assert_allclose(ours, expected, atol=1e-9)


def test_image_metrics_refuse_bad_input():
    truth, recon = _pairs(n=3, size=20)
    with pytest.raises(ValueError, match="same number of images; got 3 and 2"):
        pixcorr(truth, recon[:2])
    with pytest.raises(TypeError, match="recon: numpy images must be uint8"):
        ssim(truth, recon.astype(np.float32))
    with pytest.raises(ValueError, match="float images must be in \\[0, 1\\]; found values from 0 to 255"):
        pixcorr(torch.from_numpy(truth).permute(0, 3, 1, 2).float(), recon)
    nan = as_float_images(recon)
    nan[1, 0, 2, 2] = float("nan")
    with pytest.raises(ValueError, match="recon hold NaN"):
        ssim(truth, nan)
    with pytest.raises(ValueError, match="metric must be one of \\['mse', 'pcc', 'ssim_rgb'\\]; 'lpips'"):
        pairwise_identification(truth, recon, "lpips")
    with pytest.raises(ValueError, match="same aspect ratio"):
        pixcorr(truth, as_float_images(recon)[:, :, :10, :])


def test_every_pair_is_scored_past_the_first_batch():
    """18 pairs, more than one batch of 16: each metric scores every pair, each as it would alone."""
    truth, recon = _pairs(n=18, size=16, seed=7)
    t, r = truth.astype(np.float64) / 255, recon.astype(np.float64) / 255
    mean, values = pixcorr(truth, recon, per_image=True, side=16)  # at their own size: no resize
    expected = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(t, r)]
    np.testing.assert_allclose(values, expected, atol=1e-9)
    assert mean == pytest.approx(np.mean(expected))
    mean, values = ssim(truth, recon, per_image=True, side=16)
    expected = [structural_similarity(rgb2gray(b), rgb2gray(a), gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False, data_range=1.0) for a, b in zip(t, r)]
    np.testing.assert_allclose(values, expected, atol=1e-4)
    assert mean == pytest.approx(np.mean(expected), abs=1e-4)
    mean, values = pairwise_identification(truth, recon, "pcc", per_image=True)
    expected = _mindvis_pairwise(t * 255, r * 255, lambda a, b: np.corrcoef(a.ravel(), b.ravel())[0, 1], True)
    np.testing.assert_allclose(values, expected, atol=1e-12)


def test_shrinking_averages_pixels_as_pil_bilinear():
    """A reconstruction larger than the side is shrunk as torchvision's Resize (antialiased, as PIL's bilinear),
    not by sampling two pixels of each four; PixCorr then compares the images PIL would give."""
    from PIL import Image

    def pil_resize(images, size):  # float (N, 3, H, W) → (N, 3, h, w), each channel by PIL in mode "F"
        return np.stack([[np.asarray(Image.fromarray(c.astype(np.float32), mode="F").resize(size[::-1], Image.BILINEAR))
                          for c in image] for image in images])

    truth, recon = _pairs(n=2, size=48, seed=8)
    t, r = as_float_images(truth).numpy(), as_float_images(recon).numpy()
    shrunk = resize_shorter_side(torch.from_numpy(t).double(), 20).numpy()
    assert shrunk.shape == (2, 3, 20, 20)
    np.testing.assert_allclose(shrunk, pil_resize(t, (20, 20)), atol=1e-5)
    wide = np.concatenate([t, t[:, :, :, :12]], axis=3)  # 48 × 60: the shorter side becomes 20, the longer 25
    np.testing.assert_allclose(resize_shorter_side(torch.from_numpy(wide).double(), 20).numpy(), pil_resize(wide, (20, 25)), atol=1e-5)
    values = pixcorr(truth, recon, per_image=True, side=20)[1]
    expected = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(pil_resize(t, (20, 20)), pil_resize(r, (20, 20)))]
    np.testing.assert_allclose(values, expected, atol=1e-5)

import json

import numpy as np
import pytest
import torch

from brainlens import store
from brainlens.encoding.encoder import RidgeEncoder, evaluate_encoder, fit_ridge_encoder, load_encoder
from brainlens.insilico.brain import InSilicoSubject
from tests.backbones.test_backbones import tiny_convnet


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("encoder") / "sub1.h5"
    subject = InSilicoSubject(1)
    subject.write_store(subject.simulate(240, n_test=40, n_val=20, trials_per_session=240), path)
    return path


@pytest.fixture(scope="module")
def fitted(small_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("encoder") / "ridge"
    encoder, metrics = fit_ridge_encoder(small_store, tiny_convnet(), out=out, grid=2, voxels="FFA-1", cv=3)
    return out, encoder, metrics


def test_fit_writes_encoder_and_metrics(fitted, small_store):
    out, encoder, metrics = fitted
    with store.open_store(small_store) as s:
        ffa = s.region_voxels("FFA-1")
    assert encoder.n_voxels == ffa.size and np.array_equal(encoder.voxel_index.numpy(), ffa)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["n_images"] == 40 and saved["n_voxels"] == ffa.size and saved["split"] == "test"
    for key in ("median_r2", "median_r", "median_r2_over_nc", "algonauts_score"):
        assert key in saved
    assert set(saved["regions"]) >= {"FFA-1"}
    assert saved["regions"]["FFA-1"]["n_voxels"] == ffa.size
    assert len(saved["voxels"]["r2"]) == ffa.size
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "ridge" and config["grid"] == 2 and config["fit_splits"] == ["train", "val"]


def test_saved_encoder_predicts_the_same_and_passes_gradients(fitted, small_store):
    out, encoder, _ = fitted
    backbone_dir = out.parent / "backbone"
    encoder.backbone.net.save(backbone_dir)
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "backbone": str(backbone_dir)}))
    loaded = load_encoder(out)
    assert isinstance(loaded, RidgeEncoder)
    images = torch.rand(3, 3, 64, 64, requires_grad=True)
    torch.testing.assert_close(loaded(images), encoder(images), atol=5e-2, rtol=1e-2)  # backbone saved in half precision
    loaded(images)[:, 0].sum().backward()
    assert images.grad.abs().sum() > 0


def test_metrics_agree_with_a_direct_computation(fitted, small_store):
    _, encoder, metrics = fitted
    with store.open_store(small_store) as s:
        test = store.load_split(s, "test", voxels=encoder.voxel_index.numpy())
        pixels = torch.from_numpy(s.images_at(test.image_index)).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        predicted = encoder(pixels).numpy()
    r = [np.corrcoef(test.betas[:, k], predicted[:, k])[0, 1] for k in range(predicted.shape[1])]
    assert metrics["median_r"] == pytest.approx(np.median(r), abs=1e-4)


def test_encoder_must_match_the_store(fitted, tmp_path):
    _, encoder, _ = fitted
    other = tmp_path / "small.h5"
    subject = InSilicoSubject(1)
    sim = subject.simulate(30, n_test=6, n_val=3, trials_per_session=90)
    subject.write_store(sim, other)
    too_far = RidgeEncoder(
        encoder.backbone, encoder.layers, encoder.grid, encoder.feature_mean, encoder.feature_std,
        encoder.weight[:, :1], encoder.bias[:1], torch.tensor([10**6]),
    )
    with pytest.raises(ValueError, match="predicts voxel 1000000 but .* has 1619 voxels"):
        evaluate_encoder(too_far, other)


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="encoder folder not found"):
        load_encoder(tmp_path / "nowhere")
    (tmp_path / "config.json").write_text(json.dumps({"model": "lasso"}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="'model' must be one of .*'lasso'"):
        load_encoder(tmp_path)


def test_unknown_region_lists_the_known_ones(small_store, tmp_path):
    with pytest.raises(KeyError, match="unknown region 'FFA-9'.*FFA-1"):
        fit_ridge_encoder(small_store, tiny_convnet(), voxels="FFA-9", cache_dir=tmp_path)


def test_an_ensemble_averages_encoders_in_units_of_their_spread():
    from brainlens.encoding.encoder import EncoderEnsemble
    from tests.generation.test_brain_guided import tiny_encoder

    first, second = tiny_encoder(), tiny_encoder()
    second.weight.mul_(-3.0)  # the same encoder, three times as spread and of opposite sign
    reference = np.random.default_rng(0).integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    ensemble = EncoderEnsemble([first, second], reference)
    assert ensemble.n_voxels == first.n_voxels and torch.equal(ensemble.voxel_index, first.voxel_index)
    torch.testing.assert_close(ensemble.spread[1], 3 * ensemble.spread[0])
    images = torch.rand(2, 3, 32, 32, requires_grad=True)
    # standardised, the two predictions cancel
    torch.testing.assert_close(ensemble(images), torch.zeros(2, first.n_voxels), atol=1e-4, rtol=0)
    agreeing = EncoderEnsemble([first, tiny_encoder()], reference)
    torch.testing.assert_close(agreeing(images), first(images) / agreeing.spread[0])
    agreeing(images)[:, 0].sum().backward()
    assert images.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="at least two encoders; 1 was provided"):
        EncoderEnsemble([first], reference)
    with pytest.raises(ValueError, match="encoder 2 predicts other voxels than encoder 1"):
        EncoderEnsemble([first, tiny_encoder(n_voxels=5)], reference)


def test_reference_images_are_the_test_split(small_store):
    from brainlens.encoding.encoder import reference_images

    images = reference_images(small_store, n=7)
    assert images.shape == (7, 64, 64, 3) and images.dtype == np.uint8
    with store.open_store(small_store) as s:
        first_test = s.images_at(int(np.flatnonzero(s.split == store.SPLITS["test"])[0]))
    np.testing.assert_array_equal(images[0], first_test)


# test images shown 2, 1 or 3 times: the median count is 2; the mean (1.94), the most (3), the fewest
# (1) and the in-silico subject's 3 repeats are all other numbers
TEST_REPEATS = [2] * 9 + [1] * 4 + [3] * 3


@pytest.fixture(scope="module")
def uneven_repeats(tmp_path_factory):
    """Stores whose test images are shown TEST_REPEATS times (train and val: 3), with and without ncsnr."""
    import dataclasses

    subject = InSilicoSubject(1)
    sim = subject.simulate(40, n_test=len(TEST_REPEATS), n_val=4, trials_per_session=60)
    keep = np.ones(sim.trial_image.size, dtype=bool)
    for image, repeats in enumerate(TEST_REPEATS):  # the test images come first
        keep[np.flatnonzero(sim.trial_image == image)[repeats:]] = False
    sim = dataclasses.replace(sim, trial_image=sim.trial_image[keep], trial_session=sim.trial_session[keep],
                              betas=sim.betas[keep])
    root = tmp_path_factory.mktemp("repeats")
    subject.write_store(sim, root / "ncsnr.h5")
    subject.write_store(dataclasses.replace(sim, ncsnr_estimate=None), root / "no_ncsnr.h5")
    return root


def _ncsnr_by_hand(betas: np.ndarray, trial_image: np.ndarray) -> np.ndarray:
    """NSD's ncsnr: noise variance = mean over images shown twice or more of their repeats' variance."""
    betas = betas.astype(np.float64)
    noise = np.mean([betas[trial_image == i].var(0, ddof=1) for i in np.unique(trial_image)
                     if (trial_image == i).sum() >= 2], axis=0)
    return np.sqrt(np.clip(betas.var(0, ddof=1) - noise, 0, None) / noise)


class _TrueRegion(torch.nn.Module):
    """The in-silico subject's noiseless response of some voxels (all: the ones outside regions too), shrunk towards 0 as the noisy betas'
    best guess is: an encoder whose R² is well above 0."""

    def __init__(self, subject: InSilicoSubject, voxels: np.ndarray):
        super().__init__()
        self.brain = subject.brain
        self.register_buffer("voxel_index", torch.as_tensor(voxels))

    def forward(self, images):
        return 0.5 * self.brain(images.float())[:, self.voxel_index]


@pytest.mark.parametrize("stored", ["ncsnr", "no_ncsnr"])
def test_r2_over_nc_and_algonauts_score_use_the_test_repeats(uneven_repeats, stored):
    """R²/NC and the Algonauts score against their definitions worked by hand: NC = 100·ncsnr²/(ncsnr² + 1/n)
    for the median number of repeats n of the test images (2 here), ncsnr the store's (or, without one,
    NSD's estimate from the test trials); R²/NC per voxel where NC ≥ 1 %, its median; Algonauts: the
    median over voxels of 100·r²/(NC/100), in percent."""
    path = uneven_repeats / f"{stored}.h5"
    subject = InSilicoSubject(1)
    voxels = np.arange(subject.n_voxels)
    encoder = _TrueRegion(subject, voxels)
    metrics = evaluate_encoder(encoder, path)
    with store.open_store(path) as s:
        test = store.load_split(s, "test", voxels=voxels)
        trials = store.load_split(s, "test", voxels=voxels, average=False)
        pixels = torch.from_numpy(s.images_at(test.image_index)).permute(0, 3, 1, 2).float() / 255
        ncsnr = s.ncsnr[voxels] if stored == "ncsnr" else _ncsnr_by_hand(trials.betas, trials.image_index)
    assert sorted(test.n_repeats.tolist()) == sorted(TEST_REPEATS)
    with torch.no_grad():
        predicted = encoder(pixels).double().numpy()
    betas = test.betas.astype(np.float64)
    r2 = 1 - ((betas - predicted) ** 2).sum(0) / ((betas - betas.mean(0)) ** 2).sum(0)
    r = np.array([np.corrcoef(betas[:, k], predicted[:, k])[0, 1] for k in range(len(voxels))])

    def ceiling(n_repeats):  # percent
        return 100 * ncsnr.astype(np.float64) ** 2 / (ncsnr.astype(np.float64) ** 2 + 1 / n_repeats)

    def over(explained, nc, floor):  # explained / (NC / 100) where NC ≥ floor percent, else NaN
        ratio = np.full(nc.shape, np.nan)
        ratio[nc >= floor] = explained[nc >= floor] / (nc[nc >= floor] / 100)
        return ratio

    nc = ceiling(2)
    # some voxels fall below R²/NC's 1 % floor but above 0, where the Algonauts score still counts them
    assert np.any((nc > 0) & (nc < 1)) and np.mean(nc >= 1) > 0.5
    over_nc = over(r2, nc, floor=1.0)
    assert metrics["n_repeats"] == 2
    np.testing.assert_allclose(np.array(metrics["voxels"]["noise_ceiling"], dtype=float), nc, atol=1e-4)
    np.testing.assert_allclose(np.array(metrics["voxels"]["r2_over_nc"], dtype=float), over_nc, atol=1e-4, equal_nan=True)
    assert metrics["median_r2_over_nc"] == pytest.approx(np.nanmedian(over_nc), abs=1e-4)
    for other in (1, 3):  # the ceiling for another count of repeats gives a figure this test tells apart
        assert abs(np.nanmedian(over(r2, ceiling(other), floor=1.0)) - np.nanmedian(over_nc)) > 0.05
    algonauts = 100 * np.median(over(r**2, nc, floor=1e-9)[nc > 0])
    assert metrics["algonauts_score"] == pytest.approx(algonauts, abs=1e-3)

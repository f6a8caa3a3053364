import numpy as np
import pytest
import torch

from brainlens.insilico import stimuli
from brainlens.insilico.brain import SHARED_TEST_SEED, InSilicoSubject
from brainlens.insilico.layout import REGION_CATEGORY, STIMULUS_DEGREES
from brainlens.insilico.stimuli import to_tensor
from brainlens.reliability import noise_ceiling


@pytest.fixture(scope="module")
def subject():
    return InSilicoSubject(1)


@pytest.fixture(scope="module")
def subject2():
    return InSilicoSubject(2)


@pytest.fixture(scope="module")
def by_category():
    """Noiseless-experiment stimuli: 40 single-category images of each category."""
    return {c: stimuli.generate(40, seed=77, categories=[c], mix_prob=0.0) for c in stimuli.CATEGORIES}


def _region_means(subject, by_category):
    responses = {c: subject.respond(s.images) for c, s in by_category.items()}
    return {c: r.mean(0) for c, r in responses.items()}, responses


def test_category_regions_prefer_their_category(subject, by_category):
    """Selectivity measured, not assumed: each region's mean response is highest for its category."""
    means, _ = _region_means(subject, by_category)
    for region, category in REGION_CATEGORY.items():
        mask = subject.region_mask(region)
        per_category = {c: float(m[mask].mean()) for c, m in means.items()}
        best = max(per_category, key=per_category.get)
        assert best == category, (region, per_category)
        # selectivity index against the mean of the other categories, in standardised units
        others = np.mean([v for c, v in per_category.items() if c != category])
        assert per_category[category] - others > 0.5, (region, per_category)


def test_early_visual_cortex_is_not_category_selective(subject, by_category):
    means, _ = _region_means(subject, by_category)
    v1 = subject.region_mask("V1")
    per_category = np.array([m[v1].mean() for m in means.values()])
    # V1 tracks contrast, so its category profile is much flatter than a category region's
    ffa = subject.region_mask("FFA-1")
    ffa_profile = np.array([m[ffa].mean() for m in means.values()])
    assert np.ptp(per_category) < 0.5 * np.ptp(ffa_profile)


def test_split_regions_halves_prefer_different_attributes(subject):
    places = stimuli.generate(160, seed=5, categories=["place"], mix_prob=0.0)
    foods = stimuli.generate(160, seed=6, categories=["food"], mix_prob=0.0)
    indoor = places.attributes[:, stimuli.ATTRIBUTES.index("indoor")] == 1
    warm = foods.attributes[:, stimuli.ATTRIBUTES.index("warm")] == 1
    assert 30 < indoor.sum() < 130 and 30 < warm.sum() < 130
    place_r, food_r = subject.respond(places.images), subject.respond(foods.images)

    def preference(responses, yes, half):
        mask = subject.region_mask(half)
        return responses[yes][:, mask].mean() - responses[~yes][:, mask].mean()

    assert preference(place_r, indoor, "OPA-anterior") > 0.2
    assert preference(place_r, indoor, "OPA-posterior") < -0.2
    assert preference(food_r, warm, "food-lateral") > 0.2
    assert preference(food_r, warm, "food-medial") < -0.2


def _mapping_stimuli(n_grid=13, radius=0.7, size=64):
    """Flickering-checkerboard discs at grid positions on mid-grey, the classic pRF-mapping stimulus."""
    half = STIMULUS_DEGREES / 2
    centres = np.linspace(-half + radius, half - radius, n_grid)
    deg = (np.arange(size) + 0.5) / size * STIMULUS_DEGREES - half
    x, y = np.meshgrid(deg, -deg)
    checks = np.sign(np.sin(2 * np.pi * x * 1.2) * np.sin(2 * np.pi * y * 1.2))
    images, positions = [], []
    for cy in centres:
        for cx in centres:
            disc = (x - cx) ** 2 + (y - cy) ** 2 < radius**2
            image = np.full((size, size), 0.5) + 0.5 * checks * disc
            images.append(np.repeat((image * 255).astype(np.uint8)[..., None], 3, -1))
            positions.append((cx, cy))
    return np.stack(images), np.array(positions)


def _fit_prf_centres(responses, positions):
    """Grid-search pRF fit: the Gaussian (centre, size) whose predicted profile best correlates."""
    grid = np.linspace(-4.5, 4.5, 37)
    cx, cy = np.meshgrid(grid, grid)
    candidates = np.stack([cx.ravel(), cy.ravel()], 1)
    best_r = np.full(responses.shape[1], -np.inf)
    best = np.zeros((responses.shape[1], 2))
    z = (responses - responses.mean(0)) / (responses.std(0) + 1e-9)
    for sigma in (0.4, 0.8, 1.4):
        d2 = ((positions[:, None, :] - candidates[None]) ** 2).sum(-1)  # (n_stimuli, n_candidates)
        model = np.exp(-d2 / (2 * (sigma**2 + 0.7**2)))
        model = (model - model.mean(0)) / (model.std(0) + 1e-9)
        r = model.T @ z / len(z)  # (n_candidates, V)
        k = r.argmax(0)
        better = r[k, np.arange(r.shape[1])] > best_r
        best_r[better] = r[k, np.arange(r.shape[1])][better]
        best[better] = candidates[k[better]]
    return best


def test_prf_centres_are_recoverable_from_noisy_responses(subject):
    images, positions = _mapping_stimuli()
    signal = subject.respond(images)
    trial_image = np.tile(np.arange(len(images)), 3)
    betas = subject.measure(signal[trial_image], np.zeros(trial_image.size, dtype=np.int32), seed=3)
    mean = np.stack([betas[trial_image == i].mean(0) for i in range(len(images))])
    truth = np.stack([subject.tuning.prf_x, subject.tuning.prf_y], 1)
    early = ~np.isnan(subject.layout.prf_x)
    central = early & (np.hypot(*truth.T) < 3.0) & (subject.ncsnr > 0.3)
    assert central.sum() > 50
    fitted = _fit_prf_centres(mean[:, central], positions)
    error = np.linalg.norm(fitted - truth[central], axis=1)
    assert np.median(error) < 0.6, np.median(error)


def test_split_half_reliability_matches_claimed_noise_ceiling(subject):
    sim = subject.simulate(600, trials_per_session=450)
    first = np.full(600, -1)
    second = np.full(600, -1)
    for trial, image in enumerate(sim.trial_image):
        if first[image] < 0:
            first[image] = trial
        elif second[image] < 0:
            second[image] = trial
    a, b = sim.betas[first], sim.betas[second]
    a = (a - a.mean(0)) / a.std(0)
    b = (b - b.mean(0)) / b.std(0)
    measured = (a * b).mean(0)  # single-trial split-half correlation per voxel
    claimed = subject.ncsnr**2 / (subject.ncsnr**2 + 1)  # the same quantity from the true ncsnr
    assert np.median(np.abs(measured - claimed)) < 0.05
    assert np.corrcoef(measured, claimed)[0, 1] > 0.85
    # the ncsnr estimated with NSD's formula tracks the truth, and so does the noise ceiling
    assert np.corrcoef(sim.ncsnr_estimate, subject.ncsnr)[0, 1] > 0.85
    nc_err = np.abs(noise_ceiling(sim.ncsnr_estimate) - subject.noise_ceiling)
    assert np.median(nc_err) < 6.0


def test_ncsnr_spread_like_nsd_visual_cortex(subject, subject2):
    nc = subject.noise_ceiling
    assert 15 < np.median(nc) < 55  # NSD nsdgeneral: median noise ceiling a few tens of percent
    assert np.percentile(nc, 95) > 60 and np.percentile(nc, 5) < 15
    assert subject2.ncsnr.mean() != pytest.approx(subject.ncsnr.mean(), rel=0.01)


def test_session_drifts_are_removed_by_zscoring(subject):
    sim_raw = subject.simulate(150, trials_per_session=150, zscore=False)
    sessions = sim_raw.trial_session
    offsets = np.stack([sim_raw.betas[sessions == s].mean(0) for s in np.unique(sessions)])
    assert np.median(offsets.std(0)) > 0.3  # raw betas drift between sessions
    sim = subject.simulate(150, trials_per_session=150)
    means = np.stack([sim.betas[sessions == s].mean(0) for s in np.unique(sessions)])
    np.testing.assert_allclose(means, 0, atol=1e-4)


def test_shared_test_images_are_identical_across_subjects(subject, subject2):
    a = subject.simulate(40)
    b = subject2.simulate(40)
    test = a.split == 2
    assert test.sum() == 4 and np.array_equal(b.split, a.split)
    np.testing.assert_array_equal(a.stimuli.images[test], b.stimuli.images[test])
    np.testing.assert_array_equal(a.stimuli.images[test], stimuli.generate(4, seed=SHARED_TEST_SEED).images)
    assert not np.array_equal(a.stimuli.images[~test], b.stimuli.images[~test])


def test_respond_is_deterministic_differentiable_and_size_free(subject):
    images = stimuli.generate(4, seed=1).images
    np.testing.assert_array_equal(subject.respond(images), subject.respond(images))
    big = stimuli.generate(4, seed=1, size=96).images
    assert subject.respond(big).shape == (4, subject.n_voxels)
    x = to_tensor(images).requires_grad_(True)
    ffa = torch.from_numpy(subject.region_mask("FFA-1"))
    subject.brain(x)[:, ffa].mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_bad_input_is_named(subject):
    with pytest.raises(ValueError, match=r"images must be \(N, H, W, 3\) uint8"):
        subject.respond(np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="subject must be a positive integer; 0"):
        InSilicoSubject(0)
    with pytest.raises(ValueError, match="n_images must be at least 2; 1"):
        subject.simulate(1)
    with pytest.raises(KeyError, match="unknown region 'FFA'"):
        subject.region_mask("FFA")

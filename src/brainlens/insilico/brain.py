"""The in-silico subject: a ground-truth visual system, NSD-like measurement noise, and the truth.

The ground truth is a fixed, differentiable function from pixels to voxel responses:

- early visual voxels (V1–V3, hV4) pool local contrast energy (a quadrature Gabor pyramid, three
  spatial-frequency bands) over a Gaussian population receptive field (pRF) and compress it with a
  power law (the compressive spatial summation model);
- category voxels pool category evidence maps of a fixed, shipped network (``category_net``) over a
  large pRF; the halves of split regions weight an attribute (indoor vs outdoor scenes, warm vs green
  food) in opposite directions; unlabelled visual cortex mixes both kinds of input.

Each voxel's noiseless response is standardised on a fixed calibration set of stimuli, so it has
unit variance over natural in-silico images. A measured single-trial beta is
``offset + gain * amplitude * (ncsnr * signal + noise)``, with unit-variance noise (partly shared
across voxels), per-session offsets and gains (drifts), and ncsnr spread like NSD's visual cortex;
z-scoring per session removes the drifts, leaving signal-to-noise ratio ncsnr.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from brainlens.insilico import stimuli
from brainlens.insilico.category_net import CategoryNet, load_category_net
from brainlens.insilico.layout import (
    EARLY_REGIONS,
    HALVES,
    REGION_CATEGORY,
    STIMULUS_DEGREES,
    Layout,
    build_layout,
)
from brainlens.reliability import ncsnr_from_repeats, noise_ceiling

__all__ = [
    "EVIDENCE_CHANNELS",
    "GOD_TEST_CLASSES",
    "SHARED_TEST_SEED",
    "VoxelTuning",
    "GroundTruthBrain",
    "InSilicoSubject",
    "Simulation",
]

# what category voxels can read: category evidence, then attribute-weighted place and food evidence
EVIDENCE_CHANNELS = stimuli.CATEGORIES + ("place-indoor", "place-outdoor", "food-warm", "food-green")
# the shared test images (like NSD's shared1000) come from this stimulus seed for every subject
SHARED_TEST_SEED = 424242
# GOD-like design (Horikawa & Kamitani's Generic Object Decoding): training images of some fine classes shown
# once, test images of the other classes shown GOD_TEST_REPEATS times. A quarter of the fine classes are test
# classes, as GOD's 50 of 200: every fourth one, so every category has some.
GOD_TEST_CLASSES = tuple(range(0, len(stimuli.FINE_CLASSES), 4))
GOD_N_TRAIN, GOD_N_VAL, GOD_N_TEST, GOD_TEST_REPEATS = 1200, 50, 50, 35
GOD_TEST_SEED = 515151  # the GOD-like test images, shared by every subject
# BOLD5000-like design (Chang et al. 2019, as MinD-Vis splits it): 4,916 images that every subject sees, the 113
# test images shown 4 times and the rest once; runs of 37 trials, 10 runs to a session. BOLD5000 has no
# validation split; BOLD5000_N_VAL of the images shown once form one, so that training never looks at the test.
BOLD5000_N_IMAGES, BOLD5000_N_VAL, BOLD5000_N_TEST, BOLD5000_TEST_REPEATS = 4916, 100, 113, 4
BOLD5000_TRIALS_PER_SESSION = 370
BOLD5000_SEED = 505050  # the BOLD5000-like images, shared by every subject
# the noise of each design's trials is drawn from its own stream
_DESIGN_NOISE_SEED = {"nsd": None, "god": 1, "bold5000": 2}
_CALIBRATION_SEED = 99_991
_N_CALIBRATION = 768
_CHUNK = 1024  # images drawn and run through the brain at a time during a simulation
_ENERGY_GRID = 32  # contrast-energy maps are pooled on a 32 × 32 grid over the stimulus
_GABOR_FREQUENCY = 0.25  # cycles per pixel at every pyramid level
_SF_LEVELS = 3  # pyramid levels: 64, 32 and 16 px → about 1.9, 0.95 and 0.48 cycles per degree


@dataclass(frozen=True)
class VoxelTuning:
    """Each voxel's true tuning; all arrays have one row per voxel."""

    prf_x: np.ndarray  # (V,) pRF centre, degrees, + right
    prf_y: np.ndarray  # (V,) degrees, + up
    prf_size: np.ndarray  # (V,) Gaussian sigma, degrees
    sf_weights: np.ndarray  # (V, 3) weight of the high, middle and low spatial-frequency bands
    exponent: np.ndarray  # (V,) compressive exponent of the low-level pathway
    lowlevel_weight: np.ndarray  # (V,) weight of the low-level pathway (standardised units)
    category_weight: np.ndarray  # (V,) weight of the category pathway
    evidence_weights: np.ndarray  # (V, len(EVIDENCE_CHANNELS)) what the category pathway reads
    preferred: np.ndarray  # (V,) int index into EVIDENCE_CHANNELS of the strongest weight, -1 for early voxels


def _make_tuning(layout: Layout, rng: np.random.Generator) -> VoxelTuning:
    n = layout.n_voxels
    names = np.array(layout.roi_names)[layout.roi]
    early = np.isin(names, EARLY_REGIONS)
    early_index = np.array([EARLY_REGIONS.index(r) if r in EARLY_REGIONS else 0 for r in names])
    contralateral = np.where(layout.hemisphere == 0, 1.0, -1.0)

    # category and unlabelled voxels: large pRFs near the fovea, in the opposite visual field
    prf_x = np.where(early, layout.prf_x, contralateral * np.abs(rng.normal(0.8, 0.7, n)))
    prf_y = np.where(early, layout.prf_y, rng.normal(0.0, 0.8, n))
    ecc = np.hypot(prf_x, prf_y)
    # pRF size grows with eccentricity and up the hierarchy (V1 < V2 < V3 < hV4)
    slope = np.array([0.12, 0.18, 0.26, 0.38])[early_index]
    intercept = np.array([0.25, 0.35, 0.45, 0.7])[early_index]
    prf_size = np.where(early, intercept + slope * ecc, rng.uniform(1.8, 3.2, n)) * rng.uniform(0.9, 1.1, n)

    # foveal voxels prefer high spatial frequencies, peripheral ones low
    preferred_band = np.clip(ecc / 3.0, 0, 2) + rng.normal(0, 0.3, n)
    sf_weights = np.exp(-0.5 * ((np.arange(_SF_LEVELS)[None, :] - preferred_band[:, None]) / 0.8) ** 2)
    sf_weights /= sf_weights.sum(1, keepdims=True)
    exponent = np.where(early, np.array([0.5, 0.42, 0.36, 0.3])[early_index], 0.35) * rng.uniform(0.9, 1.1, n)

    evidence = rng.uniform(0.0, 0.1, (n, len(EVIDENCE_CHANNELS)))
    lowlevel = np.where(early, 1.0, 0.3)
    category = np.where(early, 0.0, 0.95)
    for k, region in enumerate(layout.roi_names):
        members = layout.roi == k
        if region == "hV4":
            category[members] = 0.45  # hV4 carries some shape and colour information
        elif region in REGION_CATEGORY:
            evidence[members, stimuli.CATEGORIES.index(REGION_CATEGORY[region])] = 1.0
        elif region == "":
            # unlabelled visual cortex: a random mixture of everything
            evidence[members, : len(stimuli.CATEGORIES)] = rng.dirichlet(np.full(len(stimuli.CATEGORIES), 0.5), members.sum())
            lowlevel[members] = rng.uniform(0.3, 0.9, members.sum())
            category[members] = np.sqrt(1 - lowlevel[members] ** 2)
    for region, (half_names, _axis, attribute, preferred_values) in HALVES.items():
        category_name = REGION_CATEGORY[region]
        for half_name, value in zip(half_names, preferred_values):
            members = layout.half == layout.half_names.index(half_name)
            suffixes = {("indoor", 1.0): "indoor", ("indoor", 0.0): "outdoor", ("warm", 1.0): "warm", ("warm", 0.0): "green"}
            suffix = suffixes[(attribute, value)]
            evidence[members, stimuli.CATEGORIES.index(category_name)] = 0.3
            evidence[members, EVIDENCE_CHANNELS.index(f"{category_name}-{suffix}")] = 1.0
    preferred = np.where(early, -1, evidence.argmax(1))
    return VoxelTuning(
        prf_x=prf_x.astype(np.float32),
        prf_y=prf_y.astype(np.float32),
        prf_size=prf_size.astype(np.float32),
        sf_weights=sf_weights.astype(np.float32),
        exponent=exponent.astype(np.float32),
        lowlevel_weight=lowlevel.astype(np.float32),
        category_weight=category.astype(np.float32),
        evidence_weights=evidence.astype(np.float32),
        preferred=preferred.astype(np.int64),
    )


def _gabor_bank(size: int = 9) -> torch.Tensor:
    """Quadrature Gabor pairs at 4 orientations: (8, 1, size, size), even kernels zero-mean."""
    half = size // 2
    y, x = torch.meshgrid(torch.arange(-half, half + 1.0), torch.arange(-half, half + 1.0), indexing="ij")
    sigma = 0.56 / _GABOR_FREQUENCY  # about one octave of bandwidth
    envelope = torch.exp(-(x**2 + y**2) / (2 * sigma**2))
    kernels = []
    for k in range(4):
        theta = math.pi * k / 4
        phase = 2 * math.pi * _GABOR_FREQUENCY * (x * math.cos(theta) + y * math.sin(theta))
        even = envelope * torch.cos(phase)
        odd = envelope * torch.sin(phase)
        even = even - envelope * (even.sum() / envelope.sum())
        kernels += [even / even.norm(), odd / odd.norm()]
    return torch.stack(kernels)[:, None]


def _gaussian_weights(centre: np.ndarray, sigma: np.ndarray, n: int) -> torch.Tensor:
    """1-D Gaussian weights of each voxel over n grid cells spanning the stimulus: (V, n).

    Normalised so that the product of the x and y weights integrates to one over the whole plane:
    a pRF partly outside the stimulus sees proportionally less of it.
    """
    step = STIMULUS_DEGREES / n
    cells = (np.arange(n) + 0.5) * step - STIMULUS_DEGREES / 2
    weights = np.exp(-0.5 * ((cells[None, :] - centre[:, None]) / sigma[:, None]) ** 2)
    weights *= step / (np.sqrt(2 * np.pi) * sigma[:, None])
    return torch.from_numpy(weights.astype(np.float32))


class GroundTruthBrain(nn.Module):
    """images (B, 3, H, W) float in [0, 1] → noiseless voxel responses (B, V), differentiable.

    Responses are standardised (zero mean, unit variance per voxel) over a fixed calibration set.
    """

    def __init__(self, tuning: VoxelTuning, category_net: CategoryNet):
        super().__init__()
        self.tuning = tuning
        self.category_net = category_net.eval().requires_grad_(False)
        n = len(tuning.prf_x)
        self.register_buffer("gabors", _gabor_bank())
        grid = self.category_net.config.image_size // 8
        # grids run left→right in x and top→bottom in y (so y weights use -prf_y)
        self.register_buffer("low_x", _gaussian_weights(tuning.prf_x, tuning.prf_size, _ENERGY_GRID))
        self.register_buffer("low_y", _gaussian_weights(-tuning.prf_y, tuning.prf_size, _ENERGY_GRID))
        self.register_buffer("cat_x", _gaussian_weights(tuning.prf_x, tuning.prf_size, grid))
        self.register_buffer("cat_y", _gaussian_weights(-tuning.prf_y, tuning.prf_size, grid))
        for name in ("sf_weights", "exponent", "lowlevel_weight", "category_weight", "evidence_weights"):
            self.register_buffer(name, torch.from_numpy(getattr(tuning, name)))
        # each voxel's separable receptive field (and, for the category pathway, its evidence weights)
        # as one dense row, so pooling is a single matrix product instead of (B, V, h, w) intermediates
        low_rf = torch.einsum("vy,vx->vyx", self.low_y, self.low_x)
        self.register_buffer("low_rf", low_rf.reshape(n, -1).T.contiguous())  # (32², V)
        category_rf = torch.einsum("vc,vy,vx->vcyx", self.evidence_weights, self.cat_y, self.cat_x)
        self.register_buffer("category_rf", category_rf.reshape(n, -1).T.contiguous())  # (10·8², V)
        for name in ("low_mean", "cat_mean", "out_mean"):
            self.register_buffer(name, torch.zeros(n))
        for name in ("low_std", "cat_std", "out_std"):
            self.register_buffer(name, torch.ones(n))

    @property
    def n_voxels(self) -> int:
        return int(self.low_x.shape[0])

    def contrast_energy(self, images: torch.Tensor) -> torch.Tensor:
        """Local contrast energy in three spatial-frequency bands: (B, 3, 32, 32)."""
        size = self.category_net.config.image_size
        if images.shape[-2:] != (size, size):
            images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        gray = (images * images.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        bands = []
        level = gray
        for _ in range(_SF_LEVELS):
            response = F.conv2d(F.pad(level, (4, 4, 4, 4), mode="reflect"), self.gabors)  # (B, 8, h, w)
            energy = (response.view(response.shape[0], 4, 2, *response.shape[-2:]) ** 2).sum(2).add(1e-6).sqrt()
            energy = energy.sum(1, keepdim=True)  # orientations pooled: (B, 1, h, w)
            bands.append(F.interpolate(energy, size=(_ENERGY_GRID, _ENERGY_GRID), mode="bilinear", antialias=True, align_corners=False))
            level = F.avg_pool2d(level, 2)
        return torch.cat(bands, 1)

    def evidence(self, images: torch.Tensor) -> torch.Tensor:
        """Non-negative evidence maps, one per EVIDENCE_CHANNELS entry: (B, 10, 8, 8)."""
        maps = self.category_net(images)
        n_categories = len(stimuli.CATEGORIES)
        categories = F.softplus(maps[:, :n_categories])
        # attributes are image-level (a scene is indoor or not): pooled, then broadcast over space
        attributes = torch.sigmoid(CategoryNet.pool(maps[:, n_categories:]))[:, :, None, None]  # (B, 2, 1, 1)
        indoor, warm = attributes[:, :1], attributes[:, 1:2]
        place = categories[:, stimuli.CATEGORIES.index("place")][:, None]
        food = categories[:, stimuli.CATEGORIES.index("food")][:, None]
        return torch.cat([categories, place * indoor, place * (1 - indoor), food * warm, food * (1 - warm)], 1)

    def pathways(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two pathways before standardisation: low-level (B, V) and category (B, V)."""
        energy = self.contrast_energy(images)  # (B, 3, 32, 32)
        pooled = (energy.flatten(2) @ self.low_rf).transpose(1, 2)  # (B, V, 3)
        low = ((pooled * self.sf_weights).sum(-1) + 1e-4) ** self.exponent
        evidence = self.evidence(images)  # (B, 10, 8, 8)
        category = evidence.flatten(1) @ self.category_rf  # (B, V)
        return low, (category + 1e-4) ** 0.8

    def _mix(self, low: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
        """Weighted sum of the two pathways, each standardised: (B, V)."""
        raw = self.lowlevel_weight * (low - self.low_mean) / self.low_std
        return raw + self.category_weight * (category - self.cat_mean) / self.cat_std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (self._mix(*self.pathways(images)) - self.out_mean) / self.out_std

    @torch.no_grad()
    def calibrate(self, images: torch.Tensor, batch_size: int = 256) -> None:
        """Set the standardisation from calibration images (N, 3, H, W)."""
        low, category = (
            torch.cat(parts) for parts in zip(*(self.pathways(images[i : i + batch_size]) for i in range(0, len(images), batch_size)))
        )
        self.low_mean.copy_(low.mean(0))
        self.low_std.copy_(low.std(0).clamp_min(1e-6))
        self.cat_mean.copy_(category.mean(0))
        self.cat_std.copy_(category.std(0).clamp_min(1e-6))
        raw = self._mix(low, category)
        self.out_mean.copy_(raw.mean(0))
        self.out_std.copy_(raw.std(0).clamp_min(1e-6))


@dataclass(frozen=True)
class Simulation:
    """One simulated NSD-like experiment, ready to write as a store."""

    stimuli: stimuli.Stimuli  # the images, labels, captions and fine classes
    split: np.ndarray  # (n_images,) int8 0 train, 1 validation, 2 test (shared across subjects)
    trial_image: np.ndarray  # (n_trials,) int64
    trial_session: np.ndarray  # (n_trials,) int32
    betas: np.ndarray  # (n_trials, V) float32, z-scored per session (raw when zscored is False)
    signal: np.ndarray  # (n_images, V) float32 noiseless standardised responses
    ncsnr_estimate: np.ndarray  # (V,) float32 ncsnr estimated from the betas with NSD's formula
    zscored: bool
    design: str = "nsd"  # "nsd" (simulate), "god" (simulate_god) or "bold5000" (simulate_bold5000)

    @property
    def outside_test(self) -> np.ndarray:
        """(n_trials,) bool: the trials of training and validation images, all that an fMRI-only store keeps."""
        return self.split[self.trial_image] != 2


class InSilicoSubject:
    """A simulated subject: ground-truth brain, voxel layout, noise model, and the truth.

    >>> subject = InSilicoSubject(1)
    >>> responses = subject.respond(images)          # noiseless, (n, n_voxels)
    >>> sim = subject.simulate(1000)                 # an NSD-like experiment with noise
    """

    n_repeats = 3

    def __init__(self, subject: int = 1):
        if not isinstance(subject, (int, np.integer)) or subject < 1:
            raise ValueError(f"subject must be a positive integer; {subject!r} was provided.")
        self.subject = int(subject)
        rng = np.random.default_rng([11, self.subject])
        self.layout = build_layout(self.subject)
        self.tuning = _make_tuning(self.layout, rng)
        self.brain = GroundTruthBrain(self.tuning, _shipped_net())
        calibration = stimuli.generate(_N_CALIBRATION, seed=_CALIBRATION_SEED, size=64)
        self.brain.calibrate(stimuli.to_tensor(calibration.images))
        self.ncsnr = self._draw_ncsnr(rng)
        self._noise_seed = int(rng.integers(2**31))

    # -- the truth --------------------------------------------------------------------------
    @property
    def n_voxels(self) -> int:
        return self.layout.n_voxels

    @property
    def noise_ceiling(self) -> np.ndarray:
        """(V,) percent of variance explainable in responses averaged over the subject's 3 repeats."""
        return noise_ceiling(self.ncsnr, self.n_repeats)

    def region_mask(self, name: str) -> np.ndarray:
        return self.layout.region_mask(name)

    def _draw_ncsnr(self, rng: np.random.Generator) -> np.ndarray:
        names = np.array(self.layout.roi_names)[self.layout.roi]
        base = np.where(np.isin(names, EARLY_REGIONS), 0.6, np.where(names == "", 0.28, 0.52))
        # smooth spatial modulation: a few broad bumps over the cortex
        field = np.zeros(self.n_voxels)
        for _ in range(6):
            centre = self.layout.pial[rng.integers(self.n_voxels)]
            distance = np.linalg.norm(self.layout.pial - centre, axis=1)
            field += rng.normal(0, 0.25) * np.exp(-0.5 * (distance / 15.0) ** 2)
        # voxels whose pRF sees little of the stimulus have little signal
        coverage = (self.brain.low_x.sum(1) * self.brain.low_y.sum(1)).numpy()
        subject_scale = 1.0 if self.subject == 1 else rng.uniform(0.7, 1.05)
        ncsnr = base * np.exp(field + rng.normal(0, 0.35, self.n_voxels)) * np.sqrt(np.clip(coverage, 0.05, 1))
        return np.clip(ncsnr * subject_scale, 0.03, 1.8).astype(np.float32)

    # -- in-silico experiments ---------------------------------------------------------------
    def respond(
        self,
        images: np.ndarray | torch.Tensor,
        *,
        batch_size: int = 256,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Noiseless responses to any images: (N, H, W, 3) uint8 or (N, 3, H, W) float → (N, V) float32."""
        out = []
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                out.append(self.brain(stimuli.to_tensor(images[start : start + batch_size])).numpy())
                if progress is not None:
                    progress(len(out[-1]))
        return np.concatenate(out) if out else np.zeros((0, self.n_voxels), np.float32)

    def measure(self, signal: np.ndarray, trial_session: np.ndarray, seed: int | None = None) -> np.ndarray:
        """Raw single-trial betas for noiseless responses ``signal`` (n_trials, V): noise and drifts added."""
        rng = np.random.default_rng([self._noise_seed, 0 if seed is None else seed + 1])
        n_trials, n_voxels = signal.shape
        noise = rng.standard_normal((n_trials, n_voxels), dtype=np.float32)
        # a global fluctuation shared across voxels, as in real BOLD noise (10 % of the noise variance)
        shared = rng.standard_normal((n_trials, 1), dtype=np.float32) * rng.uniform(0.8, 1.2, n_voxels).astype(np.float32)
        noise = np.sqrt(0.9) * noise + np.sqrt(0.1) * shared / np.float32(np.sqrt(np.mean(shared**2, axis=0) + 1e-9))
        betas = self.ncsnr * signal + noise
        amplitude = rng.uniform(0.5, 3.0, n_voxels).astype(np.float32)  # percent signal change scale
        for session in np.unique(trial_session):
            rows = trial_session == session
            offset = rng.normal(0, 0.6, n_voxels) + rng.normal(0, 0.3)
            gain = 1 + rng.normal(0, 0.1, n_voxels)
            betas[rows] = (offset + gain * amplitude * betas[rows]).astype(np.float32)
        return betas

    def simulate(
        self,
        n_images: int,
        *,
        image_size: int = 64,
        trials_per_session: int = 750,
        n_test: int | None = None,
        n_val: int | None = None,
        zscore: bool = True,
        progress: Callable[[str, int], None] | None = None,
    ) -> Simulation:
        """An NSD-like experiment: each image shown 3 times across sessions of ``trials_per_session``.

        The first ``n_test`` images (default a tenth) are shared by every subject, as NSD's shared1000;
        the next ``n_val`` (default a twentieth) form the validation split. ``progress(stage, k)`` is
        called as images are generated ("stimuli") and run through the brain ("brain").
        """

        if n_images < 2:
            raise ValueError(f"n_images must be at least 2; {n_images!r} was provided.")
        if trials_per_session < 1:
            raise ValueError(f"trials_per_session must be at least 1; {trials_per_session!r} was provided.")
        n_test = max(1, n_images // 10) if n_test is None else n_test
        n_val = n_images // 20 if n_val is None else n_val
        if not 0 < n_test < n_images or not 0 <= n_val <= n_images - n_test - 1:
            raise ValueError(f"n_test={n_test} and n_val={n_val} leave no training images out of n_images={n_images}.")

        def tick(stage: str) -> Callable[[int], None] | None:
            return None if progress is None else (lambda k: progress(stage, k))

        # (seed, start, count) pieces: the shared test images first, then the subject's own
        pieces = [(SHARED_TEST_SEED, start, min(_CHUNK, n_test - start)) for start in range(0, n_test, _CHUNK)]
        pieces += [(1000 + self.subject, start, min(_CHUNK, n_images - n_test - start)) for start in range(0, n_images - n_test, _CHUNK)]

        def draw(piece: tuple[int, int, int]) -> stimuli.Stimuli:
            seed, start, count = piece
            return stimuli.generate(count, seed=seed, start=start, size=image_size, progress=tick("stimuli"))

        parts, signals = [], []
        with ThreadPoolExecutor(max_workers=1) as pool:
            # the next piece is drawn while the brain runs on this one (torch releases the GIL)
            pending = pool.submit(draw, pieces[0])
            for k in range(len(pieces)):
                parts.append(pending.result())
                if k + 1 < len(pieces):
                    pending = pool.submit(draw, pieces[k + 1])
                signals.append(self.respond(parts[-1].images, progress=tick("brain")))
        images = _concatenate(parts)
        signal = np.concatenate(signals)
        split = np.zeros(n_images, dtype=np.int8)
        split[:n_test] = 2
        split[n_test : n_test + n_val] = 1

        rng = np.random.default_rng([self._noise_seed, 7])
        trial_image = rng.permutation(np.repeat(np.arange(n_images), self.n_repeats))
        return self._run_trials(images, signal, split, trial_image, trials_per_session, zscore, "nsd")

    def simulate_god(
        self,
        *,
        n_train: int = GOD_N_TRAIN,
        n_val: int = GOD_N_VAL,
        n_test: int = GOD_N_TEST,
        test_repeats: int = GOD_TEST_REPEATS,
        image_size: int = 64,
        trials_per_session: int = 750,
        zscore: bool = True,
        progress: Callable[[str, int], None] | None = None,
    ) -> Simulation:
        """A GOD-like experiment: ``n_train`` training and ``n_val`` validation images of the training fine classes,
        each shown once, and ``n_test`` test images of the :data:`GOD_TEST_CLASSES` (never in training), taken in turn
        from each test class and shown ``test_repeats`` times. Trials run in sessions of ``trials_per_session``:
        the training and validation trials first, in random order, then the test trials, as GOD's sessions.
        The test images are shared by every subject; the training images are the subject's own."""
        for name, value, least in (("n_train", n_train, 2), ("n_val", n_val, 0), ("n_test", n_test, 2),
                                   ("test_repeats", test_repeats, 2), ("trials_per_session", trials_per_session, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                raise ValueError(f"{name} must be an integer of at least {least}; {value!r} was provided.")
        test_classes = np.array(GOD_TEST_CLASSES)
        tick = (lambda k: progress("stimuli", k)) if progress is not None else None
        quota = np.zeros(len(stimuli.FINE_CLASSES), np.int64)
        quota[test_classes] = n_test // len(test_classes)
        quota[test_classes[: n_test % len(test_classes)]] += 1
        test = _draw_where(GOD_TEST_SEED, image_size, lambda fine, taken: taken < quota[fine], n_test)
        rank = np.array([np.sum(test.fine_class[:i] == fine) for i, fine in enumerate(test.fine_class)])
        test = _subset(test, np.lexsort((test.fine_class, rank)))  # one image of each test class, then a second, …
        outside = np.ones(len(stimuli.FINE_CLASSES), bool)
        outside[test_classes] = False
        seen = _draw_where(2000 + self.subject, image_size, lambda fine, taken: outside[fine], n_train + n_val)
        images = _concatenate([test, seen])
        if tick is not None:
            tick(len(images.images))
        signal = self.respond(images.images, progress=None if progress is None else (lambda k: progress("brain", k)))
        n_images = n_test + n_val + n_train
        split = np.zeros(n_images, dtype=np.int8)
        split[:n_test] = 2
        split[n_test : n_test + n_val] = 1

        rng = np.random.default_rng([self._noise_seed, 9])
        trial_image = np.concatenate([n_test + rng.permutation(n_train + n_val),
                                      rng.permutation(np.repeat(np.arange(n_test), test_repeats))])
        return self._run_trials(images, signal, split, trial_image, trials_per_session, zscore, "god")

    def simulate_bold5000(
        self,
        *,
        n_images: int = BOLD5000_N_IMAGES,
        n_val: int = BOLD5000_N_VAL,
        n_test: int = BOLD5000_N_TEST,
        test_repeats: int = BOLD5000_TEST_REPEATS,
        image_size: int = 64,
        trials_per_session: int = BOLD5000_TRIALS_PER_SESSION,
        zscore: bool = True,
        progress: Callable[[str, int], None] | None = None,
    ) -> Simulation:
        """A BOLD5000-like experiment: ``n_images`` images, the same for every subject, of every fine class; the
        first ``n_test`` are the test images, shown ``test_repeats`` times (BOLD5000's 113 repeated images, MinD-Vis's
        test split), the next ``n_val`` the validation images, the rest the training images; all but the test images
        are shown once. Every trial comes in random order, in sessions of ``trials_per_session``."""
        for name, value, least in (("n_images", n_images, 3), ("n_val", n_val, 0), ("n_test", n_test, 1),
                                   ("test_repeats", test_repeats, 1), ("trials_per_session", trials_per_session, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                raise ValueError(f"{name} must be an integer of at least {least}; {value!r} was provided.")
        if n_test + n_val >= n_images:
            raise ValueError(f"n_test={n_test} and n_val={n_val} leave no training images out of n_images={n_images}.")
        images = stimuli.generate(n_images, seed=BOLD5000_SEED, size=image_size,
                                  progress=None if progress is None else (lambda k: progress("stimuli", k)))
        signal = self.respond(images.images, progress=None if progress is None else (lambda k: progress("brain", k)))
        split = np.zeros(n_images, dtype=np.int8)
        split[:n_test] = 2
        split[n_test : n_test + n_val] = 1

        rng = np.random.default_rng([self._noise_seed, 11])
        shown = np.concatenate([np.repeat(np.arange(n_test), test_repeats), np.arange(n_test, n_images)])
        return self._run_trials(images, signal, split, rng.permutation(shown), trials_per_session, zscore, "bold5000")

    def _run_trials(self, images: stimuli.Stimuli, signal: np.ndarray, split: np.ndarray, trial_image: np.ndarray,
                    trials_per_session: int, zscore: bool, design: str) -> Simulation:
        """Measure the trials (images in showing order, ``trials_per_session`` to a session) with noise."""
        from brainlens.store import zscore_sessions

        trial_session = (np.arange(trial_image.size) // trials_per_session).astype(np.int32)
        betas = self.measure(signal[trial_image], trial_session, seed=_DESIGN_NOISE_SEED[design])
        zscored = zscore_sessions(betas, trial_session)
        return Simulation(
            stimuli=images,
            split=split,
            trial_image=trial_image.astype(np.int64),
            trial_session=trial_session,
            betas=zscored if zscore else betas,
            signal=signal,
            ncsnr_estimate=ncsnr_from_repeats(zscored, trial_image).astype(np.float32),
            zscored=zscore,
            design=design,
        )

    def write_store(self, simulation: Simulation, path, *, beta_dtype: str = "float16", fmri_only: bool = False):
        """Write a simulation as a subject store, with the truth under ``truth/``.

        With ``fmri_only`` the store plays HCP's part in masked brain modelling: the betas alone (kind
        "fmri-only"), without images, their labels or the truth, and without the trials of the test images — every
        subject sees the same shared test images, so keeping them would let pretraining see test stimuli.
        """
        from brainlens import store

        layout, tuning = self.layout, self.tuning
        voxels = {"roi": layout.roi, "roi_names": layout.roi_names, "roi_sets": {"halves": (layout.half, layout.half_names)},
                  "vertex": layout.vertex, "space": "fsaverage5", "dataset": "insilico", "subject": str(self.subject),
                  "zscored": simulation.zscored, "beta_dtype": beta_dtype}
        if fmri_only:
            kept = simulation.outside_test
            return store.write(
                path,
                betas=simulation.betas[kept],
                trial_session=simulation.trial_session[kept],
                source=f"brainlens in-silico subject {self.subject}, fMRI only (test images' trials left out)",
                extra_attrs={"insilico_subject": self.subject, "n_images_simulated": int(simulation.split.size)},
                **voxels,
            )
        truth = {
            "truth/signal": simulation.signal.astype(np.float16),
            "truth/ncsnr": self.ncsnr,
            "truth/noise_ceiling": self.noise_ceiling.astype(np.float32),
            "truth/prf_x": tuning.prf_x,
            "truth/prf_y": tuning.prf_y,
            "truth/prf_size": tuning.prf_size,
            "truth/evidence_weights": tuning.evidence_weights,
            "truth/preferred": tuning.preferred,
            "truth/attributes": simulation.stimuli.attributes,
            "truth/category": simulation.stimuli.category,
        }
        return store.write(
            path,
            images=simulation.stimuli.images,
            betas=simulation.betas,
            trial_image=simulation.trial_image,
            trial_session=simulation.trial_session,
            split=simulation.split,
            ncsnr=simulation.ncsnr_estimate,
            captions=simulation.stimuli.captions,
            labels=simulation.stimuli.labels,
            label_names=stimuli.CATEGORIES,
            fine_class=simulation.stimuli.fine_class,
            fine_class_names=stimuli.FINE_CLASSES,
            extra=truth,
            source=f"brainlens in-silico subject {self.subject}, {simulation.design.upper()}-like design",
            extra_attrs={
                "insilico_subject": self.subject,
                "design": simulation.design,
                "evidence_channels": list(EVIDENCE_CHANNELS),
                "attribute_names": list(stimuli.ATTRIBUTES),
            },
            **voxels,
        )


@lru_cache(maxsize=1)
def _shipped_net() -> CategoryNet:
    return load_category_net()


def _draw_where(seed: int, size: int, accept: Callable[[int, int], bool], n: int) -> stimuli.Stimuli:
    """The first ``n`` images drawn from ``seed`` that ``accept(fine_class, already taken of that class)``."""
    parts, taken, found, start = [], np.zeros(len(stimuli.FINE_CLASSES), np.int64), 0, 0
    while found < n:
        if start > 200 * n + 10_000:
            raise RuntimeError(f"drew {start} images from seed {seed} and found only {found} of {n} acceptable ones.")
        batch = stimuli.generate(256, seed=seed, start=start, size=size)
        keep = []
        for i, fine in enumerate(batch.fine_class):
            if found < n and accept(fine, taken[fine]):
                keep.append(i)
                taken[fine] += 1
                found += 1
        parts.append(_subset(batch, np.array(keep, np.int64)))
        start += 256
    return _concatenate(parts)


def _subset(images: stimuli.Stimuli, index: np.ndarray) -> stimuli.Stimuli:
    return stimuli.Stimuli(images.images[index], images.labels[index], images.category[index], images.attributes[index],
                           tuple(images.captions[i] for i in index), images.fine_class[index])


def _concatenate(parts: list[stimuli.Stimuli]) -> stimuli.Stimuli:
    return stimuli.Stimuli(
        images=np.concatenate([p.images for p in parts]),
        labels=np.concatenate([p.labels for p in parts]),
        category=np.concatenate([p.category for p in parts]),
        attributes=np.concatenate([p.attributes for p in parts]),
        captions=tuple(c for p in parts for c in p.captions),
        fine_class=np.concatenate([p.fine_class for p in parts]),
    )

"""Brain-space fidelity: per-pair correlations across voxels and voxel-space identification, against
hand computations from the subject's own responses, with the ground truth and with an encoder module."""

import numpy as np
import pytest
import torch
from torch import nn

from brainlens.evaluation.brain import brain_correlation
from brainlens.evaluation.insilico import subject
from tests.evaluation import noisy_pairs


@pytest.fixture(scope="module")
def pairs():
    return noisy_pairs(6, seed=321, amplitude=40)


def test_ground_truth_fidelity_matches_hand_computation(pairs):
    seen, recon = pairs
    brain = subject(1)
    result = brain_correlation(brain, seen, recon)
    a, b = brain.respond(seen).astype(np.float64), brain.respond(recon).astype(np.float64)
    expected = [np.corrcoef(x, y)[0, 1] for x, y in zip(a, b)]
    np.testing.assert_allclose(result["correlation_per_image"], expected, atol=1e-9)
    assert result["correlation"] == pytest.approx(np.mean(expected))
    ffa = brain.region_mask("FFA-1")
    assert result["regions"]["FFA-1"] == pytest.approx(np.mean([np.corrcoef(x[ffa], y[ffa])[0, 1] for x, y in zip(a, b)]))
    assert set(result["regions"]) >= {"V1", "FFA-1", "PPA", "EBA", "VWFA-1", "food"}
    # 2-way identification in voxel space: for each reconstruction j, the other seen images i whose responses
    # correlate less with its responses than its own seen image's do; two reconstructions swapped make it fall
    # short of 1, where the other direction (each seen image against the other reconstructions) differs
    def two_way(seen_responses, made_responses):
        r = np.corrcoef(seen_responses, made_responses)[:6, 6:]  # r[i, j]: seen image i against reconstruction j
        return np.mean([np.mean([r[i, j] < r[j, j] for i in range(6) if i != j]) for j in range(6)])

    assert result["two_way_identification"] == pytest.approx(two_way(a, b), abs=1e-12)
    order = [0, 1, 2, 3, 5, 4]
    swapped = brain_correlation(brain, seen, recon[order])
    assert two_way(a, b[order]) != pytest.approx(two_way(b[order], a))
    assert swapped["two_way_identification"] == pytest.approx(two_way(a, b[order]), abs=1e-12)
    assert result["brain"] == "in-silico subject 1 (ground truth)" and result["n_voxels"] == brain.n_voxels
    # the seen images themselves are perfect reconstructions; another image's responses are not
    same = brain_correlation(brain, seen, seen)
    assert same["correlation"] == pytest.approx(1.0) and same["two_way_identification"] == 1.0
    shuffled = brain_correlation(brain, seen, seen[::-1].copy())
    assert shuffled["two_way_identification"] < 0.5 < result["two_way_identification"]


class _LinearEncoder(nn.Module):
    """images → 5 voxels: the mean of each colour channel and two of their differences."""

    def __init__(self):
        super().__init__()
        self.register_buffer("voxel_index", torch.arange(5))

    def forward(self, images):
        means = images.mean(dim=(2, 3))  # (B, 3)
        return torch.cat([means, means[:, :1] - means[:, 1:2], means[:, 1:2] - means[:, 2:]], dim=1)


def test_encoder_fidelity_and_region_masks(pairs):
    seen, recon = pairs
    encoder = _LinearEncoder()
    mask = np.array([True, True, True, False, False])
    result = brain_correlation(encoder, seen, recon, regions={"colour": mask})
    a = encoder(torch.from_numpy(seen).permute(0, 3, 1, 2).float() / 255).double().numpy()
    b = encoder(torch.from_numpy(recon).permute(0, 3, 1, 2).float() / 255).double().numpy()
    assert result["regions"]["colour"] == pytest.approx(np.mean([np.corrcoef(x[:3], y[:3])[0, 1] for x, y in zip(a, b)]), abs=1e-6)
    assert result["brain"] == "encoder"
    with pytest.raises(ValueError, match="region 'colour': the mask must be boolean \\(5,\\)"):
        brain_correlation(encoder, seen, recon, regions={"colour": mask[:4]})
    with pytest.raises(ValueError, match="same number of images; got 6 and 5"):
        brain_correlation(encoder, seen, recon[:5])
    with pytest.raises(TypeError, match="brain must be an InSilicoSubject or an encoder module"):
        brain_correlation("subject 1", seen, recon)

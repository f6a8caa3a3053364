"""The diffusion prior and the low-level head: shapes, a sampler that recovers the target from a perfect denoiser,
training that learns a brain → embedding map, and settings that are refused by name."""

import pytest
import torch
import torch.nn.functional as F

from brainlens.decoding.low_level import LowLevelHead
from brainlens.decoding.mindeye import MindEye, MindEyeConfig
from brainlens.decoding.prior import DiffusionPrior, PriorConfig, cosine_alphas_cumprod

SMALL = PriorConfig(brain_tokens=3, brain_dim=8, n_tokens=1, dim=6, width=32, depth=2, heads=2, timesteps=20)


def test_the_cosine_schedule_falls_from_one_to_near_zero():
    abar = cosine_alphas_cumprod(100)
    assert abar.shape == (100,) and 0.99 < abar[0] <= 1 and abar[-1] < 1e-3
    assert torch.all(abar[1:] < abar[:-1])


def test_the_ancestral_chain_returns_the_target_of_a_perfect_denoiser(monkeypatch):
    prior = DiffusionPrior(SMALL)
    target = F.normalize(torch.randn(4, 1, 6), dim=-1)
    monkeypatch.setattr(prior, "forward", lambda noisy, t, brain: prior.scaled(target))
    sampled = prior.sample(torch.zeros(4, 3, 8), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(sampled, target, atol=1e-5)


def test_clip_tokens_keep_their_own_scale_through_the_chain(monkeypatch):
    """Versatile Diffusion's tokens are divided by the class token's norm, not each normalised: the prior denoises
    them as given (times √dim) and returns them in that scale."""
    from dataclasses import replace

    prior = DiffusionPrior(replace(SMALL, n_tokens=3, unit_tokens=False))
    target = torch.randn(4, 3, 6)
    target = target / target[:, :1].norm(dim=-1, keepdim=True)  # class token unit-norm, the others not
    assert torch.allclose(prior.scaled(target), target * 6**0.5)
    monkeypatch.setattr(prior, "forward", lambda noisy, t, brain: prior.scaled(target))
    sampled = prior.sample(torch.zeros(4, 3, 8), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(sampled, target, atol=1e-5)


def test_sampling_is_repeatable_unit_norm_and_guidance_changes_it():
    torch.manual_seed(0)
    prior = DiffusionPrior(SMALL)
    brain = torch.randn(5, 3, 8)
    first = prior.sample(brain, generator=torch.Generator().manual_seed(1))
    again = prior.sample(brain, generator=torch.Generator().manual_seed(1))
    guided = prior.sample(brain, guidance=3.0, generator=torch.Generator().manual_seed(1))
    assert first.shape == (5, 1, 6) and torch.equal(first, again)
    assert torch.allclose(first.norm(dim=-1), torch.ones(5, 1), atol=1e-5)
    assert not torch.allclose(first, guided)


def test_training_learns_the_embedding_of_each_brain():
    torch.manual_seed(0)
    prior = DiffusionPrior(PriorConfig(brain_tokens=2, brain_dim=4, n_tokens=1, dim=4, width=64, depth=2, heads=2,
                                       timesteps=20, condition_drop=0.1))
    brains = torch.randn(8, 2, 4)
    targets = F.normalize(brains.sum(1, keepdim=True), dim=-1)  # (8, 1, 4): a function of the brain
    optimiser = torch.optim.Adam(prior.parameters(), lr=2e-3)
    for _ in range(600):
        optimiser.zero_grad()
        prior.loss(brains, targets).backward()
        optimiser.step()
    sampled = prior.sample(brains, generator=torch.Generator().manual_seed(0))
    cosine = F.cosine_similarity(sampled, targets, dim=-1)
    assert cosine.mean() > 0.9
    # each brain's sample is closest to its own embedding
    assert torch.equal((sampled[:, 0] @ targets[:, 0].T).argmax(1), torch.arange(8))


def test_wrong_brain_tokens_and_settings_are_refused():
    prior = DiffusionPrior(SMALL)
    with pytest.raises(ValueError, match=r"brain tokens must be \(batch, 3, 8\)"):
        prior.sample(torch.zeros(2, 4, 8))
    with pytest.raises(ValueError, match="width .* multiple of heads"):
        PriorConfig(brain_tokens=1, brain_dim=1, width=30, heads=4)
    with pytest.raises(ValueError, match="condition_drop"):
        PriorConfig(brain_tokens=1, brain_dim=1, condition_drop=1.0)


def test_the_low_level_head_upsamples_four_times_to_the_latent():
    head = LowLevelHead(hidden=16, latent_shape=(8, 16, 12), width=8)
    assert head(torch.randn(3, 16)).shape == (3, 8, 16, 12)
    with pytest.raises(ValueError, match="multiples of 4"):
        LowLevelHead(hidden=16, latent_shape=(4, 10, 16))


def test_mindeye_carries_the_prior_and_the_low_level_head_when_asked():
    plain = MindEye(MindEyeConfig(n_voxels=20, n_tokens=2, dim=4, hidden=16, n_blocks=1, projector=8))
    assert plain.prior is None and plain.low_level is None and plain.predict(torch.randn(3, 20))[2] is None
    config = MindEyeConfig(n_voxels=20, n_tokens=2, dim=4, hidden=16, n_blocks=1, projector=8, prior_dim=6, prior_width=16,
                           prior_depth=1, prior_heads=2, low_level_shape=[4, 8, 8], low_level_width=8)
    full = MindEye(config)
    tokens, projected, latents = full.predict(torch.randn(3, 20))
    assert tokens.shape == projected.shape == (3, 2, 4) and latents.shape == (3, 4, 8, 8)
    assert full.prior.sample(tokens).shape == (3, 1, 6)
    assert config.to_dict()["low_level_shape"] == [4, 8, 8]  # JSON-ready, and read back as a tuple
    assert MindEyeConfig(**config.to_dict()).low_level_shape == (4, 8, 8)
    nsd = MindEyeConfig.nsd()
    assert (nsd.prior_width, nsd.prior_depth, nsd.prior_heads, nsd.low_level_shape) == (768, 6, 12, (4, 64, 64))

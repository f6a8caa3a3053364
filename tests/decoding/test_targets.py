"""Target spaces: the in-silico tokens from the shipped embedder, and CLIP's tokens with MindEye's normalisation
computed by hand on a tiny random CLIP saved locally."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from brainlens.decoding.targets import compute_targets, target_space
from brainlens.insilico import stimuli
from tests.models.test_zoo import _tiny_clip


def test_embedder_tokens_are_the_pooled_stage_two_map():
    from brainlens.models.embedder import load_embedder

    space = target_space()
    assert (space.name, space.n_tokens, space.dim) == ("embedder-tokens", 16, 64)
    images = stimuli.generate(3, seed=9).images
    tokens = compute_targets(space, images, batch_size=2)
    embedder = load_embedder().eval()
    with torch.no_grad():
        stage2 = embedder.image_hidden_states(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255)[2]
    expected = F.adaptive_avg_pool2d(stage2.float(), 4).flatten(2).transpose(1, 2).numpy()
    np.testing.assert_allclose(tokens, expected, atol=1e-5)


def test_clip_tokens_follow_mindeyes_normalisation(tmp_path):
    model = _tiny_clip(tmp_path / "clip")
    space = target_space("clip-tokens", str(tmp_path / "clip"))
    assert (space.n_tokens, space.dim) == (1 + (32 // 8) ** 2, 8)  # class token + 16 patches, projected to 8
    images = stimuli.generate(2, seed=3, size=32).images
    tokens = compute_targets(space, images)
    # by hand: CLIP's own preprocessing, last hidden state → post-layernorm → visual projection, / ‖class token‖
    from brainlens.models.embedder import load_embedder

    embedder = load_embedder(str(tmp_path / "clip"))
    with torch.no_grad():
        pixels = embedder.preprocess(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255)
        hidden = model.vision_model(pixel_values=pixels).last_hidden_state
        projected = model.visual_projection(model.vision_model.post_layernorm(hidden))
    expected = (projected / projected[:, :1].norm(dim=-1, keepdim=True)).numpy()
    np.testing.assert_allclose(tokens, expected, atol=1e-5)
    assert np.allclose(np.linalg.norm(tokens[:, 0], axis=-1), 1.0)
    final = compute_targets(target_space("clip-final", str(tmp_path / "clip")), images)
    # CLIP's image embedding is the projected, post-layernormed class token
    np.testing.assert_allclose(final[:, 0], projected[:, 0].numpy(), atol=1e-5)


def test_unknown_target_and_an_embedder_without_maps_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown target 'clip'"):
        target_space("clip")
    _tiny_clip(tmp_path / "clip")
    with pytest.raises(ValueError, match="embedder-tokens needs an embedder with a convolutional"):
        target_space("embedder-tokens", str(tmp_path / "clip"))

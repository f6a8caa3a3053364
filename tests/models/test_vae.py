"""The shipped VAE's training and evaluation: resumable deterministic training, the perceptual term, and the
shipped weights' reconstructions."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("diffusers")

from brainlens.insilico import stimuli  # noqa: E402
from brainlens.insilico.stimuli import to_tensor  # noqa: E402
from brainlens.models import vae as vae_model  # noqa: E402
from brainlens.models.vae import VAESpec  # noqa: E402
from brainlens.models.zoo import load_vae  # noqa: E402


def _train_tiny_vae(out, progress=None):
    images = stimuli.generate(24, seed=30_000, size=16).images
    return vae_model.train_vae(out, seed=1, n_train=24, epochs=2, batch_size=8, crop=8, images=images,
                               spec=VAESpec(image_size=16, block_out_channels=(8, 16), latent_channels=4, norm_num_groups=4),
                               progress=progress)


def test_vae_training_resumes_after_an_interruption_to_the_same_weights(tmp_path):
    metrics = _train_tiny_vae(tmp_path / "a")
    steps = []

    def interrupt(stage, k):
        steps.append(stage)
        if steps.count("vae steps") == 4:  # in the second epoch, after its checkpoint
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train_tiny_vae(tmp_path / "b", progress=interrupt)
    assert (tmp_path / ".b.checkpoint" / "state.pt").is_file() and not (tmp_path / "b").exists()
    _train_tiny_vae(tmp_path / "b")
    a = (tmp_path / "a" / "diffusion_pytorch_model.safetensors").read_bytes()
    assert a == (tmp_path / "b" / "diffusion_pytorch_model.safetensors").read_bytes()
    assert not (tmp_path / ".b.checkpoint").exists()
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["scaling_factor"] == pytest.approx(1 / metrics["latent_std"])
    assert config["shift_factor"] == pytest.approx(metrics["latent_mean"])
    assert np.isfinite(metrics["psnr_db"]) and len(metrics["history"]) == 2
    from safetensors import safe_open

    with safe_open(tmp_path / "a" / "diffusion_pytorch_model.safetensors", "pt") as f:  # stored in half precision
        assert all(f.get_tensor(k).dtype == torch.float16 for k in f.keys())
    assert load_vae(tmp_path / "a").dtype == torch.float32


def test_perceptual_distance_grows_with_blur_and_passes_gradients():
    x = to_tensor(stimuli.generate(8, seed=3).images) * 2 - 1  # (8, 3, 64, 64) in [-1, 1]
    blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1).requires_grad_(True)
    distance = vae_model._PerceptualDistance()
    assert float(distance(x, x)) == pytest.approx(0.0, abs=1e-6)
    far = distance(blurred, x)
    assert far.item() > 0.01
    (grad,) = torch.autograd.grad(far, blurred)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    crops = distance.net.feature_maps(x[:, :, :32, :32], 2)  # fully convolutional: a 32-pixel crop
    assert [tuple(m.shape[-2:]) for m in crops] == [(16, 16), (8, 8)]


def test_vae_training_with_the_perceptual_term_records_it(tmp_path):
    images = stimuli.generate(16, seed=30_000, size=16).images
    tiny = VAESpec(image_size=16, block_out_channels=(8, 16), latent_channels=4, norm_num_groups=4)
    metrics = vae_model.train_vae(tmp_path / "v", seed=1, n_train=16, epochs=1, batch_size=8, crop=16, images=images,
                                  spec=tiny, perceptual_weight=0.5)
    assert metrics["history"][0]["perceptual"] > 0 and metrics["training"]["perceptual_weight"] == 0.5
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="perceptual_weight"):
            vae_model.train_vae(tmp_path / "w", n_train=16, epochs=1, images=images, spec=tiny, perceptual_weight=bad)


def test_shipped_vae_reconstructs_held_out_images():
    vae = load_vae("vae")
    assert vae.dtype == torch.float32
    scores = vae_model.evaluate_vae(vae, n=16)
    # these 16 images measure 30.61 dB and r 0.9743 (`brainlens zoo eval vae`, 500 images: 29.87 dB);
    # the bounds sit 1 dB below (MSE × 1.26), so latents scaled by the config's scaling_factor on the
    # way in but not out (22.0 dB, r 0.957) or by 1.1 (29.5 dB) fail
    assert scores["psnr_db"] > 29.6
    assert scores["pixel_correlation"] > 0.967

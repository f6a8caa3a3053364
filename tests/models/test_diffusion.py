"""The latent diffusion pipeline and its training: tiny random models saved and loaded through the zoo's
loader, deterministic sampling, img2img, resumable deterministic training, and the shipped models."""

import json

import numpy as np
import pytest
import torch

diffusers = pytest.importorskip("diffusers")

from brainlens.generation.pipeline_brain_guided import BrainGuidedPipeline  # noqa: E402
from brainlens.identification import two_way_identification  # noqa: E402
from brainlens.insilico import stimuli  # noqa: E402
from brainlens.models import diffusion  # noqa: E402
from brainlens.models import zoo as diffusion_zoo  # noqa: E402
from brainlens.models._training import HELDOUT_SEED  # noqa: E402
from brainlens.models.diffusion import UNetSpec  # noqa: E402
from brainlens.models.pipeline_embedding import EmbeddingDiffusionPipeline  # noqa: E402
from brainlens.models.vae import VAESpec  # noqa: E402
from brainlens.models.zoo import load_pipeline, load_vae  # noqa: E402
from tests.models.shipped import require_shipped  # noqa: E402

DIM = 8  # embedding size of the tiny models


def _tiny_vae():
    torch.manual_seed(0)
    return VAESpec(image_size=16, block_out_channels=(8, 16), latent_channels=4, norm_num_groups=4).build().eval()  # 16 px → 8 × 8 × 4


def _tiny_unet(cross_attention=False):
    torch.manual_seed(0)
    if not cross_attention:
        return UNetSpec(block_out_channels=(8, 16), attention_head_dim=4, norm_num_groups=4).build(DIM, 4, 8).eval()
    return diffusers.UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=4, cross_attention_dim=DIM, attention_head_dim=2,
    ).eval()


def _tiny_pipeline(cross_attention=False):
    return EmbeddingDiffusionPipeline(vae=_tiny_vae(), unet=_tiny_unet(cross_attention), scheduler=diffusion.build_scheduler())


def _seeded(seed=0):
    return torch.Generator().manual_seed(seed)


class _StandInEmbedder(torch.nn.Module):
    """A fixed random projection of 4 × 4 mean-pooled pixels: the embedder's signature, none of its training."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(48, DIM)
        torch.nn.init.normal_(self.proj.weight, generator=_seeded(3))
        torch.nn.init.zeros_(self.proj.bias)

    def embed_images(self, images):
        pooled = torch.nn.functional.adaptive_avg_pool2d(images, 4).flatten(1)  # (B, 48)
        return torch.nn.functional.normalize(self.proj(pooled), dim=-1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny pipeline saved in float16, as the shipped one is."""
    folder = tmp_path_factory.mktemp("pipe")
    pipe = _tiny_pipeline()
    pipe.vae.half()
    pipe.unet.half()
    pipe.save_pretrained(folder)
    return folder


def test_saved_pipeline_loads_through_the_zoo_in_float32(saved):
    assert json.loads((saved / "model_index.json").read_text())["_class_name"] == "EmbeddingDiffusionPipeline"
    pipe = load_pipeline(saved, dtype="float32")
    assert isinstance(pipe, EmbeddingDiffusionPipeline)
    assert pipe.unet.dtype == torch.float32 and pipe.vae.dtype == torch.float32
    assert (pipe.embedding_dim, pipe.image_size, pipe.latent_shape) == (DIM, 16, (4, 8, 8))
    assert isinstance(load_vae(saved, dtype="float32"), diffusers.AutoencoderKL)  # the pipeline's vae/ part


def test_sampling_is_deterministic_with_a_generator(saved):
    pipe = load_pipeline(saved, dtype="float32")
    a = pipe(num_images=2, num_inference_steps=3, generator=_seeded(0)).images
    b = pipe(num_images=2, num_inference_steps=3, generator=_seeded(0)).images
    c = pipe(num_images=2, num_inference_steps=3, generator=_seeded(1)).images
    assert a.shape == (2, 16, 16, 3) and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    pil = pipe(num_images=1, num_inference_steps=2, generator=_seeded(0), output_type="pil").images
    assert pil[0].size == (16, 16)
    latents = pipe(num_images=3, num_inference_steps=2, output_type="latent").images
    assert latents.shape == (3, 4, 8, 8)


def test_stochastic_sampling_and_other_schedulers(saved):
    pipe = load_pipeline(saved, dtype="float32")
    noisy = pipe(num_images=1, num_inference_steps=3, eta=1.0, generator=_seeded(0)).images
    np.testing.assert_array_equal(noisy, pipe(num_images=1, num_inference_steps=3, eta=1.0, generator=_seeded(0)).images)
    assert not np.array_equal(noisy, pipe(num_images=1, num_inference_steps=3, generator=_seeded(0)).images)
    for name in ("DPMSolverMultistepScheduler", "EulerAncestralDiscreteScheduler", "PNDMScheduler"):
        pipe.scheduler = getattr(diffusers, name).from_config(pipe.scheduler.config)
        images = pipe(num_images=1, num_inference_steps=4, generator=_seeded(0)).images
        assert images.shape == (1, 16, 16, 3) and np.isfinite(images).all(), name


@pytest.mark.parametrize("cross_attention", [False, True])
def test_embeddings_condition_the_image_and_guidance_runs(cross_attention):
    pipe = _tiny_pipeline(cross_attention)
    embeds = torch.nn.functional.normalize(torch.randn(2, DIM, generator=_seeded(5)), dim=-1)
    conditioned = pipe(embeds, num_inference_steps=3, guidance_scale=3.0, generator=_seeded(0), output_type="pt").images
    other = pipe(-embeds, num_inference_steps=3, guidance_scale=3.0, generator=_seeded(0), output_type="pt").images
    free = pipe(num_images=2, num_inference_steps=3, generator=_seeded(0), output_type="pt").images
    assert conditioned.shape == (2, 3, 16, 16)
    assert not torch.equal(conditioned, other) and not torch.equal(conditioned, free)
    # guidance 1 with a zero embedding is unconditional sampling
    zero = pipe(torch.zeros(2, DIM), num_inference_steps=3, guidance_scale=1.0, generator=_seeded(0), output_type="pt").images
    torch.testing.assert_close(zero, free)


def test_img2img_changes_the_image_less_at_low_strength(saved):
    pipe = load_pipeline(saved, dtype="float32")
    image = torch.from_numpy(stimuli.generate(3, seed=1, size=16).images).permute(0, 3, 1, 2).float() / 255
    clean = pipe.encode_images(image).detach()
    moved = []
    for strength in (0.1, 0.5, 1.0):
        out = pipe(image=image, strength=strength, num_inference_steps=10, generator=_seeded(0), output_type="latent").images
        moved.append(float((out - clean).pow(2).mean()))
    assert moved[0] < moved[1] < moved[2]


def test_decoding_is_differentiable_for_guidance(saved):
    pipe = load_pipeline(saved, dtype="float32")
    latents = torch.randn(1, 4, 8, 8, requires_grad=True)
    noise = pipe.predict_noise(latents, torch.tensor(500), torch.ones(1, DIM), guidance_scale=2.0)
    pipe.decode_latents(latents - noise).mean().backward()
    assert latents.grad is not None and latents.grad.abs().sum() > 0


def test_bad_inputs_are_named(saved):
    pipe = load_pipeline(saved, dtype="float32")
    with pytest.raises(ValueError, match="image_embeds"):
        pipe(torch.zeros(2, DIM + 1))
    with pytest.raises(ValueError, match="num_images"):
        pipe(torch.zeros(2, DIM), num_images=3)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pipe(image=torch.full((1, 3, 16, 16), 2.0))
    with pytest.raises(ValueError, match="strength"):
        pipe(image=torch.zeros(1, 3, 16, 16), strength=0.0)
    with pytest.raises(ValueError, match="output_type"):
        pipe(output_type="jpeg")
    with pytest.raises(ValueError, match="num_inference_steps"):
        pipe(num_inference_steps=0)
    with pytest.raises(TypeError, match="image"):
        pipe(image=np.zeros((1, 16, 16, 3)))


def _weaker_unet():
    """The tiny UNet with perturbed weights: a stand-in for a guide trained less."""
    unet = _tiny_unet()
    with torch.no_grad():
        for i, parameter in enumerate(unet.parameters()):
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=_seeded(100 + i)))
    return unet


def test_autoguidance_extrapolates_away_from_the_guide(saved, tmp_path):
    pipe = load_pipeline(saved, dtype="float32")
    guide = _weaker_unet()
    guided = EmbeddingDiffusionPipeline(pipe.vae, pipe.unet, pipe.scheduler, guide_unet=guide, autoguidance_scale=2.0)
    x, t = torch.randn(2, 4, 8, 8, generator=_seeded(5)), 500
    with torch.no_grad():
        main = pipe.predict_noise(x, t)
        weaker = guide(x, t, class_labels=torch.zeros(2, DIM), encoder_hidden_states=None).sample
        torch.testing.assert_close(guided.predict_noise(x, t), weaker + 2.0 * (main - weaker))
        torch.testing.assert_close(guided.predict_noise(x, t, autoguidance_scale=1.0), main)
        # embeddings take classifier-free guidance only
        embeds = torch.randn(2, DIM, generator=_seeded(6))
        torch.testing.assert_close(guided.predict_noise(x, t, embeds, 3.0), pipe.predict_noise(x, t, embeds, 3.0))

    draw = lambda p, **kw: p(num_images=2, num_inference_steps=3, generator=_seeded(0), output_type="pt", **kw).images  # noqa: E731
    plain = draw(pipe)
    assert torch.equal(draw(guided, autoguidance_scale=1.0), plain)
    assert (draw(guided) - plain).abs().mean() > 1e-4  # the config's scale applies by default

    guided.save_pretrained(tmp_path / "guided")
    again = load_pipeline(tmp_path / "guided")
    assert again.config.autoguidance_scale == 2.0 and again.guide_unet is not None
    torch.testing.assert_close(draw(again), draw(guided))

    # brain-guided synthesis samples with the same autoguided UNet
    brain = BrainGuidedPipeline.from_model(tmp_path / "guided")
    assert brain.guide_unet is not None and brain.autoguidance_scale == 2.0
    same_noise = again(num_images=2, num_inference_steps=3, generator=[_seeded(0), _seeded(1)], output_type="pt").images
    torch.testing.assert_close(brain(num_images=2, num_inference_steps=3, seed=0).images, same_noise, atol=1e-5, rtol=1e-4)

    with pytest.raises(ValueError, match="'autoguidance_scale' must be a finite number"):
        draw(guided, autoguidance_scale=float("nan"))
    with pytest.raises(ValueError, match="needs a guide_unet"):
        draw(pipe, autoguidance_scale=2.0)
    with pytest.raises(ValueError, match="needs a guide_unet"):
        EmbeddingDiffusionPipeline(pipe.vae, pipe.unet, pipe.scheduler, autoguidance_scale=2.0)


_TINY_GUIDE = UNetSpec(block_out_channels=(4, 8), attention_head_dim=4, norm_num_groups=4)


def test_diffusion_training_writes_a_loadable_deterministic_pipeline(tmp_path, monkeypatch):
    vae = _tiny_vae().half().float()  # float16 values, as the shipped VAE and every saved pipeline's VAE hold
    vae.register_to_config(scaling_factor=0.5, shift_factor=0.1)
    images = stimuli.generate(16, seed=30_000, size=16).images

    def train(out, guide_spec=_TINY_GUIDE):
        return diffusion.train_diffusion(
            out, seed=2, vae=vae, embedder="embedder", embedding_dim=DIM, n_train=16, unconditional_epochs=1,
            epochs=1, batch_size=8, images=images, evaluate=False,
            spec=UNetSpec(block_out_channels=(8, 16), attention_head_dim=4, norm_num_groups=4),
            guide_spec=guide_spec, guide_epochs=1, autoguidance_scale=1.5,
        )

    monkeypatch.setattr(diffusion, "load_embedder", lambda name: _StandInEmbedder())
    metrics = train(tmp_path / "a")
    assert metrics["training"]["steps"] == 4 and "two_way_identification" not in metrics
    assert [h["conditional"] for h in metrics["history"]] == [False, True]
    assert metrics["guide"]["training"]["steps"] == 2 and metrics["guide"]["autoguidance_scale"] == 1.5

    # the unconditional phase runs without the embedder; the run continues once it is there
    def missing(name):
        raise diffusion_zoo.ModelNotFoundError("shipped model 'embedder' has no weights")

    monkeypatch.setattr(diffusion, "load_embedder", missing)
    with pytest.raises(diffusion_zoo.ModelNotFoundError):
        train(tmp_path / "b")
    assert (tmp_path / ".b.checkpoint" / "state.pt").is_file()
    monkeypatch.setattr(diffusion, "load_embedder", lambda name: _StandInEmbedder())
    train(tmp_path / "b")
    unet_a = (tmp_path / "a" / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    assert unet_a == (tmp_path / "b" / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    guide_a = (tmp_path / "a" / "guide_unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    assert guide_a == (tmp_path / "b" / "guide_unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    pipe = load_pipeline(tmp_path / "a", dtype="float32")
    assert pipe.vae.config.shift_factor == pytest.approx(0.1)
    assert pipe.scheduler.config.prediction_type == "v_prediction"
    assert pipe.config.autoguidance_scale == 1.5 and pipe.guide_unet.config.block_out_channels == [4, 8]
    assert pipe(num_images=1, num_inference_steps=2).images.shape == (1, 16, 16, 3)

    # a pipeline trained without a guide gets the same guide from train_guide, and keeps its figures
    unguided = train(tmp_path / "c", guide_spec=None)
    assert "guide" not in unguided and load_pipeline(tmp_path / "c").guide_unet is None
    added = diffusion.train_guide(tmp_path / "d", tmp_path / "c", seed=2, n_train=16, epochs=1, batch_size=8,
                                  images=images, spec=_TINY_GUIDE, autoguidance_scale=1.5, evaluate=False)
    assert added["history"] == unguided["history"] and added["guide"]["training"]["steps"] == 2
    assert guide_a == (tmp_path / "d" / "guide_unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    assert load_pipeline(tmp_path / "d").config.autoguidance_scale == 1.5
    for config_file in (tmp_path / "d").rglob("config.json"):  # saved from a pipeline loaded from "c"
        assert "_name_or_path" not in json.loads(config_file.read_text()), config_file


# ---------------------------------------------------------------------------------------------
# the shipped models


@pytest.fixture(scope="module")
def shipped():
    require_shipped("diffusion")
    return load_pipeline("diffusion")


def test_shipped_diffusion_samples_and_regenerates(shipped):
    assert shipped.unet.dtype == torch.float32 and shipped.image_size == 64
    assert shipped.guide_unet.dtype == torch.float32 and shipped.config.autoguidance_scale == diffusion.AUTOGUIDANCE_SCALE
    free = shipped(num_images=2, num_inference_steps=4, generator=_seeded(0), output_type="pt").images
    assert free.shape == (2, 3, 64, 64) and 0 <= free.min() and free.max() <= 1
    assert free.std() > 0.05  # an image, not a flat field
    # the guide is a weaker model of the same images: autoguidance changes the samples, not their kind
    plain = shipped(num_images=2, num_inference_steps=4, generator=_seeded(0), output_type="pt", autoguidance_scale=1.0).images
    assert 0.005 < (free - plain).abs().mean() < 0.25
    embeds = torch.nn.functional.normalize(torch.randn(2, shipped.embedding_dim, generator=_seeded(1)), dim=-1)
    assert shipped(embeds, num_inference_steps=4, generator=_seeded(0)).images.shape == (2, 64, 64, 3)


def test_shipped_diffusion_regenerates_held_out_images_from_their_embeddings(shipped):
    from brainlens.models.embedder import load_embedder

    embedder = load_embedder("embedder").eval()
    heldout = stimuli.generate(8, seed=HELDOUT_SEED + 1, size=64)
    with torch.no_grad():
        truth = embedder.embed_images(torch.from_numpy(heldout.images).permute(0, 3, 1, 2).float() / 255)
        regenerated = shipped(truth, num_inference_steps=15, guidance_scale=3.0, generator=_seeded(0), output_type="pt").images
        recon = embedder.embed_images(regenerated)
    # each regenerated image is nearer its own source than most other sources (chance: 0.5)
    assert two_way_identification(truth, recon) > 0.7


def test_cli_zoo_sample_writes_a_grid(tmp_path, capsys):
    from PIL import Image

    from brainlens.cli import main

    require_shipped("diffusion")
    assert main(["--quiet", "zoo", "sample", "diffusion", "--out", str(tmp_path), "--n", "2", "--steps", "2"]) == 0
    path = tmp_path / "diffusion_samples.png"
    assert str(path) in capsys.readouterr().out
    assert Image.open(path).size[0] > 2 * 64
    assert main(["--quiet", "zoo", "sample", "vae", "--out", str(tmp_path), "--n", "3"]) == 0
    assert (tmp_path / "vae_samples.png").is_file()


class _StandInClassifier(_StandInEmbedder):
    """The stand-in embedder with a zero-shot ``classify``: a fixed random readout of the pooled pixels,
    one class per prompt, each image on its own (so batches cannot change an image's class)."""

    def classify(self, images, classes):
        pooled = torch.nn.functional.adaptive_avg_pool2d(images.float(), 4).flatten(1)  # (B, 48)
        readout = torch.randn(48, len(classes), generator=_seeded(5))
        return torch.softmax(20 * (pooled - pooled.mean(1, keepdim=True)) @ readout, dim=1)


class _RecordingPipeline(EmbeddingDiffusionPipeline):
    """Keeps every image it draws: unconditional samples apart from those drawn from embeddings."""

    def __call__(self, *args, **kwargs):
        out = super().__call__(*args, **kwargs)
        self.drawn["from_embeddings" if args else "samples"].append(out.images.float())
        return out


def test_evaluate_diffusion_reports_the_gap_and_identification_of_its_own_samples():
    """`zoo eval diffusion`'s figures against their definitions worked by hand on the images it drew:
    the largest gap, in points, between the samples' category shares and the training images' true
    ones, and 2-way identification of held-out embeddings by those of the images regenerated from them."""
    pipe = _RecordingPipeline(vae=_tiny_vae(), unet=_tiny_unet(), scheduler=diffusion.build_scheduler())
    pipe.drawn = {"samples": [], "from_embeddings": []}
    embedder = _StandInClassifier()
    metrics = diffusion.evaluate_diffusion(pipe, embedder, n_samples=14, n_heldout=10, num_inference_steps=2,
                                           batch_size=4, seed=7)
    samples = torch.cat(pipe.drawn["samples"])
    regenerated = torch.cat(pipe.drawn["from_embeddings"])
    assert samples.shape == (14, 3, 16, 16) and regenerated.shape == (10, 3, 16, 16)

    n = len(stimuli.CATEGORIES)
    with torch.no_grad():
        predicted = np.array([int(embedder.classify(image[None], stimuli.CATEGORIES).argmax()) for image in samples])
    shares = np.bincount(predicted, minlength=n) / 14
    train_shares = np.bincount(stimuli.generate(2000, seed=diffusion.TRAIN_SEED, size=16).category, minlength=n) / 2000
    assert list(metrics["category_proportions"].values()) == pytest.approx(shares, abs=1e-4)
    assert list(metrics["train_proportions"].values()) == pytest.approx(train_shares, abs=1e-4)
    assert metrics["max_proportion_gap_points"] == pytest.approx(100 * np.abs(shares - train_shares).max(), abs=0.01)
    assert metrics["max_proportion_gap_points"] > 10  # the stand-in is nothing like the training images

    with torch.no_grad():
        truth = embedder.embed_images(torch.from_numpy(stimuli.generate(10, seed=7, size=16).images).permute(0, 3, 1, 2) / 255)
        recon = embedder.embed_images(regenerated)
    r = np.corrcoef(truth.numpy(), recon.numpy())[:10, 10:]
    identification = np.mean([np.mean([r[i, j] < r[j, j] for i in range(10) if i != j]) for j in range(10)])
    assert metrics["two_way_identification"] == pytest.approx(identification, abs=1e-4)
    # category agreement: the regenerated image's category by the classifier against the held-out image's true one
    with torch.no_grad():
        regenerated_category = np.array([int(embedder.classify(image[None], stimuli.CATEGORIES).argmax()) for image in regenerated])
    heldout_category = stimuli.generate(10, seed=7, size=16).category
    assert metrics["category_agreement"] == pytest.approx(np.mean(regenerated_category == heldout_category), abs=1e-4)
    assert metrics["passes_bar"] is False

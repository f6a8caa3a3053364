"""The brain-conditioned latent diffusion model (MinD-Vis's DC-LDM): what it trains, what it starts as, fitting and
sampling through the API and the CLI, resume, the test split never read, and bad input."""

import copy
import json

import diffusers
import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from brainlens.cli import main
from brainlens.decoding.data import load_test
from brainlens.decoding.ldm.fit import LDM_TRAIN_DEFAULTS, fit_ldm, load_ldm
from brainlens.decoding.ldm.model import BrainLDM
from brainlens.decoding.ldm.sample import reconstruct_ldm, sample_brains
from brainlens.decoding.mbm import MaskedBrainModel, MBMConfig, PretrainConfig, pretrain_mbm
from brainlens.decoding.mbm.pretrain import save_mbm
from brainlens.generation.pipeline_brain_conditioned import BrainConditionedPipeline
from brainlens.models import load_pipeline
from tests.decoding.poison import poisoned_copy

TINY_MBM = {"width": 32, "depth": 1, "heads": 2, "decoder_width": 16, "decoder_depth": 1, "decoder_heads": 2}
FAST = PretrainConfig(**{**LDM_TRAIN_DEFAULTS, "epochs": 1, "batch_size": 64, "warmup_epochs": 0.1})


@pytest.fixture(scope="module")
def encoder(small_store, second_store, tmp_path_factory):
    """A tiny SC-MBM encoder pretrained on subjects 2 and 3 (their training and validation samples)."""
    out = tmp_path_factory.mktemp("ldm") / "mbm"
    pretrain_mbm([small_store, second_store], out, model_config=TINY_MBM, train=PretrainConfig(epochs=1, batch_size=64))
    return out


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    """A Stable Diffusion pipeline of tiny random components (cross-attention UNet, no class embedding), saved as the hub's."""
    folder = tmp_path_factory.mktemp("sd")
    (folder / "vocab.json").write_text(json.dumps({"<|startoftext|>": 0, "<|endoftext|>": 1, "a</w>": 2}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    torch.manual_seed(0)
    pipe = diffusers.StableDiffusionPipeline(
        vae=diffusers.AutoencoderKL(in_channels=3, out_channels=3, block_out_channels=(8, 16), latent_channels=4, norm_num_groups=4,
                                    down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                                    sample_size=16),
        text_encoder=CLIPTextModel(CLIPTextConfig(vocab_size=3, hidden_size=16, intermediate_size=16, num_hidden_layers=1,
                                                  num_attention_heads=2, max_position_embeddings=8, projection_dim=16)),
        tokenizer=CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=8),
        unet=diffusers.UNet2DConditionModel(
            sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=16, attention_head_dim=2),
        scheduler=diffusers.DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                                            steps_offset=1),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder / "stable-diffusion")
    return str(folder / "stable-diffusion")


def _tiny_encoder(length=64):
    return MaskedBrainModel(MBMConfig(length=length, **TINY_MBM))


def test_the_shipped_unet_gains_cross_attention_and_starts_as_itself():
    pipe = load_pipeline("diffusion", dtype=torch.float32)
    shipped = copy.deepcopy(pipe.unet)
    model = BrainLDM(_tiny_encoder(), pipe.unet).eval()
    latents, t = torch.randn(3, *pipe.latent_shape), torch.tensor([10, 500, 990])
    voxels = torch.randn(3, 64)
    with torch.no_grad():
        dropped = model(latents, t, voxels, torch.zeros(3, dtype=torch.bool))
        unconditional = shipped(latents, t, encoder_hidden_states=torch.zeros(3, 1, 128), class_labels=torch.zeros(3, 128)).sample
        with_brain = model(latents, t, voxels)
    torch.testing.assert_close(dropped, unconditional)  # zero-initialised cross-attention; zero condition = the shipped null
    assert not torch.allclose(with_brain, dropped)  # the brain enters through the timestep embedding from the start
    trained = {name for name, p in model.unet.named_parameters() if p.requires_grad}
    assert trained and all(".cross." in name or name.startswith("class_embedding.") for name in trained)
    assert any(".cross." in name for name in trained)
    frozen = {name for name, p in model.conditioner.named_parameters() if not p.requires_grad}
    assert frozen and all(name.startswith(("encoder.decoder", "encoder.mask_token")) for name in frozen)  # the MAE's decoder
    # the folder keeps the trained parameters, not the frozen UNet
    assert set(model.trained_state()) == {n for n, p in model.named_parameters() if p.requires_grad or n.startswith("conditioner.")}


def test_a_cross_attention_unet_trains_its_attn2_norm2_and_a_new_time_projection(tiny_sd):
    pipe = load_pipeline(tiny_sd, dtype=torch.float32)
    model = BrainLDM(_tiny_encoder(), pipe.unet)
    assert model.native
    trained = {name for name, p in model.unet.named_parameters() if p.requires_grad}
    assert any(".attn2." in n for n in trained) and any(".norm2." in n for n in trained)
    assert not any(".attn1." in n or "resnets" in n for n in trained)
    assert {"class_embedding.weight", "class_embedding.bias"} <= trained
    assert model(torch.randn(2, 4, 8, 8), torch.tensor([1, 2]), torch.randn(2, 64)).shape == (2, 4, 8, 8)


def test_a_unet_without_attention_is_refused():
    unet = diffusers.UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16), layers_per_block=1,
                                          down_block_types=("DownBlock2D",) * 2, up_block_types=("UpBlock2D",) * 2,
                                          mid_block_type=None, norm_num_groups=4, cross_attention_dim=16)
    with pytest.raises(ValueError, match="neither cross-attention nor self-attention"):
        BrainLDM(_tiny_encoder(), unet)


@pytest.fixture(scope="module")
def fitted_sd(small_store, encoder, tiny_sd, tmp_path_factory):
    """(a brain LDM fitted on the tiny Stable Diffusion for 1 epoch, fit_ldm's metrics)."""
    out = tmp_path_factory.mktemp("fitted") / "ldm"
    return out, fit_ldm(small_store, out, encoder=encoder, diffusion=tiny_sd, train=FAST)


def test_fit_sample_and_reload_on_stable_diffusion(fitted_sd, tiny_sd):
    folder, metrics = fitted_sd
    assert {"val_loss", "val_loss_unconditional"} <= set(metrics["validation"]) and metrics["n_train_trials"] == 128 * 3
    config = json.loads((folder / "config.json").read_text())
    assert config["kind"] == "brain-ldm" and config["native_cross_attention"] and config["diffusion"] == tiny_sd
    model, pipe, _ = load_ldm(folder)
    saved = load_file(str(folder / "model.safetensors"))
    assert not any("resnets" in name for name in saved)  # the frozen UNet stays with its diffusion model
    voxels = torch.randn(2, model.conditioner.encoder.config.length)
    first = sample_brains(model, pipe, voxels, samples=2, steps=3, sampler="ddim")
    assert first.shape == (2, 2, 16, 16, 3) and first.dtype == np.uint8
    # brain i's sample s comes from its own seed, whatever the batch
    again = sample_brains(model, pipe, voxels, samples=2, steps=3, sampler="ddim", batch_size=1)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first[:, 0], first[:, 1])


def test_the_generation_pipeline_draws_what_decode_reconstruct_draws(small_store, fitted_sd, tmp_path):
    folder, _ = fitted_sd
    reconstruct_ldm(folder, tmp_path / "rec", n=2, samples=2, steps=3, sampler="ddim", seed=1, evaluate=False)
    pipe = BrainConditionedPipeline.from_decoder(folder, sampler="ddim")
    test = load_test(small_store, None)
    out = pipe(test.betas[:2], num_images_per_brain=2, num_inference_steps=3, seed=1)
    assert out.images.shape == (2, 2, 16, 16, 3) and out.images.dtype == np.uint8
    for i, index in enumerate(test.images[:2]):
        for s in range(2):
            np.testing.assert_array_equal(out.images[i, s], np.asarray(Image.open(tmp_path / "rec" / "images" / f"{index:05d}_{s}.png")))
    one = pipe(torch.from_numpy(test.betas[1]), num_images_per_brain=2, num_inference_steps=3, seed=1)  # one brain, as torch
    assert not np.array_equal(one.images[0], out.images[1])  # brain 0 of this call: its own noise
    np.testing.assert_array_equal(pipe(test.betas[1:2], num_images_per_brain=2, num_inference_steps=3, seed=1).images, one.images)
    with pytest.raises(ValueError, match=f"fitted on {test.betas.shape[1]} voxels"):
        pipe(test.betas[:, :10])
    bad = test.betas[:1].copy()
    bad[0, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pipe(bad)
    with pytest.raises(ValueError, match="sampler must be one of"):
        pipe.use_sampler("euler")


def test_cli_fit_and_reconstruct(small_store, encoder, tiny_sd, tmp_path, capsys):
    out, rec = tmp_path / "ldm", tmp_path / "rec"
    assert main(["--quiet", "decode", "fit", "--store", str(small_store), "--model", "ldm", "--encoder", str(encoder),
                 "--generator", tiny_sd, "--out", str(out), "--epochs", "1", "--batch-size", "64"]) == 0
    assert "validation diffusion loss" in capsys.readouterr().out
    assert main(["--quiet", "decode", "reconstruct", "--decoder", str(out), "--out", str(rec), "--n", "3", "--samples", "2",
                 "--steps", "3", "--networks", "insilico-embedder"]) == 0
    printed = capsys.readouterr().out
    assert "50-way top-1" in printed
    metrics = json.loads((rec / "metrics.json").read_text())
    assert metrics["samples"] == 2 and metrics["n_images"] == 3
    assert set(metrics["n_way_top1"]) >= {"mean", "max"} and metrics["n_way_top1"]["max"] >= metrics["n_way_top1"]["mean"]
    assert "brain" in metrics["table"]
    assert len(list((rec / "images").glob("*.png"))) == 6 and (rec / "grid.png").is_file()


def test_resume_after_a_kill_ends_where_an_unbroken_run_does(small_store, encoder, tiny_sd, tmp_path):
    train = PretrainConfig(**{**LDM_TRAIN_DEFAULTS, "epochs": 2, "batch_size": 128})  # 3 steps an epoch
    fit_ldm(small_store, tmp_path / "whole", encoder=encoder, diffusion=tiny_sd, train=train)
    steps = []

    def killed(stage, k):
        steps.append(k)
        if len(steps) == 5:  # in the second epoch
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit_ldm(small_store, tmp_path / "cut", encoder=encoder, diffusion=tiny_sd, train=train, progress=killed)
    saved = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["model"]
    assert any(".attn2." in name for name in saved) and not any("resnets" in name for name in saved)  # not the frozen UNet
    fit_ldm(small_store, tmp_path / "cut", encoder=encoder, diffusion=tiny_sd, train=train, resume=True)
    whole, cut = (load_file(str(tmp_path / name / "model.safetensors")) for name in ("whole", "cut"))
    assert all(torch.equal(whole[name], cut[name]) for name in whole)


def test_training_never_reads_the_test_split(small_store, encoder, tiny_sd, tmp_path):
    poisoned = poisoned_copy(small_store, tmp_path / "poisoned")
    fit_ldm(small_store, tmp_path / "clean", encoder=encoder, diffusion=tiny_sd, train=FAST)
    fit_ldm(poisoned, tmp_path / "nan", encoder=encoder, diffusion=tiny_sd, train=FAST)
    clean, nan = (load_file(str(tmp_path / name / "model.safetensors")) for name in ("clean", "nan"))
    assert all(torch.equal(clean[name], nan[name]) for name in clean)


def test_random_encoder_baseline_and_bad_input(small_store, encoder, tiny_sd, fmri_only_store, tmp_path, capsys):
    fit_ldm(small_store, tmp_path / "random", encoder=encoder, random_encoder=True, diffusion=tiny_sd, train=FAST)
    random_weights = load_file(str(tmp_path / "random" / "model.safetensors"))
    pretrained = load_file(str(encoder / "model.safetensors"))
    assert not torch.equal(random_weights["conditioner.encoder.patch_embed.weight"], pretrained["patch_embed.weight"])
    assert json.loads((tmp_path / "random" / "config.json").read_text())["random_encoder"]

    assert main(["--quiet", "decode", "fit", "--store", str(small_store), "--model", "ldm", "--out", str(tmp_path / "x")]) == 1
    assert "needs --encoder" in capsys.readouterr().err
    assert main(["--quiet", "decode", "fit", "--store", str(fmri_only_store), "--model", "ldm", "--encoder", str(encoder),
                 "--out", str(tmp_path / "x")]) == 1
    assert "decoding needs a paired store" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="brain LDM file missing"):
        load_ldm(tmp_path / "nowhere")
    narrow = _tiny_encoder(length=64)
    save_mbm(tmp_path / "narrow", narrow, {"kind": "masked-brain-model", "model": narrow.config.to_dict(),
                                          "corpus": {"subjects": []}}, {})
    with pytest.raises(ValueError, match="more than the encoder's length of 64"):
        fit_ldm(small_store, tmp_path / "y", encoder=tmp_path / "narrow", diffusion=tiny_sd, train=FAST)


def test_real_stores_get_the_50_way_top1_from_mindvis_classifier_when_asked(tmp_path, monkeypatch):
    import brainlens.models.vit as vit
    from brainlens.decoding.ldm.sample import _semantic

    seen = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    recon = np.stack([seen, seen[::-1]], 1)  # 2 samples per brain: the seen image, another
    assert _semantic(seen, recon, None, "offline", "cpu") == {}  # the default: no published network is asked for
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    assert "ViT-H/14 weights not found" in _semantic(seen, recon, None, "auto", "cpu")["n_way_top1_unavailable"]
    with pytest.raises(FileNotFoundError, match="vit_h_14_swag"):
        _semantic(seen, recon, None, ["vit-h-14"], "cpu")  # asked for by name: its absence is an error
    tiny = vit.VisionTransformer(image_size=28, patch_size=14, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32,
                                 num_classes=60).eval()
    monkeypatch.setattr(vit, "load_vit_h_14", lambda weights=None: tiny)
    top1 = _semantic(seen, recon, None, "auto", "cpu")["n_way_top1"]
    assert top1["max"] == 1.0 and top1["classifier"].startswith("ViT-H/14") and top1["n"] == 50

"""Versatile Diffusion as the generator (MindEye's): a tiny random pipeline of the real classes, saved locally in
the hub layout, gives the same conditioning tokens as diffusers' own pipeline, and a decoder fits to it and
reconstructs through it."""

import json

import diffusers
import numpy as np
import pytest
import torch
from PIL import Image
from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

from brainlens.decoding.fit import TrainConfig, fit_decoder, load_decoder
from brainlens.decoding.generator import generator_space, load_generator
from brainlens.decoding.reconstruct import ReconstructionSettings, reconstruct

TINY = {"hidden": 64, "n_blocks": 1, "projector": 32, "prior_width": 32, "prior_depth": 1, "prior_heads": 2, "low_level_width": 8}
CLIP_SIZE, PATCH, PROJECTION = 32, 8, 16  # 1 + 16 tokens of 16 values


@pytest.fixture(scope="module")
def versatile(tmp_path_factory):
    """A Versatile Diffusion image-variation pipeline of tiny random components, saved as the hub's folders."""
    torch.manual_seed(0)
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, image_size=CLIP_SIZE,
        patch_size=PATCH, projection_dim=PROJECTION)).eval()
    unet = diffusers.UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        norm_num_groups=4, cross_attention_dim=PROJECTION, attention_head_dim=2).eval()
    vae = diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, block_out_channels=(8, 16), latent_channels=4, norm_num_groups=4,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2, sample_size=16).eval()
    processor = CLIPImageProcessor(size={"shortest_edge": CLIP_SIZE}, crop_size={"height": CLIP_SIZE, "width": CLIP_SIZE})
    pipe = diffusers.VersatileDiffusionImageVariationPipeline(
        image_feature_extractor=processor, image_encoder=encoder, image_unet=unet, vae=vae,
        scheduler=diffusers.DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012))
    folder = tmp_path_factory.mktemp("vd") / "versatile-diffusion"
    pipe.save_pretrained(folder)
    return folder, pipe


def test_the_conditioning_is_versatile_diffusions_own(versatile):
    folder, pipe = versatile
    space = generator_space(str(folder))
    assert (space.conditioning, space.embedding_tokens, space.embedding_dim) == ("clip-tokens", 1 + (CLIP_SIZE // PATCH) ** 2, PROJECTION)
    assert space.latent_shape == (4, 8, 8)
    generator = load_generator(str(folder), "embedder")
    image = np.random.default_rng(0).integers(0, 256, (CLIP_SIZE, CLIP_SIZE, 3), dtype=np.uint8)
    with torch.no_grad():
        # diffusers' pipeline: the unconditional (blank image) tokens, then the image's
        unconditional, conditional = pipe._encode_prompt([Image.fromarray(image)], "cpu", 1, True, None).chunk(2)
        ours = generator.embed(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255)
    assert ours.shape == conditional.shape == (1, space.embedding_tokens, PROJECTION)
    torch.testing.assert_close(ours, conditional, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(generator.negative, unconditional, atol=1e-4, rtol=1e-4)


def test_a_decoder_fits_to_versatile_diffusion_and_reconstructs_through_it(small_store, versatile, tmp_path):
    folder, _ = versatile
    out = tmp_path / "dec"
    fit_decoder(small_store, out, model_config=TINY, train=TrainConfig(epochs=1, batch_size=16), generator=str(folder), evaluate=False)
    decoder, config = load_decoder(out)
    tokens = 1 + (CLIP_SIZE // PATCH) ** 2
    assert config["generator"]["conditioning"] == "clip-tokens" and config["generator"]["embedding_tokens"] == tokens
    # MindEye's prior over CLIP tokens: 257-token-like targets in their own scale, weight 30
    assert config["mindeye"]["prior_tokens"] == tokens and config["mindeye"]["prior_unit_tokens"] is False
    assert config["train"]["prior_weight"] == 30.0
    sampled = decoder.prior.sample(torch.zeros(2, decoder.config.n_tokens, decoder.config.dim), generator=torch.Generator().manual_seed(0))
    assert sampled.shape == (2, tokens, PROJECTION)
    metrics = reconstruct(out, tmp_path / "r", n=2, settings=ReconstructionSettings(recons_per_sample=2, steps=4, batch_size=2),
                          evaluate=False)
    assert metrics["n_images"] == 2
    with Image.open(next((tmp_path / "r" / "images").glob("*.png"))) as picture:
        assert picture.size == (16, 16)  # the tiny pipeline's size
    assert json.loads((tmp_path / "r" / "config.json").read_text())["n"] == 2
    ridge = tmp_path / "ridge"
    fit_decoder(small_store, ridge, model="ridge", generator=str(folder), evaluate=False)
    ridge_decoder, _ = load_decoder(ridge)
    assert ridge_decoder.head(torch.zeros(1, ridge_decoder.n_voxels), "embedding").shape == (1, tokens, PROJECTION)
    reconstruct(ridge, tmp_path / "rr", n=2, settings=ReconstructionSettings(recons_per_sample=1, steps=2, batch_size=2), evaluate=False)
    assert len(list((tmp_path / "rr" / "images").glob("*.png"))) == 2

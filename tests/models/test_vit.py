"""ViT-H/14 with torchvision's layout (MinD-Vis's 50-way classifier), checked without torchvision: its published
parameter count and key shapes, its forward pass against transformers' ViT carrying the same weights, its files, and
the 50-way top-1 it gives through the evaluation API and the reconstruction table."""

import numpy as np
import pytest
import torch
from transformers import ViTConfig, ViTForImageClassification

import brainlens.models.vit as vit
from brainlens.evaluation.reconstruction import reconstruction_table
from brainlens.evaluation.semantic import imagenet_n_way
from brainlens.models._checkpoints import load_checked
from brainlens.models.vit import VIT_H_14_FILE, VIT_H_14_URL, VisionTransformer, load_vit_h_14, vit_pixels

TINY = {"image_size": 28, "patch_size": 14, "num_layers": 2, "num_heads": 2, "hidden_dim": 32, "mlp_dim": 64, "num_classes": 64}


def test_the_layout_is_torchvisions_vit_h_14():
    with torch.device("meta"):
        net = VisionTransformer()
    assert sum(p.numel() for p in net.parameters()) == 633_470_440  # ViT_H_14_Weights.IMAGENET1K_SWAG_E2E_V1 num_params
    shapes = {name: tuple(value.shape) for name, value in net.state_dict().items()}
    assert shapes["conv_proj.weight"] == (1280, 3, 14, 14) and shapes["class_token"] == (1, 1, 1280)
    assert shapes["encoder.pos_embedding"] == (1, 37 * 37 + 1, 1280)
    assert shapes["encoder.layers.encoder_layer_31.self_attention.in_proj_weight"] == (3840, 1280)
    assert shapes["encoder.layers.encoder_layer_0.self_attention.out_proj.bias"] == (1280,)
    assert shapes["encoder.layers.encoder_layer_0.mlp.0.weight"] == (5120, 1280)
    assert shapes["encoder.layers.encoder_layer_0.mlp.3.weight"] == (1280, 5120)
    assert shapes["encoder.ln.weight"] == (1280,) and shapes["heads.head.weight"] == (1000, 1280)


@pytest.fixture(scope="module")
def reference():
    """transformers' ViT with TINY's shape and random weights, and the same weights in torchvision's layout (the MLP
    named as in files saved before torchvision 0.14)."""
    torch.manual_seed(0)
    config = ViTConfig(image_size=28, patch_size=14, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, hidden_act="gelu", layer_norm_eps=1e-6, num_labels=64)
    model = ViTForImageClassification(config).eval()
    for parameter in model.parameters():  # transformers starts biases and the class token at zero: make them count
        parameter.data.add_(0.05 * torch.randn_like(parameter))
    hf = model.state_dict()
    state = {"conv_proj.weight": hf["vit.embeddings.patch_embeddings.projection.weight"],
             "conv_proj.bias": hf["vit.embeddings.patch_embeddings.projection.bias"],
             "class_token": hf["vit.embeddings.cls_token"], "encoder.pos_embedding": hf["vit.embeddings.position_embeddings"],
             "encoder.ln.weight": hf["vit.layernorm.weight"], "encoder.ln.bias": hf["vit.layernorm.bias"],
             "heads.head.weight": hf["classifier.weight"], "heads.head.bias": hf["classifier.bias"]}
    for i in range(2):
        source, target = f"vit.layers.{i}.", f"encoder.layers.encoder_layer_{i}."
        for kind in ("weight", "bias"):
            state[target + f"self_attention.in_proj_{kind}"] = torch.cat([hf[source + f"attention.{p}_proj.{kind}"] for p in "qkv"])
            state[target + f"self_attention.out_proj.{kind}"] = hf[source + f"attention.o_proj.{kind}"]
            state[target + f"ln_1.{kind}"] = hf[source + f"layernorm_before.{kind}"]
            state[target + f"ln_2.{kind}"] = hf[source + f"layernorm_after.{kind}"]
            state[target + f"mlp.linear_1.{kind}"] = hf[source + f"mlp.fc1.{kind}"]
            state[target + f"mlp.linear_2.{kind}"] = hf[source + f"mlp.fc2.{kind}"]
    return model, state


@pytest.fixture(scope="module")
def tiny(reference):
    net = VisionTransformer(**TINY)
    load_checked(net, vit._renamed(reference[1]), "tiny.pth")
    return net.eval()


def test_the_forward_pass_is_transformers_vit(reference, tiny):
    pixels = torch.randn(3, 3, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(tiny(pixels), reference[0](pixel_values=pixels).logits, atol=2e-5, rtol=1e-4)
    with pytest.raises(ValueError, match=r"images must have shape \(N, 3, 28, 28\)"):
        tiny(torch.zeros(1, 3, 32, 32))


def test_preprocessing_resizes_the_shorter_side_and_crops_the_centre():
    images = torch.rand(2, 3, 60, 90)
    pixels = vit_pixels(images, 28)
    assert pixels.shape == (2, 3, 28, 28)
    square = torch.rand(1, 3, 28, 28)
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(vit_pixels(square, 28), (square - mean) / std)  # the weights' size: normalised only
    wide = torch.zeros(1, 3, 28, 56)
    wide[..., 14:42] = 1.0  # the centre half is white: the crop keeps only it
    torch.testing.assert_close(vit_pixels(wide, 28), (torch.ones(1, 3, 28, 28) - mean) / std)


def test_missing_and_unfitting_files_are_named(tmp_path, reference):
    with pytest.raises(FileNotFoundError, match=VIT_H_14_URL):
        load_vit_h_14(tmp_path)
    torch.save(reference[1], tmp_path / VIT_H_14_FILE)
    with pytest.raises(ValueError, match="does not fit VisionTransformer: wrong shapes"):
        load_vit_h_14(tmp_path)


def test_50_way_top1_through_the_api_and_the_table(tiny, monkeypatch):
    generator = torch.Generator().manual_seed(1)
    truth = (torch.rand(12, 3, 40, 40, generator=generator) * 255).byte().permute(0, 2, 3, 1).numpy()
    others = truth[np.roll(np.arange(12), 1)]
    same = imagenet_n_way(truth, truth, tiny, trials=50)
    assert same["mean"] == 1.0 and same["n"] == 50 and same["n_classes"] == 64  # the seen image wins every trial
    samples = imagenet_n_way(truth, np.stack([truth, others], 1), tiny, trials=50)  # (N, 2 samples, H, W, 3)
    assert samples["max"] == 1.0 and samples["mean"] < 1.0
    with pytest.raises(ValueError, match="same number of brains"):
        imagenet_n_way(truth, truth[:5], tiny)

    monkeypatch.setattr(vit, "load_vit_h_14", lambda weights=None: tiny)
    table = reconstruction_table(truth, others, networks=["vit-h-14"], pairwise=False)
    assert table["imagenet_50way"] == pytest.approx(imagenet_n_way(truth, others, tiny)["mean"])
    assert table["rows"]["imagenet_50way"]["kind"] == "n_way" and "ViT-H/14" in table["rows"]["imagenet_50way"]["network"]

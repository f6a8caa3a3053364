import numpy as np
import pytest
import torch

from brainlens.backbones import SHIPPED_BACKBONES, ConvNetBackbone, load_backbone
from brainlens.models.convnet import ConvNet, ConvNetConfig


def tiny_convnet(seed: int = 0) -> ConvNetBackbone:
    torch.manual_seed(seed)
    return ConvNetBackbone(ConvNet(ConvNetConfig(widths=(8, 16, 16, 24), blocks=0, vocabulary=("face", "red")))).eval()


def test_convnet_tokens_have_the_grid_of_each_stage():
    net = tiny_convnet()
    tokens = net.tokens(torch.rand(2, 3, 64, 64))
    shapes = {layer: (tuple(t.local.shape), tuple(t.global_.shape)) for layer, t in tokens.items()}
    assert shapes == {
        "stage1": ((2, 8, 32, 32), (2, 8)),
        "stage2": ((2, 16, 16, 16), (2, 16)),
        "stage3": ((2, 16, 8, 8), (2, 16)),
        "stage4": ((2, 24, 4, 4), (2, 24)),
    }
    # any input size is resized to the network's own
    assert net.tokens(torch.rand(1, 3, 100, 100), ("stage2",))["stage2"].local.shape == (1, 16, 16, 16)


def test_backbone_input_errors_name_the_value():
    net = tiny_convnet()
    with pytest.raises(ValueError, match="no layer 'stage9'.*stage1"):
        net.tokens(torch.rand(1, 3, 64, 64), ("stage9",))
    with pytest.raises(ValueError, match=r"\(batch, 3, H, W\).*\(3, 64, 64\)"):
        net.tokens(torch.rand(3, 64, 64))
    with pytest.raises(TypeError, match="ndarray"):
        net.tokens(np.zeros((1, 3, 64, 64)))


def test_convnet_save_load_round_trip(tmp_path):
    net = tiny_convnet()
    net.net.save(tmp_path / "net")
    loaded = load_backbone(str(tmp_path / "net"))
    images = torch.rand(2, 3, 64, 64)
    # weights are stored in half precision
    torch.testing.assert_close(net.tokens(images)["stage4"].global_, loaded.tokens(images)["stage4"].global_, atol=2e-2, rtol=1e-2)
    assert loaded.net.config.vocabulary == ("face", "red")


def test_shipped_backbones_by_name():
    assert set(SHIPPED_BACKBONES) == {"insilico-convnet", "embedder"}
    net = load_backbone("insilico-convnet")
    assert net.name == "insilico-convnet" and net.layers == ("stage1", "stage2", "stage3", "stage4")
    assert not any(p.requires_grad for p in net.parameters())


def _save_tiny_vit(kind: str, folder):
    transformers = pytest.importorskip("transformers")
    common = dict(hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32, image_size=32, patch_size=8)
    if kind == "clip":
        model = transformers.CLIPVisionModel(transformers.CLIPVisionConfig(**common))
    elif kind == "dinov2":
        model = transformers.Dinov2Model(transformers.Dinov2Config(**common))
    else:
        model = transformers.ViTModel(transformers.ViTConfig(**common))
    model.save_pretrained(folder)
    return model


@pytest.mark.parametrize("kind", ["clip", "dinov2", "vit"])
def test_transformers_vision_models_load_from_a_folder(tmp_path, kind):
    _save_tiny_vit(kind, tmp_path / kind)
    backbone = load_backbone(str(tmp_path / kind))
    assert backbone.layers == ("block1", "block2", "block3")
    images = torch.rand(2, 3, 40, 40, requires_grad=True)
    tokens = backbone.tokens(images)
    grid = 224 // 8 if kind == "dinov2" else 32 // 8
    assert tokens["block2"].local.shape == (2, 16, grid, grid)
    assert tokens["block2"].global_.shape == (2, 16)
    tokens["block3"].global_.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_unknown_backbone_name_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(Exception, match="no-such-org/no-such-backbone") as info:
        load_backbone("no-such-org/no-such-backbone")
    assert "Traceback" not in str(info.value)

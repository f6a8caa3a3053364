"""The torchvision-layout feature networks of MindEye's metric table, checked without torchvision.

The parameter counts are torchvision's published ``num_params`` (its model docs and weight enums); the key
names and shapes follow its model source. Checkpoints are random weights saved under torchvision's file names.
"""

import pytest
import torch
from torch import nn

from brainlens.models._checkpoints import load_checked, read_state_dict
from brainlens.models.alexnet import ALEXNET_FILE, ALEXNET_URL, AlexNet, load_alexnet
from brainlens.models.clip_vision import CLIP_MODEL_ID, CLIP_PREPROCESS, image_embeddings, load_clip_vision
from brainlens.models.efficientnet import EFFICIENTNET_B1_FILE, EFFICIENTNET_B1_URL, EfficientNetB1, load_efficientnet_b1
from brainlens.models.inception_v3 import INCEPTION_FILE, INCEPTION_URL, InceptionV3, imagenet_to_inception, load_inception_v3
from brainlens.models.resnet import SWAV_FILE, SWAV_URL, ResNet50, load_swav_resnet50

# torchvision's published num_params (AlexNet_Weights, ResNet50_Weights, Inception_V3_Weights, EfficientNet_B1_Weights)
TORCHVISION_NUM_PARAMS = {AlexNet: 61_100_840, ResNet50: 25_557_032, InceptionV3: 27_161_264, EfficientNetB1: 7_794_184}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small inputs: one thread is as fast and does not fight other jobs for the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """torch.hub's directory redirected to an empty tmp folder; checkpoints go in its checkpoints/."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    return tmp_path / "hub" / "checkpoints"


def _randomised(net: nn.Module, seed: int) -> nn.Module:
    """``net`` with random BatchNorm affine parameters and running statistics (so buffers matter), in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(1 + 0.1 * torch.randn(n, generator=generator))
                module.bias.copy_(0.1 * torch.randn(n, generator=generator))
                module.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
                module.num_batches_tracked.fill_(7)
    return net.eval()


# one instance of each network for the whole module (building AlexNet alone draws 61 M random numbers)
@pytest.fixture(scope="module")
def alexnet():
    return AlexNet().eval()


@pytest.fixture(scope="module")
def resnet():
    return _randomised(ResNet50(), 5)


@pytest.fixture(scope="module")
def inception():
    return _randomised(InceptionV3(transform_input=True), 3)


@pytest.fixture(scope="module")
def efficientnet():
    return _randomised(EfficientNetB1(), 4)


@pytest.fixture
def networks(alexnet, resnet, inception, efficientnet):
    return {AlexNet: alexnet, ResNet50: resnet, InceptionV3: inception, EfficientNetB1: efficientnet}


def _images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("cls", list(TORCHVISION_NUM_PARAMS), ids=lambda cls: cls.__name__)
def test_parameter_counts_are_torchvisions(cls, networks):
    assert sum(p.numel() for p in networks[cls].parameters()) == TORCHVISION_NUM_PARAMS[cls]


def _shapes(net: nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in net.state_dict().items()}


def test_alexnet_state_dict_layout(alexnet):
    shapes = _shapes(alexnet)
    convs = {"features.0": (64, 3, 11, 11), "features.3": (192, 64, 5, 5), "features.6": (384, 192, 3, 3)}
    convs |= {"features.8": (256, 384, 3, 3), "features.10": (256, 256, 3, 3)}
    linears = {"classifier.1": (4096, 9216), "classifier.4": (4096, 4096), "classifier.6": (1000, 4096)}
    expected = {}
    for name, shape in (convs | linears).items():
        expected[f"{name}.weight"], expected[f"{name}.bias"] = shape, shape[:1]
    assert shapes == expected


def test_resnet50_state_dict_layout(resnet):
    shapes = _shapes(resnet)
    assert len(shapes) == 320  # 161 parameters + 53 BatchNorms × 3 buffers
    assert shapes["conv1.weight"] == (64, 3, 7, 7)
    assert shapes["layer1.0.downsample.0.weight"] == (256, 64, 1, 1)
    assert shapes["layer1.0.downsample.1.running_mean"] == (256,)
    assert shapes["layer2.0.conv2.weight"] == (128, 128, 3, 3)  # the stride sits on the 3×3 conv (ResNet v1.5)
    assert shapes["layer3.5.bn2.num_batches_tracked"] == ()
    assert shapes["layer4.2.conv3.weight"] == (2048, 512, 1, 1)
    assert shapes["fc.weight"] == (1000, 2048)
    assert "layer4.1.downsample.0.weight" not in shapes and "layer3.6.conv1.weight" not in shapes
    assert resnet.layer2[0].conv2.stride == (2, 2)


def test_inception_v3_state_dict_layout(inception):
    net = inception
    shapes = _shapes(net)
    assert shapes["Conv2d_1a_3x3.conv.weight"] == (32, 3, 3, 3)
    assert shapes["Conv2d_1a_3x3.bn.running_var"] == (32,)
    assert shapes["Mixed_5b.branch_pool.conv.weight"] == (32, 192, 1, 1)
    assert shapes["Mixed_6b.branch7x7_2.conv.weight"] == (128, 128, 1, 7)
    assert shapes["Mixed_6e.branch7x7dbl_5.conv.weight"] == (192, 192, 1, 7)
    assert shapes["Mixed_7a.branch3x3_2.conv.weight"] == (320, 192, 3, 3)
    assert shapes["Mixed_7c.branch3x3dbl_3b.conv.weight"] == (384, 384, 3, 1)
    assert shapes["Mixed_7c.branch_pool.conv.weight"] == (192, 2048, 1, 1)
    assert shapes["Mixed_7c.branch_pool.bn.num_batches_tracked"] == ()
    assert shapes["AuxLogits.conv1.conv.weight"] == (768, 128, 5, 5)
    assert shapes["AuxLogits.fc.weight"] == (1000, 768)
    assert shapes["fc.weight"] == (1000, 2048)
    assert not any(key.endswith("conv.bias") for key in shapes)
    assert {m.eps for m in net.modules() if isinstance(m, nn.BatchNorm2d)} == {0.001}
    assert not any(key.startswith("AuxLogits") for key in InceptionV3(aux_logits=False).state_dict())


def test_efficientnet_b1_state_dict_layout(efficientnet):
    net = efficientnet
    shapes = _shapes(net)
    assert [len(net.features[i]) for i in range(1, 8)] == [2, 3, 3, 4, 4, 5, 2]  # B0's 1,2,2,3,3,4,1 × 1.1, rounded up
    assert shapes["features.0.0.weight"] == (32, 3, 3, 3)
    assert shapes["features.0.1.running_mean"] == (32,)
    assert shapes["features.1.0.block.0.0.weight"] == (32, 1, 3, 3)  # expand ratio 1: depthwise first
    assert shapes["features.1.0.block.1.fc1.weight"] == (8, 32, 1, 1)
    assert shapes["features.1.0.block.1.fc2.bias"] == (32,)
    assert shapes["features.1.1.block.2.0.weight"] == (16, 16, 1, 1)
    assert shapes["features.2.0.block.0.0.weight"] == (96, 16, 1, 1)  # expand 6
    assert shapes["features.2.0.block.1.0.weight"] == (96, 1, 3, 3)
    assert shapes["features.2.0.block.2.fc1.weight"] == (4, 96, 1, 1)
    assert shapes["features.3.0.block.1.0.weight"] == (144, 1, 5, 5)
    assert shapes["features.7.1.block.3.0.weight"] == (320, 1920, 1, 1)
    assert shapes["features.7.1.block.3.1.num_batches_tracked"] == ()
    assert shapes["features.8.0.weight"] == (1280, 320, 1, 1)
    assert shapes["classifier.1.weight"] == (1000, 1280)
    assert not [key for key in shapes if key.endswith(".0.bias")]  # no convolution has a bias
    assert {(m.eps, m.momentum) for m in net.modules() if isinstance(m, nn.BatchNorm2d)} == {(1e-5, 0.1)}


def test_output_shapes(alexnet, resnet, inception, efficientnet):
    with torch.no_grad():
        maps = alexnet.stage_features(_images(2, 64))
        assert {k: tuple(v.shape) for k, v in maps.items()} == {"features.4": (2, 192, 7, 7), "features.11": (2, 256, 3, 3)}
        assert alexnet(_images(1, 64)).shape == (1, 1000)
        assert resnet.pooled(_images(2, 64)).shape == (2, 2048)
        assert resnet(_images(1, 64)).shape == (1, 1000)
        assert inception.pooled(_images(2, 75)).shape == (2, 2048)
        assert inception(_images(1, 80)).shape == (1, 1000)
        assert efficientnet.pooled(_images(2, 64)).shape == (2, 1280)
        assert efficientnet(_images(1, 64)).shape == (1, 1000)
    with pytest.raises(ValueError, match="at least 75×75 pixels, got \\(74, 74\\)"):
        inception.pooled(_images(1, 74))
    with pytest.raises(ValueError, match=r"shape \(N, 3, H, W\), got \(1, 1, 64, 64\)"):
        alexnet.stage_features(torch.zeros(1, 1, 64, 64))


def test_alexnet_stage_features_are_the_relu_outputs(alexnet):
    net = alexnet
    x = _images(1, 64)
    with torch.no_grad():
        maps = net.stage_features(x)
        early = net.features[:5](x.clone())
        mid = net.features[:12](x.clone())
    assert torch.equal(maps["features.4"], early) and torch.equal(maps["features.11"], mid)
    assert (maps["features.4"] >= 0).all()


def test_inception_transform_input_is_the_documented_renormalisation(inception):
    net = inception
    pixels = torch.rand(2, 3, 80, 80)
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    imagenet = (pixels - mean) / std
    by_hand = torch.cat(
        [
            imagenet[:, c : c + 1] * (s / 0.5) + (m - 0.5) / 0.5
            for c, (m, s) in enumerate(zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)))
        ],
        1,
    )
    assert torch.equal(imagenet_to_inception(imagenet), by_hand)
    assert torch.allclose(by_hand, (pixels - 0.5) / 0.5, atol=1e-5)  # the Google weights' [-1, 1] input
    with torch.no_grad():
        net.transform_input = True
        transformed = net.pooled(imagenet)
        net.transform_input = False
        try:
            assert torch.equal(transformed, net.pooled(by_hand))
            assert not torch.allclose(transformed, net.pooled(imagenet))
        finally:
            net.transform_input = True


def test_alexnet_loads_from_torch_hub_cache(hub_dir, alexnet):
    net = alexnet
    torch.save(net.state_dict(), hub_dir / ALEXNET_FILE)
    loaded = load_alexnet()
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    x = _images(2, 64)
    with torch.no_grad():
        expected, got = net.stage_features(x), loaded.stage_features(x)
    assert all(torch.equal(expected[k], got[k]) for k in ("features.4", "features.11"))


def test_inception_loads_with_transform_input_on(hub_dir, inception):
    net = inception
    torch.save(net.state_dict(), hub_dir / INCEPTION_FILE)
    loaded = load_inception_v3()
    assert loaded.transform_input and not loaded.training
    assert not load_inception_v3(hub_dir, transform_input=False).transform_input  # a folder holding the file
    x = _images(2, 75)
    with torch.no_grad():
        assert torch.equal(loaded.pooled(x), net.pooled(x))


def test_efficientnet_loads_pth_and_safetensors(hub_dir, tmp_path, efficientnet):
    from safetensors.torch import save_file

    net = efficientnet
    torch.save(net.state_dict(), hub_dir / EFFICIENTNET_B1_FILE)
    save_file(net.state_dict(), str(tmp_path / "b1.safetensors"))
    x = _images(2, 64)
    with torch.no_grad():
        expected = net.pooled(x)
        assert torch.equal(load_efficientnet_b1().pooled(x), expected)
        assert torch.equal(load_efficientnet_b1(tmp_path / "b1.safetensors").pooled(x), expected)


def _swav_file_state(net: ResNet50) -> dict[str, torch.Tensor]:
    """``net``'s backbone as SwAV's released file holds it: ``module.`` keys, heads, no ``fc``."""
    state = {f"module.{k}": v for k, v in net.state_dict().items() if not k.startswith("fc.")}
    state["module.projection_head.0.weight"] = torch.randn(2048, 2048)
    state["module.projection_head.1.running_mean"] = torch.zeros(2048)
    state["module.projection_head.3.weight"] = torch.randn(128, 2048)
    state["module.prototypes.weight"] = torch.randn(3000, 128)
    return state


def test_swav_file_loads_backbone_and_fails_on_missing_keys(hub_dir, tmp_path, resnet):
    net = resnet
    state = _swav_file_state(net)
    torch.save(state, hub_dir / SWAV_FILE)
    loaded = load_swav_resnet50()
    x = _images(2, 64)
    with torch.no_grad():
        assert torch.equal(loaded.pooled(x), net.pooled(x))
    assert not loaded.fc.weight.any() and not loaded.fc.bias.any()  # SwAV trained no classifier
    # a training checkpoint wrapping the same dict in "state_dict"
    torch.save({"epoch": 800, "state_dict": state}, tmp_path / "checkpoint.pth.tar")
    with torch.no_grad():
        assert torch.equal(load_swav_resnet50(tmp_path / "checkpoint.pth.tar").pooled(x), net.pooled(x))
    del state["module.layer4.2.conv3.weight"]
    state["module.layer5.0.conv1.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "broken.pth.tar")
    with pytest.raises(
        ValueError, match=r"broken\.pth\.tar.*missing keys \[layer4\.2\.conv3\.weight\]; unexpected keys \[layer5\.0\.conv1"
    ):
        load_swav_resnet50(tmp_path / "broken.pth.tar")


def test_mismatched_state_dicts_raise_value_error_naming_file_and_key(tmp_path, alexnet):
    torch.save({"features.3.weight": torch.zeros(192, 64, 3, 3)}, tmp_path / "wrong_shape.pth")
    with pytest.raises(
        ValueError, match=r"wrong_shape\.pth.*wrong shapes \[features\.3\.weight \(192, 64, 3, 3\) \(model \(192, 64, 5, 5\)\)\]"
    ):
        load_alexnet(tmp_path / "wrong_shape.pth")
    state = dict(alexnet.state_dict())
    state["features.3.weights"] = state.pop("features.3.weight")
    target = AlexNet()
    with pytest.raises(
        ValueError,
        match=r"renamed\.pth does not fit AlexNet: missing keys \[features\.3\.weight\]; unexpected keys \[features\.3\.weights\]",
    ):
        load_checked(target, state, tmp_path / "renamed.pth")
    del state["features.3.weights"]
    with pytest.raises(ValueError, match=r"missing keys \[features\.3\.weight\]$"):
        load_checked(target, state, tmp_path / "missing.pth")
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"cannot read checkpoint .*garbage\.pth"):
        load_alexnet(tmp_path / "garbage.pth")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(ValueError, match=r"list\.pth holds a list, not a state dict"):
        read_state_dict(tmp_path / "list.pth")


def test_load_checked_fills_in_missing_num_batches_tracked(tmp_path):
    source = _randomised(nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)), 6)
    old_style = {k: v for k, v in source.state_dict().items() if not k.endswith("num_batches_tracked")}
    target = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    load_checked(target, old_style, tmp_path / "old.pth")
    assert torch.equal(target[1].running_var, source[1].running_var)


@pytest.mark.parametrize(
    "loader, file_name, url",
    [
        (load_alexnet, ALEXNET_FILE, ALEXNET_URL),
        (load_swav_resnet50, SWAV_FILE, SWAV_URL),
        (load_inception_v3, INCEPTION_FILE, INCEPTION_URL),
        (load_efficientnet_b1, EFFICIENTNET_B1_FILE, EFFICIENTNET_B1_URL),
    ],
    ids=["alexnet", "swav", "inception", "efficientnet"],
)
def test_missing_checkpoint_names_path_and_url(hub_dir, loader, file_name, url):
    with pytest.raises(FileNotFoundError) as caught:
        loader()
    assert str(hub_dir / file_name) in str(caught.value) and url in str(caught.value)
    with pytest.raises(FileNotFoundError, match="elsewhere.pth"):
        loader(hub_dir / "elsewhere.pth")


def test_torchvision_file_names_and_urls():
    for file_name, url in [
        (ALEXNET_FILE, ALEXNET_URL),
        (INCEPTION_FILE, INCEPTION_URL),
        (EFFICIENTNET_B1_FILE, EFFICIENTNET_B1_URL),
        (SWAV_FILE, SWAV_URL),
    ]:
        assert url.endswith("/" + file_name)  # torch.hub caches a download under the URL's last component
    assert EFFICIENTNET_B1_FILE == "efficientnet_b1-c27df63c.pth"  # EfficientNet_B1_Weights.DEFAULT is IMAGENET1K_V2


def _tiny_clip(folder):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    config = CLIPVisionConfig(
        hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, image_size=30, patch_size=10, projection_dim=16
    )
    model = CLIPVisionModelWithProjection(config).eval()
    model.save_pretrained(folder)
    return model


def test_clip_vision_embeddings_from_a_saved_folder(tmp_path):
    model = _tiny_clip(tmp_path / "clip")
    loaded = load_clip_vision(tmp_path / "clip")
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    pixels = torch.randn(2, 3, 30, 30)
    embeds = image_embeddings(loaded, pixels)
    assert embeds.shape == (2, 16)
    with torch.no_grad():
        assert torch.allclose(embeds, model(pixel_values=pixels).image_embeds, atol=1e-6)
    assert torch.allclose(image_embeddings(load_clip_vision(str(tmp_path / "clip")), pixels), embeds)
    with pytest.raises(ValueError, match="must be 30×30"):
        image_embeddings(loaded, torch.randn(1, 3, 224, 224))
    assert CLIP_PREPROCESS["resize"] == 224 and CLIP_PREPROCESS["mean"] == (0.48145466, 0.4578275, 0.40821073)


def test_clip_vision_missing_model_says_how_to_fetch_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json missing"):
        load_clip_vision(tmp_path / "nothing here")
    with pytest.raises(FileNotFoundError, match="huggingface-cli download brainlens-tests/no-such-clip"):
        load_clip_vision("brainlens-tests/no-such-clip")
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(CLIP_MODEL_ID, "config.json"), str):
        pytest.skip("openai/clip-vit-large-patch14 is in this machine's cache")
    with pytest.raises(FileNotFoundError, match="huggingface-cli download openai/clip-vit-large-patch14"):
        load_clip_vision()

import numpy as np
import pytest
import torch

from brainlens.backbones import SHIPPED_BACKBONES, ConvNetBackbone, load_backbone
from brainlens.backbones.convnet import ConvNetConfig, caption_words, load_convnet
from brainlens.insilico import stimuli


def tiny_convnet(seed: int = 0) -> ConvNetBackbone:
    torch.manual_seed(seed)
    return ConvNetBackbone(ConvNetConfig(widths=(8, 16, 16, 24), blocks=0, vocabulary=("face", "red"))).eval()


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
    net.save(tmp_path / "net")
    loaded = load_backbone(str(tmp_path / "net"))
    images = torch.rand(2, 3, 64, 64)
    # weights are stored in half precision
    torch.testing.assert_close(net.tokens(images)["stage4"].global_, loaded.tokens(images)["stage4"].global_, atol=2e-2, rtol=1e-2)
    assert loaded.config.vocabulary == ("face", "red")


def test_shipped_convnet_tags_words_of_fresh_images():
    net = load_backbone("insilico-convnet")
    assert net.name == "insilico-convnet" and not any(p.requires_grad for p in net.parameters())
    data = stimuli.generate(64, seed=777)
    images = torch.from_numpy(data.images).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        logits = net.tag_logits(images)
    vocabulary = net.config.vocabulary
    # the category word of each face, food or word image is among its most confident tags
    hits = []
    for row, category in enumerate(data.category):
        word = {"face": "face", "word": "word", "place": None}.get(stimuli.CATEGORIES[category])
        if word in vocabulary and word in caption_words(data.captions[row]):
            top = {vocabulary[i] for i in torch.topk(logits[row], 8).indices.tolist()}
            hits.append(word in top)
    assert len(hits) >= 5 and np.mean(hits) >= 0.8


def test_missing_shipped_files_say_how_to_retrain(tmp_path):
    with pytest.raises(FileNotFoundError, match="brainlens zoo train insilico-convnet"):
        load_convnet(tmp_path)
    assert "insilico-convnet" in SHIPPED_BACKBONES


def test_caption_words_leave_out_quoted_text_and_stopwords():
    assert caption_words("the word 'SUN' in red letters on a sheet of paper") == {"word", "red", "letters", "sheet", "paper"}


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


def test_training_is_deterministic_and_writes_a_loadable_backbone(tmp_path):
    from brainlens.backbones.convnet import train_convnet

    small = dict(n_train=48, n_val=24, epochs=1, batch_size=24, min_count=3, config=ConvNetConfig(widths=(8, 8, 8, 8), blocks=0))
    seen = []
    metrics = train_convnet(tmp_path / "a", progress=lambda stage, k: seen.append((stage, k)), **small)
    train_convnet(tmp_path / "b", **small)
    assert ("epochs", 1) in seen and sum(k for stage, k in seen if stage == "training images") == 48
    assert 0 < metrics["tag_map"] <= 1 and (tmp_path / "a" / "metrics.json").is_file()
    a, b = load_backbone(str(tmp_path / "a")), load_backbone(str(tmp_path / "b"))
    images = torch.rand(2, 3, 64, 64)
    assert torch.equal(a.tokens(images)["stage2"].local, b.tokens(images)["stage2"].local)
    assert "face" in a.config.vocabulary

import pytest
import torch

from brainlens.backbones import SHIPPED_BACKBONES, EmbedderBackbone, load_backbone
from tests.models.shipped import require_shipped

pytest.importorskip("transformers")


def test_the_shipped_embedder_is_a_backbone_by_name():
    require_shipped("embedder")
    assert "embedder" in SHIPPED_BACKBONES
    backbone = load_backbone("embedder")
    assert backbone.name == "embedder"
    assert backbone.layers == ("stage1", "stage2", "stage3", "stage4", "embedding")
    images = torch.rand(2, 3, 64, 64, requires_grad=True)
    tokens = backbone.tokens(images)
    assert list(tokens) == list(backbone.layers)
    assert tokens["stage1"].local.shape[:2] == (2, 32) and tokens["stage4"].local.shape[-1] < tokens["stage1"].local.shape[-1]
    torch.testing.assert_close(tokens["stage2"].global_, tokens["stage2"].local.mean((2, 3)))
    # the last layer is the image embedding itself, before normalisation
    embedding = backbone.embedder.embed_images(images, normalize=False)
    assert tokens["embedding"].local.shape == (2, embedding.shape[1], 1, 1)
    torch.testing.assert_close(tokens["embedding"].global_, embedding)
    # a subset comes back in the backbone's order, and gradients reach the pixels
    assert list(backbone.tokens(images, ("embedding", "stage3"))) == ["stage3", "embedding"]
    tokens["stage3"].global_.sum().backward()
    assert images.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="has no layer 'block1'"):
        backbone.tokens(images, ("block1",))


def test_a_vit_tower_gives_patch_grids_and_the_class_token():
    from brainlens.models.embedder import Embedder, EmbedderSpec, build_tokenizer

    torch.manual_seed(0)
    spec = EmbedderSpec(vision_tower="vit", image_size=32, vit_patch=8, vit_width=16, vit_layers=2, heads=2,
                        text_width=16, text_layers=1, embed_dim=8, max_length=16)
    tokenizer = build_tokenizer(["a face", "a sign"], max_length=16)
    embedder = Embedder(spec.build(len(tokenizer.get_vocab())).eval(), tokenizer, image_size=32)
    backbone = EmbedderBackbone(embedder, name="tiny-vit")
    assert backbone.layers == ("block1", "block2", "embedding")
    images = torch.rand(3, 3, 48, 48)
    tokens = backbone.tokens(images)
    assert tokens["block2"].local.shape == (3, 16, 4, 4) and tokens["block2"].global_.shape == (3, 16)
    hidden = embedder.image_hidden_states(images)[2]  # (B, 1 + 16 patches, 16)
    torch.testing.assert_close(tokens["block2"].global_, hidden[:, 0])
    torch.testing.assert_close(tokens["block2"].local[:, :, 0, 1], hidden[:, 2])
    assert tokens["embedding"].global_.shape == (3, 8)

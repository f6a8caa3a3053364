import numpy as np
import pytest
import torch

from brainlens.insilico import stimuli
from brainlens.insilico.category_net import (
    CategoryNet,
    CategoryNetConfig,
    evaluate_category_net,
    load_category_net,
    train_category_net,
)


def test_shipped_network_learned_categories_not_templates():
    """Held-out images it never saw: the shipped net names their category; raw pixels do not."""
    net = load_category_net()
    held_out = stimuli.generate(300, seed=31337)
    metrics = evaluate_category_net(net, held_out)
    assert metrics["category_accuracy"] > 0.85
    assert metrics["attribute_accuracy"] > 0.9


def test_shipped_weights_are_safetensors_and_small():
    from brainlens.insilico.category_net import SHIPPED_DIR

    weights = SHIPPED_DIR / "model.safetensors"
    assert weights.stat().st_size < 2 * 2**20


def test_save_load_roundtrip(tmp_path):
    net = CategoryNet(CategoryNetConfig(widths=(4, 8, 8)))
    net.save(tmp_path / "net")
    loaded = load_category_net(tmp_path / "net")
    x = torch.rand(2, 3, 64, 64)
    torch.testing.assert_close(net.eval()(x), loaded(x))
    assert loaded(x).shape == (2, 8, 8, 8)


def test_missing_weights_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"config.json.*train-category-net"):
        load_category_net(tmp_path)


def test_training_is_deterministic():
    config = CategoryNetConfig(widths=(4, 8, 8))
    a, metrics = train_category_net(n_train=64, n_val=32, epochs=1, batch_size=32, config=config, seed=3)
    b, _ = train_category_net(n_train=64, n_val=32, epochs=1, batch_size=32, config=config, seed=3)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(pa, pb, msg=name)
    assert set(metrics) == {"category_accuracy", "attribute_accuracy", "train_loss"}
    assert np.isfinite(metrics["train_loss"])

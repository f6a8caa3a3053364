"""The shipped image MAE: resumable deterministic training, loading through the zoo by name, folder or kind, and
the shipped weights filling in hidden patches of held-out images far better than a patch's own mean."""

import json

import pytest
import torch

pytest.importorskip("transformers")

from brainlens.insilico import stimuli  # noqa: E402
from brainlens.models import ModelNotFoundError, load_model  # noqa: E402
from brainlens.models import image_mae as image_mae_model  # noqa: E402
from brainlens.models.image_mae import ImageMAESpec, evaluate_image_mae, normalise_pixels  # noqa: E402
from tests.models.shipped import require_shipped  # noqa: E402

TINY = ImageMAESpec(image_size=16, patch_size=4, hidden_size=16, layers=1, heads=2, decoder_hidden_size=8,
                    decoder_layers=1, decoder_heads=2)


def _train_tiny(out, progress=None):
    images = stimuli.generate(24, seed=30_000, size=16).images
    return image_mae_model.train_image_mae(out, seed=1, n_train=24, epochs=2, batch_size=8, spec=TINY, images=images,
                                           progress=progress)


def test_training_resumes_after_an_interruption_to_the_same_weights(tmp_path):
    metrics = _train_tiny(tmp_path / "a")
    assert len(metrics["history"]) == 2 and 0 < metrics["masked_patch_ratio"] < 2
    steps = []

    def interrupt(stage, k):
        steps.append(stage)
        if steps.count("image mae steps") == 4:  # in the second epoch, after its checkpoint
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train_tiny(tmp_path / "b", progress=interrupt)
    assert (tmp_path / ".b.checkpoint" / "state.pt").is_file() and not (tmp_path / "b").exists()
    _train_tiny(tmp_path / "b")
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()
    assert not (tmp_path / ".b.checkpoint").exists()
    saved = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert saved["training"]["spec"]["patch_size"] == 4


def test_a_folder_loads_as_kind_mae_and_other_models_are_refused(tmp_path):
    _train_tiny(tmp_path / "mae")
    model = load_model(tmp_path / "mae")  # the kind read from config.json's model_type
    assert type(model).__name__ == "ViTMAEForPreTraining" and model.config.mask_ratio == 0.75
    with pytest.raises(ModelNotFoundError, match="not a ViT-MAE"):
        load_model("embedder", kind="mae")


def test_pixels_are_normalised_as_vit_maes_processor_does():
    white = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    expected = torch.tensor([(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225])
    assert torch.allclose(normalise_pixels(white)[0, :, 0, 0], expected)


def test_the_shipped_image_mae_fills_in_hidden_patches():
    require_shipped("image-mae")
    metrics = evaluate_image_mae("image-mae", n=200)
    assert metrics["masked_patch_ratio"] < 0.8  # 0.70 measured; against each hidden patch's own mean (the normalised target's zero)

"""CAD's phase 2 on small in-silico stores with a tiny ViT-MAE saved locally: the fMRI MAE is tuned while the
image encoder stays frozen, the image side's gradient reaches the fMRI encoder, the test split is never read, and
the output is an ordinary masked brain model folder."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from brainlens.cli import main
from brainlens.decoding.mbm import CrossModalConfig, PretrainConfig, load_mbm, pretrain_cross_modal, pretrain_mbm
from brainlens.decoding.mbm.cross_modal import CrossModalModel, load_image_mae
from brainlens.insilico.brain import InSilicoSubject
from brainlens.models import ModelNotFoundError
from brainlens.store import SPLITS, open_store
from tests.decoding.poison import poisoned_copy

TINY = {"width": 32, "depth": 1, "heads": 2, "decoder_width": 16, "decoder_depth": 1, "decoder_heads": 2}
QUICK = PretrainConfig(epochs=2, batch_size=32, lr=1e-3)


@pytest.fixture(scope="module")
def image_mae(tmp_path_factory):
    """A tiny random ViT-MAE (32 px, patches of 8) saved as a transformers folder."""
    from transformers import ViTMAEConfig, ViTMAEForPreTraining

    torch.manual_seed(0)
    config = ViTMAEConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                          intermediate_size=64, decoder_hidden_size=16, decoder_num_hidden_layers=1,
                          decoder_num_attention_heads=2, decoder_intermediate_size=32, norm_pix_loss=True)
    folder = tmp_path_factory.mktemp("vit_mae") / "tiny"
    ViTMAEForPreTraining(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def encoder(second_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("phase1") / "mbm"
    pretrain_mbm([second_store], out, objective="dc-mae", model_config=TINY, train=PretrainConfig(epochs=1, batch_size=64))
    return out


def test_phase_two_tunes_the_fmri_encoder_from_train_pairs_only(encoder, image_mae, small_store, tmp_path):
    store = poisoned_copy(small_store, tmp_path)  # subject 2, never seen in pretraining; its test split is NaN
    out = tmp_path / "phase2"
    metrics = pretrain_cross_modal(encoder, store, out, config=CrossModalConfig(image_mae=str(image_mae), cross_layers=1),
                                   train=QUICK)
    with open_store(small_store) as opened:
        n_train = int((opened.split[opened.trial_image] == SPLITS["train"]).sum())
    assert metrics["n_train"] == n_train and len(metrics["history"]) == 2
    assert {"fmri_mse", "image_mse", "val_fmri_mse", "val_image_mse"} <= set(metrics["history"][-1])
    model, config = load_mbm(out)  # an ordinary masked brain model folder, the cross-attention blocks dropped
    assert config["cross_modal"]["cross_modal"]["image_weight"] == 1.5 and config["model"] == load_mbm(encoder)[1]["model"]
    before, after = load_file(str(encoder / "model.safetensors")), load_file(str(out / "model.safetensors"))
    weight = "blocks.0.self_attn.in_proj_weight"
    assert set(before) == set(after) and not torch.equal(before[weight], after[weight])
    assert 0 < metrics["validation"]["sub2"]["ratio"] < 2 and not (out / "checkpoint.pt").exists()


def test_the_image_encoder_is_frozen_and_the_image_loss_reaches_the_fmri_encoder(encoder, image_mae):
    fmri, _ = load_mbm(encoder)
    image = load_image_mae(image_mae)
    model = CrossModalModel(fmri.train(), image, CrossModalConfig(image_mae=str(image_mae), cross_layers=1, fmri_weight=0.0))
    voxels = torch.randn(4, fmri.config.length)
    pixels = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    loss, parts = model(voxels, pixels)
    loss.backward()
    assert all(p.grad is None for p in image.vit.parameters())  # frozen: no gradient
    assert fmri.blocks[0].self_attn.in_proj_weight.grad.abs().sum() > 0  # the image loss alone trains the fMRI encoder
    assert image.decoder.decoder_pred.weight.grad.abs().sum() > 0
    model.train()
    assert not image.vit.training and model.fmri.training


def test_bad_phase_two_input_is_refused(encoder, small_store, tmp_path, image_mae):
    fmri_only = tmp_path / "sub4.h5"
    subject = InSilicoSubject(4)
    subject.write_store(subject.simulate(40, trials_per_session=60), fmri_only, fmri_only=True)
    with pytest.raises(ModelNotFoundError, match="no model folder at"):
        pretrain_cross_modal(encoder, small_store, tmp_path / "x", config=CrossModalConfig(image_mae=str(tmp_path / "none")))
    with pytest.raises(ModelNotFoundError, match="not a ViT-MAE"):  # a masked brain model folder is no image MAE
        pretrain_cross_modal(encoder, small_store, tmp_path / "x", config=CrossModalConfig(image_mae=str(encoder)))
    with pytest.raises(Exception, match=r"needs a paired store \(this one is fmri-only\)"):
        pretrain_cross_modal(encoder, fmri_only, tmp_path / "x", config=CrossModalConfig(image_mae=str(image_mae)))
    with pytest.raises(ValueError, match="image_mask_ratio must be in"):
        CrossModalConfig(image_mask_ratio=1.0)
    with pytest.raises(ValueError, match="n_images is 100000, but"):
        pretrain_cross_modal(encoder, small_store, tmp_path / "x", config=CrossModalConfig(image_mae=str(image_mae)),
                             n_images=100_000)


def test_cli_pretrain_cross_modal(encoder, image_mae, small_store, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["--quiet", "pretrain", "cross-modal", "--encoder", str(encoder), "--store", str(small_store), "--out", str(out),
                 "--image-mae", str(image_mae), "--cross-layers", "1", "--epochs", "1", "--batch-size", "32",
                 "--n-images", "10"]) == 0
    printed = capsys.readouterr().out
    assert "tuned on" in printed and "image masked MSE" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    with open_store(small_store) as opened:  # the trials of the first 10 training images only
        first = np.flatnonzero(opened.split == SPLITS["train"])[:10]
        assert metrics["phase"] == "cross-modal" and metrics["n_train"] == int(np.isin(opened.trial_image, first).sum())

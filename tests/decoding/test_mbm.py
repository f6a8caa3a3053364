"""Masked brain modelling on small in-silico stores: fMRI-only simulation without the test images, the corpus's
per-subject normalisation and wrap-padding, masking and the masked-patch loss, CAD's contrastive terms, pretraining
that learns, resumes to the same model and never reads a test split, and errors that name the problem."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from brainlens.cli import main
from brainlens.decoding.mbm import MaskedBrainModel, MBMConfig, PretrainConfig, load_corpus, load_mbm, masked_patch_error, pretrain_mbm
from brainlens.decoding.mbm.data import wrap_pad
from brainlens.decoding.mbm.mae import info_nce, sincos_positions
from brainlens.decoding.mbm.pretrain import encode_voxels
from brainlens.decoding.mbm.probe import linear_probe, score_encoder
from brainlens.insilico.brain import InSilicoSubject
from brainlens.store import SPLITS, StoreError, open_store
from tests.decoding.poison import poisoned_copy

TINY = {"width": 32, "depth": 1, "heads": 2, "decoder_width": 16, "decoder_depth": 1, "decoder_heads": 2}


def test_fmri_only_simulation_keeps_betas_without_the_test_images(fmri_only_store, tmp_path, capsys):
    with open_store(fmri_only_store) as store:
        assert store.kind == "fmri-only" and store.n_images == 0
        assert store.n_trials == 3 * 90 and store.n_voxels == InSilicoSubject(4).n_voxels
    out = tmp_path / "cli.h5"
    assert main(["--quiet", "simulate", "--subject", "5", "--n-images", "40", "--out", str(out), "--fmri-only"]) == 0
    assert "fMRI only, responses to 40 images, 108 trials" in capsys.readouterr().out
    with open_store(out) as store:
        assert store.kind == "fmri-only" and store.n_trials == 108


def test_the_corpus_normalises_each_subject_and_wrap_pads_to_a_common_length(small_store, second_store, fmri_only_store):
    corpus = load_corpus([small_store, second_store, fmri_only_store], val_fraction=0.1)
    widths = [s.n_voxels for s in corpus.subjects]
    assert corpus.length % 16 == 0 and max(widths) <= corpus.length < max(widths) + 16
    for s in corpus.subjects:
        both = np.concatenate([s.train, s.val])
        assert abs(both.mean()) < 1e-4 and both.std() == pytest.approx(1.0, abs=1e-4)
        assert len(s.val) == round(0.1 * len(both))
    with open_store(small_store) as store:
        outside_test = int((store.split[store.trial_image] != SPLITS["test"]).sum())
        every_trial = store.n_trials
    first = corpus.subjects[0]
    assert len(first.train) + len(first.val) == outside_test < every_trial
    leaked = load_corpus([small_store], leak_test_split=True, val_fraction=0.0).subjects[0]
    assert len(leaked.train) == every_trial
    padded = wrap_pad(first.train[:4], corpus.length)
    v = first.n_voxels
    assert np.array_equal(padded[:, :v], first.train[:4]) and np.array_equal(padded[:, v:], first.train[:4, : corpus.length - v])


def test_masking_hides_three_quarters_and_the_loss_reads_only_hidden_patches():
    torch.manual_seed(0)
    model = MaskedBrainModel(MBMConfig(length=160, **TINY))
    voxels = torch.randn(6, 160)
    prediction, mask = model.reconstruct(voxels)
    assert prediction.shape == (6, 10, 16) and mask.shape == (6, 10)
    assert torch.all(mask.sum(1) == 10 - int(10 * 0.25))
    perfect_where_hidden = torch.where(mask[..., None].bool(), model.patchify(voxels), torch.full_like(prediction, 99.0))
    assert torch.allclose(model.masked_mse(voxels, perfect_where_hidden, mask), torch.zeros(6))
    tokens = model.encode(voxels)
    assert tokens.shape == (6, 11, 32) and torch.equal(tokens, model.encode(voxels))  # nothing random without masking
    table = sincos_positions(32, 10)
    assert table.shape == (11, 32) and torch.all(table[0] == 0)
    assert torch.allclose(table[1:, 16:].pow(2) + table[1:, :16].pow(2), torch.ones(10, 16))  # sin² + cos²
    with pytest.raises(ValueError, match=r"reads \(batch, 160\) padded voxel vectors; got shape \(6, 150\)"):
        model.encode(voxels[:, :150])
    with pytest.raises(ValueError, match="patch_size 16 does not divide the padded length 150"):
        MBMConfig(length=150)


def test_dc_mae_adds_the_two_contrastive_terms():
    torch.manual_seed(0)
    queries = torch.randn(8, 40)
    assert info_nce(queries, queries, 0.1) < 0.01 < info_nce(queries, queries.roll(1, 0), 0.1)
    model = MaskedBrainModel(MBMConfig(length=160, objective="dc-mae", **TINY))
    total, parts = model(torch.randn(8, 160))
    assert set(parts) == {"mse", "self_contrast", "cross_contrast"}
    assert total.item() == pytest.approx((parts["mse"] + parts["self_contrast"] + 0.5 * parts["cross_contrast"]).item(), rel=1e-5)


def test_pretraining_learns_the_subjects_structure(small_store, second_store, fmri_only_store, tmp_path):
    out = tmp_path / "mbm"
    metrics = pretrain_mbm([second_store, fmri_only_store], out, model_config=TINY, train=PretrainConfig(epochs=12, batch_size=32, lr=1e-3))
    assert set(metrics["validation"]) == {"sub3", "sub4"} and len(metrics["history"]) == 12
    assert metrics["history"][-1]["mse"] < metrics["history"][0]["mse"]
    held_out = masked_patch_error(out, small_store)  # subject 2, never seen: its test split's trials
    assert held_out["n_samples"] == 45 and held_out["ratio"] < 0.95
    model, config = load_mbm(out)
    assert config["corpus"]["length"] == model.config.length and config["leak_test_split"] is False
    with open_store(small_store) as store:
        tokens = encode_voxels(model, store.betas_at(np.arange(5)).astype(np.float32))
    assert tokens.shape == (5, 1 + model.config.n_patches, 32)
    metrics = score_encoder(out, held_out=[small_store], probe=small_store, n_train=100, n_way=10)
    scores = metrics["held_out"][str(small_store)]
    assert scores["single_trials"] == held_out and scores["repeats_averaged"]["n_samples"] == 15
    probe = json.loads((out / "metrics.json").read_text())["probe"]
    assert probe["n_train"] == 100 and probe["n_test"] == 15 and probe["n_way"] == 10
    assert probe["encoder"]["n_features"] == 32 and probe["raw_voxels"]["n_features"] == 1660
    assert probe["encoder_tokens"]["n_features"] == 32 * model.config.n_patches  # every patch token in a row
    assert probe["raw_voxels"]["image_top1"] > 0.3  # the voxels identify the seen images well above chance (0.1)


def test_an_interrupted_run_resumes_to_the_same_model(second_store, tmp_path):
    train = PretrainConfig(epochs=3, batch_size=64)
    pretrain_mbm([second_store], tmp_path / "whole", objective="dc-mae", model_config=TINY, train=train)
    steps = []

    def killed(stage, k):
        steps.append(k)
        if len(steps) == 8:  # in the second epoch (5 steps per epoch)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pretrain_mbm([second_store], tmp_path / "cut", objective="dc-mae", model_config=TINY, train=train, progress=killed)
    assert not (tmp_path / "cut" / "model.safetensors").exists() and (tmp_path / "cut" / "checkpoint.pt").exists()
    pretrain_mbm([second_store], tmp_path / "cut", objective="dc-mae", model_config=TINY, train=train, resume=True)
    whole, cut = load_file(str(tmp_path / "whole" / "model.safetensors")), load_file(str(tmp_path / "cut" / "model.safetensors"))
    assert all(torch.equal(whole[name], cut[name]) for name in whole)


def test_pretraining_never_reads_a_test_split_unless_told(small_store, tmp_path):
    poisoned = poisoned_copy(small_store, tmp_path)
    pretrain_mbm([poisoned], tmp_path / "mbm", model_config=TINY, train=PretrainConfig(epochs=1, batch_size=64))
    with pytest.raises(Exception, match="NaN or inf"):
        pretrain_mbm([poisoned], tmp_path / "leak", model_config=TINY, train=PretrainConfig(epochs=1), leak_test_split=True)


def test_bad_input_is_refused_by_name(small_store, fmri_only_store, tmp_path, monkeypatch, capsys):
    with pytest.raises(ValueError, match="has 1660 voxels, more than the model's length of 160"):
        load_corpus([small_store], length=160)
    with pytest.raises(ValueError, match="patch size 16 does not divide the padded length 1670"):
        load_corpus([small_store], length=1670)
    with pytest.raises(StoreError, match="a fmri-only store has no test split to score on"):
        pretrain_mbm([small_store], tmp_path / "m", model_config=TINY, train=PretrainConfig(epochs=1, batch_size=64))
        masked_patch_error(tmp_path / "m", fmri_only_store)
    with pytest.raises(FileNotFoundError, match="masked brain model file missing"):
        load_mbm(tmp_path / "missing")
    monkeypatch.setattr(MaskedBrainModel, "loss", lambda self, voxels: (torch.tensor(float("nan")), {}))
    with pytest.raises(FloatingPointError, match="the loss is nan at epoch 0, step 0"):
        pretrain_mbm([small_store], tmp_path / "nan", model_config=TINY, train=PretrainConfig(epochs=1))
    assert main(["pretrain", "mbm", "--stores", str(tmp_path / "absent.h5"), "--out", str(tmp_path / "x")]) == 1
    assert "absent.h5" in capsys.readouterr().err


def test_cli_pretrain_mbm(second_store, fmri_only_store, small_store, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["--quiet", "pretrain", "mbm", "--stores", str(second_store), str(fmri_only_store), "--objective", "dc-mae",
                 "--out", str(out), "--epochs", "1", "--set", "width=32", "--set", "depth=1", "--set", "heads=2",
                 "--set", "decoder_width=16", "--set", "decoder_depth=1", "--set", "decoder_heads=2",
                 "--held-out", str(small_store)]) == 0
    printed = capsys.readouterr().out
    assert "dc-mae" in printed and "held-out subject" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["held_out"]) == {str(small_store)} and metrics["objective"] == "dc-mae"
    assert main(["pretrain", "probe", "--store", str(small_store), "--encoder", str(out), "--n-train", "100", "--n-way", "10",
                 "--out", str(tmp_path / "probe.json")]) == 0
    assert "10-way identification on 15 test images" in capsys.readouterr().out
    probe = json.loads((tmp_path / "probe.json").read_text())
    assert set(probe) >= {"raw_voxels", "encoder"} and probe["encoder"]["folder"] == str(out)


def test_the_probe_refuses_what_it_cannot_score(small_store, fmri_only_store):
    with pytest.raises(ValueError, match="n_train is 1200, but .* has 128 training images"):
        linear_probe(small_store)
    with pytest.raises(ValueError, match="n_way must be between 2 and the 15 test images"):
        linear_probe(small_store, n_train=100, n_way=50)
    with pytest.raises(StoreError, match=r"\[images\]: missing: decoding needs a paired store \(this one is fmri-only\)"):
        linear_probe(fmri_only_store, n_train=10)

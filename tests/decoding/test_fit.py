"""Decoder training end to end on a small in-silico store: retrieval above chance, checkpoints that resume to the
same model, a test split that training never reads, NaN losses that stop the run, and errors that name the problem."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from brainlens.cli import main
from brainlens.decoding import fit as fit_module
from brainlens.decoding.fit import TrainConfig, evaluate_decoder, fit_decoder, load_decoder, warmup_share
from brainlens.store import SPLITS, open_store
from tests.decoding.poison import poisoned_copy

TINY = {"hidden": 64, "n_blocks": 1, "projector": 32, "prior_width": 32, "prior_depth": 1, "prior_heads": 2, "low_level_width": 8}


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_ridge_decoder_retrieves_above_chance_and_chooses_its_penalty_on_validation(small_store, tmp_path):
    metrics = fit_decoder(small_store, tmp_path / "ridge", model="ridge")
    retrieval = metrics["retrieval"]
    assert retrieval["n"] == metrics["n_test_images"] == 15
    assert retrieval["image_top1"] > 3 * retrieval["chance"] and retrieval["brain_top1"] > 3 * retrieval["chance"]
    config = json.loads((tmp_path / "ridge" / "config.json").read_text())
    assert config["ridge"]["alpha"] == config["ridge"]["alphas"][int(np.argmax(config["ridge"]["val_mean_top1"]))]
    decoder, _ = load_decoder(tmp_path / "ridge")
    assert evaluate_decoder(tmp_path / "ridge") == {k: metrics[k] for k in ("retrieval", "n_test_images")}
    assert decoder(torch.zeros(2, decoder.n_voxels)).shape == (2, 16, 64)
    # Brain-Diffuser's maps to the generator's embedding and latent, each penalty chosen on validation
    assert config["generator"]["pipeline"] == "diffusion" and config["ridge"]["embedding_alpha"] in config["ridge"]["alphas"]
    assert 0 < config["ridge"]["val_embedding_cosine"] <= 1 and config["ridge"]["val_latent_mse"] > 0
    assert decoder.head(torch.zeros(2, decoder.n_voxels), "embedding").shape == (2, 1, config["generator"]["embedding_dim"])
    assert decoder.head(torch.zeros(2, decoder.n_voxels), "latent").shape == (2, *config["generator"]["latent_shape"])


def test_mindeye_trains_bimixco_then_softclip_and_scores_retrieval(small_store, tmp_path):
    metrics = fit_decoder(small_store, tmp_path / "me", model_config=TINY, train=TrainConfig(epochs=3, batch_size=16))
    kinds = [epoch["loss_kind"] for epoch in metrics["history"]]
    assert kinds == ["bimixco", "softclip", "softclip"]
    assert metrics["history"][1]["temperature"] == pytest.approx(0.004) and metrics["history"][2]["temperature"] == pytest.approx(0.0075)
    assert set(metrics["retrieval"]) >= {"image_top1", "brain_top1", "image_top1_ci95", "brain_top1_ci95"}
    decoder, config = load_decoder(tmp_path / "me")
    assert config["mindeye"]["hidden"] == 64 and config["target"]["name"] == "embedder-tokens"
    assert (tmp_path / "me" / "checkpoint.pt").is_file()
    # the prior and the low-level head train with the backbone, each loss logged
    assert {"contrastive_loss", "prior_loss", "low_level_loss", "val_low_level_l1"} <= set(metrics["history"][0])
    assert config["mindeye"]["prior_dim"] == config["generator"]["embedding_dim"]
    assert config["mindeye"]["low_level_shape"] == config["generator"]["latent_shape"]
    assert decoder.prior is not None and decoder.low_level is not None
    # MindEye's prior weight for a single-embedding target (the shipped generator's), recorded as trained
    assert config["train"]["prior_weight"] == fit_module.mindeye_prior_weight(1) == 0.03
    assert fit_module.mindeye_prior_weight(257) == 30.0


def test_an_interrupted_run_resumes_to_the_same_model(small_store, tmp_path, monkeypatch):
    train = TrainConfig(epochs=3, batch_size=16)
    fit_decoder(small_store, tmp_path / "whole", model_config=TINY, train=train, evaluate=False)
    steps = []

    def killed(stage, k):
        steps.append(k)
        if len(steps) == 12:  # part-way through the second epoch (8 steps per epoch)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit_decoder(small_store, tmp_path / "cut", model_config=TINY, train=train, evaluate=False, progress=killed)
    assert not (tmp_path / "cut" / "model.safetensors").exists()
    fit_decoder(small_store, tmp_path / "cut", model_config=TINY, train=train, evaluate=False, resume=True)
    whole, cut = _weights(tmp_path / "whole"), _weights(tmp_path / "cut")
    assert all(torch.equal(whole[name], cut[name]) for name in whole)
    with pytest.raises(ValueError, match="checkpoint of a run with other settings"):
        fit_decoder(small_store, tmp_path / "cut", model_config=TINY, train=TrainConfig(epochs=4, batch_size=16), resume=True)


def test_training_never_reads_the_test_split(small_store, tmp_path):
    poisoned = poisoned_copy(small_store, tmp_path / "poisoned")
    train = TrainConfig(epochs=2, batch_size=16)
    fit_decoder(small_store, tmp_path / "clean", model_config=TINY, train=train, evaluate=False)
    fit_decoder(poisoned, tmp_path / "nan", model_config=TINY, train=train, evaluate=False)
    clean, nan = _weights(tmp_path / "clean"), _weights(tmp_path / "nan")
    assert all(torch.equal(clean[name], nan[name]) for name in clean)
    # scoring does read it, and says so
    with pytest.raises(Exception, match="test split hold NaN"):
        evaluate_decoder(tmp_path / "nan")


def test_a_nan_loss_stops_the_run_naming_the_step(small_store, tmp_path, monkeypatch):
    monkeypatch.setattr(fit_module, "mixco_nce", lambda *args: torch.tensor(float("nan")))
    with pytest.raises(FloatingPointError, match="the loss is nan at epoch 0, step 0"):
        fit_decoder(small_store, tmp_path / "me", model_config=TINY, train=TrainConfig(epochs=3, batch_size=16))


def test_bad_requests_are_refused(small_store, second_store, tmp_path):
    with pytest.raises(ValueError, match="model must be one of \\['mindeye', 'ridge'\\]; 'vae'"):
        fit_decoder(small_store, tmp_path / "x", model="vae")
    with pytest.raises(ValueError, match="unknown target 'clip-large'"):
        fit_decoder(small_store, tmp_path / "x", target="clip-large")
    with pytest.raises(ValueError, match="unknown MindEye setting 'width'"):
        fit_decoder(small_store, tmp_path / "x", model_config={"width": 3})
    fit_decoder(small_store, tmp_path / "ridge", model="ridge", evaluate=False)
    with pytest.raises(ValueError, match="reads 1[0-9]+ voxels for 'sub2'; .*sub3.h5 has 1[0-9]+"):
        evaluate_decoder(tmp_path / "ridge", second_store)
    with pytest.raises(ValueError, match="several stores and --pretrained are MindEye's"):
        fit_decoder([small_store, second_store], tmp_path / "x", model="ridge")


def test_mindeye2_shares_layers_across_subjects_and_fine_tunes_on_the_first_sessions(small_store, second_store, tmp_path):
    train = TrainConfig(epochs=2, batch_size=16)
    metrics = fit_decoder([second_store, small_store], tmp_path / "shared", model_config=TINY, train=train)
    decoder, config = load_decoder(tmp_path / "shared")
    assert decoder.subjects == ("sub3", "sub2") and set(metrics["subjects"]) == {"sub3", "sub2"}
    assert metrics["retrieval"] == metrics["subjects"]["sub3"]["retrieval"]
    assert {"val_sub3_image_top1", "val_sub2_brain_top1"} <= set(metrics["history"][0])
    with open_store(small_store) as store:
        assert decoder.subject_layers["sub2"].in_features == store.n_voxels
        train_trials = np.isin(store.trial_image, np.flatnonzero(store.split == SPLITS["train"]))
        first_session = train_trials & (store.trial_session == np.unique(store.trial_session)[0])
    tuned = fit_decoder(small_store, tmp_path / "tuned", pretrained=tmp_path / "shared", sessions=1, train=train)
    assert tuned["n_train_trials"] == {"sub2": int(first_session.sum())} and tuned["sessions"] == 1
    shared, fine = _weights(tmp_path / "shared"), _weights(tmp_path / "tuned")
    assert set(k for k in fine if k.startswith("subject_layers.")) == {"subject_layers.sub2.weight", "subject_layers.sub2.bias"}
    # fine-tuning starts from the shared layers and moves them
    assert not torch.equal(fine["out.weight"], shared["out.weight"])
    assert json.loads((tmp_path / "tuned" / "config.json").read_text())["mindeye"]["hidden"] == TINY["hidden"]
    with pytest.raises(ValueError, match="sessions must be between 1 and the [0-9]+ sessions"):
        fit_decoder(small_store, tmp_path / "x", pretrained=tmp_path / "shared", sessions=99, train=train)
    with pytest.raises(ValueError, match="reads subjects \\['sub3', 'sub2'\\]; name one"):
        evaluate_decoder(tmp_path / "shared", tmp_path / "elsewhere.h5")
    with pytest.raises(ValueError, match="fine-tuning a pretrained decoder takes one store"):
        fit_decoder([small_store, second_store], tmp_path / "x", pretrained=tmp_path / "shared")


def test_cli_decode_fit_and_evaluate(small_store, tmp_path, capsys):
    out = tmp_path / "dec"
    assert main(["--quiet", "decode", "fit", "--store", str(small_store), "--out", str(out), "--epochs", "2",
                 "--batch-size", "16", "--set", "hidden=64", "--set", "n_blocks=1", "--set", "projector=32"]) == 0
    printed = capsys.readouterr().out
    assert "test retrieval top-1 among 15" in printed and "retrieval.png" in printed
    from PIL import Image

    with Image.open(out / "retrieval.png") as picture:  # 8 brains × (seen + 5 retrieved), 64 px tiles at scale 2
        assert picture.width >= 6 * 128 and picture.height >= 8 * 128
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["history"]) == 2 and "image_top1" in metrics["retrieval"]
    assert main(["--quiet", "decode", "evaluate", str(out), "--out", str(tmp_path / "again.json")]) == 0
    assert json.loads((tmp_path / "again.json").read_text())["retrieval"] == metrics["retrieval"]
    assert main(["decode", "fit", "--store", str(small_store), "--out", str(out), "--set", "hidden"]) == 1
    assert "--set takes NAME=VALUE" in capsys.readouterr().err


@pytest.mark.slow
def test_two_processes_under_accelerate_launch_reach_the_single_process_retrieval(tmp_path_factory, tmp_path):
    """Data-parallel training on CPU (gloo): each process takes half of every batch and DDP averages the gradients."""
    import os
    import subprocess
    import sys

    from tests.decoding.conftest import _simulated

    store = _simulated(tmp_path_factory.mktemp("ddp"), 2, 1500, 750)
    fit = ["decode", "fit", "--store", str(store), "--epochs", "15", "--generator", "none",
           "--set", "hidden=256", "--set", "n_blocks=2", "--set", "projector=128"]
    single = fit_decoder(store, tmp_path / "one", model_config={"hidden": 256, "n_blocks": 2, "projector": 128},
                         train=TrainConfig(epochs=15), generator=None)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
              "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "brainlens.cli", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*launch, *fit, "--out", str(tmp_path / "two")], env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["retrieval"]["n"] == single["retrieval"]["n"] == 150
    for way in ("image_top1", "brain_top1"):
        assert single["retrieval"][way] > 0.3
        assert abs(two["retrieval"][way] - single["retrieval"][way]) <= 0.02, (two["retrieval"], single["retrieval"])


@pytest.mark.parametrize("share", [0.5, 1 / 60, 0.1, 0.9])
def test_the_one_cycle_schedule_runs_on_stores_of_one_or_two_batches(share):
    for total in range(1, 25):
        optimiser = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
        chosen = warmup_share(share, total)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=1e-3, total_steps=total, pct_start=chosen)
        for _ in range(total - 1):
            optimiser.step()
            scheduler.step()
        assert chosen == min(0.5, share) or chosen * total >= 1.5  # lengthened only where the warm-up was under 1.5 steps

"""Reconstruction end to end on a small in-silico store: images, grid and the reconstruction table written for
MindEye and the ridge baseline, second-order selection keeping the candidate nearest the brain, the low-level
start mattering, repeatable draws, and errors that name the problem."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from brainlens.cli import main
from brainlens.decoding import reconstruct as reconstruct_module
from brainlens.decoding.data import load_test
from brainlens.decoding.fit import TrainConfig, fit_decoder, load_decoder
from brainlens.decoding.reconstruct import ReconstructionSettings, reconstruct, reconstruct_brains, select_candidates

TINY = {"hidden": 64, "n_blocks": 1, "projector": 32, "prior_width": 32, "prior_depth": 1, "prior_heads": 2, "low_level_width": 8}
QUICK = ReconstructionSettings(recons_per_sample=2, steps=4, batch_size=4)


@pytest.fixture(scope="module")
def mindeye_dir(small_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("me") / "dec"
    fit_decoder(small_store, out, model_config=TINY, train=TrainConfig(epochs=2, batch_size=16), evaluate=False)
    return out


@pytest.fixture(scope="module")
def ridge_dir(small_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("ridge") / "dec"
    fit_decoder(small_store, out, model="ridge", evaluate=False)
    return out


def test_mindeye_reconstructs_the_test_images_and_scores_them(mindeye_dir, tmp_path):
    metrics = reconstruct(mindeye_dir, tmp_path / "r", n=4, settings=QUICK)
    assert sorted(p.stem for p in (tmp_path / "r" / "images").glob("*.png")) == _test_names(mindeye_dir)[:4]
    assert len(list((tmp_path / "r" / "low_level").glob("*.png"))) == 4
    with Image.open(tmp_path / "r" / "grid.png") as grid:  # 4 rows of seen | low-level | reconstruction, 64 px at scale 2
        assert grid.width >= 3 * 128 and grid.height >= 4 * 128
    table = metrics["table"]
    assert table["n_pairs"] == 4 and -1 <= table["pixcorr"] <= 1 and 0 <= table["insilico_embedder"] <= 1
    assert -1 <= table["brain"]["correlation"] <= 1 and table["brain"]["n_voxels"] > 0
    assert set(metrics["low_level"]) == {"pixcorr", "ssim"}
    saved = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert saved["table"]["pixcorr"] == pytest.approx(table["pixcorr"])
    assert json.loads((tmp_path / "r" / "config.json").read_text())["settings"]["recons_per_sample"] == 2


def _test_names(decoder_dir) -> list[str]:
    """The decoder store's test image names (5-digit store indices), in the test split's order."""
    _, config = load_decoder(decoder_dir)
    return [f"{int(i):05d}" for i in load_test(next(iter(config["stores"].values())), None).images]


def test_second_order_selection_keeps_the_candidate_nearest_the_brain(mindeye_dir, monkeypatch):
    decoder, config = load_decoder(mindeye_dir)
    test = load_test(next(iter(config["stores"].values())), None)
    betas = test.betas[:3]
    with torch.no_grad():
        projected = decoder.predict(torch.from_numpy(betas).float())[1].flatten(1).numpy()  # (3, T·D)
    seen = {}
    k = 3

    def fake_targets(space, candidates, device="cpu"):  # candidate 1 of each brain points at the brain, the others away
        seen["candidates"] = candidates.copy()
        signs = np.tile([-1.0, 1.0, -1.0], len(projected))[:, None]
        return (np.repeat(projected, k, 0) * signs).reshape(len(candidates), space.n_tokens, space.dim).astype(np.float32)

    monkeypatch.setattr(reconstruct_module, "compute_targets", fake_targets)
    token_space_only = ReconstructionSettings(recons_per_sample=k, steps=3, selection_low_level=0.0)
    recon, low = reconstruct_brains(decoder, config, betas, settings=token_space_only)
    assert recon.shape == low.shape == (3, 64, 64, 3) and recon.dtype == np.uint8
    assert np.array_equal(recon, seen["candidates"][1::k])
    assert not np.array_equal(recon, seen["candidates"][0::k])


def test_selection_can_weigh_each_candidates_agreement_with_the_low_level_image():
    rng = np.random.default_rng(0)
    low = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    noise = rng.integers(0, 256, (2, 3, 32, 32, 3), dtype=np.uint8)
    candidates = noise.copy()
    candidates[:, 2] = low  # candidate 2 is the low-level image itself
    similarity = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.8, 0.5]])  # the token space prefers candidates 0 and 1
    assert np.array_equal(select_candidates(candidates, low, similarity), candidates[[0, 1], [0, 1]])
    assert np.array_equal(select_candidates(candidates, low, similarity, low_level_weight=10.0), low)
    with pytest.raises(ValueError, match="selection_low_level must be >= 0"):
        ReconstructionSettings(selection_low_level=-1.0)


def test_without_the_low_level_pipeline_selection_ignores_the_low_level_image(monkeypatch):
    rng = np.random.default_rng(1)
    low = rng.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    candidates = rng.integers(0, 256, (1, 2, 32, 32, 3), dtype=np.uint8)
    candidates[:, 1] = low
    similarity = torch.tensor([[0.9, 0.1]])  # the token space prefers candidate 0, the low-level image candidate 1
    monkeypatch.setattr(reconstruct_module, "draw_candidates", lambda *args, **kwargs: iter([(candidates, low, similarity)]))
    with_pipeline, _ = reconstruct_brains(None, {}, np.zeros((1, 4)), settings=ReconstructionSettings(selection_low_level=10.0))
    without, _ = reconstruct_brains(None, {}, np.zeros((1, 4)), settings=ReconstructionSettings(
        selection_low_level=10.0, low_level=False))
    assert np.array_equal(with_pipeline[0], low[0]) and np.array_equal(without[0], candidates[0, 0])


def test_draws_repeat_with_the_seed_and_the_low_level_start_matters(mindeye_dir):
    decoder, config = load_decoder(mindeye_dir)
    betas = load_test(next(iter(config["stores"].values())), None).betas[:2]
    first, _ = reconstruct_brains(decoder, config, betas, settings=QUICK)
    again, _ = reconstruct_brains(decoder, config, betas, settings=QUICK)
    from_noise, _ = reconstruct_brains(decoder, config, betas, settings=ReconstructionSettings(
        recons_per_sample=2, steps=4, low_level=False))
    assert np.array_equal(first, again) and not np.array_equal(first, from_noise)


def test_the_ridge_baseline_reconstructs_through_its_own_maps(ridge_dir, tmp_path):
    metrics = reconstruct(ridge_dir, tmp_path / "r", n=3, settings=QUICK, evaluate=False)
    assert metrics["model"] == "ridge" and "table" not in metrics
    assert len(list((tmp_path / "r" / "images").glob("*.png"))) == 3


def test_bad_requests_are_refused(small_store, second_store, mindeye_dir, tmp_path):
    bare = tmp_path / "bare"
    fit_decoder(small_store, bare, model="ridge", generator=None, evaluate=False)
    with pytest.raises(ValueError, match="fitted without a generator"):
        reconstruct(bare, tmp_path / "r")
    with pytest.raises(ValueError, match="n must be between 1 and the 15 test images"):
        reconstruct(mindeye_dir, tmp_path / "r", n=16)
    with pytest.raises(ValueError, match="reads .* voxels"):
        reconstruct(mindeye_dir, tmp_path / "r", store=second_store)
    with pytest.raises(ValueError, match="strength must be in"):
        ReconstructionSettings(strength=0.0)


def test_cli_decode_reconstruct(mindeye_dir, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["--quiet", "decode", "reconstruct", "--decoder", str(mindeye_dir), "--out", str(out), "--n", "3",
                 "--recons-per-sample", "2", "--steps", "3"]) == 0
    printed = capsys.readouterr().out
    assert "saved 3 reconstructions" in printed and "PixCorr" in printed and "brain r" in printed
    assert (out / "table.png").is_file() and (out / "grid.png").is_file()
    assert main(["decode", "reconstruct", "--decoder", str(tmp_path / "missing"), "--out", str(out)]) == 1
    assert "decoder file missing" in capsys.readouterr().err


@pytest.mark.gpu
def test_fit_and_reconstruct_on_cuda_with_mixed_precision(small_store, tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    out = tmp_path / "dec"
    metrics = fit_decoder(small_store, out, model_config=TINY, train=TrainConfig(epochs=2, batch_size=16, mixed_precision="fp16"),
                          device="cuda")
    assert 0 <= metrics["retrieval"]["image_top1"] <= 1
    result = reconstruct(out, tmp_path / "r", n=2, settings=QUICK, device="cuda")
    assert result["n_images"] == 2 and -1 <= result["table"]["pixcorr"] <= 1

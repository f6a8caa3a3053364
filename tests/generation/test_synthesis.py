import json

import numpy as np
import pytest
import torch
from PIL import Image

from brainlens.cli import main
from brainlens.encoding.encoder import fit_ridge_encoder
from brainlens.generation.synthesis import (
    BRAINDIVE_GUIDANCE_SCALE, SynthesisConfig, default_guidance_scale, region_category, synthesize,
)
from brainlens.generation.pipeline_brain_guided import default_autoguidance_scale
from brainlens.insilico.brain import InSilicoSubject
from tests.backbones.test_backbones import tiny_convnet

pytest.importorskip("diffusers")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from tests.models.test_diffusion import _tiny_pipeline
    from tests.models.test_embedder import _tiny_training

    root = tmp_path_factory.mktemp("synthesis")
    _tiny_pipeline().save_pretrained(root / "diffusion")
    _tiny_training(root / "embedder")  # a tiny embedder trained on in-silico captions (knows their words)
    subject = InSilicoSubject(1)
    subject.write_store(subject.simulate(120, n_test=20, n_val=10, trials_per_session=360), root / "sub1.h5")
    backbone = tiny_convnet()
    backbone.net.save(root / "backbone")
    fit_ridge_encoder(root / "sub1.h5", backbone, out=root / "encoder", grid=1, cv=3)
    config = json.loads((root / "encoder" / "config.json").read_text())
    (root / "encoder" / "config.json").write_text(json.dumps({**config, "backbone": str(root / "backbone")}))
    return root


def test_region_category_reads_halves():
    assert region_category("FFA-1") == "face" and region_category("OPA-anterior") == "place"
    assert region_category("food-lateral") == "food" and region_category("V1") is None


def test_synthesize_writes_images_and_truth_metrics(setup):
    config = SynthesisConfig(region="OPA-anterior", contrast="OPA-posterior", n=3, rerank_from=4, model=str(setup / "diffusion"),
                             steps=2, batch_size=4, natural_pool=200, embedder=str(setup / "embedder"))
    images, metrics = synthesize(setup / "encoder", config, out=setup / "out")
    assert images.shape == (3, 3, 16, 16)
    assert sorted(p.name for p in (setup / "out" / "images").iterdir()) == ["0000.png", "0001.png", "0002.png"]
    assert Image.open(setup / "out" / "grid.png").size[0] > 16
    saved = json.loads((setup / "out" / "metrics.json").read_text())
    for key in ("category_accuracy", "true_response_mean", "top1pct_natural_response_mean", "random_natural_response_mean",
                "oracle_true_response_mean", "true_contrast_mean", "true_attributes_mean"):
        assert key in saved, key
    assert saved["objective"] == "OPA-anterior - OPA-posterior" and saved["category"] == "place"
    assert saved["top1pct_natural_response_mean"] > saved["random_natural_response_mean"]
    assert saved["images_per_minute"] > 0
    # no scale given: a model other than the shipped one gets BrainDiVE's, recorded with the run
    assert json.loads((setup / "out" / "config.json").read_text())["guidance_scale"] == BRAINDIVE_GUIDANCE_SCALE
    assert default_guidance_scale("diffusion") == 1000.0
    assert default_autoguidance_scale("diffusion") == 1.0 and default_autoguidance_scale("other/model") is None
    # same seed, same images
    again, _ = synthesize(setup / "encoder", SynthesisConfig(**{**config.__dict__, "oracle": False}))
    torch.testing.assert_close(again, images)


def test_synthesize_cli_and_its_errors(setup, capsys):
    args = ["--quiet", "synthesize", "--encoder", str(setup / "encoder"), "--n", "2", "--steps", "1",
            "--model", str(setup / "diffusion"), "--no-oracle", "--embedder", str(setup / "embedder")]
    assert main(args + ["--region", "FFA-1", "--out", str(setup / "cli")]) == 0
    assert "category_accuracy" in capsys.readouterr().out
    assert (setup / "cli" / "metrics.json").is_file() and (setup / "cli" / "config.json").is_file()
    assert main(args + ["--region", "FFA-9", "--out", str(setup / "bad")]) == 1
    assert "unknown region 'FFA-9'" in capsys.readouterr().err
    assert main(args + ["--region", "FFA-1", "--guidance-scale", "nan", "--out", str(setup / "bad")]) == 1
    assert "guidance scale must be finite" in capsys.readouterr().err
    assert main(args + ["--region", "FFA-1", "--steps", "0", "--out", str(setup / "bad")]) == 1
    assert "steps must be an integer ≥ 1; 0" in capsys.readouterr().err
    assert main(args + ["--region", "FFA-1", "--autoguidance-scale", "2", "--out", str(setup / "bad")]) == 1
    assert "autoguidance_scale=2.0 needs a guide_unet" in capsys.readouterr().err


def test_encoders_on_two_backbones_guide_together(setup, capsys):
    # an encoder on the embedder's image tower (a dual-encoder folder loads as a backbone by its path)
    fit_ridge_encoder(setup / "sub1.h5", str(setup / "embedder"), out=setup / "encoder_embedder", grid=1, cv=3)
    assert json.loads((setup / "encoder_embedder" / "config.json").read_text())["backbone"] == str(setup / "embedder")
    config = SynthesisConfig(region="FFA-1", n=2, model=str(setup / "diffusion"), steps=2, natural_pool=200, oracle=False,
                             embedder=str(setup / "embedder"))
    single, _ = synthesize(setup / "encoder", config)
    images, metrics = synthesize([setup / "encoder", setup / "encoder_embedder"], config)
    assert metrics["encoders"] == [str(setup / "encoder"), str(setup / "encoder_embedder")]
    assert images.shape == single.shape and (images - single).abs().max() > 1e-4  # the second encoder steers too
    assert "true_response_mean" in metrics
    args = ["--quiet", "synthesize", "--encoder", str(setup / "encoder"), str(setup / "encoder_embedder"), "--n", "1",
            "--steps", "1", "--model", str(setup / "diffusion"), "--no-oracle", "--embedder", str(setup / "embedder"),
            "--region", "FFA-1"]
    assert main(args + ["--out", str(setup / "cli_ensemble")]) == 0
    saved = json.loads((setup / "cli_ensemble" / "metrics.json").read_text())
    assert len(saved["encoders"]) == 2


def test_synthesis_on_a_converted_store(setup, tmp_path):
    """A real-dataset store (GOD's layout, no voxel locations) runs through encoding and synthesis;
    only the in-silico truth fields are missing."""
    from tests.datasets.fixtures_mindvis import make_god

    make_god(tmp_path / "god", n_per_category=6)
    assert main(["--quiet", "convert", "god", "--root", str(tmp_path / "god"), "--subject", "3",
                 "--out", str(tmp_path / "god.h5")]) == 0
    fit_ridge_encoder(tmp_path / "god.h5", str(setup / "backbone"), out=tmp_path / "encoder", grid=1, cv=2)
    config = SynthesisConfig(region="FFA", n=2, model=str(setup / "diffusion"), steps=2, embedder=str(setup / "embedder"))
    images, metrics = synthesize(tmp_path / "encoder", config, out=tmp_path / "out")
    assert images.shape[0] == 2 and metrics["category"] == "face" and "category_accuracy" in metrics
    assert "true_response_mean" not in metrics


def test_natural_baseline_is_the_top_percent_of_a_fixed_pool():
    from brainlens.evaluation.insilico import NATURAL_SEED, natural_baseline, region_response, subject
    from brainlens.insilico import stimuli

    truth = subject(1)
    voxels = np.flatnonzero(truth.region_mask("PPA"))
    pool = stimuli.generate(200, seed=NATURAL_SEED, size=64).images
    response = np.sort(region_response(truth, pool, voxels))[::-1]
    for _ in range(2):  # the second call reads the kept pool
        baseline = natural_baseline(truth, voxels, n_pool=200)
        np.testing.assert_allclose(baseline.top1pct_mean, response[:2].mean(), rtol=1e-5)
        np.testing.assert_allclose(baseline.random_mean, response.mean(), rtol=1e-5)
    assert baseline.top_images.shape == (2, 64, 64, 3)
    with pytest.raises(ValueError, match="n_pool must be at least 100"):
        natural_baseline(truth, voxels, n_pool=50)

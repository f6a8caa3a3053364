import json

import numpy as np
import pytest
import torch
from PIL import Image

from brainlens.cli import main
from brainlens.encoding.encoder import fit_ridge_encoder
from brainlens.generation.synthesis import SynthesisConfig, region_category, synthesize
from brainlens.insilico.brain import InSilicoSubject
from tests.backbones.test_backbones import tiny_convnet

pytest.importorskip("diffusers")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from tests.generation.test_diffusion import _tiny_pipeline

    root = tmp_path_factory.mktemp("synthesis")
    _tiny_pipeline().save_pretrained(root / "diffusion")
    subject = InSilicoSubject(1)
    subject.write_store(subject.simulate(120, n_test=20, n_val=10, trials_per_session=360), root / "sub1.h5")
    backbone = tiny_convnet()
    backbone.save(root / "backbone")
    fit_ridge_encoder(root / "sub1.h5", backbone, out=root / "encoder", grid=1, cv=3)
    config = json.loads((root / "encoder" / "config.json").read_text())
    (root / "encoder" / "config.json").write_text(json.dumps({**config, "backbone": str(root / "backbone")}))
    return root


def test_region_category_reads_halves():
    assert region_category("FFA-1") == "face" and region_category("OPA-anterior") == "place"
    assert region_category("food-lateral") == "food" and region_category("V1") is None


def test_synthesize_writes_images_and_truth_metrics(setup):
    config = SynthesisConfig(region="OPA-anterior", contrast="OPA-posterior", n=3, rerank_from=4, model=str(setup / "diffusion"),
                             steps=2, batch_size=4, natural_pool=200)
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
    # same seed, same images
    again, _ = synthesize(setup / "encoder", SynthesisConfig(**{**config.__dict__, "oracle": False}))
    torch.testing.assert_close(again, images)


def test_synthesize_cli_and_its_errors(setup, capsys):
    args = ["--quiet", "synthesize", "--encoder", str(setup / "encoder"), "--n", "2", "--steps", "1",
            "--model", str(setup / "diffusion"), "--no-oracle"]
    assert main(args + ["--region", "FFA-1", "--out", str(setup / "cli")]) == 0
    assert "category_accuracy" in capsys.readouterr().out
    assert (setup / "cli" / "metrics.json").is_file() and (setup / "cli" / "config.json").is_file()
    assert main(args + ["--region", "FFA-9", "--out", str(setup / "bad")]) == 1
    assert "unknown region 'FFA-9'" in capsys.readouterr().err
    assert main(args + ["--region", "FFA-1", "--guidance-scale", "nan", "--out", str(setup / "bad")]) == 1
    assert "guidance scale must be finite" in capsys.readouterr().err
    assert main(args + ["--region", "FFA-1", "--steps", "0", "--out", str(setup / "bad")]) == 1
    assert "steps must be an integer ≥ 1; 0" in capsys.readouterr().err

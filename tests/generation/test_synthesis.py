import json

import numpy as np
import pytest
import torch
from PIL import Image

from brainlens.cli import main
from brainlens.encoding.encoder import fit_guide_encoder, fit_ridge_encoder, guiding_encoders, load_encoder
from brainlens.generation.pipeline_brain_guided import default_autoguidance_scale
from brainlens.generation.synthesis import (
    BRAINDIVE_GUIDANCE_SCALE,
    RERANK_FACTOR,
    SynthesisConfig,
    default_guidance_scale,
    n_drawn,
    region_category,
    synthesize,
)
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
    # a contrast is judged against the natural pool's top 1 % of the same contrast, not of the region's response
    from brainlens.evaluation.insilico import natural_baseline, subject

    truth = subject(1)
    a, b = np.flatnonzero(truth.region_mask("OPA-anterior")), np.flatnonzero(truth.region_mask("OPA-posterior"))
    contrast = natural_baseline(truth, a, n_pool=200, contrast_voxels=b)
    assert saved["top1pct_natural_objective_mean"] == saved["top1pct_natural_contrast_mean"] == contrast.top1pct_mean
    assert saved["true_objective_mean"] == saved["true_contrast_mean"]
    assert saved["top1pct_natural_contrast_mean"] != saved["top1pct_natural_response_mean"]
    # the kept images' true values: the target's mean response, and the contrast A − B (not B − A)
    response = truth.respond(images).astype(np.float64)  # (3, V), noiseless
    target, other = response[:, a].mean(1), response[:, b].mean(1)
    assert saved["true_response_mean"] == pytest.approx(target.mean(), rel=1e-5, abs=1e-6)
    assert saved["true_contrast_mean"] == pytest.approx((target - other).mean(), rel=1e-5, abs=1e-6)
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
    # a contrast: the pool's top 1 % by PPA minus RSC, and the mean of that contrast
    other = np.flatnonzero(truth.region_mask("RSC"))
    difference = region_response(truth, pool, voxels) - region_response(truth, pool, other)
    contrast = natural_baseline(truth, voxels, n_pool=200, contrast_voxels=other)
    np.testing.assert_allclose(contrast.top1pct_mean, np.sort(difference)[::-1][:2].mean(), rtol=1e-5)
    np.testing.assert_allclose(contrast.random_mean, difference.mean(), rtol=1e-5, atol=1e-6)


def test_default_run_draws_five_times_and_keeps_the_encoders_best_fifth(setup):
    common = dict(region="FFA-1", model=str(setup / "diffusion"), steps=2, batch_size=10, oracle=False, natural_pool=200,
                  embedder=str(setup / "embedder"))
    assert RERANK_FACTOR == 5 and n_drawn(SynthesisConfig(region="FFA-1", n=3)) == 15
    assert n_drawn(SynthesisConfig(region="FFA-1", n=3, rerank_from=0)) == 3
    with pytest.raises(ValueError, match="rerank_from must be 0 .* or at least n \\(3\\); 2 was provided"):
        synthesize(setup / "encoder", SynthesisConfig(**common, n=3, rerank_from=2))
    pool, _ = synthesize(setup / "encoder", SynthesisConfig(**common, n=10, rerank_from=0))
    kept, metrics = synthesize(setup / "encoder", SynthesisConfig(**common, n=2))
    assert metrics["n_drawn"] == 10 and kept.shape[0] == 2
    # the kept two are the pool's two that the encoder predicts to drive FFA-1 most, best first
    encoder = load_encoder(setup / "encoder")
    from brainlens.store import open_store

    with open_store(setup / "sub1.h5") as store:
        region = store.region_voxels("FFA-1")
    columns = np.flatnonzero(np.isin(encoder.voxel_index.numpy(), region))
    with torch.no_grad():
        predicted = encoder(pool)[:, columns].mean(1)
    best = torch.argsort(predicted, descending=True)[:2]
    torch.testing.assert_close(kept, pool[best], atol=1e-4, rtol=0)


def test_guide_encoder_in_the_encoder_folder_guides_with_it(setup, tmp_path):
    main_dir = tmp_path / "encoder"
    fit_ridge_encoder(setup / "sub1.h5", str(setup / "backbone"), out=main_dir, grid=1, cv=3, voxels="FFA-1")
    assert guiding_encoders(main_dir) == [main_dir]
    guide, metrics = fit_guide_encoder(main_dir, str(setup / "embedder"), grid=1, cv=3)
    assert guiding_encoders(main_dir) == [main_dir, main_dir / "guide"]
    assert json.loads((main_dir / "config.json").read_text())["guide"] == {"folder": "guide", "backbone": str(setup / "embedder")}
    assert torch.equal(guide.voxel_index, load_encoder(main_dir).voxel_index)  # the same voxels, in the same order
    assert metrics["n_voxels"] == guide.n_voxels
    config = SynthesisConfig(region="FFA-1", n=2, rerank_from=0, model=str(setup / "diffusion"), steps=2, oracle=False,
                             natural_pool=200, embedder=str(setup / "embedder"))
    both, metrics = synthesize(main_dir, config)
    assert metrics["encoders"] == [str(main_dir), str(main_dir / "guide")] and metrics["guidance_scale"] == 130.0
    explicit, _ = synthesize([main_dir, main_dir / "guide"], config)
    torch.testing.assert_close(both, explicit)
    alone, metrics = synthesize(main_dir, SynthesisConfig(**{**config.__dict__, "guide_encoder": False}))
    assert metrics["encoders"] == [str(main_dir)] and (alone - both).abs().max() > 1e-4
    with pytest.raises(ValueError, match="another backbone than the encoder's own"):
        fit_guide_encoder(main_dir, str(setup / "backbone"))
    # refitting the encoder into its folder drops the old guide: it was fitted beside another read-out
    fit_ridge_encoder(setup / "sub1.h5", str(setup / "backbone"), out=main_dir, grid=1, cv=3, voxels="FFA-1")
    assert guiding_encoders(main_dir) == [main_dir]

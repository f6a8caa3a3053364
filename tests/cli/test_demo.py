import json

import pytest
from PIL import Image

from brainlens import store
from brainlens.cli import main


def test_demo_writes_store_and_pictures(tmp_path):
    out = tmp_path / "demo"
    assert main(["--quiet", "demo", "--out", str(out), "--n-images", "120", "--synthesis-images", "0",
                 "--decoding-epochs", "0"]) == 0
    assert json.loads((out / "config.json").read_text())["n_images"] == 120
    summary = json.loads((out / "summary.json").read_text())
    store.validate(summary["simulate"]["store"])
    for name in ("regions", "retinotopy", "noise_ceiling", "selectivity", "stimuli", "encoder_scores"):
        with Image.open(out / f"{name}.png") as picture:
            assert picture.width > 300 and picture.height > 200
    assert summary["encoding"]["regions"]["FFA-1"]["n_voxels"] > 0
    assert "synthesis" not in summary and "decoding" not in summary


@pytest.mark.slow  # over a minute each; the default suite stays under 15 minutes on 2 cores
def test_demo_decoding_stage_and_its_pictures(tmp_path, capsys):
    """The demo's decoding stage at tiny sizes: both decoders' retrieval, the retrieval picture, the reconstructions."""
    out = tmp_path / "demo"
    assert main(["--quiet", "demo", "--out", str(out), "--n-images", "120", "--synthesis-images", "0",
                 "--decoding-epochs", "1", "--reconstructions", "3"]) == 0
    printed = capsys.readouterr().out
    decoding = json.loads((out / "summary.json").read_text())["decoding"]
    assert "[4/4] decoding" in printed and "3 reconstructions: PixCorr" in printed
    for model in ("mindeye", "ridge"):
        assert 0 <= decoding[model]["retrieval"]["image_top1"] <= 1
        assert json.loads((out / decoding[model]["decoder"].split("/")[-1] / "metrics.json").read_text())["model"] == model
    assert decoding["reconstruction"]["n_images"] == 3 and "pixcorr" in decoding["reconstruction"]["table"]
    assert len(list((out / "reconstruction" / "images").glob("*.png"))) == 3
    for picture in decoding["pictures"]:
        with Image.open(picture) as image:
            assert image.width > 300 and image.height > 200


@pytest.mark.slow  # over a minute each; the default suite stays under 15 minutes on 2 cores
def test_demo_synthesis_stage_and_its_pictures(tmp_path, monkeypatch, capsys):
    """The demo's synthesis stage at tiny sizes: every region and contrast, its metrics, and its two pictures."""
    from functools import partial

    from brainlens.cli import demo
    from brainlens.generation import synthesis

    # a small natural pool (the default 5000 costs a minute) and a short draw; the code path is the demo's own
    monkeypatch.setattr(synthesis, "SynthesisConfig", partial(synthesis.SynthesisConfig, natural_pool=200, batch_size=2))
    out = tmp_path / "demo"
    assert main(["--quiet", "demo", "--out", str(out), "--n-images", "120", "--synthesis-images", "1",
                 "--synthesis-steps", "2", "--decoding-epochs", "0"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    regions = summary["synthesis"]["regions"]
    assert set(regions) == set(demo.DEMO_SYNTHESIS_REGIONS) | {f"{a} - {b}" for a, b in demo.DEMO_SYNTHESIS_CONTRASTS}
    for name, metrics in regions.items():
        folder = out / "synthesis" / name.replace(" - ", "_minus_")
        run = json.loads((folder / "metrics.json").read_text())
        # the summary carries each run's own figures, and the printed line shows them
        assert metrics["true_objective_mean"] == pytest.approx(run["true_objective_mean"])
        assert run["n_drawn"] == 5 and len(run["encoders"]) == 2
        assert json.loads((folder / "config.json").read_text())["steps"] == 2
        assert f"{name:<28} category accuracy" in printed
    with Image.open(out / "synthesis_grid.png") as grid:  # a row per run, its one image at least 64 px
        assert grid.width >= 64 and grid.height >= len(regions) * 64
    with Image.open(out / "synthesis_table.png") as table:
        assert table.width > 300 and table.height > 200
    assert json.loads((out / "config.json").read_text())["synthesis"]["steps"] == 2


def test_demo_steps_default_is_the_synthesis_default():
    from brainlens.cli._parser import build_parser
    from brainlens.generation.synthesis import SynthesisConfig

    args = build_parser().parse_args(["demo"])
    assert args.synthesis_steps == SynthesisConfig.steps


@pytest.mark.slow
def test_full_demo_with_synthesis(tmp_path):
    out = tmp_path / "demo"
    assert main(["--quiet", "demo", "--out", str(out), "--n-images", "400", "--synthesis-images", "2"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["synthesis"]["regions"]) >= {"FFA-1", "EBA", "PPA", "VWFA-1", "food"}
    assert (out / "synthesis_grid.png").is_file() and (out / "synthesis_table.png").is_file()
    assert summary["encoding"]["guide_encoder"]["backbone"] == "embedder"
    assert len(json.loads((out / "synthesis" / "FFA-1" / "metrics.json").read_text())["encoders"]) == 2

import json

import pytest
from PIL import Image

from brainlens import store
from brainlens.cli import main


def test_demo_writes_store_and_pictures(tmp_path):
    out = tmp_path / "demo"
    assert main(["--quiet", "demo", "--out", str(out), "--n-images", "120", "--synthesis-images", "0"]) == 0
    assert json.loads((out / "config.json").read_text())["n_images"] == 120
    summary = json.loads((out / "summary.json").read_text())
    store.validate(summary["simulate"]["store"])
    for name in ("regions", "retinotopy", "noise_ceiling", "selectivity", "stimuli", "encoder_scores"):
        with Image.open(out / f"{name}.png") as picture:
            assert picture.width > 300 and picture.height > 200
    assert summary["encoding"]["regions"]["FFA-1"]["n_voxels"] > 0
    assert "synthesis" not in summary


@pytest.mark.slow
def test_full_demo_with_synthesis(tmp_path):
    out = tmp_path / "demo"
    assert main(["--quiet", "demo", "--out", str(out), "--n-images", "400", "--synthesis-images", "2"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["synthesis"]["regions"]) >= {"FFA-1", "EBA", "PPA", "VWFA-1", "food"}
    assert (out / "synthesis_grid.png").is_file() and (out / "synthesis_table.png").is_file()
    assert summary["encoding"]["guide_encoder"]["backbone"] == "embedder"
    assert len(json.loads((out / "synthesis" / "FFA-1" / "metrics.json").read_text())["encoders"]) == 2

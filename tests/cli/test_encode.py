import json

import numpy as np
from PIL import Image

from brainlens.cli import main


def test_encode_fit_and_map(simulated, tmp_path, capsys):
    from tests.backbones.test_backbones import tiny_convnet

    tiny_convnet().net.save(tmp_path / "backbone")
    out = tmp_path / "encoder"
    args = ["--quiet", "encode", "fit", "--store", str(simulated), "--backbone", str(tmp_path / "backbone"),
            "--out", str(out), "--grid", "1", "--cv", "3", "--region", "EBA"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "median R²/NC" in printed and "EBA" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_images"] == 6 and metrics["regions"]["EBA"]["n_voxels"] == metrics["n_voxels"]
    assert (out / "model.safetensors").is_file() and (out / "feature_cache").is_dir()
    # by default a guide encoder on the shipped embedder, of the same voxels, goes into the folder for synthesis
    assert "guide encoder on embedder" in printed
    guide = json.loads((out / "guide" / "metrics.json").read_text())
    assert guide["n_voxels"] == metrics["n_voxels"] and guide["regions"]["EBA"]["n_voxels"] == metrics["n_voxels"]
    assert json.loads((out / "config.json").read_text())["guide"] == {"folder": "guide", "backbone": "embedder"}
    assert main(args[:-2] + ["--region", "EBA", "--guide-backbone", "none", "--out", str(tmp_path / "alone")]) == 0
    assert not (tmp_path / "alone" / "guide").exists()
    assert "guide" not in json.loads((tmp_path / "alone" / "config.json").read_text())
    assert main(["encode", "map", str(out), "--out", str(tmp_path / "maps")]) == 0
    assert Image.open(tmp_path / "maps" / "encoder_scores.png").size[0] > 500


def test_encode_fit_errors_are_one_line(simulated, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    args = ["--quiet", "encode", "fit", "--store", str(simulated), "--out", str(tmp_path / "e")]
    assert main(args + ["--backbone", "no-such-org/no-such-model"]) == 1
    assert "no-such-org/no-such-model" in capsys.readouterr().err
    assert main(args + ["--region", "FFA-7"]) == 1
    assert "unknown region 'FFA-7'" in capsys.readouterr().err
    assert main(["encode", "map", str(tmp_path / "missing")]) == 1
    assert "missing" in capsys.readouterr().err


def test_encoders_fit_on_converted_stores(tmp_path, capsys):
    """The encoding stage runs on real-dataset stores as on in-silico ones (NSD on a volume, GOD without locations)."""
    from tests.backbones.test_backbones import tiny_convnet
    from tests.datasets.fixtures import make_nsd
    from tests.datasets.fixtures_mindvis import make_god

    tiny_convnet().net.save(tmp_path / "backbone")
    make_nsd(tmp_path / "nsd", subjects=(1,), fsaverage_sessions=())
    make_god(tmp_path / "god", n_per_category=6)
    stores = {  # the NSD fixture has too few training images to hold out FactorTopy's validation set
        "nsd": (["convert", "nsd", "--root", str(tmp_path / "nsd"), "--subject", "1", "--sessions", "1-3"], ("ridge",)),
        "god": (["convert", "god", "--root", str(tmp_path / "god"), "--subject", "3"], ("ridge", "factortopy")),
    }
    for name, (convert, models) in stores.items():
        path = tmp_path / f"{name}.h5"
        assert main(["--quiet", *convert, "--out", str(path)]) == 0
        for model in models:
            out = tmp_path / f"{name}-{model}"
            args = ["--quiet", "encode", "fit", "--store", str(path), "--backbone", str(tmp_path / "backbone"),
                    "--model", model, "--out", str(out), "--grid", "1", "--cv", "2", "--epochs", "1"]
            assert main(args) == 0, capsys.readouterr().err
            metrics = json.loads((out / "metrics.json").read_text())
            assert metrics["n_voxels"] > 0 and np.isfinite(metrics["median_r"])
    capsys.readouterr()

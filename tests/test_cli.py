import json

import h5py
import numpy as np
import pytest
from PIL import Image

from brainlens import store
from brainlens.cli import main


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "sub2.h5"
    assert main(["--quiet", "simulate", "--subject", "2", "--n-images", "60", "--out", str(path), "--trials-per-session", "60"]) == 0
    return path


def test_simulate_writes_a_valid_store(simulated, capsys):
    info = store.validate(simulated)
    assert info["dataset"] == "insilico" and info["subject"] == "2"
    assert info["n_images"] == 60 and info["n_trials"] == 180 and info["n_sessions"] == 3
    assert info["split_images"] == {"train": 51, "val": 3, "test": 6}
    assert info["has_truth"] and info["has_ncsnr"] and info["has_captions"]
    assert "OPA-anterior" in info["region_sets"]["halves"]


def test_info_text_and_json(simulated, capsys):
    assert main(["info", str(simulated)]) == 0
    text = capsys.readouterr().out
    assert "FFA-1" in text and "60 × 64×64×3" in text
    assert main(["info", str(simulated), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_voxels"] > 1000 and info["regions"]["V1"] > 50


def test_validate_ok_and_failures(simulated, tmp_path, capsys):
    assert main(["--quiet", "validate", str(simulated)]) == 0
    assert "valid:" in capsys.readouterr().out

    broken = tmp_path / "broken.h5"
    broken.write_bytes(simulated.read_bytes())
    with h5py.File(broken, "a") as f:
        f["betas"][5, 3] = np.nan
    assert main(["--quiet", "validate", str(broken)]) == 1
    err = capsys.readouterr().err
    assert "broken.h5 [betas]: trial 5, voxel 3 is nan" in err

    assert main(["validate", str(tmp_path / "missing.h5")]) == 1
    assert "store file not found" in capsys.readouterr().err


def test_simulate_rejects_bad_arguments(tmp_path, capsys):
    assert main(["--quiet", "simulate", "--n-images", "1", "--out", str(tmp_path / "x.h5")]) == 1
    assert "n_images must be at least 2; 1" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()


def test_demo_writes_store_and_pictures(tmp_path):
    out = tmp_path / "demo"
    assert main(["--quiet", "demo", "--out", str(out), "--n-images", "120"]) == 0
    assert json.loads((out / "config.json").read_text())["n_images"] == 120
    summary = json.loads((out / "summary.json").read_text())
    store.validate(summary["simulate"]["store"])
    for name in ("regions", "retinotopy", "noise_ceiling", "selectivity", "stimuli"):
        with Image.open(out / f"{name}.png") as picture:
            assert picture.width > 300 and picture.height > 200


def test_convert_nsd_and_algonauts_fixtures(tmp_path, capsys):
    from tests.datasets.fixtures import make_algonauts, make_nsd

    nsd_root = tmp_path / "nsd"
    make_nsd(nsd_root, subjects=(1,), fsaverage_sessions=())
    out = tmp_path / "nsd1.h5"
    assert main(["--quiet", "convert", "nsd", "--root", str(nsd_root), "--subject", "1", "--out", str(out), "--sessions", "1-3"]) == 0
    assert "wrote" in capsys.readouterr().out
    info = store.validate(out)
    assert info["dataset"] == "nsd" and info["n_sessions"] == 3

    make_algonauts(tmp_path / "algonauts")
    out = tmp_path / "alg1.h5"
    assert main(["--quiet", "convert", "algonauts", "--root", str(tmp_path / "algonauts"), "--subject", "1", "--out", str(out)]) == 0
    assert store.validate(out)["split_images"]["test"] == 4


def test_convert_reports_missing_files_and_bad_sessions(tmp_path, capsys):
    assert main(["convert", "nsd", "--root", str(tmp_path), "--subject", "1", "--out", str(tmp_path / "x.h5")]) == 1
    assert "nsd_expdesign.mat" in capsys.readouterr().err
    assert main(["convert", "nsd", "--root", str(tmp_path), "--subject", "1", "--out", str(tmp_path / "x.h5"), "--sessions", "a-b"]) == 1
    assert "--sessions must look like" in capsys.readouterr().err

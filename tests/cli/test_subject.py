import json

import h5py
import numpy as np

from brainlens import store
from brainlens.cli import main


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

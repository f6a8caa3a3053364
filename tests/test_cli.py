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


def test_progress_in_a_log_file_is_plain_lines(tmp_path, capsys):
    # under pytest stderr is captured, not a terminal: what a user's log file receives
    path = tmp_path / "sub.h5"
    assert main(["simulate", "--n-images", "40", "--out", str(path), "--trials-per-session", "40"]) == 0
    log = capsys.readouterr().err
    assert "\r" not in log and "\x1b" not in log, repr(log)
    assert "stimuli: 40/40 (100%) in" in log and "brain: 40/40 (100%) in" in log


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


def test_convert_god_bold5000_hcp_fixtures(tmp_path, capsys):
    from tests.datasets.fixtures_mindvis import make_bold5000, make_god, make_hcp

    make_god(tmp_path / "god", n_per_category=6)
    out = tmp_path / "god3.h5"
    assert main(["--quiet", "convert", "god", "--root", str(tmp_path / "god"), "--subject", "3", "--out", str(out), "--mask", "VC"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["--quiet", "validate", str(out)]) == 0
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "valid:" in text and "25 without locations" in text and "region set VC: VC" in text

    make_bold5000(tmp_path / "bold5000")
    out = tmp_path / "csi1.h5"
    assert main(["--quiet", "convert", "bold5000", "--root", str(tmp_path / "bold5000"), "--subject", "1", "--out", str(out)]) == 0
    assert main(["--quiet", "validate", str(out)]) == 0
    assert store.validate(out)["split_images"]["test"] == 3

    make_hcp(tmp_path / "hcp")
    out = tmp_path / "hcp1.h5"
    hcp = ["--quiet", "convert", "hcp", "--root", str(tmp_path / "hcp")]
    assert main([*hcp, "--subject", "dummy_sub_01", "--out", str(out), "--frames-per-sample", "10"]) == 0
    assert "fMRI only, 120 samples, 22 voxels" in capsys.readouterr().out
    assert main(["--quiet", "validate", str(out)]) == 0
    assert main([*hcp, "--subject", "all", "--out", str(tmp_path / "hcp_all")]) == 0
    assert capsys.readouterr().out.count("wrote") == 2
    for name in ("hcp_dummy_sub_01.h5", "hcp_dummy_sub_02.h5"):
        assert main(["--quiet", "validate", str(tmp_path / "hcp_all" / name)]) == 0


@pytest.mark.parametrize(
    "dataset, files",
    [
        ("god", ["sbj_K.npz", "images_256.npz", "imagenet_training_label.csv", "imagenet_testing_label.csv"]),
        ("bold5000", ["CSIk_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_allses_<H><ROI>.npy", "img_dict.npy",
                      "repeated_stimuli_113_list.txt", "Stimuli_Presentation_Lists/CSIk"]),
        ("hcp", ["HCP_visual_voxel.npz"]),
        ("algonauts", ["lh_training_fmri.npy", "mapping_<family>.npy"]),
        ("nsd", ["nsd_expdesign.mat", "nsd_stimuli.hdf5", "betas_sessionNN.hdf5"]),
    ],
)
def test_convert_help_names_the_files(dataset, files, capsys):
    with pytest.raises(SystemExit) as done:
        main(["convert", dataset, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for name in files:
        assert name in text, name


def test_convert_reports_missing_files_by_path(tmp_path, capsys):
    out = str(tmp_path / "x.h5")
    assert main(["convert", "god", "--root", str(tmp_path), "--subject", "2", "--out", out]) == 1
    assert f"expected {tmp_path / 'sbj_2.npz'}" in capsys.readouterr().err
    assert main(["convert", "bold5000", "--root", str(tmp_path), "--subject", "1", "--out", out]) == 1
    expected = tmp_path / "BOLD5000_GLMsingle_ROI_betas/py/CSI1_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_allses_LHEarlyVis.npy"
    assert f"expected {expected}" in capsys.readouterr().err
    assert main(["convert", "hcp", "--root", str(tmp_path), "--subject", "100307", "--out", out]) == 1
    assert f"expected {tmp_path / '100307/HCP_visual_voxel.npz'}" in capsys.readouterr().err
    assert main(["convert", "hcp", "--root", str(tmp_path), "--subject", "all", "--out", out]) == 1
    assert f"expected {tmp_path}/<subject>/HCP_visual_voxel.npz" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()


def test_encode_fit_and_map(simulated, tmp_path, capsys):
    from tests.backbones.test_backbones import tiny_convnet

    tiny_convnet().save(tmp_path / "backbone")
    out = tmp_path / "encoder"
    args = ["--quiet", "encode", "fit", "--store", str(simulated), "--backbone", str(tmp_path / "backbone"),
            "--out", str(out), "--grid", "1", "--cv", "3", "--region", "EBA"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "median R²/NC" in printed and "EBA" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_images"] == 6 and metrics["regions"]["EBA"]["n_voxels"] == metrics["n_voxels"]
    assert (out / "model.safetensors").is_file() and (out / "feature_cache").is_dir()
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

    tiny_convnet().save(tmp_path / "backbone")
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

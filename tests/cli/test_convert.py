import pytest

from brainlens import store
from brainlens.cli import main


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
    assert store.validate(out)["split_images"]["test"] == 12

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
        ("god", ["sbj_K.npz", "images_256.npz", "imagenet_training_label.csv", "imagenet_testing_label.csv",
                 '1518878.010042,"n01518878_10042.JPEG"']),
        ("bold5000", ["CSIk_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_allses_<H><ROI>.npy", "img_dict.npy",
                      "repeated_stimuli_113_list.txt", "Stimuli_Presentation_Lists/CSIk",
                      "CSI1/CSI1_sess01/CSI1_sess01_run01.txt", "Subj01/Sess01/Subj01_sess01_run01.txt",
                      "_sess_setup_info.txt", ".mat"]),
        ("hcp", ["<subject>/HCP_visual_voxel.npz", "<subject>/<run>/HCP_visual_voxel.npz", "REST1_LR", "--run"]),
        ("algonauts", ["lh_training_fmri.npy", "mapping_<family>.npy", "stripped"]),
        ("nsd", ["nsd_expdesign.mat", "nsd_stimuli.hdf5", "betas_sessionNN.hdf5", "<name><TAB><spaces>",
                 "shared1000/shared0001_nsd02951.png"]),
    ],
)
def test_convert_help_names_the_files(dataset, files, capsys):
    with pytest.raises(SystemExit) as done:
        main(["convert", dataset, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for name in files:
        assert name in text, name


def test_convert_hcp_nested_layout(tmp_path, capsys):
    """npz/<subject>/REST1_LR/HCP_visual_voxel.npz: found, the subject kept, the run folder recorded."""
    from tests.datasets.fixtures_mindvis import make_hcp

    copy = make_hcp(tmp_path / "npz", subjects=("100307", "100408"), run="REST1_LR")
    hcp = ["--quiet", "convert", "hcp", "--root", str(copy.root)]
    assert main([*hcp, "--subject", "all", "--out", str(tmp_path / "out"), "--frames-per-sample", "10"]) == 0
    assert capsys.readouterr().out.count("fMRI only, 120 samples, 22 voxels") == 2
    for subject in ("100307", "100408"):
        with store.open_store(tmp_path / "out" / f"hcp_{subject}.h5") as s:
            assert s.attrs["subject"] == subject and s.attrs["run_folder"] == "REST1_LR"
    # a second run folder needs --run
    other = copy.root / "100307/REST1_RL"
    other.mkdir()
    (other / "HCP_visual_voxel.npz").write_bytes(copy.path("100307").read_bytes())
    assert main([*hcp, "--subject", "100307", "--out", str(tmp_path / "x.h5")]) == 1
    assert "found run folders ['REST1_LR', 'REST1_RL']" in capsys.readouterr().err
    assert main([*hcp, "--subject", "100307", "--run", "REST1_RL", "--out", str(tmp_path / "rl.h5")]) == 0
    with store.open_store(tmp_path / "rl.h5") as s:
        assert s.attrs["run_folder"] == "REST1_RL" and s.attrs["subject"] == "100307"


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

"""Tests for brainlens.datasets.bold5000 on a tiny BOLD5000 copy in MinD-Vis's released layout."""

import re

import numpy as np
import pytest

from brainlens import store
from brainlens.datasets import convert_bold5000

from .fixtures import Tally, image_id
from .fixtures_mindvis import BOLD5000_ROIS, BOLD5000_RUN_LINES, BOLD5000_WIDTHS, make_bold5000


@pytest.fixture(scope="module")
def b5k(tmp_path_factory):
    return make_bold5000(tmp_path_factory.mktemp("bold5000"))


@pytest.fixture(scope="module")
def converted(b5k, tmp_path_factory):
    stages = Tally()
    return convert_bold5000(b5k.root, 1, tmp_path_factory.mktemp("out") / "csi1.h5", progress=stages), stages


@pytest.fixture(scope="module")
def csi4(tmp_path_factory):
    """CSI4 as released: 9 sessions, and only 106 of the 113 repeated images; lists in the authors' naming."""
    root = tmp_path_factory.mktemp("csi4")
    copy = make_bold5000(root, subject=4, runs_per_session=(1,) * 9, n_listed=113, n_seen=106, repeats=(3,), layout="Subj")
    return copy, convert_bold5000(copy.root, 4, root / "csi4.h5")


def column(hemisphere, region, index):
    """The store column of a region file's column: regions in order, LH before RH within each."""
    offset = 0
    for r in BOLD5000_ROIS:
        for h, width in zip(("LH", "RH"), BOLD5000_WIDTHS[r]):
            if (h, r) == (hemisphere, region):
                return offset + index
            offset += width
    raise KeyError(region)


def test_fixture_lists_are_shaped_as_released(b5k, csi4):
    """The release's run lists hold 37 lines, each with a .mat twin; a setup file sits beside the sessions."""
    for copy in (b5k, csi4[0]):
        runs = sorted(copy.lists_dir.glob("*/*.txt"))
        assert runs and all(len(run.read_text().splitlines()) == BOLD5000_RUN_LINES for run in runs)
        assert all(run.with_suffix(".mat").is_file() for run in runs)
        assert [p.name for p in copy.lists_dir.glob("*.txt")] == [f"{copy.lists_dir.name}_sess_setup_info.txt"]
    assert csi4[0].lists_dir.name == "Subj04" and csi4[0].session_folders[0] == "Sess01"
    assert b5k.run_path(1, 2).name == "CSI1_sess01_run02.txt"
    # exactly one showing of each repeated image lacks rep_, and it is not always the first
    first_plain = []
    for name in b5k.seen_repeated:
        lines = [line for line, shown in zip(b5k.trial_lines, b5k.trial_names) if shown == name]
        assert sum(not line.startswith("rep_") for line in lines) == 1
        first_plain.append(not lines[0].startswith("rep_"))
    assert any(first_plain) and not all(first_plain)


def test_store_is_valid_and_records_provenance(b5k, converted):
    path, stages = converted
    info = store.validate(path)
    n_trials = len(b5k.trial_names)
    n_images = len(set(b5k.trial_names))
    assert n_trials == 3 * BOLD5000_RUN_LINES
    assert info["dataset"] == "bold5000" and info["subject"] == "CSI1" and info["kind"] == "paired"
    assert info["n_trials"] == n_trials and info["n_images"] == n_images and info["n_sessions"] == 2
    assert info["n_voxels"] == sum(sum(w) for w in BOLD5000_WIDTHS.values())
    assert info["zscored"] is False and info["has_location"] is False
    # list- and dict-valued attributes come back decoded
    assert info["session_folders"] == ["CSI1_sess01", "CSI1_sess02"]
    assert info["source_files"]["betas"][0].endswith("CSI1_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_allses_LHEarlyVis.npy")
    assert info["source_files"]["presentation_lists"] == str(b5k.lists_dir)
    assert stages == {"images": n_images, "trials": n_trials}


def test_trials_show_the_listed_images(b5k, converted):
    """Lines of the sorted run lists are the beta rows; a rep_ mark is not part of the name; the .mat
    twins and the setup file beside the sessions are not read."""
    path, _ = converted
    with store.open_store(path) as s:
        names = [x.decode() for x in s.file["provenance/image_name"][()]]
        assert [names[k] for k in s.trial_image] == b5k.trial_names
        # each image is the one img_dict holds under that name (image k of img_dict encodes k)
        assert [image_id(im) for im in s.images_at(s.trial_image)] == [b5k.image_names.index(n) for n in b5k.trial_names]
        np.testing.assert_array_equal(s.trial_session, b5k.trial_session)
        np.testing.assert_array_equal(s.file["provenance/run"][()], b5k.trial_run)
        np.testing.assert_array_equal(b5k.trial_run, np.repeat([1, 2, 1], BOLD5000_RUN_LINES))
        assert "rep_" not in "".join(names)


def test_repeated_images_are_the_test_split(b5k, converted):
    path, _ = converted
    with store.open_store(path) as s:
        names = [x.decode() for x in s.file["provenance/image_name"][()]]
        test = np.flatnonzero(s.split == 2)
        assert sorted(names[k] for k in test) == sorted(b5k.repeated)
        averaged = store.load_split(s, "test")
        # repeat counts vary (4, 5, 3 and 2 here), whichever showing lacked the rep_ mark
        expected = {name: b5k.trial_names.count(name) for name in b5k.repeated}
        assert sorted(set(expected.values())) == [2, 3, 4, 5]
        np.testing.assert_array_equal(averaged.n_repeats, [expected[names[k]] for k in averaged.image_index])
        for k in test:
            rows = np.flatnonzero(s.trial_image == k)
            assert [b5k.trial_names[r] for r in rows] == [names[k]] * expected[names[k]]
        assert np.sum(s.split == 0) == s.n_images - len(b5k.repeated)


def test_csi4_sees_106_of_the_113_repeated_images(csi4):
    """CSI4 completed 9 sessions and saw 106 of the 113 repeated images; the 7 others are dropped.
    Its lists are named as in the authors' repository (Subj04/Sess01/Subj04_sess01_run01.txt)."""
    copy, path = csi4
    info = store.validate(path)
    assert info["subject"] == "CSI4" and info["n_sessions"] == 9 and info["n_trials"] == 9 * BOLD5000_RUN_LINES
    assert info["split_images"]["test"] == 106
    assert info["session_folders"] == [f"Sess{k:02d}" for k in range(1, 10)]
    assert info["source_files"]["presentation_lists"] == str(copy.lists_dir)
    with store.open_store(path) as s:
        names = [x.decode() for x in s.file["provenance/image_name"][()]]
        assert sorted(names[k] for k in np.flatnonzero(s.split == 2)) == sorted(copy.seen_repeated)
        assert not set(copy.repeated[106:]) & set(names)
        assert [names[k] for k in s.trial_image] == copy.trial_names
        np.testing.assert_array_equal(s.trial_session, np.repeat(np.arange(1, 10), BOLD5000_RUN_LINES))
        np.testing.assert_array_equal(store.load_split(s, "test").n_repeats, [3] * 106)


def test_csi_folder_is_preferred_to_subj_folder(tmp_path):
    """With both namings present, MinD-Vis's CSIk folder is read; Subj0k only stands in for it."""
    b5k = make_bold5000(tmp_path / "b")
    other = b5k.lists_dir.with_name("Subj01")
    (other / "Sess01").mkdir(parents=True)
    (other / "Sess01/Subj01_sess01_run01.txt").write_text("beach5.jpg\n")
    path = convert_bold5000(b5k.root, 1, tmp_path / "x.h5")
    with store.open_store(path) as s:
        assert s.attrs["source_files"]["presentation_lists"] == str(b5k.lists_dir)
        assert s.n_trials == len(b5k.trial_names)


def test_planted_value_lands_at_its_trial_and_voxel(b5k, converted):
    path, _ = converted
    trial, hemisphere, region, index, value = b5k.planted
    with store.open_store(path) as s:
        assert s.betas_at([trial], np.array([column(hemisphere, region, index)]))[0, 0] == np.float32(value)
        expected = np.concatenate([b5k.betas[h, r] for r in BOLD5000_ROIS for h in ("LH", "RH")], axis=1)
        np.testing.assert_array_equal(s.betas_at(np.arange(s.n_trials)), expected)


def test_regions_and_hemispheres(converted):
    path, _ = converted
    with store.open_store(path) as s:
        assert s.roi_names == ["", *BOLD5000_ROIS]
        np.testing.assert_array_equal(s.region_voxels("PPA"), np.arange(column("LH", "PPA", 0), column("RH", "PPA", 2)))
        assert s.region_voxels("RH")[:4].tolist() == [5, 6, 7, 8]
        assert s.info()["regions"] == {r: sum(BOLD5000_WIDTHS[r]) for r in BOLD5000_ROIS}
        with pytest.raises(store.StoreError, match="no voxel locations"):
            _ = s.space


def test_lists_and_betas_must_agree(tmp_path):
    b5k = make_bold5000(tmp_path / "b")
    run = b5k.run_path(2, 1)
    run.write_text(run.read_text() + "beach5.jpg\n")
    with pytest.raises(
        ValueError, match=r"LHEarlyVis.npy: expected one row per line of the presentation lists in .*CSI1 \(112\); found 111 rows"
    ):
        convert_bold5000(b5k.root, 1, tmp_path / "x.h5")


def test_unknown_image_name_is_named(tmp_path):
    b5k = make_bold5000(tmp_path / "b")
    run = b5k.run_path(1, 2)
    lines = run.read_text().splitlines()
    run.write_text("\n".join(["no_such_image.jpg", *lines[1:]]) + "\n")
    with pytest.raises(
        ValueError, match=r"img_dict.npy: expected an image for every presented name \(session 1, run 2 shows 'no_such_image.jpg'\)"
    ):
        convert_bold5000(b5k.root, 1, tmp_path / "x.h5")


def test_test_list_must_meet_the_subject(tmp_path):
    b5k = make_bold5000(tmp_path / "b")
    (b5k.root / "BOLD5000_Stimuli/Scene_Stimuli/repeated_stimuli_113_list.txt").write_text("other.jpg\n")
    with pytest.raises(ValueError, match=r"repeated_stimuli_113_list.txt: expected some of its 1 names among the images CSI1 saw"):
        convert_bold5000(b5k.root, 1, tmp_path / "x.h5")


def test_non_finite_beta_names_its_file(tmp_path):
    b5k = make_bold5000(tmp_path / "b")
    data = b5k.betas["LH", "OPA"].copy()
    data[60, 1] = np.inf
    np.save(b5k.beta_path("LH", "OPA"), data)
    with pytest.raises(ValueError, match=r"allses_LHOPA.npy \[row 60, column 1\]: expected finite values"):
        convert_bold5000(b5k.root, 1, tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()


def test_img_dict_must_be_a_pickled_dict(tmp_path):
    """Pitfall 7: img_dict.npy is a pickled dict; anything else is named."""
    b5k = make_bold5000(tmp_path / "b")
    path = b5k.root / "BOLD5000_Stimuli/Scene_Stimuli/Presented_Stimuli/img_dict.npy"
    with pytest.raises(ValueError, match="allow_pickle"):
        np.load(path)
    np.save(path, np.zeros((3, 256, 256, 3), np.uint8))
    with pytest.raises(ValueError, match=r"img_dict.npy: expected a pickled dict"):
        convert_bold5000(b5k.root, 1, tmp_path / "x.h5")


def test_missing_files_are_named_by_path(tmp_path):
    b5k = make_bold5000(tmp_path / "b")
    b5k.beta_path("RH", "RSC").unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(f"BOLD5000 ROI betas not found: expected {b5k.beta_path('RH', 'RSC')}")):
        convert_bold5000(b5k.root, 1, tmp_path / "x.h5")

    b5k = make_bold5000(tmp_path / "c")
    for path in b5k.lists_dir.glob("CSI1_sess02/*.txt"):
        path.unlink()
    with pytest.raises(ValueError, match=r"CSI1_sess02: expected one .txt list per run; found no .txt files"):
        convert_bold5000(b5k.root, 1, tmp_path / "x.h5")
    b5k.lists_dir.rename(b5k.lists_dir.with_name("moved"))
    expected = f"BOLD5000 presentation lists not found: expected the folder {b5k.lists_dir} or {b5k.lists_dir.with_name('Subj01')}"
    with pytest.raises(FileNotFoundError, match=re.escape(expected)):
        convert_bold5000(b5k.root, 1, tmp_path / "x.h5")


def test_bad_subject():
    with pytest.raises(ValueError, match=r"'subject' must be one of \(1, 2, 3, 4\). 5 was provided."):
        convert_bold5000(".", 5, "x.h5")

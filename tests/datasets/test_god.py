"""Tests for brainlens.datasets.god on a tiny GOD copy in MinD-Vis's released layout."""

import re

import numpy as np
import pytest

from brainlens import store
from brainlens.datasets import convert_god

from .fixtures import Tally, image_id
from .fixtures_mindvis import GOD_AREA_SIZES, GOD_TEST_OFFSET, make_god

N_TRAIN, N_TEST = 4 * 8, 3  # the fixture's 4 training categories of 8 images, 3 test images


@pytest.fixture(scope="module")
def god(tmp_path_factory):
    return make_god(tmp_path_factory.mktemp("god"))


@pytest.fixture(scope="module")
def converted(god, tmp_path_factory):
    stages = Tally()
    return convert_god(god.root, 3, tmp_path_factory.mktemp("out") / "god3.h5", progress=stages), stages


def rewrite_npz(path, **changes):
    """Rewrite an npz with some arrays replaced (None removes one)."""
    with np.load(path) as f:
        arrays = {key: f[key] for key in f.files}
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    np.savez(path, **arrays)


def test_store_is_valid_and_records_provenance(god, converted):
    path, stages = converted
    info = store.validate(path)
    n_train, n_test = len(god.train_image), len(god.test_image)
    assert info["dataset"] == "god" and info["subject"] == "3" and info["kind"] == "paired"
    assert info["n_images"] == N_TRAIN + N_TEST and info["n_trials"] == n_train + n_test
    assert info["n_voxels"] == god.train_fmri.shape[1] and info["beta_dtype"] == "float32"
    assert info["zscored"] is False and info["n_sessions"] == 2
    assert info["has_location"] is False and info["space"] is None
    assert info["image_scale"] == "uint8" and info["mask"] == ""
    assert info["source_files"]["fmri"] == str(god.npz)  # decoded, not JSON text
    assert stages == {"images": N_TRAIN + N_TEST, "trials": n_train + n_test}


def test_trials_pair_with_their_images(god, converted):
    """arr_3 and arr_4 are 0-based rows of train_images and test_images."""
    path, _ = converted
    n_train = len(god.train_image)
    with store.open_store(path) as s:
        trial_image = s.trial_image
        np.testing.assert_array_equal(trial_image[:n_train], god.train_image)
        np.testing.assert_array_equal(trial_image[n_train:], N_TRAIN + god.test_image)
        shown = [image_id(im) for im in s.images_at(trial_image)]
        assert shown == god.train_image.tolist() + (GOD_TEST_OFFSET + god.test_image).tolist()
        np.testing.assert_array_equal(s.trial_session, [1] * n_train + [2] * len(god.test_image))


def test_planted_values_land_at_their_trial_and_voxel(god, converted):
    path, _ = converted
    n_train = len(god.train_image)
    with store.open_store(path) as s:
        row, voxel, value = god.planted["train"]
        assert s.betas_at([row], np.array([voxel]))[0, 0] == np.float32(value)
        row, voxel, value = god.planted["test"]
        assert s.betas_at([n_train + row], np.array([voxel]))[0, 0] == np.float32(value)
        np.testing.assert_array_equal(s.betas_at(np.arange(n_train)), god.train_fmri)


def test_test_images_are_the_test_split_and_repeats_average(god, converted):
    path, _ = converted
    with store.open_store(path) as s:
        np.testing.assert_array_equal(s.split, [0] * N_TRAIN + [2] * N_TEST)
        test = store.load_split(s, "test")
        np.testing.assert_array_equal(test.image_index, N_TRAIN + np.arange(N_TEST))
        np.testing.assert_array_equal(test.n_repeats, [4, 4, 4])
        # MinD-Vis tests on the released averaged rows (arr_2); they are kept beside the trials
        np.testing.assert_array_equal(s.file["test_averaged/betas"][()], god.averaged)
        np.testing.assert_array_equal(s.file["test_averaged/image"][()], N_TRAIN + np.arange(N_TEST))


def test_regions_follow_the_masks(god, converted):
    path, _ = converted
    with store.open_store(path) as s:
        # FFA shares a voxel with LOC, so it cannot be a label of voxel/roi and gets a set of its own
        assert s.roi_names == ["", "V1", "V2", "V3", "V4", "LOC", "PPA"]
        for name in ("V1", "V2", "V3", "V4", "LOC", "PPA", "FFA", "LVC", "HVC", "VC"):
            np.testing.assert_array_equal(s.region_voxels(name), np.flatnonzero(god.masks[name]), err_msg=name)
        assert sorted(s.info()["region_sets"]) == ["FFA", "HVC", "LVC", "VC"]
        assert sum(s.info()["regions"].values()) == sum(GOD_AREA_SIZES.values()) - GOD_AREA_SIZES["FFA"]
        np.testing.assert_allclose(s.file["voxel/noise_ceiling"][()], god.noise_ceiling)
        np.testing.assert_allclose(s.file["voxel/snr"][()], god.snr)
        assert s.ncsnr is None


def test_no_voxel_locations(converted):
    path, _ = converted
    with (
        store.open_store(path) as s,
        pytest.raises(store.StoreError, match=r"\[voxel/vertex\]: missing: this store has no voxel locations.*'god'"),
    ):
        _ = s.vertex


def test_labels_and_class_names(god, converted):
    path, _ = converted
    with store.open_store(path) as s:
        labels, names = s.labels
        wnids = god.wnids["train"] + god.wnids["test"]
        assert names == [f"n{w:08d}" for w in sorted(set(wnids))]
        assert [names[k] for k in labels.argmax(axis=1)] == [f"n{w:08d}" for w in wnids]
        assert labels.sum(axis=1).tolist() == [1.0] * (N_TRAIN + N_TEST)
        ids = [x.decode() for x in s.file["provenance/image_id"][()]]
        assert ids == god.image_ids["train"] + god.image_ids["test"]
        # the CSV's second field, quoted in the release, is the JPEG's name
        files = [x.decode() for x in s.file["provenance/image_file"][()]]
        assert files == god.image_files["train"] + god.image_files["test"]
        np.testing.assert_array_equal(s.file["provenance/wnid"][()], wnids)
        classes = [x.decode() for x in s.file["provenance/class_name"][()]]
        assert classes == [god.class_names.get(w, "") for w in wnids]


def test_mask_keeps_its_voxels(god, tmp_path):
    path = convert_god(god.root, 3, tmp_path / "vc.h5", mask="VC")
    vc = np.flatnonzero(god.masks["VC"])
    info = store.validate(path)
    assert info["n_voxels"] == vc.size and info["mask"] == "VC"
    with store.open_store(path) as s:
        row, voxel, value = god.planted["train"]
        assert s.betas_at([row], np.array([int(np.flatnonzero(vc == voxel)[0])]))[0, 0] == np.float32(value)
        assert s.region_voxels("VC").size == vc.size
        np.testing.assert_array_equal(s.region_voxels("V2"), np.flatnonzero(god.masks["V2"][vc]))
    with pytest.raises(ValueError, match=r"sbj_3.npz \[IT\]: expected a voxel mask named 'IT'; found masks \['FFA'"):
        convert_god(god.root, 3, tmp_path / "x.h5", mask="IT")


def test_float_images_in_0_1_are_scaled(tmp_path):
    """UNCONFIRMED image scale: Weizmann's npz held floats in [0, 1]; those are multiplied by 255."""
    god = make_god(tmp_path / "god", image_scale="float 0-1")
    path = convert_god(god.root, 3, tmp_path / "g.h5")
    with store.open_store(path) as s:
        assert s.attrs["image_scale"] == "float 0-1"
        assert [image_id(im) for im in s.images_at(np.arange(N_TRAIN + N_TEST))] == list(range(N_TRAIN)) + [1000, 1001, 1002]


def test_images_outside_both_scales_fail(tmp_path):
    god = make_god(tmp_path / "god")
    images = tmp_path / "god/images_256.npz"
    with np.load(images) as f:
        train, test = f["train_images"].astype(np.float32), f["test_images"].astype(np.float32)
    train[0, 0, 0, 0] = 300.0
    np.savez(images, train_images=train, test_images=test)
    with pytest.raises(
        ValueError, match=r"\[train_images\]: expected pixel values in \[0, 1\] or \[0, 255\]; found float32 values 0.0..300.0"
    ):
        convert_god(god.root, 3, tmp_path / "g.h5")
    assert not (tmp_path / "g.h5").exists()


def test_integer_fmri_is_accepted(tmp_path):
    """UNCONFIRMED fMRI dtype: any real numbers are accepted and stored as float32."""
    god = make_god(tmp_path / "god", fmri_dtype="int16")
    path = convert_god(god.root, 3, tmp_path / "g.h5")
    with store.open_store(path) as s:
        np.testing.assert_array_equal(s.betas_at(np.arange(N_TRAIN)), god.train_fmri.astype(np.float32))


def test_one_based_indices_fail(tmp_path):
    god = make_god(tmp_path / "god")
    rewrite_npz(god.npz, arr_3=god.train_image + 1)
    with pytest.raises(ValueError, match=r"\[arr_3\]: expected 0-based rows of train_images, 0..31; found 32 \(is it 1-based\?\)"):
        convert_god(god.root, 3, tmp_path / "g.h5")


def test_inconsistent_arrays_fail(tmp_path):
    god = make_god(tmp_path / "god")
    rewrite_npz(god.npz, arr_4=god.test_image[:-1])
    with pytest.raises(ValueError, match=r"\[arr_4\]: expected shape \(12,\): one image index per row of arr_1; found shape \(11,\)"):
        convert_god(god.root, 3, tmp_path / "g.h5")
    rewrite_npz(god.npz, arr_4=None)
    with pytest.raises(ValueError, match=r"\[arr_4\]: expected arrays arr_0, arr_1, arr_2, arr_3, arr_4; found arrays"):
        convert_god(god.root, 3, tmp_path / "g.h5")


def test_non_finite_fmri_is_named(tmp_path):
    god = make_god(tmp_path / "god")
    fmri = god.test_fmri.copy()
    fmri[6, 4] = np.nan
    rewrite_npz(god.npz, arr_1=fmri)
    with pytest.raises(ValueError, match=r"sbj_3.npz \[arr_1, row 6, column 4\]: expected finite values \(1 are not\); found nan"):
        convert_god(god.root, 3, tmp_path / "g.h5")
    assert not (tmp_path / "g.h5").exists()


def test_label_csv_is_as_released(god):
    """The release's CSV: no header, ``1518878.010042,"n01518878_10042.JPEG"``, each training category
    in 8 consecutive rows, test categories disjoint from training ones."""
    lines = (god.root / "imagenet_training_label.csv").read_text().splitlines()
    assert lines[0] == f'{god.image_ids["train"][0]},"{god.image_files["train"][0]}"'
    assert re.fullmatch(r'\d+\.\d{6},"n\d{8}_\d+\.JPEG"', lines[0])
    wnids = god.wnids["train"]
    assert all(len(set(wnids[k : k + 8])) == 1 for k in range(0, len(wnids), 8)) and len(set(wnids)) == len(wnids) // 8
    assert not set(god.wnids["test"]) & set(wnids)


def test_label_csv_is_checked(tmp_path):
    god = make_god(tmp_path / "god")
    csv_path = god.root / "imagenet_training_label.csv"
    lines = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join(["image_id,file", *lines]) + "\n")
    with pytest.raises(
        ValueError, match=r"imagenet_training_label.csv \[row 1\]: expected a first field '<WordNet offset>.<image number>'"
    ):
        convert_god(god.root, 3, tmp_path / "g.h5")
    csv_path.write_text("\n".join(lines[:-1]) + "\n")
    message = r"imagenet_training_label.csv: expected one row per image of images_256.npz \(32\); found 31 rows"
    with pytest.raises(ValueError, match=message):
        convert_god(god.root, 3, tmp_path / "g.h5")


def test_missing_files_are_named_by_path(tmp_path):
    god = make_god(tmp_path / "god")
    (god.root / "imagenet_testing_label.csv").unlink()
    with pytest.raises(FileNotFoundError, match=f"GOD image labels not found: expected {god.root / 'imagenet_testing_label.csv'}"):
        convert_god(god.root, 3, tmp_path / "g.h5")
    with pytest.raises(FileNotFoundError, match=f"GOD fMRI not found: expected {god.root / 'sbj_2.npz'}"):
        convert_god(god.root, 2, tmp_path / "g.h5")
    (god.root / "imagenet_class_index.json").unlink()  # optional: only the class names go
    (god.root / "imagenet_testing_label.csv").write_text("1443537.000001\n2690373.000002\n4254680.000003\n")
    with store.open_store(convert_god(god.root, 3, tmp_path / "g.h5")) as s:
        assert "provenance/class_name" not in s.file
        # rows without the JPEG's name have '' for it
        assert [x.decode() for x in s.file["provenance/image_file"][()]][-4:] == [god.image_files["train"][-1], "", "", ""]


def test_bad_subject():
    with pytest.raises(ValueError, match=r"'subject' must be one of \(1, 2, 3, 4, 5\). 6 was provided."):
        convert_god(".", 6, "x.h5")

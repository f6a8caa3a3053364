"""Tests for brainlens.datasets.algonauts on a tiny Algonauts 2023 copy in the released layout."""

import re

import numpy as np
import pytest

from brainlens import store
from brainlens.datasets import convert_algonauts

from .fixtures import FSAVERAGE_VERTICES, LABEL_NAMES, Tally, image_id, make_algonauts


@pytest.fixture(scope="module")
def alg(tmp_path_factory):
    return make_algonauts(tmp_path_factory.mktemp("algonauts"))


@pytest.fixture(scope="module")
def converted(alg, tmp_path_factory):
    stages = Tally()
    return convert_algonauts(alg.root, 1, tmp_path_factory.mktemp("out") / "subj01.h5", progress=stages), stages


def test_store_is_valid(alg, converted):
    path, stages = converted
    info = store.validate(path)
    n_train, n_test = alg.train_ids.size, alg.test_ids.size
    assert info["n_images"] == n_train + n_test and info["n_trials"] == n_train
    assert info["n_voxels"] == sum(v.size for v in alg.vertices) and info["beta_dtype"] == "float32"
    assert info["dataset"] == "algonauts2023" and info["zscored"] and info["repeats_averaged"]
    assert stages == {"images": n_train + n_test, "trials": n_train}
    with store.open_store(path) as s:
        assert np.all(s.trial_session == 0)


def test_rows_pair_with_their_images(alg, converted):
    """Pitfall 1: train-NNNN is the 1-based fMRI row, nsd-MMMMM the 0-based 73k id."""
    path, _ = converted
    with store.open_store(path) as s:
        np.testing.assert_array_equal(s.trial_image, np.arange(alg.train_ids.size))
        assert [image_id(im) for im in s.images_at(s.trial_image)] == alg.train_ids.tolist()
        np.testing.assert_array_equal(s.file["provenance/nsd_id"][()], np.concatenate([alg.train_ids, alg.test_ids]))
        np.testing.assert_array_equal(s.betas_at(np.arange(s.n_trials)), np.concatenate(alg.fmri, axis=1))
        row, hemi, column, value = alg.planted
        assert s.betas_at([row], np.array([column + hemi * alg.vertices[0].size]))[0, 0] == np.float32(value)


def test_test_images_have_no_trials(alg, converted):
    path, _ = converted
    n_train, n_test = alg.train_ids.size, alg.test_ids.size
    with store.open_store(path) as s:
        np.testing.assert_array_equal(s.split, [0] * n_train + [2] * n_test)
        test = np.flatnonzero(s.split == 2)
        assert not np.isin(test, s.trial_image).any()
        assert [image_id(im) for im in s.images_at(test)] == alg.test_ids.tolist()
        with pytest.raises(store.StoreError, match="no trial shows a 'test' image"):
            store.load_split(s, "test")


def test_vertices_and_regions(alg, converted):
    path, _ = converted
    lh, rh = alg.vertices
    with store.open_store(path) as s:
        assert s.space == "fsaverage"
        np.testing.assert_array_equal(s.vertex, np.concatenate([lh, rh + FSAVERAGE_VERTICES]))
        assert s.roi_names == ["", *LABEL_NAMES["prf-visualrois"]]
        np.testing.assert_array_equal(s.roi, np.concatenate(alg.labels["prf-visualrois"]))
        faces = np.concatenate(alg.labels["floc-faces"])
        np.testing.assert_array_equal(s.region_voxels("FFA-1"), np.flatnonzero(faces == 2))
        sets = {family: names for family, names in LABEL_NAMES.items() if family != "prf-visualrois"}
        assert s.info()["region_sets"] == sets


def test_mapping_files_are_pickled_dicts(alg):
    """Pitfall 7: mapping_*.npy needs allow_pickle=True; the converter reads the names from it. As the
    organisers wrote them: Python-int keys, names unstripped (the ctab line's tab and spaces)."""
    path = alg.folder / "roi_masks/mapping_floc-faces.npy"
    with pytest.raises(ValueError, match="allow_pickle"):
        np.load(path)
    mapping = np.load(path, allow_pickle=True).item()
    assert all(type(k) is int for k in mapping)
    assert mapping[2].startswith("FFA-1\t ") and mapping[2].strip() == "FFA-1"


def test_region_names_are_stripped(converted):
    path, _ = converted
    with store.open_store(path) as s:
        names = s.region_names()
        assert names and all(name == name.strip() for name in names)
        assert s.roi_names[1] == "V1v" and s.region_voxels("FFA-1").size > 0


def test_missing_files_name_their_expected_path(tmp_path):
    copy = make_algonauts(tmp_path / "alg")
    mapping = copy.folder / "roi_masks/mapping_streams.npy"
    mapping.unlink()
    with pytest.raises(FileNotFoundError, match=rf"Algonauts streams names not found: expected {re.escape(str(mapping))}"):
        convert_algonauts(copy.root, 1, tmp_path / "out.h5")
    challenge = copy.folder / "roi_masks/rh.all-vertices_fsaverage_space.npy"
    challenge.unlink()
    with pytest.raises(FileNotFoundError, match=rf"expected {re.escape(str(challenge))}"):
        convert_algonauts(copy.root, 1, tmp_path / "out.h5")
    test_images = copy.folder / "test_split/test_images"
    for png in test_images.iterdir():
        png.unlink()
    test_images.rmdir()
    with pytest.raises(FileNotFoundError, match=rf"expected the folder {re.escape(str(test_images))}"):
        convert_algonauts(copy.root, 1, tmp_path / "out.h5")
    fmri = copy.folder / "training_split/training_fmri/rh_training_fmri.npy"
    fmri.unlink()
    with pytest.raises(FileNotFoundError, match=rf"Algonauts training fMRI not found: expected {re.escape(str(fmri))}"):
        convert_algonauts(copy.root, 1, tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()
    with pytest.raises(FileNotFoundError, match=rf"expected {re.escape(str(tmp_path / 'alg' / 'subj02'))}"):
        convert_algonauts(copy.root, 2, tmp_path / "out.h5")


def test_image_rows_must_match_the_fmri_rows(tmp_path):
    copy = make_algonauts(tmp_path / "alg")
    images = copy.folder / "training_split/training_images"
    fourth = next(images.glob("train-0004_*.png"))
    fourth.rename(images / fourth.name.replace("train-0004", "train-0013"))
    message = r"expected train-0001 \.\. train-0012, one per row \(1-based\); found 12 images; missing rows \[4\], unexpected rows \[13\]"
    with pytest.raises(ValueError, match=message):
        convert_algonauts(copy.root, 1, tmp_path / "out.h5")
    (images / "cover.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"cover\.png: expected a name like train-0001_nsd-00013\.png"):
        convert_algonauts(copy.root, 1, tmp_path / "out.h5")


def test_vertex_counts_and_values_are_checked(tmp_path):
    copy = make_algonauts(tmp_path / "alg")
    path = copy.folder / "roi_masks/lh.all-vertices_fsaverage_space.npy"
    challenge = np.load(path)
    challenge[np.flatnonzero(challenge == 0)[0]] = 1
    np.save(path, challenge)
    message = r"lh\.all-vertices_fsaverage_space\.npy: expected 30 challenge vertices, one per column of lh_training_fmri\.npy; found 31"
    with pytest.raises(ValueError, match=message):
        convert_algonauts(copy.root, 1, tmp_path / "out.h5")
    challenge[np.flatnonzero(challenge)[-1]] = 0  # a vertex count right again
    np.save(path, challenge)
    fmri = copy.fmri[1].copy()
    fmri[5, 7] = np.nan
    np.save(copy.folder / "training_split/training_fmri/rh_training_fmri.npy", fmri)
    with pytest.raises(ValueError, match=r"rh_training_fmri\.npy \[row 5, column 7\]: expected finite values; found nan"):
        convert_algonauts(copy.root, 1, tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()  # the failed write left nothing that looks whole


def test_bad_subject(alg, tmp_path):
    with pytest.raises(ValueError, match=r"'subject' must be an integer 1\.\.8\. 0 was provided"):
        convert_algonauts(alg.root, 0, tmp_path / "out.h5")

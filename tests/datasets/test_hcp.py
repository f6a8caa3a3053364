"""Tests for brainlens.datasets.hcp on a tiny copy of MinD-Vis's HCP folder."""

import json
import re

import numpy as np
import pytest

from brainlens import store
from brainlens.datasets import convert_hcp, convert_hcp_subjects, hcp_subjects

from .fixtures import Tally
from .fixtures_mindvis import HCP_FRAMES, HCP_WIDTHS, make_hcp

AREAS = list(HCP_WIDTHS)


@pytest.fixture(scope="module")
def hcp(tmp_path_factory):
    return make_hcp(tmp_path_factory.mktemp("hcp"))


@pytest.fixture(scope="module")
def frames(hcp, tmp_path_factory):
    stages = Tally()
    return convert_hcp(hcp.root, "dummy_sub_01", tmp_path_factory.mktemp("out") / "hcp1.h5", progress=stages), stages


def concatenated(hcp, subject):
    return np.concatenate([hcp.areas[subject][a] for a in AREAS], axis=1).astype(np.float32)


def column(area, index):
    return sum(HCP_WIDTHS[a] for a in AREAS[: AREAS.index(area)]) + index


def test_fmri_only_store_is_valid(hcp, frames):
    path, stages = frames
    info = store.validate(path)
    assert info["kind"] == "fmri-only" and info["dataset"] == "hcp" and info["subject"] == "dummy_sub_01"
    assert info["n_images"] == 0 and info["n_trials"] == HCP_FRAMES and info["n_sessions"] == 1
    assert info["n_voxels"] == sum(HCP_WIDTHS.values()) and info["beta_dtype"] == "float32"
    assert info["has_location"] is False and info["zscored"] is False
    assert info["frames"] == HCP_FRAMES and info["frames_per_sample"] == 1
    assert json.loads(info["area_voxels"]) == HCP_WIDTHS and json.loads(info["unused_keys"]) == []
    assert stages == {"samples": HCP_FRAMES}
    assert "split_images" not in info


def test_frames_land_where_they_should(hcp, frames):
    path, _ = frames
    subject, area, frame, voxel, value = hcp.planted
    with store.open_store(path) as s:
        assert s.betas_at([frame], np.array([column(area, voxel)]))[0, 0] == np.float32(value)
        np.testing.assert_array_equal(s.betas_at(np.arange(HCP_FRAMES)), concatenated(hcp, subject))
        np.testing.assert_array_equal(s.file["provenance/first_frame"][()], np.arange(HCP_FRAMES))


def test_regions(frames):
    path, _ = frames
    with store.open_store(path) as s:
        assert s.roi_names == ["", *AREAS]
        assert s.info()["regions"] == HCP_WIDTHS
        np.testing.assert_array_equal(s.region_voxels("V2"), np.arange(column("V2", 0), column("V3", 0)))
        assert s.region_voxels("VC").size == sum(HCP_WIDTHS.values())


def test_nothing_paired_is_there(frames):
    path, _ = frames
    with store.open_store(path) as s:
        for attribute in ("trial_image", "split"):
            with pytest.raises(store.StoreError, match=rf"\[{attribute}\]: missing \(this is a fmri-only store\)"):
                getattr(s, attribute)
        with pytest.raises(store.StoreError, match=r"\[images\]: missing"):
            s.images_at([0])
        with pytest.raises(store.StoreError, match=r"\[split\]: missing"):
            store.load_split(s, "train")
        with pytest.raises(store.StoreError, match=r"\[voxel/vertex\]: missing: this store has no voxel locations"):
            _ = s.vertex


@pytest.mark.parametrize("step", [10, 7])
def test_frames_averaged_into_samples(hcp, tmp_path, step):
    """MinD-Vis averages 10 frames (1200 → 120 samples); a remainder of frames is dropped."""
    path = convert_hcp(hcp.root, "dummy_sub_01", tmp_path / "s.h5", frames_per_sample=step)
    data = concatenated(hcp, "dummy_sub_01")
    n = HCP_FRAMES // step
    expected = data[: n * step].reshape(n, step, -1).mean(axis=1)
    with store.open_store(path) as s:
        assert s.n_trials == n and s.attrs["frames_per_sample"] == step
        np.testing.assert_allclose(s.betas_at(np.arange(n)), expected, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(s.file["provenance/first_frame"][()], np.arange(n) * step)
    store.validate(path)


def test_subjects_listing_and_integer_data(hcp, tmp_path):
    assert hcp_subjects(hcp.root) == ["dummy_sub_01", "dummy_sub_02"]
    stages = Tally()
    paths = convert_hcp_subjects(hcp.root, tmp_path / "all", frames_per_sample=10, progress=stages)
    assert [p.name for p in paths] == ["hcp_dummy_sub_01.h5", "hcp_dummy_sub_02.h5"]
    assert stages == {"samples": 240, "subjects": 2}
    with store.open_store(paths[1]) as s:
        # UNCONFIRMED dtype: int16 areas are read as numbers and stored as float32
        assert json.loads(s.attrs["unused_keys"]) == ["LOC"]
        first = concatenated(hcp, "dummy_sub_02")[:10].mean(axis=0)
        np.testing.assert_allclose(s.betas_at([0])[0], first, rtol=1e-6)


def test_subjects_must_share_voxel_counts(hcp, tmp_path):
    root = tmp_path / "hcp"
    for subject in hcp.subjects:
        (root / subject).mkdir(parents=True)
        (root / subject / "HCP_visual_voxel.npz").write_bytes((hcp.root / subject / "HCP_visual_voxel.npz").read_bytes())
    areas = dict(hcp.areas["dummy_sub_02"])
    areas["V4"] = areas["V4"][:, :3]
    np.savez(root / "dummy_sub_02/HCP_visual_voxel.npz", **areas)
    message = r"dummy_sub_02/HCP_visual_voxel.npz: expected the voxels per area of subject 'dummy_sub_01': .*'V4': 4\}; found .*'V4': 3\}"
    with pytest.raises(ValueError, match=message):
        convert_hcp_subjects(root, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    # one subject on its own is fine
    assert store.validate(convert_hcp(root, "dummy_sub_02", tmp_path / "two.h5"))["n_voxels"] == 21


def test_missing_file_and_bad_arrays(hcp, tmp_path):
    expected = hcp.root.absolute() / "dummy_sub_03/HCP_visual_voxel.npz"
    with pytest.raises(FileNotFoundError, match=re.escape(f"HCP visual voxels of subject 'dummy_sub_03' not found: expected {expected}")):
        convert_hcp(hcp.root, "dummy_sub_03", tmp_path / "x.h5")
    root = tmp_path / "hcp"
    (root / "s1").mkdir(parents=True)
    areas = {a: hcp.areas["dummy_sub_01"][a] for a in AREAS}
    np.savez(root / "s1/HCP_visual_voxel.npz", **{a: v for a, v in areas.items() if a != "V3"})
    with pytest.raises(ValueError, match=r"\[V3\]: expected arrays V1, V2, V3, V4; found arrays \['V1', 'V2', 'V4'\]"):
        convert_hcp(root, "s1", tmp_path / "x.h5")
    np.savez(root / "s1/HCP_visual_voxel.npz", **{**areas, "V2": areas["V2"][:1000]})
    with pytest.raises(ValueError, match=r"\[V2\]: expected 1200 frames, as V1; found shape \(1000, 6\)"):
        convert_hcp(root, "s1", tmp_path / "x.h5")
    bad = areas["V4"].copy()
    bad[900, 1] = np.nan
    np.savez(root / "s1/HCP_visual_voxel.npz", **{**areas, "V4": bad})
    with pytest.raises(ValueError, match=r"\[V4, row 900, column 1\]: expected finite values"):
        convert_hcp(root, "s1", tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()
    with pytest.raises(FileNotFoundError, match="HCP visual voxels not found"):
        convert_hcp_subjects(tmp_path / "hcp/s1", tmp_path / "out")


def test_bad_arguments(hcp, tmp_path):
    with pytest.raises(ValueError, match=r"'frames_per_sample' must be an integer >= 1. 0 was provided."):
        convert_hcp(hcp.root, "dummy_sub_01", tmp_path / "x.h5", frames_per_sample=0)
    with pytest.raises(ValueError, match=r"'subject' must be the name of a subject folder. '../dummy_sub_01' was provided."):
        convert_hcp(hcp.root, "../dummy_sub_01", tmp_path / "x.h5")


def test_voxels_are_not_padded(tmp_path):
    """Pitfall 5: MinD-Vis wrap-pads the voxel axis by 1–16 columns (16 when it is already a multiple
    of 16); the store keeps the released voxels and leaves padding to the model."""
    (tmp_path / "s").mkdir()
    rng = np.random.default_rng(1)
    areas = {area: rng.normal(size=(40, 8)).astype(np.float32) for area in AREAS}
    np.savez(tmp_path / "s/HCP_visual_voxel.npz", **areas)
    path = convert_hcp(tmp_path, "s", tmp_path / "s.h5")
    with store.open_store(path) as s:
        assert s.n_voxels == 32
        np.testing.assert_array_equal(s.betas_at(np.arange(40)), np.concatenate(list(areas.values()), axis=1))

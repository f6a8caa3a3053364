"""Tests for brainlens.datasets.hcp on a tiny copy of MinD-Vis's HCP folder."""

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
    # list- and dict-valued attributes come back decoded
    assert info["area_voxels"] == HCP_WIDTHS and info["unused_keys"] == []
    assert info["source_files"] == {"voxels": str(hcp.path("dummy_sub_01").absolute())} and info["run_folder"] == ""
    assert stages == {"samples": HCP_FRAMES}
    assert "split_images" not in info


def test_frames_land_where_they_should(hcp, frames):
    path, _ = frames
    subject, area, frame, voxel, value = hcp.planted
    with store.open_store(path) as s:
        assert s.betas_at([frame], np.array([column(area, voxel)]))[0, 0] == np.float32(value)
        np.testing.assert_array_equal(s.betas_at(np.arange(HCP_FRAMES)), concatenated(hcp, subject))
        np.testing.assert_array_equal(s.file["provenance/first_frame"][()], np.arange(HCP_FRAMES))


def test_float64_zscored_frames_are_kept_as_released(hcp, frames):
    """The release's areas are float64, already z-scored over time per voxel: stored as float32, the
    values (and so each voxel's mean 0 and std 1) are kept, not scaled again."""
    path, _ = frames
    _, area, _, voxel, _ = hcp.planted
    with np.load(hcp.path("dummy_sub_02")) as npz:
        written = npz["V1"]
    assert written.dtype == np.float64
    np.testing.assert_allclose(written.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(written.std(axis=0), 1, rtol=1e-12)
    with store.open_store(path) as s:
        betas = s.betas_at(np.arange(HCP_FRAMES)).astype(np.float64)
        voxels = np.arange(s.n_voxels) != column(area, voxel)  # all but the voxel with the planted value
        np.testing.assert_allclose(betas.mean(axis=0)[voxels], 0, atol=1e-6)
        np.testing.assert_allclose(betas.std(axis=0)[voxels], 1, rtol=1e-6)
        np.testing.assert_allclose(betas, concatenated(hcp, "dummy_sub_01").astype(np.float64), rtol=1e-7)


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


def test_subjects_listing(hcp, tmp_path):
    assert hcp_subjects(hcp.root) == ["dummy_sub_01", "dummy_sub_02"]
    stages = Tally()
    paths = convert_hcp_subjects(hcp.root, tmp_path / "all", frames_per_sample=10, progress=stages)
    assert [p.name for p in paths] == ["hcp_dummy_sub_01.h5", "hcp_dummy_sub_02.h5"]
    assert stages == {"samples": 240, "subjects": 2}
    with store.open_store(paths[1]) as s:
        assert s.attrs["subject"] == "dummy_sub_02" and s.attrs["unused_keys"] == ["LOC"]
        # frames are averaged at the file's precision (float64), then stored as float32
        first = hcp.areas["dummy_sub_02"]["V1"][:10].mean(axis=0)
        np.testing.assert_allclose(s.betas_at([0])[0, : HCP_WIDTHS["V1"]], first.astype(np.float32), rtol=1e-6)


def test_integer_data_is_read_as_numbers(tmp_path):
    """Any real numbers are accepted (the release's are float64) and stored as float32."""
    (tmp_path / "s").mkdir()
    areas = {area: (np.arange(40 * n).reshape(40, n) % 97 - 48).astype(np.int16) for area, n in HCP_WIDTHS.items()}
    np.savez(tmp_path / "s/HCP_visual_voxel.npz", **areas)
    with store.open_store(convert_hcp(tmp_path, "s", tmp_path / "s.h5", frames_per_sample=4)) as s:
        expected = np.concatenate(list(areas.values()), axis=1).reshape(10, 4, -1).mean(axis=1)
        np.testing.assert_array_equal(s.betas_at(np.arange(10)), expected.astype(np.float32))


@pytest.fixture(scope="module")
def nested(tmp_path_factory):
    """The published variant's layout: npz/<subject>/REST1_LR/HCP_visual_voxel.npz."""
    return make_hcp(tmp_path_factory.mktemp("nested"), subjects=("100307", "100408"), run="REST1_LR", seed=1)


def test_nested_layout_keeps_the_subject_and_records_the_run(nested, tmp_path):
    assert hcp_subjects(nested.root) == ["100307", "100408"]
    stages = Tally()
    paths = convert_hcp_subjects(nested.root, tmp_path / "all", frames_per_sample=10, progress=stages)
    assert [p.name for p in paths] == ["hcp_100307.h5", "hcp_100408.h5"]
    assert stages == {"samples": 240, "subjects": 2}
    for subject, path in zip(nested.subjects, paths):
        info = store.validate(path)
        assert info["subject"] == subject and info["run_folder"] == "REST1_LR"
        assert info["source_files"] == {"voxels": str(nested.path(subject).absolute())}
        with store.open_store(path) as s:
            data = concatenated(nested, subject).astype(np.float64)
            np.testing.assert_allclose(s.betas_at(np.arange(120)), data.reshape(120, 10, -1).mean(axis=1), rtol=1e-5, atol=1e-6)
    one = convert_hcp(nested.root, "100408", tmp_path / "one.h5")
    with store.open_store(one) as s:
        assert s.attrs["subject"] == "100408" and s.attrs["run_folder"] == "REST1_LR"
        np.testing.assert_array_equal(s.betas_at(np.arange(HCP_FRAMES)), concatenated(nested, "100408"))


def test_several_runs_need_a_choice(nested, tmp_path):
    root = tmp_path / "npz"
    for run in ("REST1_LR", "REST1_RL"):
        (root / "100307" / run).mkdir(parents=True)
        (root / "100307" / run / "HCP_visual_voxel.npz").write_bytes(nested.path("100307").read_bytes())
    message = r"100307: expected one HCP_visual_voxel\.npz, or run= naming its folder; found run folders \['REST1_LR', 'REST1_RL'\]"
    with pytest.raises(ValueError, match=message):
        convert_hcp(root, "100307", tmp_path / "x.h5")
    with pytest.raises(ValueError, match=message):
        convert_hcp_subjects(root, tmp_path / "out")
    with store.open_store(convert_hcp(root, "100307", tmp_path / "rl.h5", run="REST1_RL")) as s:
        assert s.attrs["run_folder"] == "REST1_RL" and s.attrs["subject"] == "100307"
    paths = convert_hcp_subjects(root, tmp_path / "out", run="REST1_LR")
    with store.open_store(paths[0]) as s:
        assert s.attrs["run_folder"] == "REST1_LR"
    missing = root / "100307/REST2_LR/HCP_visual_voxel.npz"
    with pytest.raises(FileNotFoundError, match=re.escape(f"HCP visual voxels of subject '100307' not found: expected {missing}")):
        convert_hcp(root, "100307", tmp_path / "x.h5", run="REST2_LR")


def test_a_run_folder_is_not_a_subject(nested, tmp_path):
    """The old workaround, a subject folder as root, would name the store's subject "REST1_LR"."""
    subject_folder = nested.root / "100307"
    assert hcp_subjects(subject_folder) == []
    message = (
        r"HCP visual voxels not found: expected .*100307/<subject>/HCP_visual_voxel\.npz or .*100307/<subject>/<run>/"
        r"HCP_visual_voxel\.npz \(100307 holds the run folder REST1_LR: pass its parent folder as root\)"
    )
    with pytest.raises(FileNotFoundError, match=message):
        convert_hcp_subjects(subject_folder, tmp_path / "out")
    with pytest.raises(ValueError, match=r"'subject' must be the name of a subject folder, not of a run folder \(REST1_LR\)"):
        convert_hcp(subject_folder, "REST1_LR", tmp_path / "x.h5")


def test_subjects_must_share_voxel_counts(hcp, tmp_path):
    root = tmp_path / "hcp"
    for subject in hcp.subjects:
        (root / subject).mkdir(parents=True)
        (root / subject / "HCP_visual_voxel.npz").write_bytes(hcp.path(subject).read_bytes())
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
    folder = hcp.root.absolute() / "no_file_sub"
    expected = f"{folder / 'HCP_visual_voxel.npz'} or {folder / '<run>/HCP_visual_voxel.npz'}"
    with pytest.raises(FileNotFoundError, match=re.escape(f"HCP visual voxels of subject 'no_file_sub' not found: expected {expected}")):
        convert_hcp(hcp.root, "no_file_sub", tmp_path / "x.h5")
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
    with pytest.raises(ValueError, match=r"'run' must be a run folder's name \(e.g. 'REST1_LR'\), '' or None. 'a/REST1_LR' was provided."):
        convert_hcp(hcp.root, "dummy_sub_01", tmp_path / "x.h5", run="a/REST1_LR")
    # run '' is the file directly in the subject folder, MinD-Vis's layout
    with store.open_store(convert_hcp(hcp.root, "dummy_sub_01", tmp_path / "flat.h5", run="")) as s:
        assert s.attrs["run_folder"] == "" and s.n_trials == HCP_FRAMES


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

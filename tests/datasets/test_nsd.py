"""Tests for brainlens.datasets.nsd on a tiny NSD copy in the released layout (see fixtures.py)."""

import csv
import re

import h5py
import nibabel as nib
import numpy as np
import pytest
import scipy.io

from brainlens import store
from brainlens.datasets import convert_nsd
from brainlens.datasets import nsd as nsd_module
from brainlens.datasets._utils import read_ctab

from .fixtures import (
    FSAVERAGE_VERTICES,
    LABEL_NAMES,
    Tally,
    coco_id,
    image_id,
    make_nsd,
    nsd_image,
    write_shared1000_pngs,
    write_volume_betas,
)


class Interrupted(Exception):
    pass


def stop_after(n_sessions):
    """A progress callback that interrupts the conversion once ``n_sessions`` sessions are done."""
    done = []

    def progress(stage, k):
        if stage == "sessions":
            done.append(k)
            if len(done) == n_sessions:
                raise Interrupted

    return progress


def contents(path):
    """Every dataset (as arrays) and attribute of a store file, for comparing two stores."""
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.update({name: obj[()]}) if isinstance(obj, h5py.Dataset) else None)
        out.update({f"attrs/{k}": v for k, v in f.attrs.items()})
    return out


def assert_same_store(a, b):
    ca, cb = contents(a), contents(b)
    assert sorted(ca) == sorted(cb)
    for key in ca:
        np.testing.assert_array_equal(ca[key], cb[key], err_msg=key)


def column_of(s, ijk):
    """The store column of volume voxel (i, j, k)."""
    return int(np.flatnonzero((s.file["voxel/ijk"][()] == ijk).all(axis=1))[0])


@pytest.fixture(scope="module")
def nsd(tmp_path_factory):
    return make_nsd(tmp_path_factory.mktemp("nsd"))


@pytest.fixture(scope="module")
def zscored(nsd, tmp_path_factory):
    """Subject 1, every session, func1pt8mm HDF5 betas, nsdgeneral: the defaults."""
    return convert_nsd(nsd.root, 1, tmp_path_factory.mktemp("zscored") / "subj01.h5")


@pytest.fixture(scope="module")
def raw(nsd, tmp_path_factory):
    return convert_nsd(nsd.root, 1, tmp_path_factory.mktemp("raw") / "subj01.h5", zscore=False)


def test_store_is_valid_and_records_provenance(nsd, zscored):
    info = store.validate(zscored)
    general = np.argwhere(nsd.volume_labels["nsdgeneral"] > 0)
    assert info["n_trials"] == 40 * nsd.trials_per_session and info["n_sessions"] == 40
    assert info["n_voxels"] == len(general) and info["beta_dtype"] == "float16" and info["zscored"]
    with store.open_store(zscored) as s:
        assert s.attrs["dataset"] == "nsd" and s.attrs["subject"] == "1" and s.attrs["source"] == str(nsd.root)
        assert s.attrs["sessions"] == list(range(1, 41))  # decoded, not JSON text
        assert s.attrs["mask"] == "nsdgeneral" and s.attrs["space"] == "func1pt8mm"
        files = s.attrs["source_files"]
        assert files["betas"][6].endswith("subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR/betas_session07.hdf5")
        assert files["mask"][0].endswith("subj01/func1pt8mm/roi/nsdgeneral.nii.gz")
        # voxels in C order of the (X, Y, Z) grid, as MindEye and brain-diffuser flatten them
        np.testing.assert_array_equal(s.file["voxel/ijk"][()], general)
        assert list(s.file["voxel/ijk"].attrs["volume_shape"]) == list(nsd.grid)
    assert not zscored.with_name(zscored.name + ".parts").exists()


def test_trials_show_their_images(nsd, zscored):
    """Pitfall 1: expdesign indices are 1-based, imgBrick's axis 0 and nsdId 0-based."""
    truth = nsd.trial_nsd_id[1]  # 0-based 73k id on each global trial, as the fixture decided it
    with store.open_store(zscored) as s:
        nsd_id = s.file["provenance/nsd_id"][()]
        trial_image = s.trial_image
        np.testing.assert_array_equal(nsd_id[trial_image], truth)
        assert [image_id(im) for im in s.images_at(trial_image)] == truth.tolist()
        np.testing.assert_array_equal(s.images_at(0), nsd_image(int(nsd_id[0])))
        np.testing.assert_array_equal(s.file["provenance/coco_id"][()], coco_id(nsd_id))
        np.testing.assert_array_equal(s.file["provenance/global_trial"][()], np.arange(truth.size))
        np.testing.assert_array_equal(s.trial_session, np.repeat(np.arange(1, 41), nsd.trials_per_session))
        # the three repeats of an image are three trials of one store image
        assert np.all(nsd_id == np.unique(truth)) and np.all(np.bincount(trial_image) == 3)


def test_shared_images_are_the_test_split(nsd, zscored):
    with store.open_store(zscored) as s:
        nsd_id = s.file["provenance/nsd_id"][()]
        np.testing.assert_array_equal(s.split == 2, np.isin(nsd_id, nsd.shared))
        assert set(np.unique(s.split)) == {0, 2} and np.sum(s.split == 2) == nsd.shared.size


def test_planted_beta_lands_after_scaling(nsd, raw):
    """Pitfall 2: int16 × 300, HDF5 read as (trials, Z, Y, X)."""
    subject, session, trial, ijk, value = nsd.planted_volume
    with store.open_store(raw) as s:
        assert not s.zscored and s.file["betas"].dtype == np.float32
        row = (session - 1) * nsd.trials_per_session + trial
        assert s.betas_at([row], np.array([column_of(s, ijk)]))[0, 0] == np.float32(value) / 300
        ijk_all = tuple(s.file["voxel/ijk"][()].T)
        for session in (1, 17, 40):
            rows = np.flatnonzero(s.trial_session == session)
            expected = nsd.volume_betas[subject, session][ijk_all].T.astype(np.float32) / 300
            np.testing.assert_array_equal(s.betas_at(rows), expected)


def test_betas_are_zscored_per_session(zscored, raw):
    with store.open_store(zscored) as z, store.open_store(raw) as r:
        expected = store.zscore_sessions(r.betas_at(np.arange(r.n_trials)), r.trial_session)
        np.testing.assert_allclose(z.betas_at(np.arange(z.n_trials)), expected, atol=2e-3, rtol=1e-3)


def test_nifti_betas_agree_with_hdf5(nsd, tmp_path):
    """Pitfall 2: the NIfTI volume is (X, Y, Z, trials), the HDF5 one (trials, Z, Y, X); both give one store."""
    copy = make_nsd(tmp_path / "nsd", subjects=(1,), volume_format="nifti", fsaverage_sessions=())
    assert not list(copy.betas_dir(1).glob("*.hdf5"))
    from_nifti = convert_nsd(copy.root, 1, tmp_path / "nifti.h5", sessions=[4, 5], zscore=False)
    from_hdf5 = convert_nsd(nsd.root, 1, tmp_path / "hdf5.h5", sessions=[4, 5], zscore=False)
    with store.open_store(from_nifti) as a, store.open_store(from_hdf5) as b:
        np.testing.assert_array_equal(a.betas_at(np.arange(a.n_trials)), b.betas_at(np.arange(b.n_trials)))
        _, session, trial, ijk, value = copy.planted_volume
        row = (session - 4) * copy.trials_per_session + trial
        assert a.betas_at([row], np.array([column_of(a, ijk)]))[0, 0] == np.float32(value) / 300


def test_sessions_subset(nsd, zscored, tmp_path):
    stages = Tally()
    subset = convert_nsd(nsd.root, 1, tmp_path / "subset.h5", sessions=[7, 2], progress=stages)
    store.validate(subset)
    with store.open_store(subset) as s, store.open_store(zscored) as full:
        assert s.attrs["sessions"] == [2, 7]
        np.testing.assert_array_equal(s.trial_session, np.repeat([2, 7], nsd.trials_per_session))
        rows = np.flatnonzero(np.isin(full.trial_session, [2, 7]))
        # z-scoring is within a session, so a session's betas do not depend on which others are converted
        np.testing.assert_array_equal(s.betas_at(np.arange(s.n_trials)), full.betas_at(rows))
        nsd_id = s.file["provenance/nsd_id"][()]
        np.testing.assert_array_equal(nsd_id[s.trial_image], nsd.trial_nsd_id[1][rows])
        assert s.n_images == np.unique(nsd.trial_nsd_id[1][rows]).size
        assert stages == {"sessions": 2, "images": s.n_images}


def test_mask_by_name(nsd, tmp_path):
    faces = convert_nsd(nsd.root, 1, tmp_path / "faces.h5", sessions=[1], mask="floc-faces")
    whole = convert_nsd(nsd.root, 1, tmp_path / "whole.h5", sessions=[1], mask=None)
    store.validate(whole)  # ncsnr is NaN outside the brain: it must not reach the store
    with store.open_store(faces) as s:
        np.testing.assert_array_equal(s.file["voxel/ijk"][()], np.argwhere(nsd.volume_labels["floc-faces"] > 0))
        assert s.attrs["mask"] == "floc-faces"
    with store.open_store(whole) as s:
        assert s.n_voxels == np.prod(nsd.grid) and s.attrs["mask"] == ""
        np.testing.assert_array_equal(s.file["voxel/ijk"][()], np.argwhere(np.ones(nsd.grid)))
        assert np.isfinite(s.ncsnr).all() and np.all(s.ncsnr[~np.isfinite(_ncsnr_file(nsd)).reshape(-1)] == 0)


def _ncsnr_file(nsd, subject=1):
    return nib.load(nsd.betas_dir(subject) / "ncsnr.nii.gz").get_fdata()


def test_regions_and_ncsnr_come_through(nsd, zscored):
    with store.open_store(zscored) as s:
        ijk = tuple(s.file["voxel/ijk"][()].T)
        assert s.roi_names == ["", *LABEL_NAMES["prf-visualrois"]]
        np.testing.assert_array_equal(s.roi, np.clip(nsd.volume_labels["prf-visualrois"][ijk], 0, None))
        assert set(s.region_names()) >= {"V1v", "hV4", "OFA", "FFA-1", "PPA", "RSC", "nsdgeneral"}
        faces = nsd.volume_labels["floc-faces"][ijk]
        np.testing.assert_array_equal(s.region_voxels("FFA-1"), np.flatnonzero(faces == 2))
        np.testing.assert_array_equal(s.region_voxels("nsdgeneral"), np.arange(s.n_voxels))
        # overlapping label files are separate sets: a voxel can be in an early area and a face area
        assert np.any((s.roi > 0) & (faces > 0))
        np.testing.assert_allclose(s.ncsnr, _ncsnr_file(nsd)[ijk], rtol=1e-6)


def test_ctab_lines_as_released_give_stripped_names(nsd):
    """NSD's ctab lines are ``<int> <name><TAB><spaces>``; the names come through without the whitespace."""
    for owner, name in (("subj01", "floc-faces"), ("fsaverage", "prf-visualrois")):
        path = nsd.root / f"nsddata/freesurfer/{owner}/label/{name}.mgz.ctab"
        lines = path.read_text().splitlines()
        assert lines[0].startswith("0 Unknown\t ") and lines[1].startswith(f"1 {LABEL_NAMES[name][0]}\t ")
        assert all(re.fullmatch(r"\d+ \S+\t +", line) for line in lines)
        assert read_ctab(path) == dict(enumerate(["Unknown", *LABEL_NAMES[name]]))


def test_region_names_are_stripped_on_both_spaces(nsd, tmp_path):
    volume = convert_nsd(nsd.root, 1, tmp_path / "v.h5", sessions=[1])
    surface = convert_nsd(nsd.root, 1, tmp_path / "s.h5", space="fsaverage", sessions=[1])
    for path in (volume, surface):
        with store.open_store(path) as s:
            assert s.roi_names == ["", *LABEL_NAMES["prf-visualrois"]]
            assert s.info()["region_sets"]["floc-faces"] == LABEL_NAMES["floc-faces"]
            assert s.region_voxels("FFA-1").size > 0


def test_fsaverage(nsd, tmp_path):
    """Pitfall 3: (163842, 1, 1, trials) float per hemisphere, left then right; NaN vertices."""
    out = convert_nsd(nsd.root, 1, tmp_path / "fs.h5", space="fsaverage", sessions=[1, 2], zscore=False)
    store.validate(out)
    lh, rh = (np.flatnonzero(labels) for labels in nsd.surface_labels["nsdgeneral"])
    with store.open_store(out) as s:
        assert s.space == "fsaverage"
        np.testing.assert_array_equal(s.vertex, np.concatenate([lh, rh + FSAVERAGE_VERTICES]))
        session, trial, hemi, vertex, value = nsd.planted_surface
        row = (session - 1) * nsd.trials_per_session + trial
        column = int(np.flatnonzero(s.vertex == vertex + hemi * FSAVERAGE_VERTICES)[0])
        assert s.betas_at([row], np.array([column]))[0, 0] == np.float32(value)  # not divided by 300
        rows = np.flatnonzero(s.trial_session == 1)
        np.testing.assert_array_equal(s.betas_at(rows)[:, : lh.size], nsd.surface_betas[1][0][lh].T)
        # the NaN vertex is 0 for the session where it is NaN, and counted
        session, hemi, vertex = nsd.nan_surface
        column = int(np.flatnonzero(s.vertex == vertex + hemi * FSAVERAGE_VERTICES)[0])
        assert np.all(s.betas_at(np.flatnonzero(s.trial_session == session), np.array([column])) == 0)
        assert s.attrs["nonfinite_voxels"] == {"1": 0, "2": 1}
        faces = np.concatenate([labels[v] for labels, v in zip(nsd.surface_labels["floc-faces"], (lh, rh))])
        np.testing.assert_array_equal(s.region_voxels("FFA-1"), np.flatnonzero(faces == 2))


def test_fsaverage_int16_betas_are_refused(tmp_path):
    """Pitfall 3: fsaverage betas are float, unscaled (unconfirmed): anything else is reported."""
    copy = make_nsd(tmp_path / "nsd", subjects=(1,), fsaverage_sessions=(1,))
    path = copy.betas_dir(1, "fsaverage") / "rh.betas_session01.mgh"
    path.unlink()
    nib.save(nib.MGHImage(np.zeros((FSAVERAGE_VERTICES, 1, 1, copy.trials_per_session), dtype=np.int16), np.eye(4)), path)
    with pytest.raises(ValueError, match=r"rh\.betas_session01\.mgh.*expected float betas.*found dtype int16"):
        convert_nsd(copy.root, 1, tmp_path / "fs.h5", space="fsaverage", sessions=[1])


def test_hdf5_with_nifti_axis_order_is_refused(tmp_path):
    """Pitfall 2: an HDF5 file laid out (X, Y, Z, trials) is reported, not silently transposed."""
    copy = make_nsd(tmp_path / "nsd", subjects=(1,), fsaverage_sessions=())
    path = copy.betas_dir(1) / "betas_session02.hdf5"
    path.unlink()
    with h5py.File(path, "w") as f:
        f["betas"] = copy.volume_betas[1, 2]
    message = r"betas_session02\.hdf5 \[betas\]: expected shape \(3, 5, 7, 6\): \(trials, Z, Y, X\).*found shape \(6, 7, 5, 3\)"
    with pytest.raises(ValueError, match=message):
        convert_nsd(copy.root, 1, tmp_path / "out.h5", sessions=[1, 2])


def test_subject_with_fewer_sessions(nsd, tmp_path):
    """Pitfall 4: subject 4 completed 30 sessions; some of its images were shown fewer than 3 times."""
    out = convert_nsd(nsd.root, 4, tmp_path / "subj04.h5")
    store.validate(out)
    shown = nsd.trial_nsd_id[4][: 30 * nsd.trials_per_session]
    with store.open_store(out) as s:
        assert np.unique(s.trial_session).tolist() == list(range(1, 31))
        nsd_id = s.file["provenance/nsd_id"][()]
        np.testing.assert_array_equal(nsd_id[s.trial_image], shown)
        repeats = np.bincount(s.trial_image)
        np.testing.assert_array_equal(repeats, np.unique(shown, return_counts=True)[1])
        assert repeats.min() < 3  # kept as they are, not padded by duplication
    with pytest.raises(ValueError, match="subject 4 completed 30"):
        convert_nsd(nsd.root, 4, tmp_path / "bad.h5", sessions=[31])


def test_missing_files_name_their_expected_path(tmp_path):
    copy = make_nsd(tmp_path / "nsd", subjects=(1,), fsaverage_sessions=())
    session7 = copy.betas_dir(1) / "betas_session07.hdf5"
    session7.unlink()
    message = rf"expected {re.escape(str(session7))} or .*betas_session07\.nii\.gz.*range\(1, 38\)"
    with pytest.raises(FileNotFoundError, match=message):
        convert_nsd(copy.root, 1, tmp_path / "out.h5")
    out = convert_nsd(copy.root, 1, tmp_path / "out.h5", sessions=[1, 8])  # the others are still usable
    store.validate(out)
    message = r"NSD mask 'floc-bodies' not found: expected .*subj01/func1pt8mm/roi/floc-bodies\.nii\.gz"
    with pytest.raises(FileNotFoundError, match=message):
        convert_nsd(copy.root, 1, tmp_path / "out.h5", sessions=[1], mask="floc-bodies")
    ctab = copy.root / "nsddata/freesurfer/subj01/label/floc-places.mgz.ctab"
    ctab.unlink()
    with pytest.raises(FileNotFoundError, match=rf"expected {re.escape(str(ctab))}"):
        convert_nsd(copy.root, 1, tmp_path / "out.h5", sessions=[1])
    copy.design_path.unlink()
    message = rf"NSD experimental design not found: expected {re.escape(str(copy.design_path))}"
    with pytest.raises(FileNotFoundError, match=message):
        convert_nsd(copy.root, 1, tmp_path / "out.h5", sessions=[1])
    assert not (tmp_path / "out.h5.parts").exists()  # inputs are checked before any session is read


def test_shared1000_pngs_alone_are_named(tmp_path):
    """NSD's own PNG export holds only the shared images: without nsd_stimuli.hdf5 the error says so."""
    copy = make_nsd(tmp_path / "nsd", subjects=(1,), fsaverage_sessions=())
    brick = copy.root / "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5"
    brick.unlink()
    with pytest.raises(FileNotFoundError, match=rf"NSD stimuli not found: expected {re.escape(str(brick))}$"):
        convert_nsd(copy.root, 1, tmp_path / "out.h5", sessions=[1])
    folder = write_shared1000_pngs(copy.root, copy.shared)
    assert sorted(p.name for p in folder.iterdir())[0] == f"shared0001_nsd{copy.shared[0] + 1:05d}.png"
    message = (
        rf"NSD stimuli not found: expected {re.escape(str(brick))}\. {re.escape(str(folder))} holds 6 shared1000 PNGs "
        r"\(shared0001_nsd\d{5}\.png \.\.\.\), NSD's export of the shared images only: subject 1's other 34 "
        r"images are not among them\. Download nsddata_stimuli/stimuli/nsd/nsd_stimuli\.hdf5"
    )
    with pytest.raises(FileNotFoundError, match=message):
        convert_nsd(copy.root, 1, tmp_path / "out.h5", sessions=[1])
    assert not (tmp_path / "out.h5.parts").exists()


def test_zero_based_design_is_refused(tmp_path):
    """Pitfall 1: a design written 0-based (a 0 in masterordering) is reported, not shifted."""
    copy = make_nsd(tmp_path / "nsd", subjects=(1,), fsaverage_sessions=())
    mat = scipy.io.loadmat(copy.design_path)
    mat = {key: mat[key] - (key == "masterordering") for key in ("masterordering", "subjectim", "sharedix")}
    scipy.io.savemat(copy.design_path, mat)
    with pytest.raises(ValueError, match=r"nsd_expdesign\.mat \[masterordering\]: expected 1-based indices.*found 0"):
        convert_nsd(copy.root, 1, tmp_path / "out.h5", sessions=[1])


def test_stim_info_is_checked_against_the_design(tmp_path):
    """Pitfall 1: subjectK_repR are 1-based global trials, 0 for none; its columns are found by name."""
    copy = make_nsd(tmp_path / "nsd", subjects=(1,), fsaverage_sessions=())
    with copy.stim_info_path.open(newline="") as f:
        header, *rows = list(csv.reader(f))
    reps = [name for name in header if "_rep" in name]
    assert reps != sorted(reps)  # the fixture shuffles them: the converter must not rely on their order
    # written 0-based, as a careless export would, the CSV no longer agrees with the design
    columns = [header.index(f"subject1_rep{r}") for r in range(3)]
    for row in rows:
        for c in columns:
            row[c] = str(max(int(row[c]) - 1, 0))
    with copy.stim_info_path.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    message = r"nsd_stim_info_merged\.csv \[row \d+, subject1_rep0, subject1_rep1, subject1_rep2\]: expected 1-based global trial"
    with pytest.raises(ValueError, match=message):
        convert_nsd(copy.root, 1, tmp_path / "out.h5", sessions=[1])
    # the CSV is optional: without it there are no COCO ids
    copy.stim_info_path.unlink()
    out = convert_nsd(copy.root, 1, tmp_path / "out.h5", sessions=[1])
    with store.open_store(out) as s:
        assert "provenance/coco_id" not in s.file and s.attrs["source_files"]["stim_info"] == ""


def test_interrupted_conversion_resumes(nsd, zscored, tmp_path, monkeypatch):
    out = tmp_path / "subj01.h5"
    parts = tmp_path / "subj01.h5.parts"
    with pytest.raises(Interrupted):
        convert_nsd(nsd.root, 1, out, progress=stop_after(1))
    assert not out.exists()  # no half-written store
    assert [p.name for p in parts.iterdir()] == ["session01.h5"]

    read = []
    original = nsd_module._read_session
    monkeypatch.setattr(nsd_module, "_read_session", lambda *args: read.append(1) or original(*args))
    convert_nsd(nsd.root, 1, out)
    assert len(read) == 39  # session 1 was reused
    assert_same_store(out, zscored)
    assert not parts.exists()


def test_resume_remakes_parts_whose_source_or_mask_changed(tmp_path):
    copy = make_nsd(tmp_path / "nsd", subjects=(1,), fsaverage_sessions=())
    out = tmp_path / "out.h5"
    with pytest.raises(Interrupted):
        convert_nsd(copy.root, 1, out, sessions=[1, 2], zscore=False, progress=stop_after(2))
    # session 1's file is replaced after its part was made: the part must not be reused
    new = copy.volume_betas[1, 1].copy()
    new[3, 4, 3, 0] = -2400
    write_volume_betas(copy.root, 1, 1, new, "hdf5")
    convert_nsd(copy.root, 1, out, sessions=[1, 2], zscore=False)
    with store.open_store(out) as s:
        assert s.betas_at([0], np.array([column_of(s, (3, 4, 3))]))[0, 0] == np.float32(-8.0)

    # parts made for one mask are not mixed into a conversion with another
    with pytest.raises(Interrupted):
        convert_nsd(copy.root, 1, out, sessions=[1, 2], progress=stop_after(1))
    resumed = convert_nsd(copy.root, 1, out, sessions=[1, 2], mask="floc-places")
    fresh = convert_nsd(copy.root, 1, tmp_path / "fresh.h5", sessions=[1, 2], mask="floc-places")
    assert_same_store(resumed, fresh)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"subject": 9}, r"'subject' must be an integer 1\.\.8\. 9 was provided"),
        ({"space": "MNI"}, r"'space' must be one of \('func1pt8mm', 'fsaverage'\)\. 'MNI' was provided"),
        ({"sessions": [1, 1]}, r"'sessions' must be distinct session numbers 1\.\.40"),
        ({"sessions": []}, r"'sessions' must be distinct"),
        ({"beta_version": "b3"}, r"'beta_version' must be one of"),
        ({"mask": ""}, r"'mask' must be a label file's name \(e\.g\. 'nsdgeneral'\) or None\. '' was provided"),
    ],
)
def test_bad_arguments(nsd, tmp_path, kwargs, message):
    arguments = {"root": nsd.root, "subject": 1, "out": tmp_path / "out.h5", **kwargs}
    with pytest.raises(ValueError, match=message):
        convert_nsd(**arguments)

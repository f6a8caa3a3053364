import h5py
import numpy as np
import pytest

from brainlens import store
from brainlens.store import StoreError


def _arrays(n_images=12, repeats=3, n_voxels=7, n_sessions=3, seed=0):
    rng = np.random.default_rng(seed)
    trial_image = np.tile(np.arange(n_images), repeats)
    rng.shuffle(trial_image)
    n_trials = trial_image.size
    return dict(
        images=rng.integers(0, 256, (n_images, 8, 8, 3), dtype=np.uint8),
        betas=rng.normal(size=(n_trials, n_voxels)).astype(np.float32),
        trial_image=trial_image,
        trial_session=np.repeat(np.arange(n_sessions), n_trials // n_sessions).astype(np.int32),
        split=np.array([2, 2, 1] + [0] * (n_images - 3), dtype=np.int8),
        roi=np.array([0, 1, 1, 2, 2, 2, 0][:n_voxels], dtype=np.int16),
        roi_names=["", "FFA-1", "PPA"],
        vertex=np.arange(n_voxels) * 3,
        space="fsaverage5",
        ncsnr=np.linspace(0.1, 1.0, n_voxels).astype(np.float32),
        captions=[f"image {i}" for i in range(n_images)],
        dataset="test",
        subject="1",
    )


@pytest.fixture
def arrays():
    return _arrays()


@pytest.fixture
def path(tmp_path, arrays):
    return store.write(tmp_path / "sub.h5", beta_dtype="float32", **arrays)


def test_roundtrip_and_lazy_access(path, arrays):
    with store.open_store(path) as s:
        assert s.n_images == 12 and s.n_trials == 36 and s.n_voxels == 7
        assert s.image_shape == (8, 8, 3)
        np.testing.assert_array_equal(s.images_at([5, 0, 5]), arrays["images"][[5, 0, 5]])
        np.testing.assert_array_equal(s.images_at(3), arrays["images"][3])
        np.testing.assert_array_equal(s.betas_at([30, 2, 3], voxels=np.array([6, 1])), arrays["betas"][[30, 2, 3]][:, [6, 1]])
        np.testing.assert_array_equal(s.trial_image, arrays["trial_image"])
        np.testing.assert_array_equal(s.split, arrays["split"])
        np.testing.assert_allclose(s.ncsnr, arrays["ncsnr"])
        assert s.captions[4] == "image 4"
        assert s.space == "fsaverage5"
        info = s.info()
        assert info["regions"] == {"FFA-1": 2, "PPA": 3}
        assert info["split_images"] == {"train": 9, "val": 1, "test": 2}
        assert info["repeats_per_image"]["min"] == 3
        assert info["version"] == store.SCHEMA_VERSION


def test_float16_betas_by_default(tmp_path, arrays):
    path = store.write(tmp_path / "f16.h5", **arrays)
    with store.open_store(path) as s:
        assert s.file["betas"].dtype == np.float16
        np.testing.assert_allclose(s.betas_at(np.arange(36)), arrays["betas"], atol=2e-3)


def test_region_lookup_and_sets(tmp_path, arrays):
    halves = (np.array([0, 0, 0, 1, 2, 1, 0], dtype=np.int16), ["", "PPA-anterior", "PPA-posterior"])
    path = store.write(tmp_path / "sets.h5", roi_sets={"halves": halves}, **arrays)
    with store.open_store(path) as s:
        np.testing.assert_array_equal(s.region_voxels("PPA"), [3, 4, 5])
        np.testing.assert_array_equal(s.region_voxels("PPA-anterior"), [3, 5])
        assert s.region_names() == ["FFA-1", "PPA", "PPA-anterior", "PPA-posterior"]
        with pytest.raises(KeyError, match=r"'FFA-9'.*known regions: FFA-1, PPA, PPA-anterior"):
            s.region_voxels("FFA-9")


def test_interrupted_write_leaves_nothing(tmp_path, arrays):
    target = tmp_path / "partial.h5"
    with pytest.raises(RuntimeError, match="interrupted"):
        with store.StoreWriter(target, n_voxels=7, dataset="t", subject="1") as writer:
            writer.set_images(arrays["images"])
            writer.append_trials(arrays["betas"][:10], 0, arrays["trial_image"][:10])
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_streaming_writer_appends_sessions(tmp_path, arrays):
    target = tmp_path / "stream.h5"
    with store.StoreWriter(target, n_voxels=7, dataset="t", subject="1", beta_dtype="float32") as writer:
        writer.set_images(arrays["images"])
        for session in range(3):
            rows = arrays["trial_session"] == session
            writer.append_trials(arrays["betas"][rows], session, arrays["trial_image"][rows])
        writer.set_split(arrays["split"])
        writer.set_voxels(roi=arrays["roi"], roi_names=arrays["roi_names"], vertex=arrays["vertex"], space="fsaverage5")
    store.validate(target)
    with store.open_store(target) as s:
        np.testing.assert_array_equal(s.betas_at(np.arange(36)), arrays["betas"])
        np.testing.assert_array_equal(s.trial_session, arrays["trial_session"])


def test_fmri_only_store(tmp_path, arrays):
    path = store.write(
        tmp_path / "rest.h5",
        **{k: v for k, v in arrays.items() if k not in ("images", "trial_image", "split", "captions")},
    )
    info = store.validate(path)
    assert info["kind"] == "fmri-only" and info["n_images"] == 0
    with store.open_store(path) as s, pytest.raises(StoreError, match="trial_image.*fmri-only"):
        _ = s.trial_image


def test_fmri_only_store_refuses_image_content(tmp_path, arrays):
    fmri = {k: v for k, v in arrays.items() if k not in ("images", "trial_image", "split", "captions")}
    with pytest.raises(ValueError, match="trial_image, split given without images"):
        store.write(tmp_path / "a.h5", trial_image=arrays["trial_image"], split=arrays["split"], **fmri)
    with store.StoreWriter(tmp_path / "b.h5", n_voxels=7, dataset="t", subject="1", kind="fmri-only") as writer:
        with pytest.raises(ValueError, match="a fmri-only store has no images"):
            writer.set_images(arrays["images"])
        with pytest.raises(ValueError, match="a fmri-only store has no split"):
            writer.set_split(arrays["split"])
        with pytest.raises(ValueError, match="a fmri-only store has no trial_image"):
            writer.append_trials(arrays["betas"], 0, arrays["trial_image"])
        writer.append_trials(arrays["betas"], arrays["trial_session"])
        writer.set_voxels(roi=arrays["roi"], roi_names=arrays["roi_names"])
    assert store.validate(tmp_path / "b.h5")["kind"] == "fmri-only"
    assert not (tmp_path / "a.h5").exists()
    # images in a file that calls itself fMRI-only are an inconsistency validate names
    with h5py.File(tmp_path / "b.h5", "a") as f:
        f["split"] = np.zeros(3, np.int8)
    with pytest.raises(StoreError, match=r"\[split\]: present in a fmri-only store"):
        store.validate(tmp_path / "b.h5")


# ---- voxel locations ------------------------------------------------------------------------


@pytest.fixture
def unlocated(tmp_path, arrays):
    """A store whose voxels have no locations (as GOD's and HCP's preprocessed files give them)."""
    return store.write(tmp_path / "noloc.h5", **{k: v for k, v in arrays.items() if k not in ("vertex", "space")})


def test_store_without_locations_is_valid(unlocated, arrays):
    info = store.validate(unlocated)
    assert info["space"] is None and info["has_location"] is False
    assert info["regions"] == {"FFA-1": 2, "PPA": 3}
    with store.open_store(unlocated) as s:
        assert not s.has_location
        np.testing.assert_array_equal(s.region_voxels("PPA"), [3, 4, 5])
        assert store.load_split(s, "test").betas.shape == (2, 7)


@pytest.mark.parametrize("attribute, key", [("vertex", "voxel/vertex"), ("ijk", "voxel/ijk"), ("space", "voxel/ijk")])
def test_store_without_locations_says_so(unlocated, attribute, key):
    with store.open_store(unlocated) as s, pytest.raises(StoreError) as caught:
        getattr(s, attribute)
    message = str(caught.value)
    assert message.startswith(f"{unlocated} [{key}]: missing: this store has no voxel locations")
    assert "dataset 'test'" in message and caught.value.key == key


def test_surface_and_volume_locations(path, tmp_path, arrays):
    with store.open_store(path) as s:
        assert s.has_location and s.ijk is None and s.info()["has_location"]
        np.testing.assert_array_equal(s.vertex, arrays["vertex"])
    ijk = np.stack([np.arange(7), np.zeros(7, int), np.ones(7, int)], axis=1)
    volume = {k: v for k, v in arrays.items() if k != "vertex"}
    volume_path = store.write(tmp_path / "vol.h5", ijk=ijk, volume_shape=(7, 1, 2), **{**volume, "space": "func1pt8mm"})
    with store.open_store(volume_path) as s:
        assert s.has_location and s.vertex is None and s.space == "func1pt8mm"
        np.testing.assert_array_equal(s.ijk, ijk)


def test_location_arguments_are_checked(tmp_path, arrays):
    base = {k: v for k, v in arrays.items() if k not in ("vertex", "space")}
    with pytest.raises(ValueError, match="space='fsaverage5' needs voxel locations"):
        store.write(tmp_path / "a.h5", space="fsaverage5", **base)
    with pytest.raises(ValueError, match="space must name the surface"):
        store.write(tmp_path / "b.h5", vertex=arrays["vertex"], **base)
    with pytest.raises(ValueError, match="at most one of vertex"):
        store.write(tmp_path / "c.h5", vertex=arrays["vertex"], ijk=np.zeros((7, 3), int), space="x", **base)
    assert list(tmp_path.iterdir()) == []


def test_location_without_space_is_named(path):
    with h5py.File(path, "a") as f:
        del f["voxel/vertex"].attrs["space"]
    with pytest.raises(StoreError, match=r"\[voxel/vertex\]: needs attribute space"):
        store.validate(path)


# ---- bad input ------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        store.open_store(tmp_path / "nope.h5")


def test_not_hdf5(tmp_path):
    bad = tmp_path / "text.h5"
    bad.write_text("hello")
    with pytest.raises(StoreError, match="text.h5.*not an HDF5 file"):
        store.validate(bad)


def test_truncated_file(tmp_path, arrays):
    path = store.write(tmp_path / "full.h5", **arrays)
    data = path.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match="cut.h5.*truncated or corrupt"):
        store.validate(cut)


def _damage(path, key, data=None, attr=None):
    with h5py.File(path, "a") as f:
        if attr is not None:
            del f.attrs[attr]
            return
        del f[key]
        if data is not None:
            f[key] = data


@pytest.mark.parametrize(
    "key, data, message",
    [
        ("trial_image", None, r"\[trial_image\]: missing"),
        ("betas", np.zeros((36,), np.float32), r"\[betas\]: must be 2-D"),
        ("betas", np.zeros((36, 7), np.int32), r"\[betas\]: must be float16 or float32; found int32"),
        ("trial_image", np.arange(35), r"\[trial_image\]: must have shape \(36,\); found \(35,\)"),
        ("trial_image", np.full(36, 12), r"\[trial_image\]: trial 0 shows image 12, outside 0..11"),
        ("trial_image", np.zeros(36, np.float32), r"\[trial_image\]: must be integer; found dtype float32"),
        ("split", np.full(12, 5, np.int8), r"\[split\]: image 0 has split 5"),
        ("images", np.zeros((12, 8, 8), np.uint8), r"\[images\]: must be \(n_images, H, W, 3\) uint8"),
        ("voxel/vertex", np.full(7, 20484), r"\[voxel/vertex\]: voxel 0 sits at vertex 20484, outside 0..20483 of fsaverage5"),
        ("voxel/ncsnr", np.full(7, np.nan, np.float32), r"\[voxel/ncsnr\]: voxel 0 has ncsnr nan"),
    ],
)
def test_bad_content_is_named(path, key, data, message):
    if key == "voxel/vertex":
        with h5py.File(path, "a") as f:
            del f[key]
            f[key] = data
            f[key].attrs["space"] = "fsaverage5"
    else:
        _damage(path, key, data)
    with pytest.raises(StoreError, match=message):
        store.validate(path)
    with pytest.raises(StoreError, match=message):
        store.open_store(path)


def test_bad_roi_label(path):
    with h5py.File(path, "a") as f:
        f["voxel/roi"][3] = 9
    with pytest.raises(StoreError, match=r"\[voxel/roi\]: voxel 3 has label 9; roi_names has 3 entries"):
        store.validate(path)


def test_missing_version_attribute(path):
    _damage(path, None, attr="version")
    with pytest.raises(StoreError, match="missing attribute 'version'"):
        store.validate(path)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_betas(path, value):
    with h5py.File(path, "a") as f:
        f["betas"][17, 4] = value
    with pytest.raises(StoreError, match=rf"\[betas\]: trial 17, voxel 4 is {value}"):
        store.validate(path)
    # opening checks the schema only; the full scan belongs to validate
    store.open_store(path).close()



@pytest.fixture(scope="module")
def long_store(tmp_path_factory):
    """A valid store of 2,604 trials (12 images × 217 repeats) and 7 voxels: more trials than
    validate scans at once (2,048), so a second, shorter block follows the first."""
    return store.write(tmp_path_factory.mktemp("long") / "long.h5", **_arrays(repeats=217))


def test_validate_scans_every_block_of_trials(long_store):
    scanned = []
    info = store.validate(long_store, progress=scanned.append)
    assert info["n_trials"] == 2604
    assert scanned == [2048, 556]


@pytest.mark.parametrize(("trial", "first", "last"), [(2500, 2048, 2603), (2047, 0, 2047), (2048, 2048, 2603), (2603, 2048, 2603)])
def test_non_finite_beta_past_the_first_block_is_named_by_its_trial(tmp_path, long_store, trial, first, last):
    path = tmp_path / "nan.h5"
    path.write_bytes(long_store.read_bytes())
    with h5py.File(path, "a") as f:
        f["betas"][trial, 3] = np.nan
    message = rf"\[betas\]: trial {trial}, voxel 3 is nan \(not finite; 1 such values in trials {first}\.\.{last}\)"
    with pytest.raises(StoreError, match=message):
        store.validate(path)

def test_index_out_of_range(path):
    with store.open_store(path) as s:
        with pytest.raises(IndexError, match=r"\[images\]: index 12 out of range 0..11"):
            s.images_at([0, 12])
        with pytest.raises(IndexError, match=r"\[betas\]: index -1 out of range"):
            s.betas_at([-1])


def test_write_rejects_bad_arrays(tmp_path, arrays):
    with pytest.raises(ValueError, match=r"images must be \(n, H, W, 3\) uint8"):
        store.write(tmp_path / "x.h5", **{**arrays, "images": arrays["images"].astype(np.float32)})
    with pytest.raises(StoreError, match="trial 0 shows image"):
        store.write(tmp_path / "y.h5", **{**arrays, "trial_image": arrays["trial_image"] + 100})
    assert not (tmp_path / "y.h5").exists()


# ---- fine classes ----------------------------------------------------------------------------------

FINE_NAMES = ["object/car", "object/mug", "place/beach"]


@pytest.fixture
def fine(tmp_path, arrays):
    fine_class = np.arange(12) % 3
    return store.write(tmp_path / "fine.h5", fine_class=fine_class, fine_class_names=FINE_NAMES, **arrays)


def test_fine_classes_round_trip(fine, path):
    info = store.validate(fine)
    assert info["has_fine_classes"] is True
    with store.open_store(fine) as s:
        fine_class, names = s.fine_classes
        assert names == FINE_NAMES and fine_class.dtype == np.int64
        np.testing.assert_array_equal(fine_class, np.arange(12) % 3)
    with store.open_store(path) as s:
        assert s.fine_classes is None and s.info()["has_fine_classes"] is False


def test_fine_classes_need_names_and_images(tmp_path, arrays):
    with pytest.raises(ValueError, match="fine_class_names is required with fine_class"):
        store.write(tmp_path / "a.h5", fine_class=np.zeros(12, int), **arrays)
    fmri = {k: v for k, v in arrays.items() if k not in ("images", "trial_image", "split", "captions")}
    with pytest.raises(ValueError, match="fine_class given without images"):
        store.write(tmp_path / "b.h5", fine_class=np.zeros(12, int), fine_class_names=FINE_NAMES, **fmri)
    with store.StoreWriter(tmp_path / "c.h5", n_voxels=7, dataset="t", subject="1", kind="fmri-only") as writer:
        with pytest.raises(ValueError, match="a fmri-only store has no fine_class"):
            writer.set_fine_classes(np.zeros(12, int), FINE_NAMES)
        writer.append_trials(arrays["betas"], arrays["trial_session"])
        writer.set_voxels(roi=arrays["roi"], roi_names=arrays["roi_names"])
    with h5py.File(tmp_path / "c.h5", "a") as f:
        f["fine_class"] = np.zeros(12, np.int64)
    with pytest.raises(StoreError, match=r"\[fine_class\]: present in a fmri-only store"):
        store.validate(tmp_path / "c.h5")
    assert not (tmp_path / "a.h5").exists() and not (tmp_path / "b.h5").exists()


@pytest.mark.parametrize(
    "data, names, message",
    [
        (np.zeros(11, np.int64), FINE_NAMES, r"\[fine_class\]: must have shape \(12,\); found \(11,\)"),
        (np.zeros(12, np.float32), FINE_NAMES, r"\[fine_class\]: must be integer; found dtype float32"),
        (np.full(12, 3), FINE_NAMES, r"\[fine_class\]: image 0 has fine class 3; fine_class_names has 3 entries \(0..2\)"),
        (np.r_[np.zeros(5, int), -1, np.zeros(6, int)], FINE_NAMES, r"\[fine_class\]: image 5 has fine class -1"),
        (np.zeros(12, np.int64), None, r"\[fine_class\]: needs attribute fine_class_names"),
    ],
)
def test_bad_fine_classes_are_named(fine, data, names, message):
    with h5py.File(fine, "a") as f:
        del f["fine_class"]
        f["fine_class"] = data
        if names is not None:
            f["fine_class"].attrs["fine_class_names"] = names
    with pytest.raises(StoreError, match=message):
        store.validate(fine)
    with pytest.raises(StoreError, match=message):
        store.open_store(fine)


def test_write_checks_fine_classes_before_the_file_appears(tmp_path, arrays):
    with pytest.raises(StoreError, match=r"\[fine_class\]: image 2 has fine class 7"):
        store.write(tmp_path / "x.h5", fine_class=np.array([0, 1, 7] + [0] * 9), fine_class_names=FINE_NAMES, **arrays)
    assert list(tmp_path.iterdir()) == []


# ---- helpers -----------------------------------------------------------------------------------


def test_zscore_sessions():
    rng = np.random.default_rng(1)
    sessions = np.repeat([0, 1], 50)
    betas = rng.normal(size=(100, 4)) * 3 + np.repeat([[10.0], [-5.0]], 50, axis=0)
    z = store.zscore_sessions(betas, sessions)
    for s in (0, 1):
        np.testing.assert_allclose(z[sessions == s].mean(0), 0, atol=1e-5)
        np.testing.assert_allclose(z[sessions == s].std(0), 1, atol=1e-5)
    with pytest.raises(ValueError, match=r"sessions must be \(100,\)"):
        store.zscore_sessions(betas, sessions[:10])


def test_average_repeats():
    betas = np.array([[1.0], [2.0], [3.0], [5.0]])
    images, mean, counts = store.average_repeats(betas, np.array([4, 1, 4, 4]))
    np.testing.assert_array_equal(images, [1, 4])
    np.testing.assert_allclose(mean[:, 0], [2.0, 3.0])
    np.testing.assert_array_equal(counts, [1, 3])


def test_load_split(path, arrays):
    with store.open_store(path) as s:
        test = store.load_split(s, "test")
        np.testing.assert_array_equal(test.image_index, [0, 1])
        np.testing.assert_array_equal(test.n_repeats, [3, 3])
        expected = arrays["betas"][arrays["trial_image"] == 1].mean(0)
        np.testing.assert_allclose(test.betas[1], expected, atol=1e-6)
        trials = store.load_split(s, "train", voxels="PPA", average=False)
        assert trials.betas.shape == (27, 3)
        assert set(trials.image_index) == set(range(3, 12))
        with pytest.raises(ValueError, match="split must be one of"):
            store.load_split(s, "testing")


def test_load_split_zscores_unzscored_store(tmp_path, arrays):
    arrays = dict(arrays)
    arrays["betas"] = arrays["betas"] * 4 + arrays["trial_session"][:, None] * 100.0
    path = store.write(tmp_path / "raw.h5", zscored=False, beta_dtype="float32", **arrays)
    with store.open_store(path) as s:
        train = store.load_split(s, "train", average=False)
        expected = store.zscore_sessions(arrays["betas"], arrays["trial_session"])
        rows = np.isin(arrays["trial_image"], np.arange(3, 12))
        np.testing.assert_allclose(train.betas, expected[rows], atol=1e-5)


def test_missing_split_images(tmp_path, arrays):
    path = store.write(tmp_path / "nosplit.h5", **{**arrays, "split": np.zeros(12, np.int8)})
    with store.open_store(path) as s, pytest.raises(StoreError, match=r"\[split\]: has no 'test' images"):
        store.load_split(s, "test")


def test_list_and_dict_attributes_come_back_decoded(tmp_path, arrays):
    """Attributes given as lists or dicts are returned as such; plain strings stay strings, even JSON-like ones."""
    extra = {
        "session_folders": ["CSI1_sess01", "CSI1_sess02"],
        "source_files": {"betas": ["a.npy", "b.npy"], "images": "img_dict.npy"},
        "area_voxels": {"V1": 7, "V2": 6},
        "unused_keys": [],
        "mask": "[not a list]",
        "label": '["looks", "like", "JSON"]',
        "frames": 1200,
        "averaged": True,
    }
    path = store.write(tmp_path / "s.h5", extra_attrs=extra, **arrays)
    with store.open_store(path) as s:
        attrs = s.attrs
        for key, value in extra.items():
            assert attrs[key] == value and type(attrs[key]) is type(value), key
        assert list(attrs["session_folders"]) == ["CSI1_sess01", "CSI1_sess02"]
        assert store.JSON_ATTRS not in attrs  # the record of which attributes are JSON is not one of them
        info = s.info()
        assert info["source_files"]["betas"] == ["a.npy", "b.npy"] and info["label"] == extra["label"]


def test_attributes_of_older_stores_are_decoded(tmp_path, arrays):
    """Stores written before the record of JSON attributes: list and dict text is decoded, other text kept."""
    path = store.write(tmp_path / "s.h5", **arrays)
    with h5py.File(path, "r+") as f:
        del f.attrs[store.JSON_ATTRS]
        f.attrs["session_folders"] = '["CSI1_sess01", "CSI1_sess02"]'
        f.attrs["source_files"] = '{"voxels": "a.npz"}'
        f.attrs["mask"] = "[not JSON"
        f.attrs["number_text"] = "12"
    with store.open_store(path) as s:
        attrs = s.attrs
        assert attrs["session_folders"] == ["CSI1_sess01", "CSI1_sess02"] and attrs["source_files"] == {"voxels": "a.npz"}
        assert attrs["mask"] == "[not JSON" and attrs["number_text"] == "12"


def test_bad_json_attribute_is_named(tmp_path, arrays):
    path = store.write(tmp_path / "s.h5", extra_attrs={"source_files": {"a": "b"}}, **arrays)
    with h5py.File(path, "r+") as f:
        f.attrs["source_files"] = "{broken"
    with store.open_store(path) as s, pytest.raises(StoreError, match=r"\[source_files\]: .*JSON.*'\{broken'"):
        _ = s.attrs
    with pytest.raises(ValueError, match=rf"'{store.JSON_ATTRS}' is the store's own attribute"):
        store.write(tmp_path / "t.h5", extra_attrs={store.JSON_ATTRS: "[]"}, **arrays)

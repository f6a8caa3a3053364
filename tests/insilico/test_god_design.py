"""The GOD-like design of the in-silico subject: test classes unseen in training, test images repeated and shared."""

import numpy as np
import pytest

from brainlens import store
from brainlens.cli import main
from brainlens.insilico import stimuli
from brainlens.insilico.brain import GOD_TEST_CLASSES, InSilicoSubject


@pytest.fixture(scope="module")
def god():
    return InSilicoSubject(1).simulate_god(n_train=80, n_val=8, n_test=20, test_repeats=5, trials_per_session=100)


def test_test_classes_never_appear_in_training(god):
    fine, split = god.stimuli.fine_class, god.split
    assert np.bincount(split).tolist() == [80, 8, 20]
    assert set(fine[split == 2]) <= set(GOD_TEST_CLASSES)
    assert not set(fine[split != 2]) & set(GOD_TEST_CLASSES)
    # a quarter of the classes, every category among them; the first test images are one of each test class
    assert len(GOD_TEST_CLASSES) == 16 and len(stimuli.FINE_CLASSES) == 63
    assert {stimuli.FINE_CLASSES[k].split("/")[0] for k in GOD_TEST_CLASSES} == set(stimuli.CATEGORIES)
    assert sorted(fine[split == 2][:16]) == list(GOD_TEST_CLASSES)


def test_trials_repeat_the_test_images_only(god):
    counts = np.bincount(god.trial_image, minlength=god.split.size)
    assert (counts[god.split == 2] == 5).all() and (counts[god.split != 2] == 1).all()
    assert god.betas.shape == (80 + 8 + 20 * 5, InSilicoSubject(1).n_voxels)
    assert (god.split[god.trial_image[:88]] != 2).all()  # training and validation sessions come first
    assert np.isfinite(god.betas).all() and god.design == "god"


def test_test_images_are_shared_and_training_images_are_each_subjects_own(god):
    other = InSilicoSubject(2).simulate_god(n_train=80, n_val=8, n_test=20, test_repeats=5, trials_per_session=100)
    assert np.array_equal(other.stimuli.images[:20], god.stimuli.images[:20])
    assert not np.array_equal(other.stimuli.images[20:30], god.stimuli.images[20:30])


def test_cli_writes_a_god_like_store(tmp_path, capsys):
    path = tmp_path / "god.h5"
    assert main(["--quiet", "simulate", "--design", "god", "--n-images", "40", "--out", str(path)]) == 0
    assert "140 images, 1840 trials" in capsys.readouterr().out
    info = store.validate(path)
    assert info["split_images"] == {"train": 40, "val": 50, "test": 50}
    assert info["repeats_per_image"]["max"] == 35
    with store.open_store(path) as opened:
        assert opened.attrs["design"] == "god"
    assert main(["--quiet", "simulate", "--design", "god", "--fmri-only", "--out", str(tmp_path / "x.h5")]) == 1
    assert "does not combine with --design god" in capsys.readouterr().err

"""The BOLD5000-like design of the in-silico subject: shared images, the test images repeated, the rest shown once."""

import numpy as np
import pytest

from brainlens import store
from brainlens.cli import main
from brainlens.insilico.brain import InSilicoSubject


@pytest.fixture(scope="module")
def bold5000():
    return InSilicoSubject(1).simulate_bold5000(n_images=120, n_val=10, n_test=12, test_repeats=4, trials_per_session=37)


def test_only_the_test_images_repeat(bold5000):
    assert np.bincount(bold5000.split).tolist() == [98, 10, 12]
    counts = np.bincount(bold5000.trial_image, minlength=bold5000.split.size)
    assert (counts[bold5000.split == 2] == 4).all() and (counts[bold5000.split != 2] == 1).all()
    assert bold5000.betas.shape == (98 + 10 + 12 * 4, InSilicoSubject(1).n_voxels)
    assert bold5000.trial_session.max() == (len(bold5000.trial_image) - 1) // 37
    assert np.isfinite(bold5000.betas).all() and bold5000.design == "bold5000"


def test_repeats_are_spread_over_the_sessions(bold5000):
    test_trials = np.flatnonzero(bold5000.split[bold5000.trial_image] == 2)
    assert len(np.unique(bold5000.trial_session[test_trials])) >= 3  # not all in one block, as GOD's test sessions


def test_every_subject_sees_the_same_images_with_its_own_noise(bold5000):
    other = InSilicoSubject(2).simulate_bold5000(n_images=120, n_val=10, n_test=12, test_repeats=4, trials_per_session=37)
    assert np.array_equal(other.stimuli.images, bold5000.stimuli.images)
    assert not np.array_equal(other.trial_image, bold5000.trial_image)
    # the test classes are not held out: the training images hold classes that the test images show
    train_classes = set(bold5000.stimuli.fine_class[bold5000.split == 0])
    assert set(bold5000.stimuli.fine_class[bold5000.split == 2]) & train_classes


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_images=20, n_val=10, n_test=10), "leave no training images"),
    (dict(test_repeats=0), "test_repeats must be an integer of at least 1"),
    (dict(n_test=1.5), "n_test must be an integer"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        InSilicoSubject(1).simulate_bold5000(**kwargs)


def test_cli_writes_a_bold5000_like_store(tmp_path, capsys):
    path = tmp_path / "bold5000.h5"
    assert main(["--quiet", "simulate", "--design", "bold5000", "--n-images", "300", "--out", str(path)]) == 0
    assert "300 images, 639 trials" in capsys.readouterr().out  # 113 × 4 + 187
    info = store.validate(path)
    assert info["split_images"] == {"train": 87, "val": 100, "test": 113}
    assert info["repeats_per_image"]["max"] == 4
    with store.open_store(path) as opened:
        assert opened.attrs["design"] == "bold5000"
        assert int(opened.trial_session.max()) == 1  # sessions of 370 trials by default
    assert main(["--quiet", "simulate", "--design", "bold5000", "--fmri-only", "--out", str(tmp_path / "x.h5")]) == 1
    assert "does not combine with --design bold5000" in capsys.readouterr().err

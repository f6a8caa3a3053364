import pytest

from brainlens.insilico.brain import InSilicoSubject


def _simulated(folder, subject: int, n_images: int, trials_per_session: int):
    """In-silico subject ``subject``'s store ``sub{subject}.h5`` in ``folder``: 3 repeats per image, z-scored."""
    path = folder / f"sub{subject}.h5"
    simulated = InSilicoSubject(subject)
    simulated.write_store(simulated.simulate(n_images, trials_per_session=trials_per_session), path)
    return path


@pytest.fixture(scope="package")
def small_store(tmp_path_factory):
    """Subject 2 with 150 images (15 test, 7 validation, 128 train), 3 repeats in sessions of 150 trials."""
    return _simulated(tmp_path_factory.mktemp("decoding"), 2, 150, 150)


@pytest.fixture(scope="package")
def second_store(tmp_path_factory):
    """Subject 3 with 120 images, sessions of 90 trials: another voxel count, for several subjects at once."""
    return _simulated(tmp_path_factory.mktemp("second"), 3, 120, 90)


@pytest.fixture(scope="package")
def fmri_only_store(tmp_path_factory):
    """Subject 4's responses to 100 images as an fMRI-only store (the 10 test images' trials left out)."""
    path = tmp_path_factory.mktemp("fmri") / "sub4.h5"
    subject = InSilicoSubject(4)
    subject.write_store(subject.simulate(100, trials_per_session=100), path, fmri_only=True)
    return path

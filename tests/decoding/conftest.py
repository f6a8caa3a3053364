import pytest

from brainlens.insilico.brain import InSilicoSubject


@pytest.fixture(scope="package")
def small_store(tmp_path_factory):
    """An in-silico subject with 150 images (15 test, 7 validation, 128 train), 3 repeats each, z-scored."""
    path = tmp_path_factory.mktemp("decoding") / "sub2.h5"
    subject = InSilicoSubject(2)
    subject.write_store(subject.simulate(150, trials_per_session=150), path)
    return path

import pytest

from brainlens.cli import main


@pytest.fixture(scope="package")
def simulated(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "sub2.h5"
    assert main(["--quiet", "simulate", "--subject", "2", "--n-images", "60", "--out", str(path), "--trials-per-session", "60"]) == 0
    return path

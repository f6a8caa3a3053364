import numpy as np

from brainlens.cli import main
from brainlens.cli._progress import _Bars
from brainlens.encoding.ridge import VoxelRidge


def test_progress_in_a_log_file_is_plain_lines(tmp_path, capsys):
    # under pytest stderr is captured, not a terminal: what a user's log file receives
    path = tmp_path / "sub.h5"
    assert main(["simulate", "--n-images", "40", "--out", str(path), "--trials-per-session", "40"]) == 0
    log = capsys.readouterr().err
    assert "\r" not in log and "\x1b" not in log, repr(log)
    assert "stimuli: 40/40 (100%) in" in log and "brain: 40/40 (100%) in" in log


def test_ridge_bar_ends_at_the_number_of_voxels(capsys):
    # the ridge reports after each chunk of 2,048 voxels; the bar adds what each call reports
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((12, 3)), rng.standard_normal((12, 5000))
    bars = _Bars({"ridge": 5000})
    VoxelRidge(alphas=[1.0, 10.0], cv=3).fit(X, Y, progress=bars.stage("ridge"))
    bars.close()
    assert capsys.readouterr().err.startswith("ridge: 5000/5000 (100%) in")

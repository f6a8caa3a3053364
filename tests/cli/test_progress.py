from brainlens.cli import main


def test_progress_in_a_log_file_is_plain_lines(tmp_path, capsys):
    # under pytest stderr is captured, not a terminal: what a user's log file receives
    path = tmp_path / "sub.h5"
    assert main(["simulate", "--n-images", "40", "--out", str(path), "--trials-per-session", "40"]) == 0
    log = capsys.readouterr().err
    assert "\r" not in log and "\x1b" not in log, repr(log)
    assert "stimuli: 40/40 (100%) in" in log and "brain: 40/40 (100%) in" in log

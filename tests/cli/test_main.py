import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("brainlens")  # the console script installed next to the interpreter
RUNNERS = {"script": [str(SCRIPT)], "module": [sys.executable, "-m", "brainlens.cli"]}


def _into_a_closed_pipe(command: list[str], buffered: bool) -> tuple[int, str]:
    """Run `command` with stdout into a pipe whose reader has gone, as in `brainlens info STORE | head -1`; return the
    exit status and stderr. The reader leaves before the first line: these commands print too little for the writer to
    reach a full pipe, so a reader that took a line first would leave after every line had been written.

    Buffered, Python's default, the broken pipe shows when stdout is flushed (at exit, unless the command flushes);
    unbuffered (PYTHONUNBUFFERED=1) at the first print."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    process.stdout.close()
    err = process.stderr.read().decode()
    return process.wait(timeout=300), err


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("runner", ["script", "module"])
@pytest.mark.parametrize("command", ["info", "help"])
def test_a_closed_pipe_ends_quietly(simulated, command, runner, buffered):
    if runner == "script" and not SCRIPT.is_file():
        pytest.skip(f"no console script at {SCRIPT}")
    args = ["info", str(simulated)] if command == "info" else ["--help"]
    status, err = _into_a_closed_pipe([*RUNNERS[runner], *args], buffered)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    if command == "info":
        assert status == 141, err  # 128 + SIGPIPE, as Unix tools end
    else:  # argparse drops a failed write of the help itself, so unbuffered `--help` ends 0
        assert status in (0, 141), err

"""`brainlens <command>`: one command per step. Only this package prints and draws progress bars.

One module per command group (subject, convert, zoo, encode, synthesize, demo), each adding its parsers with
`add_commands`; `_parser` builds the top-level parser from them, `_progress` holds the progress bars."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from brainlens.cli._parser import build_parser

__all__ = ["main"]

# the exit status of a command whose reader left (`brainlens info STORE | head -1`): 128 + SIGPIPE, as Unix tools end
BROKEN_PIPE_STATUS = 141


def main(argv: Sequence[str] | None = None) -> int:
    from brainlens.store import StoreError

    try:
        try:
            args = build_parser().parse_args(argv)
        finally:  # --help exits from parse_args: flush its text here, where a broken pipe is caught
            sys.stdout.flush()
        try:
            status = args.func(args)
        except (StoreError, ValueError, KeyError, FileNotFoundError, IndexError, ImportError) as err:
            message = err.args[0] if isinstance(err, KeyError) and err.args else err
            print(f"brainlens {args.command}: error: {message}", file=sys.stderr)
            status = 1
        sys.stdout.flush()  # here, not at interpreter exit, so that a broken pipe is caught below
        return status
    except BrokenPipeError:
        _drop_stdout()
        return BROKEN_PIPE_STATUS


def _drop_stdout() -> None:
    """Point stdout's file descriptor at os.devnull once its reader has left, so that what is still buffered goes
    nowhere at interpreter exit instead of raising BrokenPipeError again ("Exception ignored ...")."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # stdout replaced by an object without a file descriptor
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)

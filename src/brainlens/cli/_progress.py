"""Progress bars of the commands: tqdm bars on a terminal, plain lines in a log file."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


class _LogLines:
    """Progress of one stage for a log file (stderr is not a terminal): a plain line such as
    ``brain: 1224/2000 (61%) in 4 s`` at most every `every` seconds and one when the stage closes,
    with none of the carriage returns and cursor moves that terminal bars write."""

    def __init__(self, stage: str, total: int | None, every: float = 30.0):
        self._stage, self._total, self._every = stage, total, every
        self._count = 0
        self._started = self._last = time.perf_counter()

    def update(self, k: int) -> None:
        self._count += k
        now = time.perf_counter()
        if now - self._last >= self._every:
            self._last = now
            self._write(now)

    def close(self) -> None:
        if self._count:
            self._write(time.perf_counter())
            self._count = 0  # a second close writes nothing

    def _write(self, now: float) -> None:
        done = f"{self._count}/{self._total} ({100 * self._count / self._total:.0f}%)" if self._total else f"{self._count}"
        print(f"{self._stage}: {done} in {now - self._started:.0f} s", file=sys.stderr, flush=True)


class _Bars:
    """Progress bars keyed by stage name, fed by the library's progress callbacks: tqdm bars on a
    terminal, plain lines every 30 s in a log file."""

    def __init__(self, totals: dict[str, int] | None = None, quiet: bool = False):
        self._quiet = quiet
        self._bars: dict = {}
        for stage, total in (totals or {}).items():
            self._open(stage, total)

    def _open(self, stage: str, total: int | None):
        if self._quiet or sys.stderr.isatty():
            from tqdm import tqdm

            self._bars[stage] = tqdm(total=total, desc=stage, disable=self._quiet, leave=True, file=sys.stderr)
        else:
            self._bars[stage] = _LogLines(stage, total)
        return self._bars[stage]

    def __call__(self, stage: str, k: int) -> None:
        # stages whose size the library only learns as it goes get a bar without a total
        bar = self._bars[stage] if stage in self._bars else self._open(stage, None)
        bar.update(k)

    def stage(self, name: str) -> Callable[[int], None]:
        return lambda k: self(name, k)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()

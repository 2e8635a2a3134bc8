"""Progress for long work: a live one-line status on a terminal, silent in cron logs."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class StatusLine:
    """Rewrites one line on a TTY (``\\r``); does nothing when the stream is not a terminal."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._width = 0
        self._started = time.perf_counter()

    def update(self, text: str) -> None:
        """Show ``text`` (with the elapsed time) in place of the previous status."""
        if not self.enabled:
            return
        line = f"{text}  [{time.perf_counter() - self._started:.0f} s]"
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)

    def clear(self) -> None:
        """Erase the status so a normal line can be printed."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    def stage_callback(self, prefix: str):  # type: ignore[no-untyped-def]
        """A ``run_cycle(on_stage=...)`` callback showing ``prefix · stage (i/n)``."""

        def show(stage: str, index: int, total: int) -> None:
            self.update(f"{prefix} · {stage} ({index}/{total})")

        return show

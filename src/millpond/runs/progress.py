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

    def rows_callback(self, verb: str = "scored"):  # type: ignore[no-untyped-def]
        """A ``score_file(on_progress=...)`` callback showing ``scored N of M rows (P%)`` (or ``scored N rows``)."""

        def show(done: int, total: int | None) -> None:
            self.update(rows_progress(verb, done, total))

        return show


def rows_progress(verb: str, done: int, total: int | None) -> str:
    """``scored 1,500 of 3,000 rows (50%)``; without a total ``scored 1,500 rows``."""
    if not total:
        return f"{verb} {done:,} rows"
    return f"{verb} {done:,} of {total:,} rows ({100 * done / total:.0f}%)"


class PeriodicLines:
    """Prints a progress line at most every ``every`` seconds: for output nobody watches live (a kernel, a cron log)."""

    def __init__(self, label: str, *, every: float = 15.0, stream: TextIO | None = None) -> None:
        self.label = label
        self.every = every
        self.stream = stream or sys.stdout
        self._started = self._last = time.perf_counter()

    def rows_callback(self, verb: str):  # type: ignore[no-untyped-def]
        """A ``(done, total)`` callback printing ``label: verb N of M rows (P%) [T s]`` now and then."""

        def show(done: int, total: int | None) -> None:
            now = time.perf_counter()
            if now - self._last < self.every:
                return
            self._last = now
            print(
                f"{self.label}: {rows_progress(verb, done, total)}  [{now - self._started:.0f} s]",
                file=self.stream,
                flush=True,
            )

        return show


def rows_reporter(label: str, verb: str, *, every: float = 15.0):  # type: ignore[no-untyped-def]
    """A live status line on a terminal, else a line every ``every`` seconds on stdout; returns ``(callback, finish)``."""
    status = StatusLine()
    if status.enabled:
        return status.rows_callback(verb), status.clear
    return PeriodicLines(label, every=every).rows_callback(verb), lambda: None

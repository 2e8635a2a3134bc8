"""How the command line writes: errors in millpond's words or as JSON, ``--json`` for every command, quiet pipes.

- :func:`report_error`: ``error: …`` (and a hint) on stderr, or under ``--json`` one object
  ``{"error": …, "exit_code": …, "hint": …}`` on stdout; the exit code is the same either way.
- :func:`json_output`: under ``--json`` a command's stdout is collected; a command that printed one JSON
  document has it passed through unchanged, any other output is wrapped as ``{"exit_code": …, "output": [lines]}``,
  so every command (also ones added later) prints exactly one JSON document.
- :class:`PipeSafe`: ``millpond runs list | head`` stops quietly when ``head`` closes the pipe; the command's work
  goes on (a cycle is never cut short by its reader), only its output is dropped.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections.abc import Iterator
from typing import IO, Any

from millpond.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTEGRITY,
    EXIT_LOCKED,
    EXIT_NOTHING_DUE,
    EXIT_OK,
    exit_code_of,
)

EXIT_CODES = (
    (EXIT_OK, "done"),
    (EXIT_FAILED, "a stage or check failed (its run is recorded: millpond runs show RUN)"),
    (EXIT_BAD_INPUT, "bad input: parameters, names, ids, options (nothing was changed)"),
    (EXIT_INTEGRITY, "a stored record failed verification (millpond verify names each file)"),
    (EXIT_NOTHING_DUE, "nothing due (cycle --next: every window with data has completed)"),
    (EXIT_LOCKED, "locked: another cycle or stage run of the use case is running (the holder is named)"),
)
"""The exit codes every command returns, as ``millpond --help`` lists them."""

_HINTS = {
    EXIT_FAILED: "see the failed run: `millpond runs list --status failed`, then `millpond runs show RUN`",
    EXIT_BAD_INPUT: "fix the input the message names; `millpond COMMAND --help` lists the options",
    EXIT_INTEGRITY: "`millpond verify` names every altered file; nothing is repaired automatically",
    EXIT_NOTHING_DUE: "nothing to do: every window with data has completed",
    EXIT_LOCKED: "wait for the process named in the message to finish, then run this again",
}


def hint_of(exc: BaseException) -> str:
    """What to do about an error: its own ``hint`` when it has one, else the usual fix for its exit code."""
    own = getattr(exc, "hint", None)
    return str(own) if own else _HINTS.get(exit_code_of(exc), "")


def error_object(exc: BaseException) -> dict[str, Any]:
    """The JSON form of an error: ``{"error", "exit_code", "hint"}`` (credentials masked, as on stderr)."""
    from millpond.config.secrets import redact_text  # stdlib only: cheap even on the early-refusal path

    return {"error": redact_text(str(exc)), "exit_code": exit_code_of(exc), "hint": hint_of(exc)}


def report_error(exc: BaseException, *, as_json: bool) -> int:
    """Print ``exc`` for a person (stderr) or, with ``as_json``, as a JSON object on stdout; return its exit code."""
    if as_json:
        print(json.dumps(error_object(exc), indent=2, sort_keys=True))
    else:
        from millpond.config.secrets import redact_text

        print(f"error: {redact_text(str(exc))}", file=sys.stderr)  # terminals and cron logs never see a credential
        hint = getattr(exc, "hint", None)
        if hint:
            print(f"hint: {hint}", file=sys.stderr)
    return exit_code_of(exc)


@contextlib.contextmanager
def json_output(enabled: bool) -> Iterator[list[int]]:
    """Under ``--json``, collect stdout and print it as one JSON document on exit.

    Yields a one-item list the caller sets to the command's exit code (for the wrapped form). An error leaving
    the block drops what was collected: the caller prints the error object instead.
    """
    code = [EXIT_OK]
    if not enabled:
        yield code
        return
    collected = io.StringIO()
    with contextlib.redirect_stdout(collected):
        yield code
    text = collected.getvalue()
    try:
        json.loads(text)
    except ValueError:
        text = json.dumps({"exit_code": code[0], "output": text.splitlines()}, indent=2, sort_keys=True)
    print(text.rstrip("\n"))


class PipeSafe(io.TextIOBase):
    """A text stream that turns a closed pipe into silence: writes after the reader left are dropped."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__()
        self.stream = stream
        self.reader_gone = False

    def _gone(self) -> None:
        self.reader_gone = True
        with contextlib.suppress(OSError, ValueError):  # later flushes (at exit too) go nowhere, quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                self.stream.write(text)
            except BrokenPipeError:
                self._gone()
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._gone()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", "utf-8")

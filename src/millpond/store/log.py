"""The one append-only JSON-lines log type under every log millpond keeps.

Each entry is one line of key-sorted JSON, appended under a file lock and
flushed to disk before :meth:`JsonLinesLog.append` returns. A process killed
mid-append can leave a torn last line: readers skip it, and the next append
cuts it off before writing, so a crash never makes a log unreadable. A line
that does not parse *before* the last one is not a crash: it is reported
(:class:`~millpond.errors.LogIntegrityError`, or a problem in :meth:`verify`).

With ``chain=True`` every entry also holds ``seq`` (1, 2, …) and ``prev``, the
sha256 of the previous line's bytes (64 zeros for the first), and a head file
(replaced atomically after each append) holds the count and the hash of the
last line, so editing, deleting, reordering or truncating lines is found.

``legacy=True`` (with ``chain``) lets a log that an older millpond wrote without hashes become chained: the
unchained lines before the first chained one are accepted, the first chained entry's ``prev`` is the sha256 of
all of them (so editing one afterwards is still found), and :meth:`JsonLinesLog.verify` says how many there are.
An unchained line *after* a chained one is a problem.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from filelock import FileLock

from millpond.errors import LogIntegrityError
from millpond.store.artifacts import note_written
from millpond.store.files import atomic_write_json, read_json, writes_to
from millpond.store.verify import VerifyReport

GENESIS = "0" * 64
_TAIL_BLOCK = 1 << 16
log = logging.getLogger(__name__)


def line_sha256(line: bytes) -> str:
    """The hash a chained entry's ``prev`` holds for the line before it (its bytes, newline included)."""
    return hashlib.sha256(line).hexdigest()


def encode(entry: dict[str, Any]) -> bytes:
    """One log line: key-sorted JSON and a newline."""
    return (json.dumps(entry, sort_keys=True, default=str) + "\n").encode("utf-8")


def _last_newline_before(handle: BinaryIO, end: int) -> int:
    """Offset of the last b"\\n" in the file before ``end``, or -1 when there is none."""
    while end > 0:
        start = max(0, end - _TAIL_BLOCK)
        handle.seek(start)
        found = handle.read(end - start).rfind(b"\n")
        if found >= 0:
            return start + found
        end = start
    return -1


def _unchained(line: bytes) -> bool:
    """Whether a line carries no chain fields: an entry written before the log was chained (or a fragment of a
    torn line that an older millpond kept as a line of its own)."""
    try:
        entry = json.loads(line)
    except ValueError:
        return True
    return not isinstance(entry, dict) or ("seq" not in entry and "prev" not in entry)


class JsonLinesLog:
    """An append-only JSON-lines file, optionally hash-chained with a head file beside it."""

    def __init__(
        self,
        path: Path,
        *,
        chain: bool = False,
        head: Path | None = None,
        lock_timeout: float = 30,
        legacy: bool = False,
    ) -> None:
        self.path = Path(path)
        self.chain = chain
        self.legacy = legacy
        self.head = head if head is not None else self.path.with_suffix(".head")
        self.lock_timeout = lock_timeout

    # --- writing ---------------------------------------------------------------------------------------------
    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Append one entry (chained to the last one when ``chain``); return it as written."""
        with writes_to(self.path, "append to the log"):
            return self._append(entry)

    def _append(self, entry: dict[str, Any]) -> dict[str, Any]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path) + ".lock", timeout=self.lock_timeout):
            last = self._cut_torn_tail()
            if self.chain:
                seq, prev = self._chain_state(last)
                entry = {"seq": seq + 1, "prev": prev, **entry}
            line = encode(entry)
            with open(self.path, "ab") as handle:
                offset = handle.tell()  # append mode starts at the end: where this line begins
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
            if self.chain:
                atomic_write_json(self.head, {"entries": int(entry["seq"]), "sha256": line_sha256(line)})
        note_written("log_entry", self.path, line_sha256(line), offset=offset)  # into the open run's outputs
        return entry

    def _cut_torn_tail(self) -> bytes | None:
        """Drop a torn last line (a killed append) and return the last whole line, or None for an empty log."""
        if not self.path.exists():
            return None
        with open(self.path, "rb+") as handle:
            size = handle.seek(0, os.SEEK_END)
            end = _last_newline_before(handle, size) + 1  # just past the last whole line
            if end < size:
                log.warning(
                    "%s: dropping a torn last line (%d bytes) left by an interrupted append", self.path, size - end
                )
                handle.truncate(end)
                handle.flush()
                os.fsync(handle.fileno())
            if end == 0:
                return None
            start = _last_newline_before(handle, end - 1) + 1
            handle.seek(start)
            return handle.read(end - start)

    def _chain_state(self, last: bytes | None) -> tuple[int, str]:
        """(seq, sha256) of the last whole line: what the next entry chains to."""
        if last is None:
            return 0, GENESIS
        try:
            seq = int(json.loads(last)["seq"])
        except (ValueError, KeyError, TypeError) as exc:
            lines = self.lines() if self.legacy else []
            if lines and self._legacy_prefix(lines) == len(lines):  # the first chained entry of an older log
                return len(lines), line_sha256(b"".join(lines))
            raise LogIntegrityError(
                f"The last line of {self.path} has no sequence number; the log was edited. "
                "Run `millpond audit verify` and restore the log from a backup."
            ) from exc
        return seq, line_sha256(last)

    # --- reading ---------------------------------------------------------------------------------------------
    def lines(self) -> list[bytes]:
        """Every whole line's bytes (a torn last line left out)."""
        if not self.path.exists():
            return []
        lines = self.path.read_bytes().splitlines(keepends=True)
        if lines and not lines[-1].endswith(b"\n"):
            lines.pop()
        return [line for line in lines if line.strip()]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for number, line in enumerate(self.lines(), start=1):
            try:
                yield json.loads(line)
            except ValueError as exc:
                raise LogIntegrityError(
                    f"Line {number} of {self.path} is not valid JSON: the log was edited or the disk lost data. "
                    "Logs are append-only: restore it from a backup; never edit it by hand."
                ) from exc

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first."""
        return list(self)

    # --- verifying -------------------------------------------------------------------------------------------
    def verify(self) -> VerifyReport:
        """Check every line parses and, when chained, that the chain and the head match."""
        report = VerifyReport(str(self.path))
        if self.path.exists() and self.path.stat().st_size and not self.path.read_bytes().endswith(b"\n"):
            report.note(f"{self.path}: a torn last line (an interrupted append) is ignored and cut on the next append")
        lines = self.lines()
        report.checked = len(lines)
        prev = GENESIS
        unchained = self._legacy_prefix(lines) if self.chain and self.legacy else 0
        if unchained:
            prev = line_sha256(b"".join(lines[:unchained]))
            report.note(self._legacy_note(unchained, len(lines)))
        for number, line in enumerate(lines[unchained:], start=unchained + 1):
            try:
                entry = json.loads(line)
            except ValueError:
                report.add(self.path, "is not valid JSON (edited or torn)", line=number)
                prev = line_sha256(line)
                continue
            if self.chain:
                self._check_link(report, entry, number, prev)
            prev = line_sha256(line)
        if self.chain and unchained < len(lines):
            self._check_head(report, len(lines), prev)
        return report

    @staticmethod
    def _legacy_prefix(lines: list[bytes]) -> int:
        """How many lines at the start carry no chain fields (written before the log was chained)."""
        count = 0
        for line in lines:
            if not _unchained(line):
                break
            count += 1
        return count

    def _legacy_note(self, unchained: int, total: int) -> str:
        if unchained == total:
            return (
                f"{self.path}: {unchained} entries written by an older millpond without hashes; "
                "the chain starts with the next entry"
            )
        return (
            f"{self.path}: the first {unchained} entries were written by an older millpond without hashes; "
            f"entry {unchained + 1} chains to all of them together"
        )

    def _check_link(self, report: VerifyReport, entry: Any, number: int, prev: str) -> None:
        if not isinstance(entry, dict) or entry.get("prev") != prev:
            report.add(
                self.path,
                "does not chain to the line before it: that line was edited, or lines were deleted",
                line=number,
            )
        if not isinstance(entry, dict) or entry.get("seq") != number:
            seq = entry.get("seq") if isinstance(entry, dict) else None
            report.add(
                self.path, f"has sequence number {seq}, expected {number}: lines were deleted or reordered", line=number
            )

    def _check_head(self, report: VerifyReport, count: int, last_sha: str) -> None:
        if not self.head.exists():
            if count:
                report.add(self.path, f"{self.head.name} is missing", line=1)
            return
        head = read_json(self.head)
        written = int(head["entries"])
        if written == count - 1 and count:
            report.note(f"{self.head.name} lags the log by its last entry (a crash right after an append)")
        elif written != count:
            report.add(
                self.path,
                f"the log has {count} lines but {written} were written: lines were deleted or added",
                line=count + 1 if written > count else written + 1,
            )
        elif head["sha256"] != last_sha:
            report.add(self.path, "the last line differs from the one written: it was edited", line=count)

"""The audit log of one model: every promotion, rejection, approval, rollback and notification, hash-chained.

``model_store/<name>/audit.jsonl`` is append-only JSON lines. Each entry holds
``seq`` (1, 2, …) and ``prev``, the sha256 of the previous line's bytes (64
zeros for the first), so editing or deleting any line breaks the chain at the
next one. ``audit.head`` (replaced atomically after each append) holds the
count and the hash of the last line, so deleting lines at the end is found too.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock

from millpond.errors import AuditIntegrityError
from millpond.store.files import atomic_write_json, read_json

GENESIS = "0" * 64
AUDIT_FILE = "audit.jsonl"
HEAD_FILE = "audit.head"


def _sha(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


@dataclass(frozen=True)
class AuditProblem:
    """Where the chain breaks: the 1-based line number and what is wrong."""

    line: int
    problem: str


class AuditLog:
    """Append and verify the hash-chained audit log of one model."""

    def __init__(self, model_store: Path, name: str) -> None:
        self.name = name
        self.path = Path(model_store) / name / AUDIT_FILE
        self.head = Path(model_store) / name / HEAD_FILE

    def append(self, action: str, *, actor: str, reason: str = "", **fields: Any) -> dict[str, Any]:
        """Append one entry chained to the last one (flushed to disk before returning)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path) + ".lock", timeout=30):
            seq, prev = 0, GENESIS
            if self.head.exists():
                head = read_json(self.head)
                seq, prev = int(head["entries"]), str(head["sha256"])
            entry = {
                "seq": seq + 1,
                "prev": prev,
                "time": datetime.now(UTC).isoformat(timespec="microseconds"),
                "model": self.name,
                "action": action,
                "actor": actor,
                "reason": reason,
                **fields,
            }
            line = (json.dumps(entry, sort_keys=True, default=str) + "\n").encode("utf-8")
            with open(self.path, "ab") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
            atomic_write_json(self.head, {"entries": seq + 1, "sha256": _sha(line)})
        return entry

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_bytes().splitlines() if line.strip()]

    def problems(self) -> list[AuditProblem]:
        """Every place the chain is broken (empty: intact)."""
        found: list[AuditProblem] = []
        lines = self.path.read_bytes().splitlines(keepends=True) if self.path.exists() else []
        prev = GENESIS
        for number, line in enumerate(lines, start=1):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                found.append(AuditProblem(number, "is not valid JSON (edited or torn)"))
                prev = _sha(line)
                continue
            if entry.get("prev") != prev:
                found.append(
                    AuditProblem(
                        number, "does not chain to the line before it: that line was edited, or lines were deleted"
                    )
                )
            if entry.get("seq") != number:
                found.append(
                    AuditProblem(
                        number,
                        f"has sequence number {entry.get('seq')}, expected {number}: lines were deleted or reordered",
                    )
                )
            prev = _sha(line)
        if self.head.exists():
            head = read_json(self.head)
            if int(head["entries"]) != len(lines):
                found.append(
                    AuditProblem(
                        len(lines) + 1 if int(head["entries"]) > len(lines) else int(head["entries"]) + 1,
                        f"the log has {len(lines)} lines but {int(head['entries'])} were written: lines were deleted or added",
                    )
                )
            elif head["sha256"] != prev:
                found.append(AuditProblem(len(lines), "the last line differs from the one written: it was edited"))
        elif lines:
            found.append(AuditProblem(1, f"{HEAD_FILE} is missing"))
        return found

    def verify(self) -> int:
        """Raise :class:`AuditIntegrityError` naming the first broken line; return the number of entries."""
        problems = self.problems()
        if problems:
            first = problems[0]
            raise AuditIntegrityError(
                f"Audit log {self.path} line {first.line} {first.problem}. "
                + (f"{len(problems) - 1} more problem(s) follow. " if len(problems) > 1 else "")
                + "The log is append-only: restore it from a backup; never edit it by hand."
            )
        return len(self.entries())

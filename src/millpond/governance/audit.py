"""The audit log of one model: every promotion, rejection, approval, rollback and notification, hash-chained.

``model_store/<name>/audit.jsonl`` is append-only JSON lines. Each entry holds
``seq`` (1, 2, …) and ``prev``, the sha256 of the previous line's bytes (64
zeros for the first), so editing or deleting any line breaks the chain at the
next one. ``audit.head`` (replaced atomically after each append) holds the
count and the hash of the last line, so deleting lines at the end is found too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from millpond.config.secrets import redact
from millpond.errors import AuditIntegrityError
from millpond.store.log import GENESIS, JsonLinesLog
from millpond.store.verify import Problem, VerifyReport

__all__ = ["AUDIT_FILE", "GENESIS", "HEAD_FILE", "AuditLog"]

AUDIT_FILE = "audit.jsonl"
HEAD_FILE = "audit.head"


class AuditLog:
    """Append and verify the hash-chained audit log of one model (a chained :class:`JsonLinesLog`)."""

    def __init__(self, model_store: Path, name: str) -> None:
        self.name = name
        self.path = Path(model_store) / name / AUDIT_FILE
        self.head = Path(model_store) / name / HEAD_FILE
        self.log = JsonLinesLog(self.path, chain=True, head=self.head)

    def append(self, action: str, *, actor: str, reason: str = "", **fields: Any) -> dict[str, Any]:
        """Append one entry chained to the last one (flushed to disk before returning)."""
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="microseconds"),
            "model": self.name,
            "action": action,
            "actor": actor,
            "reason": reason,
            **fields,
        }
        return self.log.append(redact(entry))  # no credential (known value or pattern) is ever chained in

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first."""
        return self.log.entries()

    def report(self) -> VerifyReport:
        """Every place the chain is broken (an empty report's ``problems``: intact)."""
        return self.log.verify()

    def problems(self) -> list[Problem]:
        """The mismatches of :meth:`report` (empty: intact)."""
        return self.report().problems

    def verify(self) -> int:
        """Raise :class:`AuditIntegrityError` naming the first broken line; return the number of entries."""
        report = self.report()
        if not report.ok:
            first = report.problems[0]
            raise AuditIntegrityError(
                f"Audit log {self.path} line {first.line} {first.problem}. "
                + (f"{len(report.problems) - 1} more problem(s) follow. " if len(report.problems) > 1 else "")
                + "The log is append-only: restore it from a backup; never edit it by hand."
            )
        return report.checked

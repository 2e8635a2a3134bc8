"""The audit log of one model: every promotion, rejection, approval, rollback and notification, hash-chained.

``model_store/<name>/audit.jsonl`` is append-only JSON lines. Each entry holds
``seq`` (1, 2, …) and ``prev``, the sha256 of the previous line's bytes (64
zeros for the first), so editing or deleting any line breaks the chain at the
next one. ``audit.head`` (replaced atomically after each append) holds the
count and the hash of the last line, so deleting lines at the end is found too.

Both live beside the log, so a log rewritten whole with a recomputed chain and head would pass them. The chain is
anchored outside the log too: every run record that appended to it seals the head it left (:meth:`AuditLog.anchor`:
seq and line hash), and :meth:`AuditLog.check_anchors` holds the log against those sealed heads.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from millpond.config.secrets import redact
from millpond.errors import AuditIntegrityError
from millpond.store.log import GENESIS, JsonLinesLog, line_sha256
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

    def anchor(self) -> dict[str, Any] | None:
        """The head of the log now (``seq``: its line count, ``sha256``: its last line's hash), None when empty:
        what a run record that appended to it seals, outside the log."""
        lines = self.log.lines()
        return {"seq": len(lines), "sha256": line_sha256(lines[-1])} if lines else None

    def check_anchors(self, anchors: Iterable[tuple[str, dict[str, Any]]]) -> VerifyReport:
        """Hold the log against the heads sealed in run records (``(run_id, {"seq", "sha256"})`` pairs): each
        sealed line must still be there, byte for byte; a log rewritten whole (chain and head recomputed) is not."""
        lines = self.log.lines()
        report = VerifyReport(f"{self.name} audit log against the heads sealed in run records")
        for run_id, head in anchors:
            report.checked += 1
            seq, digest = int(head.get("seq") or 0), str(head.get("sha256") or "")
            if seq < 1 or seq > len(lines):
                report.add(
                    self.path,
                    f"has {len(lines)} lines, but run {run_id} sealed its head at line {seq}: lines were deleted or "
                    "the log was rewritten; restore it from a backup",
                    line=seq,
                )
            elif line_sha256(lines[seq - 1]) != digest:
                report.add(
                    self.path,
                    f"differs from the head run {run_id} sealed (line {seq}'s hash changed): the log was rewritten "
                    "(its own chain and audit.head may agree with the rewrite); restore it from a backup",
                    line=seq,
                )
        return report

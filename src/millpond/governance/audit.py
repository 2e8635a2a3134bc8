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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from millpond.config.secrets import redact
from millpond.errors import AuditIntegrityError
from millpond.store.log import GENESIS, JsonLinesLog, line_sha256
from millpond.store.verify import Problem, VerifyReport

__all__ = ["AUDIT_FILE", "GENESIS", "HEAD_FILE", "AuditEntry", "AuditLog"]

AUDIT_FILE = "audit.jsonl"
HEAD_FILE = "audit.head"


_ENVELOPE = ("time", "model", "action", "actor", "reason", "seq", "prev")


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log: who did what, when and why, plus the action's own ``fields`` (the version
    promoted, the window, the run, the write-ahead ``intent``…), chained by ``seq`` and ``prev``."""

    action: str
    actor: str = ""
    time: str = ""
    model: str = ""
    reason: str = ""
    seq: int | None = None
    prev: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditEntry:
        """The entry of one parsed line (lines written by older millpond versions may lack envelope keys)."""
        seq = data.get("seq")
        return cls(
            action=str(data.get("action", "")),
            actor=str(data.get("actor", "")),
            time=str(data.get("time", "")),
            model=str(data.get("model", "")),
            reason=str(data.get("reason", "")),
            seq=int(seq) if isinstance(seq, int) else None,
            prev=data.get("prev"),
            fields={k: v for k, v in data.items() if k not in _ENVELOPE},
        )

    def to_dict(self) -> dict[str, Any]:
        """The line's JSON object."""
        envelope = {"time": self.time, "model": self.model, "action": self.action, "actor": self.actor}
        chain = {k: v for k, v in (("seq", self.seq), ("prev", self.prev)) if v is not None}
        return {**envelope, "reason": self.reason, **self.fields, **chain}

    @property
    def version(self) -> str | None:
        """The model version the entry is about: a promotion's version, else a decision's candidate."""
        value = self.fields.get("version") or self.fields.get("candidate")
        return str(value) if value else None

    @property
    def window(self) -> str | None:
        """The window the action was taken for, when it names one."""
        value = self.fields.get("window")
        return str(value) if value else None

    @property
    def intent(self) -> str | None:
        """The id of the write-ahead alias move this entry completes, when it completes one."""
        value = self.fields.get("intent")
        return str(value) if value else None

    def champion_set(self) -> str | None:
        """The champion the entry put in service: a promotion's version, a rollback's champion after, else None."""
        key = {"promotion": "version", "rollback": "champion_after"}.get(self.action)
        value = self.fields.get(key) if key else None
        return value if isinstance(value, str) and value else None


class AuditLog:
    """Append and verify the hash-chained audit log of one model (a chained :class:`JsonLinesLog`)."""

    def __init__(self, model_store: Path, name: str) -> None:
        self.name = name
        self.path = Path(model_store) / name / AUDIT_FILE
        self.head = Path(model_store) / name / HEAD_FILE
        self.log = JsonLinesLog(self.path, chain=True, head=self.head)

    def append(self, action: str, *, actor: str, reason: str = "", **fields: Any) -> AuditEntry:
        """Append one entry chained to the last one (flushed to disk before returning)."""
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="microseconds"),
            "model": self.name,
            "action": action,
            "actor": actor,
            "reason": reason,
            **fields,
        }
        written = self.log.append(redact(entry))  # no credential (known value or pattern) is ever chained in
        return AuditEntry.from_dict(written)

    def entries(self) -> list[AuditEntry]:
        """Every entry, oldest first."""
        return [AuditEntry.from_dict(e) for e in self.log.entries()]

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

"""What a run record seals about the logs it appended to: the audit head it left, and the baselines it moved.

* :func:`audit_heads`: for each audit log a run appended to (its outputs list the lines), the head the log has when
  the run is sealed. The manifest keeps it in ``extra.audit_heads``, outside the log, so a log rewritten whole with
  a recomputed chain no longer matches the sealed records (:func:`sealed_heads` gives them to
  :meth:`~millpond.governance.audit.AuditLog.check_anchors`).
* :func:`baseline_changes`: the KPI entries a run appended to a monitoring log. Model drift compares a window with
  the latest run-named KPI entry of the windows before it, so a run that appended one set that window's baseline:
  ``millpond runs show`` says so, with the value it replaced.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from millpond.errors import MillpondError
from millpond.governance.audit import AUDIT_FILE, AuditLog
from millpond.models.monitoring import MONITORING_FILE
from millpond.runs.store import RunRecord, RunStore
from millpond.store.artifacts import Artifact, from_manifest
from millpond.workspace import Workspace

log = logging.getLogger(__name__)


def _log_lines(outputs: Mapping[str, Any], file_name: str) -> list[Artifact]:
    return [
        a
        for a in from_manifest(outputs)
        if a.kind == "log_entry" and a.path is not None and Path(a.path).name == file_name and a.offset is not None
    ]


def audit_heads(ws: Workspace, outputs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{audit log path: {"seq", "sha256"}}`` for every audit log ``outputs`` appended to, as the log is now."""
    heads: dict[str, dict[str, Any]] = {}
    for path in sorted({str(a.path) for a in _log_lines(outputs, AUDIT_FILE)}):
        folder = ws.root / path
        head = AuditLog(folder.parent.parent, folder.parent.name).anchor()
        if head is not None:
            heads[path] = head
    return heads


def sealed_heads(ws: Workspace, audit: AuditLog) -> list[tuple[str, dict[str, Any]]]:
    """Every ``(run_id, head)`` the run records sealed for ``audit``'s log, oldest run first."""
    wanted = ws.relative(audit.path)
    found = []
    for record in reversed(RunStore(ws.runs).list()):
        try:
            heads = (record.manifest.get("extra") or {}).get("audit_heads") or {}
        except MillpondError:  # an unreadable manifest is `runs verify`'s to report
            continue
        if isinstance(heads, Mapping) and isinstance(heads.get(wanted), Mapping):
            found.append((record.run_id, dict(heads[wanted])))
    return found


def _line_at(path: Path, offset: int) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            entry = json.loads(handle.readline())
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) else None


def baseline_changes(ws: Workspace, record: RunRecord) -> list[str]:
    """One line per window whose KPI baseline ``record`` set (a ``kpi`` entry it appended), with what it replaced."""
    lines = []
    for artifact in _log_lines(record.manifest.get("outputs") or {}, MONITORING_FILE):
        path = ws.root / str(artifact.path)
        entry = _line_at(path, int(artifact.offset or 0))
        if entry is None or entry.get("kind") != "kpi":
            continue
        window, metrics = entry.get("window"), entry.get("metrics") or {}
        before = _previous_kpi(path, int(artifact.offset or 0), str(window))
        shown = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in sorted(metrics.items()))
        was = f"; it replaced {before}" if before else "; the window had no baseline before"
        lines.append(f"set the KPI baseline of window {window} ({ws.relative(path)}): {shown}{was}")
    return lines


def _previous_kpi(path: Path, offset: int, window: str) -> str:
    """The run-named KPI entry of ``window`` written before ``offset``, as text ('' when there is none)."""
    previous = None
    with open(path, "rb") as handle:
        for line in handle.read(offset).splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("kind") == "kpi" and entry.get("window") == window and entry.get("run_id"):
                previous = entry
    if previous is None:
        return ""
    metrics = ", ".join(f"{k} {v}" for k, v in sorted((previous.get("metrics") or {}).items()))
    return f"{metrics} (run {previous['run_id']})"

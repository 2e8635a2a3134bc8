"""``millpond verify``: every store's own verify, folded into one list of reports.

Run records, mart versions, model versions, capture parts, the hash-chained audit logs and the
other append-only logs (monitoring, events, retention) each answer with a
:class:`~millpond.store.verify.VerifyReport`; the command prints them all and exits 3 when any
holds a problem. The order is fixed so two runs on the same workspace print the same report.
"""

from __future__ import annotations

from millpond.governance.audit import AuditLog
from millpond.governance.events import events_log
from millpond.marts.store import MartStore
from millpond.models.monitoring import MonitoringLog
from millpond.models.store import ModelStore
from millpond.ops.retention import retention_log
from millpond.runs.artifacts import verify_outputs
from millpond.runs.store import RunStore
from millpond.scoring.capture import CaptureStore
from millpond.store.verify import VerifyReport
from millpond.workspace import Workspace


def model_names(ws: Workspace) -> list[str]:
    """Every model folder of the workspace's model store."""
    root = ws.model_store
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []


def verify_workspace(ws: Workspace) -> list[VerifyReport]:
    """One report per store: runs, marts, models, captures, then per model its audit and monitoring logs, then logs/."""
    reports = [RunStore(ws.runs).verify(), MartStore(ws.feature_marts).verify()]
    names = model_names(ws)
    if names:
        reports.append(ModelStore(ws.model_store).verify())
    reports.append(CaptureStore.verify_all(ws.model_store))
    for name in names:
        audit = AuditLog(ws.model_store, name)
        if audit.path.exists():
            reports.append(_titled(audit.report(), f"{name} audit log (hash chain)"))
        monitoring = MonitoringLog(ws.model_store, name)
        if monitoring.path.exists():
            reports.append(_titled(monitoring.log.verify(), f"{name} monitoring log"))
    for log, title in ((events_log(ws), "events log"), (retention_log(ws), "retention log")):
        if log.path.exists():
            reports.append(_titled(log.verify(), title))
    reports.append(verify_outputs(ws, retention_log(ws)))  # what each run record lists as written, still identical
    return reports


def _titled(report: VerifyReport, subject: str) -> VerifyReport:
    report.subject = subject
    return report

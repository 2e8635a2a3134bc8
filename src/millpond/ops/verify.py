"""``millpond verify``: every store's own verify, folded into one list of reports.

Run records, mart versions, model versions, capture parts, the hash-chained audit logs and the
other append-only logs (monitoring, events, retention) each answer with a
:class:`~millpond.store.verify.VerifyReport`; the command prints them all and exits 3 when any
holds a problem. The order is fixed so two runs on the same workspace print the same report.

Each model's champion is also held against its audit log (:func:`champion_against_audit`): the alias history
must not have lost or changed a champion move the hash-chained audit log recorded after it.

Each audit log is also held against the heads the run records sealed (:func:`audit_against_runs`): a log rewritten
whole, with its chain and ``audit.head`` recomputed, no longer matches them.

A run folder without a manifest is *unfinished* (its stage is running, or its process died): a note, never a
problem. ``millpond verify --repair`` first seals the unfinished runs whose process is gone as interrupted (secrets
scrubbed) and rebuilds what is derived and may be rebuilt (:func:`repair_workspace`: the runs index, from the run
records), then verifies. It repairs nothing recorded: a changed byte stays a problem.
"""

from __future__ import annotations

from datetime import datetime

from millpond.governance.audit import AuditLog
from millpond.governance.events import events_log
from millpond.marts.store import MartStore
from millpond.models.monitoring import MonitoringLog
from millpond.models.store import ModelStore
from millpond.ops.retention import retention_log
from millpond.runs.anchors import sealed_heads
from millpond.runs.artifacts import verify_outputs
from millpond.runs.recovery import seal_interrupted
from millpond.runs.store import Reindexed, RunStore
from millpond.scoring.capture import CaptureStore
from millpond.scoring.labels import verify_labels
from millpond.store.verify import VerifyReport
from millpond.workspace import Workspace


def model_names(ws: Workspace) -> list[str]:
    """Every model folder of the workspace's model store."""
    root = ws.model_store
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []


def repair_workspace(ws: Workspace) -> Reindexed:
    """Seal the dead unfinished runs as interrupted (:func:`~millpond.runs.recovery.seal_interrupted`; a live one,
    or one whose use case's lock is held, is left alone), rebuild the runs index (:meth:`RunStore.reindex`) and
    sweep the mart staging folders whose ingest process is gone (:meth:`MartStore.sweep`)."""
    sealed = seal_interrupted(ws, by="millpond verify --repair")
    done = RunStore(ws.runs).reindex()
    done.sealed = [record.run_id for record in sealed]
    done.swept = [ws.relative(path) for path in MartStore(ws.feature_marts).sweep()]
    return done


def audit_against_runs(ws: Workspace, audit: AuditLog) -> VerifyReport:
    """The audit log of one model held against the heads its run records sealed (the anchor outside the log)."""
    return audit.check_anchors(sealed_heads(ws, audit))


def verify_workspace(ws: Workspace) -> list[VerifyReport]:
    """One report per store: runs, marts, models, captures, then per model its audit and monitoring logs, then logs/."""
    reports = [RunStore(ws.runs).verify(), MartStore(ws.feature_marts).verify()]
    names = model_names(ws)
    models = ModelStore(ws.model_store)
    if names:
        reports.append(models.verify())
    reports.append(CaptureStore.verify_all(ws.model_store))
    reports.append(verify_labels(ws.model_store))
    for name in names:
        audit = AuditLog(ws.model_store, name)
        if audit.path.exists():
            chain = audit.report()
            reports.append(_titled(chain, f"{name} audit log (hash chain)"))
            reports.append(audit_against_runs(ws, audit))
            if chain.ok and name in models.names():
                reports.append(champion_against_audit(models, audit))
        monitoring = MonitoringLog(ws.model_store, name)
        if monitoring.path.exists():
            reports.append(_titled(monitoring.log.verify(), f"{name} monitoring log"))
    for log, title in ((events_log(ws), "events log"), (retention_log(ws), "retention log")):
        if log.path.exists():
            reports.append(_titled(log.verify(), title))
    reports.append(verify_outputs(ws, retention_log(ws)))  # what each run record lists as written, still identical
    return reports


def _later(first: object, second: object) -> bool:
    """Whether timestamp ``first`` is later than ``second`` (False when either does not parse)."""
    try:
        return datetime.fromisoformat(str(first)) > datetime.fromisoformat(str(second))
    except ValueError:
        return False


def champion_against_audit(models: ModelStore, audit: AuditLog) -> VerifyReport:
    """Whether the alias history's last champion move agrees with the last promotion or rollback the audit log holds.

    The audit entry is written right after the move, so an audited champion the history does not end on, with no
    later move in the history, means history.jsonl lost or changed that move (a problem). A later move that the
    audit log does not hold is a note: the champion was moved outside millpond's commands (``ModelStore.promote``
    called directly) or a crash came between the move and its audit entry.
    """
    name = audit.name
    report = VerifyReport(f"{name} champion against its audit log")
    audited = next((e for e in reversed(audit.entries()) if e.champion_set()), None)
    if audited is None:
        return report
    report.checked = 1
    champion = audited.champion_set()
    moves = [e for e in models.history(name) if e.alias == "champion"]
    move = moves[-1] if moves else None
    recorded = move.target if move else None
    if isinstance(recorded, str) and champion is not None and recorded.startswith(champion[:12]):
        return report
    said = (
        f"the audit log's last {audited.action} (line {audited.seq}, by {audited.actor} at "
        f"{audited.time}) set champion {champion}"
    )
    if move is not None and _later(move.time, audited.time):
        report.note(
            f"{name}: {said}; the alias history's later move ({move.action} by {move.actor} at "
            f"{move.time}) set {recorded} without an audit entry: moved outside millpond's commands, "
            "or a crash came between the move and its audit entry"
        )
        return report
    last = f"its last champion move set {recorded}" if move is not None else "it records no champion move"
    report.add(
        models.root / name / "history.jsonl",
        f"does not hold the champion move the audit log recorded: {said}, but {last}; history.jsonl was changed "
        "outside millpond (lines removed or edited): restore it and aliases.json from a backup.",
    )
    return report


def _titled(report: VerifyReport, subject: str) -> VerifyReport:
    report.subject = subject
    return report

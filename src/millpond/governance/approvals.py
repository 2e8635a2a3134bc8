"""Manual approvals: a person completes (approve) or ends (reject) a decision the promote stage left open.

With ``promotion.approval: manual`` the promote stage logs a decision
``awaiting_approval`` and the cycle ends there. ``approve`` promotes the version,
smoke-tests it and rolls back when the test fails; ``reject`` ends the decision.
Both log a decision entry (so no later cycle asks again), an audit entry (who,
when, why) and a notification.
"""

from __future__ import annotations

from typing import Any

from millpond.config.params import UseCase
from millpond.errors import ApprovalError, did_you_mean
from millpond.governance.audit import AuditLog
from millpond.governance.deployment import promote_and_smoke_test
from millpond.governance.notifications import notify
from millpond.models.monitoring import MonitoringLog
from millpond.workspace import Workspace


def open_decision(ws: Workspace, name: str, version: str) -> dict[str, Any]:
    """The 'awaiting_approval' decision of ``version``; raises naming the open ones when there is none."""
    latest: dict[str, dict[str, Any]] = {}
    for entry in MonitoringLog(ws.model_store, name).entries("decision"):
        if entry.get("candidate"):
            latest[str(entry["candidate"])] = entry
    pending = sorted(v for v, e in latest.items() if e.get("outcome") == "awaiting_approval")
    entry = latest.get(version)
    if entry is None or entry.get("outcome") != "awaiting_approval":
        state = f"its decision is already '{entry['outcome']}'" if entry else "no decision awaits it"
        raise ApprovalError(
            f"Version '{version}' of model '{name}' has no open approval: {state}.{did_you_mean(version, pending)} "
            f"Open approvals: {', '.join(pending) or 'none'} (see millpond status)."
        )
    return entry


def _check_person(by: str, reason: str) -> None:
    if not by.strip() or not reason.strip():
        raise ApprovalError(
            "An approval or rejection needs who decides (--by NAME) and why (--reason TEXT); both must be non-empty."
        )


def approve(ws: Workspace, use_case: UseCase, version: str, *, by: str, reason: str) -> dict[str, Any]:
    """Promote an awaiting candidate, smoke-test it (rollback on failure); record and notify."""
    _check_person(by, reason)
    name = use_case.use_case
    pending = open_decision(ws, name, version)
    AuditLog(ws.model_store, name).append(
        "approval", actor=by, reason=reason, version=version, window=pending["window"]
    )
    notify(ws, name, use_case.notify, "approval", actor=by, reason=reason, version=version, window=pending["window"])
    outcome = promote_and_smoke_test(
        ws, use_case, version, actor=by, reason=f"approved by {by}: {reason}", window=pending["window"]
    )
    MonitoringLog(ws.model_store, name).append(
        "decision",
        pending["window"],
        candidate=version,
        outcome=outcome["outcome"],
        approved_by=by,
        approval_reason=reason,
        smoke=outcome["smoke"] or None,
        promote=True,
        metric=pending.get("metric"),
        reason=pending.get("reason"),
    )
    return {"window": pending["window"], **outcome}


def reject(ws: Workspace, use_case: UseCase, version: str, *, by: str, reason: str) -> dict[str, Any]:
    """End an awaiting decision without promoting; record and notify."""
    _check_person(by, reason)
    name = use_case.use_case
    pending = open_decision(ws, name, version)
    AuditLog(ws.model_store, name).append(
        "rejection", actor=by, reason=reason, version=version, window=pending["window"]
    )
    MonitoringLog(ws.model_store, name).append(
        "decision",
        pending["window"],
        candidate=version,
        outcome="rejected_by_person",
        rejected_by=by,
        rejection_reason=reason,
        promote=False,
        metric=pending.get("metric"),
        reason=pending.get("reason"),
    )
    notify(ws, name, use_case.notify, "rejection", actor=by, reason=reason, version=version, window=pending["window"])
    return {"window": pending["window"], "outcome": "rejected_by_person"}

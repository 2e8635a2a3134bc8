"""Manual approvals: a person completes (approve) or ends (reject) a decision the promote stage left open.

With ``promotion.approval: manual`` the promote stage logs a decision
``awaiting_approval`` and the cycle ends there. ``approve`` promotes the version,
smoke-tests it and rolls back when the test fails; ``reject`` ends the decision.
Both log a decision entry (so no later cycle asks again), an audit entry (who,
when, why) and a notification, through :func:`millpond.governance.decisions.record_decision`.
"""

from __future__ import annotations

from typing import Any

from millpond.config.params import UseCase
from millpond.errors import ApprovalError, did_you_mean
from millpond.governance.decisions import Decider, record_decision
from millpond.governance.deployment import promote_and_smoke_test
from millpond.models.monitoring import MonitoringLog
from millpond.workspace import Workspace


def open_decision(ws: Workspace, name: str, version: str) -> dict[str, Any]:
    """The 'awaiting_approval' decision of ``version``; raises naming the open ones when there is none."""
    latest: dict[str, dict[str, Any]] = {}
    for logged in MonitoringLog(ws.model_store, name).entries("decision"):
        if logged.get("candidate"):
            latest[str(logged["candidate"])] = logged
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
    decider = Decider(ws, name, use_case.notify, by, {"window": pending["window"]})
    record_decision(decider, "approval", version=version, reason=reason)
    outcome = promote_and_smoke_test(
        ws, use_case, version, actor=by, reason=f"approved by {by}: {reason}", window=pending["window"]
    )
    entry = {
        "candidate": version,
        "approved_by": by,
        "approval_reason": reason,
        "smoke": outcome["smoke"] or None,
        "promote": True,
        "metric": pending.get("metric"),
        "reason": pending.get("reason"),
    }
    record_decision(decider, outcome["outcome"], version=version, reason=reason, entry=entry)
    return {"window": pending["window"], **outcome}


def reject(ws: Workspace, use_case: UseCase, version: str, *, by: str, reason: str) -> dict[str, Any]:
    """End an awaiting decision without promoting; record and notify."""
    _check_person(by, reason)
    name = use_case.use_case
    pending = open_decision(ws, name, version)
    entry = {
        "candidate": version,
        "rejected_by": by,
        "rejection_reason": reason,
        "promote": False,
        "metric": pending.get("metric"),
        "reason": pending.get("reason"),
    }
    decider = Decider(ws, name, use_case.notify, by, {"window": pending["window"]})
    record_decision(decider, "rejection", version=version, reason=reason, entry=entry)
    return {"window": pending["window"], "outcome": "rejected_by_person"}

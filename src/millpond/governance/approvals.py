"""Manual approvals: a person completes (approve) or ends (reject) a decision the promote stage left open.

With ``promotion.approval: manual`` the promote stage logs a decision
``awaiting_approval`` and the cycle ends there. ``approve`` promotes the version,
smoke-tests it and rolls back when the test fails; ``reject`` ends the decision.
Both log a decision entry (so no later cycle asks again), an audit entry (who,
when, why) and a notification, through :func:`millpond.governance.decisions.record_decision`.

Who decides is the operating-system user running the command (:func:`current_approver`:
the real uid and its name from the user database, never ``$USER``), recorded with
uid and name in the audit log; ``--by`` only adds a display name. When the params
set ``promotion.approvers``, anyone else is refused (:class:`~millpond.errors.NotAnApproverError`,
exit 2) before anything moves. The same holds for a manual :func:`rollback`.

Each of them holds the use case's cycle lock while it decides (a running cycle makes it exit 5 naming the
holder, never race the cycle's own promotion), and first completes or undoes an alias move a crash left
(:func:`~millpond.governance.deployment.recover_pending`). A killed approval is therefore completed by the next
one (or the next cycle stage) once: its approval is audited once, its promotion made and audited once. A manual
rollback is a governed write-ahead move (``pending.json`` in phase ``rollback``), so a kill between its record,
its alias move and its audit entry is completed, and audited, by the next command or cycle stage.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from millpond.config.params import NotifySpec, UseCase
from millpond.errors import ApprovalError, NotAnApproverError, did_you_mean
from millpond.governance.decisions import Decider, record_decision
from millpond.governance.deployment import promote_and_smoke_test, recover_pending
from millpond.models.monitoring import MonitoringEntry, MonitoringLog
from millpond.store.checkpoint import checkpoint
from millpond.store.lock import CycleLock
from millpond.workspace import Workspace


def open_decision(ws: Workspace, name: str, version: str) -> MonitoringEntry:
    """The 'awaiting_approval' decision of ``version``; raises naming the open ones when there is none."""
    latest: dict[str, MonitoringEntry] = {}
    for logged in MonitoringLog(ws.model_store, name).entries("decision"):
        if logged.candidate:
            latest[logged.candidate] = logged
    pending = sorted(v for v, e in latest.items() if e.outcome == "awaiting_approval")
    entry = latest.get(version)
    if entry is None or entry.outcome != "awaiting_approval":
        state = f"its decision is already '{entry.outcome}'" if entry else "no decision awaits it"
        raise ApprovalError(
            f"Version '{version}' of model '{name}' has no open approval: {state}.{did_you_mean(version, pending)} "
            f"Open approvals: {', '.join(pending) or 'none'} (see millpond status)."
        )
    return entry


@dataclass(frozen=True)
class Approver:
    """The person deciding: the OS user running the command (name and uid), with an optional display name."""

    user: str
    uid: int
    display_name: str | None = None

    @property
    def actor(self) -> str:
        """How the audit log, the alias history and messages name them: ``Ann Smith (ann, uid 1001)``."""
        ident = f"{self.user}, uid {self.uid}"
        return f"{self.display_name} ({ident})" if self.display_name else f"{self.user} (uid {self.uid})"

    def fields(self) -> dict[str, Any]:
        """The audit entry's record of who decided."""
        return {"os_user": self.user, "uid": self.uid, "display_name": self.display_name}


def current_approver(display_name: str | None = None) -> Approver:
    """The OS user running this process (real uid, name from the user database), ``display_name`` from ``--by``."""
    import pwd

    uid = os.getuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid without a passwd entry (some containers): named by its number
        user = f"uid{uid}"
    shown = (display_name or "").strip() or None
    return Approver(user, uid, shown)


def check_approver(approver: Approver, approvers: list[str] | None, action: str, name: str) -> None:
    """Refuse ``approver`` when ``promotion.approvers`` is set and does not list their OS user name."""
    if approvers is not None and approver.user not in approvers:
        raise NotAnApproverError(
            f"OS user {approver.user!r} (uid {approver.uid}) may not {action} model '{name}': promotion.approvers "
            f"lists {', '.join(repr(a) for a in approvers)}. Nothing was changed. Run the command as one of them, "
            "or add the user to promotion.approvers in the params (a reviewed change)."
        )


def _check_reason(reason: str) -> None:
    if not reason.strip():
        raise ApprovalError("An approval, rejection or rollback needs why (--reason TEXT), non-empty.")


def _decider(ws: Workspace, name: str, spec: NotifySpec, approver: Approver, window: str | None) -> Decider:
    context: dict[str, Any] = {"window": window} if window is not None else {}
    return Decider(ws, name, spec, approver.actor, {**context, **approver.fields()})


def _locked(ws: Workspace, name: str, action: str) -> CycleLock:
    """The use case's cycle lock for a person's decision (exit 5 naming the holder while a cycle runs)."""
    return CycleLock(ws, name, command=f"millpond models {action} {name} (PID {os.getpid()})")


def _approval_audited(ws: Workspace, name: str, version: str, since: str) -> bool:
    """Whether an approval of ``version`` was audited after its decision opened (a killed approval's)."""
    from millpond.governance.audit import AuditLog

    return any(
        e.action == "approval" and e.version == version and e.time >= since
        for e in AuditLog(ws.model_store, name).entries()
    )


def approve(ws: Workspace, use_case: UseCase, version: str, *, approver: Approver, reason: str) -> dict[str, Any]:
    """Promote an awaiting candidate, smoke-test it (rollback on failure); record and notify."""
    _check_reason(reason)
    name = use_case.use_case
    check_approver(approver, use_case.promotion.approvers, "approve", name)
    with _locked(ws, name, "approve"):
        recover_pending(ws, use_case)  # a move a killed cycle or approval left is completed (or undone) first
        done = _approve(ws, use_case, version, approver=approver, reason=reason)
        recover_pending(ws, use_case)  # its decision entry is logged: the finished move's record is removed
        return done


def _approve(ws: Workspace, use_case: UseCase, version: str, *, approver: Approver, reason: str) -> dict[str, Any]:
    name = use_case.use_case
    pending = open_decision(ws, name, version)
    by = approver.actor
    decider = _decider(ws, name, use_case.notify, approver, pending.window)
    if not _approval_audited(ws, name, version, pending.time):
        record_decision(decider, "approval", version=version, reason=reason)
    checkpoint("approval-audited")
    outcome = promote_and_smoke_test(
        ws, use_case, version, actor=by, reason=f"approved by {by}: {reason}", window=pending.window
    )
    checkpoint("approval-promoted")
    entry = {
        "candidate": version,
        "approved_by": by,
        "approval_reason": reason,
        "smoke": outcome["smoke"] or None,
        "promote": True,
        "metric": pending.fields.get("metric"),
        "reason": pending.fields.get("reason"),
    }
    record_decision(decider, outcome["outcome"], version=version, reason=reason, entry=entry)
    return {"window": pending.window, **outcome}


def reject(ws: Workspace, use_case: UseCase, version: str, *, approver: Approver, reason: str) -> dict[str, Any]:
    """End an awaiting decision without promoting; record and notify."""
    _check_reason(reason)
    name = use_case.use_case
    check_approver(approver, use_case.promotion.approvers, "reject", name)
    with _locked(ws, name, "reject"):
        recover_pending(ws, use_case)
        return _reject(ws, use_case, version, approver=approver, reason=reason)


def _reject(ws: Workspace, use_case: UseCase, version: str, *, approver: Approver, reason: str) -> dict[str, Any]:
    name = use_case.use_case
    pending = open_decision(ws, name, version)
    entry = {
        "candidate": version,
        "rejected_by": approver.actor,
        "rejection_reason": reason,
        "promote": False,
        "metric": pending.fields.get("metric"),
        "reason": pending.fields.get("reason"),
    }
    decider = _decider(ws, name, use_case.notify, approver, pending.window)
    record_decision(decider, "rejection", version=version, reason=reason, entry=entry)
    return {"window": pending.window, "outcome": "rejected_by_person"}


def rollback(ws: Workspace, name: str, use_case: UseCase | None, *, approver: Approver, reason: str) -> dict[str, Any]:
    """Make the previous champion champion again, when ``approver`` may; audit and notify. ``use_case`` (None: no
    params found) gives ``promotion.approvers`` and the notification channels."""
    _check_reason(reason)
    check_approver(approver, use_case.promotion.approvers if use_case else None, "roll back", name)
    with _locked(ws, name, "rollback"):
        if use_case is not None:
            recover_pending(ws, use_case)
        return _rollback(ws, name, use_case, approver=approver, reason=reason)


def _rollback(ws: Workspace, name: str, use_case: UseCase | None, *, approver: Approver, reason: str) -> dict[str, Any]:
    """The governed rollback: write-ahead record (phase ``rollback``), alias move, audit entry, record removed."""
    from millpond.models.entities import PendingSwitch
    from millpond.models.store import ModelStore

    store = ModelStore(ws.model_store)
    store.resume_switch(name)  # a plain move a crash interrupted is finished; a governed one is refused below
    before = store.aliases(name).get("champion")
    target, new, old = store.rollback_plan(name)
    context = {"version": before, "champion_before": before, "manual": True}
    pending = PendingSwitch.new(name, "rollback", old, new, actor=approver.actor, reason=reason, context=context)
    pending = store.switch_governed(replace(pending, phase="rollback"))  # recovery always completes a rollback
    checkpoint("rollback-moved")
    spec = use_case.notify if use_case is not None else NotifySpec()
    record_decision(
        _decider(ws, name, spec, approver, None),
        "rollback",
        version=before,
        reason=reason,
        audit={"champion_after": target, "intent": pending.id},
        notice={"champion": target},
    )
    store.clear_pending(name, pending.id)
    return {"champion_before": before, "champion": target, "actor": approver.actor}

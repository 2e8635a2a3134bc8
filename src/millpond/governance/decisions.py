"""Recording a decision about a model version: the monitoring log's decision entry, the audit entry, the notification.

Every decision is recorded through :func:`record_decision`: the promote stage's, a person's (``models approve`` /
``models reject``) and a manual ``models rollback``. What each kind writes (``-``: nothing here):

=================  ========================  =================  =================
kind               decision entry (outcome)  audit action       notification
=================  ========================  =================  =================
awaiting_approval  awaiting_approval         awaiting_approval  awaiting_approval
rejected           rejected                  rejection          rejection
promoted           promoted                  \\-                 \\-
rolled_back        rolled_back               \\-                 \\-
approval           \\-                        approval           approval
rejection          rejected_by_person        rejection          rejection
rollback           \\-                        rollback           rollback
=================  ========================  =================  =================

``promoted`` and ``rolled_back`` only log the outcome: promoting and smoke-testing
(:func:`millpond.governance.deployment.promote_and_smoke_test`) audits and notifies each step itself. An
``approval`` has no entry of its own: the entry follows the promotion it starts. A manual rollback is no decision
about a candidate, so the monitoring log does not list it (a later cycle must not take the version as decided).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from millpond.config.params import NotifySpec
from millpond.models.monitoring import MonitoringEntry, MonitoringLog
from millpond.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Writes:
    outcome: str | None  # the decision entry's outcome (None: no entry)
    audit: str | None  # the audit action
    event: str | None  # the notification


KINDS: dict[str, _Writes] = {
    "awaiting_approval": _Writes("awaiting_approval", "awaiting_approval", "awaiting_approval"),
    "rejected": _Writes("rejected", "rejection", "rejection"),
    "promoted": _Writes("promoted", None, None),
    "rolled_back": _Writes("rolled_back", None, None),
    "approval": _Writes(None, "approval", "approval"),
    "rejection": _Writes("rejected_by_person", "rejection", "rejection"),
    "rollback": _Writes(None, "rollback", "rollback"),
}


@dataclass(frozen=True)
class Decider:
    """Who records decisions about one model's versions, and what each of their audit entries and notifications says
    besides the version and the reason."""

    ws: Workspace
    use_case: str
    notify: NotifySpec
    actor: str
    context: dict[str, Any] = field(default_factory=dict)  # e.g. window and run id; the entry's window comes from it
    subject: str = "version"  # the notification's key for the version ("candidate" for the promote stage)
    quiet: bool = False  # a notification that fails only warns (the cycle never fails on one)


def record_decision(
    decider: Decider,
    kind: str,
    *,
    version: str | None,
    reason: str,
    entry: dict[str, Any] | None = None,
    audit: dict[str, Any] | None = None,
    notice: dict[str, Any] | None = None,
) -> MonitoringEntry | None:
    """Write what ``kind`` records (see the module's table), in this order: the decision entry (``entry`` holds its
    fields besides the outcome), the audit entry (version, context and ``audit``), the notification (context, reason,
    the version under ``decider.subject`` and ``notice``). Returns the decision entry, None when the kind has none."""
    if kind not in KINDS:
        raise ValueError(f"decision kind must be one of {sorted(KINDS)}, got {kind!r}")
    writes = KINDS[kind]
    logged = None
    if writes.outcome is not None:
        window = decider.context["window"]
        logged = MonitoringLog(decider.ws.model_store, decider.use_case).append(
            "decision", window, outcome=writes.outcome, **(entry or {})
        )
    if writes.audit is not None:
        _audit(decider, writes.audit, reason, {"version": version, **decider.context, **(audit or {})})
    if writes.event is not None:
        _notify(
            decider, writes.event, {**decider.context, "reason": reason, decider.subject: version, **(notice or {})}
        )
    return logged


def _audit(decider: Decider, action: str, reason: str, fields: dict[str, Any]) -> None:
    from millpond.governance.audit import AuditLog

    AuditLog(decider.ws.model_store, decider.use_case).append(action, actor=decider.actor, reason=reason, **fields)


def _notify(decider: Decider, event: str, fields: dict[str, Any]) -> None:
    from millpond.governance.notifications import notify

    try:
        notify(decider.ws, decider.use_case, decider.notify, event, actor=decider.actor, **fields)
    except Exception as exc:  # re-raised unless quiet: a notification never fails the cycle
        if not decider.quiet:
            raise
        log.warning("notification %s failed: %s", event, exc)

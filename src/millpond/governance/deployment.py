"""Putting a version in service: switch the champion alias, smoke-test it, roll back when the test fails.

One recoverable step (write-ahead). :func:`promote_and_smoke_test` records the decided move in the model's
``pending.json`` (a governed :class:`~millpond.models.entities.PendingSwitch`) before ``aliases.json`` changes,
then moves the aliases and logs the move in ``history.jsonl`` (:meth:`ModelStore.promote`), appends the
``promotion`` audit entry, smoke-tests the new champion and, when that fails, records and makes the rollback
(phase ``rollback``) and audits it. Every history line and audit entry of the move names its ``intent`` id, so
each is written exactly once however often the step is resumed. The record ends in phase ``done`` and is removed
once the promotion's decision entry is in the monitoring log.

:func:`recover_pending` resumes a move a crash interrupted; every cycle stage calls it first, and so does the
next promotion. What it does, by where the crash came:

- before ``aliases.json`` changed: the move is undone (the record dropped). Nothing moved, nothing was audited;
  the candidate has no decision yet, so the next promote stage decides it again.
- after ``aliases.json`` changed (before or after the history lines, the audit entry, or during the smoke test):
  the move is completed: the missing history lines and audit entry are written, the smoke test is run again, and
  a failing champion is rolled back (and that audited). The decision entry the killed stage never wrote is written
  (``recovered_by``: the run that recovered it), so no later cycle takes the candidate for undecided and compares
  it with itself.
- during a rollback: the rollback is completed and audited.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from millpond.config.params import UseCase
from millpond.models.entities import PendingSwitch
from millpond.models.monitoring import MonitoringLog
from millpond.models.store import ModelStore
from millpond.store.checkpoint import checkpoint
from millpond.workspace import Workspace

log = logging.getLogger(__name__)


def promote_and_smoke_test(
    ws: Workspace,
    uc: UseCase,
    version: str,
    *,
    actor: str,
    reason: str,
    window: str | None = None,
    run_id: str | None = None,
) -> dict[str, str]:
    """Switch the champion alias to ``version``, smoke-test it, roll back when the test fails; audit and notify each
    step. A move an earlier crash interrupted is recovered first (:func:`recover_pending`)."""
    recover_pending(ws, uc, run_id=run_id)
    models = ModelStore(ws.model_store)
    name = uc.use_case
    target = models.get(name, version).version
    before = models.aliases(name).get("champion")
    checkpoint("alias-before-intent")
    context = {"version": target, "champion_before": before, "window": window, "run_id": run_id}
    pending = models.promote(name, target, actor=actor, reason=reason, governed=context)
    if pending is None:  # already the champion: nothing moves, the promotion is still audited and smoke-tested
        current = models.aliases(name)
        pending = models.switch_governed(_governed(name, "promote", current, current, actor, reason, context))
    return _finish(ws, uc, models, pending)


def recover_pending(ws: Workspace, uc: UseCase, *, run_id: str | None = None) -> dict[str, str] | None:
    """Complete or undo the alias move of ``uc``'s model a crash interrupted (see the module docstring).

    Returns what the recovered promotion came to (``outcome``, ``smoke``, ``recovered``), None when nothing was
    pending or the move was undone. Cheap when nothing is pending (one stat of ``pending.json``).
    """
    name = uc.use_case
    if not (ws.model_store / name / "pending.json").exists():
        return None
    models = ModelStore(ws.model_store)
    pending = models.resume_switch(name, complete=_must_complete(models, name))
    if pending is None:
        return None
    if pending.phase == "done":  # audited and tested: only its decision entry may be missing
        _settle_done(ws, models, name, recovered_by=run_id or "recovery")
        return None
    if pending.phase == "promote" and models.aliases(name) == pending.before and pending.before != pending.after:
        log.warning("model %s: a promotion of %s was interrupted before the alias moved; undone", name, _ver(pending))
        models.clear_pending(name, pending.id)
        return None
    log.warning("model %s: completing the promotion of %s a crash interrupted", name, _ver(pending))
    done = _finish(ws, uc, models, pending, recovered_by=run_id or "recovery")
    _settle_done(ws, models, name, recovered_by=run_id or "recovery")
    return {**done, "recovered": pending.id}


def _must_complete(models: ModelStore, name: str) -> bool:
    """A pending rollback is always carried out (its champion failed the smoke test); a promotion only if it moved."""
    pending = models.pending(name)
    return pending is not None and pending.phase == "rollback"


def _finish(
    ws: Workspace, uc: UseCase, models: ModelStore, pending: PendingSwitch, *, recovered_by: str | None = None
) -> dict[str, str]:
    """Audit, smoke-test and (on failure) roll back the governed move ``pending``, each step once; end it 'done'."""
    if pending.phase == "done":
        return {"outcome": str(pending.context.get("outcome")), "smoke": str(pending.context.get("smoke") or "")}
    extra = {"recovered_by": recovered_by} if recovered_by else {}
    if pending.phase == "promote":
        ctx = pending.context
        _audit_once(
            ws,
            uc.use_case,
            pending,
            "promotion",
            version=ctx.get("version"),
            champion_before=ctx.get("champion_before"),
        )
        checkpoint("promotion-audited")
        checkpoint("smoke-started")
        smoke = smoke_champion(models, uc)
        if not smoke:
            checkpoint("smoke-passed")
            models.update_pending(uc.use_case, replace(pending, phase="done", context={**ctx, "outcome": "promoted"}))
            _notify(ws, uc, "promotion", pending, champion_before=ctx.get("champion_before"), **extra)
            return {"outcome": "promoted", "smoke": ""}
        pending = _start_rollback(models, pending, f"smoke test failed after promotion: {smoke}")
    ctx = pending.context
    target = pending.after.get("champion")
    _audit_once(ws, uc.use_case, pending, "rollback", version=ctx.get("version"), champion_after=target)
    checkpoint("rollback-audited")
    models.update_pending(uc.use_case, replace(pending, phase="done", context={**ctx, "outcome": "rolled_back"}))
    _notify(ws, uc, "rollback", pending, champion=target, **extra)
    return {"outcome": "rolled_back", "smoke": str(ctx.get("smoke") or "")}


def _start_rollback(models: ModelStore, promotion: PendingSwitch, why: str) -> PendingSwitch:
    """Record the rollback of a promotion whose smoke test failed (replacing its record in one write), then make it."""
    _, new, old = models.rollback_plan(promotion.model)
    context = {**promotion.context, "smoke": why.removeprefix("smoke test failed after promotion: ")}
    context["promotion_intent"] = promotion.id
    rollback = replace(
        _governed(promotion.model, "rollback", old, new, promotion.actor, why, context), phase="rollback"
    )
    return models.switch_governed(rollback, replaces=promotion.id)


def _governed(
    name: str, action: str, before: dict[str, str], after: dict[str, str], actor: str, reason: str, ctx: dict[str, Any]
) -> PendingSwitch:
    return PendingSwitch.new(name, action, before, after, actor=actor, reason=reason, context=ctx)


def _audit_once(ws: Workspace, name: str, pending: PendingSwitch, action: str, **fields: Any) -> None:
    """Append the audit entry ``action`` of ``pending`` unless an earlier attempt already did (its ``intent``)."""
    from millpond.governance.audit import AuditLog

    audit = AuditLog(ws.model_store, name)
    if any(e.intent == pending.id and e.action == action for e in audit.entries()):
        return
    ctx = pending.context
    audit.append(
        action,
        actor=pending.actor,
        reason=pending.reason,
        window=ctx.get("window"),
        run_id=ctx.get("run_id"),
        intent=pending.id,
        **fields,
    )


def _notify(ws: Workspace, uc: UseCase, event: str, pending: PendingSwitch, **fields: Any) -> None:
    """Send the move's notification; a recovered move's failure to notify only warns."""
    from millpond.governance.notifications import notify

    ctx = pending.context
    try:
        notify(
            ws,
            uc.use_case,
            uc.notify,
            event,
            actor=pending.actor,
            reason=pending.reason,
            version=ctx.get("version"),
            window=ctx.get("window"),
            **fields,
        )
    except Exception as exc:
        if "recovered_by" not in fields:
            raise
        log.warning("notification %s of a recovered move failed: %s", event, exc)


def _settle_done(ws: Workspace, models: ModelStore, name: str, *, recovered_by: str) -> None:
    """Remove a 'done' record once its decision entry is logged (writing it when the killed stage never did)."""
    pending = models.pending(name)
    if pending is None or pending.phase != "done":
        return
    ctx = pending.context
    version = ctx.get("version")
    monitoring = MonitoringLog(ws.model_store, name)
    decided = any(  # the move's own outcome: an approval awaited in the same second is no decision yet
        e.candidate == version and e.outcome != "awaiting_approval" and e.time >= pending.created_at[:19]
        for e in monitoring.entries("decision")
    )
    if not decided and ctx.get("window"):
        monitoring.append(
            "decision",
            str(ctx["window"]),
            outcome=ctx.get("outcome"),
            candidate=version,
            run_id=ctx.get("run_id") or recovered_by,
            recovered_by=recovered_by,
            reason=pending.reason,
            smoke=ctx.get("smoke") or None,
            intent=pending.context.get("promotion_intent") or pending.id,
        )
    models.clear_pending(name, pending.id)


def _ver(pending: PendingSwitch) -> str:
    return str(pending.context.get("version") or pending.after.get("champion"))


def smoke_champion(models: ModelStore, uc: UseCase) -> str:
    """Smoke-test the champion (see :mod:`millpond.scoring.smoke`): '' when it passes, else why not."""
    from millpond.scoring.batch import Scorer
    from millpond.scoring.smoke import run_smoke_test

    try:
        report = run_smoke_test(Scorer.load(models, uc.use_case, "champion", use_case=uc))
    except Exception as exc:  # noqa: BLE001 - any failure fails the smoke test
        return f"{type(exc).__name__}: {exc}"
    return report.reason

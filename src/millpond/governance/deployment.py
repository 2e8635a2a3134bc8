"""Putting a version in service: switch the champion alias, smoke-test it, roll back when the test fails."""

from __future__ import annotations

from millpond.config.params import UseCase
from millpond.models.store import ModelStore
from millpond.workspace import Workspace


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
    """Switch the champion alias to ``version``, smoke-test it, roll back when the test fails; audit and notify each step."""
    from millpond.governance.audit import AuditLog
    from millpond.governance.notifications import notify

    models = ModelStore(ws.model_store)
    audit = AuditLog(ws.model_store, uc.use_case)
    before = models.aliases(uc.use_case).get("champion")
    models.promote(uc.use_case, version, actor=actor, reason=reason)
    audit.append(
        "promotion", actor=actor, reason=reason, version=version, champion_before=before, window=window, run_id=run_id
    )
    smoke = smoke_champion(models, uc)
    if smoke:
        why = f"smoke test failed after promotion: {smoke}"
        target = models.rollback(uc.use_case, actor=actor, reason=why)
        audit.append(
            "rollback", actor=actor, reason=why, version=version, champion_after=target, window=window, run_id=run_id
        )
        notify(
            ws,
            uc.use_case,
            uc.notify,
            "rollback",
            actor=actor,
            reason=why,
            version=version,
            champion=target,
            window=window,
        )
        return {"outcome": "rolled_back", "smoke": smoke}
    notify(
        ws,
        uc.use_case,
        uc.notify,
        "promotion",
        actor=actor,
        reason=reason,
        version=version,
        champion_before=before,
        window=window,
    )
    return {"outcome": "promoted", "smoke": ""}


def smoke_champion(models: ModelStore, uc: UseCase) -> str:
    """Smoke-test the champion (see :mod:`millpond.scoring.smoke`): '' when it passes, else why not."""
    from millpond.scoring.batch import Scorer
    from millpond.scoring.smoke import run_smoke_test

    try:
        report = run_smoke_test(Scorer.load(models, uc.use_case, "champion", use_case=uc))
    except Exception as exc:  # noqa: BLE001 - any failure fails the smoke test
        return f"{type(exc).__name__}: {exc}"
    return report.reason

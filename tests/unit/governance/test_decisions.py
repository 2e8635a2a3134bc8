"""record_decision: what each kind of decision writes to the monitoring log, the audit log and the events log."""

from __future__ import annotations

import pytest

from millpond.config.params import NotifySpec
from millpond.governance import notifications
from millpond.governance.audit import AuditLog
from millpond.governance.decisions import KINDS, Decider, record_decision
from millpond.governance.events import read_events
from millpond.models.monitoring import MonitoringLog
from millpond.workspace import Workspace

WRITES = {  # kind -> (decision outcome, audit action, notification)
    "awaiting_approval": ("awaiting_approval", "awaiting_approval", "awaiting_approval"),
    "rejected": ("rejected", "rejection", "rejection"),
    "promoted": ("promoted", None, None),
    "rolled_back": ("rolled_back", None, None),
    "approval": (None, "approval", "approval"),
    "rejection": ("rejected_by_person", "rejection", "rejection"),
    "rollback": (None, "rollback", "rollback"),
}


def _written(ws: Workspace) -> tuple[list[dict], list[dict], list[dict]]:
    decisions = MonitoringLog(ws.model_store, "churn").entries("decision")
    audit = [e for e in AuditLog(ws.model_store, "churn").entries() if e.action != "notification"]
    return decisions, audit, read_events(ws)


@pytest.mark.parametrize("kind", sorted(WRITES))
def test_each_kind_writes_its_entry_audit_and_notification(workspace: Workspace, kind: str) -> None:
    decider = Decider(workspace, "churn", NotifySpec(), "ana", {"window": "2025-02"})
    logged = record_decision(decider, kind, version="abc123", reason="why", entry={"candidate": "abc123"})
    decisions, audit, events = _written(workspace)
    outcome, action, event = WRITES[kind]
    assert [d.outcome for d in decisions] == ([outcome] if outcome else [])
    assert (logged.outcome if logged else None) == outcome
    assert [a.action for a in audit] == ([action] if action else [])
    assert [e["event"] for e in events] == ([f"notify.{event}"] if event else [])
    if outcome:
        assert decisions[0].candidate == "abc123" and decisions[0].window == "2025-02"
    if action:
        assert (audit[0].actor, audit[0].reason, audit[0].version, audit[0].window) == (
            "ana",
            "why",
            "abc123",
            "2025-02",
        )
    assert set(KINDS) == set(WRITES)


def test_the_context_subject_and_extra_fields_go_where_they_belong(workspace: Workspace) -> None:
    cycle = Decider(
        workspace, "churn", NotifySpec(), "millpond cycle", {"window": "2025-03", "run_id": "r/05"}, "candidate"
    )
    record_decision(cycle, "awaiting_approval", version="v1", reason="better", notice={"approve": "millpond …"})
    manual = Decider(workspace, "churn", NotifySpec(), "bo")  # a manual rollback: no window, no decision entry
    record_decision(
        manual, "rollback", version="v1", reason="bad", audit={"champion_after": "v0"}, notice={"champion": "v0"}
    )
    _, audit, events = _written(workspace)
    assert {k: audit[0].to_dict()[k] for k in ("version", "window", "run_id")} == {
        "version": "v1",
        "window": "2025-03",
        "run_id": "r/05",
    }
    assert {k: events[0].get(k) for k in ("candidate", "version", "approve", "run_id")} == {
        "candidate": "v1",
        "version": None,
        "approve": "millpond …",
        "run_id": "r/05",
    }
    assert audit[1].fields["champion_after"] == "v0" and audit[1].window is None
    assert (events[1]["version"], events[1]["champion"]) == ("v1", "v0") and "window" not in events[1]


def test_a_failing_notification_only_warns_when_quiet(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("mail server on fire")

    monkeypatch.setattr(notifications, "notify", broken)
    quiet = Decider(workspace, "churn", NotifySpec(), "millpond cycle", {"window": "2025-03"}, quiet=True)
    record_decision(quiet, "rejected", version="v1", reason="worse")
    assert "notification rejection failed: mail server on fire" in caplog.text
    loud = Decider(workspace, "churn", NotifySpec(), "ana", {"window": "2025-03"})
    with pytest.raises(RuntimeError, match="on fire"):
        record_decision(loud, "rejection", version="v1", reason="no")
    with pytest.raises(ValueError, match="decision kind must be one of"):
        record_decision(loud, "shrug", version="v1", reason="?")

"""Governed promotion: paired comparison with the champions of T-1 and T-2, manual approval, approve/reject, audit."""

from __future__ import annotations

import os
import pwd

import pytest
import yaml

from millpond.cli import main
from millpond.config.params import load_use_case
from millpond.governance.audit import AuditLog
from millpond.models.monitoring import MonitoringLog
from millpond.models.store import ModelStore
from millpond.ops.status import open_approvals
from millpond.runs import stages
from millpond.workspace import Workspace
from tests.conftest import write_yaml


def _params(ws: Workspace, name: str, **policy: object) -> str:
    data = yaml.safe_load((ws.params / "churn.yaml").read_text())
    data["promotion"] = {**data["promotion"], "guard_metric": "brier", "bootstrap_resamples": 50, **policy}
    data["retrain"] = {"every_n_windows": 1}
    data["drift"] = {**data["drift"], "bootstrap_resamples": 50}
    write_yaml(ws.params / name, data)
    return f"params/{name}"


def _cycle(ws: Workspace, params: str, window: str) -> dict[str, stages.StageResult]:
    ctx = stages.StageContext(ws, load_use_case(ws.resolve(params)), window, run_id=f"t/{window}")
    return {name: fn(ctx) for name, fn in stages.RUNNERS.items()}


def test_candidate_is_compared_with_the_champions_of_earlier_windows(demo_workspace: Workspace) -> None:
    params = _params(demo_workspace, "always.yaml", min_improvement=-1.0, guard_max_regression=1.0)
    for window in ("2025-01", "2025-02", "2025-03"):
        _cycle(demo_workspace, params, window)
    out = _cycle(demo_workspace, params, "2025-04")
    rivals = [row["rival"] for row in out["promote"].summary["comparison"]]
    assert rivals == ["champion", "champion of 2025-03", "champion of 2025-02"]
    row = out["promote"].summary["comparison"][0]
    assert (
        row["metric"] == "roc_auc"
        and row["guard"] == "brier"
        and row["metric_gain_low"] <= row["metric_gain"] <= row["metric_gain_high"]
    )
    # concept drift from 2025-04: the candidate trained on it beats every older model on its held-out rows
    assert all(r["metric_gain_low"] > 0 for r in out["promote"].summary["comparison"])
    drift = out["drift"].summary
    assert (
        drift["kpi_interval"]["low"] < drift["kpi"] < drift["kpi_interval"]["high"]
        and drift["kpi_estimate"] is not None
    )
    assert drift["estimate_trusted"] is False and "concept-like" in drift["estimate_note"]
    actions = [e.action for e in AuditLog(demo_workspace.model_store, "churn").entries()]
    assert actions.count("promotion") == 4 and "notification" in actions
    assert AuditLog(demo_workspace.model_store, "churn").verify() == len(actions)


def test_manual_approval_waits_then_approve_and_reject_complete_it_once(
    demo_workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = demo_workspace
    params = _params(ws, "manual.yaml", approval="manual", min_improvement=-1.0, guard_max_regression=1.0)
    first = _cycle(ws, params, "2025-01")
    assert first["promote"].status == "succeeded" and first["promote"].reason.startswith("awaiting approval")
    candidate = first["train"].summary["candidate"]
    assert [a.candidate for a in open_approvals(ws, "churn")] == [candidate]
    assert "champion" not in ModelStore(ws.model_store).aliases("churn")
    again = stages.run_promote(stages.StageContext(ws, load_use_case(ws.resolve(params)), "2025-01"))
    assert again.status == "skipped"  # a later run does not re-ask
    cli = ["--workspace", str(ws.root), "models"]
    assert (
        main(
            [*cli, "approve", "churn", candidate, "--by", "ana", "--reason", "reviewed the report", "--params", params]
        )
        == 0
    )
    assert ModelStore(ws.model_store).aliases("churn")["champion"] == candidate and open_approvals(ws, "churn") == []
    assert main([*cli, "approve", "churn", candidate, "--by", "ana", "--reason", "again", "--params", params]) == 2
    assert "has no open approval: its decision is already 'promoted'" in capsys.readouterr().err
    second = _cycle(ws, params, "2025-02")
    pending = second["train"].summary["candidate"]
    assert second["promote"].summary["awaiting_approval"] is True
    assert (
        main([*cli, "reject", "churn", pending, "--by", "bo", "--reason", "wait for Q3 data", "--params", params]) == 0
    )
    assert ModelStore(ws.model_store).aliases("churn")["champion"] == candidate
    outcomes = [e.outcome for e in MonitoringLog(ws.model_store, "churn").entries("decision")]
    assert outcomes == ["awaiting_approval", "promoted", "awaiting_approval", "rejected_by_person"]
    audit = AuditLog(ws.model_store, "churn").entries()
    approval = next(e for e in audit if e.action == "approval")
    me = pwd.getpwuid(os.getuid()).pw_name
    assert (approval.actor, approval.reason, approval.version) == (
        f"ana ({me}, uid {os.getuid()})",
        "reviewed the report",
        candidate,
    )
    assert (approval.fields["os_user"], approval.fields["uid"], approval.fields["display_name"]) == (
        me,
        os.getuid(),
        "ana",
    )
    rejection = [e for e in audit if e.action == "rejection"][-1]
    assert (rejection.actor, rejection.reason) == (f"bo ({me}, uid {os.getuid()})", "wait for Q3 data")
    assert main(["--workspace", str(ws.root), "audit", "verify", "churn"]) == 0


def test_the_approver_is_the_os_user_and_an_unlisted_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from millpond.errors import NotAnApproverError
    from millpond.governance.approvals import Approver, check_approver, current_approver

    monkeypatch.setenv("USER", "someone-else")
    monkeypatch.setenv("LOGNAME", "someone-else")
    me = current_approver("  Ana  ")
    assert (me.user, me.uid, me.display_name) == (pwd.getpwuid(os.getuid()).pw_name, os.getuid(), "Ana")
    assert current_approver().actor == f"{me.user} (uid {me.uid})"
    check_approver(me, None, "approve", "churn")  # no list: anyone who can run millpond
    check_approver(me, [me.user], "approve", "churn")
    with pytest.raises(NotAnApproverError, match=r"OS user 'eve' \(uid 4242\) may not reject model 'churn'.*'ann'"):
        check_approver(Approver("eve", 4242), ["ann"], "reject", "churn")

"""status, schedule (crontab), gc and du — in-process, with small stores built by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from millpond.cli import main
from millpond.errors import ScheduleError
from millpond.marts.store import MartStore
from millpond.models.monitoring import MonitoringLog
from millpond.models.store import ModelStore
from millpond.ops.retention import retention_log
from millpond.ops.scheduler import Hooks, run_next
from millpond.workspace import Workspace
from tests.unit.ops.test_scheduler import FakeStages, _touch_windows

REPO = Path(__file__).resolve().parents[3]


def _script(ws: Workspace) -> None:
    (ws.root / "scripts").mkdir(exist_ok=True)
    (ws.root / "scripts" / "cron_cycle.sh").write_text((REPO / "scripts" / "cron_cycle.sh").read_text())


def test_schedule_prints_installs_idempotently_and_removes(
    workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _script(workspace)
    tab = tmp_path / "fake.crontab"
    tab.write_text("MAILTO=ops@example.invalid\n15 3 * * * /usr/bin/backup # someone else's\n")
    ws = ["--workspace", str(workspace.root)]
    assert main([*ws, "schedule", "--params", "params/churn.yaml", "--cron", "0 2 * * *"]) == 0
    line = capsys.readouterr().out.strip()
    assert (
        line
        == f"0 2 * * * {workspace.root}/scripts/cron_cycle.sh params/churn.yaml # millpond:{workspace.root}:params/churn.yaml"
    )
    assert not tab.read_text().count("millpond")
    for _ in range(2):
        assert (
            main(
                [
                    *ws,
                    "schedule",
                    "--params",
                    "params/churn.yaml",
                    "--cron",
                    "0 2 * * *",
                    "--install",
                    "--crontab-file",
                    str(tab),
                ]
            )
            == 0
        )
    assert "already installed" in capsys.readouterr().out
    assert tab.read_text().count("cron_cycle.sh") == 1 and "/usr/bin/backup" in tab.read_text()
    main(
        [
            *ws,
            "schedule",
            "--params",
            "params/churn.yaml",
            "--cron",
            "30 1 * * 1",
            "--install",
            "--crontab-file",
            str(tab),
        ]
    )
    assert tab.read_text().count("cron_cycle.sh") == 1 and "30 1 * * 1 " in tab.read_text()
    assert main([*ws, "schedule", "--params", "params/churn.yaml", "--remove", "--crontab-file", str(tab)]) == 0
    assert (
        "cron_cycle.sh" not in tab.read_text() and "/usr/bin/backup" in tab.read_text() and "MAILTO" in tab.read_text()
    )


def test_schedule_refuses_a_misspelt_params_path_naming_the_closest(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.unit.cli.test_cycle import PARAMS_HINT, TYPO, assert_refused

    _script(workspace)
    assert_refused(workspace, capsys, ("schedule", *TYPO), PARAMS_HINT)


def test_schedule_rejects_a_bad_cron_expression(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    _script(workspace)
    assert (
        main(["--workspace", str(workspace.root), "schedule", "--params", "params/churn.yaml", "--cron", "0 25 * * *"])
        == 2
    )
    assert "'0 25 * * *' is not a valid cron expression" in capsys.readouterr().err
    from millpond.ops.cron import check_cron

    with pytest.raises(ScheduleError, match="give 5 fields"):
        check_cron("@daily now")


def _model(store: ModelStore, window: str, marts: list[str]) -> str:
    rng = np.random.default_rng(int(window.replace("-", "")))  # versions are content hashes: differ per window
    model = LogisticRegression().fit(rng.normal(size=(40, 2)), np.arange(40) % 2)
    return store.save(
        "churn",
        model,
        {
            "trained_for_window": window,
            "training_marts": [{"version": m} for m in marts],
            "run_id": f"cycle-{window}/04-train",
        },
    ).version


def _mart(ws: Workspace, window: str, value: int) -> str:
    version = f"{window}-{value:012d}"
    manifest = {"mart": "churn", "version": version, "window": window, "created_at": datetime.now(UTC).isoformat()}
    return MartStore(ws.feature_marts).publish("churn", version, pd.DataFrame({"x": [value]}), manifest).version.version


def test_gc_keeps_the_lineage_of_champion_previous_and_pending_approvals(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = workspace
    store = ModelStore(ws.model_store)
    marts = [_mart(ws, f"2025-0{i}", i) for i in range(1, 7)]
    versions = [_model(store, f"2025-0{i}", [marts[i - 1]]) for i in range(1, 7)]
    store.promote("churn", versions[0], actor="test", reason="first")
    store.promote("churn", versions[1], actor="test", reason="second")  # champion v2, previous v1
    MonitoringLog(ws.model_store, "churn").append(
        "decision", "2025-05", candidate=versions[4], outcome="awaiting_approval"
    )
    (ws.model_store / "churn" / "captures" / "window=2025-01").mkdir(parents=True)
    (ws.model_store / "churn" / "captures" / "window=2025-01" / "p.parquet").write_bytes(b"x" * 10)
    main(["--workspace", str(ws.root), "gc", "--keep-days", "0", "--keep-versions", "1", "--dry-run", "--json"])
    planned = json.loads(capsys.readouterr().out)
    removed = {(r["kind"], r["ref"]) for r in planned["removed"]}
    assert {v for k, v in removed if k == "model_version"} == {versions[2], versions[3]}  # v6 is the newest
    # mart lineage of v1, v2, v5 and the newest two windows (training.windows 2) stay
    assert {v for k, v in removed if k == "mart_version"} == {marts[2], marts[3]}
    assert store.versions("churn") and len(store.versions("churn")) == 6  # a dry run removes nothing

    assert main(["--workspace", str(ws.root), "gc", "--keep-days", "0", "--keep-versions", "1"]) == 0
    left = {v.version for v in store.versions("churn")}
    assert left == {versions[0], versions[1], versions[4], versions[5]}
    assert {v.version for v in MartStore(ws.feature_marts).versions("churn")} == set(marts) - {marts[2], marts[3]}
    log = [json.loads(line) for line in (ws.logs / "retention.jsonl").read_text().splitlines()]
    assert {(e["kind"], e["ref"]) for e in log} == removed
    assert store.load("churn", "champion")[1].version == versions[1]


def test_gc_keeps_young_things_and_du_lists_the_space(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    ws = workspace
    _touch_windows(ws, "2025-01", "2025-02", "2025-03")
    run_next(ws, "params/churn.yaml", hooks=Hooks(execute=FakeStages(ws), echo=lambda _: None))
    assert main(["--workspace", str(ws.root), "gc", "--keep-days", "30", "--keep-versions", "1"]) == 0
    assert "removed 0 item(s)" in capsys.readouterr().out
    assert main(["--workspace", str(ws.root), "gc", "--keep-days", "0", "--keep-versions", "1"]) == 0
    assert "removed 2 item(s)" in capsys.readouterr().out
    from millpond.runs.store import RunStore

    assert {r.window for r in RunStore(ws.runs).list()} == {"2025-03"} and RunStore(ws.runs).verify().ok
    assert main(["--workspace", str(ws.root), "du", "--json"]) == 0
    rows = {r["what"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["runs (churn)"]["items"] == 1 and rows["raw data"]["items"] == 3


def test_the_retention_log_survives_a_torn_last_line(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    ws = workspace
    _touch_windows(ws, "2025-01", "2025-02", "2025-03")
    run_next(ws, "params/churn.yaml", hooks=Hooks(execute=FakeStages(ws), echo=lambda _: None))
    retention_log(ws).append({"action": "removed", "kind": "capture", "ref": "window=2024-12"})
    with open(ws.logs / "retention.jsonl", "ab") as handle:
        handle.write(b'{"action": "remo')  # a gc killed mid-append
    assert [e["ref"] for e in retention_log(ws).entries()] == ["window=2024-12"]  # reading skips it
    assert main(["--workspace", str(ws.root), "gc", "--keep-days", "0", "--keep-versions", "1"]) == 0
    assert "removed 2 item(s)" in capsys.readouterr().out
    lines = (ws.logs / "retention.jsonl").read_bytes().splitlines(keepends=True)
    entries = [json.loads(line) for line in lines]  # the next append cut the torn line off
    assert len(entries) == 3 and entries[0]["ref"] == "window=2024-12"
    assert [e["kind"] for e in entries[1:]] == ["run_cycle", "run_cycle"]
    assert all(line == json.dumps(e, sort_keys=True).encode() + b"\n" for line, e in zip(lines, entries, strict=True))


def test_status_reports_champion_last_cycle_next_due_and_approvals(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = workspace
    _touch_windows(ws, "2025-01", "2025-02")
    run_next(
        ws,
        "params/churn.yaml",
        hooks=Hooks(execute=FakeStages(ws, {("2025-02", "drift"): ["SchemaError: bad"]}), echo=lambda _: None),
    )
    store = ModelStore(ws.model_store)
    store.promote("churn", _model(store, "2025-01", []), actor="test", reason="first")
    MonitoringLog(ws.model_store, "churn").append("decision", "2025-02", candidate="abc", outcome="awaiting_approval")
    (ws.params / "broken.yaml").write_text("use_case: broken\nsorce: {}\n")
    assert main(["--workspace", str(ws.root), "status", "--json"]) == 0
    rows = {r["params"]: r for r in json.loads(capsys.readouterr().out)}
    churn = rows["params/churn.yaml"]
    assert churn["champion"] and churn["last_result"] == "failed at drift" and churn["failing_stages"] == ["drift"]
    assert churn["last_window"] == "2025-02" and churn["next_due"] == "2025-02" and churn["open_approvals"] == 1
    assert (
        "unknown key 'sorce'" in rows["params/broken.yaml"]["error"] or "problem" in rows["params/broken.yaml"]["error"]
    )
    assert main(["--workspace", str(ws.root), "status"]) == 0
    out = capsys.readouterr().out
    assert "failed at drift" in out and "candidate abc (2025-02) awaits approval" in out

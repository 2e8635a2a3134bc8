"""Commands run while a cycle holds the use case's lock, and two `millpond score` at once: each waits its turn or
exits 5 naming the holder, and nothing is doubled or lost. (Two cycles of one use case, and cycles of two use cases
at once, are tested in tests/integration/cli/ and tests/unit/runs/test_recovery.py.)

The "cycle" here is a process holding the lock exactly as ``millpond cycle`` does (the same :class:`CycleLock`, the
same holder note), so each case is deterministic: the command always meets a held lock.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from millpond.cli import main
from millpond.config.params import load_use_case
from millpond.errors import EXIT_LOCKED
from millpond.governance.audit import AuditLog
from millpond.models.monitoring import MonitoringLog
from millpond.models.store import ModelStore
from millpond.runs import stages
from millpond.runs.store import RunStore
from millpond.scoring.capture import CaptureStore
from millpond.workspace import Workspace
from tests.conftest import tree_snapshot
from tests.kill import assert_workspace_sound

pytestmark = pytest.mark.integration

CYCLE = "millpond cycle --params params/churn.yaml --window 2025-03"
HOLD = f"""
import sys
from millpond.store.lock import CycleLock
from millpond.workspace import Workspace
lock = CycleLock(Workspace.find(sys.argv[1]), "churn", command={CYCLE!r}).acquire()
print("held", flush=True)
sys.stdin.read()
lock.release()
"""


@pytest.fixture
def cycling(scoring_workspace: Workspace) -> Iterator[subprocess.Popen[str]]:
    """A process holding churn's cycle lock as a running `millpond cycle` does, released at the end."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(scoring_workspace.root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield proc
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=30)


def _cli(ws: Workspace, *args: str) -> int:
    return main(["--workspace", str(ws.root), *args])


def _names_holder(text: str, holder: subprocess.Popen[str]) -> bool:
    return f"PID {holder.pid}" in text and CYCLE in text


def test_gc_during_a_cycle_skips_that_use_case_naming_the_holder(
    scoring_workspace: Workspace, cycling: subprocess.Popen[str], capsys: pytest.CaptureFixture[str]
) -> None:
    ws = scoring_workspace
    models = ModelStore(ws.model_store)
    model, _ = models.load("churn", "champion")
    extra = models.save("churn", copy.deepcopy(model).set_params(verbose=True), {"trained_for_window": "2025-03"})
    assert _cli(ws, "gc", "--keep-days", "0", "--keep-versions", "0") == 0
    err = capsys.readouterr().err
    assert "skipped params/churn.yaml" in err and _names_holder(err, cycling), err
    assert extra.version in {v.version for v in models.versions("churn")}  # nothing removed under a running cycle
    cycling.stdin.close()  # type: ignore[union-attr]
    cycling.wait(timeout=30)
    assert _cli(ws, "gc", "--keep-days", "0", "--keep-versions", "0") == 0  # the cycle ended: gc collects
    assert extra.version not in {v.version for v in models.versions("churn")}


def test_labels_add_and_models_approve_during_a_cycle_exit_5_naming_the_holder_and_change_nothing(
    scoring_workspace: Workspace, cycling: subprocess.Popen[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = scoring_workspace
    uc = load_use_case(ws.params / "churn.yaml")
    stages.run_score(stages.StageContext(ws, uc, "2025-03", run_id="score/2025-03"))  # what the cycle scored before
    models = ModelStore(ws.model_store)
    champion, candidate = models.aliases("churn")["champion"], models.aliases("churn")["challenger"]
    MonitoringLog(ws.model_store, "churn").append(
        "decision", "2025-02", outcome="awaiting_approval", candidate=candidate, promote=True, reason="test"
    )
    labels = tmp_path / "labels.csv"
    stages.StageContext(ws, uc, "2025-03").marts.latest("churn", "2025-03").read()[[uc.key, uc.target]].to_csv(
        labels, index=False
    )
    before = tree_snapshot(ws.model_store), tree_snapshot(ws.runs)
    add = ("labels", "add", str(labels), "--params", "params/churn.yaml", "--window", "2025-03")
    approve = ("models", "approve", "churn", candidate, "--reason", "ok", "--params", "params/churn.yaml")
    rollback = ("models", "rollback", "churn", "--reason", "no")
    for command in (add, approve, rollback):
        assert _cli(ws, *command) == EXIT_LOCKED, command
        err = capsys.readouterr().err
        assert _names_holder(err, cycling), err
    assert (tree_snapshot(ws.model_store), tree_snapshot(ws.runs)) == before  # nothing written, nothing moved
    assert models.aliases("churn")["champion"] == champion

    cycling.stdin.close()  # type: ignore[union-attr]
    cycling.wait(timeout=30)
    assert _cli(ws, *add) == 0 and _cli(ws, *approve) == 0  # once the cycle is done, each runs once
    assert models.aliases("churn")["champion"] == candidate
    audit = AuditLog(ws.model_store, "churn").entries()
    assert [e.action for e in audit if e.version == candidate].count("promotion") == 1
    kpis = [e for e in MonitoringLog(ws.model_store, "churn").current("kpi") if e.window == "2025-03"]
    assert len(kpis) == 1
    assert_workspace_sound(ws, uc)


SCORE = [sys.executable, "-m", "millpond", "--workspace", "{root}", "score", "--model", "churn@champion"]


def test_two_scores_at_once_both_complete_and_capture_each_row_once(
    scoring_workspace: Workspace, tmp_path: Path
) -> None:
    ws = scoring_workspace
    uc = load_use_case(ws.params / "churn.yaml")
    frame = stages.StageContext(ws, uc, "2025-03").marts.latest("churn", "2025-03").read()
    halves = {0: frame.iloc[:1200], 1: frame.iloc[1200:]}
    procs = []
    for half, rows in halves.items():
        rows.to_csv(tmp_path / f"in{half}.csv", index=False)
        cmd = [a.format(root=ws.root) for a in SCORE]
        cmd += ["--input", str(tmp_path / f"in{half}.csv"), "--output", str(tmp_path / f"out{half}.csv")]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    runs = [r for r in RunStore(ws.runs).list(use_case="churn", stage="score") if r.status == "succeeded"]
    assert len(runs) == 2
    captured = CaptureStore(ws.model_store, "churn").read("adhoc")
    assert len(captured) == len(frame) and captured[uc.key].is_unique  # every row once, none lost or doubled
    assert sorted(captured.groupby("run_id").size().tolist()) == sorted(len(r) for r in halves.values())
    assert_workspace_sound(ws, uc)

"""kill -9 at the writes of gc, a person's decisions (approve, rollback), `labels add`'s record and index row, and a
Dask scoring run: after each kill the workspace is sound (``assert_workspace_sound``) and the next command or
cycle stage completes, nothing doubled or lost.

Every case starts from a copy of the session's scoring template (built once), so a kill point costs one killed
subprocess and one follow-up step, never the earlier stages again.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from millpond.cli import main
from millpond.config.params import UseCase, load_use_case
from millpond.governance.audit import AuditLog
from millpond.governance.deployment import promote_and_smoke_test, recover_pending
from millpond.models.monitoring import MonitoringLog
from millpond.models.store import ModelStore
from millpond.ops.retention import collect, retention_log, trash_dir
from millpond.runs import stages
from millpond.runs.store import RunStore
from millpond.scoring.capture import CaptureStore
from millpond.workspace import Workspace
from tests.conftest import MakeUseCase
from tests.kill import assert_verified, assert_workspace_sound, run_cli_killed, run_killed

pytestmark = pytest.mark.integration


def _uc(ws: Workspace) -> UseCase:
    return load_use_case(ws.params / "churn.yaml")


def _actions(ws: Workspace, action: str, version: str) -> list[dict]:
    return [e for e in AuditLog(ws.model_store, "churn").entries() if e.action == action and e.version == version]


# --- gc: a removal is logged once, leaves its store with one rename, and a killed delete is finished next time ---
GC = """
from millpond.ops.retention import collect
from millpond.workspace import Workspace
collect(Workspace.find({root!r}), keep_days=0, keep_versions=0)
"""


@pytest.mark.reliability("kill")
@pytest.mark.parametrize("point", ["gc-logged", "gc-hidden", "gc-deleting"])
def test_a_kill_during_gc_never_leaves_a_half_deleted_version(scoring_workspace: Workspace, point: str) -> None:
    ws, uc = scoring_workspace, _uc(scoring_workspace)
    models = ModelStore(ws.model_store)
    model, _ = models.load("churn", "champion")
    extra = models.save("churn", copy.deepcopy(model).set_params(verbose=True), {"trained_for_window": "2025-03"})
    run_killed(GC.format(root=str(ws.root)), point)

    left = {v.version for v in models.versions("churn")}
    assert (extra.version in left) == (point == "gc-logged")  # in place until one rename hides it whole
    assert_workspace_sound(ws, uc)  # nothing half-deleted is visible: verify passes
    if point == "gc-deleting":
        assert any(trash_dir(ws).iterdir()), "the kill left the hidden folder half-deleted in the trash"
    report = collect(ws, keep_days=0, keep_versions=0)  # the next gc
    assert extra.version not in {v.version for v in models.versions("churn")}
    assert not trash_dir(ws).exists() or not any(trash_dir(ws).iterdir())
    logged = [e for e in retention_log(ws).entries() if e["ref"] == extra.version]
    assert len(logged) == 1 and logged[0]["kind"] == "model_version"  # logged exactly once, killed or not
    assert not [r for r in report.removals if r.ref == extra.version and point != "gc-logged"]
    assert_verified(ws)


# --- models approve: the approval and the promotion it starts are audited once, whatever step was killed ---
def _awaiting(ws: Workspace) -> str:
    """The challenger as a candidate awaiting approval (what the promote stage logs with approval: manual)."""
    candidate = ModelStore(ws.model_store).aliases("churn")["challenger"]
    MonitoringLog(ws.model_store, "churn").append(
        "decision", "2025-02", outcome="awaiting_approval", candidate=candidate, promote=True, reason="test"
    )
    return candidate


APPROVE = ["models", "approve", "churn", "{version}", "--reason", "looks good", "--params", "params/churn.yaml"]
POINTS = [("approval-audited", False), ("alias-intent-written", False), ("alias-switched", True)]
POINTS += [("approval-promoted", True)]


@pytest.mark.reliability("kill")
@pytest.mark.parametrize(("point", "moved"), POINTS, ids=[p for p, _ in POINTS])
def test_a_killed_approval_is_completed_once(scoring_workspace: Workspace, point: str, moved: bool) -> None:
    ws, uc = scoring_workspace, _uc(scoring_workspace)
    models = ModelStore(ws.model_store)
    old, candidate = models.aliases("churn")["champion"], _awaiting(ws)
    args = [a.format(version=candidate) for a in APPROVE]
    run_cli_killed(ws, args, point)
    assert models.aliases("churn")["champion"] == (candidate if moved else old)

    code = main(["--workspace", str(ws.root), *args])  # the person runs it again
    assert code == (0 if not moved else 2)  # 2: the recovered approval is already decided, and says so
    assert models.aliases("churn")["champion"] == candidate and models.pending("churn") is None
    assert len(_actions(ws, "approval", candidate)) == 1
    assert len(_actions(ws, "promotion", candidate)) == 1
    decisions = [e for e in MonitoringLog(ws.model_store, "churn").entries("decision") if e.candidate == candidate]
    assert [d.outcome for d in decisions] == ["awaiting_approval", "promoted"]
    assert_workspace_sound(ws, uc)


# --- models rollback: a governed write-ahead move, completed and audited once by the next command or stage ---
@pytest.mark.reliability("kill")
@pytest.mark.parametrize("point", ["alias-intent-written", "alias-switched", "rollback-moved"])
def test_a_killed_manual_rollback_is_completed_and_audited_once(scoring_workspace: Workspace, point: str) -> None:
    ws, uc = scoring_workspace, _uc(scoring_workspace)
    models = ModelStore(ws.model_store)
    old, candidate = models.aliases("churn")["champion"], models.aliases("churn")["challenger"]
    promote_and_smoke_test(ws, uc, candidate, actor="test", reason="setup", window="2025-02")
    recover_pending(ws, uc)  # settle the promotion (its decision entry), as the next stage would
    assert models.aliases("churn")["previous"] == old
    run_cli_killed(ws, ["models", "rollback", "churn", "--reason", "bad night"], point)
    assert models.pending("churn") is not None  # the write-ahead record names the unfinished rollback
    assert_workspace_sound(ws, uc)  # an interrupted move is a note, not tampering

    recover_pending(ws, uc)  # what every cycle stage does first
    assert models.pending("churn") is None and models.aliases("churn")["champion"] == old
    rollbacks = _actions(ws, "rollback", candidate)
    assert len(rollbacks) == 1 and rollbacks[0].fields["champion_after"] == old
    history = [(e.source, e.target) for e in models.history("churn") if e.alias == "champion"]
    assert history.count((candidate, old)) == 1
    assert_workspace_sound(ws, uc)


# --- labels add: killed while its run is recorded (files written, manifest not yet; manifest, no index row) ---
@pytest.mark.reliability("kill")
@pytest.mark.parametrize("point", ["labels-stored", "record-started", "record-manifest-written"])
def test_a_kill_while_labels_add_records_its_run_then_adding_again_logs_one_kpi(
    scoring_workspace: Workspace, tmp_path: Path, point: str
) -> None:
    ws, uc = scoring_workspace, _uc(scoring_workspace)
    stages.run_score(stages.StageContext(ws, uc, "2025-03", run_id="score/2025-03"))
    mart = stages.StageContext(ws, uc, "2025-03").marts.latest("churn", "2025-03").read()
    labels = tmp_path / "labels.csv"
    mart[[uc.key, uc.target]].to_csv(labels, index=False)
    args = ["labels", "add", str(labels), "--params", "params/churn.yaml", "--window", "2025-03"]
    run_cli_killed(ws, args, point)
    stored = list((ws.model_store / "churn" / "labels" / "window=2025-03").glob("labels-*.parquet"))
    assert len(stored) == 1
    assert_workspace_sound(ws, uc)

    assert main(["--workspace", str(ws.root), *args]) == 0  # again: stored once, its KPI logged by one run
    assert list((ws.model_store / "churn" / "labels" / "window=2025-03").glob("labels-*.parquet")) == stored
    current = [e for e in MonitoringLog(ws.model_store, "churn").current("kpi") if e.window == "2025-03"]
    labels_runs = [r for r in RunStore(ws.runs).list(use_case="churn", stage="labels") if r.status == "succeeded"]
    assert len(current) == 1 and current[0].run_id == labels_runs[0].run_id
    if point == "record-manifest-written":  # the killed run's record is whole; the index lacks its row until reindex
        assert main(["--workspace", str(ws.root), "verify", "--repair"]) == 0
        assert len([r for r in RunStore(ws.runs).list(stage="labels") if r.status == "succeeded"]) == 2
    assert_verified(ws)


# --- a Dask scoring run (LocalCluster) killed mid-batch: nothing captured is visible, the rerun captures once ---
SCORE = """
from millpond.config.params import load_use_case
from millpond.runs import stages
from millpond.workspace import Workspace
ws = Workspace.find({root!r})
uc = load_use_case(ws.params / "dask.yaml")
stages.run_score(stages.StageContext(ws, uc, "2025-03", run_id={run!r}))
"""


@pytest.mark.reliability("kill")
def test_a_dask_scoring_run_killed_mid_batch_is_scored_again_once(
    scoring_workspace: Workspace, make_use_case: MakeUseCase
) -> None:
    pytest.importorskip("distributed")
    ws = scoring_workspace
    scoring = _uc(ws).scoring.model_dump(by_alias=True, exclude_unset=True) | {"batch_rows": 500}
    make_use_case(ws, engine={"kind": "dask", "workers": 1}, scoring=scoring, name="dask")  # params/dask.yaml
    run_killed(SCORE.format(root=str(ws.root), run="killed/2025-03"), "score-batch-written:3")
    captures = CaptureStore(ws.model_store, "churn")
    assert captures.parts("2025-03") == []  # parts are published whole at the end, never mid-batch
    local = _uc(ws)  # the next cycle may run on either engine (they score alike: tests/integration/dask)
    assert_workspace_sound(ws, local)

    done = stages.run_score(stages.StageContext(ws, local, "2025-03", run_id="rerun/2025-03"))
    assert done.status == "succeeded"
    frame = captures.read("2025-03")
    for _, part in frame.groupby("model_version"):
        assert set(part["run_id"]) == {"rerun/2025-03"} and part["customer_id"].is_unique and len(part) == 3000
    assert not [p for p in captures.root.rglob(".*") if p.is_file()]  # the killed run's staging files are swept
    assert_workspace_sound(ws, local)

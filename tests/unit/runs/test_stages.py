"""The cycle's logic in-process (no notebooks): what each stage decides, window by window."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from millpond.config.params import load_use_case
from millpond.drift.analysis import calibration_rows
from millpond.governance import deployment, promotion
from millpond.marts.store import MartStore
from millpond.models.monitoring import MonitoringLog
from millpond.models.store import ModelStore
from millpond.runs import stages
from millpond.runs.stages import StageContext
from millpond.store.artifacts import Artifact
from millpond.store.files import sha256_file
from millpond.store.log import line_sha256
from millpond.workspace import Workspace


def _ctx(ws: Workspace, window: str, params: str = "churn.yaml") -> StageContext:
    return StageContext(
        workspace=ws, use_case=load_use_case(ws.params / params), window=window, run_id=f"test/{window}"
    )


def _cycle(ws: Workspace, window: str) -> dict[str, stages.StageResult]:
    ctx = _ctx(ws, window)
    return {name: fn(ctx) for name, fn in stages.RUNNERS.items()}


def test_first_window_trains_and_promotes_a_first_champion(demo_workspace: Workspace) -> None:
    out = _cycle(demo_workspace, "2025-01")
    assert out["ingest"].status == "succeeded"
    assert out["score"].status == "skipped" and "no champion" in out["score"].reason
    assert out["drift"].status == "skipped"
    assert out["train"].summary["reasons"] == ["no champion yet"]
    assert out["promote"].summary["promoted"] is True
    store = ModelStore(demo_workspace.model_store)
    assert store.aliases("churn")["champion"] == out["train"].summary["candidate"]


def test_stationary_window_scores_without_drift_or_retrain(demo_workspace: Workspace) -> None:
    _cycle(demo_workspace, "2025-01")
    out = _cycle(demo_workspace, "2025-02")
    assert out["score"].status == "succeeded" and out["score"].summary["kpi"]["roc_auc"] > 0.7
    assert out["drift"].summary["data_drift"] is False, out["drift"].tables
    assert out["train"].status == "skipped"
    assert out["promote"].status == "skipped"
    captures = list(
        (demo_workspace.model_store / "churn" / "captures" / "window=2025-02").glob("model_version=*/part-*.parquet")
    )
    assert len(captures) == 1


def test_drift_triggers_retrain_and_the_decision_is_logged_once(demo_workspace: Workspace) -> None:
    for window in ("2025-01", "2025-02", "2025-03"):
        _cycle(demo_workspace, window)
    drift = MonitoringLog(demo_workspace.model_store, "churn").latest("drift", "2025-03")
    assert drift is not None and drift.data_drift is True and "monthly_charges" in drift.fields["drifted_features"]
    out4 = _cycle(demo_workspace, "2025-04")
    assert out4["train"].status == "succeeded"
    decisions = MonitoringLog(demo_workspace.model_store, "churn").entries("decision", "2025-04")
    assert len(decisions) == 1
    again = stages.run_promote(_ctx(demo_workspace, "2025-04"))
    assert again.status == "skipped" and "no undecided candidate" in again.reason


def test_failed_smoke_test_rolls_back_to_the_previous_champion(
    demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cycle(demo_workspace, "2025-01")
    store = ModelStore(demo_workspace.model_store)
    first = store.aliases("churn")["champion"]
    ctx = _ctx(demo_workspace, "2025-02")
    stages.run_ingest(ctx)
    monkeypatch.setattr(stages, "retrain_reasons", lambda ctx: ["forced by test"])
    monkeypatch.setattr(
        promotion, "decide_governed", lambda *a, **k: (_always_promote(), __import__("pandas").DataFrame())
    )
    stages.run_train(ctx)
    monkeypatch.setattr(deployment, "smoke_champion", lambda models, uc: "ValueError: broken")
    result = stages.run_promote(ctx)
    assert result.summary["promoted"] is False and "rolled back" in result.reason
    assert store.aliases("churn")["champion"] == first
    store.load("churn", "champion")


def _always_promote():
    from millpond.governance.promotion import Decision

    return Decision(True, "forced", "roc_auc", 0.9, 0.8)


def test_smoke_test_passes_on_a_real_champion(demo_workspace: Workspace) -> None:
    _cycle(demo_workspace, "2025-01")
    ctx = _ctx(demo_workspace, "2025-01")
    assert deployment.smoke_champion(ctx.models, ctx.use_case) == ""


def test_tampered_champion_is_refused_by_score(demo_workspace: Workspace) -> None:
    from millpond.errors import ModelIntegrityError

    _cycle(demo_workspace, "2025-01")
    store = ModelStore(demo_workspace.model_store)
    path: Path = store.get("churn", "champion").model_file
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    ctx = _ctx(demo_workspace, "2025-02")
    stages.run_ingest(ctx)
    with pytest.raises(ModelIntegrityError, match="altered"):
        stages.run_score(ctx)
    assert not (demo_workspace.model_store / "churn" / "captures" / "window=2025-02").exists()


def test_cbpe_calibration_rows_are_the_champions_holdout_and_later_labelled_windows(demo_workspace: Workspace) -> None:
    from millpond.models.training import holdout_mask

    for window in ("2025-01", "2025-02"):
        _cycle(demo_workspace, window)
    ctx = _ctx(demo_workspace, "2025-03")
    stages.run_ingest(ctx)
    champion = ctx.champion()
    assert champion is not None and champion.metadata.trained_for_window == "2025-01"
    rows = calibration_rows(ctx, champion)
    first = ctx.marts.latest("churn", "2025-01").read()
    held_out = first[holdout_mask(first, ctx.use_case)]
    assert rows is not None and len(rows) == len(held_out) + 3000  # never the champion's training rows, nor window T
    assert rows["customer_id"].iloc[: len(held_out)].tolist() == held_out["customer_id"].tolist()
    assert (
        rows["customer_id"].iloc[len(held_out) :].tolist()
        == ctx.marts.latest("churn", "2025-02").read()["customer_id"].tolist()
    )


def _by_kind(artifacts: list[Artifact]) -> dict[str, list[Artifact]]:
    found: dict[str, list[Artifact]] = {}
    for artifact in artifacts:
        found.setdefault(artifact.kind, []).append(artifact)
    return found


def _line_at(ws: Workspace, artifact: Artifact) -> bytes:
    assert artifact.path is not None and artifact.offset is not None
    data = (ws.root / artifact.path).read_bytes()
    return data[artifact.offset : data.index(b"\n", artifact.offset) + 1]


def test_every_stage_lists_what_it_read_and_wrote_with_sha256(demo_workspace: Workspace) -> None:
    ws = demo_workspace
    first = _cycle(ws, "2025-01")
    v1 = MartStore(ws.feature_marts).latest("churn", "2025-01")
    ingest = _by_kind(first["ingest"].inputs), _by_kind(first["ingest"].outputs)
    (raw,) = ingest[0]["raw_file"]
    assert raw.path == "feature_marts/raw/churn/churn_2025-01.csv" and raw.sha256 == sha256_file(ws.root / raw.path)
    assert ingest[1]["mart_version"] == [Artifact("mart_version", v1.ref, v1.sha256, ws.relative(v1.data_path))]
    (registered,) = ingest[1]["log_entry"]  # the version's line in feature_marts/churn/versions.jsonl
    assert registered.path == "feature_marts/churn/versions.jsonl" and set(ingest[1]) == {"mart_version", "log_entry"}
    assert first["score"].inputs == first["score"].outputs == []  # skipped: no champion, nothing read
    champion = ModelStore(ws.model_store).get("churn", "champion")
    train_in, train_out = _by_kind(first["train"].inputs), _by_kind(first["train"].outputs)
    assert [a.ref for a in train_in["mart_version"]] == [v1.ref]
    (model,) = train_out["model_version"]
    assert (model.ref, model.sha256, model.path) == (
        f"churn@{champion.version}",
        champion.sha256,
        ws.relative(champion.model_file),
    )
    assert sha256_file(ws.root / model.path) == model.sha256
    promote_in, promote_out = _by_kind(first["promote"].inputs), _by_kind(first["promote"].outputs)
    assert [a.ref for a in promote_in["model_version"]] == [model.ref]  # the candidate, loaded to compare
    logs = {a.path for a in promote_out["log_entry"]}
    assert {"model_store/churn/monitoring.jsonl", "model_store/churn/history.jsonl"} <= logs
    for line in promote_out["log_entry"]:
        assert line_sha256(_line_at(ws, line)) == line.sha256

    second = _cycle(ws, "2025-02")
    v2 = MartStore(ws.feature_marts).latest("churn", "2025-02")
    score_in, score_out = _by_kind(second["score"].inputs), _by_kind(second["score"].outputs)
    assert [a.ref for a in score_in["mart_version"]] == [v2.ref] and [a.ref for a in score_in["model_version"]] == [
        model.ref
    ]
    (part,) = score_out["capture_part"]
    assert "captures/window=2025-02/" in str(part.path) and sha256_file(ws.root / str(part.path)) == part.sha256
    kpis = [json.loads(_line_at(ws, a)) for a in score_out["log_entry"]]
    assert {e["kind"] for e in kpis} == {"kpi", "model_kpi"} and {e["window"] for e in kpis} == {"2025-02"}
    drift_in = _by_kind(second["drift"].inputs)
    assert {a.ref for a in drift_in["mart_version"]} == {v1.ref, v2.ref}  # training data and this window
    (verdict,) = second["drift"].outputs
    assert json.loads(_line_at(ws, verdict))["kind"] == "drift"
    assert second["train"].outputs == second["promote"].outputs == []  # skipped

    again = stages.run_ingest(_ctx(ws, "2025-02"))  # identical input: nothing written; the stored version is read
    assert {a.ref for a in again.inputs} == {"feature_marts/raw/churn/churn_2025-02.csv", v2.ref} and not again.outputs

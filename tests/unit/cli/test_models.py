"""The model CLI end to end on recorded runs: show, lineage back to raw files, compare, rollback, tamper refusal, rerun."""

from __future__ import annotations

import json
import os
import pwd
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml

from millpond.cli import main
from millpond.config.params import load_use_case
from millpond.models.store import ModelStore
from millpond.runs import stages
from millpond.runs.entities import RunManifest, RunTimings
from millpond.runs.stages import StageContext
from millpond.runs.store import RunStore, new_cycle_id
from millpond.store.files import sha256_file
from millpond.workspace import Workspace
from tests.conftest import tree_snapshot, write_yaml


def _params(ws: Workspace, max_iter: int) -> Path:
    data = yaml.safe_load((ws.params / "churn.yaml").read_text())
    data["model"] = {
        "family": "hist_gradient_boosting",
        "params": {"learning_rate": 0.1},
        "search": {"method": "grid", "space": {"max_iter": [max_iter, max_iter + 10]}, "cv_folds": 2},
    }
    data["training"] = {"windows": 2, "holdout_fraction": 0.25}
    return write_yaml(ws.params / f"tiny{max_iter}.yaml", data)


def _recorded(ws: Workspace, params: Path, window: str, stage_names: tuple[str, ...]) -> dict[str, stages.StageResult]:
    """Run stages in-process, each recorded as a real run record (no papermill: fast)."""
    runs, use_case = RunStore(ws.runs), load_use_case(params)
    cycle = new_cycle_id("churn", window)
    out = {}
    for order, name in enumerate(stage_names, start=1):
        run_dir = runs.prepare(cycle, order, name)
        ctx = StageContext(ws, use_case, window, run_id=f"{cycle}/{run_dir.name}", run_dir=run_dir)
        started = datetime.now(UTC)
        result = stages.RUNNERS[name](ctx)
        manifest = RunManifest(
            use_case="churn",
            window=window,
            stage=name,
            status=result.status,
            timings=RunTimings.between(started, datetime.now(UTC)),
            params=yaml.safe_load(params.read_text()),
            scraps={"status": result.status, "summary": stages._jsonable(result.summary)},
        )
        runs.record(run_dir, manifest, repo_dir=ws.root)
        out[name] = result
    return out


@pytest.fixture
def two_versions(demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> tuple[Workspace, str, str]:
    ws = demo_workspace
    first = _recorded(ws, _params(ws, 10), "2025-01", ("ingest", "train", "promote"))["train"].summary["candidate"]
    monkeypatch.setattr(stages, "retrain_reasons", lambda ctx: ["forced by test"])
    second = _recorded(ws, _params(ws, 30), "2025-02", ("ingest", "train"))["train"].summary["candidate"]
    ModelStore(ws.model_store).promote("churn", second, actor="test", reason="second champion")
    return ws, first, second


def _cli(ws: Workspace, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--workspace", str(ws.root), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_show_has_profile_search_and_every_iteration(two_versions, capsys) -> None:
    ws, _, second = two_versions
    code, out, _ = _cli(ws, capsys, "models", "show", "churn@champion", "--json")
    assert code == 0
    meta = json.loads(out)["metadata"]
    assert meta["profile"]["serialized_bytes"] == meta["size_bytes"] > 0
    assert meta["profile"]["fit_wall_seconds"] > 0 and meta["profile"]["predict_ms_per_row"] > 0
    assert [row["max_iter"] for row in meta["search"]["iterations"]] == [30, 40]
    assert meta["model_params"]["max_iter"] == meta["search"]["best_params"]["max_iter"]
    train_run = RunStore(ws.runs).get(meta["run_id"])
    recorded = pd.read_csv(train_run.path / "outputs" / "search_iterations.csv")
    assert list(recorded["max_iter"]) == [30, 40] and {"fold_1", "fold_2", "fit_seconds"} <= set(recorded.columns)
    assert RunStore(ws.runs).verify().ok
    code, out, _ = _cli(ws, capsys, "models", "show", f"churn@{second}")
    assert "profile" in out and "search              grid over 2 candidates, 2 folds" in out


def test_lineage_goes_from_the_champion_back_to_the_raw_files(two_versions, capsys) -> None:
    ws, _, second = two_versions
    code, out, _ = _cli(ws, capsys, "models", "lineage", "churn@champion", "--json")
    assert code == 0
    lineage = json.loads(out)
    assert lineage["model"]["version"] == second and lineage["model"]["aliases"] == ["champion"]
    assert lineage["training_run"]["found"] and lineage["training_run"]["stage"] == "train"
    assert [m["window"] for m in lineage["marts"]] == ["2025-01", "2025-02"]
    for mart in lineage["marts"]:
        raw = ws.raw / "churn" / f"churn_{mart['window']}.csv"
        assert mart["data_intact"] is True
        assert mart["ingest_run"]["stage"] == "ingest" and mart["ingest_run"]["status"] == "succeeded"
        assert mart["source"]["path"] == f"feature_marts/raw/churn/churn_{mart['window']}.csv"
        assert mart["source"]["sha256"] == sha256_file(raw)
    code, out, _ = _cli(ws, capsys, "models", "lineage", "churn")
    assert code == 0 and "source feature_marts/raw/churn/churn_2025-02.csv" in out and "ingest run " in out


def test_compare_puts_metrics_params_and_data_side_by_side(two_versions, capsys) -> None:
    ws, first, second = two_versions
    code, out, _ = _cli(ws, capsys, "models", "compare", "churn", first, second, "--json")
    assert code == 0
    report = json.loads(out)
    assert {r["metric"] for r in report["metrics"]} >= {"roc_auc", "pr_auc", "log_loss", "brier", "f1", "accuracy"}
    params = {r["parameter"]: (r[first], r[second]) for r in report["params"]}
    assert params["params.model.search.space.max_iter"] == ([10, 20], [30, 40])
    data = report["training_data"]
    assert len(data["both"]) == 1 and len(data[f"only_{second}"]) == 1 and data[f"only_{first}"] == []
    code, out, _ = _cli(ws, capsys, "models", "compare", "churn", "previous", "champion")
    assert code == 0 and "parameters that differ" in out and "roc_auc" in out


def test_rollback_via_the_cli_is_recorded(two_versions, capsys) -> None:
    ws, first, second = two_versions
    code, out, _ = _cli(ws, capsys, "models", "rollback", "churn", "--reason", "bad KPIs")
    assert code == 0 and f"champion {second} -> {first}" in out
    store = ModelStore(ws.model_store)
    assert store.aliases("churn")["champion"] == first
    last = [e for e in store.history("churn") if e.alias == "champion"][-1]
    assert (last.action, last.source, last.target, last.reason) == ("rollback", second, first, "bad KPIs")
    assert last.actor == f"{pwd.getpwuid(os.getuid()).pw_name} (uid {os.getuid()})"  # the OS user, not $USER
    code, _, err = _cli(ws, capsys, "models", "rollback", "churn")
    assert code == 2 and "no previous version to roll back to" in err


def test_a_tampered_model_file_is_refused_by_the_cli(two_versions, capsys) -> None:
    ws, first, _ = two_versions
    store = ModelStore(ws.model_store)
    model_file = store.get("churn", first).model_file
    model_file.chmod(0o644)
    data = model_file.read_bytes()
    model_file.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    before = {k: v for k, v in tree_snapshot(ws.model_store).items() if not k.endswith(".lock")}
    code, _, err = _cli(ws, capsys, "models", "rollback", "churn")
    assert code == 3
    assert f"Model file {model_file} was altered on disk" in err and "restore it" in err
    assert {
        k: v for k, v in tree_snapshot(ws.model_store).items() if not k.endswith(".lock")
    } == before  # nothing switched
    code, out, err = _cli(ws, capsys, "models", "verify", "churn")
    assert code == 3 and "was altered on disk" in out and "error:" in err
    code, out, _ = _cli(ws, capsys, "models", "verify", "churn@champion")
    assert code == 0 and "1 model file(s) of churn match" in out


def test_rerun_reproduces_a_training_run(two_versions, capsys) -> None:
    ws, _, second = two_versions
    train_run = ModelStore(ws.model_store).get("churn", second).metadata.run_id
    code, out, _ = _cli(ws, capsys, "runs", "rerun", train_run, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["metrics_match"] is True and report["model_identical"] is True and report["version"] == second
    assert {r["metric"] for r in report["metrics"]} >= {"roc_auc", "brier"}
    ingest_run = RunStore(ws.runs).list(stage="ingest")[0].run_id
    code, _, err = _cli(ws, capsys, "runs", "rerun", ingest_run)
    assert code == 2 and "is a 'ingest' run; `runs rerun` re-executes train runs" in err

"""Scoring on a real Dask cluster on 127.0.0.1 gives the in-process predictions, captures, KPIs and summary."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from millpond.config.params import load_use_case, validate_use_case
from millpond.errors import ClusterUnavailableError, ParamsError
from millpond.marts.store import MartStore
from millpond.models.store import ModelStore
from millpond.ops.scheduler import is_transient
from millpond.runs import stages
from millpond.runs.adhoc import score_adhoc
from millpond.runs.store import RunStore
from millpond.scoring.batch import Scorer, score_file
from millpond.scoring.capture import CaptureStore
from millpond.workspace import Workspace
from tests.conftest import tree_snapshot

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A scheduler and one single-threaded worker process on loopback, no dashboard; closed after the module."""
    cluster = distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _scorers(ws: Workspace, **scoring: object) -> tuple[Scorer, Scorer]:
    uc = load_use_case(ws.params / "churn.yaml")
    uc = uc.model_copy(update={"scoring": uc.scoring.model_copy(update=scoring)})
    store = ModelStore(ws.model_store)
    return (
        Scorer.load(store, "churn", "champion", use_case=uc),
        Scorer.load(store, "churn", "challenger", role="challenger", use_case=uc),
    )


def _run(
    ws: Workspace, tmp_path: Path, tag: str, **scoring: object
) -> tuple[object, pd.DataFrame, dict[str, pd.DataFrame]]:
    champion, challenger = _scorers(ws, **scoring)
    path = MartStore(ws.feature_marts).latest("churn", "2025-02").data_path
    out = tmp_path / f"{tag}.parquet"
    result = score_file(
        path,
        champion,
        challenger=challenger,
        captures=CaptureStore(ws.model_store, "churn"),
        window=f"2025-02-{tag}",
        output=out,
        run_id="run/1",
    )
    captures = {v: pd.read_parquet(p).drop(columns="scored_at") for v, p in result.captures.items()}
    return result, pd.read_parquet(out).drop(columns="scored_at"), captures


@pytest.mark.parametrize("mode", ["shadow", "split"])
def test_dask_gives_the_in_process_predictions_captures_and_kpis(
    scheduler: str, scoring_workspace: Workspace, tmp_path: Path, mode: str
) -> None:
    ws = scoring_workspace
    local, local_out, local_caps = _run(ws, tmp_path, "local", batch_rows=700, challenger_mode=mode, split_fraction=0.3)
    remote, remote_out, remote_caps = _run(
        ws, tmp_path, "dask", batch_rows=700, challenger_mode=mode, split_fraction=0.3, dask_scheduler=scheduler
    )
    assert remote.rows == local.rows == 3000
    assert remote.served == local.served and all(local.served.values()) == (
        mode == "split"
    )  # shadow: challenger serves 0
    assert remote.metrics == local.metrics and len(local.metrics) == 2  # exact KPIs of both versions
    pd.testing.assert_frame_equal(remote_out, local_out)
    assert sorted(remote_caps) == sorted(local_caps) and len(local_caps) == 2
    for version, frame in local_caps.items():
        pd.testing.assert_frame_equal(remote_caps[version], frame)
    pd.testing.assert_frame_equal(remote.sample.drop(columns="scored_at"), local.sample.drop(columns="scored_at"))


def test_score_stage_on_dask_logs_the_same_summary_and_kpis(scheduler: str, scoring_workspace: Workspace) -> None:
    ws = scoring_workspace
    uc = load_use_case(ws.params / "churn.yaml")
    on_dask = uc.model_copy(update={"scoring": uc.scoring.model_copy(update={"dask_scheduler": scheduler})})
    local = stages.run_score(stages.StageContext(ws, uc, "2025-03", run_id="local/2025-03"))
    remote = stages.run_score(stages.StageContext(ws, on_dask, "2025-03", run_id="dask/2025-03"))
    assert remote.status == local.status == "succeeded"
    strip = lambda s: {k: v for k, v in s.items() if k != "captures"}  # noqa: E731 - capture paths hold the run id
    assert strip(remote.summary) == strip(local.summary) and local.summary["kpi"]["roc_auc"] > 0.5
    read = CaptureStore(ws.model_store, "churn").read
    champion = local.summary["champion"]
    by_run = {
        r: read("2025-03", champion, run_id=r).drop(columns=["scored_at", "run_id"])
        for r in ("local/2025-03", "dask/2025-03")
    }
    assert len(by_run["local/2025-03"]) == local.summary["rows"]
    pd.testing.assert_frame_equal(by_run["dask/2025-03"], by_run["local/2025-03"])


def test_unreachable_scheduler_is_named_recorded_and_changes_nothing(
    scoring_workspace: Workspace, tmp_path: Path
) -> None:
    ws = scoring_workspace
    address = f"tcp://127.0.0.1:{_free_port()}"
    params = yaml.safe_load((ws.params / "churn.yaml").read_text())
    params["scoring"] = {**params.get("scoring", {}), "dask_scheduler": address, "dask_timeout_seconds": 1}
    (ws.params / "dask.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    io = tmp_path / "io"
    io.mkdir()
    MartStore(ws.feature_marts).latest("churn", "2025-03").read().to_parquet(io / "in.parquet")
    before = tree_snapshot(ws.model_store)
    with pytest.raises(
        ClusterUnavailableError,
        match=rf"Dask scheduler at {address}.*dask scheduler --host 127.0.0.1.*remove 'scoring.dask_scheduler'",
    ):
        score_adhoc(ws, "churn@champion", io / "in.parquet", io / "out.parquet", params_path=ws.params / "dask.yaml")
    assert tree_snapshot(ws.model_store) == before
    assert [p.name for p in io.iterdir()] == ["in.parquet"]  # no output and no staging file left
    (record,) = RunStore(ws.runs).list()
    assert record.status == "failed" and address in record.manifest["error"]
    assert "ClusterUnavailableError" in record.manifest["error"]


def test_scheduler_address_is_validated() -> None:
    params = yaml.safe_load((Path(__file__).resolve().parents[3] / "params" / "churn.yaml").read_text())
    params["scoring"] = {**params.get("scoring", {}), "dask_scheduler": "127.0.0.1:8786"}
    with pytest.raises(ParamsError, match=r"scoring.dask_scheduler.*tcp://127.0.0.1:8786"):
        validate_use_case(params)


def _dask_params(ws: Workspace, address: str, **extra: object) -> str:
    params = yaml.safe_load((ws.params / "churn.yaml").read_text())
    params["scoring"] = {**params.get("scoring", {}), "dask_scheduler": address, **extra}
    (ws.params / "dask.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    return "params/dask.yaml"


def test_score_notebook_runs_on_dask_and_fails_recorded_without_it(
    scheduler: str, scoring_workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    from millpond.cli import main

    ws = scoring_workspace
    shutil.copytree(Path(__file__).resolve().parents[3] / "notebooks", ws.root / "notebooks")
    before = tree_snapshot(ws.model_store)
    down = f"tcp://127.0.0.1:{_free_port()}"
    args = ["--workspace", str(ws.root), "run", "score", "--window", "2025-03", "--params"]
    assert main([*args, _dask_params(ws, down, dask_timeout_seconds=1)]) != 0
    assert f"Dask scheduler at {down}" in capsys.readouterr().err
    (failed,) = RunStore(ws.runs).list()
    assert failed.status == "failed" and down in failed.manifest["error"]
    assert is_transient(failed.manifest["error"])  # cron retries it with back-off like an unreachable database
    assert tree_snapshot(ws.model_store) == before  # no capture, no staging file

    assert main([*args, _dask_params(ws, scheduler)]) == 0
    done = next(r for r in RunStore(ws.runs).list() if r.status == "succeeded")
    summary = done.manifest["scraps"]["summary"]
    local = stages.run_score(
        stages.StageContext(ws, load_use_case(ws.params / "churn.yaml"), "2025-03", run_id="local")
    )
    assert summary["rows"] == local.summary["rows"] == 3000 and summary["kpi"] == local.summary["kpi"]
    assert summary["served"] == local.summary["served"]

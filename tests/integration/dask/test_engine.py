"""The training search and the drift statistics on a real Dask cluster (scheduler and two worker processes on
127.0.0.1) give the in-process numbers and model file, survive a killed worker, and an unreachable scheduler fails
the stage recorded, with nothing stored."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import dask
import numpy as np
import pandas as pd
import pytest

from millpond.config.params import EngineSpec
from millpond.drift.distributed import drift_table_partitioned, split
from millpond.drift.stats import drift_table
from millpond.errors import ClusterUnavailableError
from millpond.models.engine import engine_client
from millpond.models.store import ModelStore
from millpond.models.training import FitResult, fit, split_training_data
from millpond.runs import stages
from millpond.runs.store import RunStore
from millpond.workspace import Workspace
from tests.conftest import MakeUseCase, tree_snapshot
from tests.integration.dask.conftest import RealCluster, free_port, listening

WINDOWS = ("2025-01", "2025-02", "2025-03")
MODEL = {"family": "hist_gradient_boosting", "params": {"max_iter": 20}}
GRID = {"method": "grid", "space": {"max_iter": [10, 30], "learning_rate": [0.05, 0.2]}, "cv_folds": 2}
TIMINGS = ["fit_seconds", "score_seconds"]


@pytest.fixture(scope="module")
def frames(small_demo_raw: Path) -> list[tuple[str, pd.DataFrame]]:
    return [(w, pd.read_csv(small_demo_raw / f"churn_{w}.csv", dtype={"customer_id": "str"})) for w in WINDOWS]


@pytest.fixture(scope="module")
def local_fit(frames, make_use_case: MakeUseCase) -> FitResult:
    """The in-process fit of MODEL with the GRID search (computed once)."""
    return _fit(frames, make_use_case(model=MODEL, search=GRID))


def _fit(frames: list[tuple[str, pd.DataFrame]], uc: Any, client: Any = None) -> FitResult:
    train, holdout, windows = split_training_data(frames, "2025-03", uc)
    return fit(train, holdout, uc, windows=windows, client=client)


def _saved_model(result: FitResult, root: Path) -> bytes:
    version = ModelStore(root).save("churn", result.model, {"use_case": "churn"})
    return version.model_file.read_bytes()


def _assert_same_search(remote: FitResult, local: FitResult, tmp_path: Path) -> None:
    assert remote.search is not None and local.search is not None
    assert remote.best_params == local.best_params and local.best_params
    pd.testing.assert_frame_equal(
        remote.search.iterations.drop(columns=TIMINGS), local.search.iterations.drop(columns=TIMINGS), check_exact=True
    )
    assert remote.metrics == local.metrics
    assert _saved_model(remote, tmp_path / "remote") == _saved_model(local, tmp_path / "local")  # the model.skops file


@pytest.mark.reliability("socket")
def test_search_on_the_cluster_gives_the_in_process_search_and_model_file(
    real_cluster: RealCluster, frames, local_fit: FitResult, make_use_case: MakeUseCase, tmp_path: Path
) -> None:
    for process in real_cluster.processes:  # the scheduler and both workers listen on loopback only
        assert set(listening(process.pid)) <= {"127.0.0.1", "::1"}  # loopback only (IPv4 or IPv6)
    remote = _fit(frames, make_use_case(model=MODEL, search=GRID), real_cluster.client)
    _assert_same_search(remote, local_fit, tmp_path)
    # the fits ran on the workers: the scheduler saw one task per candidate and fold
    assert real_cluster.client is not None
    assert any("fit" in str(t) for t in real_cluster.client.run_on_scheduler(_task_prefixes))


def _http_host(dask_scheduler: Any) -> str:
    return str(dask_scheduler.http_server.address)


def _task_prefixes(dask_scheduler: Any) -> list[str]:
    return list(dask_scheduler.task_prefixes)


@pytest.mark.reliability("socket")
def test_engine_dask_without_address_starts_a_loopback_local_cluster(
    frames, local_fit: FitResult, make_use_case: MakeUseCase, tmp_path: Path
) -> None:
    uc = make_use_case(model=MODEL, search=GRID, engine={"kind": "dask", "workers": 2})
    with engine_client(uc.engine) as client:
        assert client is not None
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        assert all(w.startswith("tcp://127.0.0.1:") for w in client.nthreads()) and len(client.nthreads()) == 2
        # no dashboard application; the scheduler's plain HTTP endpoint (health, metrics) binds loopback too
        assert client.run_on_scheduler(_http_host) == "127.0.0.1"
        addresses = listening(os.getpid())
        assert addresses and set(addresses) <= {"127.0.0.1", "::1"}  # loopback: scheduler here, workers as children
    _assert_same_search(_fit(frames, uc), local_fit, tmp_path)  # fit opens the engine itself


def _kill_when_busy(cluster: RealCluster, work: threading.Thread) -> str:
    """Kill a worker while it is processing a task of ``work``; its address."""
    assert cluster.client is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and work.is_alive():
        busy = [w for w, tasks in cluster.client.processing().items() if tasks and w in cluster.workers]
        if busy:
            cluster.kill(busy[0])
            return busy[0]
        time.sleep(0.01)
    raise AssertionError("the work finished before any worker was seen processing it")


@pytest.mark.reliability("kill")
def test_a_worker_killed_mid_search_is_survived_with_identical_results(
    real_cluster: RealCluster, frames, make_use_case: MakeUseCase, tmp_path: Path
) -> None:
    grid = {"method": "grid", "space": {"max_iter": [30, 60, 90], "learning_rate": [0.05, 0.1, 0.2]}, "cv_folds": 2}
    uc = make_use_case(model=MODEL, search=grid)
    out: dict[str, FitResult] = {}
    work = threading.Thread(target=lambda: out.setdefault("remote", _fit(frames, uc, real_cluster.client)))
    work.start()
    killed = _kill_when_busy(real_cluster, work)
    work.join(timeout=300)
    assert killed not in real_cluster.client.nthreads() and len(real_cluster.client.nthreads()) == 1
    _assert_same_search(out["remote"], _fit(frames, uc), tmp_path)


def _slow(frame: pd.DataFrame) -> pd.DataFrame:
    time.sleep(0.3)
    return frame


@pytest.mark.reliability("kill")
def test_a_worker_killed_mid_drift_is_survived_with_identical_statistics(real_cluster: RealCluster, frames) -> None:
    reference, current = frames[0][1], frames[2][1]
    numeric, categorical = ["tenure_months", "monthly_charges", "support_calls"], ["contract", "region"]
    expected = drift_table(reference, current, numeric=numeric, categorical=categorical)
    slow = dask.delayed(_slow, pure=False)
    parts = [slow(p) for p in split(reference, 6)], [slow(p) for p in split(current, 6)]
    out: dict[str, pd.DataFrame] = {}

    def work() -> None:
        out["table"] = drift_table_partitioned(
            *parts, numeric=numeric, categorical=categorical, client=real_cluster.client
        )

    thread = threading.Thread(target=work)
    thread.start()
    _kill_when_busy(real_cluster, thread)
    thread.join(timeout=120)
    pd.testing.assert_frame_equal(out["table"], expected, check_exact=False, rtol=0, atol=1e-9)


def test_a_cycle_on_the_cluster_records_the_in_process_drift_candidate_and_scores(
    real_cluster: RealCluster, scoring_template: Path, make_use_case: MakeUseCase, tmp_path: Path
) -> None:
    """drift, train and score of one window, with ``engine.scheduler`` naming the real cluster."""
    summaries = {}
    for kind, engine in (("local", {"kind": "local"}), ("dask", {"kind": "dask", "scheduler": real_cluster.address})):
        ws = Workspace.find(shutil.copytree(scoring_template, tmp_path / kind))
        uc = make_use_case(ws, search=GRID, engine=engine, retrain={"every_n_windows": 1})
        ctx = stages.StageContext(ws, uc, "2025-03", run_id=f"{kind}/2025-03")
        results = [stages.run_drift(ctx), stages.run_train(ctx), stages.run_score(ctx)]
        assert [r.status for r in results] == ["succeeded"] * 3
        summaries[kind] = [r.summary for r in results]
    (local_drift, local_train, local_score), (dask_drift, dask_train, dask_score) = (
        summaries["local"],
        summaries["dask"],
    )
    assert dask_drift == local_drift
    assert dask_train["candidate"] == local_train["candidate"]  # the version id is the model file's sha256
    strip = lambda s: {k: v for k, v in s.items() if k != "captures"}  # noqa: E731 - capture paths hold the run id
    assert strip(dask_score) == strip(local_score) and local_score["rows"] == 3000
    assert real_cluster.client is not None  # and each stage did run tasks on the cluster
    prefixes = set(real_cluster.client.run_on_scheduler(_task_prefixes))
    assert {"summarise", "merge", "score_part"} <= prefixes and any("fit_and_score" in p for p in prefixes)


def test_unreachable_scheduler_fails_the_train_run_recorded_and_stores_nothing(
    scoring_workspace: Workspace, make_use_case: MakeUseCase, capsys: pytest.CaptureFixture[str]
) -> None:
    from millpond.cli import main
    from millpond.ops.scheduler import is_transient

    ws = scoring_workspace
    shutil.copytree(Path(__file__).resolve().parents[3] / "notebooks", ws.root / "notebooks")
    address = f"tcp://127.0.0.1:{free_port()}"
    engine = {"kind": "dask", "scheduler": address, "timeout_seconds": 1}
    make_use_case(ws, search=GRID, engine=engine, retrain={"every_n_windows": 1}, name="dask")
    before = tree_snapshot(ws.model_store), tree_snapshot(ws.feature_marts)
    args = [
        "--workspace",
        str(ws.root),
        "run",
        "train",
        "--window",
        "2025-03",
        "--params",
        str(ws.params / "dask.yaml"),
    ]
    assert main(args) != 0
    assert f"Dask scheduler at {address} (engine.scheduler)" in capsys.readouterr().err
    (failed,) = RunStore(ws.runs).list()
    assert failed.status == "failed" and address in failed.manifest["error"]
    assert "ClusterUnavailableError" in failed.manifest["error"] and is_transient(failed.manifest["error"])
    assert (tree_snapshot(ws.model_store), tree_snapshot(ws.feature_marts)) == before  # no candidate stored


def test_unreachable_scheduler_fails_the_drift_stage_before_anything_is_logged(
    scoring_workspace: Workspace, make_use_case: MakeUseCase
) -> None:
    ws = scoring_workspace
    address = f"tcp://127.0.0.1:{free_port()}"
    uc = make_use_case(ws, engine={"kind": "dask", "scheduler": address, "timeout_seconds": 1})
    before = tree_snapshot(ws.model_store), tree_snapshot(ws.feature_marts)
    with pytest.raises(
        ClusterUnavailableError, match=rf"Dask scheduler at {address} \(engine.scheduler\).*dask scheduler --host"
    ):
        stages.run_drift(stages.StageContext(ws, uc, "2025-03", run_id="dask/drift"))
    assert (tree_snapshot(ws.model_store), tree_snapshot(ws.feature_marts)) == before


def test_engine_section_is_validated(make_use_case: MakeUseCase) -> None:
    from millpond.errors import ParamsError

    with pytest.raises(ParamsError, match="tcp://127.0.0.1:8786"):
        make_use_case(engine={"kind": "dask", "scheduler": "127.0.0.1:8786"})
    with pytest.raises(ParamsError, match="kind"):
        make_use_case(engine={"kind": "spark"})
    assert EngineSpec().kind == "local" and make_use_case().engine == EngineSpec()
    assert np.isfinite(EngineSpec(kind="dask").timeout_seconds)


def test_engine_scheduler_scores_too_and_the_older_spelling_must_agree(make_use_case: MakeUseCase) -> None:
    from millpond.errors import ParamsError

    address = "tcp://127.0.0.1:8786"
    uc = make_use_case(engine={"kind": "dask", "scheduler": address, "timeout_seconds": 3})
    assert uc.scoring.dask_scheduler == address and uc.scoring.dask_timeout_seconds == 3
    assert make_use_case(scoring={"dask_scheduler": address}).engine.kind == "local"  # the older spelling: scoring only
    with pytest.raises(ParamsError, match="older spelling"):
        make_use_case(engine={"kind": "dask", "scheduler": address}, scoring={"dask_scheduler": "tcp://127.0.0.1:1"})

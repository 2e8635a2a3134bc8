"""Streaming ingest: tiny record batches give the same mart as the one-shot path, and late violations store nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from millpond.config.params import load_use_case
from millpond.errors import ContractViolationError, SchemaError
from millpond.marts.store import ingest
from millpond.workspace import Workspace
from tests.conftest import MakeUseCase, tree_snapshot

CONTRACT = {"columns": {"monthly_charges": {"nullable": False, "min": 0, "max": 500}}, "min_rows": 100}
_VOLATILE = {"created_at", "sha256"}  # the Parquet file's row groups differ by batch size; its rows do not


def _to_parquet_source(ws: Workspace) -> None:
    """Window 2025-01 as a Parquet file, and the churn params pointing at Parquet files."""
    raw = ws.raw / "churn" / "churn_2025-01.csv"
    pd.read_csv(raw, dtype={"customer_id": "str"}).to_parquet(raw.with_suffix(".parquet"), index=False)
    raw.unlink()
    data = yaml.safe_load((ws.params / "churn.yaml").read_text())
    data["source"]["path"] = data["source"]["path"].replace(".csv", ".parquet")
    (ws.params / "churn.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tiny_batches_store_the_same_rows_and_manifest_as_one_shot(
    demo_workspace: Workspace, tmp_path: Path, fmt: str, make_use_case: MakeUseCase
) -> None:
    ws = demo_workspace
    if fmt == "parquet":
        _to_parquet_source(ws)
    uc = make_use_case(ws, mart={"contract": CONTRACT})
    one_shot = ingest(ws, uc, "2025-01")
    expected_frame, expected_manifest = one_shot.version.read(), one_shot.version.manifest.to_dict()
    shutil.rmtree(ws.feature_marts / "churn" / "versions")
    streamed = ingest(ws, uc, "2025-01", batch_rows=7)
    assert streamed.created and streamed.version.version == one_shot.version.version
    pd.testing.assert_frame_equal(streamed.version.read(), expected_frame)
    manifest = streamed.version.manifest.to_dict()
    assert {k: v for k, v in manifest.items() if k not in _VOLATILE} == {
        k: v for k, v in expected_manifest.items() if k not in _VOLATILE
    }
    assert manifest["rows"] == len(expected_frame) > 7
    again = ingest(ws, uc, "2025-01", batch_rows=7)
    assert not again.created and again.version.version == one_shot.version.version


def test_violation_in_a_later_batch_stores_nothing_and_quarantines_the_row(
    demo_workspace: Workspace, tmp_path: Path, make_use_case: MakeUseCase
) -> None:
    ws = demo_workspace
    uc = make_use_case(ws, mart={"contract": CONTRACT})
    ingest(ws, uc, "2025-01")
    raw = ws.raw / "churn" / "churn_2025-02.csv"
    frame = pd.read_csv(raw, dtype={"customer_id": "str"})
    last = len(frame) - 1
    frame.loc[last, "monthly_charges"] = 9999.0
    frame.loc[last - 1, "customer_id"] = frame.loc[0, "customer_id"]
    frame.to_csv(raw, index=False)
    before = tree_snapshot(ws.feature_marts)
    quarantine = tmp_path / "quarantine.csv"
    with pytest.raises(
        ContractViolationError,
        match=r"(?s)column 'monthly_charges', rule max 500: 1 row\(s\) are above it, e.g. 9999\.0"
        r".*rule unique key: 2 row\(s\) share a key \(1 duplicated value\(s\)\).*Nothing was stored",
    ):
        ingest(ws, uc, "2025-02", quarantine=quarantine, batch_rows=10)
    assert tree_snapshot(ws.feature_marts) == before
    assert not list((ws.feature_marts / "churn" / "versions").glob(".staging*"))
    rows = pd.read_csv(quarantine)
    assert rows["_row"].tolist() == [1, last, last + 1]
    assert rows["_violations"].tolist()[-1] == "monthly_charges: max 500"


def test_text_in_int_columns_of_several_batches_is_counted_over_the_whole_window(
    demo_workspace: Workspace, tmp_path: Path, make_use_case: MakeUseCase
) -> None:
    ws = demo_workspace
    uc = make_use_case(ws, mart={"contract": CONTRACT})
    raw = ws.raw / "churn" / "churn_2025-02.csv"
    frame = pd.read_csv(raw, dtype={"customer_id": "str"})
    frame["support_calls"] = frame["support_calls"].astype("str")
    frame.loc[25, "support_calls"] = "many"
    frame.loc[45, "support_calls"] = "lots"
    frame.to_csv(raw, index=False)
    quarantine = tmp_path / "quarantine.csv"
    with pytest.raises(
        SchemaError,
        match=r"^Raw data for window '2025-02' \(feature_marts/raw/churn/churn_2025-02\.csv\) does not match "
        r"the use case's columns \(1 problem\(s\)\):\n  - column 'support_calls' should be int but holds text "
        r"in 2 row\(s\), e\.g\. 'many', 'lots'\n(.|\n)*2 offending row",
    ):
        ingest(ws, uc, "2025-02", quarantine=quarantine, batch_rows=10)
    assert not (ws.feature_marts / "churn" / "versions").exists() or not any(
        (ws.feature_marts / "churn" / "versions").iterdir()
    )
    rows = pd.read_csv(quarantine)
    assert rows["_row"].tolist() == [26, 46] and rows["_violations"].tolist() == ["support_calls: type int"] * 2


# --- every kind of mart streams to the same versions as the one-shot path -------------------------
def _versions(ws: Workspace) -> dict[str, tuple[str, pd.DataFrame, dict]]:
    from millpond.marts.store import MartStore

    store = MartStore(ws.feature_marts)
    return {
        v.window: (v.version, v.read(), {k: x for k, x in v.manifest.to_dict().items() if k not in _VOLATILE})
        for v in store.versions("churn")
    }


def _same_as_one_shot(ws: Workspace, uc, window: str, batch_rows: int) -> dict:
    one_shot = ingest(ws, uc, window)
    expected = _versions(ws)
    shutil.rmtree(ws.feature_marts / "churn" / "versions")
    streamed = ingest(ws, uc, window, batch_rows=batch_rows)
    got = _versions(ws)
    assert (
        streamed.created
        and streamed.version.version == one_shot.version.version
        and streamed.windows == one_shot.windows
    )
    assert set(got) == set(expected)
    for w, (version, frame, manifest) in expected.items():
        assert got[w][0] == version, f"window {w}: streamed id differs"
        pd.testing.assert_frame_equal(got[w][1], frame)
        assert got[w][2] == manifest
    assert not ingest(ws, uc, window, batch_rows=batch_rows).created
    assert not [p.name for p in (ws.feature_marts / "churn" / "versions").iterdir() if p.name.startswith(".")]
    return got


def test_transform_over_two_sources_streams_to_the_same_version(demo_workspace: Workspace) -> None:
    from tests.unit.marts.test_transforms import _setup

    got = _same_as_one_shot(demo_workspace, _setup(demo_workspace), "2025-02", batch_rows=70)
    assert set(got) == {"2025-02"}


def test_full_load_streams_every_window_to_the_same_versions(demo_workspace: Workspace) -> None:
    from tests.unit.marts.test_transforms import _full_use_case, _one_file

    _one_file(demo_workspace, ["2025-01", "2025-02", "2025-03"])
    got = _same_as_one_shot(demo_workspace, _full_use_case(demo_workspace), "2025-02", batch_rows=70)
    assert sorted(got) == ["2025-01", "2025-02"] and set(got["2025-01"][1]["month"]) == {"2025-01"}


def test_full_load_through_a_transform_streams_to_the_same_versions(demo_workspace: Workspace) -> None:
    from tests.unit.marts.test_transforms import _setup

    ws = demo_workspace
    _setup(ws, sql="SELECT * REPLACE (lower(region) AS region) FROM source ORDER BY month DESC, customer_id")
    frames = [
        pd.read_csv(ws.raw / "churn" / f"churn_{w}.csv", dtype={"customer_id": "str"}).assign(month=w)
        for w in ("2025-01", "2025-02")
    ]
    pd.concat(frames).to_csv(ws.raw / "all.csv", index=False)
    data = yaml.safe_load((ws.params / "joined.yaml").read_text())
    data["source"] = {"path": "feature_marts/raw/all.csv", "window_column": "month"}
    data["columns"]["month"] = "str"
    data["mart"].pop("sources")
    data["mart"]["load"] = "full"
    (ws.params / "joined.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    got = _same_as_one_shot(ws, load_use_case(ws.params / "joined.yaml"), "2025-02", batch_rows=70)
    assert sorted(got) == ["2025-01", "2025-02"]
    assert got["2025-02"][2]["transform"]["path"] == "feature_marts/churn/features.sql"


def test_window_column_csv_streams_only_its_window(demo_workspace: Workspace) -> None:
    ws = demo_workspace
    frames = [
        pd.read_csv(ws.raw / "churn" / f"churn_{w}.csv", dtype={"customer_id": "str"}).assign(month=w)
        for w in ("2025-01", "2025-02")
    ]
    pd.concat(frames).to_csv(ws.raw / "all.csv", index=False)
    data = yaml.safe_load((ws.params / "churn.yaml").read_text())
    data["source"] = {"path": "feature_marts/raw/all.csv", "window_column": "month"}
    data["columns"]["month"] = "str"
    (ws.params / "single.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    got = _same_as_one_shot(ws, load_use_case(ws.params / "single.yaml"), "2025-02", batch_rows=70)
    assert len(got["2025-02"][1]) == len(frames[1]) and set(got["2025-02"][1]["month"]) == {"2025-02"}


def test_a_query_streams_in_chunks_to_the_same_version_whatever_the_batch_size(
    workspace: Workspace, small_demo_raw: Path, monkeypatch: pytest.MonkeyPatch, make_use_case: MakeUseCase
) -> None:
    from millpond.marts import sources
    from tests.unit.marts.test_sources import QUERY, _database

    _database(workspace, small_demo_raw)
    uc = make_use_case(workspace, source={"url": "sqlite:///feature_marts/raw/churn.db", "query": QUERY})
    whole = ingest(workspace, uc, "2025-02").version.read()
    shutil.rmtree(workspace.feature_marts / "churn" / "versions")
    monkeypatch.setattr(
        sources, "DB_CHUNK_ROWS", 1000
    )  # several round trips; the query's hash may change, the rows may not
    fetched = []
    real = sources.database_chunks

    def counting(*args, **kwargs):
        chunks, provenance = real(*args, **{**kwargs, "chunk_rows": 1000})
        return (fetched.append(len(c)) or c for c in chunks), provenance

    monkeypatch.setattr(sources, "database_chunks", counting)
    chunked = ingest(workspace, uc, "2025-02", batch_rows=70)
    assert len(fetched) >= 3 and max(fetched) <= 1000
    pd.testing.assert_frame_equal(chunked.version.read(), whole)


def test_a_large_parquet_source_streams_without_being_asked(
    demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from millpond.marts import stream as mart_stream

    ws = demo_workspace
    _to_parquet_source(ws)
    streamed = []
    real = mart_stream.stream_to_parquet
    monkeypatch.setattr(mart_stream, "stream_to_parquet", lambda *a, **k: streamed.append(1) or real(*a, **k))
    uc = load_use_case(ws.params / "churn.yaml")
    ingest(ws, uc, "2025-01")
    assert streamed == []  # 3,000 rows: one batch, read whole
    monkeypatch.setattr(mart_stream, "BATCH_ROWS", 1000)
    shutil.rmtree(ws.feature_marts / "churn" / "versions")
    ingest(ws, uc, "2025-01")
    assert streamed == [1]  # more rows than one batch: streamed


def test_progress_is_reported_per_batch_and_printed_now_and_then(demo_workspace: Workspace) -> None:
    import io

    from millpond.runs.progress import PeriodicLines

    ws = demo_workspace
    _to_parquet_source(ws)
    seen: list[tuple[int, int | None]] = []
    ingest(
        ws,
        load_use_case(ws.params / "churn.yaml"),
        "2025-01",
        batch_rows=1000,
        on_progress=lambda d, t: seen.append((d, t)),
    )
    assert seen == [(1000, 3000), (2000, 3000), (3000, 3000)]
    out = io.StringIO()
    show = PeriodicLines("ingest 2025-01", every=0, stream=out).rows_callback("checked")
    show(1000, 3000)
    assert out.getvalue().startswith("ingest 2025-01: checked 1,000 of 3,000 rows (33%)  [")
    quiet = io.StringIO()
    PeriodicLines("ingest", every=3600, stream=quiet).rows_callback("checked")(1000, 3000)
    assert quiet.getvalue() == ""


def test_summary_of_a_big_version_is_computed_over_the_file(
    demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from millpond.marts import store as marts

    version = ingest(demo_workspace, load_use_case(demo_workspace.params / "churn.yaml"), "2025-01").version
    frame = version.read()
    pd.testing.assert_frame_equal(version.head(5), frame.head(5))
    exact = version.describe()
    monkeypatch.setattr(marts, "DESCRIBE_WHOLE_ROWS", 0)
    streamed = version.describe()
    assert (
        list(streamed.index)
        == list(exact.index)
        == ["tenure_months", "senior_citizen", "monthly_charges", "total_charges", "support_calls", "churned"]
    )
    assert list(streamed.columns) == list(exact.columns)
    for stat in ("count", "mean", "std", "min", "max"):
        pd.testing.assert_series_equal(streamed[stat], exact[stat].astype(float), check_names=False, rtol=1e-9)
    spread = exact["max"] - exact["min"]
    for stat in ("25%", "50%", "75%"):
        assert ((streamed[stat] - exact[stat]).abs() <= 0.02 * spread + 1).all(), stat


def test_a_kill_mid_ingest_leaves_no_version_and_the_next_ingest_sweeps_its_leftovers(
    demo_workspace: Workspace,
) -> None:
    import os
    import signal
    import subprocess
    import sys

    import millpond
    from tests.unit.marts.test_transforms import _setup

    ws = demo_workspace
    _setup(
        ws
    )  # a transform over two sources: the DuckDB work folder and a staging folder both exist when the kill lands
    child = (
        "import os, signal, sys\n"
        "from millpond.marts.store import ingest\nfrom millpond.config.params import load_use_case\nfrom millpond.workspace import Workspace\n"
        "ws = Workspace.find(sys.argv[1])\n"
        "def kill(done, total):\n"
        "    if done >= 1000:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "ingest(ws, load_use_case(ws.params / 'joined.yaml'), '2025-02', batch_rows=500, on_progress=kill)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(millpond.__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", child, str(ws.root)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    folder = ws.feature_marts / "churn" / "versions"
    left = sorted(p.name.split("-p")[0] for p in folder.iterdir())
    assert left == [".staging-2025-02", ".work"]  # hidden scratch only: no version is visible
    from millpond.marts.store import MartStore

    assert MartStore(ws.feature_marts).versions("churn") == []
    result = ingest(ws, load_use_case(ws.params / "joined.yaml"), "2025-02", batch_rows=500)
    assert result.created and [p.name for p in folder.iterdir()] == [result.version.version]


def test_sweep_removes_only_folders_of_processes_that_are_gone(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from millpond.store.staging import sweep

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead = int(gone.stdout)
    names = {
        f".staging-2025-01-abc-p{dead}-x1y2z3ab": False,  # its process is gone: swept
        f".work-p{dead}-q9w8e7r6": False,
        f".staging-w-p{dead}-x-p{os.getpid()}-k2j3h4g5": True,  # a window that looks like a pid: the last one counts
        f".work-p{os.getpid()}-a1b2c3d4": True,  # a live ingest's folder: kept
        "2025-01-abcdef123456": True,  # a published version: never touched
    }
    for name in names:
        (tmp_path / name).mkdir()
    removed = sweep(tmp_path)  # what every mart ingest runs on its versions folder first
    assert sorted(removed) == sorted(n for n, keep in names.items() if not keep)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n for n, keep in names.items() if keep)


@pytest.mark.parametrize("batch_rows", [7, 1000, 2500])
def test_csv_blocks_are_regrouped_into_batches_of_exactly_batch_rows(
    demo_workspace: Workspace, batch_rows: int
) -> None:
    from millpond.marts import stream as mart_stream

    path = demo_workspace.raw / "churn" / "churn_2025-01.csv"
    columns = dict(load_use_case(demo_workspace.params / "churn.yaml").columns)
    batches = list(mart_stream.record_batches(path, "csv", columns, delimiter=",", batch_rows=batch_rows))
    expected = pd.read_csv(path, dtype={"customer_id": "str"})
    sizes = [b.num_rows for b in batches]
    assert sum(sizes) == len(expected) and all(n == batch_rows for n in sizes[:-1]) and 0 < sizes[-1] <= batch_rows
    got = pd.concat([b.to_pandas() for b in batches], ignore_index=True)
    assert got["customer_id"].tolist() == expected["customer_id"].tolist()


@pytest.mark.parametrize("order", ["appended", "shuffled"])
def test_full_load_split_gives_each_window_its_rows_in_source_order(tmp_path: Path, order: str) -> None:
    from millpond.marts import inputs as mart_inputs

    months = ["2025-01"] * 4 + ["2025-02"] * 5 + ["2025-03"] * 2
    frame = pd.DataFrame({"month": months, "n": range(len(months))})
    if order == "shuffled":
        frame = frame.iloc[[4, 0, 9, 5, 1, 6, 2, 10, 7, 3, 8]].reset_index(drop=True)
    rows = tmp_path / "rows.parquet"
    frame.to_parquet(rows, index=False)
    runs = mart_inputs._windows_in_runs(rows, "month", "2025-02")
    assert runs == (["2025-01", "2025-02"] if order == "appended" else None)  # one pass, or a DuckDB sort
    con = mart_inputs.connect(tmp_path)
    try:
        windows, per_window = mart_inputs.split_windows(
            con, rows, "month", "2025-02", tmp_path, origin="rows", batch_rows=3
        )
        got = {w: pd.concat([b.to_pandas() for b in batches], ignore_index=True) for w, batches in per_window}
    finally:
        con.close()
    assert windows == ["2025-01", "2025-02"]
    for w in windows:
        expected = frame[frame["month"] == w].reset_index(drop=True)
        assert got[w]["n"].tolist() == expected["n"].tolist()
        assert set(got[w]["month"]) == {w}

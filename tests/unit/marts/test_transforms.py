"""Several sources joined by a DuckDB transform; incremental and full loads; content ids over sources + SQL."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from millpond.config.params import load_use_case
from millpond.errors import ParamsError, TransformError
from millpond.marts.store import MartStore, ingest
from millpond.workspace import Workspace
from tests.conftest import tree_snapshot

pytestmark = pytest.mark.usefixtures("ingest_mode")

JOIN = """-- churn features: snapshot joined with support tickets per customer
SELECT s.customer_id, s.tenure_months, s.contract, s.internet_service, s.payment_method, s.region,
       s.senior_citizen, s.monthly_charges, s.total_charges,
       coalesce(t.calls, 0) AS support_calls,
       s.churned
FROM source AS s
LEFT JOIN (SELECT customer_id, count(*) AS calls FROM tickets GROUP BY customer_id) AS t USING (customer_id)
ORDER BY s.customer_id
"""


def _setup(ws: Workspace, sql: str = JOIN, load: str = "incremental") -> object:
    raw = ws.raw / "churn"
    for path in sorted(raw.glob("churn_*.csv")):
        window = path.stem.split("_")[1]
        frame = pd.read_csv(path, dtype={"customer_id": "str"})
        tickets = frame.loc[frame.index.repeat(frame["support_calls"]), ["customer_id"]].assign(month=window)
        tickets.to_csv(raw / f"tickets_{window}.csv", index=False)
        frame.drop(columns="support_calls").to_csv(raw / f"snap_{window}.csv", index=False)
    (ws.feature_marts / "churn").mkdir(parents=True, exist_ok=True)
    (ws.feature_marts / "churn" / "features.sql").write_text(sql)
    data = yaml.safe_load((ws.params / "churn.yaml").read_text())
    data["source"] = {"path": "feature_marts/raw/churn/snap_{window}.csv"}
    data["mart"] = {
        "sources": {"tickets": {"path": "feature_marts/raw/churn/tickets_{window}.csv"}},
        "transform": "features.sql",
        "load": load,
    }
    path = ws.params / "joined.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_use_case(path)


def test_transform_joins_sources_into_the_declared_columns(demo_workspace: Workspace) -> None:
    uc = _setup(demo_workspace)
    version = ingest(demo_workspace, uc, "2025-02").version
    expected = pd.read_csv(
        demo_workspace.raw / "churn" / "churn_2025-02.csv", dtype={"customer_id": "str"}
    ).sort_values("customer_id")
    got = version.read()
    assert list(got.columns) == list(uc.columns)
    assert got["support_calls"].tolist() == expected["support_calls"].tolist()
    assert version.manifest.transform["path"] == "feature_marts/churn/features.sql"
    assert set(version.manifest.sources) == {"source", "tickets"}


def test_content_id_covers_the_transform_text_and_every_source(demo_workspace: Workspace) -> None:
    uc = _setup(demo_workspace)
    first = ingest(demo_workspace, uc, "2025-02")
    assert not ingest(demo_workspace, uc, "2025-02").created
    sql = demo_workspace.feature_marts / "churn" / "features.sql"
    sql.write_text(sql.read_text() + "-- reviewed\n")
    second = ingest(demo_workspace, uc, "2025-02")
    assert second.created and second.version.version != first.version.version
    tickets = demo_workspace.raw / "churn" / "tickets_2025-02.csv"
    tickets.write_text(tickets.read_text() + "C9999999,2025-02\n")
    third = ingest(demo_workspace, uc, "2025-02")
    assert third.created and third.version.version not in (first.version.version, second.version.version)
    assert len(MartStore(demo_workspace.feature_marts).versions("churn")) == 3


def test_transform_syntax_error_shows_duckdb_message_file_and_line(demo_workspace: Workspace) -> None:
    uc = _setup(demo_workspace, sql="SELECT customer_id,\n       tenure_months\nFROM source\nWHERE tenure_months >\n")
    before = tree_snapshot(demo_workspace.feature_marts)
    with pytest.raises(
        TransformError,
        match=r"Transform feature_marts/churn/features\.sql, line 4 failed: Parser Error: syntax error at or near",
    ):
        ingest(demo_workspace, uc, "2025-02")
    assert tree_snapshot(demo_workspace.feature_marts) == before


def test_transform_unknown_column_names_the_line(demo_workspace: Workspace) -> None:
    uc = _setup(demo_workspace, sql="SELECT customer_id,\n  tenure_monts\nFROM source\n")
    with pytest.raises(
        TransformError,
        match=r"features\.sql, line 2 failed: Binder Error: Referenced column \"tenure_monts\" not found",
    ):
        ingest(demo_workspace, uc, "2025-02")


def test_missing_transform_file_lists_the_sql_files(demo_workspace: Workspace) -> None:
    uc = _setup(demo_workspace)
    (demo_workspace.feature_marts / "churn" / "features.sql").rename(
        demo_workspace.feature_marts / "churn" / "feature.sql"
    )
    with pytest.raises(
        TransformError,
        match=r"Transform feature_marts/churn/features\.sql does not exist \(SQL files there: feature\.sql\)",
    ):
        ingest(demo_workspace, uc, "2025-02")


def test_extra_sources_need_a_transform(demo_workspace: Workspace) -> None:
    data = yaml.safe_load((demo_workspace.params / "churn.yaml").read_text())
    data["mart"] = {"sources": {"tickets": {"path": "x.csv"}}}
    (demo_workspace.params / "bad.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ParamsError, match=r"extra 'sources' need a 'transform' \(\.sql\) that joins them"):
        load_use_case(demo_workspace.params / "bad.yaml")


def _one_file(ws: Workspace, windows: list[str]) -> Path:
    frames = [
        pd.read_csv(ws.raw / "churn" / f"churn_{w}.csv", dtype={"customer_id": "str"}).assign(month=w) for w in windows
    ]
    path = ws.raw / "all.parquet"
    pd.concat(frames, ignore_index=True).to_parquet(path, index=False)
    return path


def _full_use_case(ws: Workspace):
    data = yaml.safe_load((ws.params / "churn.yaml").read_text())
    data["source"] = {"path": "feature_marts/raw/all.parquet", "window_column": "month"}
    data["columns"]["month"] = "str"
    data["mart"] = {"load": "full"}
    (ws.params / "full.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return load_use_case(ws.params / "full.yaml")


def test_full_load_rebuilds_every_window_and_keeps_unchanged_ones(demo_workspace: Workspace) -> None:
    uc = _full_use_case(demo_workspace)
    _one_file(demo_workspace, ["2025-01", "2025-02"])
    first = ingest(demo_workspace, uc, "2025-02")
    assert first.windows == ["2025-01", "2025-02"]
    store = MartStore(demo_workspace.feature_marts)
    v1 = {v.window: v.version for v in store.versions("churn")}
    assert set(v1) == {"2025-01", "2025-02"}
    # a backfill corrects January; March arrives
    path = _one_file(demo_workspace, ["2025-01", "2025-02", "2025-03"])
    frame = pd.read_parquet(path)
    frame.loc[frame["month"] == "2025-01", "support_calls"] += 1
    frame.to_parquet(path, index=False)
    third = ingest(demo_workspace, uc, "2025-03")
    assert third.windows == ["2025-01", "2025-02", "2025-03"]
    latest = {w: store.latest("churn", w).version for w in ("2025-01", "2025-02", "2025-03")}
    assert latest["2025-02"] == v1["2025-02"]  # unchanged window: same content id, nothing rewritten
    assert latest["2025-01"] != v1["2025-01"]  # corrected window: a new version, the old one kept
    assert store.get("churn", v1["2025-01"]).rows == store.latest("churn", "2025-01").rows
    assert [v.window for v in store.window_span("churn", "2025-03", 2)] == ["2025-02", "2025-03"]


def test_full_load_needs_a_window_column(demo_workspace: Workspace) -> None:
    data = yaml.safe_load((demo_workspace.params / "churn.yaml").read_text())
    data["mart"] = {"load": "full"}
    (demo_workspace.params / "bad.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(
        ParamsError, match=r"mart\.load 'full' rebuilds every window, so it needs 'source\.window_column'"
    ):
        load_use_case(demo_workspace.params / "bad.yaml")

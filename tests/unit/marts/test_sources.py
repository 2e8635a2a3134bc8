"""Database sources through SQLAlchemy (SQLite, embedded): per-window queries, credentials, clear failures."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from millpond.errors import MartError, SourceQueryError, SourceUnavailableError
from millpond.marts.store import ingest
from millpond.workspace import Workspace
from tests.conftest import WINDOWS, MakeUseCase, tree_snapshot

QUERY = "SELECT customer_id, tenure_months, contract, internet_service, payment_method, region, senior_citizen, monthly_charges, total_charges, support_calls, churned FROM customers WHERE month = {window}"


def _database(ws: Workspace, small_demo_raw: Path) -> Path:
    path = ws.raw / "churn.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as connection:
        for window in WINDOWS[:2]:
            frame = pd.read_csv(small_demo_raw / f"churn_{window}.csv", dtype={"customer_id": "str"}).assign(
                month=window
            )
            frame.to_sql("customers", connection, if_exists="append", index=False)
    return path


def _refuse(ws: Workspace, uc, error: type[Exception], match: str) -> None:
    before = tree_snapshot(ws.feature_marts)
    with pytest.raises(error, match=match):
        ingest(ws, uc, "2025-02")
    assert tree_snapshot(ws.feature_marts) == before


def test_sqlite_query_per_window_is_a_versioned_mart(
    workspace: Workspace, small_demo_raw: Path, make_use_case: MakeUseCase
) -> None:
    _database(workspace, small_demo_raw)
    uc = make_use_case(workspace, source={"url": "sqlite:///feature_marts/raw/churn.db", "query": QUERY})
    first = ingest(workspace, uc, "2025-02", run_id="r1")
    expected = pd.read_csv(small_demo_raw / "churn_2025-02.csv", dtype={"customer_id": "str"})
    assert first.created and first.version.rows == len(expected)
    pd.testing.assert_series_equal(
        first.version.read()["customer_id"], expected["customer_id"].astype(first.version.read()["customer_id"].dtype)
    )
    source = first.version.manifest.source
    assert (
        source["kind"] == "database"
        and source["url"] == "sqlite:///feature_marts/raw/churn.db"
        and source["query"] == QUERY
    )
    again = ingest(workspace, uc, "2025-02")
    assert not again.created and again.version.version == first.version.version


def test_failing_query_shows_the_database_message(
    workspace: Workspace, small_demo_raw: Path, make_use_case: MakeUseCase
) -> None:
    _database(workspace, small_demo_raw)
    uc = make_use_case(
        workspace,
        source={
            "url": "sqlite:///feature_marts/raw/churn.db",
            "query": "SELECT * FROM customer WHERE month = {window}",
        },
    )
    _refuse(
        workspace,
        uc,
        SourceQueryError,
        r"The query of the source failed on sqlite:///feature_marts/raw/churn.db: no such table: customer\nQuery: SELECT \* FROM customer",
    )


def test_missing_sqlite_file_is_unreachable(workspace: Workspace, make_use_case: MakeUseCase) -> None:
    uc = make_use_case(workspace, source={"url": "sqlite:///feature_marts/raw/nope.db", "query": QUERY})
    _refuse(
        workspace,
        uc,
        SourceUnavailableError,
        r"Could not connect to the source: SQLite database feature_marts/raw/nope\.db does not exist",
    )
    assert not (workspace.raw / "nope.db").exists()


def test_unreachable_server_raises_the_retryable_connection_error(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, make_use_case: MakeUseCase
) -> None:
    pytest.importorskip("psycopg", reason="the PostgreSQL driver psycopg is not installed")
    with socket.socket() as probe:  # a free port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MP_TEST_DB_PASSWORD", "s3cr3t-Pw")
    uc = make_use_case(
        workspace,
        source={
            "url": f"postgresql+psycopg://millpond:${{MP_TEST_DB_PASSWORD}}@127.0.0.1:{port}/churn",
            "query": QUERY,
        },
    )
    with pytest.raises(
        SourceUnavailableError,
        match=rf"Could not connect to the source at postgresql\+psycopg://millpond:\*\*\*@127\.0\.0\.1:{port}/churn: .*refused",
    ) as info:
        ingest(workspace, uc, "2025-02")
    assert isinstance(info.value, ConnectionError) and "s3cr3t-Pw" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("not a url", r"Bad database URL 'not a url' for the source: Could not parse SQLAlchemy URL"),
        (
            "nosuchdb://host/db",
            r"Bad database URL 'nosuchdb://host/db' for the source: Can't load plugin: sqlalchemy\.dialects:nosuchdb",
        ),
    ],
)
def test_bad_url(workspace: Workspace, url: str, match: str, make_use_case: MakeUseCase) -> None:
    _refuse(workspace, make_use_case(workspace, source={"url": url, "query": QUERY}), MartError, match)


def test_unset_credential_variable_is_named(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, make_use_case: MakeUseCase
) -> None:
    monkeypatch.delenv("MP_UNSET_PASSWORD", raising=False)
    uc = make_use_case(
        workspace, source={"url": "postgresql+psycopg://u:${MP_UNSET_PASSWORD}@127.0.0.1/db", "query": QUERY}
    )
    _refuse(workspace, uc, MartError, r"Environment variable MP_UNSET_PASSWORD referenced in source\.url is not set")

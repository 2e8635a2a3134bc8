"""A mart ingested from a real PostgreSQL server that the fixture starts on a loopback port and removes afterwards."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from millpond.config.params import load_use_case
from millpond.errors import SourceQueryError
from millpond.marts.store import MartStore, ingest
from millpond.runs.runner import execute_stage
from millpond.workspace import Workspace
from tests.conftest import WINDOWS, tree_snapshot

pytestmark = pytest.mark.integration
PASSWORD = "pg-Secret_4711"
QUERY = (
    "SELECT customer_id, tenure_months, contract, internet_service, payment_method, region, senior_citizen, "
    "monthly_charges, total_charges, support_calls, churned FROM customers WHERE month = {window} ORDER BY customer_id"
)


@dataclass
class PostgresServer:
    port: int
    user: str = "millpond"
    database: str = "churn"

    def url(self, password: str) -> str:
        return f"postgresql+psycopg://{self.user}:{password}@127.0.0.1:{self.port}/{self.database}"


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """initdb + pg_ctl on a free 127.0.0.1 port in a temporary folder (as user postgres when run as root)."""
    pytest.importorskip("psycopg", reason="the PostgreSQL driver psycopg is not installed")
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    as_root = os.geteuid() == 0
    if as_root and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as an unprivileged user")
    base = Path(tempfile.mkdtemp(prefix="millpond-pg-"))
    prefix: list[str] = []
    if as_root:
        import pwd

        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base)
            pytest.skip("running as root and there is no 'postgres' user to run initdb as")
        os.chown(base, entry.pw_uid, entry.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = PostgresServer(port)
    data = base / "data"
    pwfile = base / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if as_root:
        os.chown(pwfile, entry.pw_uid, entry.pw_gid)

    def run(*cmd: str) -> None:
        subprocess.run([*prefix, *cmd], check=True, capture_output=True, text=True, timeout=120)

    try:
        run(
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            server.user,
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "-E",
            "UTF8",
        )
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "-t", "60", "start")
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"could not start PostgreSQL: {exc.stderr or exc.stdout}")
    try:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=port, user=server.user, password=PASSWORD, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f"CREATE DATABASE {server.database}")
        yield server
    finally:
        subprocess.run(
            [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_workspace(
    demo_workspace: Workspace, postgres: PostgresServer, small_demo_raw: Path, monkeypatch: pytest.MonkeyPatch
) -> Workspace:
    import sqlalchemy as sa

    engine = sa.create_engine(postgres.url(PASSWORD))
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE IF EXISTS customers"))
    for window in WINDOWS[:2]:
        frame = pd.read_csv(small_demo_raw / f"churn_{window}.csv", dtype={"customer_id": "str"}).assign(month=window)
        frame.to_sql("customers", engine, if_exists="append", index=False)
    engine.dispose()
    monkeypatch.setenv("CHURN_DB_PASSWORD", PASSWORD)
    data = yaml.safe_load((demo_workspace.params / "churn.yaml").read_text())
    data["source"] = {"url": postgres.url("${CHURN_DB_PASSWORD}"), "query": QUERY}
    (demo_workspace.params / "pg.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return demo_workspace


def _bytes_under(root: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in root.rglob("*") if p.is_file()]


def test_ingest_stage_from_postgres_keeps_the_password_out_of_every_record(
    pg_workspace: Workspace,
    postgres: PostgresServer,
    small_demo_raw: Path,
) -> None:
    record = execute_stage(pg_workspace, "params/pg.yaml", "ingest", "2025-02")
    assert record.status == "succeeded"
    version = MartStore(pg_workspace.feature_marts).latest("churn", "2025-02")
    expected = pd.read_csv(small_demo_raw / "churn_2025-02.csv", dtype={"customer_id": "str"}).sort_values(
        "customer_id"
    )
    assert version.rows == len(expected)
    assert version.read()["monthly_charges"].tolist() == expected["monthly_charges"].tolist()
    assert version.manifest.source["url"] == f"postgresql+psycopg://millpond:***@127.0.0.1:{postgres.port}/churn"
    assert version.manifest.run_id == record.run_id
    stored = _bytes_under(pg_workspace.runs) + _bytes_under(pg_workspace.feature_marts)
    assert any(path.name == "notebook.ipynb" for path, _ in stored) and any(
        path.name == "manifest.json" for path, _ in stored
    )
    assert [str(path) for path, data in stored if PASSWORD.encode() in data] == []


def test_failing_query_on_postgres_shows_the_server_message(pg_workspace: Workspace) -> None:
    data = yaml.safe_load((pg_workspace.params / "pg.yaml").read_text())
    data["source"]["query"] = "SELECT * FROM customers WHERE mnth = {window}"
    path = pg_workspace.params / "pg_bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    before = tree_snapshot(pg_workspace.feature_marts)
    with pytest.raises(
        SourceQueryError,
        match=r'The query of the source failed on postgresql\+psycopg://millpond:\*\*\*@127\.0\.0\.1:\d+/churn: column "mnth" does not exist',
    ) as info:
        ingest(pg_workspace, load_use_case(path), "2025-02")
    assert PASSWORD not in str(info.value)
    assert tree_snapshot(pg_workspace.feature_marts) == before


BIG_QUERY = (
    "SELECT customer_id || '-' || g AS customer_id, tenure_months, contract, internet_service, payment_method, region, "
    "senior_citizen, monthly_charges, total_charges, support_calls, churned FROM customers "
    "CROSS JOIN generate_series(1, 50) AS g WHERE month = {window} ORDER BY customer_id, g"
)  # 150,000 rows: two round trips of sources.DB_CHUNK_ROWS


def _terminate_readers(postgres: PostgresServer) -> int:
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=postgres.port, user=postgres.user, password=PASSWORD, dbname="postgres", autocommit=True
    ) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [postgres.database],
        ).fetchall()
    return len(rows)


@pytest.mark.reliability("kill")
def test_a_server_that_drops_the_connection_mid_read_stores_nothing_and_the_next_run_works(
    pg_workspace: Workspace, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from millpond.errors import SourceUnavailableError, TransientError
    from millpond.marts import inputs

    data = yaml.safe_load((pg_workspace.params / "pg.yaml").read_text())
    data["source"]["query"] = BIG_QUERY
    path = pg_workspace.params / "pg_big.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    use_case = load_use_case(path)
    before = tree_snapshot(pg_workspace.feature_marts)
    write_parts = inputs._write_parts
    terminated: list[int] = []

    def drop_after_the_first_chunk(frames, folder):  # type: ignore[no-untyped-def]
        def frames_then_drop():  # type: ignore[no-untyped-def]
            for number, frame in enumerate(frames):
                yield frame
                if number == 0:
                    terminated.append(_terminate_readers(postgres))

        return write_parts(frames_then_drop(), folder)

    monkeypatch.setattr(inputs, "_write_parts", drop_after_the_first_chunk)
    with pytest.raises(
        SourceUnavailableError, match=r"The connection to the source dropped while its rows were read"
    ) as info:
        ingest(pg_workspace, use_case, "2025-02")
    assert terminated and terminated[0] >= 1
    assert isinstance(info.value, TransientError) and PASSWORD not in str(info.value)
    assert tree_snapshot(pg_workspace.feature_marts) == before
    monkeypatch.setattr(inputs, "_write_parts", write_parts)
    result = ingest(pg_workspace, use_case, "2025-02")  # the next run works
    assert result.created and result.version.rows == 50 * 3000
    assert MartStore(pg_workspace.feature_marts).verify("churn").ok

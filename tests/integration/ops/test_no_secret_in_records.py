"""No secret in any record, no socket beyond loopback: cycles with credentials by ${ENV} and literally, every file grepped.

A real PostgreSQL server (its password in the database URL), an SMTP sink (a password) and a webhook server (a
password in the URL's userinfo, a token header) on loopback. Three `millpond cycle` runs through the CLI, their
terminal output kept in logs/ as cron would: 2025-01 with every credential as a ``${ENV}`` reference, 2025-02 with
them written literally (``?password=`` in the database URL, ``http://hook:<password>@…``, ``Authorization: Bearer
…``), and a failing 2025-02 (a broken query: its message names the URL) that notifies the failure. Then a run folder
whose stage was killed with a literal password in its parameters is sealed as interrupted. Afterwards no file of the
workspace (notebooks, manifests, HTML reports, kernel and cron logs, events and audit logs, captures, marts, models,
the SQLite index, sweetviz's reports) holds any secret, in any of the forms it could have been written in.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nbformat
import pandas as pd
import pytest
import yaml

import tests.integration.marts.test_postgres as pg_tests
import tests.unit.governance.test_notifications as sinks
from millpond.config.secrets import forget_all
from millpond.workspace import Workspace
from tests.conftest import REPO, WINDOWS

pytestmark = pytest.mark.integration
postgres = pg_tests.postgres  # the module's own PostgreSQL server on a loopback port
smtp_sink, http_sink = sinks.smtp_sink, sinks.http_sink

ENV = {
    "MP_DB_PASSWORD": pg_tests.PASSWORD,  # the server's first password, given through ${ENV}
    "MP_SMTP_PASSWORD": "smtp-Env_pw_8842",
    "MP_HOOK_PASSWORD": "hook-Env_pw@77:x",  # '@' and ':' inside a URL's userinfo
    "MP_HOOK_TOKEN": "hook-Env_tok_5531",
}
LITERAL_DB_PASSWORD = "lit-Db_pw_6613"  # the server's password for the literal cycles (ALTER USER)
LITERAL_HOOK_PASSWORD = "lit-Hook_pw_991"
LITERAL_BEARER = "lit-Bearer_tok_2207"
SECRETS = (*ENV.values(), LITERAL_DB_PASSWORD, LITERAL_HOOK_PASSWORD, LITERAL_BEARER)


def _forms(secret: str) -> set[bytes]:
    """The ways a secret could be written: raw, URL-quoted, JSON-escaped, base64 of user:password (Basic auth)."""
    forms = {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}
    forms |= {base64.b64encode(f"{user}:{secret}".encode()).decode() for user in ("hook", "millpond")}
    return {form.encode() for form in forms}


def _leaks(root: Path) -> list[str]:
    """Every file but the params the user wrote (the input) that holds a secret in any form."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.parent != root / "params"):
        data = path.read_bytes()
        found += [f"{path.relative_to(root)}: {s!r}" for s in SECRETS if any(f in data for f in _forms(s))]
    return found


@pytest.fixture
def secret_ws(
    demo_workspace: Workspace, postgres: Any, small_demo_raw: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workspace]:
    import sqlalchemy as sa

    engine = sa.create_engine(postgres.url(pg_tests.PASSWORD))
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE IF EXISTS customers"))
    for window in WINDOWS[:2]:
        frame = pd.read_csv(small_demo_raw / f"churn_{window}.csv", dtype={"customer_id": "str"}).assign(month=window)
        frame.to_sql("customers", engine, if_exists="append", index=False)
    engine.dispose()
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    forget_all()
    yield demo_workspace
    forget_all()


def _params(ws: Workspace, name: str, source: dict[str, str], notify: dict[str, Any]) -> str:
    data = yaml.safe_load((ws.params / "churn.yaml").read_text())
    data.update(
        source=source,
        model={"family": "logistic_regression", "params": {"max_iter": 200}},
        notify=notify,
        schedule={**data["schedule"], "retries": 0},
        promotion={**data["promotion"], "bootstrap_resamples": 50},
        drift={**data["drift"], "bootstrap_resamples": 50},
        retrain={**data["retrain"], "every_n_windows": 1},  # 2025-02 trains and promotes too: it notifies
    )
    (ws.params / name).write_text(yaml.safe_dump(data, sort_keys=False))
    return f"params/{name}"


def _notify(smtp: Any, http: Any, url: str, headers: dict[str, str]) -> dict[str, Any]:
    email = {
        "host": "127.0.0.1",
        "port": smtp.server_address[1],
        "from": "millpond@example.org",
        "to": ["ops@example.org"],
        "username": "millpond",
        "password": "${MP_SMTP_PASSWORD}",  # the schema admits only a reference here
    }
    return {"email": email, "webhook": {"url": url, "headers": headers, "timeout_seconds": 5}}


LISTENING: set[tuple[str, int]] = set()  # every listening socket seen during the cycles (the process tree)


def _listening(pid: int) -> set[tuple[str, int]]:
    import psutil

    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return set()
    found = set()
    for proc in procs:
        try:
            connections = proc.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        found |= {(c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN}
    return found


def _cycle(ws: Workspace, params: str, window: str) -> int:
    """`millpond cycle` as cron runs it (terminal output appended to logs/cron.log), its sockets sampled meanwhile."""
    ws.logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with open(ws.logs / "cron.log", "a", encoding="utf-8") as log:
        cmd = [sys.executable, "-m", "millpond", "--workspace", str(ws.root), "cycle", "--params", params]
        proc = subprocess.Popen([*cmd, "--window", window], stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            while True:
                try:
                    return proc.wait(timeout=0.5)  # sampling the listening sockets every half second meanwhile
                except subprocess.TimeoutExpired:
                    LISTENING.update(_listening(proc.pid))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _killed_run_with_a_literal_password(ws: Workspace, params: str) -> Path:
    """A run folder as a stage killed mid-ingest leaves it: papermill's notebook with the literal URL, no manifest."""
    from millpond.runs.store import RunStore, new_cycle_id

    raw = yaml.safe_load(ws.resolve(params).read_text())
    claim = {"use_case": "churn", "window": "2025-02", "kind": "runner"}
    run_dir = RunStore(ws.runs).prepare(new_cycle_id("churn", "2025-02"), 1, "ingest", claim=claim)
    gone = subprocess.Popen(["true"])  # the killed runner: a PID that no longer runs
    gone.wait()
    note = json.loads((run_dir / ".claim.json").read_text())
    (run_dir / ".claim.json").write_text(json.dumps({**note, "pid": gone.pid}))
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"parameters": raw}
    nb.cells = [
        nbformat.v4.new_code_cell(f"source = {raw['source']!r}", metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell(
            "print(source['url'])",
            outputs=[nbformat.v4.new_output("stream", name="stdout", text=raw["source"]["url"] + "\n")],
        ),
    ]
    nbformat.write(nb, run_dir / "notebook.ipynb")
    (run_dir / "kernel.log").write_text(f"connecting to {raw['source']['url']}\n", encoding="utf-8")
    return run_dir


@pytest.mark.reliability("secret")
@pytest.mark.reliability("socket")
def test_no_secret_given_by_env_or_literally_reaches_any_file(
    secret_ws: Workspace, postgres: Any, smtp_sink: Any, http_sink: Any
) -> None:
    import psycopg

    ws, port = secret_ws, http_sink.server_address[1]
    env_params = _params(
        ws,
        "env.yaml",
        {"url": postgres.url("${MP_DB_PASSWORD}"), "query": pg_tests.QUERY},
        _notify(
            smtp_sink,
            http_sink,
            f"http://hook:${{MP_HOOK_PASSWORD}}@127.0.0.1:{port}/hook",
            {"X-Hook-Token": "${MP_HOOK_TOKEN}"},
        ),
    )
    literal_url = f"postgresql+psycopg://{postgres.user}@127.0.0.1:{postgres.port}/{postgres.database}"
    literal_source = {"url": f"{literal_url}?password={LITERAL_DB_PASSWORD}", "query": pg_tests.QUERY}
    literal_notify = _notify(
        smtp_sink,
        http_sink,
        f"http://hook:{LITERAL_HOOK_PASSWORD}@127.0.0.1:{port}/hook",
        {"Authorization": f"Bearer {LITERAL_BEARER}"},
    )
    literal_params = _params(ws, "literal.yaml", literal_source, literal_notify)
    broken = {**literal_source, "query": pg_tests.QUERY.replace("WHERE month", "WHERE mnth")}
    broken_params = _params(ws, "broken.yaml", broken, literal_notify)

    assert _cycle(ws, env_params, "2025-01") == 0, (ws.logs / "cron.log").read_text()[-3000:]
    with psycopg.connect(
        host="127.0.0.1", port=postgres.port, user=postgres.user, password=pg_tests.PASSWORD, dbname="postgres"
    ) as conn:
        conn.execute(f"ALTER USER {postgres.user} PASSWORD '{LITERAL_DB_PASSWORD}'")
        conn.commit()
    assert _cycle(ws, literal_params, "2025-02") == 0, (ws.logs / "cron.log").read_text()[-3000:]
    assert _cycle(ws, broken_params, "2025-02") == 1
    run_dir = _killed_run_with_a_literal_password(ws, literal_params)
    forget_all()  # a later, fresh process seals it: it knows only what the run folder itself holds
    from millpond.ops.scheduler import recover_interrupted

    (sealed,) = recover_interrupted(ws, "churn")
    assert sealed.run_id == f"{run_dir.parent.name}/{run_dir.name}" and (run_dir / "manifest.json").is_file()

    # the credentials did their job: the database answered, the mails and hooks were sent with them
    assert {tuple(m["auth"]) for m in smtp_sink.messages} == {("millpond", ENV["MP_SMTP_PASSWORD"])}
    basic = [h["auth"].removeprefix("Basic ") for h in http_sink.received if (h["auth"] or "").startswith("Basic ")]
    auths = {base64.b64decode(b).decode() for b in basic}
    assert f"hook:{ENV['MP_HOOK_PASSWORD']}" in auths
    assert f"Bearer {LITERAL_BEARER}" in {h["auth"] for h in http_sink.received}
    cron = (ws.logs / "cron.log").read_text()
    assert 'column "mnth" does not exist' in cron and f"{literal_url}?password=***" in cron  # masked, not dropped
    written = {p.suffix for p in ws.root.rglob("*") if p.is_file()}
    assert {".ipynb", ".html", ".json", ".jsonl", ".sqlite", ".parquet", ".log"} <= written
    assert list(ws.runs.rglob("outputs/comparison.html")), "the comparison step wrote no sweetviz report to grep"
    assert _leaks(ws.root) == []
    # the kernels' ZMQ ports were seen (the sampling works) and nothing listened beyond loopback
    assert LISTENING and sorted(a for a in LISTENING if a[0] not in ("127.0.0.1", "::1")) == []

"""A corrupt ``runs/index.sqlite`` (garbage bytes, truncated, emptied, a row changed) is never trusted over the run
records: `millpond runs list` shows what the records say, `millpond verify` reports the damage, `--repair` rebuilds
the index from the records."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from millpond.cli import main
from millpond.runs.entities import RunManifest, RunTimings
from millpond.runs.store import RunStore, new_cycle_id
from millpond.workspace import Workspace

pytestmark = pytest.mark.integration
STATUSES = {"2025-01": "succeeded", "2025-02": "failed", "2025-03": "succeeded"}


def _recorded(ws: Workspace) -> dict[str, str]:
    """Three recorded ingest runs (one failed); their ids and statuses."""
    runs = RunStore(ws.runs)
    out = {}
    for window, status in STATUSES.items():
        run_dir = runs.prepare(
            new_cycle_id("churn", window), 1, "ingest", claim={"use_case": "churn", "window": window}
        )
        (run_dir / "notebook.ipynb").write_text("{}", encoding="utf-8")
        now = datetime.now(UTC)
        manifest = RunManifest(
            use_case="churn", window=window, stage="ingest", status=status, timings=RunTimings.between(now, now)
        )
        out[runs.record(run_dir, manifest).run_id] = status
    return out


def _garbage(index: Path) -> None:
    index.write_bytes(b"\x00\xffnot sqlite at all" * 200)


def _truncated(index: Path) -> None:
    index.write_bytes(index.read_bytes()[: index.stat().st_size // 2])


def _emptied(index: Path) -> None:
    index.write_bytes(b"")


def _row_changed(index: Path) -> None:
    with closing(sqlite3.connect(index)) as con:  # hide the failure: the failed run's row now says succeeded
        con.execute("UPDATE runs SET status = 'succeeded' WHERE status = 'failed'")
        con.commit()


DAMAGE: dict[str, Callable[[Path], None]] = {
    "garbage": _garbage,
    "truncated": _truncated,
    "emptied": _emptied,
    "row-changed": _row_changed,
}


def _listed(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    capsys.readouterr()
    assert main(["--workspace", str(ws.root), "runs", "list", "--json"]) == 0
    return {r["run_id"]: r["status"] for r in json.loads(capsys.readouterr().out)}


@pytest.mark.reliability("tamper")
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_corrupt_index_is_never_trusted_over_the_records_and_repair_rebuilds_it(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    ws = workspace
    truth = _recorded(ws)
    index = ws.runs / "index.sqlite"
    with closing(sqlite3.connect(index)) as con:  # the last connection closed: every row in the main file
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    DAMAGE[damage](index)

    assert _listed(ws, capsys) == truth  # the records' truth, whatever the index says
    verified = main(["--workspace", str(ws.root), "verify"])
    out = "".join(capsys.readouterr())
    if damage == "emptied":  # an empty index lacks rows: each record is a note (verify passes), repair adds them
        assert verified == 0 and out.count("is not indexed") == len(truth), out
    else:
        assert verified == 3 and "index.sqlite" in out, out
    assert main(["--workspace", str(ws.root), "verify", "--repair"]) == 0
    capsys.readouterr()
    assert {r.run_id: r.status for r in RunStore(ws.runs).list()} == truth  # the index itself is rebuilt
    assert _listed(ws, capsys) == truth
    assert main(["--workspace", str(ws.root), "verify"]) == 0
    assert "is not indexed" not in capsys.readouterr().out

"""The runs index page, reports of runs without a notebook, and the live status line (no kernels)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from millpond.errors import ReportError
from millpond.runs.entities import RunManifest, RunTimings
from millpond.runs.progress import StatusLine
from millpond.runs.report import REPORT, render_report, render_runs_index, report_for, write_runs_index
from millpond.runs.store import RunStore
from millpond.workspace import Workspace


def _row(run_id: str, stage: str, status: str = "succeeded", **extra: object) -> dict[str, object]:
    return {
        "run_id": run_id,
        "use_case": "churn",
        "window": "2025-02",
        "stage": stage,
        "status": status,
        "started": "2025-03-01 10:00:00",
        "duration_s": 12.5,
        "metrics": "",
        "champion": "",
        "drift": "",
        "note": "",
        **extra,
    }


def test_runs_index_is_self_contained_and_escapes_what_it_shows() -> None:
    page = render_runs_index(
        [
            _row("c1/03-drift", "drift", drift="data drift, no model drift"),
            _row("c1/01-ingest", "ingest", "failed", note="<b>boom</b>"),
        ],
        {"c1/03-drift": "c1/03-drift/report.html"},
    )
    assert page.count("<tr>") == 3  # header + two runs
    assert '<a href="c1/03-drift/report.html">c1/03-drift</a>' in page
    assert "&lt;b&gt;boom&lt;/b&gt;" in page and "<b>boom</b>" not in page
    assert 'class="mp-failed"' in page and "data drift, no model drift" in page
    assert not re.search(r"""(src|href)=["']https?://""", page)  # nothing fetched from the network


def test_report_without_a_notebook_shows_the_error(tmp_path: Path) -> None:
    out = render_report(
        tmp_path, title="churn · ingest · 2025-01", status="failed", error="unknown key 'promotion.metirc'"
    )
    page = out.read_text()
    assert out == tmp_path / REPORT
    assert "unknown key &#x27;promotion.metirc&#x27;" in page and "mp-failed" in page
    assert "stopped before its notebook ran" in page


def test_report_of_a_broken_notebook_names_it(tmp_path: Path) -> None:
    (tmp_path / "notebook.ipynb").write_text("{not json")
    with pytest.raises(ReportError, match=r"Rendering .*notebook.ipynb as HTML failed"):
        render_report(tmp_path, title="t", status="failed")
    assert not (tmp_path / REPORT).exists()


def test_bad_input_runs_get_a_report_and_the_index_links_it(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.millpond]\n")
    ws = Workspace.find(tmp_path)
    store = RunStore(ws.runs)
    run_dir = store.prepare("20250301T000000Z-churn-2025-02-abcd", 1, "ingest")
    render_report(run_dir, title="churn · ingest · 2025-02", status="failed", error="bad params")
    now = datetime.now(UTC)
    record = store.record(
        run_dir, RunManifest("churn", "2025-02", "ingest", "failed", RunTimings.between(now, now), error="bad params")
    )
    assert report_for(ws, record) == run_dir / REPORT and store.verify().ok
    page = write_runs_index(ws).read_text()
    assert f'href="{record.run_id}/{REPORT}"' in page and "bad params" in page


def test_status_line_rewrites_one_line_and_stays_silent_off_a_terminal() -> None:
    stream = io.StringIO()
    line = StatusLine(stream, enabled=True)
    line.stage_callback("[ 2/12] 2025-02")("drift", 3, 5)
    line.clear()
    assert stream.getvalue().startswith("\r[ 2/12] 2025-02 · drift (3/5)  [")
    assert stream.getvalue().endswith("\r")
    quiet = io.StringIO()
    StatusLine(quiet).update("anything")  # StringIO is not a TTY
    assert quiet.getvalue() == ""

"""Reports and views checked as a person would: real runs, then pages loaded in headless Chromium.

One module workspace holds two short cycles (2025-01 trains the first champion, 2025-02 scores
and measures drift against it) and one failed ingest; every test reads from it.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from millpond.errors import PortInUseError, RunNotFoundError, StageFailedError, ViewError
from millpond.runs.report import REPORT, write_runs_index
from millpond.runs.runner import execute_stage
from millpond.runs.store import RunStore
from millpond.views.dtale_view import find_drift_run, serve_drift_view
from millpond.workspace import Workspace
from tests.browser import browser, console_errors, screenshot  # noqa: F401 - browser is a fixture
from tests.conftest import copy_workspace, run_millpond, tree_snapshot

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory, two_cycled_windows: Path) -> Workspace:
    ws = copy_workspace(two_cycled_windows, tmp_path_factory.mktemp("reports") / "ws")
    with pytest.raises(StageFailedError):
        execute_stage(ws, "params/churn.yaml", "ingest", "2026-07")
    write_runs_index(ws)
    return ws


def _run(ws: Workspace, stage: str, status: str = "succeeded", window: str | None = None) -> object:
    return RunStore(ws.runs).list(stage=stage, status=status, window=window)[0]


def _cli(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    return run_millpond(ws, *args)


def test_every_run_record_holds_its_report_and_still_verifies(reported: Workspace) -> None:
    store = RunStore(reported.runs)
    records = store.list()
    assert len(records) == 8  # 2025-02's cycle: five stages and the drift run's comparison step
    for record in records:
        assert (record.path / REPORT).is_file(), record.run_id
        assert REPORT in record.manifest["files"]
    assert store.verify().ok
    drift = _run(reported, "drift", window="2025-02")
    sides = drift.scraps["summary"]["comparison_sides"]
    assert "comparison" not in drift.scraps["summary"] and not (drift.path / "outputs" / "comparison.html").exists()
    compare = _run(reported, "compare", window="2025-02")
    assert compare.cycle_id == drift.cycle_id and compare.path.name == "04-compare"  # after ingest, score, drift
    assert compare.scraps["summary"] == {"drift_run": drift.run_id, "comparison": "outputs/comparison.html"}
    assert "outputs/comparison.html" in compare.manifest["files"]  # hashed: covered by runs verify
    read = {entry["ref"] for entry in compare.manifest["inputs"].values()}
    assert read == {f"churn@{v}" for v in [*sides["reference"], sides["current"]]}  # the drift run's mart versions
    assert "Warning" not in (drift.path / "notebook.ipynb").read_text()  # no library warnings in the reader's report
    shown = _cli(reported, "report", drift.run_id.split("/")[0][-9:] + "/03-drift")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == str(drift.path / REPORT)


def test_report_of_an_unknown_run_suggests_a_close_one(reported: Workspace) -> None:
    drift = _run(reported, "drift", window="2025-02")
    typo = drift.run_id.replace("03-drift", "03-drfit")
    out = _cli(reported, "report", typo)
    assert out.returncode == 2
    assert f"No run {typo!r}" in out.stderr and f"Did you mean '{drift.run_id}'?" in out.stderr


def test_drift_view_refuses_runs_without_drift_output(reported: Workspace) -> None:
    before = tree_snapshot(reported.runs)
    ingest = _run(reported, "ingest", window="2025-02")
    with pytest.raises(
        ViewError, match=r"is a 'ingest' run; a drift view needs a drift run\. The drift run of that cycle is "
    ):
        find_drift_run(reported, ingest.run_id)
    with pytest.raises(RunNotFoundError, match="Did you mean"):
        find_drift_run(reported, ingest.run_id.replace("ingest", "drfit"))
    with pytest.raises(ViewError, match="No succeeded drift run for use case 'churn' and window '2025-01'"):
        find_drift_run(reported, params="params/churn.yaml", window="2025-01")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError, match=rf"Port {port} on 127.0.0.1 is already in use"):
            serve_drift_view(reported, params="params/churn.yaml", window="2025-02", port=port, timeout=0.1)
    assert tree_snapshot(reported.runs) == before


def test_html_report_shows_tables_and_plots_with_code_folded(reported: Workspace, browser) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    drift = _run(reported, "drift", window="2025-02")
    browser.get((drift.path / REPORT).as_uri())
    assert browser.title == "churn · drift · 2025-02"
    assert browser.find_element(By.ID, "mp-status").text == "succeeded"
    tables = browser.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output table")
    features = {cell.text for table in tables for cell in table.find_elements(By.CSS_SELECTOR, "tbody td:nth-child(2)")}
    assert {"monthly_charges", "contract", "region"} <= features
    assert browser.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output img")  # the impact plot
    code = browser.find_elements(By.CSS_SELECTOR, ".jp-CodeCell .jp-InputArea")
    assert code and not any(c.is_displayed() for c in code)
    assert "millpond runs compare" in browser.find_element(By.TAG_NAME, "main").text  # where the comparison lands
    screenshot(browser, "report-drift")
    browser.find_element(By.ID, "mp-toggle-code").click()
    assert all(c.is_displayed() for c in code)
    assert console_errors(browser) == []


def test_failed_run_report_shows_the_error(reported: Workspace, browser) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    failed = _run(reported, "ingest", status="failed")
    browser.get((failed.path / REPORT).as_uri())
    assert browser.find_element(By.ID, "mp-status").text == "failed"
    assert "SourceNotFoundError" in browser.find_element(By.ID, "mp-error").text
    assert "An Exception was encountered" in browser.find_element(By.TAG_NAME, "main").text  # papermill's banner
    traceback = [
        e for e in browser.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output") if "SourceNotFoundError" in e.text
    ]
    assert traceback and traceback[0].is_displayed()
    screenshot(browser, "report-failed")
    assert console_errors(browser) == []


def test_runs_index_lists_every_run_and_sorts(reported: Workspace, browser) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    browser.get((reported.runs / "index.html").as_uri())
    assert browser.title == "millpond runs"
    rows = browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
    assert len(rows) == 8
    headers = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "#runs th")]
    assert headers[:8] == ["run", "window", "stage", "status", "seconds", "metrics", "champion", "drift verdict"]
    cells = {r.find_element(By.CSS_SELECTOR, "td:nth-child(3)").text: r for r in rows if "2025-02" in r.text}
    assert "data drift" in cells["drift"].find_element(By.CSS_SELECTOR, "td:nth-child(8)").text
    assert "roc_auc" in cells["score"].find_element(By.CSS_SELECTOR, "td:nth-child(6)").text
    browser.find_elements(By.CSS_SELECTOR, "#runs th")[2].click()  # stage, ascending
    stages = [
        r.find_element(By.CSS_SELECTOR, "td:nth-child(3)").text
        for r in browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
    ]
    assert stages == sorted(stages)
    screenshot(browser, "runs-index")
    cells["drift"].find_element(By.TAG_NAME, "a").click()
    assert browser.title == "churn · drift · 2025-02"
    assert console_errors(browser) == []


def test_sweetviz_comparison_report_opens(reported: Workspace, browser) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    compare = _run(reported, "compare", window="2025-02")
    browser.get((compare.path / REPORT).as_uri())
    assert browser.title == "churn · compare · 2025-02"
    assert "03-drift" in browser.find_element(By.ID, "mp-facts").text  # the drift run it belongs to
    screenshot(browser, "report-compare")
    browser.find_element(By.LINK_TEXT, "open the sweetviz comparison").click()
    assert browser.current_url.endswith(f"/{compare.path.name}/outputs/comparison.html")
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "reference" in text and "current" in text and "churned" in text
    assert "monthly_charges" in text
    screenshot(browser, "sweetviz-comparison")
    assert console_errors(browser) == []


def test_live_dtale_drift_view_lists_the_columns_and_stops_on_ctrl_c(reported: Workspace, browser) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    drift = _run(reported, "drift", window="2025-02")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "millpond",
            "--workspace",
            str(reported.root),
            "drift",
            "view",
            drift.run_id,
            "--timeout",
            "300",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith(f"dtale drift view of {drift.run_id} at http://127.0.0.1:"), first + proc.stderr.read()
        url = first.rsplit(" ", 1)[1].strip()
        browser.get(url)
        wait = WebDriverWait(browser, 60)
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".headerCell")))
        wait.until(lambda d: "psi" in d.find_element(By.TAG_NAME, "body").text)
        headers = browser.find_element(By.TAG_NAME, "body").text
        for column in ("feature", "kind", "psi", "ks_statistic"):
            assert column in headers
        screenshot(browser, "dtale-drift-table")
        errors = [e for e in console_errors(browser) if "favicon" not in e]
        assert errors == []
    finally:
        proc.send_signal(signal.SIGINT)
        try:  # a loaded 2-core machine has taken over a minute to stop it (seen twice in full-suite runs)
            out, err = proc.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"drift view did not stop within 180 s of Ctrl-C; it printed:\n{out}\n{err}")
    assert proc.returncode == 0, err
    assert out.rstrip().endswith("drift view stopped")


def test_notebooks_run_top_to_bottom_with_their_defaults(reported: Workspace, tmp_path: Path) -> None:
    """Each stage notebook run top to bottom by nbclient with the defaults of its parameters cell, nothing injected:
    a non-interactive kernel, so each stage records its own locked run (kind papermill)."""
    from nbclient import NotebookClient

    from millpond.runs.runner import kernel_name
    from millpond.runs.store import RunStore

    root = tmp_path / "ws"
    shutil.copytree(reported.root, root, ignore=shutil.ignore_patterns("runs"))
    for stage in ("ingest", "score", "drift", "train", "promote"):
        nb = nbformat.read(root / "notebooks" / f"{stage}.ipynb", as_version=4)
        NotebookClient(
            nb, kernel_name=kernel_name(), timeout=600, resources={"metadata": {"path": str(root / "notebooks")}}
        ).execute()
        statuses = [o for c in nb.cells for o in c.get("outputs", []) if "text/markdown" in o.get("data", {})]
        assert statuses and statuses[0]["data"]["text/markdown"].startswith(f"**{stage}: "), stage
    assert (root / "feature_marts" / "churn" / "versions").is_dir()
    runs = RunStore(root / "runs")
    assert sorted((r.stage, r.manifest["extra"]["kind"]) for r in runs.list()) == sorted(
        (stage, "papermill") for stage in ("ingest", "score", "drift", "train", "promote")
    )
    assert runs.verify().ok

"""The control room checked as a person would: real cycles, then every page loaded from file:// in headless Chromium.

One module workspace: 2025-01 is ingested, trained and promoted in process (as tests/conftest.py's scoring template
does, to keep the test short), then 2025-02 runs ingest, score and drift as real notebooks with their reports; a
second version trained for 2025-02 becomes the challenger, so the registry has two versions to compare. Screenshots land in test-artifacts/site-*.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from millpond.config.params import load_use_case
from millpond.models.monitoring import MonitoringLog
from millpond.models.store import ModelStore
from millpond.runs import stages
from millpond.runs.store import RunStore
from millpond.site import build_site
from millpond.site.check import broken_links, external_urls
from millpond.site.layout import card_file, model_file, use_case_file
from millpond.workspace import Workspace
from tests.browser import browser, console_errors, screenshot  # noqa: F401 - browser is a fixture
from tests.conftest import copy_workspace

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, two_cycled_windows: Path) -> tuple[Workspace, Path]:
    ws = copy_workspace(two_cycled_windows, tmp_path_factory.mktemp("site ws") / "ws")  # a space: links are encoded
    uc = load_use_case(ws.params / "churn.yaml")
    every = uc.model_copy(update={"retrain": uc.retrain.model_copy(update={"every_n_windows": 1})})
    trained = stages.run_train(stages.StageContext(ws, every, "2025-02", run_id="test/2025-02"))
    ModelStore(ws.model_store).set_alias("churn", "challenger", trained.summary["candidate"], actor="test", reason="t")
    return ws, build_site(ws).parent


def _open(driver: object, page: Path) -> None:
    driver.get(page.resolve().as_uri())  # type: ignore[attr-defined]


def _shown(driver: object, selector: str) -> list[object]:
    return [e for e in driver.find_elements("css selector", selector) if e.is_displayed()]  # type: ignore[attr-defined]


def test_the_site_is_self_contained(built: tuple[Workspace, Path]) -> None:
    _, site = built
    assert broken_links(site) == []
    assert external_urls(site) == []


def test_home_shows_the_champion_and_its_kpi(built: tuple[Workspace, Path], browser: object) -> None:  # noqa: F811
    ws, site = built
    _open(browser, site / "index.html")
    assert console_errors(browser) == []
    champion = ModelStore(ws.model_store).aliases("churn")["champion"]
    card = browser.find_element("css selector", '.mp-card[data-use-case="churn"]')  # type: ignore[attr-defined]
    assert card.find_element("css selector", ".mp-champion").text == champion
    latest = [e.fields for e in MonitoringLog(ws.model_store, "churn").entries("drift") if e.fields.get("kpi")][-1]
    assert card.find_element("css selector", ".mp-kpi-latest").text == f"{latest['kpi']:.3f}"
    assert card.find_elements("css selector", "svg.mp-spark polyline")
    screenshot(browser, "site-home")


def test_the_use_case_page_draws_kpi_drift_and_decisions(built: tuple[Workspace, Path], browser: object) -> None:  # noqa: F811
    ws, site = built
    _open(browser, site / use_case_file("churn"))
    assert console_errors(browser) == []
    drift = {e.window: e.fields for e in MonitoringLog(ws.model_store, "churn").entries("drift")}
    rows = browser.find_elements("css selector", "#mp-kpi-table tbody tr")  # type: ignore[attr-defined]
    assert [r.find_elements("css selector", "td")[0].text for r in rows] == sorted(drift)
    first = rows[0].find_elements("css selector", "td")[1].text
    entry = drift[sorted(drift)[0]]
    assert first == f"{entry['kpi']:.3f} [{entry['kpi_interval']['low']:.3f}, {entry['kpi_interval']['high']:.3f}]"
    assert browser.find_elements("css selector", "#mp-kpi-chart svg circle")  # type: ignore[attr-defined]
    assert browser.find_elements("css selector", "#mp-kpi-chart .mp-mark")  # type: ignore[attr-defined]
    cells = browser.find_elements("css selector", "#mp-drift-heatmap rect.mp-cell")  # type: ignore[attr-defined]
    assert len(cells) % len(drift) == 0 and len(cells) >= len(drift)
    notes = _shown(browser, "#mp-decisions tr.mp-notification")
    browser.find_element("id", "mp-show-notifications").click()  # type: ignore[attr-defined]
    assert notes == [] and _shown(browser, "#mp-decisions tr.mp-notification")
    screenshot(browser, "site-use-case")


def test_the_registry_compares_two_versions(built: tuple[Workspace, Path], browser: object) -> None:  # noqa: F811
    ws, site = built
    store = ModelStore(ws.model_store)
    versions = store.versions("churn")
    assert len(versions) == 2
    _open(browser, site / model_file("churn"))
    assert console_errors(browser) == []
    listed = browser.find_elements("css selector", "#mp-versions tbody tr")  # type: ignore[attr-defined]
    assert len(listed) == len(versions)
    assert browser.find_elements("css selector", "#mp-alias-timeline svg rect")  # type: ignore[attr-defined]
    result = browser.find_element("id", "mp-compare-result").text  # type: ignore[attr-defined]
    a, b = (browser.find_element("id", i).get_attribute("value") for i in ("mp-compare-a", "mp-compare-b"))  # type: ignore[attr-defined]
    ma, mb = store.get("churn", a).metadata.metrics, store.get("churn", b).metadata.metrics
    assert a != b and f"roc_auc {round(ma['roc_auc'], 4)} {round(mb['roc_auc'], 4)}" in result
    screenshot(browser, "site-registry")
    _open(browser, site / card_file("churn", store.aliases("churn")["champion"]))
    assert console_errors(browser) == []
    assert "sha256 ok" in browser.find_element("id", "mp-lineage").text  # type: ignore[attr-defined]
    screenshot(browser, "site-card")


def test_the_runs_page_filters_and_compares(built: tuple[Workspace, Path], browser: object) -> None:  # noqa: F811
    ws, site = built
    runs = RunStore(ws.runs).list()
    _open(browser, site / "runs.html")
    assert console_errors(browser) == []
    assert len(_shown(browser, "#mp-runs tr.mp-run")) == len(runs)
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "f-stage")).select_by_value("ingest")  # type: ignore[attr-defined]
    assert len(_shown(browser, "#mp-runs tr.mp-run")) == sum(r.stage == "ingest" for r in runs)
    Select(browser.find_element("id", "f-stage")).select_by_value("")  # type: ignore[attr-defined]
    search = browser.find_element("id", "f-search")  # type: ignore[attr-defined]
    search.send_keys("drift")
    shown = _shown(browser, "#mp-runs tr.mp-run")
    assert 0 < len(shown) < len(runs)
    search.clear()
    search.send_keys(" ")  # an input event with an empty query: every row again
    shown = _shown(browser, "#mp-runs tr.mp-run")
    assert len(shown) == len(runs)
    stages = [row for row in shown if row.get_attribute("data-stage") != "compare"]  # two stage runs' summaries
    boxes = [row.find_element("css selector", ".mp-pick") for row in stages[:2]]  # type: ignore[attr-defined]
    for box in boxes:
        box.click()
    panel = browser.find_element("id", "mp-run-compare").text  # type: ignore[attr-defined]
    assert "Summaries" in panel and "rows" in panel
    screenshot(browser, "site-runs")
    drift = next(row for row in shown if row.get_attribute("data-stage") == "drift")
    drift.find_element("css selector", "a").click()
    assert browser.current_url.endswith("/03-drift/report.html")  # type: ignore[attr-defined]
    assert console_errors(browser) == []
    summary = browser.find_element("css selector", "table.mp-summary").text  # type: ignore[attr-defined]
    entry = MonitoringLog(ws.model_store, "churn").entries("drift")[-1]
    interval = entry.fields["kpi_interval"]
    assert f"{interval['value']:.3f} [{interval['low']:.3f}, {interval['high']:.3f}]" in summary  # not a cut-off repr
    assert "event notify" not in browser.page_source  # type: ignore[attr-defined]
    screenshot(browser, "site-drift-report")

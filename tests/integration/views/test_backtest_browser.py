"""The backtest's HTML report read as a person would: loaded from file:// in headless Chromium, charts drawn, the
summary legible. The screenshot lands in test-artifacts/backtest-report.png."""

from __future__ import annotations

from pathlib import Path

import pytest

from millpond.views.backtest_report import write_backtest_report
from tests.browser import browser, console_errors, screenshot  # noqa: F401 - browser is a fixture
from tests.unit.views.test_backtest_report import KPIS, sample_report

pytestmark = pytest.mark.integration


def test_the_backtest_report_draws_its_charts(make_use_case, tmp_path: Path, browser: object) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    page = write_backtest_report(sample_report(make_use_case), tmp_path / "backtest report.html")
    browser.get(page.resolve().as_uri())  # type: ignore[attr-defined]
    assert console_errors(browser) == []
    charts = browser.find_elements("css selector", "svg.kpi-chart")  # type: ignore[attr-defined]
    assert len(charts) == 1 + len(KPIS) and all(c.is_displayed() and c.size["width"] > 800 for c in charts)
    first = charts[0].find_elements("css selector", "polyline")
    assert all(line.size["width"] > 600 for line in first)  # 4/5 of the plot: windows 2-6 have a KPI
    rows = browser.find_elements("css selector", "table.summary tbody tr")  # type: ignore[attr-defined]
    assert [r.find_element("css selector", "td").text for r in rows] == list(KPIS)
    assert browser.find_element("css selector", "h1").text == "Backtest: churn"  # type: ignore[attr-defined]
    screenshot(browser, "backtest-report")

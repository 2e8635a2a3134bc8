"""The backtest's HTML report: self-contained, every policy charted, its marks where the replay put them."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from millpond.ops.backtest import BacktestReport, BacktestResult, WindowOutcome, compare_policies
from millpond.views.backtest_report import render_backtest_report, write_backtest_report

KPIS = {
    "usecase": [None, 0.80, 0.79, 0.70, 0.76, 0.77],
    "static": [None, 0.80, 0.79, 0.70, 0.68, 0.67],
    "always": [None, 0.80, 0.80, 0.74, 0.78, 0.78],
}
EVENTS = {"usecase": {"data": {3}, "model": {3}, "promoted": {3}}, "always": {"promoted": {1, 2, 3, 4, 5}}}


def _windows(policy: str) -> list[WindowOutcome]:
    events = EVENTS.get(policy, {})
    return [
        WindowOutcome(
            window=f"2025-0{i + 1}",
            champion=None if i == 0 else f"<v{i}>",
            kpi=kpi,
            data_drift=i in events.get("data", set()),
            model_drift=i in events.get("model", set()),
            retrained=i == 0 or i in events.get("promoted", set()),
            promoted=i == 0 or i in events.get("promoted", set()),
            rule="first_candidate" if i == 0 else "",
            before_change=i < 3,
        )  # fmt: skip
        for i, kpi in enumerate(KPIS[policy])
    ]


def sample_report(make_use_case) -> BacktestReport:  # type: ignore[no-untyped-def]
    """Three policies over six windows, a change point at the fourth, an alarm and a swap there under usecase."""
    results = [BacktestResult("churn", policy, "roc_auc", "2025-04", _windows(policy)) for policy in KPIS]
    return compare_policies(results, make_use_case())


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def of(self, tag: str, css: str | None = None) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and (css is None or css in (a.get("class") or "").split())]


def test_the_report_charts_every_policy_and_marks_its_events(make_use_case, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    report = sample_report(make_use_case)
    path = write_backtest_report(report, tmp_path / "out" / "backtest.html")
    page = path.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page and "<script" not in page  # nothing is fetched or run
    tags = _Tags()
    tags.feed(page)
    assert len(tags.of("svg", "kpi-chart")) == 1 + len(KPIS)  # all policies together, then one per policy
    # one line per policy together, then in each policy's chart the baselines it is not (grey) and its own line
    lines = [a["data-policy"] for a in tags.of("polyline", "kpi-line")]
    together, usecase, static, always = lines[:3], lines[3:6], lines[6:8], lines[8:]
    assert (together, usecase, static, always) == (
        list(KPIS),
        ["static", "always", "usecase"],
        ["always", "static"],
        ["static", "always"],
    )
    assert len(tags.of("circle", "kpi-point")) == sum(k is not None for kpis in KPIS.values() for k in kpis)
    assert len(tags.of("path", "data-drift")) == 1 and len(tags.of("rect", "model-drift")) == 1
    assert len(tags.of("line", "change-point")) == 1 + len(KPIS)
    assert len(tags.of("rect", "quiet")) == len(report.quiet) * (1 + len(KPIS)) and report.quiet == [
        "2025-02",
        "2025-03",
    ]
    summary = page.split('<table class="summary">', 1)[1].split("</table>", 1)[0]
    assert [row.split("<td>", 2)[1].split("</td>")[0] for row in summary.split("<tr>")[2:]] == list(KPIS)
    assert "&lt;v1&gt;" in page and "<v1>" not in page  # values are escaped


def test_a_lower_is_better_report_says_so(make_use_case) -> None:  # type: ignore[no-untyped-def]
    report = sample_report(make_use_case)
    flipped = BacktestReport(
        report.use_case,
        "rmse",
        None,
        0.5,
        [],
        [BacktestResult("churn", "static", "rmse", None, _windows("static"))],
        [],
    )
    page = render_backtest_report(flipped)
    assert "(lower is better)" in page and "no change point declared" in page and 'class="change-point"' not in page

"""The HTML report of ``millpond backtest``: one self-contained page (inline CSS and SVG, no script, no fetch).

It shows the policies side by side (the summary of :func:`millpond.ops.backtest.compare_policies`), a KPI-over-windows
chart with every policy, one chart per policy with its alarms, retrains and promotions marked against the two
baselines, and each policy's per-window table.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from millpond.ops.backtest import BacktestReport, BacktestResult, PolicySummary
from millpond.store.files import atomic_write_text

COLOURS = {"usecase": "#2e86c1", "evidence": "#8e44ad", "point": "#d68910", "static": "#7f8c8d", "always": "#27ae60"}
WIDTH, HEIGHT = 920, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 18, 58
MARKS = 26  # a strip under the plot area for the alarm marks, so they never hide a KPI point
CSS = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1320px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
tr.best td { background: #eef8ee; }
p.note, li { font-size: 0.9em; color: #444; }
svg { background: #fff; border: 1px solid #ddd; } .wide { overflow-x: auto; }
.legend span { display: inline-block; margin-right: 14px; font-size: 0.9em; }
.swatch { display: inline-block; width: 14px; height: 4px; vertical-align: middle; margin-right: 4px; }
"""


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float | None, places: int = 4) -> str:
    return "" if value is None else f"{value:.{places}f}"


def _colour(policy: str) -> str:
    return COLOURS.get(policy, "#17a589")


@dataclass(frozen=True)
class _Axes:
    """Pixel positions of windows (x) and KPI values (y) in a chart."""

    windows: Sequence[str]
    lo: float
    hi: float

    def x(self, window: str) -> float:
        step = (WIDTH - LEFT - RIGHT) / max(len(self.windows) - 1, 1)
        return LEFT + self.windows.index(window) * step

    def y(self, value: float) -> float:
        span = (self.hi - self.lo) or 1.0
        return TOP + (self.hi - value) / span * (HEIGHT - TOP - BOTTOM - MARKS)


def _axes(report: BacktestReport) -> _Axes:
    windows = [w.window for w in report.results[0].windows] if report.results else []
    values = [w.kpi for r in report.results for w in r.windows if w.kpi is not None]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (hi - lo) * 0.08 or 0.01
    return _Axes(windows, lo - pad, hi + pad)


def _frame(report: BacktestReport, axes: _Axes, title: str) -> list[str]:
    """Background bands (quiet windows), the change point, the y grid and the x labels."""
    parts = [f'<svg class="kpi-chart" width="{WIDTH}" height="{HEIGHT}" role="img">', f"<title>{_esc(title)}</title>"]
    half = (WIDTH - LEFT - RIGHT) / max(len(axes.windows) - 1, 1) / 2
    for window in report.quiet:
        if window in axes.windows:
            x = axes.x(window)
            parts.append(
                f'<rect class="quiet" x="{x - half:.1f}" y="{TOP}" width="{2 * half:.1f}" height="{HEIGHT - TOP - BOTTOM}" '
                f'fill="#eaf5ea"><title>{_esc(window)}: quiet (the baselines show nothing changed)</title></rect>'
            )
    for i in range(5):
        value = axes.lo + (axes.hi - axes.lo) * i / 4
        y = axes.y(value)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e3e3"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{value:.3f}</text>')
    strip = HEIGHT - BOTTOM - MARKS + 4
    parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{strip}" y2="{strip}" stroke="#bbb"/>')
    parts.append(f'<text x="{LEFT - 6}" y="{HEIGHT - BOTTOM - 4}" font-size="10" text-anchor="end">alarms</text>')
    every = max(1, len(axes.windows) // 16 + 1)
    for i, window in enumerate(axes.windows):
        if i % every == 0 or i == len(axes.windows) - 1:
            x, y = axes.x(window), HEIGHT - BOTTOM + 14
            parts.append(
                f'<text x="{x:.1f}" y="{y}" font-size="11" text-anchor="end" transform="rotate(-35 {x:.1f} {y})">'
                f"{_esc(window)}</text>"
            )
    if report.change_point is not None:
        after = [w for w in axes.windows if w >= report.change_point]
        if after:
            x = axes.x(after[0]) - (half if after[0] != axes.windows[0] else 0)
            parts.append(
                f'<line class="change-point" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" '
                f'stroke="#c0392b" stroke-dasharray="5 4"><title>change point {_esc(report.change_point)}</title></line>'
            )
            parts.append(f'<text x="{x + 4:.1f}" y="{TOP + 11}" font-size="11" fill="#c0392b">change point</text>')
    parts.append(
        f'<text x="14" y="{TOP + (HEIGHT - TOP - BOTTOM) / 2:.0f}" font-size="11" transform="rotate(-90 14 {TOP + (HEIGHT - TOP - BOTTOM) / 2:.0f})" text-anchor="middle">{_esc(report.metric)}</text>'
    )
    return parts


def _line(result: BacktestResult, axes: _Axes, *, colour: str, dashed: bool = False, width: float = 2.0) -> str:
    """A polyline per run of consecutive windows with a KPI (gaps where there is none)."""
    runs: list[list[str]] = [[]]
    for w in result.windows:
        if w.kpi is None:
            runs.append([])
        else:
            runs[-1].append(f"{axes.x(w.window):.1f},{axes.y(w.kpi):.1f}")
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    return "".join(
        f'<polyline class="kpi-line" data-policy="{_esc(result.policy)}" points="{" ".join(run)}" fill="none" '
        f'stroke="{colour}" stroke-width="{width}"{dash}/>'
        for run in runs
        if run
    )


def _points(result: BacktestResult, axes: _Axes, colour: str) -> list[str]:
    """A dot per KPI (filled where the window promoted a new champion) and alarm marks above the plot area."""
    parts = []
    for w in result.windows:
        x = axes.x(w.window)
        events = [name for name, on in (("data drift", w.data_drift), ("model drift", w.model_drift),
                                         ("retrained", w.retrained), ("promoted", w.promoted)) if on]  # fmt: skip
        tip = _esc(f"{result.policy} {w.window}: {report_kpi(w.kpi)}" + (f" ({', '.join(events)})" if events else ""))
        if w.kpi is not None:
            fill = colour if w.promoted else "#fff"
            parts.append(
                f'<circle class="kpi-point" cx="{x:.1f}" cy="{axes.y(w.kpi):.1f}" r="4" fill="{fill}" '
                f'stroke="{colour}" stroke-width="1.5"><title>{tip}</title></circle>'
            )
        base = HEIGHT - BOTTOM - 3
        if w.data_drift:
            parts.append(
                f'<path class="data-drift" d="M{x - 9:.1f},{base} L{x - 1:.1f},{base} L{x - 5:.1f},{base - 9}" '
                f'fill="#e67e22"><title>{tip}</title></path>'
            )
        if w.model_drift:
            parts.append(
                f'<rect class="model-drift" x="{x + 1:.1f}" y="{base - 8}" width="8" height="8" fill="#c0392b">'
                f"<title>{tip}</title></rect>"
            )
        if w.retrained:
            parts.append(
                f'<line class="retrain" x1="{x:.1f}" x2="{x:.1f}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM + 5}" stroke="#333" stroke-width="2"/>'
            )
    return parts


def report_kpi(value: float | None) -> str:
    return "no KPI (no champion or no labels)" if value is None else f"{value:.4f}"


def all_policies_chart(report: BacktestReport) -> str:
    """Every policy's realised KPI over the windows, in one chart."""
    axes = _axes(report)
    parts = _frame(report, axes, f"{report.metric} of the serving model, every policy")
    for result in report.results:
        parts.append(_line(result, axes, colour=_colour(result.policy), dashed=result.policy == "static"))
    parts.append("</svg>")
    return "".join(parts)


def policy_chart(report: BacktestReport, result: BacktestResult) -> str:
    """One policy's KPI with its events, the baselines behind it in thin grey."""
    axes = _axes(report)
    parts = _frame(report, axes, f"{report.metric} of the serving model under {result.policy}")
    for other in report.results:
        if other.policy in ("static", "always") and other.policy != result.policy:
            parts.append(_line(other, axes, colour="#b9b9b9", dashed=other.policy == "static", width=1.2))
    colour = _colour(result.policy)
    parts.append(_line(result, axes, colour=colour))
    parts.extend(_points(result, axes, colour))
    parts.append("</svg>")
    return "".join(parts)


SUMMARY_COLUMNS = [
    ("policy", "policy"), ("mean_kpi", "mean KPI"), ("worst_kpi", "worst KPI"), ("regret_best", "regret vs best"),
    ("regret_always", "regret vs always"), ("retrains", "retrains"), ("promotions", "promotions"), ("swaps", "swaps"),
    ("data_drift", "data-drift alarms"), ("model_drift", "model-drift alarms"), ("quiet_alarms", "alarms in quiet windows"),
    ("false_alarms", "alarms before change"), ("false_swaps", "swaps before change"), ("detected_at", "detected at"),
]  # fmt: skip


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"<td>{value:.4f}</td>"
    return f"<td>{'' if value is None else _esc(value)}</td>"


def summary_table(summaries: list[PolicySummary]) -> str:
    head = "".join(f"<th>{_esc(label)}</th>" for _, label in SUMMARY_COLUMNS)
    rows = "".join("<tr>" + "".join(_cell(getattr(s, key)) for key, _ in SUMMARY_COLUMNS) + "</tr>" for s in summaries)
    return f'<div class="wide"><table class="summary"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'


def window_table(result: BacktestResult, quiet: set[str]) -> str:
    head = "".join(
        f"<th>{c}</th>"
        for c in ("window", "KPI", "data drift", "model drift", "retrained", "promoted", "rule", "serving", "quiet")
    )
    yes = {True: "yes", False: ""}
    rows = "".join(
        f"<tr><td>{_esc(w.window)}</td><td>{_num(w.kpi)}</td><td>{yes[w.data_drift]}</td><td>{yes[w.model_drift]}</td>"
        f"<td>{yes[w.retrained]}</td><td>{yes[w.promoted]}</td><td>{_esc(w.rule)}</td><td>{_esc(w.champion or '')}</td>"
        f"<td>{yes[w.window in quiet]}</td></tr>"
        for w in result.windows
    )
    return f'<table class="windows" data-policy="{_esc(result.policy)}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _legend(report: BacktestReport) -> str:
    items = "".join(
        f'<span><i class="swatch" style="background:{_colour(r.policy)}"></i>{_esc(r.policy)}</span>'
        for r in report.results
    )
    return f'<p class="legend">{items}</p>'


def _intro(report: BacktestReport) -> str:
    windows = [w.window for w in report.results[0].windows] if report.results else []
    direction = "higher" if report.higher_is_better else "lower"
    span = f"{windows[0]} .. {windows[-1]} ({len(windows)} windows)" if windows else "no windows"
    point = f"change point {_esc(report.change_point)}" if report.change_point else "no change point declared"
    return (
        f"<p>Metric <b>{_esc(report.metric)}</b> ({direction} is better), windows {_esc(span)}, {point}. "
        f"Generated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by <code>millpond backtest</code> in a scratch "
        "workspace (the real stores were not touched).</p>"
        "<ul><li><b>KPI</b>: the serving model's realised KPI on the window (the first window has no champion yet).</li>"
        "<li><b>regret vs best</b>: the mean shortfall against the best replayed policy at each window; "
        "<b>regret vs always</b>: against retraining and promoting every window (negative: better than always).</li>"
        "<li><b>swaps</b>: promotions that replaced a champion (the first model is no swap).</li>"
        f"<li><b>quiet windows</b> ({len(report.quiet)}, shaded green): the static model's KPI is within "
        f"{report.tolerance:.4g} of its first scored window's and always did not beat it by more; an alarm there "
        "is likely a false alarm.</li>"
        "<li>Chart marks: filled dot = a new champion promoted at that window, triangle = data drift, "
        "square = model drift (both in the alarms strip), tick under the axis = a candidate trained; grey lines = the baselines.</li></ul>"
    )


def render_backtest_report(report: BacktestReport) -> str:
    """The page as a string."""
    quiet = set(report.quiet)
    sections = [
        f'<h2 id="policy-{_esc(r.policy)}">{_esc(r.policy)}</h2>{policy_chart(report, r)}'
        f"<details{' open' if i == 0 else ''}><summary>per window</summary>{window_table(r, quiet)}</details>"
        for i, r in enumerate(report.results)
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Backtest: {_esc(report.use_case)}</title><style>{CSS}</style></head><body>"
        f"<h1>Backtest: {_esc(report.use_case)}</h1>{_intro(report)}"
        f"<h2>Policies vs baselines</h2>{summary_table(report.summaries)}"
        f"<h2>KPI over windows</h2>{_legend(report)}{all_policies_chart(report)}" + "".join(sections) + "</body></html>"
    )


def write_backtest_report(report: BacktestReport, path: Path) -> Path:
    """Write the page to ``path`` (its folder created) and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, render_backtest_report(report))
    return path

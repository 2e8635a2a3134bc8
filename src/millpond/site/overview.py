"""The home page (one card per use case) and each use case's page (KPI, drift heatmap, decisions)."""

from __future__ import annotations

from pathlib import Path

from millpond.site import svg
from millpond.site.data import KpiPoint, UseCaseData
from millpond.site.layout import RUNS, esc, fmt, href, interval, model_file, table, use_case_file


def _result_class(result: str) -> str:
    if result == "ok":
        return "mp-ok"
    return "mp-bad" if result.startswith("failed") or result.startswith("error") else "mp-warn"


def _failing(uc: UseCaseData, out: Path | None) -> str:
    stages = list(uc.status.get("failing_stages") or [])
    if not stages:
        return "<span>none</span>"
    shown = [
        f'<a class="mp-bad" href="{href(out, uc.failing_reports[s])}">{esc(s)}</a>'
        if out is not None and s in uc.failing_reports
        else f'<span class="mp-bad">{esc(s)}</span>'
        for s in stages
    ]
    return ", ".join(shown)


def home_card(uc: UseCaseData, out: Path | None = None) -> str:
    """One use case at a glance: what serves, how the last cycle went, what is due, what waits for a person
    (a failing stage links to its report when ``out``, the site folder, is given)."""
    s = uc.status
    if s.get("error"):
        return (
            f'<div class="mp-card" data-use-case="{esc(uc.name)}"><h2>{esc(uc.name)}</h2>'
            f'<p class="mp-bad">cannot be read: {esc(s["error"])}</p><p class="mp-note">{esc(uc.params)}</p></div>'
        )
    champion = s.get("champion")
    champ = (
        f'<a class="mp-champion" href="{model_file(uc.name)}#v-{esc(champion)}">{esc(champion)}</a> '
        f"<span class=mp-note>age {esc(s.get('champion_age'))}</span>"
        if champion
        else "none yet"
    )
    result = str(s.get("last_result") or "-")
    when = str(s.get("last_time") or "")[:16].replace("T", " ")
    last = f"{esc(s.get('last_window'))} <span class=mp-note>at {esc(when)} UTC</span>" if s.get("last_cycle") else "-"
    values = uc.sparkline_values
    latest = next((v for v in reversed(values) if v is not None), None)
    spark = svg.sparkline(values, label=f"{uc.metric} of the champion per window")
    rows = [
        ("champion", champ),
        ("last cycle", last),
        ("result", f'<span class="mp-result {_result_class(result)}">{esc(result)}</span>'),
        ("next due", esc(s.get("next_due") or "nothing due")),
        ("open approvals", f'<span class="mp-approvals">{esc(s.get("open_approvals", 0))}</span>'),
        ("failing stages", _failing(uc, out)),
        (
            f"{uc.metric} (realised)",
            f'<span class="mp-nowrap">{spark} <span class="mp-kpi-latest">{fmt(latest)}</span></span>',
        ),
    ]
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in rows)
    return (
        f'<div class="mp-card" data-use-case="{esc(uc.name)}"><h2><a href="{use_case_file(uc.name)}">'
        f"{esc(uc.name)}</a></h2><dl>{dl}</dl></div>"
    )


def home_body(use_cases: list[UseCaseData], out: Path | None = None) -> str:
    if not use_cases:
        return '<p class="mp-note">No use cases yet: add a params file under params/ and run a cycle.</p>'
    cards = "".join(home_card(uc, out) for uc in use_cases)
    return (
        f'<div class="mp-cards">{cards}</div><p class="mp-note">Every run, with filters and comparison: '
        f'<a href="{RUNS}">runs</a>. Click a use case for its KPI, drift and decisions over windows.</p>'
    )


def kpi_chart(uc: UseCaseData) -> str:
    """Realised KPI with its interval band, the label-free estimate, the benchmark, decisions marked by window."""
    windows = sorted({p.window for p in uc.kpis} | {w for w, _ in uc.marks})
    by_window: dict[str, KpiPoint] = {p.window: p for p in uc.kpis}
    points = [by_window.get(w, KpiPoint(window=w)) for w in windows]
    series = [
        svg.Series(
            f"realised {uc.metric} (95% bootstrap)",
            [p.realised for p in points],
            "#2c3e50",
            low=[p.low for p in points],
            high=[p.high for p in points],
        ),
        svg.Series("label-free estimate (CBPE)", [p.estimate for p in points], "#2e86c1", dashed=True),
    ]
    benchmark = next((p.benchmark for p in reversed(points) if p.benchmark is not None), None)
    index = {w: i for i, w in enumerate(windows)}
    colors = {"promoted": "#27ae60", "rollback": "#c0392b", "rejected": "#b9770e", "approved": "#8e44ad"}
    marks = [
        svg.Mark(index[w], label, colors.get(label.split(" ")[0], "#8e44ad")) for w, label in uc.marks if w in index
    ]
    return svg.line_chart(windows, series, marks=marks, benchmark=benchmark)


def kpi_table(uc: UseCaseData) -> str:
    rows = [
        (
            p.window,
            interval(p.realised, p.low, p.high),
            interval(p.estimate, p.estimate_low, p.estimate_high),
            fmt(p.benchmark),
            p.champion or "-",
            fmt(p.data_drift),
            fmt(p.model_drift),
        )
        for p in uc.kpis
    ]
    headers = ("window", f"realised {uc.metric}", "estimate (no labels)", "benchmark", "champion", "data drift")
    return table((*headers, "model drift"), rows, table_id="mp-kpi-table")


def drift_heatmap(uc: UseCaseData) -> str:
    """Feature × window, coloured by impact; drifted cells outlined; the window's verdicts above the columns."""
    if not uc.drift:
        return ""
    windows = sorted({c.window for c in uc.drift})
    peak: dict[str, float] = {}
    for c in uc.drift:
        peak[c.feature] = max(peak.get(c.feature, 0.0), c.impact or 0.0)
    features = sorted(peak, key=lambda f: (-peak[f], f))
    verdicts = {p.window: p for p in uc.kpis}
    notes = {}
    for w in windows:
        p = verdicts.get(w)
        notes[w] = " ".join(flag for flag, on in (("data", p and p.data_drift), ("model", p and p.model_drift)) if on)
    cells = {
        (c.feature, c.window): svg.Cell(
            c.impact,
            c.drifted,
            f"{c.feature} at {c.window}: impact {fmt(c.impact)}, drift score {fmt(c.drift_score)}, "
            f"PSI {fmt(c.psi, 4)}, importance {fmt(c.importance)}{', DRIFTED' if c.drifted else ''}",
        )
        for c in uc.drift
    }
    top = max([uc.impact_threshold, *peak.values()])  # full colour at the threshold: no drift stays pale
    return svg.heatmap(features, windows, cells, top=top, notes=notes)


def decisions_table(uc: UseCaseData) -> str:
    rows = []
    for d in reversed(uc.decisions):
        muted = ' class="mp-muted mp-notification"' if d.action == "notification" else ""
        cells = (d.time[:19].replace("T", " "), d.window or "-", d.action, d.version or "-", d.actor, d.reason)
        rows.append(f"<tr{muted}>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("time (UTC)", "window", "action", "version", "who", "why"))
    return (
        '<label class="mp-note"><input type="checkbox" id="mp-show-notifications"> show notifications</label>'
        f'<div class="mp-scroll"><table id="mp-decisions"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


DECISIONS_JS = """
var box = document.getElementById('mp-show-notifications');
function showNotifications() {
  document.querySelectorAll('#mp-decisions tr.mp-notification').forEach(function (r) {
    r.style.display = box.checked ? '' : 'none';
  });
}
if (box) { box.addEventListener('change', showNotifications); showNotifications(); }
"""


def use_case_body(uc: UseCaseData) -> str:
    if uc.status.get("error"):
        return f'<p class="mp-bad">{esc(uc.status["error"])}</p>'
    chart = kpi_chart(uc) or '<p class="mp-note">No KPI recorded yet (the score and drift stages log it).</p>'
    heat = drift_heatmap(uc) or '<p class="mp-note">No drift table recorded yet (drift runs need a champion).</p>'
    registry = f'<a href="{model_file(uc.name)}">the registry</a>' if uc.has_model else "no model yet"
    return (
        f'<p class="mp-note">Params <code>{esc(uc.params)}</code> · models: {registry} · '
        f'<a href="{RUNS}#use_case={esc(uc.name)}">runs of {esc(uc.name)}</a></p>'
        f"<h2>{esc(uc.metric)} of the champion over windows</h2>"
        '<p class="mp-note">Realised with its bootstrap interval (shaded), the label-free estimate (dashed), the '
        "benchmark (orange), and promotions, rollbacks and champion changes marked at their window.</p>"
        f'<div class="mp-scroll" id="mp-kpi-chart">{chart}</div>{kpi_table(uc)}'
        "<h2>Drift: feature × window</h2>"
        '<p class="mp-note">Colour: impact (drift score × the champion\'s importance), darker is more, full at the '
        f"impact threshold {uc.impact_threshold:.2f} or above. An outlined cell with a dot drifted. Red \u201cdata\u201d / \u201cmodel\u201d under a window: its data drift / model drift verdict.</p>"
        f'<div class="mp-scroll" id="mp-drift-heatmap">{heat}</div>'
        "<h2>Decisions (audit log, newest first)</h2>" + decisions_table(uc)
    )

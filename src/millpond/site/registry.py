"""The registry page of a model (versions, aliases now and over time, comparison) and each version's model card."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from millpond.site import svg
from millpond.site.data import ModelData, VersionRow, to_json
from millpond.site.layout import card_file, esc, fmt, href, table
from millpond.workspace import Workspace

ALIAS_LANES = ("champion", "challenger", "previous")
_FIRST_METRICS = ("roc_auc", "pr_auc", "f1", "accuracy", "rmse", "mae", "r2")


def metric_names(versions: list[VersionRow]) -> list[str]:
    """Metric keys across versions, the headline ones first (row counts and rates are on the card and in compare)."""
    every = {k for v in versions for k in v.metrics} - {"n", "positive_rate"}
    return [m for m in _FIRST_METRICS if m in every] + sorted(every - set(_FIRST_METRICS))


def _kib(size: int | None) -> str:
    return "-" if size is None else f"{size / 1024:.0f} KiB"


def versions_table(model: ModelData, ws: Workspace, out: Path, run_links: dict[str, Path]) -> str:
    metrics = metric_names(model.versions)
    headers = ["version", "aliases", "created (UTC)", "family", "trained for", "training windows", "train rows"]
    headers += ["size", "latency ms / 1000 rows", *metrics, "card", "training run"]
    rows = []
    for v in reversed(model.versions):
        badges = "".join(f'<span class="mp-badge {esc(a)}">{esc(a)}</span>' for a in v.aliases)
        report = run_links.get(v.run_id or "")
        run = f'<a href="{href(out, report)}">report</a>' if report else esc(v.run_id or "-")
        cells = [
            f'<a id="v-{esc(v.version)}" href="{card_file(model.name, v.version)}">{esc(v.version)}</a>',
            badges,
            f'<span class="mp-nowrap">{esc(v.created_at[:16].replace("T", " "))}</span>',
            esc(v.family),
            esc(v.trained_for_window),
            esc(", ".join(v.train_windows)),
            esc(fmt(v.train_rows)),
            esc(_kib(v.size_bytes)),
            esc(fmt(v.predict_ms_per_1000_rows, 1)),
            *(f'<span class="num">{esc(fmt(v.metrics.get(m), 4))}</span>' for m in metrics),
            f'<a href="{card_file(model.name, v.version)}">card</a>',
            run,
        ]
        rows.append(cells)
    return table(headers, rows, table_id="mp-versions", raw=True)


def _fraction(moment: str, start: datetime, end: datetime) -> float:
    span = (end - start).total_seconds() or 1.0
    return max(0.0, min(1.0, (_utc(moment) - start).total_seconds() / span))


def _utc(moment: str) -> datetime:
    value = datetime.fromisoformat(moment)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def alias_timeline(model: ModelData, now: datetime | None = None) -> str:
    """One lane per alias: which version held it from each move to the next (or to now)."""
    moves = [m for m in model.moves if m.time]
    if not moves:
        return ""
    now = now or datetime.now(UTC)
    start = _utc(moves[0].time)
    end = max(now, _utc(moves[-1].time))
    spans = []
    for lane in ALIAS_LANES:
        own = [m for m in moves if m.alias == lane]
        for i, move in enumerate(own):
            if not move.target:
                continue
            until = own[i + 1].time if i + 1 < len(own) else end.isoformat()
            tip = f"{lane}: {move.target} from {move.time[:19]} ({move.action} by {move.actor}: {move.reason})"
            spans.append(
                svg.Span(lane, _fraction(move.time, start, end), _fraction(until, start, end), move.target, tip)
            )
    return svg.lanes(spans, ALIAS_LANES, axis=(moves[0].time[:16].replace("T", " "), "now"))


def moves_table(model: ModelData) -> str:
    rows = [
        (m.time[:19].replace("T", " "), m.alias, m.action, m.source or "-", m.target or "-", m.actor, m.reason)
        for m in reversed(model.moves)
    ]
    return table(("time (UTC)", "alias", "action", "from", "to", "who", "why"), rows, table_id="mp-alias-history")


def compare_data(model: ModelData) -> dict[str, Any]:
    """What the compare panel needs of every version (the browser picks two)."""
    return {
        v.version: {
            "metrics": v.metrics,
            "params": {k: v.params[k] for k in sorted(v.params)},
            "windows": v.train_windows,
            "train_rows": v.train_rows,
            "marts": [m.get("version") for m in v.training_marts],
        }
        for v in model.versions
    }


COMPARE_JS = """
var versions = JSON.parse(document.getElementById('mp-compare-data').textContent);
var first = document.getElementById('mp-compare-a'), second = document.getElementById('mp-compare-b');
function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]; }); }
function show(v) { return v === undefined || v === null ? '-' : (typeof v === 'number' ? String(Math.round(v * 1e4) / 1e4) : (typeof v === 'string' ? v : JSON.stringify(v))); }
function rows(title, a, b, onlyDiff) {
  var keys = Object.keys(Object.assign({}, a, b)).sort(), out = '';
  keys.forEach(function (k) {
    var x = a[k], y = b[k], same = JSON.stringify(x) === JSON.stringify(y);
    if (onlyDiff && same) { return; }
    var d = (typeof x === 'number' && typeof y === 'number') ? show(y - x) : (same ? '' : 'differs');
    out += '<tr' + (same ? '' : ' class="mp-diff"') + '><td>' + esc(k) + '</td><td>' + esc(show(x)) + '</td><td>' + esc(show(y)) + '</td><td>' + esc(d) + '</td></tr>';
  });
  return '<h3>' + title + '</h3><table><thead><tr><th></th><th>' + esc(first.value) + '</th><th>' + esc(second.value) + '</th><th>difference (B \u2212 A)</th></tr></thead><tbody>' + (out || '<tr><td colspan=4>none</td></tr>') + '</tbody></table>';
}
function compare() {
  var a = versions[first.value], b = versions[second.value];
  if (!a || !b) { return; }
  var data = {'training windows': a.windows.join(', '), 'train rows': a.train_rows, 'mart versions': a.marts.join(', ')};
  var other = {'training windows': b.windows.join(', '), 'train rows': b.train_rows, 'mart versions': b.marts.join(', ')};
  document.getElementById('mp-compare-result').innerHTML =
    rows('Metrics', a.metrics, b.metrics, false) + rows('Parameters that differ', a.params, b.params, true) + rows('Training data', data, other, false);
}
first.addEventListener('change', compare); second.addEventListener('change', compare); compare();
"""


def compare_panel(model: ModelData) -> str:
    ids = [v.version for v in reversed(model.versions)]
    if len(ids) < 2:
        return '<p class="mp-note">One version so far: nothing to compare.</p>'

    def options(selected: str) -> str:
        return "".join(f'<option value="{esc(i)}"{" selected" if i == selected else ""}>{esc(i)}</option>' for i in ids)

    champion = model.aliases.get("champion", ids[0])
    other = next(i for i in ids if i != champion)
    return (
        f'<div class="mp-compare"><label>version A <select id="mp-compare-a">{options(champion)}</select></label> '
        f'<label>version B <select id="mp-compare-b">{options(other)}</select></label>'
        f'<div id="mp-compare-result"></div></div>'
        f'<script type="application/json" id="mp-compare-data">{to_json(compare_data(model))}</script>'
    )


def model_body(model: ModelData, ws: Workspace, out: Path, run_links: dict[str, Path]) -> str:
    order = sorted(model.aliases, key=lambda a: (ALIAS_LANES.index(a) if a in ALIAS_LANES else 9, a))
    now = ", ".join(f'<span class="mp-badge {esc(a)}">{esc(a)}</span> {esc(model.aliases[a])}' for a in order)
    timeline = alias_timeline(model) or '<p class="mp-note">No alias has moved yet.</p>'
    return (
        f'<p id="mp-aliases-now">Aliases now: {now or "none"}</p>'
        f"<h2>Versions ({len(model.versions)})</h2>{versions_table(model, ws, out, run_links)}"
        f'<h2>Alias history</h2><div class="mp-scroll" id="mp-alias-timeline">{timeline}</div>{moves_table(model)}'
        f"<h2>Compare two versions</h2>{compare_panel(model)}"
    )


def model_script(model: ModelData) -> str:
    return COMPARE_JS if len(model.versions) >= 2 else ""

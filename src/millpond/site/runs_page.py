"""The runs page: every run with filters (use case, stage, status, window range), search and a two-run comparison."""

from __future__ import annotations

from pathlib import Path

from millpond.site.data import RunRow, to_json
from millpond.site.layout import esc, href

COLUMNS = ("window", "stage", "status", "duration_s", "metrics", "champion", "drift", "note")
HEADERS = {"duration_s": "seconds", "drift": "drift verdict"}


def _select(ident: str, label: str, values: list[str], *, blank: str = "any") -> str:
    options = f'<option value="">{esc(blank)}</option>' + "".join(
        f'<option value="{esc(v)}">{esc(v)}</option>' for v in values
    )
    return f'<label>{esc(label)}<select id="{ident}">{options}</select></label>'


def filters(rows: list[RunRow]) -> str:
    def values(key: str) -> list[str]:
        return sorted({str(r.row[key]) for r in rows if r.row.get(key)})

    windows = values("window")
    return (
        '<div class="mp-filters">'
        + _select("f-use-case", "use case", values("use_case"))
        + _select("f-stage", "stage", values("stage"))
        + _select("f-status", "status", values("status"))
        + _select("f-from", "from window", windows, blank="first")
        + _select("f-to", "to window", windows, blank="last")
        + '<label>search<input id="f-search" type="search" placeholder="run id, reason, champion…"></label>'
        + '<span id="mp-shown" class="mp-note"></span></div>'
    )


def runs_table(rows: list[RunRow], out: Path) -> str:
    head = "<th>compare</th><th>run</th><th>use case</th>" + "".join(
        f"<th>{esc(HEADERS.get(c, c))}</th>" for c in COLUMNS
    )
    body = []
    for r in rows:
        row = r.row
        run_id = str(row["run_id"])
        name = f'<a class="mp-runid" href="{href(out, r.report)}">{esc(run_id)}</a>' if r.report else esc(run_id)
        attrs = " ".join(
            f'data-{k.replace("_", "-")}="{esc(row.get(k))}"' for k in ("use_case", "stage", "status", "window")
        )
        search = " ".join(str(v) for v in row.values()).lower()
        cells = [f'<td><input type="checkbox" class="mp-pick" value="{esc(run_id)}"></td>', f"<td>{name}</td>"]
        cells.append(f"<td>{esc(row.get('use_case'))}</td>")
        for column in COLUMNS:
            value = row.get(column)
            shown = f"{value:.1f}" if column == "duration_s" and isinstance(value, float) else esc(value)
            css = f' class="mp-{esc(value)}"' if column == "status" else ""
            cells.append(f"<td{css}>{shown}</td>")
        body.append(f'<tr class="mp-run" {attrs} data-search="{esc(search)}">' + "".join(cells) + "</tr>")
    return (
        f'<div class="mp-scroll"><table id="mp-runs"><thead><tr>{head}</tr></thead><tbody>'
        + "".join(body)
        + "</tbody></table></div>"
    )


RUNS_JS = """
var runs = JSON.parse(document.getElementById('mp-runs-data').textContent);
var ids = ['f-use-case', 'f-stage', 'f-status', 'f-from', 'f-to', 'f-search'];
var keys = {'f-use-case': 'useCase', 'f-stage': 'stage', 'f-status': 'status'};
function val(id) { return document.getElementById(id).value; }
function applyFilters() {
  var shown = 0, all = document.querySelectorAll('#mp-runs tr.mp-run');
  var from = val('f-from'), to = val('f-to'), text = val('f-search').toLowerCase().trim();
  all.forEach(function (row) {
    var ok = true;
    Object.keys(keys).forEach(function (id) { var v = val(id); if (v && row.dataset[keys[id]] !== v) { ok = false; } });
    if (from && row.dataset.window < from) { ok = false; }
    if (to && row.dataset.window > to) { ok = false; }
    if (text && row.dataset.search.indexOf(text) < 0) { ok = false; }
    row.style.display = ok ? '' : 'none';
    if (ok) { shown += 1; }
  });
  document.getElementById('mp-shown').textContent = shown + ' of ' + all.length + ' runs shown';
}
ids.forEach(function (id) {
  ['input', 'change'].forEach(function (kind) { document.getElementById(id).addEventListener(kind, applyFilters); });
});
(location.hash.replace(/^#/, '').split('&')).forEach(function (part) {
  var kv = part.split('='), el = {use_case: 'f-use-case', stage: 'f-stage', status: 'f-status'}[kv[0]];
  if (el && kv[1]) { document.getElementById(el).value = decodeURIComponent(kv[1]); }
});
applyFilters();
function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]; }); }
function show(v) { return v === undefined || v === null ? '-' : (typeof v === 'number' ? String(Math.round(v * 1e4) / 1e4) : (typeof v === 'string' ? v : JSON.stringify(v))); }
function section(title, a, b, ida, idb) {
  var keys = Object.keys(Object.assign({}, a, b)).sort(), out = '';
  keys.forEach(function (k) {
    var same = JSON.stringify(a[k] === undefined ? null : a[k]) === JSON.stringify(b[k] === undefined ? null : b[k]);
    out += '<tr' + (same ? '' : ' class="mp-diff"') + '><td>' + esc(k) + '</td><td>' + esc(show(a[k])) + '</td><td>' + esc(show(b[k])) + '</td></tr>';
  });
  return '<h3>' + title + '</h3><div class="mp-scroll"><table><thead><tr><th></th><th>' + esc(ida) + '</th><th>' + esc(idb) + '</th></tr></thead><tbody>' + (out || '<tr><td colspan=3>none</td></tr>') + '</tbody></table></div>';
}
function compareRuns() {
  var picked = Array.prototype.slice.call(document.querySelectorAll('.mp-pick:checked')).map(function (b) { return b.value; });
  var panel = document.getElementById('mp-run-compare');
  if (picked.length !== 2) {
    panel.innerHTML = '<p class="mp-note">Tick two runs to compare their summaries and parameters (' + picked.length + ' ticked).</p>';
    return;
  }
  var a = runs[picked[0]], b = runs[picked[1]], onlyDiff = function (x, y) {
    var out = {}, other = {};
    Object.keys(Object.assign({}, x, y)).forEach(function (k) { if (JSON.stringify(x[k]) !== JSON.stringify(y[k])) { out[k] = x[k]; other[k] = y[k]; } });
    return [out, other];
  };
  var p = onlyDiff(a.params, b.params);
  panel.innerHTML = section('Summaries', a.summary, b.summary, picked[0], picked[1]) + section('Parameters that differ', p[0], p[1], picked[0], picked[1]);
}
document.querySelectorAll('.mp-pick').forEach(function (b) { b.addEventListener('change', compareRuns); });
compareRuns();
"""


def runs_body(rows: list[RunRow], out: Path) -> str:
    data = {str(r.row["run_id"]): {"summary": r.summary, "params": r.params} for r in rows}
    return (
        f'<p class="mp-note">{len(rows)} runs, newest first; each links to its report.</p>'
        + filters(rows)
        + runs_table(rows, out)
        + '<h2>Compare two runs</h2><div id="mp-run-compare" class="mp-compare"></div>'
        + f'<script type="application/json" id="mp-runs-data">{to_json(data)}</script>'
    )

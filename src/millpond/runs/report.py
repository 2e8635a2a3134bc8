"""HTML reports people read: one per run record (nbconvert), and a sortable index of all runs.

``render_report`` turns a run folder's executed notebook into ``report.html`` beside it, with
the code folded behind a button and the tables, plots and any error in view (millpond's own event log lines
are left out of the rendering: they are in logs/events.jsonl and the audit log); the runner calls
it before the run is recorded, so the report is part of the immutable record. ``write_runs_index``
writes ``runs/index.html``: one sortable table of every run, readable from ``file://`` (inline
CSS and JavaScript only, nothing fetched from the network).
"""

from __future__ import annotations

import functools
import html
import json
import logging
import os
import re
import warnings
from pathlib import Path
from typing import Any

from millpond.errors import MillpondError, ReportError
from millpond.runs.store import RunRecord, RunStore
from millpond.store.files import atomic_write_text
from millpond.workspace import Workspace

log = logging.getLogger(__name__)

REPORT = "report.html"
INDEX_HTML = "index.html"

_STYLE = """
.mp-banner{font-family:system-ui,sans-serif;padding:12px 20px;margin:0 0 8px;border-bottom:1px solid #ddd;background:#f7f7f9}
.mp-banner h1{font-size:20px;margin:0 0 4px}.mp-banner .mp-meta{color:#555;font-size:13px}
.mp-status{display:inline-block;padding:1px 8px;border-radius:9px;color:#fff;font-size:12px;font-weight:600}
.mp-succeeded{background:#2e7d32}.mp-skipped{background:#757575}.mp-failed{background:#c62828}
.mp-error{white-space:pre-wrap;background:#fdecea;border-left:4px solid #c62828;padding:6px 10px;margin-top:8px;font-family:monospace;font-size:13px}
#mp-toggle-code{margin-top:6px;font-size:12px;cursor:pointer}
.jp-OutputArea-output,.jp-RenderedHTMLCommon{overflow-x:auto;max-width:100%}
table.mp-summary{border-collapse:collapse;font-size:13px}table.mp-summary th{text-align:left;padding:3px 10px 3px 0;font-weight:600;vertical-align:top}
table.mp-summary td{padding:3px 0;white-space:normal;word-break:break-word;max-width:900px}
body.mp-code-hidden .jp-CodeCell .jp-Cell-inputWrapper,body.mp-code-hidden .jp-CodeCell .jp-Cell-inputCollapser{display:none}
body.mp-code-hidden .jp-CodeCell .jp-OutputPrompt{visibility:hidden}
"""
_TOGGLE_JS = """
document.getElementById('mp-toggle-code').addEventListener('click', function () {
  var hidden = document.body.classList.toggle('mp-code-hidden');
  this.textContent = hidden ? 'Show code' : 'Hide code';
});
"""
# Extends nbconvert's lab template: no require.js, MathJax or mermaid from a CDN (reports open offline),
# a banner with the run's status and error, and code cells folded by default.
_TEMPLATE = (
    """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block extra_css %}<style type="text/css">"""
    + _STYLE
    + """</style>{% endblock extra_css %}
{%- block body_header -%}
<body class="jp-Notebook mp-code-hidden" data-jp-theme-light="true" data-jp-theme-name="JupyterLab Light">
{{ resources.millpond_banner }}
<main>
{%- endblock body_header -%}
{% block footer_js %}<script>"""
    + _TOGGLE_JS
    + """</script>{% endblock footer_js %}
"""
)


# --- what a report shows of a notebook ----------------------------------------------------------------------------
_EVENT_LINE = re.compile(r"^event [\w.\-]+: \{.*\}\s*$")  # millpond.governance.events' log line


def without_event_lines(nb: Any) -> Any:
    """The notebook with millpond's own event log lines taken out of its stderr outputs (they are in
    logs/events.jsonl and the audit log); other stderr (a library's warning) stays. The record itself is unchanged:
    this is applied to the copy the report renders."""
    for cell in nb.get("cells", []):
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                text = output.get("text", "")
                text = "".join(text) if isinstance(text, list) else str(text)
                lines = [line for line in text.splitlines(keepends=True) if not _EVENT_LINE.match(line)]
                if not "".join(lines).strip():
                    continue
                output["text"] = "".join(lines)
            kept.append(output)
        if "outputs" in cell:
            cell["outputs"] = kept
    return nb


def format_value(value: Any) -> str:
    """A summary value as a person reads it: ``0.778 [0.770, 0.785]`` for an interval, ``k v, k v`` for a mapping,
    floats to four decimals, lists joined, None as ``-``."""
    if isinstance(value, dict):
        if {"value", "low", "high"} <= set(value) and all(isinstance(value[k], int | float) for k in ("low", "high")):
            return f"{value['value']:.3f} [{value['low']:.3f}, {value['high']:.3f}]"
        return ", ".join(f"{k} {format_value(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list | tuple):
        return ", ".join(format_value(v) for v in value) or "none"
    return _fmt(value) or "-"


class SummaryTable:
    """A stage summary as a two-column table, every value formatted whole (nothing cut off with an ellipsis)."""

    def __init__(self, summary: dict[str, Any]) -> None:
        self.rows = [(str(k), format_value(v)) for k, v in summary.items()]

    def _repr_html_(self) -> str:
        left = ' style="text-align:left"'  # inline: JupyterLab's and nbconvert's CSS right-align table cells
        body = "".join(f"<tr><th{left}>{html.escape(k)}</th><td{left}>{html.escape(v)}</td></tr>" for k, v in self.rows)
        return f'<table class="mp-summary">{body}</table>'

    def __repr__(self) -> str:
        width = max((len(k) for k, _ in self.rows), default=0)
        return "\n".join(f"{k.ljust(width)}  {v}" for k, v in self.rows)


def summary_table(summary: dict[str, Any]) -> SummaryTable:
    """What a stage notebook displays of its summary (see :class:`SummaryTable`)."""
    return SummaryTable(summary)


def _banner(title: str, status: str, meta: str, error: str | None, *, toggle: bool = True) -> str:
    parts = [
        '<header class="mp-banner">',
        f'<h1 id="mp-title">{html.escape(title)} <span class="mp-status mp-{html.escape(status)}" id="mp-status">'
        f"{html.escape(status)}</span></h1>",
        f'<div class="mp-meta">{html.escape(meta)}</div>',
    ]
    if error:
        parts.append(f'<div class="mp-error" id="mp-error">{html.escape(error)}</div>')
    if toggle:
        parts.append('<button id="mp-toggle-code" type="button">Show code</button>')
    parts.append("</header>")
    return "\n".join(parts)


@functools.cache
def _exporter() -> Any:
    """The report's nbconvert HTMLExporter, made once per process (its templates are compiled on first use, about
    0.1 s a report otherwise)."""
    import jinja2
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({"millpond_report.html.j2": _TEMPLATE})],
        template_file="millpond_report.html.j2",
    )


def render_report(
    run_dir: str | os.PathLike[str],
    *,
    title: str,
    status: str,
    meta: str = "",
    error: str | None = None,
    out: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the HTML rendering of ``run_dir/notebook.ipynb`` (or an error page when there is none); return its path."""
    run_dir = Path(run_dir)
    target = Path(out) if out is not None else run_dir / REPORT
    notebook = run_dir / "notebook.ipynb"
    if not notebook.is_file():
        page = (
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head>\n<body>\n{_banner(title, status, meta, error, toggle=False)}\n"
            "<main><p>The stage stopped before its notebook ran, so there is no executed notebook to show.</p></main>"
            "\n</body></html>\n"
        )
        atomic_write_text(target, page)
        return target
    import nbformat

    try:
        nb = without_event_lines(nbformat.read(notebook, as_version=4))
        exporter = _exporter()
        with warnings.catch_warnings():  # scrapbook's glue outputs have no HTML form, by design
            warnings.filterwarnings("ignore", message=".*is not able to be represented", category=UserWarning)
            body, _ = exporter.from_notebook_node(
                nb, resources={"metadata": {"name": title}, "millpond_banner": _banner(title, status, meta, error)}
            )
    except Exception as exc:
        raise ReportError(
            f"Rendering {notebook} as HTML failed ({type(exc).__name__}: {exc}): "
            "check that the notebook is valid JSON (`jupyter nbconvert --to html` shows the detail)."
        ) from exc
    atomic_write_text(target, body)
    return target


def write_summary_report(run_dir: str | os.PathLike[str], **page: Any) -> Path | None:
    """:func:`render_summary_report` for a run about to be recorded: a page that cannot be written only warns (the
    record matters more than its page); None then."""
    try:
        return render_summary_report(run_dir, **page)
    except (ReportError, OSError) as exc:
        log.warning("report.html of %s not written: %s", run_dir, exc)
        return None


def render_summary_report(
    run_dir: str | os.PathLike[str],
    *,
    title: str,
    status: str,
    meta: str = "",
    error: str | None = None,
    facts: dict[str, Any] | None = None,
    sample: Any = None,
    links: dict[str, str] | None = None,
) -> Path:
    """Write ``run_dir/report.html`` for a run without a notebook (an ad-hoc CLI run): banner, facts, a sample table;
    ``links``: text -> a path relative to the run folder (a file of the record)."""
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in (facts or {}).items()
    )
    parts = [f'<table class="mp-facts" id="mp-facts">{rows}</table>'] if rows else []
    parts += [
        f'<p class="mp-link"><a href="{html.escape(href, quote=True)}">{html.escape(text)}</a></p>'
        for text, href in (links or {}).items()
    ]
    if sample is not None and len(sample):
        parts.append("<h2>first rows of the output</h2>" + sample.to_html(index=False, border=0, classes="mp-sample"))
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}body{{font-family:system-ui,sans-serif}}table{{border-collapse:collapse;font-size:13px;margin:8px 20px}}"
        "th,td{border:1px solid #ddd;padding:4px 8px;text-align:left}.mp-link{margin:12px 20px}</style></head>\n<body>\n"
        f"{_banner(title, status, meta, error, toggle=False)}\n<main>{''.join(parts)}</main>\n</body></html>\n"
    )
    target = Path(run_dir) / REPORT
    atomic_write_text(target, page)
    return target


def report_for(ws: Workspace, record: RunRecord) -> Path:
    """The HTML report of a run: the one in its record, or a rendering under logs/reports/ for older runs."""
    inside = Path(record.path) / REPORT
    if inside.is_file():
        return inside
    out = ws.logs / "reports" / f"{record.run_id.replace('/', '--')}.html"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        render_report(
            record.path,
            title=f"{record.stage} {record.window}",
            status=record.status,
            meta=f"run {record.run_id} · recorded before reports existed",
            error=record.error,
            out=out,
        )
    return out


# --- the runs index -------------------------------------------------------------
def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


_HEADLINE_METRICS = ("roc_auc", "f1", "accuracy", "rmse", "mae", "r2")


def run_row(record: RunRecord) -> dict[str, Any]:
    """What the index shows of one run: metrics, champion and drift verdict from its glued summary."""
    summary = (record.scraps or {}).get("summary") or {}
    metrics: dict[str, Any] = {}
    if record.stage == "ingest":
        metrics = {"rows": summary.get("rows")}
    elif record.stage == "score":
        metrics = {**(summary.get("kpi") or {}), "rows": summary.get("rows")}
    elif record.stage == "drift":
        metrics = {
            "impact": summary.get("impact_total"),
            "drifted": summary.get("n_drifted"),
            "kpi": summary.get("kpi"),
        }
    elif record.stage == "train":
        metrics = {k: v for k, v in (summary.get("metrics") or {}).items() if k in _HEADLINE_METRICS}
    elif record.stage == "promote":
        metrics = {k: summary.get(k) for k in ("candidate_score", "champion_score") if k in summary}
    champion = summary.get("champion") or summary.get("champion_before")
    if record.stage == "promote" and summary.get("promoted"):
        champion = summary.get("candidate")
    verdict = ""
    if record.stage == "drift" and "data_drift" in summary:
        verdict = (
            ("data drift" if summary["data_drift"] else "no data drift")
            + ", "
            + ("model drift" if summary.get("model_drift") else "no model drift")
        )
    note = record.error or record.skip_reason or ""
    if not note and record.status == "succeeded":
        try:
            note = record.reason
        except MillpondError:
            note = "manifest unreadable: run `millpond runs verify`"
    return {
        "run_id": record.run_id,
        "use_case": record.use_case,
        "window": record.window,
        "stage": record.stage,
        "status": record.status,
        "started": record.started_at[:19].replace("T", " "),
        "duration_s": record.duration_s,
        "metrics": ", ".join(f"{k} {_fmt(v)}" for k, v in metrics.items() if v is not None),
        "champion": champion or "",
        "drift": verdict,
        "note": note or "",
    }


_INDEX_COLUMNS = (
    "window",
    "stage",
    "status",
    "duration_s",
    "metrics",
    "champion",
    "drift",
    "use_case",
    "started",
    "note",
)
_INDEX_HEADERS = {"duration_s": "seconds", "use_case": "use case", "drift": "drift verdict"}
_INDEX_JS = """
document.querySelectorAll('#runs th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var body = document.querySelector('#runs tbody');
    var rows = Array.prototype.slice.call(body.rows);
    var asc = th.getAttribute('aria-sort') !== 'ascending';
    document.querySelectorAll('#runs th').forEach(function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
    var numeric = th.dataset.type === 'number';
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.value, y = b.cells[col].dataset.value;
      var c = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def render_runs_index(rows: list[dict[str, Any]], links: dict[str, str], title: str = "millpond runs") -> str:
    """The index page: a table of runs (one row per dict of :func:`run_row`), sortable by clicking a header."""
    head = "".join(
        f'<th data-type="{"number" if c == "duration_s" else "text"}" title="click to sort">'
        f"{html.escape(_INDEX_HEADERS.get(c, c))}</th>"
        for c in ("run", *_INDEX_COLUMNS)
    )
    body = []
    for row in rows:
        link = links.get(row["run_id"])
        name = html.escape(row["run_id"])
        cells = [
            f'<td data-value="{name}">' + (f'<a href="{html.escape(link)}">{name}</a>' if link else name) + "</td>"
        ]
        for column in _INDEX_COLUMNS:
            value = row[column]
            shown = f"{value:.1f}" if column == "duration_s" else str(value)
            css = f' class="mp-{html.escape(value)}"' if column == "status" else ""
            cells.append(f'<td data-value="{html.escape(str(value))}"{css}>{html.escape(shown)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>\n<style>\n"
        "body{font-family:system-ui,sans-serif;margin:20px}table{border-collapse:collapse;font-size:13px}"
        "th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}"
        "th{background:#f0f0f3;cursor:pointer;user-select:none}th[aria-sort=ascending]::after{content:' ▲'}"
        "th[aria-sort=descending]::after{content:' ▼'}tbody tr:nth-child(even){background:#fafafa}"
        "td.mp-failed{color:#c62828;font-weight:600}td.mp-skipped{color:#757575}td.mp-succeeded{color:#2e7d32}"
        "td:last-child{max-width:420px}\n</style></head>\n<body>\n"
        f'<h1 id="mp-title">{html.escape(title)}</h1>\n<p id="mp-count">{len(rows)} runs, newest first. '
        "Click a column header to sort; click a run to open its report.</p>\n"
        f'<table id="runs"><thead><tr>{head}</tr></thead>\n<tbody>\n' + "\n".join(body) + "\n</tbody></table>\n"
        f"<script>{_INDEX_JS}</script>\n</body></html>\n"
    )


def write_runs_index(ws: Workspace) -> Path:
    """Write ``runs/index.html`` over every run in the index and return its path."""
    store = RunStore(ws.runs)
    records = store.list()
    out = ws.runs / INDEX_HTML
    links = {}
    for record in records:
        report = Path(record.path) / REPORT
        if report.is_file():
            links[record.run_id] = report.relative_to(ws.runs).as_posix()
        elif (Path(record.path) / "notebook.ipynb").is_file():
            links[record.run_id] = f"{record.run_id}/notebook.ipynb"
    atomic_write_text(out, render_runs_index([run_row(r) for r in records], links))
    return out


def summary_json(ws: Workspace) -> str:
    """Every run's index row as JSON (what ``millpond report index --json`` prints)."""
    return json.dumps([run_row(r) for r in RunStore(ws.runs).list()], indent=2, default=str)

"""The frame every control-room page shares: head with inline CSS, navigation, a footer naming the build's records.

Pages sit side by side in one folder, so every link between them is a bare file name and works from ``file://``.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from millpond.site.data import Sources

HOME = "index.html"
RUNS = "runs.html"

CSS = """
*{box-sizing:border-box}body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#222;background:#fafafb}
header.mp-top{background:#1f2d3d;color:#fff;padding:10px 24px;display:flex;gap:18px;align-items:center;flex-wrap:wrap}
header.mp-top a{color:#cfe3f7;text-decoration:none;font-size:14px}header.mp-top a:hover{text-decoration:underline}
header.mp-top .mp-brand{font-weight:700;color:#fff;font-size:16px;margin-right:10px}
main{padding:16px 24px;max-width:1400px}h1{font-size:22px;margin:6px 0 12px}h2{font-size:17px;margin:22px 0 8px}
footer{color:#666;font-size:12px;padding:12px 24px;border-top:1px solid #ddd;margin-top:30px}
table{border-collapse:collapse;font-size:13px;background:#fff}th,td{border:1px solid #e1e1e6;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.mp-scroll{overflow-x:auto;max-width:100%}
.mp-cards{display:flex;flex-wrap:wrap;gap:16px}
.mp-card{background:#fff;border:1px solid #dde;border-radius:8px;padding:12px 16px;width:420px;box-shadow:0 1px 2px rgba(0,0,0,.05)}
.mp-card h2{margin:0 0 8px}.mp-card dl{display:grid;grid-template-columns:130px 1fr;gap:3px 8px;margin:0;font-size:13px}
.mp-card dt{color:#666}.mp-card dd{margin:0}.mp-spark{vertical-align:middle}
.mp-ok{color:#2e7d32;font-weight:600}.mp-bad{color:#c62828;font-weight:600}.mp-warn{color:#b9770e;font-weight:600}
.mp-badge{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;background:#e8e8ee;margin-right:3px}
.mp-badge.champion{background:#d4efdf}.mp-badge.challenger{background:#d6eaf8}.mp-badge.previous{background:#eee}
.mp-tick{font-size:11px;fill:#555}.mp-legend{font-size:12px;fill:#333}.mp-mark-label{font-size:10px}
.mp-span-label{font-size:11px;fill:#fff}.mp-note{color:#666;font-size:13px}
.mp-filters{display:flex;gap:10px;flex-wrap:wrap;align-items:end;margin:8px 0;font-size:13px}
.mp-filters label{display:flex;flex-direction:column;gap:2px}
tr.mp-muted td{color:#888}.mp-diff td{background:#fff8e1}
.mp-compare{background:#fff;border:1px solid #dde;padding:10px;margin:10px 0}
code{font-size:12px;background:#f3f3f6;padding:0 3px}.mp-nowrap{white-space:nowrap}
.mp-runid{font-family:ui-monospace,monospace;font-size:12px;white-space:nowrap}
"""


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def href(out: Path, target: Path) -> str:
    """A relative link from a page in ``out`` to ``target`` (percent-encoded, so spaces in paths work)."""
    return quote(Path(os.path.relpath(Path(target).resolve(), Path(out).resolve())).as_posix())


def slug(name: str) -> str:
    """A name safe as one file name (a use case that failed to load is named by its params path)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(name)).lstrip(".") or "_"


def use_case_file(name: str) -> str:
    return f"use-case-{slug(name)}.html"


def model_file(name: str) -> str:
    return f"model-{slug(name)}.html"


def card_file(name: str, version: str) -> str:
    return f"card-{slug(name)}-{slug(version)}.html"


def card_markdown_file(name: str, version: str) -> str:
    return f"cards/{slug(name)}-{slug(version)}.md"


def fmt(value: Any, digits: int = 3) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def interval(value: float | None, low: float | None, high: float | None) -> str:
    """``0.778 [0.770, 0.785]`` (just the value when there is no interval)."""
    if value is None:
        return "-"
    return f"{value:.3f}" + (f" [{low:.3f}, {high:.3f}]" if low is not None and high is not None else "")


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, table_id: str = "", raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw`` (then they are HTML already)."""
    ident = f' id="{esc(table_id)}"' if table_id else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c if raw else esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="mp-scroll"><table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def page(title: str, body: str, *, sources: Sources, nav: Sequence[tuple[str, str]], script: str = "") -> str:
    """A whole page: navigation (label, file), the body, the footer naming when and from what it was built."""
    links = "".join(f'<a href="{esc(target)}">{esc(label)}</a>' for label, target in nav)
    js = f"<script>\n'use strict';\n{script}\n</script>" if script else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · millpond</title><style>{CSS}</style></head>\n<body>\n"
        f'<header class="mp-top"><a class="mp-brand" href="{HOME}">millpond control room</a>{links}</header>\n'
        f'<main>\n<h1 id="mp-title">{esc(title)}</h1>\n{body}\n</main>\n'
        f'<footer id="mp-built" data-built-at="{esc(sources.built_at)}">{esc(sources.line())} '
        "Static files: nothing here is fetched from a server; rebuild with <code>millpond site</code>.</footer>\n"
        f"{js}\n</body></html>\n"
    )

"""Inline SVG charts for the control room: drawn in Python, so the pages need no charting library and no network.

Every chart is a plain ``<svg>`` string with ``<title>`` tooltips on its marks; x positions are evenly spaced
windows (labels sort in time order), y is scaled to the values shown. Empty input gives an empty string, and the
page shows a sentence instead.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

PALETTE = ("#2e86c1", "#c0392b", "#27ae60", "#8e44ad", "#d68910", "#17a589", "#7f8c8d", "#cb4335", "#2874a6")


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@dataclass(frozen=True)
class Scale:
    """A linear map from values to pixels (``lo`` maps to ``start``, ``hi`` to ``end``)."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        span = self.hi - self.lo
        if span == 0:
            return (self.start + self.end) / 2
        return self.start + (value - self.lo) / span * (self.end - self.start)


def value_range(values: Sequence[float | None], pad: float = 0.1) -> tuple[float, float]:
    """The (low, high) of the values given, widened by ``pad`` of the span (a flat series gets ±0.01)."""
    known = [float(v) for v in values if v is not None]
    if not known:
        return 0.0, 1.0
    lo, hi = min(known), max(known)
    span = hi - lo or 0.02
    return lo - span * pad, hi + span * pad


def sparkline(values: Sequence[float | None], *, width: int = 160, height: int = 36, label: str = "") -> str:
    """A small line of a KPI over windows (gaps where a window has no value); the last point is dotted."""
    if not any(v is not None for v in values):
        return ""
    lo, hi = value_range(values, pad=0.05)
    x = Scale(0, max(len(values) - 1, 1), 3, width - 3)
    y = Scale(lo, hi, height - 3, 3)
    segments: list[list[str]] = []
    current: list[str] = []
    for i, v in enumerate(values):
        if v is None:
            if current:
                segments.append(current)
            current = []
        else:
            current.append(f"{x(i):.1f},{y(v):.1f}")
    if current:
        segments.append(current)
    lines = "".join(
        f'<polyline points="{" ".join(s)}" fill="none" stroke="#2e86c1" stroke-width="1.6"/>' for s in segments
    )
    last = max(i for i, v in enumerate(values) if v is not None)
    dot = f'<circle cx="{x(last):.1f}" cy="{y(values[last] or 0):.1f}" r="2.5" fill="#2e86c1"/>'
    return (
        f'<svg class="mp-spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
        f"<title>{_esc(label)}</title>{lines}{dot}</svg>"
    )


@dataclass(frozen=True)
class Series:
    """One line of a chart: a value per x position (None: no point there), an optional band around it."""

    name: str
    values: Sequence[float | None]
    color: str = "#2e86c1"
    dashed: bool = False
    low: Sequence[float | None] | None = None
    high: Sequence[float | None] | None = None


@dataclass(frozen=True)
class Mark:
    """A vertical marker at one x position (a promotion, a rollback, a champion change)."""

    index: int
    label: str
    color: str = "#8e44ad"


def _band(series: Series, x: Scale, y: Scale) -> str:
    if series.low is None or series.high is None:
        return ""
    pts = [(i, lo, hi) for i, (lo, hi) in enumerate(zip(series.low, series.high)) if lo is not None and hi is not None]
    if not pts:
        return ""
    upper = " ".join(f"{x(i):.1f},{y(hi):.1f}" for i, _, hi in pts)
    lower = " ".join(f"{x(i):.1f},{y(lo):.1f}" for i, lo, _ in reversed(pts))
    return (
        f'<polygon class="mp-band" points="{upper} {lower}" fill="{series.color}" fill-opacity="0.15" stroke="none"/>'
    )


def _line(series: Series, x: Scale, y: Scale, labels: Sequence[str]) -> str:
    pts = [(i, v) for i, v in enumerate(series.values) if v is not None]
    if not pts:
        return ""
    dash = ' stroke-dasharray="5,4"' if series.dashed else ""
    path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in pts)
    out = [f'<polyline class="mp-line" points="{path}" fill="none" stroke="{series.color}" stroke-width="2"{dash}/>']
    for i, v in pts:
        band = ""
        low, high = (
            (series.low[i], series.high[i]) if series.low is not None and series.high is not None else (None, None)
        )
        if low is not None and high is not None:
            band = f" [{_fmt(low)}, {_fmt(high)}]"
            out.append(  # a whisker per point: the interval reads even where the band has one point
                f'<line class="mp-whisker" x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{y(low):.1f}" y2="{y(high):.1f}" '
                f'stroke="{series.color}" stroke-width="1" stroke-opacity="0.6"/>'
            )
        out.append(
            f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{series.color}">'
            f"<title>{_esc(series.name)} {_esc(labels[i])}: {_fmt(v)}{_esc(band)}</title></circle>"
        )
    return "".join(out)


def _axes(labels: Sequence[str], x: Scale, y: Scale, size: tuple[int, int, int]) -> str:
    width, height, left = size
    parts = []
    for k in range(5):
        value = y.lo + (y.hi - y.lo) * k / 4
        py = y(value)
        parts.append(
            f'<line x1="{left}" x2="{width - 10}" y1="{py:.1f}" y2="{py:.1f}" stroke="#eee"/>'
            f'<text x="{left - 6}" y="{py + 4:.1f}" text-anchor="end" class="mp-tick">{value:.3f}</text>'
        )
    step = max(1, len(labels) // 12)
    for i, label in enumerate(labels):
        if i % step == 0 or i == len(labels) - 1:
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - 8}" text-anchor="middle" class="mp-tick">{_esc(label)}</text>'
            )
    return "".join(parts)


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    marks: Sequence[Mark] = (),
    benchmark: float | None = None,
    size: tuple[int, int] = (1000, 320),
) -> str:
    """Lines over windows with optional bands, a horizontal benchmark and vertical marks, plus a legend."""
    if not labels or not any(v is not None for s in series for v in s.values):
        return ""
    width, height = size
    left, top, bottom = 60, 30, 30
    every = [v for s in series for seq in (s.values, s.low or (), s.high or ()) for v in seq]
    lo, hi = value_range([*every, benchmark])
    x = Scale(0, max(len(labels) - 1, 1), left + 20, width - 40)
    y = Scale(lo, hi, height - bottom, top)
    parts = [_axes(labels, x, y, (width, height, left))]
    for k, mark in enumerate(marks):
        px = x(mark.index)
        ly = top + 10 + 12 * (k % 3)  # marks at neighbouring windows: labels on three staggered rows
        near_end = px > width - 140  # a label near the right edge reads leftwards, so it is not cut off
        tx, anchor = (px - 3, "end") if near_end else (px + 3, "start")
        parts.append(
            f'<g class="mp-mark"><line x1="{px:.1f}" x2="{px:.1f}" y1="{top}" y2="{height - bottom}" '
            f'stroke="{mark.color}" stroke-dasharray="2,3"/><text x="{tx:.1f}" y="{ly}" text-anchor="{anchor}" '
            f'class="mp-mark-label" fill="{mark.color}">{_esc(mark.label)}</text><title>{_esc(mark.label)}</title></g>'
        )
    if benchmark is not None:
        py = y(benchmark)
        parts.append(
            f'<line class="mp-benchmark" x1="{left}" x2="{width - 10}" y1="{py:.1f}" y2="{py:.1f}" stroke="#d68910" '
            f'stroke-width="1.5" stroke-dasharray="8,4"><title>benchmark {benchmark:.3f}</title></line>'
        )
    parts.extend(_band(s, x, y) for s in series)
    parts.extend(_line(s, x, y, labels) for s in series)
    legend = [(s.name, s.color, s.dashed) for s in series] + ([("benchmark", "#d68910", True)] if benchmark else [])
    lx = left + 10
    for name, color, dashed in legend:
        dash = ' stroke-dasharray="5,4"' if dashed else ""
        parts.append(
            f'<line x1="{lx}" x2="{lx + 22}" y1="12" y2="12" stroke="{color}" stroke-width="2"{dash}/>'
            f'<text x="{lx + 27}" y="16" class="mp-legend">{_esc(name)}</text>'
        )
        lx += 50 + 7 * len(name)
    return (
        f'<svg class="mp-chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
        + "".join(parts)
        + "</svg>"
    )


@dataclass(frozen=True)
class Cell:
    """One heatmap cell: a value (None: not measured), whether it is flagged, and its tooltip."""

    value: float | None
    flagged: bool = False
    tip: str = ""


def heat_color(value: float | None, top: float) -> str:
    """White (0) to dark red (``top`` and above); light grey for a missing value."""
    if value is None:
        return "#f2f2f2"
    share = 0.0 if top <= 0 else max(0.0, min(1.0, value / top))
    r, g, b = 255 - int(share * (255 - 165)), 255 - int(share * (255 - 30)), 255 - int(share * (255 - 40))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(
    rows: Sequence[str],
    columns: Sequence[str],
    cells: dict[tuple[str, str], Cell],
    *,
    top: float,
    notes: dict[str, str] | None = None,
) -> str:
    """Rows × columns of coloured cells; a flagged cell gets a dark border and a dot; ``notes`` go under the
    column labels (a window's verdicts)."""
    if not rows or not columns:
        return ""
    cw, ch, left, head = 62, 22, 150, 44
    width, height = left + cw * len(columns) + 10, head + ch * len(rows) + 10
    parts = []
    for j, column in enumerate(columns):
        cx = left + j * cw + cw / 2
        parts.append(f'<text x="{cx:.0f}" y="{head - 24}" text-anchor="middle" class="mp-tick">{_esc(column)}</text>')
        note = (notes or {}).get(column, "")
        if note:
            parts.append(
                f'<text x="{cx:.0f}" y="{head - 8}" text-anchor="middle" class="mp-tick mp-verdict" fill="#c0392b" '
                f'style="fill:#c0392b;font-weight:600">{_esc(note)}</text>'
            )
    for i, row in enumerate(rows):
        y = head + i * ch
        parts.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end" class="mp-tick">{_esc(row)}</text>')
        for j, column in enumerate(columns):
            cell = cells.get((row, column), Cell(None))
            x = left + j * cw
            stroke = ' stroke="#222" stroke-width="2"' if cell.flagged else ' stroke="#fff"'
            parts.append(
                f'<rect class="mp-cell" x="{x}" y="{y}" width="{cw - 2}" height="{ch - 2}" '
                f'fill="{heat_color(cell.value, top)}"{stroke}><title>{_esc(cell.tip)}</title></rect>'
            )
            if cell.flagged:
                parts.append(f'<circle cx="{x + cw / 2 - 1:.0f}" cy="{y + ch / 2 - 1:.0f}" r="3" fill="#222"/>')
    return (
        f'<svg class="mp-heatmap" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
        + "".join(parts)
        + "</svg>"
    )


@dataclass(frozen=True)
class Span:
    """One bar of a timeline lane: ``label`` held from ``start`` to ``end`` (fractions of the time axis, 0..1)."""

    lane: str
    start: float
    end: float
    label: str
    tip: str = ""


def lanes(spans: Sequence[Span], lane_order: Sequence[str], *, axis: tuple[str, str], width: int = 880) -> str:
    """Horizontal lanes (one per alias) of labelled bars; the same label keeps the same colour in every lane."""
    if not spans:
        return ""
    colors: dict[str, str] = {}
    for span in spans:
        colors.setdefault(span.label, PALETTE[len(colors) % len(PALETTE)])
    left, lane_h, head = 90, 28, 10
    height = head + lane_h * len(lane_order) + 24
    x = Scale(0.0, 1.0, left, width - 10)
    parts = []
    for i, lane in enumerate(lane_order):
        y = head + i * lane_h
        parts.append(f'<text x="{left - 6}" y="{y + 17}" text-anchor="end" class="mp-tick">{_esc(lane)}</text>')
        for span in (s for s in spans if s.lane == lane):
            x0, x1 = x(span.start), max(x(span.end), x(span.start) + 3)
            parts.append(
                f'<g class="mp-span"><rect x="{x0:.1f}" y="{y}" width="{x1 - x0:.1f}" height="{lane_h - 6}" rx="3" '
                f'fill="{colors[span.label]}"/><text x="{x0 + 4:.1f}" y="{y + 15}" class="mp-span-label">'
                f"{_esc(span.label if x1 - x0 > 70 else '')}</text><title>{_esc(span.tip or span.label)}</title></g>"
            )
    bottom = head + lane_h * len(lane_order) + 16
    parts.append(f'<text x="{left}" y="{bottom}" class="mp-tick">{_esc(axis[0])}</text>')
    parts.append(f'<text x="{width - 10}" y="{bottom}" text-anchor="end" class="mp-tick">{_esc(axis[1])}</text>')
    return (
        f'<svg class="mp-lanes" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
        + "".join(parts)
        + "</svg>"
    )

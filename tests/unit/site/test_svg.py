"""The inline SVG charts: points, gaps, bands, marks and heat colours come from the values given."""

from __future__ import annotations

import re

from millpond.site import svg


def test_a_sparkline_breaks_at_windows_without_a_value() -> None:
    out = svg.sparkline([0.7, 0.72, None, 0.71, 0.69], label="roc_auc")
    assert out.count("<polyline") == 2
    assert "<title>roc_auc</title>" in out
    assert svg.sparkline([None, None]) == ""


def test_the_sparkline_puts_the_highest_value_on_top() -> None:
    out = svg.sparkline([0.5, 0.9, 0.7], height=40)
    points = re.search(r'points="([^"]+)"', out).group(1).split()  # type: ignore[union-attr]
    ys = [float(p.split(",")[1]) for p in points]
    assert ys.index(min(ys)) == 1  # SVG y grows downwards: the largest value is the smallest y
    assert ys.index(max(ys)) == 0


def test_a_line_chart_draws_one_point_per_value_a_band_and_the_marks() -> None:
    labels = ["2025-01", "2025-02", "2025-03", "2025-04"]
    realised = svg.Series(
        "realised", [0.78, None, 0.8, 0.75], low=[0.77, None, 0.79, 0.74], high=[0.79, None, 0.81, 0.76]
    )
    estimate = svg.Series("estimate", [0.79, 0.79, 0.8, 0.8], dashed=True)
    out = svg.line_chart(labels, [realised, estimate], marks=[svg.Mark(2, "promoted abc")], benchmark=0.7)
    assert out.count("<circle") == 3 + 4
    assert out.count('class="mp-band"') == 1
    assert "promoted abc" in out
    assert 'class="mp-benchmark"' in out
    assert "realised 2025-03: 0.800 [0.790, 0.810]" in out
    assert svg.line_chart(labels, [svg.Series("x", [None] * 4)]) == ""


def test_the_value_range_holds_the_benchmark_and_every_band() -> None:
    lo, hi = svg.value_range([0.7, 0.8, None, 0.65])
    assert lo < 0.65 and hi > 0.8
    assert svg.value_range([0.5, 0.5]) != (0.5, 0.5)  # a flat series still gets some height


def test_heat_colours_darken_with_the_value_and_missing_cells_are_grey() -> None:
    def red_share(color: str) -> int:
        return 255 - int(color[3:5], 16)  # the green channel falls as the red deepens

    shades = [svg.heat_color(v, 1.0) for v in (0.0, 0.3, 0.6, 1.0, 2.0)]
    assert shades[0] == "#ffffff"
    assert [red_share(c) for c in shades] == sorted(red_share(c) for c in shades)
    assert shades[3] == shades[4]  # above the top: as dark as the top
    assert svg.heat_color(None, 1.0) == "#f2f2f2"


def test_the_heatmap_flags_each_drifted_cell_and_shows_the_notes() -> None:
    cells = {
        ("a", "w1"): svg.Cell(0.1),
        ("a", "w2"): svg.Cell(0.5, flagged=True, tip="a at w2"),
        ("b", "w2"): svg.Cell(0.4, flagged=True),
    }
    out = svg.heatmap(["a", "b"], ["w1", "w2"], cells, top=0.5, notes={"w2": "data"})
    assert out.count('class="mp-cell"') == 4  # b at w1 is drawn empty
    assert out.count('stroke="#222"') == 2
    assert "<title>a at w2</title>" in out
    assert ">data</text>" in out


def test_alias_lanes_keep_one_colour_per_version() -> None:
    spans = [
        svg.Span("champion", 0.0, 0.5, "v1"),
        svg.Span("champion", 0.5, 1.0, "v2"),
        svg.Span("previous", 0.5, 1.0, "v1"),
    ]
    out = svg.lanes(spans, ("champion", "previous"), axis=("start", "now"))
    fills = re.findall(r'<rect [^>]*fill="(#[0-9a-f]{6})"', out)
    assert fills[0] == fills[2] != fills[1]
    assert svg.lanes([], ("champion",), axis=("a", "b")) == ""

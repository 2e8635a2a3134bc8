"""Reports people can read: summaries formatted whole, millpond's event lines out of the rendering, legible plots."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pytest

from millpond.runs.report import format_value, render_report, summary_table, without_event_lines

EVENT = 'event notify.retrain: {"candidate": "8ea68547670c", "reason": "impactful data drift"}\n'


def test_an_interval_reads_as_value_and_bounds_and_nothing_is_cut_off() -> None:
    interval = {"value": 0.778379123, "low": 0.77012, "high": 0.78531, "confidence": 0.95, "resamples": 200}
    assert format_value(interval) == "0.778 [0.770, 0.785]"
    long = {f"metric_{i}": i / 7 for i in range(12)}
    table = summary_table({"kpi": interval, "metrics": long, "windows": ["2025-01", "2025-02"], "note": None})
    html = table._repr_html_()
    assert "0.778 [0.770, 0.785]" in html
    assert "metric_11 1.5714" in html and "…" not in html and "..." not in html
    assert ">2025-01, 2025-02</td>" in html and ">-</td>" in html
    assert repr(table).splitlines()[0].startswith("kpi")
    assert format_value(True) == "yes" and format_value([]) == "none"


def test_a_summary_value_is_escaped_in_the_table() -> None:
    assert "&lt;script&gt;" in summary_table({"x": "<script>"})._repr_html_()


def _notebook(path: Path, stderr: str) -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("run()")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text=stderr),
        nbformat.v4.new_output("stream", name="stdout", text="done\n"),
    ]
    nb.cells = [cell]
    path.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path / "notebook.ipynb")
    return path


def test_event_lines_leave_the_report_but_other_stderr_stays(tmp_path: Path) -> None:
    run = _notebook(tmp_path / "run", EVENT + "UserWarning: X has feature names\n")
    html = render_report(run, title="t", status="succeeded").read_text(encoding="utf-8")
    assert "notify.retrain" not in html
    assert "UserWarning: X has feature names" in html and "done" in html
    assert "notify.retrain" in (run / "notebook.ipynb").read_text(encoding="utf-8")  # the record is unchanged


def test_a_stderr_output_of_only_event_lines_is_dropped_whole() -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text=EVENT + EVENT)]
    nb.cells = [cell]
    assert without_event_lines(nb).cells[0].outputs == []


def test_the_confusion_matrix_writes_white_on_dark_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from millpond.views import plots

    shown: list = []
    monkeypatch.setattr(plots, "_show", shown.append)  # the figure as it would be drawn into the notebook
    labels = np.array([0] * 90 + [1] * 10)
    scores = np.array([0.1] * 85 + [0.9] * 5 + [0.2] * 4 + [0.8] * 6)
    plots.confusion(labels, scores)
    (figure,) = shown
    texts = {t.get_text(): t.get_color() for t in figure.axes[0].texts}
    plt.close("all")
    assert texts == {"85": "white", "5": "black", "4": "black", "6": "black"}

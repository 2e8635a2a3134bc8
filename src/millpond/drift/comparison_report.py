"""Sweetviz drift reports: reference (the champion's training data) against the current window, feature by feature.

The drift stage writes one into its run record (``outputs/comparison.html``) so a reader can
see every feature's distribution side by side, split by the target. Rows are sampled so the
report stays quick on large marts; the browser is never opened and nothing leaves the machine.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import pandas as pd

from millpond.errors import ReportError

COMPARISON = "comparison.html"
MAX_ROWS = 5_000  # per side: sweetviz's cost grows with rows, its histograms do not need more


def _sample(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    return frame.sample(n=max_rows, random_state=seed) if len(frame) > max_rows else frame


def _prepare(frame: pd.DataFrame, columns: list[str], target: str | None) -> pd.DataFrame:
    """Only the given columns, with pandas 3 string/bool extension types as plain object/float for sweetviz."""
    data = frame[columns].copy()
    for column in data.columns:
        series = data[column]
        if column == target and (series.dtype == bool or str(series.dtype) == "boolean"):
            data[column] = series.astype("float64")  # sweetviz needs a numeric or boolean-like target
        elif (
            isinstance(series.dtype, pd.StringDtype)
            or str(series.dtype) in ("str", "string")
            or str(series.dtype) == "boolean"
        ):
            data[column] = series.astype(object)
    return data


def write_comparison(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    out: str | os.PathLike[str],
    *,
    features: list[str],
    target: str | None = None,
    names: tuple[str, str] = ("reference", "current"),
    max_rows: int = MAX_ROWS,
    seed: int = 0,
) -> Path:
    """Write a sweetviz comparison of ``features`` (and ``target`` when both sides have it) to ``out``; return it."""
    import matplotlib
    import matplotlib.pyplot as plt

    missing = [c for c in features if c not in reference.columns or c not in current.columns]
    if missing:
        raise ReportError(
            f"Cannot compare reference and current data: column(s) {missing} are missing from one side. "
            "Both frames need every feature of the use case."
        )
    use_target = target if target and target in reference.columns and target in current.columns else None
    columns = [*features, *([use_target] if use_target else [])]
    left = _prepare(_sample(reference, max_rows, seed), columns, use_target)
    right = _prepare(_sample(current, max_rows, seed), columns, use_target)
    target_path = Path(out)
    font_log = logging.getLogger("matplotlib.font_manager")
    level, font_log.level = font_log.level, logging.ERROR  # sweetviz asks for a font most machines lack
    # No backend switch (that would break a notebook's inline plots); sweetviz's style changes stay inside
    # rc_context and its figures are closed before a notebook cell could show them.
    try:
        with matplotlib.rc_context(), warnings.catch_warnings():
            # sweetviz's own deprecation noise under pandas 3, and tqdm.auto's "IProgress not found" in kernels
            warnings.simplefilter("ignore")
            import sweetviz

            report = sweetviz.DataframeReport(
                [left, names[0]], use_target, [right, names[1]], "off", None, verbosity="off"
            )
            report.show_html(str(target_path), open_browser=False, layout="vertical")
    except Exception as exc:
        raise ReportError(
            f"The sweetviz comparison {target_path} could not be written ({type(exc).__name__}: {exc})."
        ) from exc
    finally:
        font_log.setLevel(level)
        plt.close("all")
    return target_path


def show_link(summary: dict[str, object]) -> None:
    """In a drift notebook: a link to the run's comparison report (relative to the run folder), or why there is none."""
    from IPython.display import Markdown, display

    link = summary.get("comparison")
    if link:
        display(Markdown(f"**Reference vs current, feature by feature:** [open the sweetviz comparison]({link})"))
    elif summary.get("comparison_error"):
        display(Markdown(f"No sweetviz comparison: {summary['comparison_error']}"))

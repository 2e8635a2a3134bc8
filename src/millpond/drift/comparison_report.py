"""Sweetviz drift reports: reference (the champion's training data) against the current window, feature by feature.

A reader sees every feature's distribution side by side, split by the target. Rows are sampled so the report
stays quick on large marts; the browser is never opened and nothing leaves the machine.

Off the critical path: sweetviz spends its seconds drawing (matplotlib, under the GIL), whatever the window's size.
:class:`BackgroundComparison` draws it in a separate Python process: :meth:`~BackgroundComparison.start` hands it
samples taken by the caller, :meth:`~BackgroundComparison.start_marts` only the mart versions (the child reads and
samples them itself). The drift stage does neither: its verdict never waits for sweetviz. The comparison step
(:mod:`millpond.runs.comparison`) draws it after the stage and records it as a run of its own.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from contextlib import suppress
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pandas as pd

from millpond.errors import ReportError

if TYPE_CHECKING:
    from millpond.marts.columns import MartColumns

COMPARISON = "comparison.html"
_SIDES, _OPTIONS = ("reference.parquet", "current.parquet"), "options.json"  # in BackgroundComparison's folder
_FAILURE, _STDERR = "failure.txt", "stderr.txt"
TIMEOUT = 600.0  # seconds a background comparison may take (5,000 rows a side take about 15 s)
MAX_ROWS = 5_000  # per side: sweetviz's cost grows with rows, its histograms do not need more


def _sample(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    return frame.sample(n=max_rows, random_state=seed) if len(frame) > max_rows else frame


def _sample_columns(side: pd.DataFrame | MartColumns, max_rows: int, seed: int, columns: list[str]) -> pd.DataFrame:
    """``_sample(side)[columns]``; a :class:`~millpond.marts.columns.MartColumns` side draws the same rows batch by
    batch instead of being read whole."""
    if isinstance(side, pd.DataFrame):
        return _sample(side, max_rows, seed)[columns]
    return side.sample(max_rows, seed, columns)


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


def _checked_columns(
    reference: pd.DataFrame | MartColumns, current: pd.DataFrame | MartColumns, features: list[str], target: str | None
) -> list[str]:
    """The columns to compare: every feature (each side must have it) and the target when both sides have it."""
    missing = [c for c in features if c not in reference.columns or c not in current.columns]
    if missing:
        raise ReportError(
            f"Cannot compare reference and current data: column(s) {missing} are missing from one side. "
            "Both frames need every feature of the use case."
        )
    use_target = target if target and target in reference.columns and target in current.columns else None
    return [*features, *([use_target] if use_target else [])]


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

    columns = _checked_columns(reference, current, features, target)
    use_target = target if target in columns else None
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


class BackgroundComparison:
    """One :func:`write_comparison` drawn by a separate Python process while the caller goes on.

    ``start`` samples both sides here (the same seeded sample :func:`write_comparison` takes, so the report is the
    one it would write in this process) and hands only those rows to ``python -m millpond.drift.comparison_report``
    through a private temporary folder as Parquet (the child deletes the rows as soon as it has read them). The child writes
    the report there; :meth:`result` waits for it and only then copies it to ``out``, so a child that outlives a
    killed stage never writes into a run record. A plain subprocess rather than multiprocessing: it needs no
    ``__main__`` guard in the caller and inherits no kernel threads or sockets. It runs in a session of its own
    (a kill of the stage's process group leaves it to finish, notice that its parent is gone — its stdin pipe
    closed — and remove its folder). Use it as a context manager: leaving the block stops the child and removes
    the folder. Every failure, the child's included, is a :class:`ReportError` from :meth:`result`.
    """

    def __init__(
        self,
        out: str | os.PathLike[str],
        *,
        features: list[str],
        target: str | None,
        max_rows: int,
        timeout: float = TIMEOUT,
    ) -> None:
        self.out = Path(out)
        self.features, self.target, self.max_rows, self.timeout = features, target, max_rows, timeout
        self._folder: Path | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._error: ReportError | None = None

    def start(self, reference: pd.DataFrame | MartColumns, current: pd.DataFrame | MartColumns) -> None:
        """Begin drawing the report of ``reference`` against ``current`` (frames, or sides read a column or batch at
        a time) in a child process; the samples are taken here."""
        try:
            columns = _checked_columns(reference, current, self.features, self.target)
            self._folder = Path(tempfile.mkdtemp(prefix="millpond-comparison-"))
            for side, name in zip((reference, current), _SIDES, strict=True):  # data, not code: Parquet and JSON
                _sample_columns(side, self.max_rows, 0, columns).to_parquet(self._folder / name)
            self._spawn({"features": self.features, "target": self.target, "max_rows": self.max_rows})
        except ReportError as exc:
            self._error = exc
        except (OSError, ValueError, TypeError, NotImplementedError) as exc:  # pyarrow's errors derive from these
            self._start_failed(exc)

    def start_marts(self, marts_root: str | os.PathLike[str], name: str, reference: list[str], current: str) -> None:
        """Begin drawing the report of mart ``name``'s versions ``reference`` against version ``current``: the child
        reads and samples them itself (the same seeded rows :meth:`start` would take), so the caller reads nothing."""
        try:
            self._folder = Path(tempfile.mkdtemp(prefix="millpond-comparison-"))
            sides = {"root": str(marts_root), "name": name, "reference": list(reference), "current": current}
            self._spawn({"features": self.features, "target": self.target, "max_rows": self.max_rows, "marts": sides})
        except OSError as exc:
            self._start_failed(exc)

    def _spawn(self, options: dict[str, object]) -> None:
        """Write the job's options and start ``python -m millpond.drift.comparison_report <folder>``."""
        assert self._folder is not None
        (self._folder / _OPTIONS).write_text(json.dumps(options), encoding="utf-8")
        with (self._folder / _STDERR).open("wb") as stderr:
            self._child = subprocess.Popen(
                [sys.executable, "-m", __name__, str(self._folder)],
                stdin=subprocess.PIPE,  # held open until close(): its end of file tells the child we are gone
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )

    def _start_failed(self, exc: Exception) -> None:
        self._error = ReportError(
            f"The sweetviz comparison {self.out} could not be started ({type(exc).__name__}: {exc})."
        )
        self.close()

    def result(self) -> Path:
        """The report at ``out`` once the child is done; :class:`ReportError` when it could not be written."""
        try:
            return self._collect()
        finally:
            self.close()

    def _collect(self) -> Path:
        if self._error is not None:
            raise self._error
        if self._child is None or self._folder is None:
            raise ReportError("The comparison report was never started: call start() with the two frames first.")
        try:
            code = self._child.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired as exc:
            raise ReportError(
                f"The sweetviz comparison {self.out} took longer than {self.timeout:.0f} s and was stopped; "
                "lower drift.comparison_rows in the params to draw it from fewer rows."
            ) from exc
        drawn = self._folder / COMPARISON
        if code != 0 or not drawn.is_file():
            raise ReportError(self._failure(code))
        partial = self.out.with_name(f".{self.out.name}.part")
        try:  # the temporary folder may be on another filesystem: copy beside out, then one rename
            shutil.copyfile(drawn, partial)
            os.replace(partial, self.out)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise ReportError(f"The sweetviz comparison could not be saved as {self.out} ({exc}).") from exc
        return self.out

    def _failure(self, code: int) -> str:
        """Why the child wrote no report: its own message, else the end of what it printed to stderr."""
        assert self._folder is not None
        failure, stderr = self._folder / _FAILURE, self._folder / _STDERR
        if failure.is_file():
            return failure.read_text(encoding="utf-8")
        printed = stderr.read_text(encoding="utf-8", errors="replace").strip() if stderr.is_file() else ""
        tail = printed.splitlines()[-1] if printed else "nothing printed"
        return f"The sweetviz comparison {self.out} was not written: the drawing process exited {code} ({tail})."

    def _stop(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        if child.poll() is None:
            try:
                os.killpg(child.pid, signal.SIGKILL)  # its session: a wrapper's own children too
            except (ProcessLookupError, PermissionError):
                child.kill()
            child.wait()
        if child.stdin is not None:
            child.stdin.close()

    def close(self) -> None:
        """Stop the child if it still runs and remove its folder."""
        self._stop()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self) -> BackgroundComparison:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _parent_gone() -> bool:
    """In the child: whether the stage that started it is gone (its end of our stdin pipe closed)."""
    import select

    readable, _, _ = select.select([sys.stdin], [], [], 0)
    return bool(readable) and sys.stdin.buffer.read(1) == b""


def _draw(folder: Path) -> int:
    """The child's side of :class:`BackgroundComparison`: read the job, write the report (or why not) in ``folder``."""
    try:
        options = json.loads((folder / _OPTIONS).read_text(encoding="utf-8"))
        marts = options.pop("marts", None)
        left, right = (
            mart_samples(marts["root"], marts["name"], marts["reference"], marts["current"], **options)
            if marts
            else (pd.read_parquet(folder / n) for n in _SIDES)
        )
        for name in (*_SIDES, _OPTIONS):  # the sampled rows leave the disk as soon as they are in memory
            (folder / name).unlink(missing_ok=True)
        write_comparison(left, right, folder / COMPARISON, **options)
    except Exception as exc:  # noqa: BLE001 - every failure reaches the stage as its message, not an exit code
        message = (
            str(exc)
            if isinstance(exc, ReportError)
            else f"The sweetviz comparison failed ({type(exc).__name__}: {exc})."
        )
        (folder / _FAILURE).write_text(message, encoding="utf-8")
        code = 1
    else:
        code = 0
    if _parent_gone():  # the stage died while this drew: nobody will collect it
        shutil.rmtree(folder, ignore_errors=True)
    return code


def mart_samples(
    marts_root: str | os.PathLike[str], name: str, reference: list[str], current: str, **options: Any
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The seeded samples :meth:`BackgroundComparison.start_marts` compares: mart ``name``'s versions ``reference``
    against version ``current``, each side at most ``options["max_rows"]`` rows of the features (and target)."""
    from millpond.marts.columns import MartColumns
    from millpond.marts.store import MartStore

    store = MartStore(Path(marts_root))
    left = MartColumns([store.get(name, version) for version in reference])
    right = MartColumns([store.get(name, current)])
    columns = _checked_columns(left, right, list(options["features"]), options.get("target"))
    max_rows = int(options["max_rows"])
    return _sample_columns(left, max_rows, 0, columns), _sample_columns(right, max_rows, 0, columns)


def show_link(summary: dict[str, object]) -> None:
    """In a drift notebook: where the sweetviz comparison of the compared mart versions lands (it is drawn after the
    stage, as a run of its own, so the verdict never waits for it)."""
    from IPython.display import Markdown, display

    sides = summary.get("comparison_sides")
    if isinstance(sides, dict) and sides.get("current"):
        display(
            Markdown(
                f"**Reference vs current, feature by feature:** a sweetviz comparison of mart versions "
                f"{', '.join(map(str, sides.get('reference') or []))} against {sides['current']} is drawn after this "
                "stage, as a run of its own: `NN-compare` in this cycle's folder when `millpond cycle` or `millpond "
                "run` ran the stage (the runs index links it); for any drift run: `millpond runs compare RUN_ID`."
            )
        )


NICENESS = 10  # the drawing child yields the cores to the stage kernels it runs beside (it is waited for last)

if __name__ == "__main__":
    with suppress(OSError):
        os.nice(NICENESS)
    sys.exit(_draw(Path(sys.argv[1])))

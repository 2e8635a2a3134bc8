"""Interactive drift views: a dtale session over a drift run's table and its reference and current data.

``drift_data`` finds what a drift run compared (its ``outputs/drift_table.csv``, the champion's
training rows, the window's mart version); ``serve_drift_view`` serves them with dtale on
127.0.0.1 until Ctrl-C or a timeout; ``show_drift`` shows the same grid inline in JupyterLab.

A drift view is for looking. dtale starts with cell edits, custom (pandas query) filters, web uploads,
the header editor and the shutdown button off (:data:`READ_ONLY_OPTIONS`), and since dtale's server does
not enforce all of those itself (its edit-cell endpoint ignores ``allow_cell_edits``), every request goes
through :class:`ReadOnlyGate`: only GET requests to the endpoints that read (grid pages, data, dtypes,
describe, column analysis, correlations, charts, export of the data as CSV) pass; edits, column builders,
code export, uploads, merges, dataset clean-up and ``/shutdown`` get ``403``. Only the process that
started the view stops it (:meth:`DriftViewServer.stop`). It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from millpond.config.params import load_use_case, params_file
from millpond.errors import PortInUseError, ViewError
from millpond.marts.store import MartStore
from millpond.models.store import ModelStore
from millpond.runs.store import RunRecord, RunStore
from millpond.workspace import Workspace

HOST = "127.0.0.1"
DRIFT_TABLE = "outputs/drift_table.csv"
READ_ONLY_OPTIONS: dict[str, Any] = {
    "allow_cell_edits": False,
    "hide_shutdown": True,
    "enable_custom_filters": False,
    "enable_web_uploads": False,
    "hide_header_editor": True,
    "lock_header_menu": True,
}
# GET endpoints that only read (dtale 3.x); everything else is refused by ReadOnlyGate
READ_ONLY_PREFIXES = (
    "/dtale/static/",
    "/dtale/main",
    "/dtale/iframe",
    "/dtale/popup/",
    "/dtale/data/",
    "/dtale/dtypes/",
    "/dtale/describe/",
    "/dtale/variance/",
    "/dtale/column-analysis/",
    "/dtale/correlations/",
    "/dtale/corr-analysis/",
    "/dtale/correlations-ts/",
    "/dtale/chart-data/",
    "/dtale/scatter/",
    "/dtale/filter-info/",
    "/dtale/column-filter-data/",
    "/dtale/async-column-filter-data/",
    "/dtale/load-filtered-ranges/",
    "/dtale/outliers/",
    "/dtale/missingno/",
    "/dtale/aggregations/",
    "/dtale/weighted-average/",
    "/dtale/data-export/",
    "/dtale/processes",
    "/dtale/process-keys",
    "/dtale/datasets",
    "/dtale/update-settings/",  # only the display settings below
)
READ_ONLY_EXACT = ("/", "/favicon.ico", "/dtale", "/dtale/")
DISPLAY_SETTINGS = frozenset({"sortInfo", "precision", "verticalHeaders", "highlightFilter", "backgroundMode"})


class ReadOnlyGate:
    """WSGI middleware in front of dtale: GET requests to reading endpoints pass, anything else gets 403."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def allows(self, method: str, path: str, query: str) -> bool:
        if method not in ("GET", "HEAD"):
            return False
        if path in READ_ONLY_EXACT:
            return True
        if not path.startswith(READ_ONLY_PREFIXES) or ".." in path:
            return False
        if path.startswith("/dtale/update-settings/"):
            return _display_settings_only(query)
        return True

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "")
        if self.allows(method, path, environ.get("QUERY_STRING", "")):
            return self.app(environ, start_response)
        body = json.dumps({"error": f"{method} {path} is refused: this drift view is read-only", "success": False})
        start_response("403 Forbidden", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body.encode()]


def _display_settings_only(query: str) -> bool:
    from urllib.parse import parse_qs

    try:
        settings = json.loads(parse_qs(query).get("settings", ["{}"])[0])
    except ValueError:
        return False
    return isinstance(settings, dict) and set(settings) <= DISPLAY_SETTINGS


@dataclass
class DriftData:
    """What one drift run compared, ready to explore."""

    run: RunRecord
    table: pd.DataFrame
    reference: pd.DataFrame
    current: pd.DataFrame

    def frames(self) -> dict[str, pd.DataFrame]:
        """The datasets a view shows, by name (dtale names: letters, digits and spaces only)."""
        return {"drift table": self.table, "reference": self.reference, "current": self.current}


def find_drift_run(
    ws: Workspace, run: str | None = None, *, params: str | None = None, window: str | None = None
) -> RunRecord:
    """The drift run ``run`` (an id or a unique part of one), or the latest succeeded drift run of params + window."""
    store = RunStore(ws.runs)
    if run:
        record = store.get(run)
    elif params and window:
        use_case = load_use_case(params_file(ws, params)).use_case
        found = store.latest(use_case, window, "drift")
        if found is None:
            raise ViewError(
                f"No succeeded drift run for use case {use_case!r} and window {window!r}: run "
                f"`millpond cycle --params {params} --window {window}` first (`millpond runs list --stage drift` shows the drift runs)."
            )
        record = found
    else:
        raise ViewError("Say which drift run to view: a run id, or --params and --window.")
    if record.stage != "drift":
        sibling = [r.run_id for r in store.cycle(record.cycle_id) if r.stage == "drift"]
        hint = f" The drift run of that cycle is {sibling[0]}." if sibling else ""
        raise ViewError(f"Run {record.run_id} is a {record.stage!r} run; a drift view needs a drift run.{hint}")
    if not (Path(record.path) / DRIFT_TABLE).is_file():
        why = record.skip_reason or record.error or "it wrote no drift table"
        raise ViewError(
            f"Run {record.run_id} has no drift output to view ({record.status}: {why}). "
            "Pick a drift run that compared data: `millpond runs list --stage drift --status succeeded`."
        )
    return record


def drift_data(ws: Workspace, record: RunRecord) -> DriftData:
    """Load the drift table of ``record`` and rebuild the reference (champion's training rows) and current data."""
    summary = (record.scraps or {}).get("summary") or {}
    table = pd.read_csv(Path(record.path) / DRIFT_TABLE)
    marts, models = MartStore(ws.feature_marts), ModelStore(ws.model_store)
    champion = models.get(record.use_case, summary["champion"])
    reference = pd.concat(
        [marts.get(record.use_case, m["version"]).read() for m in champion.metadata.training_marts],
        ignore_index=True,
    )
    mart_version = summary.get("mart_version")
    current = (
        marts.get(record.use_case, mart_version) if mart_version else marts.latest(record.use_case, record.window)
    ).read()
    return DriftData(record, table, reference, current)


def check_port(port: int) -> None:
    """Raise PortInUseError when ``port`` cannot be bound on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            raise PortInUseError(
                f"Port {port} on {HOST} is already in use ({exc.strerror}): pick another with "
                "--port, or leave --port out to use a free one."
            ) from exc


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class DriftViewServer:
    """A running dtale server on 127.0.0.1 holding one drift run's datasets."""

    url: str
    urls: dict[str, str]  # dataset name -> its grid
    _server: Any
    _thread: threading.Thread

    def stop(self) -> None:
        """Stop serving and forget the datasets."""
        from dtale import global_state

        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        global_state.cleanup()


def _serve_gated(url: str, port: int) -> tuple[Any, threading.Thread]:
    """dtale's app behind :class:`ReadOnlyGate`, served on 127.0.0.1:``port`` in a background thread."""
    import logging

    from dtale import app as dtale_app
    from werkzeug.serving import make_server

    app = dtale_app.build_app(url, reaper_on=False, host=HOST)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    try:
        server = make_server(HOST, port, ReadOnlyGate(app), threaded=True)
    except OSError as exc:
        raise PortInUseError(f"Port {port} on {HOST} is already in use ({exc}): pick another with --port.") from exc
    thread = threading.Thread(target=server.serve_forever, name="millpond-drift-view", daemon=True)
    thread.start()
    return server, thread


def start_drift_view(data: DriftData, port: int | None = None) -> DriftViewServer:
    """Serve ``data`` with dtale on 127.0.0.1 (``port`` or a free one) in a background thread, read-only."""
    from dtale import app as dtale_app

    if port is not None:
        check_port(port)
    port = port or free_port()
    url = f"http://{HOST}:{port}"
    dtale_app.ACTIVE_HOST, dtale_app.ACTIVE_PORT = HOST, port
    urls = {}
    for name, frame in data.frames().items():
        instance = dtale_app.startup(url, data=frame, name=name, ignore_duplicate=True, **READ_ONLY_OPTIONS)
        urls[name] = f"{url}/dtale/main/{instance._data_id}"
    server, thread = _serve_gated(url, port)
    return DriftViewServer(url=url, urls=urls, _server=server, _thread=thread)


_inline_server: list[DriftViewServer] = []  # the one read-only server of this process's inline views


def inline_view(frame: pd.DataFrame, name: str) -> Any:
    """A dtale instance of ``frame`` for display in JupyterLab, served read-only by this process's gated server
    (started on a free 127.0.0.1 port the first time; dtale's own ``show`` server would accept edits)."""
    from dtale import app as dtale_app

    if not _inline_server:
        port = free_port()
        url = f"http://{HOST}:{port}"
        dtale_app.ACTIVE_HOST, dtale_app.ACTIVE_PORT = HOST, port
        server, thread = _serve_gated(url, port)
        _inline_server.append(DriftViewServer(url=url, urls={}, _server=server, _thread=thread))
    view = _inline_server[0]
    instance = dtale_app.startup(view.url, data=frame, name=name, ignore_duplicate=True, **READ_ONLY_OPTIONS)
    view.urls[name] = f"{view.url}/dtale/main/{instance._data_id}"
    return instance


def serve_drift_view(
    ws: Workspace,
    run: str | None = None,
    *,
    params: str | None = None,
    window: str | None = None,
    port: int | None = None,
    timeout: float | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve a drift run's view until Ctrl-C or ``timeout`` seconds, then stop cleanly."""
    record = find_drift_run(ws, run, params=params, window=window)
    data = drift_data(ws, record)
    server = start_drift_view(data, port)
    announce(f"dtale drift view of {record.run_id} at {server.urls['drift table']}")
    for name, link in server.urls.items():
        announce(f"  {name:<12} {link}")
    announce("Ctrl-C stops it" + (f"; it stops by itself after {timeout:g} s" if timeout else "") + ".")
    if threading.current_thread() is threading.main_thread():
        # A process started in the background by a non-interactive shell inherits SIGINT ignored; Ctrl-C (or
        # kill -INT) must still stop the view.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Event().wait(timeout)
    except KeyboardInterrupt:
        announce("stopping")
    finally:
        server.stop()
    announce("drift view stopped")


def show_drift(
    run: str | None = None,
    *,
    params: str | None = None,
    window: str | None = None,
    workspace: str | None = None,
    dataset: str = "drift table",
) -> Any:
    """In JupyterLab: show a drift run's dataset inline with dtale (read-only, 127.0.0.1); returns the dtale instance."""
    ws = Workspace.find(workspace or None)
    data = drift_data(ws, find_drift_run(ws, run, params=params, window=window))
    frames = data.frames()
    if dataset not in frames:
        from millpond.errors import did_you_mean

        raise ViewError(f"Unknown dataset {dataset!r}.{did_you_mean(dataset, frames)} Choose one of {sorted(frames)}.")
    return inline_view(frames[dataset], dataset)

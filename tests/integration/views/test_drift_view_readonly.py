"""The dtale drift view is read-only and loopback-only: edits, code export, uploads and /shutdown are refused over HTTP.

A real dtale server (the one `millpond drift view` starts) serves small frames; each hostile request must get 403,
the served data must be unchanged afterwards, the grid must still load in a browser without console errors, and the
process must listen on nothing beyond 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from millpond.views.dtale_view import HOST, DriftData, DriftViewServer, start_drift_view
from tests.browser import browser, console_errors  # noqa: F401 - browser is a fixture

pytestmark = pytest.mark.integration
TABLE = pd.DataFrame({"feature": ["region", "tenure"], "kind": ["categorical", "numeric"], "psi": [0.31, 0.02]})
CURRENT = pd.DataFrame({"customer_id": ["a", "b", "c"], "region": ["north", "south", "east"], "tenure": [1, 5, 9]})


@pytest.fixture(scope="module")
def view() -> Iterator[DriftViewServer]:
    data = DriftData(run=None, table=TABLE, reference=CURRENT.copy(), current=CURRENT.copy())  # type: ignore[arg-type]
    server = start_drift_view(data)
    yield server
    server.stop()


def _get(url: str, *, method: str = "GET", **kwargs: Any) -> Any:
    import requests

    return requests.request(method, url, timeout=30, allow_redirects=False, **kwargs)


def _data_id(view: DriftViewServer, name: str) -> str:
    return view.urls[name].rsplit("/", 1)[1]


def _served(view: DriftViewServer, name: str) -> pd.DataFrame:
    """The dataset as dtale serves it now (its CSV export)."""
    import io

    response = _get(f"{view.url}/dtale/data-export/{_data_id(view, name)}", params={"type": "csv"})
    assert response.status_code == 200, response.text
    return pd.read_csv(io.StringIO(response.text))


HOSTILE = {
    "edit-cell": ("GET", "/dtale/edit-cell/{id}", {"col": "region", "rowIndex": 0, "updated": "HACKED"}),
    "shutdown": ("GET", "/shutdown", {}),
    "code-export": ("GET", "/dtale/code-export/{id}", {}),
    "code-popup": ("GET", "/dtale/code-popup", {}),
    "upload": ("POST", "/dtale/upload", {}),
    "web-upload": ("GET", "/dtale/web-upload", {"type": "csv", "url": "http://127.0.0.1:1/x.csv"}),
    "build-column": (
        "GET",
        "/dtale/build-column/{id}",
        {"type": "numeric", "name": "x", "cfg": json.dumps({"left": {"col": "tenure"}, "operation": "sum"})},
    ),
    "delete-col": ("GET", "/dtale/delete-col/{id}", {"col": "region"}),
    "rename-col": ("GET", "/dtale/rename-col/{id}", {"col": "region", "rename": "HACKED"}),
    "custom-filter": ("GET", "/dtale/test-filter/{id}", {"query": "@__import__('os').system('true')"}),
    "settings-query": ("GET", "/dtale/update-settings/{id}", {"settings": json.dumps({"query": "tenure > 1"})}),
    "settings-flags": (
        "GET",
        "/dtale/update-settings/{id}",
        {"settings": json.dumps({"allow_cell_edits": True, "enable_web_uploads": True})},
    ),
    "cleanup-datasets": ("GET", "/dtale/cleanup-datasets", {"dataIds": "1,2,3"}),
    "merge": ("POST", "/dtale/merge", {}),
    "post-to-a-reader": ("POST", "/dtale/data/{id}", {}),
}


@pytest.mark.reliability("hostile")
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_endpoints_that_change_anything_are_refused_and_the_data_is_unchanged(view: DriftViewServer, case: str) -> None:
    method, path, params = HOSTILE[case]
    before = _served(view, "current")
    url = view.url + path.format(id=_data_id(view, "current"))
    response = _get(url, method=method, params=params if method == "GET" else None, data=params or None)
    assert response.status_code == 403, (case, response.status_code, response.text[:300])
    assert "read-only" in response.json()["error"]
    after = _served(view, "current")
    pd.testing.assert_frame_equal(after, before)
    assert "HACKED" not in after.to_csv() and list(after["region"]) == ["north", "south", "east"]
    assert _get(view.urls["current"]).status_code == 200  # still up: only the starting process stops it


def test_reading_endpoints_and_sorting_still_work(view: DriftViewServer) -> None:
    data_id = _data_id(view, "drift table")
    page = _get(view.urls["drift table"])
    assert page.status_code == 200 and "dtale" in page.text.lower()
    rows = _get(f"{view.url}/dtale/data/{data_id}", params={"ids": json.dumps(["0-10"])}).json()
    assert sorted(row["feature"] for row in rows["results"].values()) == ["region", "tenure"]
    sort = {"sortInfo": [["psi", "DESC"]]}
    assert _get(f"{view.url}/dtale/update-settings/{data_id}", params={"settings": json.dumps(sort)}).ok
    assert _get(f"{view.url}/dtale/describe/{data_id}", params={"col": "psi"}).status_code == 200


def _listening(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every listening TCP socket of process ``pid`` (psutil, else /proc/net/tcp{,6})."""
    try:
        import psutil
    except ImportError:
        return _listening_from_proc(pid)
    return [
        (c.laddr.ip, c.laddr.port)
        for c in psutil.Process(pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]


def _listening_from_proc(pid: int) -> list[tuple[str, int]]:
    import os

    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile (the listing's own descriptor)
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                address, port = fields[1].split(":")
                ip = socket.inet_ntoa(bytes.fromhex(address)[::-1]) if len(address) == 8 else address
                found.append((ip, int(port, 16)))
    return found


@pytest.mark.reliability("socket")
def test_the_view_listens_on_loopback_only(view: DriftViewServer) -> None:
    import os

    listening = _listening(os.getpid())
    port = int(view.url.rsplit(":", 1)[1])
    assert (HOST, port) in listening
    assert [entry for entry in listening if entry[0] != "127.0.0.1"] == []
    assert sorted(_listening_from_proc(os.getpid())) == sorted(listening)  # both ways of listing agree


def test_the_grid_loads_in_a_browser_without_errors(view: DriftViewServer, browser) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(view.urls["drift table"])
    wait = WebDriverWait(browser, 60)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".headerCell")))
    wait.until(lambda d: "psi" in d.find_element(By.TAG_NAME, "body").text)
    assert [e for e in console_errors(browser) if "favicon" not in e] == []


@pytest.mark.reliability("hostile")
def test_the_inline_notebook_view_is_read_only_too() -> None:
    from millpond.views import dtale_view

    instance = dtale_view.inline_view(CURRENT.copy(), "current inline")
    server = dtale_view._inline_server[0]
    assert server.url.startswith(f"http://{HOST}:")
    url = f"{server.url}/dtale/edit-cell/{instance._data_id}"
    edit = _get(url, params={"col": "region", "rowIndex": 0, "updated": "HACKED"})
    assert edit.status_code == 403 and _get(f"{server.url}/shutdown").status_code == 403
    assert list(instance.data["region"]) == ["north", "south", "east"]
    assert _get(server.urls["current inline"]).status_code == 200

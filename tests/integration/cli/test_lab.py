"""`make lab` opens clean: JupyterLab with the settings scripts/lab_settings.py writes shows neither the
"Build Recommended" dialog (dtale's dash source extension) nor the Jupyter news prompt, in headless Chromium.

The settings go to a temporary prefix handed to JupyterLab (``JUPYTER_CONFIG_PATH`` for the page config,
``--LabApp.app_settings_dir`` for overrides.json), so the test checks the files themselves whatever venv runs it;
``make venv`` writes the same files into ``.venv``. The user's own settings are kept out (a fresh HOME).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import browser, screenshot  # noqa: F401 - browser is a fixture

REPO = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_settings(prefix: Path) -> list[Path]:
    spec = importlib.util.spec_from_file_location("lab_settings", REPO / "scripts" / "lab_settings.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written: list[Path] = module.write_lab_settings(prefix)
    return written


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[str]:
    """A JupyterLab server on 127.0.0.1 with millpond's lab settings and a fresh home; yields its /lab URL."""
    page_config, overrides = _write_settings(tmp_path / "prefix")
    port = _free_port()
    (tmp_path / "notebooks").mkdir()
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "home" / ".jupyter"),
        "JUPYTER_CONFIG_PATH": str(page_config.parent.parent),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "home" / "user-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "home" / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "home" / "runtime"),
    }
    command = [
        *(sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1"),
        *("--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={tmp_path / 'notebooks'}"),
        *("--LabApp.extension_manager=readonly", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"),
        f"--LabApp.app_settings_dir={overrides.parent}",
        *(["--allow-root"] if os.geteuid() == 0 else []),
    ]
    with (tmp_path / "lab.log").open("w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/lab"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(url, timeout=5)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "lab.log").read_text()
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(30)


def test_lab_opens_without_the_build_dialog_or_the_news_prompt(lab: str, browser) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    browser.get(lab)
    deadline = time.monotonic() + 120
    while not browser.find_elements(By.CSS_SELECTOR, "#jp-main-dock-panel .jp-Launcher"):
        assert time.monotonic() < deadline, "JupyterLab's launcher did not appear"
        time.sleep(1)
    time.sleep(
        8
    )  # the build check and the news prompt come a few seconds after the launcher (seen without the settings)
    screenshot(browser, "lab-clean")
    dialogs = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".jp-Dialog")]
    toasts = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".Toastify__toast")]
    assert dialogs == []
    assert not [t for t in toasts if "news" in t.lower()]
    assert "Build Recommended" not in browser.find_element(By.TAG_NAME, "body").text

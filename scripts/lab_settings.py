"""Write the JupyterLab settings ``make lab`` needs into a venv: no "Build Recommended" dialog, no news prompt.

- ``<venv>/etc/jupyter/labconfig/page_config.json``: ``buildCheck``/``buildAvailable`` off. dtale ships a
  source extension (``share/jupyter/lab/extensions/dash-jupyterlab.tgz``) that JupyterLab would offer to
  rebuild itself for on every start; millpond needs no rebuild (its views are prebuilt extensions).
- ``<venv>/share/jupyter/lab/settings/overrides.json``: the notification plugin neither fetches Jupyter news
  nor asks whether to (``fetchNews: "false"``) and checks for no updates.

Keys already in those files are kept (merged); run by ``make venv``: ``python scripts/lab_settings.py .venv``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

PAGE_CONFIG = {"buildCheck": False, "buildAvailable": False}
OVERRIDES = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}


def merge(path: Path, settings: dict[str, Any]) -> None:
    """Merge ``settings`` into the JSON object in ``path`` (created when missing), one level deep."""
    current: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    for key, value in settings.items():
        if isinstance(value, dict) and isinstance(current.get(key), dict):
            current[key] = {**current[key], **value}
        else:
            current[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_lab_settings(prefix: Path) -> list[Path]:
    """Write both files under the environment ``prefix``; return their paths."""
    page_config = prefix / "etc" / "jupyter" / "labconfig" / "page_config.json"
    overrides = prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    merge(page_config, PAGE_CONFIG)
    merge(overrides, OVERRIDES)
    return [page_config, overrides]


if __name__ == "__main__":
    for written in write_lab_settings(Path(sys.argv[1] if len(sys.argv) > 1 else sys.prefix)):
        print(f"JupyterLab settings: {written}")

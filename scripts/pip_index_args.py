"""Print uv's index flags for the package indexes pip is configured with here (``pip config list`` + env).

The Makefile builds the venv with uv, which does not read pip's configuration; this keeps both on the same
index (a local mirror, extra indexes, find-links folders). Nothing configured prints nothing (uv's default,
PyPI). Run by the Makefile with the bootstrap Python; only the standard library and pip are used.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

_FLAGS = {"index-url": "--index-url", "extra-index-url": "--extra-index-url", "find-links": "--find-links"}
_LINE = re.compile(r"^(?P<scope>[^.]*)\.(?P<key>[a-z-]+)='(?P<value>.*)'$")


def pip_settings(listing: str) -> dict[str, list[str]]:
    """``{key: [values]}`` of the index settings in ``pip config list`` output (env values win over files)."""
    found: dict[str, dict[str, list[str]]] = {}
    for line in listing.splitlines():
        match = _LINE.match(line.strip())
        if match and match["key"] in _FLAGS:
            found.setdefault(match["key"], {})[match["scope"]] = match["value"].split()
    return {key: scopes.get(":env:", next(iter(scopes.values()))) for key, scopes in found.items()}


def uv_args(settings: dict[str, list[str]]) -> list[str]:
    """uv flags for pip's settings; with several indexes uv picks the best match across them, as pip does."""
    args = [arg for key, values in settings.items() for value in values for arg in (_FLAGS[key], value)]
    if len(settings.get("extra-index-url", [])) + len(settings.get("index-url", [])) > 0:
        args += ["--index-strategy", "unsafe-best-match"]
    return args


def main() -> int:
    try:
        listing = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return 0  # no pip here: uv's defaults
    print(shlex.join(uv_args(pip_settings(listing))))
    return 0


if __name__ == "__main__":
    sys.exit(main())

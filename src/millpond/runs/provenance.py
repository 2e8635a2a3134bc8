"""Where a run came from: code version (git), package versions, and parameters with secrets hidden."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Iterable
from importlib import metadata
from typing import Any

DEFAULT_PACKAGES = (
    "python",
    "millpond",
    "pandas",
    "numpy",
    "scikit-learn",
    "scipy",
    "pyarrow",
    "papermill",
    "nbformat",
    "scrapbook",
    "skops",
    "duckdb",
    "pydantic",
)


def code_version(repo_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Git commit, dirty flag and branch of ``repo_dir``, in one ``git status`` call.

    Values are ``None`` when ``repo_dir`` is not in a git checkout, git is not
    installed or does not answer within a few seconds. Never raises.
    """
    unknown: dict[str, Any] = {"commit": None, "dirty": None, "branch": None}
    try:
        done = subprocess.run(
            ["git", "-C", str(repo_dir), "status", "--porcelain=v2", "--branch"],
            capture_output=True,
            text=True,
            timeout=10,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"},
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return unknown
    if done.returncode != 0:
        return unknown
    commit = branch = None
    dirty = False
    for line in done.stdout.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.split(" ", 2)[2]
            commit = None if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line.split(" ", 2)[2]
            branch = None if head == "(detached)" else head
        elif line and not line.startswith("#"):
            dirty = True  # a changed, staged or untracked (not ignored) file
    return {"commit": commit, "dirty": dirty, "branch": branch}


def package_versions(names: Iterable[str] = DEFAULT_PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution (``None`` when missing); ``python`` is the interpreter."""
    versions: dict[str, str | None] = {}
    for name in names:
        if name == "python":
            versions[name] = platform.python_version()
            continue
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions

"""Where a run came from: code version (git), package versions, and parameters with secrets hidden."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from collections.abc import Iterable
from importlib import metadata
from typing import Any

DEFAULT_PACKAGES = (
    "python", "millpond", "pandas", "numpy", "scikit-learn", "scipy", "pyarrow",
    "papermill", "nbformat", "scrapbook", "skops", "duckdb", "pydantic",
)
SECRET_MARKERS = ("password", "passwd", "secret", "token", "api_key", "apikey", "credentials", "private_key")
MASK = "***"

_ENV_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
# scheme://user:password@host — greedy up to the last '@' so a password holding '@' is hidden whole
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<password>\S+)@")


def code_version(repo_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Git commit, dirty flag and branch of ``repo_dir``, in one ``git status`` call.

    Values are ``None`` when ``repo_dir`` is not in a git checkout, git is not
    installed or does not answer within a few seconds. Never raises.
    """
    unknown: dict[str, Any] = {"commit": None, "dirty": None, "branch": None}
    try:
        done = subprocess.run(
            ["git", "-C", str(repo_dir), "status", "--porcelain=v2", "--branch"],
            capture_output=True, text=True, timeout=10,
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


def is_secret_key(key: object) -> bool:
    """True when a parameter name looks like it holds a secret (``db_password``, ``API_KEY``…)."""
    lowered = str(key).lower()
    return any(marker in lowered for marker in SECRET_MARKERS)


def redact_url(text: str) -> str:
    """Hide the password of every ``scheme://user:password@host`` URL inside ``text``."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}@", text)


def redact(obj: Any) -> Any:
    """Deep copy of a params-like structure with secrets replaced by ``'***'``.

    Values of keys that look secret are masked (whole, even when a dict or list),
    except ``None``, empty strings and ``${ENV_VAR}`` references, which are not
    secrets; inline URL passwords are masked in every string.
    """
    if isinstance(obj, dict):
        return {key: _mask(value) if is_secret_key(key) else redact(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact(value) for value in obj]
    if isinstance(obj, str):
        return redact_url(obj)
    return obj


def _mask(value: Any) -> Any:
    if value is None or value == "" or (isinstance(value, str) and _ENV_REFERENCE.fullmatch(value.strip())):
        return value
    return MASK


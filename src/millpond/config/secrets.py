"""Masking of secrets before anything is written: parameter values, URL passwords."""

from __future__ import annotations

import re
from typing import Any

SECRET_MARKERS = ("password", "passwd", "secret", "token", "api_key", "apikey", "credentials", "private_key")
MASK = "***"
_ENV_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
# scheme://user:password@host — greedy up to the last '@' so a password holding '@' is hidden whole
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<password>\S+)@")


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

"""Masking of secrets before anything is written: parameter values, URLs, headers, exception text.

Two complementary defences, both applied by :func:`redact_text`:

* **Known values.** :func:`secrets_of` collects the secrets of a parameter set: values of secret-looking keys,
  URL passwords (``scheme://user:PASSWORD@host``), secret query parameters (``?password=…``, ``token=``…),
  values of credential headers (``Authorization``, ``X-Api-Token``…), and the *expanded values* of every
  ``${ENV_VAR}`` the parameters reference. Every occurrence of those values is masked as a substring, also in
  their JSON-, URL- and HTML-escaped forms, wherever they appear later (exception text such as urllib's
  ``nonnumeric port: '<password>@127.0.0.1'`` included). The values a process expands or loads are also
  remembered process-wide (:func:`remember`), so the audit and events logs mask them without knowing the params.
* **Patterns.** URL userinfo passwords, secret query parameters, ``Authorization``-like header values and
  ``Bearer``/``Basic`` credentials are masked in any text, known or not.

Callers: the run store seals manifests with :func:`redact`, the runner scrubs each run folder with
:func:`redact_text` and :func:`secrets_of`, the audit and events logs pass every entry through :func:`redact`.
"""

from __future__ import annotations

import html
import json
import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "MASK",
    "SECRET_MARKERS",
    "forget_all",
    "is_secret_header",
    "is_secret_key",
    "known_secrets",
    "redact",
    "redact_text",
    "redact_url",
    "remember",
    "scrub_files",
    "secrets_of",
]

SECRET_MARKERS = ("password", "passwd", "secret", "token", "api_key", "apikey", "credentials", "private_key")
HEADER_MARKERS = ("authorization", "token", "key", "secret", "password", "cookie", "auth", "credential", "session")
QUERY_KEYS = ("password", "passwd", "pwd", "pass", "token", "secret", "api_key", "apikey", "access_token", "auth")
MASK = "***"
MIN_SECRET_LENGTH = 4  # shorter values (a port, a flag) are masked by pattern only, never as substrings
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_STOP = r"\s'\"<>\\`"  # a password never runs over whitespace, quotes, markup or a JSON escape
# scheme://user:password@host — greedy up to the last '@' so a password holding '@' is hidden whole
_URL_PASSWORD = re.compile(rf"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/@{_STOP}]*:)(?P<password>[^{_STOP}]+)@")
_QUERY_SECRET = re.compile(
    rf"(?P<head>[?&;](?:{'|'.join(QUERY_KEYS)})=)(?P<value>[^&#{_STOP}]+)",
    re.IGNORECASE,
)
_HEADER_NAME = r"(?:[\w-]*(?:authorization|token|api[_-]?key|secret|password|cookie)[\w-]*)"
# "Authorization: Bearer x", "'X-Api-Token': 'x'", '"authorization": "x"'. The name starts a word ((?<![\w-])):
# from inside one, [\w-]* would rescan the rest of the word at every position (quadratic in a notebook's base64).
_HEADER_VALUE = re.compile(
    rf"(?P<head>(?P<q>\\?['\"]?)(?<![\w-]){_HEADER_NAME}(?P=q)\s*[:=]\s*)(?P<open>\\?['\"])?"
    r"(?P<value>(?(open)(?:(?!(?P=open))[^\r\n\\])+|[^'\"\r\n,}&\\]+))",
    re.IGNORECASE,
)
_SCHEME_CREDENTIAL = re.compile(r"\b(?P<head>Bearer\s+)(?P<value>[A-Za-z0-9._~+/=\-]{4,})")

_known: set[str] = set()
_known_lock = threading.Lock()


def is_secret_key(key: object) -> bool:
    """True when a parameter name looks like it holds a secret (``db_password``, ``API_KEY``…)."""
    lowered = str(key).lower()
    return any(marker in lowered for marker in SECRET_MARKERS)


def is_secret_header(name: object) -> bool:
    """True when an HTTP header carries credentials (``Authorization``, ``X-Api-Key``, ``X-Hook-Token``…)."""
    lowered = str(name).lower()
    return any(marker in lowered for marker in HEADER_MARKERS)


# --- the secrets of a parameter set -------------------------------------------------
def remember(values: Iterable[str]) -> None:
    """Remember secret values for this process: every later :func:`redact_text` masks them too."""
    fresh = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH}
    if fresh:
        with _known_lock:
            _known.update(fresh)


def known_secrets() -> frozenset[str]:
    """The secret values this process has remembered (loaded params, expanded ``${ENV}`` values)."""
    with _known_lock:
        return frozenset(_known)


def forget_all() -> None:
    """Forget every remembered secret (tests)."""
    with _known_lock:
        _known.clear()


def _env_values(text: str, environ: Mapping[str, str]) -> set[str]:
    return {environ[name] for name in _ENV_REFERENCE.findall(text) if environ.get(name)}


def _expand(text: str, environ: Mapping[str, str]) -> str:
    return _ENV_REFERENCE.sub(lambda m: environ.get(m.group(1), m.group(0)), text)


def _in_text(text: str) -> set[str]:
    """Secrets written inline in one string: URL passwords, secret query values, scheme credentials."""
    found = {m.group("password") for m in _URL_PASSWORD.finditer(text)}
    found |= {m.group("value") for m in _QUERY_SECRET.finditer(text)}
    found |= {m.group("value") for m in _SCHEME_CREDENTIAL.finditer(text)}
    return found


def _leaf_secrets(key: object, value: str, parent: object, environ: Mapping[str, str]) -> set[str]:
    found = _env_values(value, environ)
    expanded = _expand(value, environ)
    found |= _in_text(value) | _in_text(expanded)
    secret_key = is_secret_key(key) or (str(parent).lower() == "headers" and is_secret_header(key))
    if secret_key and not _ENV_REFERENCE.fullmatch(value.strip()):
        found.add(value)
        found |= {part for part in expanded.split() if part.lower() not in ("bearer", "basic", "token", "digest")}
    return found


def secrets_of(params: Any, environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """Every secret value a parameter set holds or references (see the module docstring); at least 4 characters."""
    env = os.environ if environ is None else environ
    found: set[str] = set()

    def walk(obj: Any, key: object, parent: object) -> None:
        if isinstance(obj, Mapping):
            for child_key, value in obj.items():
                walk(value, child_key, key)
        elif isinstance(obj, (list, tuple, set, frozenset)):
            for value in obj:
                walk(value, key, parent)
        elif isinstance(obj, str):
            found.update(_leaf_secrets(key, obj, parent, env))
        elif obj is not None and not isinstance(obj, bool) and is_secret_key(key):
            found.add(str(obj))

    walk(params, None, None)
    return frozenset(s for s in found if len(s) >= MIN_SECRET_LENGTH and s != MASK)


# --- masking -------------------------------------------------------------------------
def _forms(secret: str) -> set[str]:
    """The ways a value is written: raw, JSON-escaped, URL-quoted, HTML-escaped, Python-repr'd."""
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        html.escape(secret),
        html.escape(secret, quote=False),
        repr(secret)[1:-1],
    }
    forms |= {json.dumps(form)[1:-1] for form in list(forms)}  # a JSON-escaped value inside a JSON document
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def _header_value(match: re.Match[str]) -> str:
    value = match.group("value")
    if match.group("q") and not match.group("open"):
        return match.group(0)  # a quoted key with a bare value: a number, true or null in JSON, not a header
    if _ENV_REFERENCE.fullmatch(value.strip()) or not value.strip() or value.startswith(MASK):
        return match.group(0)
    scheme = re.match(r"(?:Bearer|Basic|Token|Digest)\s+", value, re.IGNORECASE)
    return f"{match.group('head')}{match.group('open') or ''}{scheme.group(0) if scheme else ''}{MASK}"


def redact_url(text: str) -> str:
    """Hide URL passwords (``scheme://user:password@host``) and secret query values (``?password=…``) in ``text``."""
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}@", text)
    return _QUERY_SECRET.sub(lambda m: f"{m.group('head')}{MASK}", text)


def redact_text(text: str, secrets: Iterable[str] = (), *, patterns: bool = True) -> str:
    """``text`` with every known secret value (``secrets`` and :func:`known_secrets`) and, with ``patterns``,
    every credential pattern (URL passwords, secret query values, credential header values, Bearer/Basic tokens)
    masked. ``patterns=False`` is for third-party pages (sweetviz's report: minified JavaScript, where
    ``token = …`` is code, not a credential): there only the known values are masked."""
    values = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH} | known_secrets()
    forms = sorted({form for value in values for form in _forms(value)}, key=len, reverse=True)
    for form in forms:
        if form in text:
            text = text.replace(form, MASK)
    if not patterns:
        return text
    text = redact_url(text)
    text = _HEADER_VALUE.sub(_header_value, text)
    return _SCHEME_CREDENTIAL.sub(lambda m: f"{m.group('head')}{MASK}", text)


def redact(obj: Any, secrets: Iterable[str] = ()) -> Any:
    """Deep copy of a params-like structure with secrets replaced by ``'***'``.

    Values of keys that look secret (and of credential headers under a ``headers`` key) are masked whole, even
    when a dict or list, except ``None``, empty strings and ``${ENV_VAR}`` references, which are not secrets;
    every other string goes through :func:`redact_text` (known values and credential patterns).
    """
    values = frozenset(secrets)
    return _redact(obj, values, None)


def _redact(obj: Any, values: frozenset[str], key: object) -> Any:
    if isinstance(obj, Mapping):
        headers = str(key).lower() == "headers"
        return {
            k: _mask(v) if is_secret_key(k) or (headers and is_secret_header(k)) else _redact(v, values, k)
            for k, v in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return [_redact(value, values, key) for value in obj]
    if isinstance(obj, str):
        return redact_text(obj, values)
    return obj


def _mask(value: Any) -> Any:
    if value is None or value == "" or (isinstance(value, str) and _ENV_REFERENCE.fullmatch(value.strip())):
        return value
    if isinstance(value, str):
        scheme = re.match(r"(?:Bearer|Basic|Token|Digest)\s+", value, re.IGNORECASE)
        if scheme and _ENV_REFERENCE.fullmatch(value[scheme.end() :].strip()):
            return value  # "Bearer ${TOKEN}": a reference, not the token
    return MASK


SCRUB_MAX_BYTES = 256 * 1024 * 1024  # a text file larger than this is left alone (none of a run folder's are)


def scrub_files(paths: Iterable[os.PathLike[str] | str], secrets: Iterable[str] = ()) -> list[str]:
    """Rewrite each UTF-8 text file among ``paths`` with :func:`redact_text` applied; return the ones changed.

    Binary files (Parquet, joblib) and files that are not UTF-8 are left as they are; a file's mode is kept.
    Call it on a folder's files before they are hashed and sealed.
    """
    values = frozenset(secrets)
    changed: list[str] = []
    for raw in paths:
        path = os.fspath(raw)
        if not os.path.isfile(path) or os.path.islink(path) or os.path.getsize(path) > SCRUB_MAX_BYTES:
            continue
        with open(path, "rb") as handle:
            data = handle.read()
        if b"\x00" in data:
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        clean = redact_text(text, values, patterns=not _third_party_page(path, text))
        if clean != text:
            _replace_text(path, clean)
            changed.append(path)
    return changed


def _third_party_page(path: str, text: str) -> bool:
    """An HTML page with scripts that millpond did not write (a run's ``outputs/``: sweetviz's comparison)."""
    return path.endswith(".html") and os.sep + "outputs" + os.sep in path and "<script" in text


def _replace_text(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (a temporary file beside it, then a rename), keeping its mode."""
    import tempfile

    mode = os.stat(path).st_mode & 0o7777
    handle, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".scrub-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise

"""Every credential form is masked: URL userinfo, secret query values, header values, ${ENV} expansions, exceptions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from millpond.config.secrets import (
    MASK,
    forget_all,
    known_secrets,
    redact,
    redact_text,
    redact_url,
    remember,
    scrub_files,
    secrets_of,
)

ENV = {"HOOK_PASSWORD": "h00k-p@ss:w0rd", "SMTP_PASSWORD": "smtp-S3cret", "HOOK_TOKEN": "tok-9f8e7d", "PORT": "25"}
PARAMS = {
    "use_case": "churn",
    "source": {"url": "postgresql+psycopg://millpond@127.0.0.1:5432/churn?sslmode=disable&password=lit-db-Pw1"},
    "notify": {
        "email": {"host": "127.0.0.1", "username": "u", "password": "${SMTP_PASSWORD}", "port": "${PORT}"},
        "webhook": {
            "url": "http://hook:${HOOK_PASSWORD}@127.0.0.1:9/hook?token=lit-query-tok",
            "headers": {"Authorization": "Bearer lit-bearer-123", "X-Hook-Token": "${HOOK_TOKEN}", "X-Env": "prod"},
        },
    },
    "other": {"url": "https://alice:lit-userinfo-pw@example.org/x"},
}


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    forget_all()
    yield
    forget_all()


def test_secrets_of_collects_every_form_and_the_expanded_env_values() -> None:
    found = secrets_of(PARAMS, environ=ENV)
    assert {
        "lit-db-Pw1",
        "lit-query-tok",
        "lit-bearer-123",
        "lit-userinfo-pw",
        "h00k-p@ss:w0rd",
        "smtp-S3cret",
        "tok-9f8e7d",
    } <= found
    assert "25" not in found  # too short to mask as a substring (a port), masked by pattern only
    assert "prod" not in found and "churn" not in found and "millpond" not in found


@pytest.mark.parametrize(
    "text",
    [
        "urllib: nonnumeric port: 'h00k-p@ss:w0rd@127.0.0.1'",  # the exception text urllib/http.client gives
        'Webhook failed: "http://hook:h00k-p%40ss%3Aw0rd@127.0.0.1:9/hook"',  # URL-quoted
        json.dumps({"error": "login failed for smtp-S3cret"}),
        json.dumps(json.dumps({"header": "X-Hook-Token tok-9f8e7d"})),  # escaped twice (a notebook output)
        "&lt;tok-9f8e7d&gt;",
    ],
)
def test_known_secrets_are_masked_as_substrings_in_any_text(text: str) -> None:
    masked = redact_text(text, secrets_of(PARAMS, environ=ENV))
    for secret in ("h00k-p@ss:w0rd", quote("h00k-p@ss:w0rd", safe=""), "smtp-S3cret", "tok-9f8e7d", "p@ss"):
        assert secret not in masked
    assert MASK in masked


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://user:pw-123@host/x", "http://user:***@host/x"),
        ("postgresql://u:p@ss@db:5432/churn", "postgresql://u:***@db:5432/churn"),
        ("mysql://u@db/x?charset=utf8&password=abcd1&pool=2", "mysql://u@db/x?charset=utf8&password=***&pool=2"),
        ("https://h/x?api_key=K-123#frag", "https://h/x?api_key=***#frag"),
        ("https://h/x?PWD=zz99&passwd=y7y7y", "https://h/x?PWD=***&passwd=***"),
        ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer ***"),
        ("{'Authorization': 'Basic dXNlcjpwdw=='}", "{'Authorization': 'Basic ***'}"),
        ('{"X-Api-Key": "k-9876", "Accept": "json"}', '{"X-Api-Key": "***", "Accept": "json"}'),
        ("curl -H 'X-Hook-Token: t0k3n'", "curl -H 'X-Hook-Token: ***'"),
        ("sqlite:///data/churn.db", "sqlite:///data/churn.db"),
        ("no secret here: a@b.org, https://example.org/?q=1", "no secret here: a@b.org, https://example.org/?q=1"),
    ],
)
def test_credential_patterns_are_masked_without_knowing_the_values(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_url_masking_keeps_json_documents_parseable() -> None:
    doc = json.dumps({"url": "postgresql://u:pw-1@h/db", "to": ["ops@example.org"], "n": 1}, separators=(",", ":"))
    assert json.loads(redact_url(doc)) == {"url": "postgresql://u:***@h/db", "to": ["ops@example.org"], "n": 1}
    text = json.dumps({"source": "x"}) + json.dumps({"authorization": "Bearer zzz-1"})
    assert redact_text(text) == '{"source": "x"}{"authorization": "Bearer ***"}'


def test_redact_masks_headers_and_query_values_and_keeps_env_references() -> None:
    clean = redact(PARAMS)
    headers = clean["notify"]["webhook"]["headers"]
    assert headers == {"Authorization": MASK, "X-Hook-Token": "${HOOK_TOKEN}", "X-Env": "prod"}
    assert clean["notify"]["webhook"]["url"] == "http://hook:***@127.0.0.1:9/hook?token=***"
    assert clean["source"]["url"].endswith("sslmode=disable&password=***")
    assert clean["notify"]["email"]["password"] == "${SMTP_PASSWORD}"
    assert redact({"headers": {"Authorization": "Bearer ${TOKEN}"}}) == {
        "headers": {"Authorization": "Bearer ${TOKEN}"}
    }
    assert PARAMS["other"]["url"] == "https://alice:lit-userinfo-pw@example.org/x"  # the input is left alone


def test_remembered_secrets_are_masked_everywhere_in_the_process() -> None:
    assert redact_text("the value zq-77-secret leaked") == "the value zq-77-secret leaked"
    remember(["zq-77-secret", "ab"])
    assert known_secrets() == {"zq-77-secret"}  # too short values are not remembered
    assert redact_text("the value zq-77-secret leaked") == "the value *** leaked"
    assert redact({"note": ["zq-77-secret"]}) == {"note": [MASK]}


def test_validating_params_remembers_their_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from millpond.config.params import validate_use_case
    from millpond.errors import ParamsError

    monkeypatch.setenv("HOOK_TOKEN", "env-tok-5555")
    with pytest.raises(ParamsError):
        validate_use_case({"use_case": "x", "notify": {"webhook": {"url": "http://h/?token=${HOOK_TOKEN}"}}})
    assert "env-tok-5555" in known_secrets()  # even params that do not validate


def test_patterns_leave_json_documents_valid_and_ordinary_words_alone() -> None:
    doc = {"token_count": 5, "api_key_set": True, "cookie": None, "text": "Basic statistics, Token budget"}
    for separators in ((",", ":"), (", ", ": ")):
        text = json.dumps(doc, separators=separators)
        assert json.loads(redact_text(text)) == doc


def test_scrub_files_rewrites_text_files_only_and_keeps_their_mode(tmp_path: Path) -> None:
    text = tmp_path / "notebook.ipynb"
    text.write_text(json.dumps({"source": "url = 'http://u:pw-4242@h/'"}), encoding="utf-8")
    text.chmod(0o444)
    binary = tmp_path / "part.parquet"
    binary.write_bytes(b"PAR1\x00pw-4242\x00")
    assert scrub_files([text, binary, tmp_path / "missing"], ["pw-4242"]) == [str(text)]
    assert "pw-4242" not in text.read_text(encoding="utf-8") and text.stat().st_mode & 0o777 == 0o444
    assert binary.read_bytes() == b"PAR1\x00pw-4242\x00"

"""Notifications reach a real SMTP sink and an HTTP server on loopback; a failing channel is logged, never raised."""

from __future__ import annotations

import base64
import json
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from millpond.config.params import NotifySpec
from millpond.governance.audit import AuditLog
from millpond.governance.events import events_path, notify_event, read_events
from millpond.governance.notifications import notify
from millpond.workspace import Workspace


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT) to receive a message."""

    def _say(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        server: Any = self.server
        message: dict[str, Any] = {"rcpt": []}
        self._say("220 sink ready")
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            command = raw.decode().strip()
            verb = command.split(" ")[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-sink\r\n250-AUTH PLAIN\r\n250 OK\r\n")
            elif verb == "AUTH":
                _, user, password = base64.b64decode(command.split(" ")[2]).split(b"\0")
                message["auth"] = (user.decode(), password.decode())
                self._say("235 ok")
            elif verb == "MAIL":
                message["from"] = command
                self._say("250 ok")
            elif verb == "RCPT":
                message["rcpt"].append(command)
                self._say("250 ok")
            elif verb == "DATA":
                self._say("354 go on")
                lines = []
                while (line := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(line.decode())
                message["data"] = "".join(lines)
                server.messages.append(message)
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 ok")


@pytest.fixture
def smtp_sink() -> Iterator[Any]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    server.messages = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def http_sink() -> Iterator[Any]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(
                {
                    "path": self.path,
                    "body": json.loads(body),
                    "token": self.headers.get("X-Token"),
                    "auth": self.headers.get("Authorization"),
                }
            )
            status = 500 if self.path == "/broken" else 204
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    server.received = received  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _spec(smtp: Any, http: Any, path: str = "/hook") -> NotifySpec:
    return NotifySpec.model_validate(
        {
            "email": {
                "host": "127.0.0.1",
                "port": smtp.server_address[1],
                "from": "millpond@example.org",
                "to": ["ops@example.org"],
                "username": "millpond",
                "password": "${TEST_SMTP_PASSWORD}",
            },
            "webhook": {
                "url": f"http://127.0.0.1:{http.server_address[1]}{path}",
                "headers": {"X-Token": "${TEST_HOOK_TOKEN}"},
            },
        }
    )


def test_event_goes_to_log_email_webhook_and_audit_without_the_credentials(
    workspace: Workspace,
    smtp_sink: Any,
    http_sink: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret-pw")
    monkeypatch.setenv("TEST_HOOK_TOKEN", "tok-123")
    out = notify(
        workspace, "churn", _spec(smtp_sink, http_sink), "promotion", reason="candidate beats champion", version="abc"
    )
    assert out["channels"] == {"email": "sent", "webhook": "sent"}
    (mail,) = smtp_sink.messages
    assert mail["auth"] == ("millpond", "s3cret-pw") and "ops@example.org" in mail["rcpt"][0]
    assert "Subject: [millpond] churn: promotion - candidate beats champion" in mail["data"]
    (hook,) = http_sink.received
    assert hook["body"]["event"] == "promotion" and hook["body"]["version"] == "abc" and hook["token"] == "tok-123"
    assert [e["event"] for e in read_events(workspace)] == ["notify.promotion"]
    (entry,) = AuditLog(workspace.model_store, "churn").entries()
    assert (
        entry.action == "notification"
        and entry.fields["event"] == "promotion"
        and entry.fields["channels"]["webhook"] == "sent"
    )
    for path in workspace.root.rglob("*.json*"):
        text = path.read_text()
        assert "s3cret-pw" not in text and "tok-123" not in text, path


def test_failing_channels_are_logged_and_never_raise(
    workspace: Workspace, smtp_sink: Any, http_sink: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_SMTP_PASSWORD", raising=False)
    monkeypatch.setenv("TEST_HOOK_TOKEN", "tok")
    out = notify(workspace, "churn", _spec(smtp_sink, http_sink, "/broken"), "failure", reason="stage train failed")
    assert "${TEST_SMTP_PASSWORD}, which is not set" in out["channels"]["email"]
    assert "HTTP Error 500" in out["channels"]["webhook"] or "HTTP 500" in out["channels"]["webhook"]
    failed = read_events(workspace, "notification_failed")
    assert sorted(e["channel"] for e in failed) == ["email", "webhook"]
    assert smtp_sink.messages == []


def test_unreachable_server_is_a_logged_failure(workspace: Workspace) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = NotifySpec.model_validate({"webhook": {"url": f"http://127.0.0.1:{port}/x", "timeout_seconds": 2}})
    out = notify(workspace, "churn", spec, "drift", reason="x")
    assert out["channels"]["webhook"].startswith("failed: Webhook http://127.0.0.1")
    assert read_events(workspace, "notification_failed")[0]["notified"] == "drift"


def test_the_events_log_survives_a_torn_last_line(workspace: Workspace) -> None:
    notify_event(workspace, "cycle_failed", window="2025-01")
    path = events_path(workspace)
    with open(path, "ab") as handle:
        handle.write(b'{"event": "gc", "ti')  # a process killed mid-append
    assert [e["event"] for e in read_events(workspace)] == ["cycle_failed"]  # reading skips it
    notify_event(workspace, "gc", removed=1)
    lines = path.read_bytes().splitlines(keepends=True)
    assert [json.loads(line)["event"] for line in lines] == ["cycle_failed", "gc"]  # the append cut it off
    assert read_events(workspace, "gc")[0]["removed"] == 1


def _no_secret_in(workspace: Workspace, *secrets: str) -> None:
    for path in workspace.root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert [s for s in secrets if s.encode() in data] == [], path


@pytest.mark.reliability("secret")
def test_webhook_userinfo_is_sent_as_basic_auth_and_never_written(
    workspace: Workspace, http_sink: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_HOOK_PASSWORD", "h00k-p@ss:w0rd")
    port = http_sink.server_address[1]
    spec = NotifySpec.model_validate({"webhook": {"url": f"http://hook:${{TEST_HOOK_PASSWORD}}@127.0.0.1:{port}/hook"}})
    assert notify(workspace, "churn", spec, "drift", reason="x")["channels"] == {"webhook": "sent"}
    (hook,) = http_sink.received
    assert hook["path"] == "/hook"
    assert base64.b64decode(hook["auth"].removeprefix("Basic ")).decode() == "hook:h00k-p@ss:w0rd"
    _no_secret_in(workspace, "h00k-p@ss:w0rd", "p@ss", hook["auth"].removeprefix("Basic "))


@pytest.mark.reliability("secret")
@pytest.mark.parametrize(
    "url",
    [
        "http://hook:${TEST_HOOK_PASSWORD}@127.0.0.1:notaport/hook",  # urllib: nonnumeric port
        "http://127.0.0.1:1/hook?token=${TEST_HOOK_PASSWORD}",  # refused connection, token in the query
        "http://hook:lit-Pw-0042@127.0.0.1:1/hook",  # a literal password
    ],
)
def test_a_failing_webhook_masks_its_credentials_in_every_message(
    workspace: Workspace, url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from millpond.config.secrets import forget_all

    forget_all()
    monkeypatch.setenv("TEST_HOOK_PASSWORD", "envPw-31337")
    spec = NotifySpec.model_validate(
        {"webhook": {"url": url, "timeout_seconds": 2, "headers": {"Authorization": "Bearer lit-bearer-77"}}}
    )
    out = notify(workspace, "churn", spec, "failure", reason="stage train failed")
    assert out["channels"]["webhook"].startswith("failed: Webhook http")
    (failed,) = read_events(workspace, "notification_failed")
    assert "***" in failed["error"] or "lit-" not in url
    for text in (out["channels"]["webhook"], failed["error"], caplog.text):
        assert "envPw-31337" not in text and "lit-Pw-0042" not in text and "lit-bearer-77" not in text
    _no_secret_in(workspace, "envPw-31337", "lit-Pw-0042", "lit-bearer-77")

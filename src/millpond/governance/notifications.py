"""Notifications on drift, retrain, promotion, rejection, approval, rollback and failure.

Every notification goes to ``logs/events.jsonl`` (:func:`millpond.governance.events.notify_event`)
and to the model's audit log; by SMTP e-mail and HTTP webhook too when ``notify``
in the params configures them. Credentials are ``${ENV_VAR}`` references expanded
only when sending, never written anywhere: every expanded value is remembered as a
secret (:func:`millpond.config.secrets.remember`) and masked in every message,
log line and record, exception text included. A webhook URL's userinfo
(``http://user:password@host/``) is sent as HTTP Basic authentication, never as
part of the host. A channel that fails is logged (an event ``notification_failed``
and an audit entry) and never fails the caller.
"""

from __future__ import annotations

import json
import logging
import os
import re
import smtplib
import urllib.request
from base64 import b64encode
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from millpond.config.params import EmailSpec, NotifySpec, WebhookSpec
from millpond.config.secrets import redact_text, remember
from millpond.errors import NotificationError
from millpond.governance.audit import AuditLog
from millpond.governance.events import notify_event
from millpond.workspace import Workspace

log = logging.getLogger(__name__)
EVENTS = ("drift", "retrain", "promotion", "rejection", "awaiting_approval", "approval", "rollback", "failure")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(text: str, what: str) -> str:
    """Replace ``${NAME}`` with the environment variable NAME; raise naming it when unset."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise NotificationError(
                f"{what} refers to ${{{name}}}, which is not set in the environment. Export {name} first."
            )
        remember([os.environ[name]])
        return os.environ[name]

    return _ENV.sub(value, text)


def _subject(use_case: str, event: str, fields: dict[str, Any]) -> str:
    detail = fields.get("summary") or fields.get("reason") or ""
    return f"[millpond] {use_case}: {event}" + (f" - {str(detail)[:120]}" if detail else "")


def send_email(spec: EmailSpec, subject: str, body: str) -> None:
    """Send one plain-text message through the configured SMTP server."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = spec.sender, ", ".join(spec.to), subject
    message.set_content(body)
    try:
        with smtplib.SMTP(spec.host, spec.port, timeout=spec.timeout_seconds) as smtp:
            if spec.starttls:
                smtp.starttls()
            if spec.username:
                password = expand_env(spec.password or "", "notify.email.password")
                smtp.login(expand_env(spec.username, "notify.email.username"), password)
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        text = f"E-mail to {', '.join(spec.to)} via {spec.host}:{spec.port} failed: {exc}"
        raise NotificationError(redact_text(text)) from None  # the cause may quote the credentials


def webhook_request(spec: WebhookSpec, payload: dict[str, Any]) -> urllib.request.Request:
    """The POST of ``payload`` to the webhook: ``${ENV}`` expanded, URL userinfo moved to a Basic auth header."""
    parts = urlsplit(expand_env(spec.url, "notify.webhook.url"))
    headers = {
        "Content-Type": "application/json",
        **{k: expand_env(v, f"notify.webhook.headers.{k}") for k, v in spec.headers.items()},
    }
    remember([v for k, v in headers.items() if k != "Content-Type"])
    if parts.username is not None or parts.password is not None:
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
        remember([password, f"{user}:{password}"])
        credentials = b64encode(f"{user}:{password}".encode()).decode("ascii")
        remember([credentials])
        headers.setdefault("Authorization", f"Basic {credentials}")
        host = parts.hostname or ""
        netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port is not None else "")
        parts = parts._replace(netloc=netloc)
    data = json.dumps(payload, default=str).encode()
    return urllib.request.Request(urlunsplit(parts), data=data, headers=headers, method="POST")


def send_webhook(spec: WebhookSpec, payload: dict[str, Any]) -> None:
    """POST ``payload`` as JSON to the webhook; a non-2xx answer is a failure (its message masks credentials)."""
    shown = redact_text(spec.url)
    try:
        request = webhook_request(spec, payload)
        with urllib.request.urlopen(request, timeout=spec.timeout_seconds) as response:
            status = response.status
    except (OSError, ValueError) as exc:  # ValueError: a malformed URL or port (http.client's InvalidURL)
        raise NotificationError(redact_text(f"Webhook {shown} failed: {exc}")) from None
    if not 200 <= status < 300:
        raise NotificationError(f"Webhook {shown} answered HTTP {status}")


def notify(
    ws: Workspace, use_case: str, spec: NotifySpec, event: str, *, actor: str = "millpond", **fields: Any
) -> dict[str, Any]:
    """Record ``event`` (events log + audit log) and send it by e-mail/webhook when configured; never raises for a channel."""
    payload = {"use_case": use_case, "event": event, **fields}
    notify_event(ws, f"notify.{event}", use_case=use_case, **fields)
    audit = AuditLog(ws.model_store, use_case)
    channels: dict[str, str] = {}
    wanted = spec.events is None or event in spec.events
    senders = []
    if wanted and spec.email is not None:
        email = spec.email
        body = json.dumps(payload, indent=2, sort_keys=True, default=str)
        senders.append(("email", lambda: send_email(email, _subject(use_case, event, fields), body)))
    if wanted and spec.webhook is not None:
        webhook = spec.webhook
        senders.append(("webhook", lambda: send_webhook(webhook, payload)))
    for channel, send in senders:
        try:
            send()
            channels[channel] = "sent"
        except Exception as exc:  # noqa: BLE001 - a notification never fails the cycle
            error = redact_text(str(exc))
            channels[channel] = f"failed: {error}"
            log.warning("notification %s by %s failed: %s", event, channel, error)
            notify_event(ws, "notification_failed", use_case=use_case, notified=event, channel=channel, error=error)
    try:
        audit.append(
            "notification",
            actor=actor,
            reason=str(fields.get("reason", "")),
            event=event,
            channels=channels,
            **{k: v for k, v in fields.items() if k != "reason"},
        )
    except Exception as exc:  # noqa: BLE001 - the events log still holds it
        log.warning("audit entry for notification %s failed: %s", event, exc)
    return {"event": event, "channels": channels}


def notify_failure(ws: Workspace, params_path: str | os.PathLike[str], use_case: str, window: str, error: str) -> None:
    """Notify a failed cycle (channels from the params when they validate, else the events log only); never raises."""
    from millpond.config.params import load_use_case
    from millpond.errors import MillpondError

    spec = NotifySpec()
    try:
        spec = load_use_case(ws.resolve(params_path)).notify
    except MillpondError:
        pass
    try:
        if (ws.model_store / use_case).is_dir():
            notify(ws, use_case, spec, "failure", window=window, reason=error.splitlines()[0] if error else "")
        else:  # no model folder (bad params, first window): no audit log to write to
            notify_event(ws, "notify.failure", use_case=use_case, window=window, error=error)
    except Exception as exc:  # noqa: BLE001 - never fails the caller
        log.warning("failure notification for %s %s failed: %s", use_case, window, exc)

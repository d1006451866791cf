"""Where alerts go: an incoming webhook (Slack, Discord's /slack, Mattermost: JSON
`{"text": …}`) and e-mail over SMTP. Each send is bounded by a timeout and never raises:
it returns None when delivered, else a one-line error with every secret masked.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

import httpx
from anyio import to_thread

from dmpilot.channels.http_send import (
    MAX_DETAIL,
    NOT_SENT,
    body_start,
    describe,
    scrub,
    secret_forms,
)
from dmpilot.domain.alerts import AlertMessage, AlertTarget
from dmpilot.settings import Settings


class AlertSender(Protocol):
    @property
    def target(self) -> AlertTarget: ...

    async def send(self, message: AlertMessage) -> str | None:
        """None when the target took the alert; otherwise why not (secrets masked)."""
        ...


@dataclass(frozen=True)
class WebhookSender:
    url: str
    timeout_seconds: float
    target: AlertTarget = AlertTarget.WEBHOOK

    async def send(self, message: AlertMessage) -> str | None:
        # The URL is the credential (Slack's, Discord's): never in an error text.
        forms = secret_forms([self.url, httpx.URL(self.url).path])
        try:
            async with httpx.AsyncClient(
                timeout=self.timeout_seconds, follow_redirects=False
            ) as client:
                response = await client.post(self.url, json={"text": message.text})
        except NOT_SENT as exc:
            return scrub(f"webhook not reached: {describe(exc)}", forms)[:MAX_DETAIL]
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            return scrub(f"no answer from the webhook: {describe(exc)}", forms)[:MAX_DETAIL]
        if response.is_success:
            return None
        return scrub(f"webhook answered {response.status_code}: {body_start(response)}", forms)[
            :MAX_DETAIL
        ]


@dataclass(frozen=True)
class EmailSender:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    timeout_seconds: float
    starttls: bool = True
    user: str | None = None
    password: str | None = None
    target: AlertTarget = AlertTarget.EMAIL

    async def send(self, message: AlertMessage) -> str | None:
        forms = secret_forms([self.password] if self.password else [])
        try:
            # smtplib blocks: a worker thread, so the event loop (and every turn) runs on.
            await to_thread.run_sync(self._send, message, abandon_on_cancel=True)
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            return scrub(f"SMTP {self.host}:{self.port}: {describe(exc)}", forms)[:MAX_DETAIL]
        return None

    def _send(self, message: AlertMessage) -> None:
        mail = EmailMessage()
        mail["Subject"] = message.title
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.recipients)
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = make_msgid(domain="dmpilot.local")
        mail.set_content(message.text)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.user and self.password:
                smtp.login(self.user, self.password)
            smtp.send_message(mail)


def senders_from(settings: Settings) -> list[AlertSender]:
    """The configured targets: none, the webhook, e-mail, or both."""
    found: list[AlertSender] = []
    timeout = settings.alert_timeout_seconds
    if settings.alert_webhook_url is not None:
        found.append(WebhookSender(settings.alert_webhook_url.get_secret_value(), timeout))
    if settings.alert_smtp_host and settings.alert_smtp_from and settings.alert_recipients:
        password = settings.alert_smtp_password
        found.append(
            EmailSender(
                settings.alert_smtp_host,
                settings.alert_smtp_port,
                settings.alert_smtp_from,
                tuple(settings.alert_recipients),
                timeout,
                starttls=settings.alert_smtp_starttls,
                user=settings.alert_smtp_user,
                password=password.get_secret_value() if password else None,
            )
        )
    return found


def describe_targets(settings: Settings) -> list[str]:
    """Where alerts go, safe to print: the webhook's host only, the SMTP server and recipients."""
    shown = []
    if settings.alert_webhook_url is not None:
        host = httpx.URL(settings.alert_webhook_url.get_secret_value()).host
        shown.append(f"webhook {host}")
    if settings.alert_smtp_host:
        shown.append(
            f"e-mail via {settings.alert_smtp_host}:{settings.alert_smtp_port} to "
            f"{', '.join(settings.alert_recipients)}"
        )
    return shown

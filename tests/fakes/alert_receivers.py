"""Where alerts go, faked on loopback: an incoming webhook (Slack's format: POST JSON
`{"text": …}`, answered `ok`) and an SMTP server (RFC 5321, with AUTH PLAIN and LOGIN).

Both record everything they receive, and can be told to fail or to hang, so tests see
what reached the operator and that a broken endpoint changes nothing else.

    with FakeWebhook().serve() as hook:          # hook.url
        hook.mode = "status:500"                  # or "ok", "hang"
    with FakeSMTP(users={"ops": "pw"}) as smtp:   # smtp.host, smtp.port, smtp.messages
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socketserver
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from fakes.anthropic_api import FakeServer

# -- the webhook ------------------------------------------------------------------------------


@dataclass
class FakeWebhook:
    """An incoming webhook. `mode`: ok (200 "ok"), status:<code>, hang (no answer for
    `hang_seconds`, or until reset)."""

    mode: str = "ok"
    hang_seconds: float = 30.0
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    _generation: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self, mode: str = "ok") -> None:
        with self._lock:
            self.requests.clear()
            self.mode = mode
            self._generation += 1

    @property
    def texts(self) -> list[str]:
        """The `text` of every alert received, whatever it was answered."""
        with self._lock:
            return [str((r["body"] or {}).get("text")) for r in self.requests]

    @contextlib.contextmanager
    def serve(self) -> Iterator[FakeWebhook]:
        with FakeServer(self.app()) as server:
            self.url = f"{server.url}/services/T000/B000/fake-secret-path"
            try:
                yield self
            finally:
                self.reset()  # release hanging handlers so uvicorn stops at once

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/services/{team}/{bot}/{secret}")
        async def receive(request: Request) -> Response:
            raw = await request.body()
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            with self._lock:
                self.requests.append(
                    {"body": body, "headers": dict(request.headers), "at": time.time()}
                )
                mode, generation = self.mode, self._generation
            if mode == "hang":
                deadline = time.monotonic() + self.hang_seconds
                while time.monotonic() < deadline and self._generation == generation:
                    await asyncio.sleep(0.02)
            if mode.startswith("status:"):
                return PlainTextResponse("invalid_payload", status_code=int(mode[7:]))
            if not isinstance(body, dict) or not isinstance(body.get("text"), str):
                return PlainTextResponse("no_text", status_code=400)  # as Slack answers
            return PlainTextResponse("ok")

        return app


# -- SMTP -------------------------------------------------------------------------------------


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage
    user: str | None  # who signed in, if anyone


class FakeSMTP:
    """An SMTP server on loopback. `users`: AUTH is offered and required; `mode`: ok,
    refuse (550 to MAIL), hang (accepts the connection, never greets)."""

    def __init__(self, users: dict[str, str] | None = None, mode: str = "ok") -> None:
        self.users = users or {}
        self.mode = mode
        self.messages: list[Mail] = []
        self.host = "127.0.0.1"
        self._stop = threading.Event()
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                fake._session(self.rfile, self.wfile)

        self.server = socketserver.ThreadingTCPServer((self.host, 0), Handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeSMTP:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def _session(self, rfile: Any, wfile: Any) -> None:
        def say(line: str) -> None:
            wfile.write(line.encode() + b"\r\n")
            wfile.flush()

        if self.mode == "hang":
            self._stop.wait(30)
            return
        say("220 fake.smtp ESMTP ready")
        sender, user = "", None
        recipients: list[str] = []
        while True:
            try:
                raw = rfile.readline()
            except (TimeoutError, OSError):
                return
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            argument = line[len(verb) :].strip()
            if verb in ("EHLO", "HELO"):
                if verb == "HELO" or not self.users:
                    say("250 fake.smtp")
                else:
                    say("250-fake.smtp")
                    say("250 AUTH PLAIN LOGIN")
            elif verb == "AUTH":
                user = self._auth(argument, rfile, say)
                if user is None:
                    say("535 5.7.8 authentication failed")
                else:
                    say("235 2.7.0 authenticated")
            elif verb == "MAIL":
                if self.users and user is None:
                    say("530 5.7.0 authentication required")
                elif self.mode == "refuse":
                    say("550 5.7.1 relaying denied")
                else:
                    sender, recipients = _address(argument), []
                    say("250 ok")
            elif verb == "RCPT":
                recipients.append(_address(argument))
                say("250 ok")
            elif verb == "DATA":
                say("354 end with <CRLF>.<CRLF>")
                body = _read_data(rfile)
                message = message_from_bytes(body, policy=policy.default)
                if isinstance(message, EmailMessage):
                    self.messages.append(Mail(sender, recipients, message, user))
                say("250 ok queued")
            elif verb == "RSET":
                sender, recipients = "", []
                say("250 ok")
            elif verb == "NOOP":
                say("250 ok")
            elif verb == "QUIT":
                say("221 bye")
                return
            else:
                say("502 5.5.2 command not implemented")

    def _auth(self, argument: str, rfile: Any, say: Any) -> str | None:
        mechanism, _, initial = argument.partition(" ")
        try:
            if mechanism.upper() == "PLAIN":
                if not initial:
                    say("334 ")
                    initial = rfile.readline().decode().strip()
                _, user, password = base64.b64decode(initial).decode().split("\0")
            elif mechanism.upper() == "LOGIN":
                say("334 " + base64.b64encode(b"Username:").decode())
                user = base64.b64decode(rfile.readline().strip()).decode()
                say("334 " + base64.b64encode(b"Password:").decode())
                password = base64.b64decode(rfile.readline().strip()).decode()
            else:
                return None
        except ValueError:
            return None
        return user if self.users.get(user) == password else None


def _address(argument: str) -> str:
    start, end = argument.find("<"), argument.find(">")
    return argument[start + 1 : end] if 0 <= start < end else argument


def _read_data(rfile: Any) -> bytes:
    lines = []
    while True:
        raw = rfile.readline()
        if not raw or raw in (b".\r\n", b".\n"):
            break
        lines.append(raw[1:] if raw.startswith(b"..") else raw)  # undo dot-stuffing
    return b"".join(lines)

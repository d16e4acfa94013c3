"""Sandbox: the e-mail side of notifications — an SMTP sink that accepts every message and keeps it.

``GET /_mail`` lists what was "sent" (once per Message-ID, with a count of repeats), ``DELETE /_mail`` forgets
it. The app always has a mailbox; :func:`start_smtp_sink` puts an SMTP server (aiosmtpd, in its own thread) in
front of one.
"""

from __future__ import annotations

import socket
from email import message_from_bytes, policy
from typing import Any

from aiosmtpd.controller import Controller
from flask import Blueprint

from sandbox.common import Service, attach_state

__all__ = ["Mailbox", "bp", "start_smtp_sink"]


class Mailbox(Service):
    """What was delivered, once per Message-ID: a message sent again under an id already delivered (a sender
    retrying after a lost answer) is accepted and not delivered twice, as a receiving system that deduplicates on
    Message-ID does; ``duplicates`` counts such repeats per id."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict[str, Any]] = []
        self.duplicates: dict[str, int] = {}

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook name
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        body = parsed.get_body(preferencelist=("plain",))
        message_id = str(parsed["Message-ID"] or "")
        with self.lock:
            if message_id and any(m["message_id"] == message_id for m in self.messages):
                self.duplicates[message_id] = self.duplicates.get(message_id, 0) + 1
                return "250 OK"
            self.messages.append({
                "from": envelope.mail_from, "to": list(envelope.rcpt_tos), "subject": str(parsed["Subject"]),
                "message_id": message_id, "body": body.get_content() if body is not None else "",
            })
        return "250 OK"

    def read(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.messages)

    def dump(self) -> dict[str, Any]:
        return {"messages": list(self.messages), "duplicates": dict(self.duplicates)}

    def clear(self) -> None:
        self.messages.clear()
        self.duplicates.clear()


bp = Blueprint("mail", __name__)
attach_state(bp, "mail", lambda app: Mailbox(), hook="/_mail")


def start_smtp_sink(host: str = "127.0.0.1", port: int = 0,
                    mailbox: Mailbox | None = None) -> tuple[Controller, Mailbox]:
    """Start the sink in its own thread, into ``mailbox`` (a new one by default); port 0 picks a free port
    (read it from controller.port)."""
    if port == 0:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
    mailbox = mailbox if mailbox is not None else Mailbox()
    controller = Controller(mailbox, hostname=host, port=port)
    controller.start()
    return controller, mailbox

"""An SMTP sink for the demo services: accepts every message and keeps it so tests and people can read it."""

from __future__ import annotations

import socket
import threading
from email import message_from_bytes, policy
from typing import Any

from aiosmtpd.controller import Controller


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook name
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        body = parsed.get_body(preferencelist=("plain",))
        with self.lock:
            self.messages.append({
                "from": envelope.mail_from, "to": list(envelope.rcpt_tos), "subject": str(parsed["Subject"]),
                "message_id": str(parsed["Message-ID"]), "body": body.get_content() if body is not None else "",
            })
        return "250 OK"

    def read(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.messages)

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()


def start_smtp_sink(host: str = "127.0.0.1", port: int = 0) -> tuple[Controller, Mailbox]:
    """Start the sink in its own thread; port 0 picks a free port (read it from controller.port)."""
    if port == 0:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname=host, port=port)
    controller.start()
    return controller, mailbox

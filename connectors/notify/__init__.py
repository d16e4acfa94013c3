"""Notifications: email over real SMTP (SMS over an HTTP gateway comes next)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any

from connectors.base import PermanentError, TransientError
from connectors.registry import Operation

PROVIDER = "notify"

SEND_PARAMS = {
    "type": "object",
    "required": ["to", "subject", "body", "message_id"],
    "properties": {
        "to": {"type": "string", "format": "email", "maxLength": 254, "pattern": "^[^@\\s]+@[^@\\s]+$"},
        "subject": {"type": "string", "minLength": 1, "maxLength": 255},
        "body": {"type": "string", "maxLength": 20000},
        "message_id": {"type": "string", "pattern": "^<[^<>@\\s]+@[^<>@\\s]+>$"},
    },
    "additionalProperties": False,
}
SEND_RESULT = {"type": "object", "required": ["message_id"], "properties": {"message_id": {"type": "string"}}}


class EmailSender:
    """One message per call; the Message-ID is the idempotency key a receiving system can deduplicate on."""

    def __init__(self, host: str, port: int, sender: str, timeout: float = 10.0) -> None:
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout

    def send_email(self, to: str, subject: str, body: str, message_id: str) -> dict[str, Any]:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = message_id
        message.set_content(body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentError(PROVIDER, "recipient_refused", "Máy chủ thư từ chối địa chỉ người nhận.") from exc
        except smtplib.SMTPResponseException as exc:
            kind = PermanentError if 500 <= exc.smtp_code < 600 else TransientError
            raise kind(PROVIDER, f"smtp_{exc.smtp_code}", "Máy chủ thư không nhận thư.") from exc
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            raise TransientError(PROVIDER, "smtp_unreachable", "Không kết nối được máy chủ thư.") from exc
        return {"message_id": message_id}

    def operations(self) -> list[Operation]:
        return [Operation(f"{PROVIDER}.send_email", "Gửi thư điện tử", SEND_PARAMS, SEND_RESULT, self.send_email)]

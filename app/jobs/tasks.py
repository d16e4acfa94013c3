"""The jobs themselves. Each takes ids, is idempotent, and commits its own work."""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Dossier, Notification
from app.models.dossier import STATUSES
from app.models.types import utcnow
from connectors.base import ConnectorError

log = logging.getLogger(__name__)


def notify_status_change(dossier_id: int, audit_event_id: int) -> int | None:
    """Compose the applicant's message for a status change and email it; a replayed job sends nothing twice."""
    existing = db.session.scalar(
        select(Notification).where(
            Notification.dossier_id == dossier_id, Notification.audit_event_id == audit_event_id
        )
    )
    if existing is not None:
        deliver(existing)
        return existing.id
    dossier = db.session.get(Dossier, dossier_id)
    event = db.session.get(AuditEvent, audit_event_id)
    if dossier is None or event is None or event.status_to is None:
        return None
    label = STATUSES[event.status_to]
    note = Notification(
        dossier_id=dossier.id,
        audit_event_id=event.id,
        channel="email" if dossier.applicant_email else "web",
        recipient=dossier.applicant_email,
        subject=f"Hồ sơ {dossier.code}: {label}",
        body=(
            f"Kính gửi {dossier.applicant_name or 'Ông/Bà'},\n"
            f"Hồ sơ {dossier.code} ({dossier.procedure_version.manifest['name']}) đã chuyển sang trạng thái "
            f"«{label}».{(' ' + event.note) if event.note else ''}\n"
            "Tra cứu tình trạng hồ sơ bằng mã số trên Cổng dịch vụ công."
        ),
    )
    db.session.add(note)
    db.session.commit()
    deliver(note)
    return note.id


def deliver(note: Notification) -> None:
    """Email a notification once; without email configured it stays on the dossier page only."""
    registry = current_app.extensions.get("motcua_connectors")
    if note.sent_at is not None or note.channel != "email" or not note.recipient or registry is None:
        return
    if "notify.send_email" not in registry.ids():
        return
    # The Message-ID is derived from the notification, so a retry after a lost answer is recognisable.
    message_id = f"<thong-bao-{note.id}@motcua>"
    try:
        registry.call("notify.send_email", {"to": note.recipient, "subject": note.subject, "body": note.body,
                                            "message_id": message_id})
    except ConnectorError as exc:
        log.warning("notification %s not sent: %s", note.id, exc.code)
        if exc.transient:
            raise  # rq tries the job again later (see RqDispatcher); the notification row is already there
        return
    note.sent_at = utcnow()
    db.session.commit()

"""The jobs themselves. Each takes ids, is idempotent, and commits its own work."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Dossier, Notification
from app.models.dossier import STATUSES


def notify_status_change(dossier_id: int, audit_event_id: int) -> int | None:
    """Compose the applicant's message for a status change; a replayed job changes nothing."""
    existing = db.session.scalar(
        select(Notification.id).where(
            Notification.dossier_id == dossier_id, Notification.audit_event_id == audit_event_id
        )
    )
    if existing is not None:
        return existing
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
    return note.id

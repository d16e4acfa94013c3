"""Notification jobs. Each takes ids, is idempotent, and commits its own work.

(The dossier's other jobs: app.jobs.service_calls, app.jobs.payments, app.jobs.portal.)"""

from __future__ import annotations

import logging
import unicodedata
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import gsm0338  # noqa: F401 - registers the "gsm03.38" codec
from flask import current_app
from sqlalchemy import and_, func, select, update

from app import formats
from app.dossiers.clock import local_tz, now_utc, retry_delays
from app.extensions import db
from app.jobs.queue import QUEUE_NOTIFICATIONS, enqueue_after_commit
from app.models import AuditEvent, Dossier, Notification
from app.models.dossier import FINAL_STATUSES, STATUSES
from connectors.base import ConnectorError

log = logging.getLogger(__name__)


def notify_status_change(dossier_id: int, audit_event_id: int) -> int | None:
    """Compose the applicant's message for a status change and deliver it; a replayed job sends nothing twice.

    The status change owes its notification until `AuditEvent.notified_at` is stamped (all delivered, or
    given up for good): a job lost on the way is found again by the sweeper (`sweep`).
    """
    existing = db.session.scalar(
        select(Notification).where(
            Notification.dossier_id == dossier_id, Notification.audit_event_id == audit_event_id
        )
    )
    if existing is not None:
        settle_delivery(existing)
        return existing.id
    dossier = db.session.get(Dossier, dossier_id)
    event = db.session.get(AuditEvent, audit_event_id)
    if dossier is None or event is None or event.status_to is None:
        return None
    label = STATUSES[event.status_to]
    tz = local_tz()
    note = Notification(
        dossier_id=dossier.id,
        audit_event_id=event.id,
        channel="email" if dossier.applicant_email else "web",
        recipient=dossier.applicant_email,
        subject=f"Hồ sơ {dossier.code}: {label}",
        body=(
            f"Kính gửi {dossier.applicant_name or 'Ông/Bà'},\n"
            f"Hồ sơ {dossier.code} ({dossier.procedure_version.manifest['name']}) đã chuyển sang trạng thái "
            f"«{label}».{(' ' + event.note_text) if event.note else ''}\n"
            + (f"Hẹn trả kết quả: {formats.local_datetime(dossier.appointment, tz)}.\n"
               if event.status_to not in FINAL_STATUSES else "")
            + f"Xem tình trạng hồ sơ: {status_link(dossier.code)}\n"
            "(hoặc đăng nhập Cổng dịch vụ công, mục «Hồ sơ của tôi»)."
        ),
        attempts=0,
    )
    db.session.add(note)
    db.session.commit()
    settle_delivery(note)
    return note.id


def settle_delivery(note: Notification) -> str:
    """Deliver what is still missing of a notification and record the outcome: "delivered" (the status change
    is stamped notified) or "retry" (the next try's time is kept on the notification, and its job queued)."""
    try:
        deliver(note)
    except ConnectorError:
        db.session.rollback()
        note = db.session.get(Notification, note.id, populate_existing=True) or note
        note.attempts += 1
        delays = retry_delays() or [60.0]
        delay = delays[min(note.attempts, len(delays)) - 1]  # then at the last pause, for as long as it takes
        note.next_attempt_at = now_utc() + timedelta(seconds=delay)
        job_id = f"notify-{note.dossier_id}-{note.audit_event_id}-r{note.attempts}"
        enqueue_after_commit(db.session, QUEUE_NOTIFICATIONS, notify_status_change, note.dossier_id,
                             note.audit_event_id, job_id=job_id, delay=delay, retry=False)
        db.session.commit()
        return "retry"
    note.next_attempt_at = None
    db.session.execute(update(AuditEvent).where(AuditEvent.id == note.audit_event_id).values(notified_at=now_utc()))
    db.session.commit()
    return "delivered"


def sweep(now: datetime, cutoff: datetime, limit: int) -> int:
    """The sweeper's source: status changes still owed a notification whose job was lost — never composed and
    older than `cutoff`, or composed and with its next try (or, with none set, its creation) before it."""
    due = db.session.execute(
        select(AuditEvent.id, AuditEvent.dossier_id)
        .outerjoin(Notification, and_(Notification.dossier_id == AuditEvent.dossier_id,  # its unique index
                                      Notification.audit_event_id == AuditEvent.id))
        .where(AuditEvent.status_to.is_not(None), AuditEvent.notified_at.is_(None),
               func.coalesce(Notification.next_attempt_at, Notification.created_at, AuditEvent.at) < cutoff)
        .order_by(AuditEvent.id).limit(limit)).all()
    for event_id, dossier_id in due:
        enqueue_after_commit(db.session, QUEUE_NOTIFICATIONS, notify_status_change, dossier_id, event_id,
                             job_id=f"notify-{dossier_id}-{event_id}", retry=False)
    return len(due)


def deliver(note: Notification) -> None:
    """Email a notification once, and text its short form once; unsent, it stays on the dossier page.

    Each channel is stamped when sent, so a retried job sends only what is missing; and each carries a key the
    receiver deduplicates on (Message-ID, ma_tin), so a send whose stamp was lost is not received twice. A
    transient failure of either is raised after both were tried.
    """
    pending: ConnectorError | None = None
    for send in (_deliver_email, deliver_sms):
        try:
            send(note)
        except ConnectorError as exc:
            pending = exc
    if pending is not None:
        raise pending


def _deliver_email(note: Notification) -> None:
    if note.channel != "email" or not note.recipient:
        return
    # The Message-ID is derived from the notification, so a retry after a lost answer is recognisable.
    _send(note, "sent_at", "notify.send_email", {"to": note.recipient, "subject": note.subject,
                                                 "body": note.body, "message_id": f"<thong-bao-{note.id}@motcua>"})


def _send(note: Notification, stamp: str, operation: str, params: dict[str, Any]) -> None:
    """Call `operation` unless `stamp` says it was done or it is not configured; stamp it once done.

    A permanent failure is logged and dropped (the message stays on the dossier page); a transient one is raised.
    """
    registry = current_app.extensions.get("motcua_connectors")
    if getattr(note, stamp) is not None or registry is None or operation not in registry.ids():
        return
    try:
        registry.call(operation, params)
    except ConnectorError as exc:
        log.warning("notification %s: %s failed: %s", note.id, operation, exc.code)
        if exc.transient:
            raise
        return
    setattr(note, stamp, now_utc())
    db.session.commit()


def status_link(code: str) -> str:
    """The dossier's public status page (no login needed; it shows nothing personal beyond a masked name)."""
    return f"{str(current_app.config['PUBLIC_URL']).rstrip('/')}/tra-cuu?{urlencode({'ma': code})}"


SMS_UNITS = 160  # one GSM-7 message


def _gsm7(text: str) -> str:
    """The text in the GSM 03.38 alphabet (unaccented; anything else becomes '?')."""
    return str(_unaccented(text).encode("gsm03.38", errors="replace").decode("gsm03.38"))


def sms_text(code: str, status: str, link: str) -> str:
    """The status change with its link as ONE GSM-7 SMS: the longest wording that fits 160 units (the link
    carries the dossier code, so the shortest keeps only the status), the status shortened as a last resort."""
    status = _gsm7(status)
    wordings = (f"MotCua: Ho so {code}: {status}. Xem: {link}", f"Ho so {code}: {status}. Xem: {link}",
                f"Ho so {code}: {status}. {link}", f"{status}: {link}")
    shortened = (f"{status[:cut]}: {link}" for cut in range(len(status) - 1, 0, -1))
    for wording in (*wordings, *shortened):
        text = _gsm7(wording)
        if len(text.encode("gsm03.38")) <= SMS_UNITS:
            return text
    return _gsm7(link)  # only a PUBLIC_URL longer than an SMS gets here


def _unaccented(text: str) -> str:
    """Vietnamese without diacritics: one GSM-7 SMS holds 160 characters, a Unicode one only 70."""
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def deliver_sms(note: Notification) -> None:
    """The status change as one SMS to the applicant's phone; the gateway dedupes by message id on a retry."""
    dossier = db.session.get(Dossier, note.dossier_id)
    if dossier is None or not dossier.applicant_phone:
        return
    status = note.subject.split(": ", 1)[-1]
    text = sms_text(dossier.code, status, status_link(dossier.code))
    _send(note, "sms_sent_at", "sms.send_sms", {"so_dien_thoai": dossier.applicant_phone, "noi_dung": text,
                                                "ma_tin": f"thong-bao-{note.id}"})

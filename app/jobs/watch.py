"""Deadline jobs (app.dossiers.watch): the sweep that warns and escalates, the officers' emails, the applicant's
apology message. Each takes ids, is idempotent, and commits its own work.

- `sweep` is the sweeper's `deadlines` source (app.subscriptions SWEEPS), run every SWEEP_INTERVAL seconds in one
  process at a time: it makes the notices now owed (watch.scan: exactly once, by their unique rows), and queues,
  after the sweeper's commit, the delivery of each — and again of any whose delivery job was lost — and the
  applicant's message of any apology still owed one.
- `deliver_notice` emails a notice to each of its recipients who has an email address (notify.send_email),
  stamping each one sent, so a repeated job sends nothing twice; the Message-ID is derived from the notice and
  the recipient. Without a mail connector, or without an address, the notice is still shown in the inbox and on
  the head's page, which read the notice rows.
- `notify_apology` composes the apology's message to the applicant and delivers it by email and SMS through the
  status notifications' own delivery (app.jobs.tasks.settle_delivery: stamps, retries, the sweeper's re-send).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, func, select

from app import formats
from app.dossiers import watch
from app.dossiers.clock import local_tz, now_utc, retry_delays
from app.extensions import db
from app.jobs.queue import QUEUE_NOTIFICATIONS, enqueue_after_commit
from app.jobs.tasks import settle_delivery, status_link
from app.models import AuditEvent, DeadlineNotice, Dossier, HumanTask, Notification, User
from app.models.watch import DOSSIER_OVERDUE, STEP_OVERDUE, WARNING
from connectors.base import ConnectorError

log = logging.getLogger(__name__)


def sweep(now: datetime, cutoff: datetime, limit: int) -> int:
    """The sweeper's source: notices made now, and deliveries owed whose job was lost; how many jobs it queued."""
    made = watch.scan(now, limit)
    ids = [n.id for n in made]
    ids += [i for i in watch.unsent(cutoff, limit) if i not in ids]
    for notice_id in ids:
        enqueue_after_commit(db.session, QUEUE_NOTIFICATIONS, deliver_notice, notice_id,
                             job_id=f"deadline-notice-{notice_id}", retry=False)
    owed = db.session.execute(
        select(AuditEvent.id, AuditEvent.dossier_id)
        .outerjoin(Notification, and_(Notification.dossier_id == AuditEvent.dossier_id,
                                      Notification.audit_event_id == AuditEvent.id))
        .where(AuditEvent.action == watch.APOLOGY, AuditEvent.notified_at.is_(None),
               func.coalesce(Notification.next_attempt_at, Notification.created_at, AuditEvent.at) < cutoff)
        .order_by(AuditEvent.id).limit(limit)).all()
    for event_id, dossier_id in owed:
        enqueue_after_commit(db.session, QUEUE_NOTIFICATIONS, notify_apology, dossier_id, event_id,
                             job_id=f"notify-{dossier_id}-{event_id}", retry=False)
    return len(ids) + len(owed)


# ---------------------------------------------------------------- officers


def _message(notice: DeadlineNotice) -> tuple[str, str]:
    """The email's subject and body, in Vietnamese (the platform's language for messages composed in jobs)."""
    tz = local_tz()
    dossier = notice.dossier
    due = formats.local_datetime(notice.due_at, tz)
    base = str(current_app.config["PUBLIC_URL"]).rstrip("/")
    task: HumanTask | None = notice.task
    if notice.kind == WARNING and task is not None:
        return (f"Sắp đến hạn: «{task.title}» — hồ sơ {dossier.code}",
                f"Công việc «{task.title}» của hồ sơ {dossier.code} ({dossier.applicant_name}) đến hạn xử lý lúc "
                f"{due}, còn chưa đến {watch.warning_hours().normalize()} giờ làm việc.\n"
                f"Xử lý: {base}/cong-viec/{task.id}\n")
    if notice.kind == STEP_OVERDUE and task is not None:
        holder = db.session.get(User, task.claimed_by_id) if task.claimed_by_id else None
        return (f"Quá hạn: «{task.title}» — hồ sơ {dossier.code}",
                f"Bước «{task.title}» của hồ sơ {dossier.code} đã quá hạn xử lý (hạn {due}); người xử lý: "
                f"{holder.full_name if holder is not None else 'chưa ai nhận'}.\n"
                f"Công việc của phòng: {base}/can-bo/phong\n")
    return (f"Hồ sơ quá hạn: {dossier.code}",
            f"Hồ sơ {dossier.code} ({dossier.procedure_version.manifest['name']}) đã quá hạn trả kết quả (hẹn "
            f"{due}) mà chưa giải quyết xong. Nếu hồ sơ sẽ trả muộn, cần gửi Phiếu xin lỗi và hẹn lại ngày trả kết "
            f"quả cho người nộp.\nHồ sơ: {base}/can-bo/ho-so/{dossier.code}\n")


def deliver_notice(notice_id: int) -> str:
    """Email the notice to each recipient not emailed yet: "sent", "retry" (a transient failure: tried again
    later) or "gone"."""
    notice = db.session.get(DeadlineNotice, notice_id)
    if notice is None:
        return "gone"
    if notice.sent_at is not None:
        return "sent"
    registry = current_app.extensions.get("motcua_connectors")
    can_mail = registry is not None and "notify.send_email" in registry.ids()
    subject, body = _message(notice)
    pending: ConnectorError | None = None
    for user_id in list(notice.recipients or []):
        if user_id in (notice.emailed or []):
            continue
        person = db.session.get(User, user_id)
        if can_mail and person is not None and person.email:
            try:
                registry.call("notify.send_email", {  # type: ignore[union-attr]
                    "to": person.email, "subject": subject, "body": f"Kính gửi {person.full_name},\n{body}",
                    "message_id": f"<han-{notice.kind}-{notice.id}-{user_id}@motcua>"})
            except ConnectorError as exc:
                log.warning("deadline notice %s to user %s: %s", notice.id, user_id, exc.code)
                if exc.transient:
                    pending = exc
                    continue
        notice.emailed = [*(notice.emailed or []), user_id]  # sent, or nothing to send it by: settled
        db.session.commit()
    if pending is not None:
        notice.attempts += 1
        delays = retry_delays() or [60.0]
        delay = delays[min(notice.attempts, len(delays)) - 1]
        notice.next_attempt_at = now_utc() + timedelta(seconds=delay)
        enqueue_after_commit(db.session, QUEUE_NOTIFICATIONS, deliver_notice, notice.id,
                             job_id=f"deadline-notice-{notice.id}-r{notice.attempts}", delay=delay, retry=False)
        db.session.commit()
        return "retry"
    notice.sent_at, notice.next_attempt_at = now_utc(), None
    db.session.commit()
    return "sent"


# ---------------------------------------------------------------- the applicant


def notify_apology(dossier_id: int, audit_event_id: int) -> int | None:
    """The apology's message to the applicant (email, and SMS through the same delivery), once."""
    existing = db.session.scalar(select(Notification).where(Notification.dossier_id == dossier_id,
                                                            Notification.audit_event_id == audit_event_id))
    if existing is not None:
        settle_delivery(existing)
        return existing.id
    dossier = db.session.get(Dossier, dossier_id)
    event = db.session.get(AuditEvent, audit_event_id)
    if dossier is None or event is None or event.action != watch.APOLOGY:
        return None
    params = event.note_params or {}
    tz = local_tz()
    new = formats.local_datetime(str(params.get("new_due_at") or dossier.appointment.isoformat()), tz)
    old = formats.local_datetime(str(params.get("old_due_at") or dossier.due_at.isoformat()), tz)
    day = datetime.fromisoformat(str(params.get("new_due_at"))).astimezone(tz).strftime("%d/%m/%Y") \
        if params.get("new_due_at") else new
    note = Notification(
        dossier_id=dossier.id, audit_event_id=event.id,
        channel="email" if dossier.applicant_email else "web", recipient=dossier.applicant_email,
        # The SMS says what follows the colon: the new date.
        subject=f"Hồ sơ {dossier.code}: Hẹn lại ngày trả kết quả {day}",
        body=(f"Kính gửi {dossier.applicant_name or 'Ông/Bà'},\n"
              f"{dossier.agency.name} xin lỗi Ông/Bà vì chưa trả kết quả hồ sơ {dossier.code} "
              f"({dossier.procedure_version.manifest['name']}) đúng hẹn ({old}).\n"
              f"Lý do: {params.get('reason') or event.note_text}\n"
              f"Ngày hẹn trả kết quả mới: {new}.\n"
              f"Phiếu xin lỗi và hẹn lại ngày trả kết quả, và tình trạng hồ sơ: {status_link(dossier.code)}\n"),
        attempts=0)
    db.session.add(note)
    db.session.commit()
    settle_delivery(note)
    return note.id


__all__ = ["DOSSIER_OVERDUE", "STEP_OVERDUE", "WARNING", "deliver_notice", "notify_apology", "sweep"]

"""Periodic procedures: the scheduler starts one dossier of the procedure's current version at each occurrence.

A procedure whose process begins with a timer start event (a monthly internal review) is run by its agency on a
schedule, not submitted by anyone (app.engine.schedule: which values, when the occurrences are). Its schedule is a
row per procedure (app.models.schedule), armed when such a version is deployed (app.procedures.schedules). The
sweeper's `periodic` source (app.subscriptions SWEEPS, every SWEEP_INTERVAL seconds, in one process at a time) calls
`start_due`, which takes each schedule whose `next_due_at` has come with FOR UPDATE SKIP LOCKED and, in the same
transaction as the schedule's advance, starts the dossier through the submission path (services.submit_dossier):

- an agency-internal dossier: no applicant (its applicant name is the agency's), channel SCHEDULED_CHANNEL, the
  start form's data empty (the upload checker refuses a periodic procedure whose start form requires a field);
- received at once (status 2, its appointment by the manifest's processing time from now), its code from the
  agency's counter like every dossier, its first user tasks in the officers' inbox, its first history entry
  «Hồ sơ được khởi tạo theo lịch định kỳ.» naming the occurrence.

Exactly once: a schedule row is taken under a row lock others skip and advanced (`last_occurrence_at`,
`next_due_at`) in the transaction that creates the dossier; a sweep that dies before its commit leaves the row as
it was, and the next sweep starts that occurrence then.

Missed occurrences (the platform was down across several): only the latest is started, once; the earlier ones are
counted (`missed`, and named in the dossier's history entry), not started. A periodic review that missed two months
needs one review now, not three at the same minute; the count says what was skipped.

A procedure without a current version, or whose current version is retired, starts nothing: its occurrences pass
(counted as missed) and the schedule waits for the next one. When the current version is no longer the one the
schedule was armed from (a version move), it follows the current version's timer, counted from its deployment.
Nothing here commits: the sweeper commits each source on its own.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from app.dossiers.clock import local_tz
from app.dossiers.services import SCHEDULED_CHANNEL, submit_dossier
from app.engine.schedule import ScheduleError, StartSchedule, due, start_schedule
from app.extensions import db
from app.models import AuditEvent, Dossier, Procedure, ProcedureVersion
from app.models.schedule import ProcedureSchedule
from app.models.user import N_

log = logging.getLogger(__name__)


def _timer_of(version: ProcedureVersion) -> tuple[str, str] | None:
    for info in (version.tasks or {}).values():
        if isinstance(info, dict) and info.get("kind") == "start" and isinstance(info.get("timer"), list):
            kind, value = info["timer"]
            return str(kind), str(value)
    return None


def _follow(row: ProcedureSchedule, current: ProcedureVersion | None) -> StartSchedule | None:
    """The series the row follows now: the current version's when it has a timer start (re-armed from it after a
    version move), else the row's own (its occurrences pass without a dossier)."""
    if current is not None and current.id != row.procedure_version_id:
        timer = _timer_of(current)
        if timer is not None:
            row.procedure_version_id = current.id
            row.timer_kind, row.timer_value, row.anchor_at = timer[0], timer[1], current.deployed_at
    try:
        return start_schedule(row.timer_kind, row.timer_value, row.anchor_at)
    except ScheduleError:
        return None


def start_due(now: datetime, cutoff: datetime, limit: int) -> int:
    """Sweeper source: start the dossiers of the periodic procedures whose occurrence has come (not `cutoff`: an
    occurrence is due at its time); how many dossiers were started."""
    rows = list(db.session.scalars(
        select(ProcedureSchedule).where(ProcedureSchedule.next_due_at <= now)
        .order_by(ProcedureSchedule.next_due_at, ProcedureSchedule.id).limit(limit)
        .with_for_update(skip_locked=True, of=ProcedureSchedule)).all())
    started = 0
    for row in rows:
        if _start_one(row, now) is not None:
            started += 1
    return started


def _start_one(row: ProcedureSchedule, now: datetime) -> Dossier | None:
    procedure = db.session.get(Procedure, row.procedure_id)
    current = procedure.current_version if procedure is not None else None
    series = _follow(row, current)
    if series is None:
        row.next_due_at = None
        return None
    plan = due(series, row.anchor_at, row.last_occurrence_at, now)
    row.next_due_at = plan.next
    if plan.latest is None:
        return None
    row.last_occurrence_at = plan.latest
    runnable = (current is not None and current.retired_at is None and current.id == row.procedure_version_id)
    if not runnable:
        row.missed += plan.missed + 1
        log.info("periodic procedure %s: occurrence %s passed without a current version", row.procedure_id,
                 plan.latest.isoformat())
        return None
    assert procedure is not None and current is not None
    dossier = submit_dossier(procedure.code, {}, applicant=None, channel=SCHEDULED_CHANNEL, at=now, received=True)
    submitted = db.session.scalar(select(AuditEvent).where(AuditEvent.dossier_id == dossier.id,
                                                           AuditEvent.action == "submitted"))
    if submitted is not None:
        if plan.missed:
            submitted.note = N_("Hồ sơ được khởi tạo theo lịch định kỳ (lần %(occurrence)s); %(missed)s lần trước "
                                "đó đã qua khi hệ thống ngừng hoạt động và không được khởi tạo.")
        else:
            submitted.note = N_("Hồ sơ được khởi tạo theo lịch định kỳ (lần %(occurrence)s).")
        submitted.note_params = {"occurrence": plan.latest.astimezone(local_tz()).strftime("%d/%m/%Y %H:%M"),
                                 "missed": plan.missed}
    row.last_dossier_id = dossier.id
    row.started += 1
    row.missed += plan.missed
    db.session.flush()
    return dossier


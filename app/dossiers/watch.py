"""Platform deadlines, for every procedure, without modelling: warnings, escalations and the apology letter.

The law sets every dossier's time and the platform gives every step its own (allottedTime, human_task.due_at), so
what follows from a deadline needs nothing from a designer (../shared/DOMAIN.md, "Deadlines"):

- **warning**: an open step (ready or claimed; not held while the clock is paused) due within DEADLINE_WARNING_HOURS
  working hours (default 4, counted with its agency's WorkingCalendar: nights, weekends and holidays do not count)
  warns the officer holding it, or, while nobody has taken it, the officers of its agency with its role;
- **escalation**: a step past its deadline, and a dossier past its appointment while not finished (statuses 1, 2
  and 4; a paused clock owes nothing), are escalated to the heads of department of the agency (HEAD_ROLE), with a
  history entry ("escalated") on the dossier;
- **apology** (Phiếu xin lỗi và hẹn lại ngày trả kết quả): the officer holding a late dossier, or the head, gives
  the applicant a new date and a reason (`apologise`); the dossier's appointment moves (Dossier.appointment_at)
  while its statutory deadline (Dossier.due_at) stays what lateness is judged by. Each apology is a history entry
  and publishes `events.dossier_apologised`: the document and the applicant's email and SMS are its hooks'.

Exactly once: a warning or escalation is a DeadlineNotice row, unique per (kind, step or dossier, due time); the
sweep (`scan`, the sweeper's `deadlines` source through app.jobs.watch) inserts it with ON CONFLICT DO NOTHING and
only the sweep whose INSERT made the row writes the history entry and gets the row back to deliver. Two sweeps at
once (a second waits on the first's uncommitted row, then finds it), a sweep after a restart, a repeated delivery
job: none notifies twice. A deadline that moves (a pause, an apology) is a new deadline, notified anew.

Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import current_app
from flask_babel import gettext
from sqlalchemy import and_, exists, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import joinedload

from app.dossiers import desk, events
from app.dossiers.access import HEAD_ROLE, desk_scope, head_scope
from app.dossiers.clock import local_tz, now_utc
from app.dossiers.deadlines import calendar_for
from app.dossiers.errors import Conflict, Forbidden, Invalid
from app.dossiers.progress import OPEN_TASK_STATES
from app.extensions import db
from app.models import Agency, AuditEvent, DeadlineNotice, Dossier, HumanTask, User
from app.models.user import ADMIN_ROLE, CITIZEN_ROLE, N_
from app.models.watch import DOSSIER_OVERDUE, STEP_OVERDUE, WARNING

DEFAULT_WARNING_HOURS = Decimal(4)  # DEADLINE_WARNING_HOURS
WATCHED_STATUSES = (1, 2, 4)  # a dossier whose clock runs and whose result is not ready
APOLOGY_FROM = frozenset({2, 4, 5, 6, 8})  # received, result not ready: a new date can still be promised
APOLOGY = "apology"  # the history entry's action
ESCALATED = "escalated"


def warning_hours() -> Decimal:
    """The warning window in working hours (config DEADLINE_WARNING_HOURS, default 4)."""
    raw = current_app.config.get("DEADLINE_WARNING_HOURS", DEFAULT_WARNING_HOURS)
    hours = Decimal(str(raw))
    return hours if hours >= 0 else DEFAULT_WARNING_HOURS


# ---------------------------------------------------------------- the sweep


def _insert(rows: list[dict[str, Any]]) -> dict[int, int]:
    """Insert these notices (one kind), each unless one exists for the same kind, subject and due time, in one
    statement; {subject (step or dossier id): notice id} of those this call made. The rows come in the order of
    their query (due time, id), the same in every sweep, so two sweeps waiting on each other's rows cannot
    deadlock."""
    if not rows:
        return {}
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    # Rows as parameters (executemany: batched into multi-row INSERTs by the driver layer, compiled once).
    stmt = (insert(DeadlineNotice).on_conflict_do_nothing()
            .returning(DeadlineNotice.id, DeadlineNotice.human_task_id, DeadlineNotice.dossier_id))
    with db.session.no_autoflush:
        made = db.session.execute(stmt, rows).all()
    return {int(task_id if task_id is not None else dossier_id): int(notice_id)
            for notice_id, task_id, dossier_id in made}


class _People:
    """The active officers of each agency, read once per sweep."""

    def __init__(self) -> None:
        self._by_agency: dict[int, list[User]] = {}

    def of(self, agency_id: int) -> list[User]:
        if agency_id not in self._by_agency:
            self._by_agency[agency_id] = list(db.session.scalars(
                select(User).where(User.agency_id == agency_id, User.active.is_(True)).order_by(User.id)))
        return self._by_agency[agency_id]

    def with_role(self, agency_id: int, role: str) -> list[int]:
        return [u.id for u in self.of(agency_id) if u.has_role(role)]


def _unnotified(kind: str, subject: Any, due: Any) -> Any:
    column = DeadlineNotice.human_task_id if kind != DOSSIER_OVERDUE else DeadlineNotice.dossier_id
    return ~exists().where(DeadlineNotice.kind == kind, column == subject, DeadlineNotice.due_at == due)


def _open_steps() -> list[Any]:
    return [HumanTask.state.in_(OPEN_TASK_STATES), HumanTask.role != CITIZEN_ROLE, HumanTask.due_at.is_not(None)]


def scan(now: datetime, limit: int) -> list[DeadlineNotice]:
    """The sweep: warn of the steps due soon, escalate the overdue steps and dossiers; the notices this call made
    (flushed, in the caller's transaction: deliver them after it commits)."""
    people = _People()
    made: list[int] = []
    made += _warn(now, limit, people)
    made += _escalate_steps(now, limit, people)
    made += _escalate_dossiers(now, limit, people)
    if not made:
        return []
    db.session.flush()
    return list(db.session.scalars(select(DeadlineNotice).where(DeadlineNotice.id.in_(made))
                                   .order_by(DeadlineNotice.id)))


def _warn(now: datetime, limit: int, people: _People) -> list[int]:
    window = warning_hours()
    agencies = list(db.session.scalars(select(HumanTask.agency_id).where(*_open_steps(), HumanTask.due_at > now)
                                       .distinct()))
    made: list[int] = []
    for agency_id in agencies:
        agency = db.session.get_one(Agency, agency_id)
        until = calendar_for(agency).add_working_hours(now, window)
        tasks = list(db.session.scalars(
            select(HumanTask).where(*_open_steps(), HumanTask.agency_id == agency_id, HumanTask.due_at > now,
                                    HumanTask.due_at <= until,
                                    _unnotified(WARNING, HumanTask.id, HumanTask.due_at))
            .order_by(HumanTask.due_at, HumanTask.id).limit(limit - len(made))))
        inserted = _insert([
            {"kind": WARNING, "dossier_id": t.dossier_id, "human_task_id": t.id, "agency_id": agency_id,
             "due_at": t.due_at, "created_at": now, "emailed": [], "attempts": 0,
             # the officer holding it, or, while nobody does, those who may take it
             "recipients": [t.claimed_by_id] if t.claimed_by_id is not None else people.with_role(agency_id, t.role)}
            for t in tasks])
        for task in tasks:
            if task.id in inserted:
                made.append(inserted[task.id])
                task.warned_due_at = task.due_at  # what the inbox shows, from the row it reads anyway
        if len(made) >= limit:
            break
    return made


def _escalate_steps(now: datetime, limit: int, people: _People) -> list[int]:
    tasks = list(db.session.scalars(
        select(HumanTask).where(*_open_steps(), HumanTask.due_at < now,
                                _unnotified(STEP_OVERDUE, HumanTask.id, HumanTask.due_at))
        .order_by(HumanTask.due_at, HumanTask.id).limit(limit)))
    inserted = _insert([{"kind": STEP_OVERDUE, "dossier_id": t.dossier_id, "human_task_id": t.id,
                         "agency_id": t.agency_id, "due_at": t.due_at, "created_at": now, "emailed": [],
                         "attempts": 0, "recipients": people.with_role(t.agency_id, HEAD_ROLE)} for t in tasks])
    made: list[int] = []
    for task in tasks:
        if task.id not in inserted:
            continue  # another sweep made it
        assert task.due_at is not None
        made.append(inserted[task.id])
        holder = db.session.get(User, task.claimed_by_id) if task.claimed_by_id else None
        db.session.add(AuditEvent(
            dossier_id=task.dossier_id, actor_id=None, actor_name="", action=ESCALATED, task_title=task.title[:500],
            status_to=None, step_due_at=task.due_at, outcome="", at=now,
            note=N_("Bước «%(task)s» quá hạn xử lý (hạn %(due_at)s, người xử lý: %(holder)s); đã báo lãnh đạo phòng."),
            note_params={"task": task.title, "due_at": task.due_at.isoformat(),
                         "holder": holder.full_name if holder is not None else "—"}))
    return made


def _escalate_dossiers(now: datetime, limit: int, people: _People) -> list[int]:
    appointment = func.coalesce(Dossier.appointment_at, Dossier.due_at)
    dossiers = list(db.session.scalars(
        select(Dossier).where(Dossier.status.in_(WATCHED_STATUSES), appointment < now,
                              _unnotified(DOSSIER_OVERDUE, Dossier.id, appointment))
        .order_by(appointment, Dossier.id).limit(limit)))
    inserted = _insert([{"kind": DOSSIER_OVERDUE, "dossier_id": d.id, "human_task_id": None,
                         "agency_id": d.agency_id, "due_at": d.appointment, "created_at": now, "emailed": [],
                         "attempts": 0, "recipients": people.with_role(d.agency_id, HEAD_ROLE)} for d in dossiers])
    made: list[int] = []
    for dossier in dossiers:
        if dossier.id not in inserted:
            continue
        due = dossier.appointment
        made.append(inserted[dossier.id])
        db.session.add(AuditEvent(
            dossier_id=dossier.id, actor_id=None, actor_name="", action=ESCALATED, task_title="", status_to=None,
            step_due_at=due, outcome="", at=now,
            note=N_("Hồ sơ quá hạn trả kết quả (hẹn %(due_at)s) mà chưa giải quyết xong; đã báo lãnh đạo phòng."),
            note_params={"due_at": due.isoformat()}))
    return made


def unsent(cutoff: datetime, limit: int) -> list[int]:
    """Notices whose delivery is still owed and whose job was lost: made, or last tried, before `cutoff`."""
    return list(db.session.scalars(
        select(DeadlineNotice.id).where(DeadlineNotice.sent_at.is_(None),
                                        func.coalesce(DeadlineNotice.next_attempt_at,
                                                      DeadlineNotice.created_at) < cutoff)
        .order_by(DeadlineNotice.id).limit(limit)))


# ---------------------------------------------------------------- what the inbox and the head's page show


def is_warned(task: HumanTask, now: datetime) -> bool:
    """Whether the step's officers were warned of its deadline as near, and it has not passed yet (the inbox's
    badge and notice: read from the task row, no statement of its own)."""
    return task.due_at is not None and task.warned_due_at == task.due_at and task.due_at >= now


@dataclass(frozen=True)
class OverdueDossier:
    dossier: Dossier
    apologies: int  # apology letters issued so far
    escalated: bool  # the heads were told for its current appointment


@dataclass(frozen=True)
class Escalations:
    steps: list[HumanTask]  # open steps past their deadline
    escalated_steps: set[int]  # of which the heads were told
    dossiers: list[OverdueDossier]  # running dossiers past their statutory deadline


def escalations(user: User, limit: int = 200) -> Escalations:
    """The head of department's list: the agency's overdue steps and dossiers; a dossier without an apology
    (apologies == 0) still owes the applicant one."""
    scope = head_scope(user)
    if not scope.everywhere and scope.agency_id is None:
        raise Forbidden(gettext("Chỉ lãnh đạo phòng xem được tải công việc của cơ quan."), code="desk_forbidden")
    agency_id = user.agency_id if not scope.everywhere else None
    now = now_utc()
    step_query = select(HumanTask).where(*_open_steps(), HumanTask.due_at < now)
    if agency_id is not None:
        step_query = step_query.where(HumanTask.agency_id == agency_id)
    steps = list(db.session.scalars(step_query.options(joinedload(HumanTask.dossier))
                                    .order_by(HumanTask.due_at, HumanTask.id).limit(limit)))
    escalated_steps = set(db.session.scalars(
        select(HumanTask.id).join(DeadlineNotice, and_(DeadlineNotice.human_task_id == HumanTask.id,
                                                       DeadlineNotice.kind == STEP_OVERDUE,
                                                       DeadlineNotice.due_at == HumanTask.due_at))
        .where(HumanTask.id.in_([t.id for t in steps])))) if steps else set()
    dossier_query = select(Dossier).where(Dossier.status.in_(WATCHED_STATUSES), Dossier.due_at < now)
    if agency_id is not None:
        dossier_query = dossier_query.where(Dossier.agency_id == agency_id)
    late = list(db.session.scalars(dossier_query.order_by(Dossier.due_at, Dossier.id).limit(limit)))
    ids = [d.id for d in late]
    counts: dict[int, int] = {int(row[0]): int(row[1]) for row in db.session.execute(
        select(AuditEvent.dossier_id, func.count()).where(AuditEvent.dossier_id.in_(ids), AuditEvent.action == APOLOGY)
        .group_by(AuditEvent.dossier_id))} if ids else {}
    told = set(db.session.scalars(
        select(DeadlineNotice.dossier_id).join(Dossier, Dossier.id == DeadlineNotice.dossier_id)
        .where(DeadlineNotice.kind == DOSSIER_OVERDUE, DeadlineNotice.dossier_id.in_(ids),
               DeadlineNotice.due_at == func.coalesce(Dossier.appointment_at, Dossier.due_at)))) if ids else set()
    return Escalations(steps, escalated_steps,
                       [OverdueDossier(d, counts.get(d.id, 0), d.id in told) for d in late])


def apologies_of(dossier: Dossier) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.dossier_id == dossier.id,
                                                            AuditEvent.action == APOLOGY)
                                   .order_by(AuditEvent.at, AuditEvent.id)))


# ---------------------------------------------------------------- the apology letter


def holds_late_dossier(user: User, dossier: Dossier) -> bool:
    """Who may apologise for the dossier: the officer holding one of its open (or held) steps — or, while nobody
    holds it, one who may take it —, its head of department, or an administrator."""
    if not desk_scope(user).allows(dossier):
        return False
    if user.has_role(ADMIN_ROLE) or head_scope(user).allows(dossier):
        return True
    steps = db.session.scalars(select(HumanTask).where(HumanTask.dossier_id == dossier.id,
                                                       HumanTask.state.in_((*OPEN_TASK_STATES, desk.HELD)),
                                                       HumanTask.role != CITIZEN_ROLE))
    return any(t.claimed_by_id == user.id or (t.claimed_by_id is None and user.has_role(t.role)) for t in steps)


def apologise(code: str, user: User, *, new_date: date, reason: str) -> AuditEvent:
    """Phiếu xin lỗi và hẹn lại ngày trả kết quả: promise the applicant the result by `new_date` (a local working
    day; the new appointment is its closing time), later than the current appointment, with the reason for the
    delay. The dossier's appointment moves; its statutory deadline does not. Its history entry is returned."""
    dossier = desk._locked_dossier(code)
    if not desk_scope(user).allows(dossier):
        raise Forbidden(gettext("Bạn không xử lý hồ sơ này nên không thể thực hiện thao tác này."),
                        code="desk_forbidden")
    if dossier.status not in APOLOGY_FROM:
        raise Conflict(gettext("Hồ sơ ở trạng thái «%(status)s» nên không thể hẹn lại ngày trả kết quả.",
                               status=dossier.status_label), code="status_conflict")
    if not holds_late_dossier(user, dossier):
        raise Forbidden(gettext("Chỉ người đang xử lý hồ sơ hoặc lãnh đạo phòng được gửi phiếu xin lỗi."),
                        code="desk_forbidden")
    reason = desk._reason(reason)
    calendar = calendar_for(dossier.agency)
    old = dossier.appointment
    tz = local_tz()
    if new_date <= old.astimezone(tz).date():
        message = gettext("Ngày hẹn mới phải sau ngày hẹn hiện tại (%(old)s).",
                          old=old.astimezone(tz).strftime("%d/%m/%Y"))
        raise Invalid(message, code="new_date_not_later", details={"/ngay_hen_moi": message})
    if not calendar.is_working_day(new_date):
        message = gettext("Ngày hẹn mới phải là ngày làm việc.")
        raise Invalid(message, code="new_date_day_off", details={"/ngay_hen_moi": message})
    new = calendar.closing_of(new_date)
    now = now_utc()
    if new <= now:
        message = gettext("Ngày hẹn mới phải sau thời điểm hiện tại.")
        raise Invalid(message, code="new_date_past", details={"/ngay_hen_moi": message})
    dossier.appointment_at = new
    event = desk._entry(dossier, user, APOLOGY,
                        note=N_("Xin lỗi và hẹn lại ngày trả kết quả: %(new_due_at)s (hẹn trước: %(old_due_at)s). "
                                "Lý do: %(reason)s"),
                        params={"new_due_at": new.isoformat(), "old_due_at": old.isoformat(), "reason": reason},
                        at=now)
    event.step_due_at = new
    desk._flush()
    events.publish(events.dossier_apologised, dossier=dossier, actor=user, reason=reason, old_due_at=old,
                   new_due_at=new, event=event)
    desk._flush()
    return event


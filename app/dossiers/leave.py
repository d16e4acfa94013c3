"""The leave calendar (lịch nghỉ phép): an officer away from one date to another, with a substitute.

An officer enters their own leave; the head of department (app.dossiers.access.head_scope) enters anyone's of the
agency. A leave runs from the start of its first day to the end of its last (local dates). When it begins, the
officer's claimed steps — held ones of paused dossiers included — move to the substitute (each step whose role the
substitute has; the others, and all of them without a substitute, go back to their role's pool), each move written
in the step's history (action "on_leave", with the receiver's id) and published as events.task_handed_over, as the
desk's hand-overs are. A leave that has begun when it is entered moves them at once, in the same transaction; a
later one is applied by the sweeper (`start_due_leaves`, registered in app.subscriptions.SWEEPS) when it begins:
each leave is taken under a row lock others skip and stamped `applied_at`, so it is applied exactly once whoever
sweeps. While it runs nothing is given to the officer automatically: a return does not re-open a step with them,
and nobody may delegate or reassign a step to them (app.dossiers.desk, via app.dossiers.absences). The steps do
not come back by themselves when the leave ends: the substitute holds them, or the head reassigns them.

A leave is taken back with `cancel_leave`: deleted before it begins, ended at once while it runs.

Refused, with a localized message: a last day before the first, a leave already over, a substitute who is the officer
themself, inactive, of another agency or away at the same time, a leave overlapping another of the same officer
(checked under a lock on the officer's row, so two entries racing cannot both pass), and anyone but the officer or
their head entering it. Nothing here commits.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app import audit, formats
from app.dossiers import events
from app.dossiers.absences import is_away
from app.dossiers.access import head_scope
from app.dossiers.clock import local_tz, now_utc
from app.dossiers.errors import Conflict, Forbidden, Invalid, NotFound
from app.extensions import db
from app.models import Agency, AuditEvent, HumanTask, OfficerLeave, User
from app.models.user import N_

ON_LEAVE = "on_leave"  # the history action (and task_handed_over kind) of a step moved because its holder is away
MOVED_STATES = ("claimed", "held")  # a held step (its dossier paused) keeps its holder too: it moves as well
REASON_MAX = 2000


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=local_tz())


def _heads(actor: User, agency_id: int | None) -> bool:
    scope = head_scope(actor)
    return scope.everywhere or (agency_id is not None and scope.agency_id == agency_id)


def _invalid(message: str, code: str, field: str) -> Invalid:
    return Invalid(message, code=code, details={field: message})


def _substitute(officer: User, substitute_id: int, starts_at: datetime, ends_at: datetime) -> User:
    if substitute_id == officer.id:
        raise _invalid(gettext("Người thay thế phải là một cán bộ khác, không phải người nghỉ."),
                       "substitute_self", "/nguoi_thay_the")
    person = db.session.get(User, substitute_id)
    if person is None or not person.active or not person.is_officer or person.agency_id != officer.agency_id:
        raise _invalid(gettext("Người thay thế phải là cán bộ đang làm việc tại cùng cơ quan."),
                       "substitute_invalid", "/nguoi_thay_the")
    busy = db.session.scalar(select(OfficerLeave.id).where(OfficerLeave.officer_id == person.id,
                                                           OfficerLeave.starts_at < ends_at,
                                                           OfficerLeave.ends_at > starts_at).limit(1))
    if busy is not None:
        raise _invalid(gettext("%(name)s cũng nghỉ trong thời gian này nên không thể làm người thay thế.",
                               name=person.full_name), "substitute_on_leave", "/nguoi_thay_the")
    return person


def record_leave(actor: User, officer_id: int, starts_on: date, ends_on: date, substitute_id: int | None = None,
                 reason: str = "") -> OfficerLeave:
    """Enter a leave of `officer_id` from `starts_on` to `ends_on` (local dates, both included). If it has begun,
    the officer's claimed steps move now (see the module's docstring)."""
    officer = db.session.scalar(select(User).where(User.id == officer_id).with_for_update()
                                .execution_options(populate_existing=True))
    if officer is None or (officer.id != actor.id and not _heads(actor, officer.agency_id)):
        if officer is not None and officer.agency_id == actor.agency_id:
            raise Forbidden(gettext("Chỉ lãnh đạo phòng được ghi lịch nghỉ cho cán bộ khác."), code="leave_forbidden")
        raise NotFound(gettext("Không tìm thấy cán bộ số %(id)s.", id=officer_id), code="officer_not_found")
    if not officer.is_officer or officer.agency_id is None:
        raise _invalid(gettext("Chỉ ghi lịch nghỉ cho cán bộ của một cơ quan."), "leave_not_officer", "/can_bo")
    if ends_on < starts_on:
        raise _invalid(gettext("Ngày kết thúc nghỉ phải cùng hoặc sau ngày bắt đầu."), "leave_dates", "/den_ngay")
    starts_at, ends_at = _start_of(starts_on), _start_of(ends_on + timedelta(days=1))
    now = now_utc()
    if ends_at <= now:
        raise _invalid(gettext("Kỳ nghỉ này đã kết thúc; không thể ghi lại."), "leave_past", "/den_ngay")
    substitute = _substitute(officer, substitute_id, starts_at, ends_at) if substitute_id is not None else None
    overlap = db.session.scalar(select(OfficerLeave).where(OfficerLeave.officer_id == officer.id,
                                                           OfficerLeave.starts_at < ends_at,
                                                           OfficerLeave.ends_at > starts_at)
                                .order_by(OfficerLeave.starts_at).limit(1))
    if overlap is not None:
        tz = local_tz()
        raise Conflict(gettext("%(name)s đã có lịch nghỉ từ %(from)s đến %(to)s, trùng với thời gian này.",
                               name=officer.full_name, **{"from": formats.local_date(overlap.starts_at, tz),
                                                          "to": formats.local_date(last_day(overlap), tz)}),
                       code="leave_overlap", details={"/tu_ngay": gettext("Trùng với một lịch nghỉ khác.")})
    leave = OfficerLeave(officer_id=officer.id, agency_id=officer.agency_id, starts_at=starts_at, ends_at=ends_at,
                         substitute_id=substitute.id if substitute is not None else None,
                         reason=(reason or "").strip()[:REASON_MAX], created_by_id=actor.id, created_at=now)
    db.session.add(leave)
    db.session.flush()
    audit.record(audit.LEAVE_ENTERED, actor=actor, agency=officer.agency, object_kind="officer_leave",
                 object_ref=leave.id, reason=leave.reason,
                 detail={"officer": officer.id, "from": starts_on.isoformat(), "to": ends_on.isoformat(),
                         "substitute": leave.substitute_id})
    if starts_at <= now:
        _apply(leave, actor, now)
    return leave


def cancel_leave(actor: User, leave_id: int) -> OfficerLeave | None:
    """Take a leave back (the officer, or their head): one not begun yet is deleted (None is answered); one running
    ends now — the officer is back at work, the steps already moved stay with whoever holds them."""
    entry = db.session.scalar(select(OfficerLeave).where(OfficerLeave.id == leave_id).with_for_update()
                              .execution_options(populate_existing=True))
    if entry is None or (entry.officer_id != actor.id and not _heads(actor, entry.agency_id)):
        if entry is not None and entry.agency_id == actor.agency_id:
            raise Forbidden(gettext("Chỉ lãnh đạo phòng được ghi lịch nghỉ cho cán bộ khác."), code="leave_forbidden")
        raise NotFound(gettext("Không tìm thấy lịch nghỉ số %(id)s.", id=leave_id), code="leave_not_found")
    now = now_utc()
    if entry.ends_at <= now:
        raise Conflict(gettext("Kỳ nghỉ này đã kết thúc."), code="leave_over")
    audit.record(audit.LEAVE_CANCELLED, actor=actor, agency=db.session.get(Agency, entry.agency_id),
                 object_kind="officer_leave", object_ref=entry.id,
                 detail={"officer": entry.officer_id, "begun": entry.starts_at <= now})
    if entry.starts_at > now:
        db.session.delete(entry)
        db.session.flush()
        return None
    entry.ends_at = now
    db.session.flush()
    return entry


def last_day(leave: OfficerLeave) -> datetime:
    """The leave's last day (its end is the start of the day after), for display."""
    return leave.ends_at - timedelta(microseconds=1)


def _apply(leave: OfficerLeave, actor: User | None, now: datetime) -> int:
    """Move the officer's claimed steps (to the substitute, or back to the pool); stamp the leave applied."""
    officer = db.session.get_one(User, leave.officer_id)
    substitute = db.session.get(User, leave.substitute_id) if leave.substitute_id else None
    if substitute is not None and (not substitute.active or substitute.agency_id != leave.agency_id
                                   or is_away(substitute.id, now)):
        substitute = None  # no longer able to take them: they go back to the pool
    tasks = list(db.session.scalars(
        select(HumanTask).where(HumanTask.claimed_by_id == officer.id, HumanTask.state.in_(MOVED_STATES))
        .options(joinedload(HumanTask.dossier)).order_by(HumanTask.id)
        .with_for_update(of=HumanTask).execution_options(populate_existing=True)).unique().all())
    for task in tasks:
        to = substitute if substitute is not None and substitute.has_role(task.role) else None
        _move(task, officer, to, leave, actor, now)
    leave.applied_at = now
    db.session.flush()
    return len(tasks)


def _move(task: HumanTask, officer: User, to: User | None, leave: OfficerLeave, actor: User | None,
          now: datetime) -> None:
    params: dict[str, object] = {"officer": officer.full_name, "reason": leave.reason, "task_id": task.id}
    if to is None:
        task.claimed_by_id, task.claimed_at = None, None
        if task.state == "claimed":
            task.state = "ready"
        note = N_("Trả công việc về nhóm vì %(officer)s nghỉ phép. %(reason)s")
    else:
        task.claimed_by_id, task.claimed_at = to.id, now
        note = N_("Chuyển cho %(to)s (người thay thế) vì %(officer)s nghỉ phép. %(reason)s")
        params.update({"to": to.full_name, "to_id": to.id})
    event = AuditEvent(dossier_id=task.dossier_id, actor_id=actor.id if actor else None,
                       actor_name=actor.full_name if actor else "", action=ON_LEAVE, task_title=task.title[:500],
                       outcome="", note=note, at=now, step_due_at=task.due_at)
    event.note_params = params
    db.session.add(event)
    db.session.flush()
    events.publish(events.task_handed_over, task=task, actor=actor, kind=ON_LEAVE, from_user=officer, to_user=to,
                   reason=leave.reason, event=event)


def start_due_leaves(now: datetime, cutoff: datetime, limit: int) -> int:
    """Sweeper source: the leaves that have begun and are not applied yet move their officers' steps; how many
    steps moved. A leave that ended before any sweep saw it is stamped with nothing to move."""
    due = list(db.session.scalars(
        select(OfficerLeave).where(OfficerLeave.applied_at.is_(None), OfficerLeave.starts_at <= now)
        .order_by(OfficerLeave.starts_at).limit(limit)
        .with_for_update(skip_locked=True, of=OfficerLeave)).all())
    moved = 0
    for leave in due:
        if leave.ends_at <= now:
            leave.applied_at = now
            continue
        moved += _apply(leave, None, now)
    return moved


def may_enter_for_others(actor: User) -> bool:
    return actor.agency_id is not None and _heads(actor, actor.agency_id)


def leaves_for(actor: User, now: datetime | None = None) -> list[OfficerLeave]:
    """The leaves running or to come that `actor` sees: the agency's for its head, their own for an officer."""
    now = now or now_utc()
    stmt = (select(OfficerLeave).where(OfficerLeave.ends_at > now)
            .options(joinedload(OfficerLeave.officer), joinedload(OfficerLeave.substitute))
            .order_by(OfficerLeave.starts_at, OfficerLeave.id))
    if may_enter_for_others(actor):
        stmt = stmt.where(OfficerLeave.agency_id == actor.agency_id)
    else:
        stmt = stmt.where(OfficerLeave.officer_id == actor.id)
    return list(db.session.scalars(stmt).all())


def leave_choices(actor: User) -> tuple[list[User], list[User]]:
    """Whose leave `actor` may enter (the agency's officers for its head, else themself) and who may substitute
    (the agency's active officers)."""
    if actor.agency_id is None or not actor.is_officer:
        return [], []
    colleagues = [u for u in db.session.scalars(select(User).where(User.agency_id == actor.agency_id,
                                                                   User.active.is_(True)).order_by(User.full_name))
                  if u.is_officer]
    return (colleagues if may_enter_for_others(actor) else [actor]), colleagues

"""Lateness attributed: for each step of a dossier, who held it, its due time, when it was done, on time or late,
and by how much WORKING time (the agency's WorkingCalendar) — the one computation the dossier's pages, the control
sheet (app.documents.content.control_content) and the statistics (via the `step_holding` table) share.

Who held a step comes from the history (AuditEvent): it is in its role's pool from its creation; a claim gives it to
the claimer; a release puts it back in the pool; a delegation, a reassignment or a move for leave (`to_id` in the
entry's parameters, else the name) gives it to the receiver; its completion ends it. Each change of hands splits the
holding, and each holding carries the part of the step's lateness that fell in it: the working time between the
step's due time and the holding's end, from whichever is later of the due time and the holding's start. A step
completed by an officer who never claimed it was held by that officer since it was last in the pool (they took it
from there); a step the platform gave back to an officer without a history entry (a return re-opens a step with the
officer who did it) is theirs from the moment it was given (its claimed_at). The history names a step by its title
inside the dossier, so entries are matched to a step by title within its lifetime (from its creation to its
completion): two steps of one dossier with the same title open at the same time would share their entries.

On time or late follows the control sheet's rule: a step is late when it was done (or, still open, is) after its due
moment; a step done by then is "before" or "on" time by its local date. Lateness in working time may be zero for a
late step (done at 17:30 with a due time of 17:00 — office time does not run after closing).

The statistics never load steps into Python: a completed step is written, once, as its holdings to `step_holding`
(`record_owed`, a sweeper source: a trigger lists each completed step in `lateness_owed` in the completion's own
statement), and `late_steps` groups that table in SQL by procedure, step, agency and officer over a period;
`overdue_open_steps` counts the open steps past their due time by their current holder, from human_task. Nothing
here commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, delete, func, select
from sqlalchemy.orm import joinedload

from app.dossiers.calendar import DUNG_HAN, QUA_HAN, TRONG_HAN, TRUOC_HAN, WorkingCalendar
from app.dossiers.clock import local_tz, now_utc
from app.dossiers.deadlines import calendar_for
from app.extensions import db
from app.models import Agency, AuditEvent, Dossier, HumanTask, LatenessOwed, Procedure, ProcedureVersion, StepHolding
from app.models import User as UserModel

# History actions that move a step between hands (app.dossiers.desk, app.dossiers.services, app.dossiers.leave).
CLAIMED = "claimed"
RELEASED = "released"
HANDED = frozenset({"delegated", "reassigned", "on_leave"})
COMPLETED = "completed"
HOLDING_ACTIONS = (CLAIMED, RELEASED, COMPLETED, *sorted(HANDED))
OPEN_STATES = ("ready", "claimed", "held")
_ZERO = timedelta(0)


@dataclass(frozen=True)
class Holding:
    """One officer's (or the pool's: officer_id None) holding of a step, and the part of its lateness in it."""

    officer_id: int | None
    officer_name: str
    held_from: datetime
    held_until: datetime
    late: timedelta  # working time of this holding past the step's due time

    @property
    def late_hours(self) -> Decimal:
        return _hours(self.late)


@dataclass(frozen=True)
class StepLateness:
    task: HumanTask
    due_at: datetime | None
    done_at: datetime | None  # None: still open
    verdict: str  # truoc_han | dung_han | qua_han (done), trong_han | qua_han (open), "" (no due time)
    late_by: timedelta  # working time past the due time (to now for an open step)
    holdings: list[Holding] = field(default_factory=list)

    @property
    def late(self) -> bool:
        return self.verdict == QUA_HAN

    @property
    def finished(self) -> bool:
        return self.done_at is not None

    @property
    def late_hours(self) -> Decimal:
        return _hours(self.late_by)

    @property
    def holder(self) -> Holding | None:
        """Who holds it now (an open step) or held it last (a done one); None if nobody ever did."""
        held = [h for h in self.holdings if h.officer_id is not None]
        return held[-1] if held else None

    @property
    def late_holders(self) -> list[Holding]:
        """The holdings the step's lateness fell in (those that lasted past its due time)."""
        return [h for h in self.holdings if self.due_at is not None and h.held_until > self.due_at]


def _hours(delta: timedelta) -> Decimal:
    return (Decimal(delta // timedelta(seconds=1)) / Decimal(3600)).quantize(Decimal("0.01"))


def verdict(done: datetime | None, due: datetime | None, now: datetime) -> str:
    """The control sheet's rule: late when done (or still open) after the due moment; else before / on time by
    the local date (done), or in time (open); "" without a due time."""
    if due is None:
        return ""
    if done is None:
        return QUA_HAN if now > due else TRONG_HAN
    if done > due:
        return QUA_HAN
    tz = local_tz()
    return TRUOC_HAN if done.astimezone(tz).date() < due.astimezone(tz).date() else DUNG_HAN


def shown_tasks(dossier_id: int) -> list[HumanTask]:
    """The steps the control sheet lists: every step in the order it was opened, but those cancelled before being
    done (a return cancels the step it leaves, a refusal the open ones)."""
    tasks = db.session.scalars(select(HumanTask).where(HumanTask.dossier_id == dossier_id)
                               .order_by(HumanTask.created_at, HumanTask.id))
    return [t for t in tasks if t.state != "cancelled" or t.completed_at is not None]


def _history(dossier_ids: Iterable[int]) -> dict[int, list[AuditEvent]]:
    ids = sorted(set(dossier_ids))
    out: dict[int, list[AuditEvent]] = {i: [] for i in ids}
    if not ids:
        return out
    for event in db.session.scalars(select(AuditEvent).where(
            AuditEvent.dossier_id.in_(ids), AuditEvent.action.in_(HOLDING_ACTIONS))
            .order_by(AuditEvent.at, AuditEvent.id)):
        out[event.dossier_id].append(event)
    return out


def _names(ids: Iterable[int | None]) -> dict[int, str]:
    known = {i for i in ids if i is not None}
    if not known:
        return {}
    return {row.id: row.full_name for row in db.session.execute(
        select(UserModel.id, UserModel.full_name).where(UserModel.id.in_(known)))}


def _receiver(event: AuditEvent, by_name: dict[str, int]) -> int | None:
    params = event.note_params or {}
    to_id = params.get("to_id")
    if isinstance(to_id, int):
        return to_id
    return by_name.get(str(params.get("to") or ""))  # entries written before they carried the receiver's id


def holdings_of(task: HumanTask, history: Sequence[AuditEvent], calendar: WorkingCalendar, now: datetime,
                names: dict[int, str]) -> list[Holding]:
    """The step's holdings, from its history entries (see the module's docstring)."""
    end = task.completed_at or now
    by_name = {name: uid for uid, name in names.items()}
    mine = [e for e in history if e.task_title == task.title and task.created_at <= e.at <= end
            and (e.note_params or {}).get("task_id", task.id) == task.id]
    spans: list[tuple[int | None, datetime, datetime]] = []
    holder: int | None = None
    since = task.created_at

    def switch(to: int | None, at: datetime) -> None:
        nonlocal holder, since
        at = max(at, since)
        if at > since:
            spans.append((holder, since, at))
        holder, since = to, at

    for event in mine:
        if event.action == COMPLETED:
            break
        if event.action == CLAIMED:
            switch(event.actor_id, event.at)
        elif event.action == RELEASED:
            switch(None, event.at)
        elif event.action in HANDED:
            switch(_receiver(event, by_name), event.at)
    expected = task.completed_by_id if task.completed_at is not None else task.claimed_by_id
    if expected is not None and holder != expected:
        if holder is None:
            holder = expected  # taken from the pool and done, or given back without an entry: theirs since
        else:
            switch(expected, task.claimed_at or since)
    spans.append((holder, since, max(end, since)))
    due = task.due_at
    out = []
    for officer, start, until in spans:
        late = calendar.working_time_between(max(start, due), until) if due is not None and until > due else _ZERO
        out.append(Holding(officer, names.get(officer, "") if officer is not None else "", start, until, late))
    return out


def _assess(task: HumanTask, history: Sequence[AuditEvent], calendar: WorkingCalendar, now: datetime,
            names: dict[int, str]) -> StepLateness:
    holdings = holdings_of(task, history, calendar, now, names)
    done = task.completed_at
    return StepLateness(task=task, due_at=task.due_at, done_at=done, verdict=verdict(done, task.due_at, now),
                        late_by=sum((h.late for h in holdings), _ZERO), holdings=holdings)


def _people(tasks: Iterable[HumanTask], history: Iterable[AuditEvent]) -> dict[int, str]:
    ids: set[int | None] = set()
    for t in tasks:
        ids |= {t.claimed_by_id, t.completed_by_id}
    for e in history:
        ids.add(e.actor_id)
        to_id = (e.note_params or {}).get("to_id")
        if isinstance(to_id, int):
            ids.add(to_id)
    names = _names(ids)
    for e in history:  # receivers named only in older entries: look their names up among the agency's people
        to = (e.note_params or {}).get("to")
        if e.action in HANDED and isinstance(to, str) and to and to not in names.values():
            for row in db.session.execute(select(UserModel.id, UserModel.full_name).where(UserModel.full_name == to)):
                names.setdefault(row.id, row.full_name)
    return names


def steps_of(dossier: Dossier, now: datetime | None = None) -> list[StepLateness]:
    """Each step of the dossier the control sheet lists (done or open), with who held it and how late it is."""
    now = now or now_utc()
    tasks = shown_tasks(dossier.id)
    history = _history([dossier.id])[dossier.id]
    names = _people(tasks, history)
    calendar = calendar_for(dossier.agency)
    return [_assess(t, history, calendar, now, names) for t in tasks]


# ---------------------------------------------------------------- the statistics' table


def record_steps(tasks: Sequence[HumanTask]) -> int:
    """Write the holdings of these completed steps to step_holding (replacing any written before); how many
    steps were written."""
    done = [t for t in tasks if t.completed_at is not None]
    if not done:
        return 0
    db.session.execute(delete(StepHolding).where(StepHolding.task_id.in_([t.id for t in done]))
                       .execution_options(synchronize_session=False))
    history = _history(t.dossier_id for t in done)
    procedure_of = {row.id: row.procedure_id for row in db.session.execute(
        select(Dossier.id, ProcedureVersion.procedure_id).join(ProcedureVersion,
                                                               ProcedureVersion.id == Dossier.procedure_version_id)
        .where(Dossier.id.in_({t.dossier_id for t in done})))}
    names = _people(done, [e for events in history.values() for e in events])
    rows = []
    for task in done:
        calendar = calendar_for(task.dossier.agency)
        step = _assess(task, history[task.dossier_id], calendar, task.completed_at or now_utc(), names)
        for h in step.holdings:
            rows.append(StepHolding(
                task_id=task.id, dossier_id=task.dossier_id, agency_id=task.agency_id,
                procedure_id=procedure_of[task.dossier_id], spec_name=task.spec_name, step_title=task.title[:500],
                lane=task.lane or "", officer_id=h.officer_id, officer_name=h.officer_name[:255],
                held_from=h.held_from, held_until=h.held_until, due_at=task.due_at, done_at=task.completed_at,
                late_seconds=int(h.late // timedelta(seconds=1)), step_late=step.late))
    db.session.add_all(rows)
    db.session.flush()
    return len(done)


def record_owed(now: datetime, cutoff: datetime, limit: int) -> int:
    """Sweeper source: the completed steps listed in lateness_owed get their holdings written, and are taken off
    the list, in the sweeper's transaction. Each listed step is taken under a row lock others skip, so two
    sweepers never write one twice. Answers how many steps were written (no job is enqueued)."""
    owed = list(db.session.scalars(select(LatenessOwed.task_id).order_by(LatenessOwed.task_id).limit(limit)
                                   .with_for_update(skip_locked=True)).all())
    if not owed:
        return 0
    tasks = list(db.session.scalars(select(HumanTask).where(HumanTask.id.in_(owed))
                                    .options(joinedload(HumanTask.dossier).joinedload(Dossier.agency))).all())
    written = record_steps(tasks)
    db.session.execute(delete(LatenessOwed).where(LatenessOwed.task_id.in_(owed))
                       .execution_options(synchronize_session=False))
    return written


def late_steps_query(start: datetime, end: datetime, agency_id: int | None = None) -> Select[*tuple[Any, ...]]:
    """Steps done in [start, end), grouped by procedure, step, agency and officer (NULL: time in the role's pool):
    how many steps each held, how many of those were late with the lateness in that holding, and the working
    time late (seconds). One SQL statement over step_holding; issue the indicators on it."""
    late_here = and_(StepHolding.step_late.is_(True), StepHolding.due_at.is_not(None),
                     StepHolding.held_until > StepHolding.due_at)
    stmt = (select(Procedure.code.label("procedure_code"), StepHolding.spec_name,
                   func.max(StepHolding.step_title).label("step_title"), StepHolding.agency_id,
                   Agency.code.label("agency_code"), StepHolding.officer_id,
                   func.max(StepHolding.officer_name).label("officer_name"),
                   func.count(func.distinct(StepHolding.task_id)).label("steps"),
                   func.count(func.distinct(StepHolding.task_id)).filter(late_here).label("late_steps"),
                   func.coalesce(func.sum(StepHolding.late_seconds), 0).label("late_seconds"))
            .join(Procedure, Procedure.id == StepHolding.procedure_id)
            .join(Agency, Agency.id == StepHolding.agency_id)
            .where(StepHolding.done_at >= start, StepHolding.done_at < end)
            .group_by(Procedure.code, StepHolding.spec_name, StepHolding.agency_id, Agency.code,
                      StepHolding.officer_id)
            .order_by(Procedure.code, StepHolding.spec_name, Agency.code, StepHolding.officer_id))
    if agency_id is not None:
        stmt = stmt.where(StepHolding.agency_id == agency_id)
    return stmt


@dataclass(frozen=True)
class LateGroup:
    procedure_code: str
    spec_name: str
    step_title: str
    agency_id: int
    agency_code: str
    officer_id: int | None
    officer_name: str
    steps: int
    late_steps: int
    late_seconds: int

    @property
    def late_hours(self) -> Decimal:
        return _hours(timedelta(seconds=self.late_seconds))


def late_steps(start: datetime, end: datetime, agency_id: int | None = None, *,
               late_only: bool = True) -> list[LateGroup]:
    """`late_steps_query` run: the groups (only those with a late step unless `late_only` is False)."""
    groups = [LateGroup(**row._asdict()) for row in db.session.execute(late_steps_query(start, end, agency_id))]
    return [g for g in groups if g.late_steps or not late_only]


def overdue_open_steps_query(at: datetime, agency_id: int | None = None) -> Select[*tuple[Any, ...]]:
    """Open steps (held ones included) past their due time at `at`, grouped by procedure, step, agency and their
    current holder (NULL: in the pool): their number. One SQL statement over human_task."""
    stmt = (select(Procedure.code.label("procedure_code"), HumanTask.spec_name, HumanTask.agency_id,
                   HumanTask.claimed_by_id.label("officer_id"), func.count().label("overdue_steps"))
            .join(Dossier, Dossier.id == HumanTask.dossier_id)
            .join(ProcedureVersion, ProcedureVersion.id == Dossier.procedure_version_id)
            .join(Procedure, Procedure.id == ProcedureVersion.procedure_id)
            .where(HumanTask.state.in_(OPEN_STATES), HumanTask.due_at.is_not(None), HumanTask.due_at < at)
            .group_by(Procedure.code, HumanTask.spec_name, HumanTask.agency_id, HumanTask.claimed_by_id)
            .order_by(Procedure.code, HumanTask.spec_name, HumanTask.agency_id, HumanTask.claimed_by_id))
    if agency_id is not None:
        stmt = stmt.where(HumanTask.agency_id == agency_id)
    return stmt

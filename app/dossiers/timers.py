"""The timer host: the BPMN timers of dossiers' workflows fire when they are due, each exactly once.

SpiffWorkflow fires nothing by itself (docs/design/timers.md). Every save of a workflow writes, in
`workflow_instance.next_due_at`, when its earliest armed timer is due (app.dossiers.workflow_runs); this module
fires the workflows whose time has come, one workflow per transaction, in the caller's transaction (the job,
app.jobs.timers, commits):

- `fire_next(now)` (PostgreSQL): picks the workflow due first with `SELECT … FOR UPDATE SKIP LOCKED`, so workers
  draining at the same time each take a different one and none waits on another;
- `due(now, limit)` + `fire(instance_id, now)` (any database; SQLite's embedded mode under the per-workflow lock
  app.dossiers.locks.exclusive, which the job takes): the same firing for one given workflow.

Firing one = under the row lock, re-read the row (still due?), load its run, let the engine fire what is due and run
on (`WorkflowRun.fire_timers`: refresh_timers + engine steps), apply the step as an officer's completion applies it
(app.dossiers.progress.apply_step: new tasks, cancelled ones, statuses, service calls, events, and one "timer fired"
history entry per timer), save (the next due time is recomputed). Exactly once: the effect is the committed document
in which the timer task is completed; two workers cannot commit a step from the same version (row lock while firing;
the optimistic `version` for every other writer), a worker that dies before its commit leaves the old row to be
fired again, and a restart loses nothing (the due times are in the database).

Clock pauses (`shift_for_pause`). While the desk pauses a dossier (supplement requested, processing stopped:
PAUSED_STATUSES) its timers wait. When it resumes (app.dossiers.desk, answer or resume), the timers that count the
dossier's time from when they were armed keep the time they had left when the pause began, so that an escalation
does not fire early because the applicant took a week to answer:

- a timeDate written with working_days()/working_hours() counts the agency's office time: it moves by the office
  time the pause took, on the agency's calendar — the appointment date's rule (WorkingCalendar.shift_for_pause), so a
  weekend or Tết inside the pause costs nothing;
- a timeDuration (PT4H, P2D) or a timeCycle counts elapsed time: it moves by the pause's elapsed length (moved by
  office time, a duration would lose the nights and weekends of the pause and fire early, or gain them and fire
  late); a cycle's next occurrence moves likewise, so a reminder does not catch up on every occurrence the pause
  held back;
- any other timeDate (a literal instant, a date from the dossier's data) is a point in time, not an amount of it:
  it never moves, and fires at the first pass after the resumption if it came due meanwhile;
- a timer that was already due when the pause began had nothing left to keep: it does not move.

Only the desk's pauses hold and move timers; a payment wait (status 6, set by the diagram) moves the appointment
(progress.set_status) but not the timers, which keep running through it as the diagram that set it drew them.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from app.dossiers.calendar import WorkingCalendar
from app.dossiers.deadlines import calendar_for
from app.dossiers.locks import locked
from app.dossiers.progress import apply_step, bundle_for, report_engine_fault
from app.dossiers.workflow_runs import WorkflowFinished, load_run, save_run
from app.engine.runtime import EngineError, TaskNotReady
from app.engine.timers import CALENDARS_KEY as CALENDARS_KEY
from app.engine.timers import WORKING, MovedTimer
from app.extensions import db
from app.models import AuditEvent, Dossier, WorkflowInstance
from app.models.user import N_

log = logging.getLogger(__name__)

PAUSED_STATUSES = (5, 8)  # the desk's pauses (app.dossiers.desk): supplement requested, processing stopped
DEFAULT_RETRY_SECONDS = 60.0  # TIMER_RETRY: a workflow whose firing failed, or moved nothing, is tried again then


def _retry_at(now: datetime) -> datetime:
    return now + timedelta(seconds=float(current_app.config.get("TIMER_RETRY", DEFAULT_RETRY_SECONDS)))


def due(now: datetime, limit: int) -> list[int]:
    """The workflows whose earliest timer is due at `now`, earliest first (at most `limit`)."""
    return list(db.session.scalars(
        select(WorkflowInstance.id).where(WorkflowInstance.next_due_at <= now)
        .order_by(WorkflowInstance.next_due_at, WorkflowInstance.id).limit(limit)))


def count_due(now: datetime, limit: int) -> int:
    return len(due(now, limit))


def fire_next(now: datetime) -> int | None:
    """Fire the workflow due first that no other worker is firing (PostgreSQL: FOR UPDATE SKIP LOCKED); its id, or
    None when nothing is left due. The caller commits."""
    instance_id = db.session.scalar(
        select(WorkflowInstance.id).where(WorkflowInstance.next_due_at <= now)
        .order_by(WorkflowInstance.next_due_at, WorkflowInstance.id).limit(1).with_for_update(skip_locked=True))
    if instance_id is None:
        return None
    fire(instance_id, now)
    return int(instance_id)


def fire(instance_id: int, now: datetime) -> bool:
    """Fire the due timers of one workflow, in the caller's transaction, under its row lock; whether a step was
    taken (False: not due any more, finished, or the engine failed before changing anything)."""
    instance = locked(WorkflowInstance, instance_id)
    if instance is None or instance.next_due_at is None or instance.next_due_at > now:
        return False  # fired by someone else meanwhile, or moved
    if instance.completed:
        instance.next_due_at = None
        return False
    dossier = instance.dossier
    if dossier.status in PAUSED_STATUSES:
        # The desk paused the dossier (supplement requested, processing stopped): its steps are held and its
        # clock stands still, so its timers wait too; they fire at the first pass after it resumes.
        instance.next_due_at = _retry_at(now)
        return False
    version = dossier.procedure_version
    fault: EngineError | None = None
    try:
        run = load_run(instance, bundle_for(version))
        step = run.fire_timers()
    except (WorkflowFinished, TaskNotReady):
        instance.next_due_at = None
        return False
    except EngineError as exc:
        if exc.step is None:  # nothing changed: the workflow stays as it was, tried again later
            log.warning("timers of workflow %s could not fire: %s (%s)", instance_id, exc.message, exc.detail)
            instance.next_due_at = _retry_at(now)
            return False
        step, fault = exc.step, exc
    apply_step(dossier, version, step, None, run=run)
    save_run(instance, run, step.completed)
    if instance.next_due_at is not None and instance.next_due_at <= now:
        # Still due after firing (the engine's due test disagrees with the stored time, or a cycle with more
        # missed occurrences than one step fires): later, not in a loop.
        instance.next_due_at = _retry_at(now)
    db.session.flush()
    if fault is not None:
        report_engine_fault(dossier, fault, None)
    return True


def calendar_of(dossier_code: str) -> WorkingCalendar | None:
    """The working calendar of the agency handling the dossier with this code (working_days() in a timer)."""
    with db.session.no_autoflush:
        dossier = db.session.scalar(select(Dossier).where(Dossier.code == dossier_code))
    return calendar_for(dossier.agency) if dossier is not None else None


def shift_for_pause(dossier: Dossier, paused_from: datetime, resumed_at: datetime) -> list[MovedTimer]:
    """The dossier resumes after a pause from `paused_from`: move its workflow's waiting timers by the rule above,
    in the caller's transaction, under the workflow's row lock (a drain firing it waits, then reads the moved row);
    the timers moved. The workflow is saved only if a timer moved; its `next_due_at` is recomputed either way (a
    drain postponed it by TIMER_RETRY while the dossier was paused)."""
    if dossier.workflow is None or dossier.workflow.completed or resumed_at <= paused_from:
        return []
    instance = locked(WorkflowInstance, dossier.workflow.id)
    if instance is None or instance.completed:
        return []
    calendar = calendar_for(dossier.agency)
    elapsed = resumed_at - paused_from

    def move(due: datetime, measure: str) -> datetime | None:
        if due <= paused_from:  # due before the pause: nothing was left to keep
            return None
        if measure == WORKING:
            return calendar.shift_for_pause(due, paused_from, resumed_at)
        return due + elapsed

    try:
        run = load_run(instance, bundle_for(dossier.procedure_version))
    except (WorkflowFinished, TaskNotReady):
        return []
    moved = run.move_timers(move)
    if moved:
        save_run(instance, run, False)
        for timer in moved:  # officers see where the escalation went (internal: INTERNAL_ACTIONS)
            db.session.add(AuditEvent(
                dossier_id=dossier.id, actor_id=None, actor_name="", action="timer_moved",
                task_title=timer.name[:500], status_to=None,
                note=N_("Hẹn giờ «%(timer)s» được dời từ %(was_at)s đến %(due_at)s vì hồ sơ đã tạm dừng."),
                note_params={"timer": timer.name, "was_at": timer.was_due.isoformat(),
                             "due_at": timer.due.isoformat()},
                step_due_at=timer.due, outcome="", at=resumed_at))
    else:
        due_at = run.next_due_at()
        if instance.next_due_at != due_at:
            instance.next_due_at = due_at
    return moved

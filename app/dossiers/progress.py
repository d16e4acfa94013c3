"""How a dossier moves: apply what the engine did to the projections, set statuses, publish what happened.

This is the one module that writes a dossier's status and its open work (human tasks, service calls) after
the engine ran. It publishes events (app.dossiers.events) and leaves their consequences — the portal
snapshot, refunds, notifications, jobs, incidents — to the hooks app.subscriptions connects. Everything runs
in the caller's transaction; the caller commits.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.dossiers import events
from app.dossiers.calendar import WorkingCalendar, classify_finished
from app.dossiers.clock import local_tz, now_utc
from app.dossiers.components import received_components
from app.dossiers.deadlines import appointment, calendar_for
from app.engine.expressions import ExpressionError, evaluate
from app.engine.runtime import EngineError, ReadyTask, SpecBundle, StepResult, WorkflowRun, get_bundle
from app.extensions import db
from app.models import Agency, AuditEvent, Dossier, HumanTask, ProcedureVersion, ServiceCall, User
from app.models.dossier import FINAL_STATUSES, PAUSING_STATUSES, STATUSES, inbox_keys
from app.models.dossier import OPEN_CALL_STATES as OPEN_CALL_STATES
from app.models.dossier import OPEN_TASK_STATES as OPEN_TASK_STATES
from app.models.user import N_

_log = logging.getLogger(__name__)


def bundle_for(version: ProcedureVersion) -> SpecBundle:
    """The version's parsed specs; its BPMN text is read from the database only on a cache miss (without an
    autoflush: a deployed version's text does not depend on what the transaction has pending)."""
    return get_bundle(version.content_hash, lambda: _bpmn_files(version), version.process_id)


def _bpmn_files(version: ProcedureVersion) -> dict[str, str]:
    with db.session.no_autoflush:
        return version.bpmn_files


_OPEN = "motcua_open_tasks"  # session.info: (transaction, {dossier id: its tasks open after apply_step, in it})


def _left_open() -> dict[int, list[HumanTask]]:
    """The tasks apply_step left open, per dossier, in the session's current transaction (another transaction,
    or a rollback to a savepoint, starts afresh)."""
    current = db.session().get_transaction()
    held = db.session.info.get(_OPEN)
    if held is None or held[0] is not current:
        held = (current, {})
        db.session.info[_OPEN] = held
    memo: dict[int, list[HumanTask]] = held[1]
    return memo


@event.listens_for(Session, "after_soft_rollback")
def _forget_open(session: Session, previous_transaction: Any) -> None:
    session.info.pop(_OPEN, None)


def open_tasks(dossier: Dossier) -> list[HumanTask]:
    """The dossier's open tasks by id. After apply_step in this transaction (tasks are made only there), they are
    the ones it left open that still are: an answer built right after a step reads nothing again."""
    known = _left_open().get(dossier.id)
    if known is not None and all(t.id is not None for t in known):
        return sorted((t for t in known if t.state in OPEN_TASK_STATES), key=lambda t: t.id)
    return list(db.session.scalars(
        select(HumanTask).where(HumanTask.dossier_id == dossier.id, HumanTask.state.in_(OPEN_TASK_STATES))
        .order_by(HumanTask.id)
    ).all())


def set_status(dossier: Dossier, status: int, actor: User | None, note: str = "", task_title: str = "", *,
               note_params: dict[str, Any] | None = None) -> None:
    """Move the dossier to `status` (a TrangThaiHoSo value): its clock (receipt, pauses, end), its history entry,
    and `status_changed` for whoever reacts to it."""
    if status not in STATUSES:
        raise ValueError(f"status {status} is not a TrangThaiHoSo value")
    old = dossier.status
    if old == status:
        return
    at = now_utc()
    if old in PAUSING_STATUSES and status not in PAUSING_STATUSES and dossier.paused_at is not None:
        calendar = calendar_for(dossier.agency)
        dossier.due_at = calendar.shift_for_pause(dossier.due_at, dossier.paused_at, at)
        if dossier.appointment_at is not None:  # an apology's new date moves with the pause as well
            dossier.appointment_at = calendar.shift_for_pause(dossier.appointment_at, dossier.paused_at, at)
        dossier.paused_at = None
    if status in PAUSING_STATUSES and dossier.paused_at is None:
        dossier.paused_at = at
    if status == 2 and dossier.received_at is None:
        # The legal time runs from receipt, not from the online submission: set the appointment anew (computed
        # first: reading the calendar then flushes nothing, and the dossier is written in one UPDATE).
        due = appointment(dossier.procedure_version.manifest, dossier.agency, at, dossier.channel)
        dossier.received_at, dossier.due_at = at, due
        _record_digitization(dossier)
    if status in (3, 9) and dossier.finished_at is None:
        dossier.finished_at = at
    if status == 10:
        dossier.returned_at = at
        dossier.finished_at = dossier.finished_at or at
    if status in (9, 10) and dossier.finished_verdict is None and dossier.finished_at is not None:
        dossier.finished_verdict = classify_finished(dossier.due_at, dossier.finished_at, local_tz())
    if status == 7 and dossier.withdrawn_at is None:
        dossier.withdrawn_at = at
    dossier.status = status
    event = AuditEvent(
        dossier_id=dossier.id, actor_id=actor.id if actor else None,
        actor_name=actor.full_name if actor else "", action="status",
        task_title=task_title, status_from=old, status_to=status, note=note, at=at,
        outcome="",  # given, not left to the column defaults: inserted in one batch with the step's entry
    )
    if note_params is not None:  # a platform message (app.dossiers.desk): rendered in the reader's language
        event.note_params = note_params
    db.session.add(event)  # inserted with the step's other rows (a job that needs its id reads it at commit)
    events.publish(events.status_changed, dossier=dossier, old=old, new=status, actor=actor, event=event)


def _record_digitization(dossier: Dossier) -> None:
    """At reception, for the digitization indicator (QĐ 766): the components the dossier holds and how many are
    digitized, as the national portal is told (app.dossiers.portal_sync): everything of an online dossier, and the
    components of a walk-in one the desk scanned and uploaded. Without an autoflush: what the step has pending is
    written with its other rows (app.dossiers.rows), not by the unit of work here."""
    with db.session.no_autoflush:
        held = received_components(dossier)
    online = dossier.channel == 2
    dossier.components_held = len(held)
    dossier.components_digitized = sum(1 for item in held if online or item["uploaded"])


def status_property(props: Mapping[str, str]) -> int | None:
    """The status a task or end event declares (`dossierStatus`, validated 1..10 at deploy)."""
    raw = props.get("dossierStatus")
    return None if raw is None else int(raw)


def _allotted_hours(props: Mapping[str, str], calendar: WorkingCalendar) -> Decimal | None:
    raw = props.get("allottedTime")
    if raw is None:
        return None
    try:
        days = Decimal(str(raw))
    except InvalidOperation:
        return None
    return days * Decimal(str(calendar.office_hours.hours_per_day))


RESULT_READY = 9  # Đã xử lý xong: the step that returns the result opens (designer's guide §6)


def declared_results(manifest: Mapping[str, Any], data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """procedure.json `results` evaluated over a step's data: each result's title, agency (a pool's name) and the
    values its expressions give (a value that cannot be computed, or is empty, is left out; so is a result left
    with none)."""
    shown: list[dict[str, Any]] = []
    for result in manifest.get("results") or []:
        fields = []
        for item in result.get("fields") or []:
            try:
                value = evaluate(str(item.get("value") or ""), data)
            except ExpressionError:
                continue
            if value not in (None, "", [], {}):
                fields.append({"label": str(item.get("label") or ""), "value": value if isinstance(
                    value, str | int | float | bool) else json.dumps(value, ensure_ascii=False)})
        if fields:
            shown.append({"title": str(result.get("title") or ""), "agency": str(result.get("agency") or ""),
                          "fields": fields})
    return shown


def apply_step(dossier: Dossier, version: ProcedureVersion, step: StepResult, actor: User | None, *,
               created: bool = False, loaded: bool = False, run: WorkflowRun | None = None) -> None:
    """Bring the projections in line with the workflow after the engine ran. `created`: the dossier was created
    in this transaction, so it has no open tasks or service calls yet to read; `loaded`: its open tasks and calls
    were loaded with it in this transaction (`open_tasks_loaded`, `open_calls_loaded`), before the engine ran."""
    calls: list[ServiceCall] | None = [] if created else None
    if created:
        waiting: list[HumanTask] = []
    elif loaded:  # a task completed since then is no longer open (its state was set on the loaded object)
        waiting = [t for t in dossier.open_tasks_loaded if t.state in OPEN_TASK_STATES]
        calls = [c for c in dossier.open_calls_loaded if c.state in OPEN_CALL_STATES]
        # Read once: what this step changes is not in them, so a later use in this transaction reads afresh.
        db.session.expire(dossier, ["open_tasks_loaded", "open_calls_loaded"])
    else:
        waiting = open_tasks(dossier)
    ready_ids = {t.id for t in step.ready}
    for stale in waiting:
        if stale.engine_task_id not in ready_ids:
            stale.state = "cancelled"
    known = {t.engine_task_id for t in waiting}
    calendar = calendar_for(dossier.agency)
    now = now_utc()
    left_open = [t for t in waiting if t.state in OPEN_TASK_STATES]
    for ready in step.ready:
        if ready.id in known:
            continue
        info = version.tasks.get(ready.spec_name, {})
        hours = _allotted_hours(ready.properties, calendar)
        task = HumanTask(
            # A step's agency: an instance's assignedAgency, else its pool's (an inter-agency procedure's
            # task table), else the dossier's.
            dossier_id=dossier.id, agency_id=_agency_of(ready, dossier, info.get("agency_id")),
            engine_task_id=ready.id,
            spec_name=ready.spec_name, title=ready.title, lane=ready.lane or "",
            role=info.get("role") or "", form=info.get("form"), state="ready", created_at=now,
            due_at=calendar.add_working_hours(now, hours) if hours is not None else None, **inbox_keys(dossier),
        )
        db.session.add(task)
        left_open.append(task)
        status = status_property(ready.properties)
        if status is not None:
            set_status(dossier, status, actor, task_title=ready.title)
        if status == RESULT_READY and run is not None and version.manifest.get("results"):
            # The result is ready: what the applicant is told of it, from the data the result step holds
            # (an inter-agency procedure's step holds what the other agencies' messages brought back).
            dossier.results = declared_results(version.manifest, run.task_data(ready.id))
    for end in step.end_events:
        status = status_property(end.properties)
        if status is not None:
            set_status(dossier, status, actor, task_title=end.title)
    if step.completed and dossier.status not in FINAL_STATUSES:
        set_status(dossier, 10, actor)
    record_service_calls(dossier, step, open_calls=calls)
    _left_open()[dossier.id] = left_open
    if step.timers_fired:
        record_fired_timers(dossier, step)


def _agency_of(ready: ReadyTask, dossier: Dossier, pool_agency_id: int | None = None) -> int:
    """The agency whose officers take the step: the one its `assignedAgency` names (an appraisal sent to several
    agencies, one per item), else its pool's (an inter-agency procedure), else — none named, or a code no agency
    has — the dossier's own."""
    if ready.agency and ready.agency != dossier.agency.code:
        found = db.session.scalar(select(Agency.id).where(Agency.code == ready.agency))
        if found is not None:
            return int(found)
        _log.warning("dossier %s: step %s names agency %r, which does not exist; the dossier's agency takes it",
                     dossier.code, ready.spec_name, ready.agency)
    return pool_agency_id or dossier.agency_id


def record_fired_timers(dossier: Dossier, step: StepResult) -> None:
    """One history entry per BPMN timer that fired in the step ("timer fired", with the timer's name and when it
    was due), whatever caused the step: the timer host's pass, or an officer's step that found a timer due."""
    at = now_utc()
    for timer in step.timers_fired:
        db.session.add(AuditEvent(
            dossier_id=dossier.id, actor_id=None, actor_name="", action="timer_fired", task_title=timer.name[:500],
            status_to=None, note=N_("Đã đến hạn hẹn giờ «%(timer)s» của quy trình."), note_params={"timer": timer.name},
            step_due_at=timer.due_at, outcome="", at=at))


def record_service_calls(dossier: Dossier, step: StepResult, open_calls: list[ServiceCall] | None = None) -> None:
    """One row per service task now waiting (published as `service_calls_requested`: the hook queues their
    jobs); calls the workflow left are cancelled. `open_calls`: the dossier's open calls if already read."""
    if open_calls is None:
        open_calls = list(db.session.scalars(select(ServiceCall).where(ServiceCall.dossier_id == dossier.id,
                                                                       ServiceCall.state.in_(OPEN_CALL_STATES))))
    known = {c.engine_task_id: c for c in open_calls}
    waiting = {c.id for c in step.service_calls}
    for engine_task_id, stale in known.items():
        if engine_task_id not in waiting:
            stale.state, stale.finished_at = "cancelled", now_utc()
    new = []
    for call in step.service_calls:
        if call.id in known:
            continue
        row = ServiceCall(dossier_id=dossier.id, engine_task_id=call.id, spec_name=call.spec_name,
                          title=call.title[:500], operation=call.operation, params=call.params,
                          result_variable=call.result_variable, state="pending", attempts=0, rounds=1)
        db.session.add(row)
        new.append(row)
    if new:
        db.session.flush()
        events.publish(events.service_calls_requested, calls=new)


def report_engine_fault(dossier: Dossier, error: EngineError, actor: User | None) -> None:
    """An engine error met after the person's step was taken: their work and the workflow in its error state
    are saved by the caller; `engine_fault` makes it an incident operators see and retry."""
    events.publish(events.engine_fault, dossier=dossier, error=error, actor=actor)

"""Service tasks run as jobs: call the connector, hand the result back to the workflow, or raise an incident.

A job takes (call id, round, attempt) and does nothing unless the call is still pending in exactly that
round and attempt, so a duplicated or replayed job has no second effect; a lock per call keeps two
copies from calling out at once. The connector call happens outside any transaction; the result goes
back under the workflow's optimistic lock (retried on a concurrent change, never re-calling out).

A transient failure (timeout, 5xx, open circuit) is retried with growing pauses; when the attempts run
out, or on a permanent failure, the task throws a BPMN error. If an error boundary event catches it the
workflow goes that way; if not, the call becomes an **incident**: listed for operators, with the error,
and retryable from the web and the API.

This module holds the phases, each in the caller's transaction; the job (app.jobs.service_calls) runs
them in order and commits between them.
"""


from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext
from sqlalchemy import and_, func, or_, select, update

from app.dossiers import events, portal_sync
from app.dossiers.access import may_operate as may_operate
from app.dossiers.clock import now_utc, retry_delays
from app.dossiers.errors import Conflict, NotFound
from app.dossiers.progress import OPEN_CALL_STATES, apply_step, bundle_for, report_engine_fault
from app.dossiers.stalls import is_stalled as is_stalled
from app.dossiers.workflow_runs import WorkflowFinished, load_run, save_run
from app.engine.runtime import EngineError, StepResult, TaskNotReady, WorkflowRun
from app.extensions import db
from app.models import AuditEvent, Dossier, RegistryLookup, ServiceCall, User
from app.models.user import N_
from connectors.base import ConnectorError, PermanentError

log = logging.getLogger(__name__)

REGISTRY_PROVIDERS = ("population", "business")  # look-ups that must be logged (who, when, which dossier, why)
Commit = Callable[[], None]
Move = Callable[[WorkflowRun, ServiceCall], StepResult | None]
Settle = Callable[[ServiceCall, StepResult | None], str]


class WorkflowRefused(Exception):
    """The workflow did not take the answer at all: the call itself becomes the incident."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# ---------------------------------------------------------------- one attempt


def is_due(call: ServiceCall | None, round_: int, attempt: int) -> bool:
    """Whether the job for (round_, attempt) is the one to run: a duplicated or replayed job is not."""
    return call is not None and call.state == "pending" and call.rounds == round_ and call.attempts == attempt - 1


def start_attempt(call: ServiceCall, attempt: int) -> None:
    """Mark attempt `attempt` as begun, with a lease (SERVICE_CALL_LEASE): if its worker dies during the call,
    the lease runs out and the sweeper makes the next attempt (`due_calls`)."""
    call.attempts = attempt
    call.lease_until = now_utc() + timedelta(seconds=float(current_app.config.get("SERVICE_CALL_LEASE", 120)))


def due_calls(now: datetime, cutoff: datetime, limit: int) -> list[ServiceCall]:
    """Pending calls whose next attempt should have been made and was not (its job was lost): the first attempt
    or a retry due since before `cutoff`, or an attempt whose lease ran out at `now` (its worker died)."""
    started = ServiceCall.lease_until.is_not(None)
    return list(db.session.scalars(
        select(ServiceCall).where(ServiceCall.state == "pending", or_(
            and_(started, ServiceCall.lease_until < now),
            and_(~started, func.coalesce(ServiceCall.next_attempt_at, ServiceCall.updated_at) < cutoff)))
        .order_by(ServiceCall.id).limit(limit)))


def call_out(call: ServiceCall, commit: Commit) -> Any:
    """Make the call: a platform operation (given the job's `commit`, it may answer AWAIT), or a provider's.

    A registry look-up is logged (who, when, which dossier, why) whatever its outcome; the caller commits it.
    """
    dossier = call.dossier
    registry = current_app.extensions["motcua_connectors"]
    provider = call.operation.split(".")[0]
    outcome = "ok"
    try:
        if call.operation not in registry.ids():
            raise PermanentError(provider, "not_configured",
                                 f"Hệ thống chưa được cấu hình kết nối «{call.operation}».")
        operation = registry.get(call.operation)
        if operation.platform:
            return operation.func(call, commit)
        return registry.call(call.operation, call.params)
    except ConnectorError as exc:
        outcome = exc.code if not exc.transient else f"unavailable:{exc.code}"
        raise
    finally:
        if provider in REGISTRY_PROVIDERS:
            subject = next((str(v) for k, v in call.params.items() if k in ("so_dinh_danh", "ma_so_thue")), "")
            # A look-up made again because an operator asked is on that operator's name.
            retried_by = db.session.scalar(
                select(AuditEvent.actor_id).where(AuditEvent.dossier_id == dossier.id,
                                                  AuditEvent.action == "incident_retry",
                                                  AuditEvent.task_title == call.title)
                .order_by(AuditEvent.id.desc()).limit(1)) if call.rounds > 1 else None
            lookup = RegistryLookup(dossier_id=dossier.id, user_id=retried_by, operation=call.operation,
                                    subject=subject[:40], outcome=outcome[:40],
                                    purpose=f"{call.title} — hồ sơ {dossier.code}"[:255])
            db.session.add(lookup)
            events.publish(events.registry_looked_up, lookup=lookup, dossier=dossier,
                           actor=db.session.get(User, retried_by) if retried_by is not None else None)


def mark_waiting(call_id: int) -> None:
    """The operation was started and finishes later; only a call still pending waits (a callback may already
    have settled it meanwhile)."""
    db.session.execute(update(ServiceCall).where(ServiceCall.id == call_id, ServiceCall.state == "pending")
                       .values(state="waiting", updated_at=now_utc()))


def reload(call_id: int) -> ServiceCall:
    call = db.session.get(ServiceCall, call_id, populate_existing=True)
    assert call is not None
    return call


def retry_delay(call_id: int, exc: ConnectorError, attempt: int) -> float | None:
    """Record a failed attempt; the pause before the next one, or None when the failure is final."""
    call = reload(call_id)
    call.error_code, call.error_message, call.lease_until = exc.code[:80], exc.message, None
    delays = retry_delays()
    if exc.transient and attempt <= len(delays):
        delay = delays[attempt - 1]
        call.next_attempt_at = now_utc() + timedelta(seconds=delay)
        log.info("service call %s attempt %d failed (%s); next in %ss", call_id, attempt, exc.code, delay)
        return delay
    return None


# ---------------------------------------------------------------- handing the outcome to the workflow


def feed(call_id: int, move: Move, settle: Settle) -> str:
    """Apply `move` to the dossier's workflow and write the outcome (one try; the caller commits, and on
    StaleDataError — an officer moved another branch meanwhile — rolls back and tries again).

    Raises WorkflowRefused when the workflow did not take the answer at all.
    """
    call = reload(call_id)
    dossier: Dossier = call.dossier
    version = dossier.procedure_version
    instance = dossier.workflow
    fault: EngineError | None = None
    try:
        run = load_run(instance, bundle_for(version))
        step = move(run, call)
    except WorkflowFinished:
        # The answer came after the workflow finished (its document is compacted): nothing waits for it.
        if call.state in OPEN_CALL_STATES:
            call.state, call.finished_at, call.next_attempt_at = "cancelled", now_utc(), None
            _audit(call, "service_late", N_("Kết quả của «%(step)s» đến sau khi hồ sơ đã kết thúc; không còn bước "
                                            "nào chờ kết quả này."), step=call.title)
        return "cancelled"
    except TaskNotReady:
        # The workflow no longer waits here (it moved on, or this call was already answered).
        if call.state in OPEN_CALL_STATES:
            call.state, call.finished_at = "cancelled", now_utc()
        return "cancelled"
    except EngineError as exc:
        if exc.step is None:
            raise WorkflowRefused(f"Quy trình không thể chuyển bước: {exc.message}") from exc
        # The answer was taken and the workflow then failed further on: keep the answer, save the workflow
        # in its error state and report the engine error as a workflow incident.
        step, fault = exc.step, exc
    outcome = settle(call, step)
    if step is not None:
        apply_step(dossier, version, step, None, run=run)
        save_run(instance, run, step.completed)
    if fault is not None:
        report_engine_fault(dossier, fault, None)
    db.session.flush()  # a concurrent change of the workflow shows here
    return outcome


@dataclass(frozen=True)
class Answer:
    """Hand a result to the waiting service task (record=False when a payment wrote its own history entry)."""

    result: Any
    record: bool = True

    def move(self, run: WorkflowRun, call: ServiceCall) -> StepResult | None:
        return run.finish_service(call.engine_task_id, self.result)

    def settle(self, call: ServiceCall, step: StepResult | None) -> str:
        call.state, call.finished_at, call.next_attempt_at = "done", now_utc(), None
        call.error_code, call.error_message = "", ""
        if self.record:
            _audit(call, "service_done", N_("Đã nhận kết quả."))
        return "done"


@dataclass(frozen=True)
class Failure:
    """Throw the failure as a BPMN error; uncaught, it becomes an incident."""

    code: str
    message: str

    def move(self, run: WorkflowRun, call: ServiceCall) -> StepResult | None:
        return run.fail_service(call.engine_task_id, self.code, self.message)

    def settle(self, call: ServiceCall, step: StepResult | None) -> str:
        call.error_code, call.error_message = self.code[:80], self.message
        call.next_attempt_at = None
        if step is None:
            call.state = "failed"
            _audit(call, "incident", N_("Sự cố tại bước «%(step)s»: %(error)s"), step=call.title, error=self.message)
            return "incident"
        call.state, call.finished_at = "caught", now_utc()
        _audit(call, "service_error", N_("%(step)s: %(error)s — quy trình chuyển sang nhánh xử lý lỗi."),
               step=call.title, error=self.message)
        return "caught"


def incident(call_id: int, code: str, message: str) -> str:
    """The call waits for a person (listed with the incidents)."""
    call = reload(call_id)
    call.state, call.error_code, call.error_message, call.next_attempt_at = "failed", code, message, None
    _audit(call, "incident", N_("Sự cố tại bước «%(step)s»: %(error)s"), step=call.title, error=message)
    return "incident"


def _audit(call: ServiceCall, action: str, message: str, actor: User | None = None, **params: Any) -> None:
    """A history row written by the platform: the message (an N_-marked msgid) and its parameters, put into
    the reader's language when shown (AuditEvent.note_text)."""
    db.session.add(AuditEvent(dossier_id=call.dossier_id, actor_id=actor.id if actor else None,
                              actor_name=actor.full_name if actor else "", action=action,
                              task_title=call.title, note=message, note_params=params, at=now_utc()))


# ---------------------------------------------------------------- incidents, for operators


def resend_sync(dossier: Dossier, user: User) -> None:
    """Send a dossier's owed portal updates again now (the caller commits; the job runs after commit)."""
    if not may_operate(user, dossier):
        raise NotFound(gettext("Không tìm thấy hồ sơ %(code)s.", code=dossier.code), code="dossier_not_found")
    if not portal_sync.resend(dossier_ids=[dossier.id], actor=user):
        raise Conflict(gettext("Hồ sơ này không còn cập nhật nào chờ gửi lên Cổng DVCQG."), code="nothing_to_resend")


def get_call(call_id: int, user: User) -> ServiceCall:
    call = db.session.get(ServiceCall, call_id)
    if call is None or not may_operate(user, call.dossier):
        raise NotFound(gettext("Không tìm thấy sự cố số %(id)s.", id=call_id), code="incident_not_found")
    return call


def retry_call(call_id: int, user: User) -> ServiceCall:
    """Start a new round of attempts for an incident; the caller commits (the job is enqueued after commit)."""
    call = get_call(call_id, user)
    if call.state != "failed" and not is_stalled(call):
        raise Conflict(gettext("Sự cố này đã được xử lý hoặc đang được thử lại."), code="incident_closed")
    call.state, call.rounds, call.attempts, call.next_attempt_at = "pending", call.rounds + 1, 0, None
    call.lease_until = None
    _audit(call, "incident_retry", N_("Thử lại bước «%(step)s» (lần %(round)s)."), user, step=call.title,
           round=call.rounds)
    db.session.flush()
    events.publish(events.service_calls_requested, calls=[call])
    return call


def calls_of(dossier: Dossier) -> list[ServiceCall]:
    return list(db.session.scalars(select(ServiceCall).where(ServiceCall.dossier_id == dossier.id)
                                   .order_by(ServiceCall.id)))

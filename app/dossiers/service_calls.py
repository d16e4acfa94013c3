"""Service tasks run as jobs: call the connector, hand the result back to the workflow, or raise an incident.

A job takes (call id, round, attempt) and does nothing unless the call is still pending in exactly that
round and attempt, so a duplicated or replayed job has no second effect; a lock per call keeps two
copies from calling out at once. The connector call happens outside any transaction; the result goes
back under the workflow's optimistic lock (retried on a concurrent change, never re-calling out).

A transient failure (timeout, 5xx, open circuit) is retried with growing pauses; when the attempts run
out, or on a permanent failure, the task throws a BPMN error. If an error boundary event catches it the
workflow goes that way; if not, the call becomes an **incident**: listed for operators, with the error,
and retryable from the web and the API.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext
from sqlalchemy import and_, exists, false, func, or_, select, text, true, update
from sqlalchemy.orm.exc import StaleDataError

from app.dossiers.errors import Conflict, NotFound
from app.dossiers.services import _apply_step, bundle_for, now_utc, schedule_service_call
from app.engine.runtime import EngineError, StepResult, TaskNotReady, WorkflowRun
from app.extensions import db
from app.models import AuditEvent, Dossier, Payment, RegistryLookup, ServiceCall, User
from app.models.user import ADMIN_ROLE, N_
from connectors.base import ConnectorError, PermanentError

log = logging.getLogger(__name__)

# Operations the platform itself carries out across several requests (see payments.py): the job starts
# them and they finish later, so the call waits instead of completing.
AWAIT = object()
PlatformOperation = Callable[[ServiceCall], Any]
PLATFORM_OPERATIONS: dict[str, PlatformOperation] = {}
REGISTRY_PROVIDERS = ("population", "business")  # look-ups that must be logged (who, when, which dossier, why)
_FEED_ATTEMPTS = 5


@contextmanager
def exclusive(kind: str, key: int) -> Iterator[bool]:
    """A cross-process lock (PostgreSQL advisory lock) held on its own connection, outside any transaction.

    Yields False if another worker holds it. SQLite (embedded mode) runs one job at a time: always True.
    """
    if db.engine.dialect.name != "postgresql":
        yield True
        return
    namespace = zlib.crc32(kind.encode()) & 0x7FFFFFFF
    with db.engine.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:a, :b)"), {"a": namespace, "b": key}).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:a, :b)"), {"a": namespace, "b": key})
                conn.commit()


def retry_delays() -> list[float]:
    raw = str(current_app.config.get("SERVICE_CALL_DELAYS", "10,60,300"))
    return [float(x) for x in raw.split(",") if x.strip()]


def run_service_call(call_id: int, round_: int, attempt: int) -> str:
    """One attempt of one service call. Returns what happened (for logs and tests)."""
    call = db.session.get(ServiceCall, call_id)
    if call is None or call.state != "pending" or call.rounds != round_ or call.attempts != attempt - 1:
        return "skipped"
    with exclusive("service_call", call_id) as mine:
        if not mine:
            return "busy"
        db.session.refresh(call)
        if call.state != "pending" or call.rounds != round_ or call.attempts != attempt - 1:
            return "skipped"
        call.attempts = attempt
        db.session.commit()
        try:
            result = _call(call)
        except ConnectorError as exc:
            db.session.rollback()
            return _failed(call_id, exc, attempt)
        if result is AWAIT:
            # Only a call still pending waits: a callback may already have settled it meanwhile.
            db.session.execute(update(ServiceCall).where(ServiceCall.id == call_id, ServiceCall.state == "pending")
                               .values(state="waiting", updated_at=now_utc()))
            db.session.commit()
            return "waiting"
        return finish_call(call_id, result)


def _call(call: ServiceCall) -> Any:
    dossier = call.dossier
    platform = PLATFORM_OPERATIONS.get(call.operation)
    if platform is not None:
        return platform(call)
    registry = current_app.extensions["motcua_connectors"]
    provider = call.operation.split(".")[0]
    outcome = "ok"
    try:
        if call.operation not in registry.ids():
            raise PermanentError(provider, "not_configured",
                                 f"Hệ thống chưa được cấu hình kết nối «{call.operation}».")
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
            db.session.add(RegistryLookup(dossier_id=dossier.id, user_id=retried_by, operation=call.operation,
                                          subject=subject[:40], outcome=outcome[:40],
                                          purpose=f"{call.title} — hồ sơ {dossier.code}"[:255]))
            db.session.commit()


def _reload(call_id: int) -> ServiceCall:
    call = db.session.get(ServiceCall, call_id, populate_existing=True)
    assert call is not None
    return call


def _failed(call_id: int, exc: ConnectorError, attempt: int) -> str:
    call = _reload(call_id)
    call.error_code, call.error_message = exc.code[:80], exc.message
    delays = retry_delays()
    if exc.transient and attempt <= len(delays):
        delay = delays[attempt - 1]
        call.next_attempt_at = now_utc() + timedelta(seconds=delay)
        schedule_service_call(call, attempt + 1, delay)
        db.session.commit()
        log.info("service call %s attempt %d failed (%s); next in %ss", call_id, attempt, exc.code, delay)
        return "retry"
    return fail_call(call_id, exc.code, exc.message)


def _feed(call_id: int, move: Callable[[WorkflowRun, ServiceCall], StepResult | None],
          settle: Callable[[ServiceCall, StepResult | None], str]) -> str:
    """Apply `move` to the dossier's workflow and save it, retrying on a concurrent change of the document."""
    for _ in range(_FEED_ATTEMPTS):
        call = _reload(call_id)
        dossier: Dossier = call.dossier
        version = dossier.procedure_version
        instance = dossier.workflow
        run = WorkflowRun.load(instance.document, bundle_for(version))
        fault: EngineError | None = None
        try:
            step = move(run, call)
        except TaskNotReady:
            # The workflow no longer waits here (it moved on, or this call was already answered).
            if call.state in ("pending", "waiting", "failed"):
                call.state, call.finished_at = "cancelled", now_utc()
            db.session.commit()
            return "cancelled"
        except EngineError as exc:
            if exc.step is None:  # the workflow did not take the answer at all: the call itself is the incident
                db.session.rollback()
                return _incident(call_id, "workflow_error", f"Quy trình không thể chuyển bước: {exc.message}")
            # The answer was taken and the workflow then failed further on: keep the answer, save the workflow
            # in its error state and report the engine error as a workflow incident.
            step, fault = exc.step, exc
        outcome = settle(call, step)
        if step is not None:
            _apply_step(dossier, version, step, None)
            instance.document = run.document()
            instance.completed = step.completed
        try:
            if fault is not None:
                from app.dossiers.workflow_incidents import record  # it builds on this module

                record(dossier, fault, None)  # flushes, so a concurrent change shows here too
            db.session.commit()
        except StaleDataError:
            # An officer moved another branch of this workflow meanwhile: reload and apply again.
            db.session.rollback()
            continue
        return outcome
    return _incident(call_id, "busy", "Hồ sơ liên tục được cập nhật; chưa ghi được kết quả, hãy thử lại.")


def finish_call(call_id: int, result: Any, *, record: bool = True) -> str:
    """Hand a result to the waiting service task (also used when a payment is confirmed: the payment wrote
    its own history entry, so it passes record=False and one payment stays one entry)."""

    def settle(call: ServiceCall, step: StepResult | None) -> str:
        call.state, call.finished_at, call.next_attempt_at = "done", now_utc(), None
        call.error_code, call.error_message = "", ""
        if record:
            _audit(call, "service_done", N_("Đã nhận kết quả."))
        return "done"

    return _feed(call_id, lambda run, call: run.finish_service(call.engine_task_id, result), settle)


def fail_call(call_id: int, code: str, message: str) -> str:
    """Throw the failure as a BPMN error; uncaught, it becomes an incident."""
    caught: dict[str, bool] = {}

    def move(run: WorkflowRun, call: ServiceCall) -> StepResult | None:
        step = run.fail_service(call.engine_task_id, code, message)
        caught["yes"] = step is not None
        return step

    def settle(call: ServiceCall, step: StepResult | None) -> str:
        call.error_code, call.error_message = code[:80], message
        call.next_attempt_at = None
        if step is None:
            call.state = "failed"
            _audit(call, "incident", N_("Sự cố tại bước «%(step)s»: %(error)s"), step=call.title, error=message)
            return "incident"
        call.state, call.finished_at = "caught", now_utc()
        _audit(call, "service_error", N_("%(step)s: %(error)s — quy trình chuyển sang nhánh xử lý lỗi."),
               step=call.title, error=message)
        return "caught"

    outcome = _feed(call_id, move, settle)
    if outcome == "incident":
        log.warning("service call %s is an incident: %s", call_id, code)
    return outcome


def _incident(call_id: int, code: str, message: str) -> str:
    call = _reload(call_id)
    call.state, call.error_code, call.error_message, call.next_attempt_at = "failed", code, message, None
    _audit(call, "incident", N_("Sự cố tại bước «%(step)s»: %(error)s"), step=call.title, error=message)
    db.session.commit()
    return "incident"


def _audit(call: ServiceCall, action: str, message: str, actor: User | None = None, **params: Any) -> None:
    """A history row written by the platform: the message (an N_-marked msgid) and its parameters, put into
    the reader's language when shown (AuditEvent.note_text)."""
    db.session.add(AuditEvent(dossier_id=call.dossier_id, actor_id=actor.id if actor else None,
                              actor_name=actor.full_name if actor else "", action=action,
                              task_title=call.title, note=message, note_params=params, at=now_utc()))


# ---------------------------------------------------------------- incidents, for operators


def may_operate(user: User, dossier: Dossier) -> bool:
    """Operators act on their own agency's dossiers only; a platform administrator on every agency's.

    A designer or officer without an agency sees no incident: an action taken from one (a registry look-up
    made again) runs in that person's name, so it must be someone the dossier's agency answers for.
    """
    if user.has_role(ADMIN_ROLE):
        return True
    return (user.agency_id is not None and user.agency_id == dossier.agency_id
            and (user.is_officer or user.is_designer))


def visible_to(user: User) -> Any:
    """The SQL condition on Dossier matching `may_operate`'s agency rule, to filter lists in the query."""
    if user.has_role(ADMIN_ROLE):
        return true()
    if user.agency_id is None:
        return false()
    return Dossier.agency_id == user.agency_id


def _stall_cutoff() -> datetime:
    return now_utc() - timedelta(seconds=float(current_app.config.get("SERVICE_CALL_STALL", 900)))


def is_stalled(call: ServiceCall) -> bool:
    """Its job was lost (a worker or Redis restart): pending with no attempt made or due for too long, or
    waiting for a payment that was in fact made."""
    since = call.next_attempt_at or call.updated_at
    if since is None or since >= _stall_cutoff():
        return False
    if call.state == "pending":
        return True
    return call.state == "waiting" and db.session.scalar(select(Payment.id).where(
        Payment.service_call_id == call.id, Payment.state == "paid").limit(1)) is not None


def incidents(user: User) -> list[ServiceCall]:
    """Calls that wait for a person, oldest first: failed ones, and pending ones whose job was lost."""
    stalled = and_(ServiceCall.state == "pending",
                   func.coalesce(ServiceCall.next_attempt_at, ServiceCall.updated_at) < _stall_cutoff())
    # A fee paid but never handed to its task (a crash or a lost job between the two commits).
    paid_but_waiting = and_(ServiceCall.state == "waiting", ServiceCall.updated_at < _stall_cutoff(),
                            exists().where(Payment.service_call_id == ServiceCall.id, Payment.state == "paid"))
    query = (select(ServiceCall).join(Dossier, Dossier.id == ServiceCall.dossier_id)
             .where(or_(ServiceCall.state == "failed", stalled, paid_but_waiting))
             .order_by(ServiceCall.updated_at, ServiceCall.id))
    return [c for c in db.session.scalars(query.where(visible_to(user))) if may_operate(user, c.dossier)]


def sync_problems(user: User) -> list[tuple[Dossier, Any]]:
    """National-portal sync that waits for a person, for the dossiers the user may act on."""
    from app.dossiers.portal_sync import problems

    return [(d, row) for d, row in problems() if may_operate(user, d)]


def resend_sync(dossier: Dossier, user: User) -> None:
    """Send a dossier's owed portal updates again now (the caller commits; the job runs after commit)."""
    from app.dossiers.portal_sync import resend

    if not may_operate(user, dossier):
        raise NotFound(gettext("Không tìm thấy hồ sơ %(code)s.", code=dossier.code), code="dossier_not_found")
    if not resend(dossier_ids=[dossier.id], actor=user):
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
    _audit(call, "incident_retry", N_("Thử lại bước «%(step)s» (lần %(round)s)."), user, step=call.title,
           round=call.rounds)
    db.session.flush()
    schedule_service_call(call, 1)
    return call


def calls_of(dossier: Dossier) -> list[ServiceCall]:
    return list(db.session.scalars(select(ServiceCall).where(ServiceCall.dossier_id == dossier.id)
                                   .order_by(ServiceCall.id)))

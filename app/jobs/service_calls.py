"""Service-call jobs: one attempt of a call, and handing its outcome to the workflow.

The phases are app.dossiers.service_calls'; this module orders them and commits between them, so that no
transaction stays open while a national system answers and a concurrent change of the workflow document
is met by reloading and applying again, never by calling out twice.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.orm.exc import StaleDataError

from app.dossiers import service_calls
from app.dossiers.locks import exclusive
from app.extensions import db
from app.jobs.queue import QUEUE_CONNECTORS, enqueue_after_commit
from app.models import ServiceCall
from connectors.base import ConnectorError
from connectors.registry import AWAIT

log = logging.getLogger(__name__)

_FEED_ATTEMPTS = 5


def schedule(call: ServiceCall, attempt: int, delay: float = 0.0) -> None:
    """Enqueue (after commit) attempt `attempt` of the call's current round; a job id names exactly that."""
    enqueue_after_commit(db.session, QUEUE_CONNECTORS, run_service_call, call.id, call.rounds, attempt,
                         job_id=f"svc-{call.dossier_id}-{call.engine_task_id}-{call.rounds}-{attempt}",
                         delay=delay, retry=False)


def sweep(now: datetime, cutoff: datetime, limit: int) -> int:
    """The sweeper's source: the next attempt of every call whose job was lost (see service_calls.due_calls)."""
    calls = service_calls.due_calls(now, cutoff, limit)
    for call in calls:
        schedule(call, call.attempts + 1)
    return len(calls)


def run_service_call(call_id: int, round_: int, attempt: int) -> str:
    """One attempt of one service call. Returns what happened (for logs and tests)."""
    call = db.session.get(ServiceCall, call_id)
    if not service_calls.is_due(call, round_, attempt):
        return "skipped"
    assert call is not None
    with exclusive("service_call", call_id) as mine:
        if not mine:
            return "busy"
        db.session.refresh(call)
        if not service_calls.is_due(call, round_, attempt):
            return "skipped"
        service_calls.start_attempt(call, attempt)
        db.session.commit()
        try:
            result = service_calls.call_out(call, db.session.commit)
        except ConnectorError as exc:
            db.session.commit()  # the look-up's log entry, whatever came of it
            return _failed(call_id, exc, attempt)
        if result is AWAIT:
            service_calls.mark_waiting(call_id)
            db.session.commit()
            return "waiting"
        db.session.commit()
        return finish_call(call_id, result)


def _failed(call_id: int, exc: ConnectorError, attempt: int) -> str:
    delay = service_calls.retry_delay(call_id, exc, attempt)
    if delay is not None:
        schedule(service_calls.reload(call_id), attempt + 1, delay)
        db.session.commit()
        return "retry"
    return fail_call(call_id, exc.code, exc.message)


def _feed(call_id: int, move: service_calls.Move, settle: service_calls.Settle) -> str:
    """Feed the workflow and commit, again on a concurrent change of its document."""
    for _ in range(_FEED_ATTEMPTS):
        try:
            outcome = service_calls.feed(call_id, move, settle)
            db.session.commit()
        except StaleDataError:
            # An officer moved another branch of this workflow meanwhile: reload and apply again.
            db.session.rollback()
            continue
        except service_calls.WorkflowRefused as exc:
            db.session.rollback()
            outcome = service_calls.incident(call_id, "workflow_error", exc.message)
            db.session.commit()
        return outcome
    outcome = service_calls.incident(call_id, "busy",
                                     "Hồ sơ liên tục được cập nhật; chưa ghi được kết quả, hãy thử lại.")
    db.session.commit()
    return outcome


def finish_call(call_id: int, result: Any, *, record: bool = True) -> str:
    """Hand a result to the waiting service task (also when a payment is confirmed: the payment wrote its own
    history entry, so it passes record=False and one payment stays one entry)."""
    answer = service_calls.Answer(result, record)
    return _feed(call_id, answer.move, answer.settle)


def fail_call(call_id: int, code: str, message: str) -> str:
    """Throw the failure as a BPMN error; uncaught, it becomes an incident."""
    failure = service_calls.Failure(code, message)
    outcome = _feed(call_id, failure.move, failure.settle)
    if outcome == "incident":
        log.warning("service call %s is an incident: %s", call_id, code)
    return outcome

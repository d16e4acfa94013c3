"""The one rule for when a service call waits for a person because its job was lost (a worker or Redis restart):
pending, or waiting for a payment that was in fact made or is pending past its last re-query, and neither
touched nor due since the stall cut-off (its next attempt if one is scheduled, else its last change). One SQL
expression: the incident list filters on it, and a single call is judged by the same expression
(service_calls.is_stalled)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, or_, select

from app.dossiers.clock import delays_setting, stalled_since
from app.extensions import db
from app.models import Payment, ServiceCall

STALLABLE_STATES = ("pending", "waiting")  # a call in any other state is never stalled


def stalled_call(cutoff: datetime | None = None) -> ColumnElement[bool]:
    """SQL: the service call (ServiceCall) is stalled at `cutoff` (the configured stall cut-off unless given).

    A call waiting for a payment is stalled too when the payment is still pending here after every re-query
    should have settled it (PAYMENT_RECHECK, then the cut-off): the platform could not be asked all that time.
    """
    cutoff = cutoff or stalled_since()
    touched = func.coalesce(ServiceCall.next_attempt_at, ServiceCall.updated_at)
    paid = exists().where(Payment.service_call_id == ServiceCall.id, Payment.state == "paid")
    rechecks = timedelta(seconds=sum(delays_setting("PAYMENT_RECHECK")))
    unsettled = exists().where(Payment.service_call_id == ServiceCall.id, Payment.state == "pending",
                               Payment.created_at < cutoff - rechecks)
    return and_(ServiceCall.state.in_(STALLABLE_STATES), touched < cutoff,
                or_(ServiceCall.state == "pending", paid, unsettled))


def stalled_among(calls: list[ServiceCall]) -> set[int]:
    """The ids of the stalled ones among `calls`, by `stalled_call` in one query (none for a list with no pending or
    waiting call): a list of calls is judged at once, not a query per row."""
    ids = [c.id for c in calls if c.state in STALLABLE_STATES and c.id is not None]
    if not ids:
        return set()
    return set(db.session.scalars(select(ServiceCall.id).where(ServiceCall.id.in_(ids), stalled_call())))


def is_stalled(call: ServiceCall) -> bool:
    """Whether `call` is stalled, by `stalled_call` evaluated on its row (read only for a pending or waiting call)."""
    if call.state not in STALLABLE_STATES or call.id is None:
        return False
    return bool(db.session.scalar(select(exists().where(ServiceCall.id == call.id, stalled_call()))))

"""What the platform owes the national systems and what it got back: connector calls made for service
tasks (and the incidents they become), fee payments with every callback received, and the outbox of
updates for the national portal. Each is a projection written in the transaction that caused it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.dossier import Dossier
from app.models.types import JsonDoc, UtcDateTime, utcnow

# pending: a job will (again) make the call; done: result handed to the workflow; caught: a BPMN error
# boundary took another path; failed: an incident an operator must look at; cancelled: the workflow moved on.
SERVICE_CALL_STATES = ("pending", "done", "caught", "failed", "cancelled")


class ServiceCall(db.Model):  # type: ignore[name-defined]
    """One service task of one dossier's workflow: the connector call a job makes, and how it ended."""

    __tablename__ = "service_call"
    __table_args__ = (UniqueConstraint("dossier_id", "engine_task_id"), Index("ix_service_call_state", "state"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"), index=True)
    engine_task_id: Mapped[str] = mapped_column(String(36))
    spec_name: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(500))
    operation: Mapped[str] = mapped_column(String(100))
    params: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    result_variable: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # calls made in the current round
    rounds: Mapped[int] = mapped_column(Integer, default=1)  # 1 + operator retries after an incident
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # While an attempt runs: when it counts as dead (its worker killed) and the sweeper makes the next one.
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    error_code: Mapped[str] = mapped_column(String(80), default="")
    error_message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    dossier: Mapped[Dossier] = relationship()


# pending: waiting for the payer; paid; cancelled: the payer gave up (a new payment may be made);
# refunded: paid, then (partly) given back.
PAYMENT_STATES = ("pending", "paid", "cancelled", "refunded")


class Payment(db.Model):  # type: ignore[name-defined]
    """A fee payment through the national payment platform, keyed by our transaction id."""

    __tablename__ = "payment"
    __table_args__ = (
        Index("ix_payment_state_created", "state", "created_at"),
        Index("ix_payment_next_check", "next_check_at", postgresql_where=text("state = 'pending'"),
              sqlite_where=text("state = 'pending'")),
        # Settled payments the indicators' daily aggregate does not hold yet (app.dossiers.indicators).
        Index("ix_payment_uncounted", "dossier_id", postgresql_where=text("NOT counted"),
              sqlite_where=text("NOT counted")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"), index=True)
    service_call_id: Mapped[int | None] = mapped_column(ForeignKey("service_call.id"), nullable=True, index=True)
    transaction_id: Mapped[str] = mapped_column(String(64), unique=True)  # MaGiaoDich, ours
    platform_id: Mapped[str] = mapped_column(String(64), default="")  # MaThanhToan, theirs
    amount: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(255), default="")
    pay_url: Mapped[str] = mapped_column(String(1000), default="")
    state: Mapped[str] = mapped_column(String(16), default="pending")
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    refunded_amount: Mapped[int] = mapped_column(Integer, default=0)
    receipt_sha256: Mapped[str] = mapped_column(String(64), default="")  # the e-receipt PDF in the file store
    checks: Mapped[int] = mapped_column(Integer, default=0)  # re-queries made while pending
    next_check_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)  # the next re-query owed
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    # True once the indicators' daily aggregate holds the payment (app.dossiers.indicators.refresh).
    counted: Mapped[bool] = mapped_column(default=False, server_default="false")

    dossier: Mapped[Dossier] = relationship()


class Refund(db.Model):  # type: ignore[name-defined]
    """A refund asked for (by an officer, or by the platform itself for a double charge or a refused
    dossier): kept until the payment platform has carried it out, so none is lost with its job."""

    __tablename__ = "refund"
    __table_args__ = (Index("ix_refund_state_requested", "state", "requested_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), index=True)
    request_key: Mapped[str] = mapped_column(String(64), unique=True)  # the platform's idempotency key
    amount: Mapped[int] = mapped_column(Integer)  # 0: whatever is left of the payment when it is carried out
    reason: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | done | refused
    refunded: Mapped[int] = mapped_column(Integer, default=0)  # what this request gave back
    error: Mapped[str] = mapped_column(Text, default="")
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # While pending: before this the sweeper leaves it to the job it last queued (which rq retries).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    payment: Mapped[Payment] = relationship()


class PaymentCallback(db.Model):  # type: ignore[name-defined]
    """Every callback the payment platform sent, valid or not, replayed or not: the reconciliation trail."""

    __tablename__ = "payment_callback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"), nullable=True, index=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    fields: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    outcome: Mapped[str] = mapped_column(String(40))  # applied | duplicate | invalid_signature | unknown | ...


class PortalOutbox(db.Model):  # type: ignore[name-defined]
    """An update owed to the national portal, sent strictly in id order per dossier, never dropped."""

    __tablename__ = "portal_outbox"
    __table_args__ = (
        # What is owed is found without reading what was sent (nearly every row, until pruned).
        Index("ix_portal_outbox_unsent", "dossier_id", "id",
              postgresql_where=text("sent_at IS NULL"), sqlite_where=text("sent_at IS NULL")),
        # Pruning sent rows older than PORTAL_OUTBOX_KEEP_DAYS (app/dossiers/retention.py).
        Index("ix_portal_outbox_sent_at", "sent_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"))
    kind: Mapped[str] = mapped_column(String(16))  # dossier | step
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # A sending job holds the row until then (app.dossiers.portal_sync.claim); nobody else sends it meanwhile.
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


# open: the workflow stopped on an engine error and waits for an operator; resolved: a retry moved it on.
WORKFLOW_INCIDENT_STATES = ("open", "resolved")


class WorkflowIncident(db.Model):  # type: ignore[name-defined]
    """An engine error that stopped a dossier's workflow after the person's own step was saved: a condition
    naming data nobody provides, a loop that ran too long, a task the engine could not run. Operators see
    it with the other incidents and retry the failed task once the cause is repaired."""

    __tablename__ = "workflow_incident"
    __table_args__ = (Index("ix_workflow_incident_state", "state", "dossier_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"), index=True)
    engine_task_id: Mapped[str] = mapped_column(String(36), default="")
    spec_name: Mapped[str] = mapped_column(String(255), default="")
    task_title: Mapped[str] = mapped_column(String(500), default="")
    code: Mapped[str] = mapped_column(String(80))
    message: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, default="")  # the engine's own text, for the operator
    state: Mapped[str] = mapped_column(String(16), default="open")
    attempts: Mapped[int] = mapped_column(Integer, default=1)  # 1 + failed retries
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)

    dossier: Mapped[Dossier] = relationship()

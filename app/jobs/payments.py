"""Payment jobs, and the payment callback's unit of work.

The phases are app.dossiers.payments'; these functions order them and commit between them. The callback
(the payer's browser coming back, or the platform's IPN) is handled here too because it is the same
sequence as a re-query that finds the payment paid: settle and commit, then hand the result to the
waiting task (app.jobs.service_calls.finish_call), which commits on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from app.dossiers import payments
from app.dossiers.clock import now_utc
from app.dossiers.errors import Invalid
from app.extensions import db
from app.jobs.queue import QUEUE_CONNECTORS, enqueue_after_commit
from app.jobs.service_calls import finish_call
from app.models import Payment, Refund

REFUND_SWEEP_PAUSE = timedelta(minutes=10)  # between two re-queueings of a refund still pending, by the sweeper


def schedule_recheck(payment: Payment, n: int, delay: float) -> None:
    """Re-query `n` of the payment in `delay` seconds: its time is kept on the payment (next_check_at), so the
    sweeper makes it if the job is lost."""
    payment.next_check_at = now_utc() + timedelta(seconds=delay)
    enqueue_after_commit(db.session, QUEUE_CONNECTORS, recheck_payment, payment.id, n,
                         job_id=f"pay-check-{payment.id}-{n}", delay=delay, retry=False)


def sweep(now: datetime, cutoff: datetime, limit: int) -> int:
    """The sweeper's source: re-queries due and not made, and paid payments not handed to their task."""
    due = payments.due_rechecks(cutoff, limit)
    for payment in due:
        enqueue_after_commit(db.session, QUEUE_CONNECTORS, recheck_payment, payment.id, payment.checks + 1,
                             job_id=f"pay-check-{payment.id}-{payment.checks + 1}", retry=False)
    paid = payments.due_applications(cutoff, limit)
    for payment in paid:
        enqueue_after_commit(db.session, QUEUE_CONNECTORS, apply_paid, payment.id,
                             job_id=f"pay-apply-{payment.id}", retry=False)
    # A refund still pending is queued again, then left to that job (and rq's retries of it) for a while: the
    # platform is not asked at every sweep while it is down.
    refunds = payments.due_refunds(cutoff, limit)
    for request in refunds:
        request.next_attempt_at = now + REFUND_SWEEP_PAUSE
        schedule_refund(request, f"pay-refund-{request.id}-sweep-{int(now.timestamp())}")
    return len(due) + len(paid) + len(refunds)


def apply_paid(payment_id: int) -> str:
    """Hand a payment recorded as paid to the task still waiting for it (the job that should have was lost)."""
    outcome = payments.reapply(payment_id)
    db.session.commit()
    if outcome == "applied":
        payment = db.session.get(Payment, payment_id)
        assert payment is not None
        after_settle(payment, outcome)
    return outcome


def schedule_refund(refund: Refund, job_id: str) -> None:
    enqueue_after_commit(db.session, QUEUE_CONNECTORS, refund_job, refund.id, job_id=job_id)


def receive_callback(fields: Mapping[str, str], source: str) -> tuple[str, Payment | None]:
    """Verify, record and apply a signed callback (source "ipn" or "return"), committed; then what follows.

    Raises Invalid for a bad signature or unreadable fields (nothing applied; the refusal is recorded).
    """
    try:
        outcome, payment = payments.take_callback(fields, source)
    except Invalid:
        db.session.commit()  # the bounded trace of the refused callback
        raise
    db.session.commit()
    if payment is not None:
        after_settle(payment, outcome)
    return outcome, payment


def after_settle(payment: Payment, outcome: str) -> None:
    """What follows a settled payment, after its commit: the task moves on, the receipt is fetched, a double
    charge is refunded."""
    if outcome == "applied":
        enqueue_after_commit(db.session, QUEUE_CONNECTORS, fetch_receipt, payment.id,
                             job_id=f"pay-receipt-{payment.id}")
        db.session.commit()
        if payment.service_call_id:
            finish_call(payment.service_call_id, payments.result_of(payment), record=False)  # "payment_paid" says it
    elif outcome == "double_charge":
        payments.refund_double_charge(payment)
        db.session.commit()


def recheck_payment(payment_id: int, n: int) -> str:
    """Ask the platform about a payment still pending (its callback may be lost); on a schedule, then give up."""
    asked = payments.ask_platform(payment_id, n)
    if asked is None:
        return "skipped"
    db.session.rollback()  # the answer is in; read the payment afresh under its lock
    status, answer = asked
    outcome, delay = payments.apply_recheck(payment_id, n, status, answer)
    if delay is not None:
        payment = db.session.get(Payment, payment_id)
        assert payment is not None
        schedule_recheck(payment, n + 1, delay)
    db.session.commit()
    if outcome != "skipped":
        payment = db.session.get(Payment, payment_id)
        assert payment is not None
        after_settle(payment, outcome)
    return outcome


def fetch_receipt(payment_id: int) -> str:
    """Fetch the e-receipt PDF once the payment is confirmed (a transient error lets rq try again later)."""
    outcome = payments.store_receipt(payment_id)
    db.session.commit()
    return outcome


def refund_job(refund_id: int) -> str:
    """Carry out one refund request (see payments.carry_out_refund)."""
    outcome = payments.carry_out_refund(refund_id)
    db.session.commit()
    return outcome

"""Fees paid online through the national payment platform, as the `payment.collect` service operation.

The service task's job creates a payment (our transaction id, idempotent at the platform) and leaves the
task waiting. The payer pays on the platform's hosted page; the platform calls back (IPN) and sends the
browser back to us, both with fields signed by MaXacThuc. Either one, whichever comes first, settles the
payment; the other, and any replay, is recorded and changes nothing. Callbacks may never come, so a job
re-queries a pending payment on a schedule. Once paid, the waiting task completes with the payment as its
result and another job fetches the e-receipt PDF. A second successful payment for a fee already paid is
refunded automatically: nobody is charged twice.

Everything here runs in the caller's transaction and never commits: the web views and the jobs
(app.jobs.payments) commit, between phases where the platform is called with no transaction open.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext
from sqlalchemy import delete, func, select

from app.dossiers import events
from app.dossiers.access import may_refund as may_refund
from app.dossiers.attachments import store_upload
from app.dossiers.clock import delays_setting, now_utc
from app.dossiers.errors import Conflict, Invalid, NotFound
from app.dossiers.locks import locked
from app.extensions import db
from app.formats import vnd
from app.models import Attachment, AuditEvent, Dossier, Payment, PaymentCallback, Refund, ServiceCall, User
from app.models.dossier import OPEN_CALL_STATES
from app.models.user import N_
from connectors.base import ConnectorError, PermanentError
from connectors.payment import CALLBACK_FIELDS, SIGNATURE_FIELD
from connectors.registry import AWAIT

log = logging.getLogger(__name__)

CALLBACK_PATH = "/thanh-toan/ipn"


def _connector() -> Any:
    registry = current_app.extensions["motcua_connectors"]
    connector = registry.connectors.get("payment")
    if connector is None:
        raise PermanentError("payment", "not_configured", "Hệ thống chưa được cấu hình kết nối Nền tảng thanh toán.")
    return connector


def recheck_delays() -> list[float]:
    return delays_setting("PAYMENT_RECHECK")


def _new_transaction_id() -> str:
    return "MC" + secrets.token_hex(10).upper()


def result_of(payment: Payment) -> dict[str, Any]:
    """What the payment step hands to the workflow once the fee is paid."""
    return {"ma_giao_dich": payment.transaction_id, "ma_thanh_toan": payment.platform_id,
            "so_tien": payment.amount, "da_thanh_toan": True,
            "thoi_gian_thanh_toan": payment.paid_at.isoformat() if payment.paid_at else None}


def payments_of(dossier: Dossier) -> list[Payment]:
    return list(db.session.scalars(select(Payment).where(Payment.dossier_id == dossier.id).order_by(Payment.id)))


def open_payment(dossier: Dossier) -> Payment | None:
    """The payment the payer should be sent to now, if the dossier waits for one."""
    for payment in reversed(payments_of(dossier)):
        if payment.state == "pending" and payment.pay_url:
            return payment
    return None


def awaiting_call(dossier: Dossier) -> ServiceCall | None:
    return db.session.scalar(select(ServiceCall).where(
        ServiceCall.dossier_id == dossier.id, ServiceCall.operation == "payment.collect",
        ServiceCall.state.in_(("pending", "waiting"))))


# ---------------------------------------------------------------- the service operation


def amount_due(call: ServiceCall) -> int:
    """What a payment step charges: the dossier's fee, computed once from procedure.json at submission (the
    receipt, the portal and the API show it). A `so_tien` parameter saying otherwise is refused, never charged."""
    fee = int(call.dossier.fee_amount or 0)
    given = call.params.get("so_tien")
    if given is not None and (isinstance(given, bool) or not isinstance(given, int) or given != fee):
        raise PermanentError("payment", "fee_mismatch",
                             f"Số tiền bước «{call.title}» yêu cầu thu ({given}) khác lệ phí của hồ sơ ({vnd(fee)}) "
                             "tính theo thủ tục; không tạo giao dịch.")
    return fee


def collect(call: ServiceCall, commit: Callable[[], None]) -> Any:
    """`payment.collect` (params: noi_dung, optionally so_tien = the fee): start a payment of the dossier's fee
    and wait for it, or return a settled one. `commit` is the job's: a new payment is committed before the
    platform hears of it."""
    amount = amount_due(call)
    if amount <= 0:
        return {"so_tien": 0, "da_thanh_toan": True, "mien_phi": True}
    payments = list(db.session.scalars(select(Payment).where(Payment.service_call_id == call.id)
                                       .order_by(Payment.id)))
    paid = next((p for p in payments if p.state in ("paid", "refunded")), None)
    if paid is not None:
        return result_of(paid)  # settled while an earlier attempt was failing: just hand the result on
    payment = next((p for p in payments if p.state == "pending"), None)
    if payment is None:
        payment = Payment(dossier_id=call.dossier_id, service_call_id=call.id, transaction_id=_new_transaction_id(),
                          amount=amount, description=str(call.params.get("noi_dung") or call.title)[:255])
        db.session.add(payment)
        commit()  # the transaction id is ours before it exists anywhere else
    open_at_platform(payment)
    return AWAIT


def open_at_platform(payment: Payment) -> None:
    """Create the payment at the platform (ConnectorError if it cannot be reached); the payer's page and the
    re-queries follow (`payment_opened`)."""
    dossier = payment.dossier
    base = str(current_app.config["PUBLIC_URL"]).rstrip("/")
    registry = current_app.extensions["motcua_connectors"]
    answer = registry.call("payment.create_payment", {
        "ma_giao_dich": payment.transaction_id, "ma_ho_so": dossier.code, "so_tien": payment.amount,
        "noi_dung": payment.description, "url_callback": base + CALLBACK_PATH,
        "url_tra_ve": f"{base}/ho-so/{dossier.code}/thanh-toan/ket-qua"})
    payment.platform_id, payment.pay_url = str(answer["ma_thanh_toan"]), str(answer["url_thanh_toan"])
    _note(payment, "payment_created", N_("Tạo giao dịch thanh toán %(transaction)s: %(amount)s."),
          transaction=payment.transaction_id, amount=payment.amount)
    db.session.flush()
    events.publish(events.payment_opened, payment=payment)


def new_payment(dossier: Dossier, user: User) -> Payment:
    """The payer asks to pay (again, after cancelling): the open payment, or a new one not yet at the platform.

    The caller commits it (the transaction id is ours before it exists anywhere else), then, for a new one,
    calls `open_for_payer` and commits again.
    """
    if dossier.applicant_user_id != user.id:
        raise NotFound(gettext("Không tìm thấy hồ sơ %(code)s.", code=dossier.code), code="dossier_not_found")
    call = awaiting_call(dossier)
    if call is None:
        raise Conflict(gettext("Hồ sơ này không có khoản phí nào đang chờ thanh toán."), code="nothing_to_pay")
    existing = next((p for p in reversed(payments_of(dossier))
                     if p.service_call_id == call.id and p.state == "pending"), None)
    if existing is not None:
        return existing  # open at the platform, or committed but never opened there (the caller opens it)
    try:
        amount = amount_due(call)
    except PermanentError as exc:
        raise Conflict(exc.message, code=exc.code) from exc
    payment = Payment(dossier_id=dossier.id, service_call_id=call.id, transaction_id=_new_transaction_id(),
                      amount=amount,
                      description=str(call.params.get("noi_dung") or call.title)[:255])
    db.session.add(payment)
    db.session.flush()
    return payment


def open_for_payer(payment: Payment) -> Payment:
    """Open a payment `new_payment` started at the platform, for the payer waiting on the page; Conflict if the
    platform cannot be reached (the caller rolls back: the payer may try again)."""
    try:
        open_at_platform(payment)
    except ConnectorError as exc:
        raise Conflict(gettext("Chưa tạo được giao dịch thanh toán: %(reason)s Vui lòng thử lại sau.",
                               reason=exc.message),
                       code="payment_unavailable") from exc
    return payment


# ---------------------------------------------------------------- what the platform tells us


def take_callback(fields: Mapping[str, str], source: str) -> tuple[str, Payment | None]:
    """Verify and apply a signed callback (source "ipn" or "return"); every call is recorded.

    Raises Invalid for a bad signature or unreadable fields: nothing is applied, and the refused callback's
    trace is left for the caller to commit.
    """
    plain = {str(k): str(v) for k, v in fields.items()}
    try:
        info = _connector().verify_callback(plain)
    except PermanentError as exc:
        _record_refused(plain, f"{source}:{exc.code}"[:40])
        raise Invalid(exc.message, code=exc.code) from exc
    plain = {name: plain[name] for name in (*CALLBACK_FIELDS, SIGNATURE_FIELD)}  # what the signature covers
    payment_id = db.session.scalar(select(Payment.id).where(Payment.transaction_id == info["ma_giao_dich"]))
    payment = locked(Payment, payment_id) if payment_id is not None else None
    if payment is None or payment.amount != info["so_tien"] or payment.dossier.code != info["ma_ho_so"]:
        outcome = ("unknown" if payment is None else
                   "amount_mismatch" if payment.amount != info["so_tien"] else "dossier_mismatch")
        db.session.add(PaymentCallback(payment_id=payment.id if payment else None, fields=plain,
                                       outcome=f"{source}:{outcome}"))
        return outcome, payment
    outcome = settle(payment, bool(info["da_thanh_toan"]), info["thoi_gian"], source)
    db.session.add(PaymentCallback(payment_id=payment.id, fields=plain, outcome=f"{source}:{outcome}"))
    return outcome, payment


# A refused callback is anyone's write: what is kept of it is small, and only the newest are kept.
REFUSED_RECORD_CHARS = 2048
_REFUSED_VALUE_CHARS = 200


def _record_refused(fields: Mapping[str, str], outcome: str) -> None:
    """Keep a bounded trace of a callback that failed verification: the fields that identify the attempt,
    cut short, and how much was left out; then drop the oldest refused records past the configured number."""
    kept: dict[str, str] = {}
    size = 0
    ordered = [*(n for n in (*CALLBACK_FIELDS, SIGNATURE_FIELD) if n in fields),
               *(n for n in fields if n not in CALLBACK_FIELDS and n != SIGNATURE_FIELD)]
    for name in ordered:
        key, value = name[:40], fields[name][:_REFUSED_VALUE_CHARS]
        cost = len(json.dumps({key: value}, ensure_ascii=False))
        if size + cost > REFUSED_RECORD_CHARS - 40:
            break
        kept[key] = value
        size += cost
    if len(kept) < len(fields):
        kept["_bo_qua"] = f"{len(fields) - len(kept)} trường"  # fields left out
    db.session.add(PaymentCallback(payment_id=None, fields=kept, outcome=outcome))
    db.session.flush()
    keep = int(current_app.config.get("PAYMENT_REFUSED_CALLBACKS_KEPT", 1000))
    oldest_kept = db.session.scalar(
        select(PaymentCallback.id).where(PaymentCallback.payment_id.is_(None))
        .order_by(PaymentCallback.id.desc()).offset(keep - 1).limit(1))
    if oldest_kept is not None:
        db.session.execute(delete(PaymentCallback).where(PaymentCallback.payment_id.is_(None),
                                                         PaymentCallback.id < oldest_kept))


def settle(payment: Payment, paid: bool, at: datetime, source: str) -> str:
    """Apply what the platform says about a payment, in the caller's transaction (row locked by the caller).

    The fee's service call is locked too, so two payments for one fee settled at the same moment are seen
    one after the other: the second is a double charge and is refunded.
    """
    if not paid:
        if payment.state != "pending":
            return "duplicate"
        payment.state = "cancelled"
        _note(payment, "payment_cancelled", N_("Giao dịch %(transaction)s đã bị hủy trên nền tảng thanh toán."),
              transaction=payment.transaction_id)
        return "cancelled"
    call = locked(ServiceCall, payment.service_call_id) if payment.service_call_id else None
    call_open = call is not None and call.state in OPEN_CALL_STATES
    if payment.state in ("paid", "refunded"):
        # Already recorded. If the task never got it (a crash or a lost job after that commit), hand it on now —
        # if this is the payment the fee kept: the earliest recorded one that nobody is giving back. A double
        # charge recorded later has its refund, whatever the platform's times say.
        return "applied" if call_open and payment.state == "paid" and _kept_payment(payment) else "duplicate"
    others_paid = db.session.scalar(select(Payment.id).where(
        Payment.service_call_id == payment.service_call_id, Payment.id != payment.id,
        Payment.state.in_(("paid", "refunded"))))
    payment.state, payment.paid_at = "paid", at
    if not call_open or others_paid is not None:
        _note(payment, "payment_duplicate", N_("Giao dịch %(transaction)s thanh toán trùng khoản phí đã nộp; "
                                               "hệ thống tự hoàn tiền."), transaction=payment.transaction_id)
        return "double_charge"
    _note(payment, "payment_paid", N_("Đã thanh toán %(amount)s (giao dịch %(transaction)s, xác nhận qua "
                                      "%(source_msg)s)."),
          amount=payment.amount, transaction=payment.transaction_id, source_msg=SOURCES.get(source, source))
    return "applied"


def _kept_payment(payment: Payment) -> bool:
    """Whether `payment` (paid) is the one its fee keeps: no refund asked for it, and no earlier-recorded payment
    of the same fee without one."""
    refunded = select(Refund.id).where(Refund.payment_id == Payment.id).exists()
    if db.session.scalar(select(refunded).where(Payment.id == payment.id)):
        return False
    return db.session.scalar(select(Payment.id).where(
        Payment.service_call_id == payment.service_call_id, Payment.id < payment.id,
        Payment.state == "paid", ~refunded).limit(1)) is None


SOURCES = {"ipn": N_("thông báo của nền tảng"), "return": N_("trang trả về"), "requery": N_("tra soát")}


def refund_double_charge(payment: Payment) -> None:
    """A second payment of a fee already paid is given back in full."""
    _request_refund(payment, REFUND_ALL, "Hoàn tiền thanh toán trùng", f"HT-{payment.transaction_id}-trung")


def _note(payment: Payment, action: str, message: str, actor: User | None = None, **params: Any) -> None:
    """A history row written by the platform: the message (an N_-marked msgid) and its parameters, put into
    the reader's language when shown (AuditEvent.note_text)."""
    db.session.add(AuditEvent(dossier_id=payment.dossier_id, actor_id=actor.id if actor else None,
                              actor_name=actor.full_name if actor else "", action=action,
                              note=message, note_params=params, at=now_utc()))


# ---------------------------------------------------------------- phases of the jobs (app.jobs.payments)


def ask_platform(payment_id: int, n: int | None = None) -> tuple[str, dict[str, Any]] | None:
    """What the platform says of a payment still pending (its callback may be lost): (status, answer), with
    status "unknown" if it cannot be asked; None if there is nothing to ask."""
    payment = db.session.get(Payment, payment_id)
    if payment is None or payment.state != "pending" or (n is not None and payment.checks != n - 1):
        return None  # settled, or re-query `n` was made already (a duplicated job)
    answer: dict[str, Any] = {}
    try:
        answer = current_app.extensions["motcua_connectors"].call("payment.query_payment",
                                                                 {"ma_giao_dich": payment.transaction_id})
        status = str(answer.get("trang_thai"))
    except ConnectorError as exc:
        log.warning("payment %s re-query failed: %s", payment_id, exc.code)
        status = "unknown"
    return status, answer


def apply_recheck(payment_id: int, n: int, status: str, answer: Mapping[str, Any]) -> tuple[str, float | None]:
    """Apply the platform's answer to re-query `n` under the payment's lock: the outcome, and the pause before
    the next re-query (None: no more)."""
    payment = locked(Payment, payment_id)
    assert payment is not None
    if payment.state != "pending" or payment.checks != n - 1:
        return "skipped", None  # a callback settled it while we asked, or a copy of this job made re-query n
    payment.checks += 1
    payment.next_check_at = None  # the caller sets the next one, if any
    outcome, delay = "pending", None
    if status in ("da_thanh_toan", "da_hoan_tien"):
        outcome = settle(payment, True, platform_time(answer.get("thoi_gian_thanh_toan")), "requery")
    elif status == "da_huy":
        outcome = settle(payment, False, now_utc(), "requery")
    delays = recheck_delays()
    if outcome == "pending" and (n < len(delays) or (status == "unknown" and delays)):
        # While the platform cannot be asked, keep asking at the last pause: its answer decides, not our clock.
        delay = delays[min(n, len(delays) - 1)]
    elif outcome == "pending" and status == "cho_thanh_toan":
        # The platform says nobody paid: the link stops being offered; the dossier page lets them start again.
        payment.state = "cancelled"
        _note(payment, "payment_expired", N_("Giao dịch %(transaction)s quá thời hạn thanh toán."),
              transaction=payment.transaction_id)
        outcome = "expired"
    return outcome, delay


def due_rechecks(cutoff: datetime, limit: int) -> list[Payment]:
    """Pending payments whose next re-query was due before `cutoff` and not made (its job was lost)."""
    return list(db.session.scalars(
        select(Payment).where(Payment.state == "pending", Payment.next_check_at < cutoff)
        .order_by(Payment.next_check_at).limit(limit)))


def due_refunds(cutoff: datetime, limit: int) -> list[Refund]:
    """Refund requests still pending, asked for (or last re-queued by the sweeper) before `cutoff`."""
    return list(db.session.scalars(
        select(Refund).where(Refund.state == "pending",
                             func.coalesce(Refund.next_attempt_at, Refund.requested_at) < cutoff)
        .order_by(Refund.id).limit(limit)))


def due_applications(cutoff: datetime, limit: int) -> list[Payment]:
    """Payments recorded as paid (before `cutoff`) whose fee's service call still waits: the job that hands the
    payment to the task was lost after the payment's commit."""
    return list(db.session.scalars(
        select(Payment).join(ServiceCall, ServiceCall.id == Payment.service_call_id)
        .where(Payment.state == "paid", ServiceCall.state.in_(("pending", "waiting")), Payment.updated_at < cutoff)
        .order_by(Payment.id).limit(limit)))


def reapply(payment_id: int) -> str:
    """Settle a paid payment again under its lock (nothing is written twice): "applied" when its task still
    waits for it and nothing else paid the fee, else "duplicate"."""
    payment = locked(Payment, payment_id)
    if payment is None or payment.state != "paid":
        return "skipped"
    return settle(payment, True, payment.paid_at or now_utc(), "requery")


def platform_time(value: Any) -> datetime:
    """The platform's time of payment; one given without an offset is Vietnam time."""
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return now_utc()
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    return now_utc()


def store_receipt(payment_id: int) -> str:
    """Fetch the e-receipt PDF once the payment is confirmed, and keep it with the dossier."""
    payment = db.session.get(Payment, payment_id)
    if payment is None or payment.state not in ("paid", "refunded") or payment.receipt_sha256:
        return "skipped"
    pdf = _connector().fetch_receipt(payment.transaction_id)  # a transient error lets rq try again later
    attachment = store_upload(pdf, f"bien-lai-{payment.transaction_id}.pdf", "application/pdf", "bien_lai_dien_tu",
                              None, accept=["application/pdf"])
    attachment.dossier_id = payment.dossier_id
    payment.receipt_sha256 = attachment.sha256
    return "stored"


def receipt_of(payment: Payment) -> str | None:
    """The download token of the payment's e-receipt, once fetched."""
    if not payment.receipt_sha256:
        return None
    attachment = db.session.scalar(select(Attachment).where(
        Attachment.dossier_id == payment.dossier_id, Attachment.sha256 == payment.receipt_sha256))
    return attachment.token if attachment else None


REFUND_ALL = 0  # a refund request for whatever is left of the payment when it is carried out


def _request_refund(payment: Payment, amount: int, reason: str, request_key: str, actor: User | None = None) -> None:
    """Record the request (a Refund row, so it outlives its job) and queue its job after commit.

    The request key is the platform's idempotency key: asking twice under one key refunds once.
    """
    if db.session.scalar(select(Refund.id).where(Refund.request_key == request_key)) is not None:
        return  # already asked (e.g. the dossier refused twice)
    refund_row = Refund(payment_id=payment.id, request_key=request_key, amount=amount, reason=reason[:255],
                        requested_by_id=actor.id if actor else None, requested_at=now_utc())
    db.session.add(refund_row)
    db.session.flush()
    if amount == REFUND_ALL:
        _note(payment, "refund_requested", N_("Yêu cầu hoàn toàn bộ số tiền còn lại cho giao dịch %(transaction)s: "
                                              "%(reason)s"), actor, transaction=payment.transaction_id, reason=reason)
    else:
        _note(payment, "refund_requested", N_("Yêu cầu hoàn %(amount)s cho giao dịch %(transaction)s: %(reason)s"),
              actor, amount=amount, transaction=payment.transaction_id, reason=reason)
    events.publish(events.refund_requested, refund=refund_row, job_id=f"pay-refund-{refund_row.id}")


def _pending_refunds(payment: Payment) -> int:
    """What the pending requests will give back (a request for 'the rest' counts as everything left)."""
    rows = db.session.scalars(select(Refund).where(Refund.payment_id == payment.id, Refund.state == "pending"))
    total = 0
    for row in rows:
        total += (payment.amount - payment.refunded_amount) if row.amount == REFUND_ALL else row.amount
    return total


def on_status(dossier: Dossier, status: int) -> None:
    """A dossier not received (status 3) gives back the fee it paid online."""
    if status != 3:
        return
    for payment in payments_of(dossier):
        if payment.state == "paid" and payment.refunded_amount < payment.amount:
            _request_refund(payment, REFUND_ALL, "Hồ sơ không được tiếp nhận",
                            f"HT-{payment.transaction_id}-tu-choi")


def refund(payment_id: int, user: User, amount: int, reason: str) -> Payment:
    """An operator refunds (part of) a paid fee; the refund itself runs as a job with an idempotency key."""
    payment = locked(Payment, payment_id)
    if payment is None or not may_refund(user, payment.dossier):
        raise NotFound(gettext("Không tìm thấy giao dịch số %(id)s.", id=payment_id), code="payment_not_found")
    if payment.state not in ("paid", "refunded"):
        raise Conflict(gettext("Chỉ hoàn tiền được giao dịch đã thanh toán."), code="payment_not_paid")
    left = payment.amount - payment.refunded_amount - _pending_refunds(payment)
    if amount <= 0 or amount > left:
        message = (gettext("Phải từ 1 đến %(left)s đồng (đã trừ các khoản hoàn đang chờ).", left=left) if left > 0
                   else gettext("Giao dịch không còn tiền để hoàn (kể cả các khoản hoàn đang chờ)."))
        raise Invalid(gettext("Số tiền hoàn không hợp lệ."), details={"/so_tien": message})
    if not reason.strip():
        raise Invalid(gettext("Cần ghi lý do hoàn tiền."), details={"/ly_do": gettext("Cần ghi lý do hoàn tiền.")})
    _request_refund(payment, amount, reason, f"HT-{payment.transaction_id}-{uuid4().hex[:16]}", user)
    return payment


def carry_out_refund(refund_id: int) -> str:
    """Carry out one refund request. Requests for one payment run one at a time (the payment row is locked);
    a replayed job finds its request done; the platform dedupes the key if an answer was lost."""
    request = db.session.get(Refund, refund_id)
    if request is None or request.state != "pending":
        return "skipped"
    payment = locked(Payment, request.payment_id)
    request = db.session.get(Refund, refund_id, populate_existing=True)
    assert payment is not None and request is not None
    if request.state != "pending":
        return "skipped"
    amount = payment.amount - payment.refunded_amount if request.amount == REFUND_ALL else request.amount
    if amount <= 0:
        request.state, request.finished_at = "done", now_utc()
        return "skipped"  # nothing left to give back
    try:
        answer = current_app.extensions["motcua_connectors"].call("payment.refund", {
            "ma_giao_dich": payment.transaction_id, "so_tien": amount, "ly_do": request.reason,
            "idempotency_key": request.request_key})
    except PermanentError as exc:
        # Refused (e.g. more than is left): nothing was refunded. Say so where the officers look.
        request.state, request.error, request.finished_at = "refused", exc.message, now_utc()
        _note(payment, "refund_failed", N_("Không hoàn được %(amount)s cho giao dịch %(transaction)s: %(error)s"),
              amount=amount, transaction=payment.transaction_id, error=exc.message)
        return "refused"
    # The platform's running total is the truth: a lost answer retried under the same key counts once.
    total = max(payment.refunded_amount, int(answer["so_tien_hoan"]))
    request.refunded, request.state, request.finished_at = total - payment.refunded_amount, "done", now_utc()
    payment.refunded_amount = total
    if total >= payment.amount:
        payment.state = "refunded"
    _note(payment, "refunded", N_("Đã hoàn %(amount)s cho giao dịch %(transaction)s: %(reason)s"),
          amount=amount, transaction=payment.transaction_id, reason=request.reason)
    return "refunded"


def retry_refund(refund_id: int, user: User) -> Refund:
    """Queue a stalled refund's job again (the caller commits)."""
    request = db.session.get(Refund, refund_id)
    if request is None or not may_refund(user, request.payment.dossier):
        raise NotFound(gettext("Không tìm thấy yêu cầu hoàn tiền số %(id)s.", id=refund_id), code="refund_not_found")
    if request.state != "pending":
        raise Conflict(gettext("Yêu cầu hoàn tiền này đã được xử lý."), code="refund_closed")
    _note(request.payment, "refund_retry", N_("Thử lại yêu cầu hoàn tiền số %(id)s."), user, id=request.id)
    events.publish(events.refund_requested, refund=request, job_id=f"pay-refund-{request.id}-{uuid4().hex[:8]}")
    return request

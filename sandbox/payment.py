"""Sandbox: the national payment platform (Nền tảng thanh toán), over real HTTP.

Merchant API (bearer token, JSON, Vietnamese error bodies ``{"error_code", "message"}``):

- ``POST /thanh-toan/khoi-tao`` — register a payment, idempotent by ``ma_giao_dich`` (201, or 200 with
  the same payment for the same body, 409 for a different one); answers the hosted page URL.
- ``GET /thanh-toan/<ma_giao_dich>`` — re-query (reconciliation).
- ``GET /thanh-toan/<ma_giao_dich>/bien-lai`` — the e-receipt PDF, once paid (409 before).
- ``POST /thanh-toan/<ma_giao_dich>/hoan-tien`` — refund, idempotent by the ``Idempotency-Key`` header.

Citizen pages (no token, like the real hosted checkout):

- ``GET/POST /thanh-toan/trang/<ma_thanh_toan>`` — the hosted payment page; the POST pays or cancels,
  sends the signed callback (IPN) to ``url_callback`` from a background thread (form-encoded, 5 s
  timeout, retried up to :data:`CALLBACK_RETRIES` times while the receiver does not answer
  ``{"error_code": "0"}``) and redirects the browser to ``url_tra_ve`` with the same signed fields.
- ``GET /tra-cuu-bien-lai/<ma_tra_cuu>`` — the receipt lookup page the receipt's QR code points to.

Callback fields, in signing order: :data:`CALLBACK_FIELDS`, then ``MaXacThuc`` = lowercase hex SHA-256
of their values joined by ``|`` followed by ``|`` + the shared secret (:func:`sandbox.common.sign`).

Test hooks (unauthenticated, under ``/_`` so the fault injector and the request log skip them):
``/_payment/callback-faults`` (drop / duplicate / delay the callbacks of the next payments),
``/_payment/payments`` (every payment: status, charges, callbacks delivered),
``/_payment/<ma_giao_dich>/replay-callback`` (send the very same signed callback again) and
``POST /_payment/verify-signature`` (does a callback's ``MaXacThuc``, computed by anyone, check out
under the platform's secret? ``{"valid": bool}``).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import requests
from flask import Blueprint, Flask, Response, current_app, jsonify, redirect, render_template_string, request, url_for
from flask.typing import ResponseReturnValue

from sandbox.common import (
    Refused,
    Service,
    attach_state,
    bearer,
    is_int,
    json_object,
    sign,
    signature_valid,
    stamp,
    state,
)
from sandbox.faults import Queue, check_ints, queue_routes
from sandbox.receipt import format_vnd, render_receipt_pdf

__all__ = ["CALLBACK_ATTEMPT_TIMEOUT", "CALLBACK_FIELDS", "CALLBACK_RETRIES", "DEFAULT_PAYMENT_SECRET",
           "CallbackFault", "Payment", "PaymentState", "bp"]

# The wire contract (DOMAIN.md "Payments and fees"), written here from the platform's rules.
DEFAULT_PAYMENT_SECRET: Final = "sandbox-payment-secret"  # noqa: S105 - the sandbox's published secret
CALLBACK_FIELDS: Final = ("MaGiaoDich", "MaThanhToan", "MaHoSo", "SoTien", "TrangThai", "ThoiGianThanhToan")
SIGNATURE_FIELD: Final = "MaXacThuc"
STATUS_PAID: Final = "00"
STATUS_CANCELLED: Final = "01"
TIMESTAMP_FORMAT: Final = "%Y%m%d%H%M%S"  # yyyyMMddHHmmss, local time in Vietnam
PLATFORM_TZ: Final = ZoneInfo("Asia/Ho_Chi_Minh")
TRANSACTION_ID_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$", re.ASCII)

CALLBACK_RETRIES: Final = 3  # after the first delivery: up to 4 POSTs in all per delivery
CALLBACK_ATTEMPT_TIMEOUT: Final = 5.0  # seconds
DEFAULT_CALLBACK_BACKOFF: Final = 0.2  # seconds before the first retry, doubled each time
CALLBACK_FAULT_MODES: Final = ("drop", "duplicate", "delay")
MAX_AMOUNT: Final = 100_000_000_000  # 100 billion đồng: anything larger is a typo
_RESERVED_IDS: Final = frozenset({"khoi-tao", "trang", "bien-lai", "hoan-tien"})
_IDEMPOTENCY_KEY_RE: Final = re.compile(r"^[\x21-\x7e]{1,128}$", re.ASCII)


@dataclass
class CallbackFault:
    """The callbacks of the next ``count`` payments are dropped, sent ``times`` times, or sent late."""

    mode: str
    count: int = 1
    times: int = 2
    delay_ms: int = 0


@dataclass
class Payment:
    ma_giao_dich: str
    ma_thanh_toan: str
    ma_ho_so: str
    so_tien: int
    noi_dung: str
    url_callback: str
    url_tra_ve: str
    created_at: datetime
    ma_tra_cuu: str  # the receipt lookup token (in the QR code)
    trang_thai: str = "cho_thanh_toan"
    thoi_gian: datetime | None = None  # local time of payment or cancellation
    charges: int = 0  # how many times the citizen's account was debited: must never exceed 1
    so_tien_hoan: int = 0
    so_bien_lai: str | None = None
    callback: list[tuple[str, str]] | None = None  # the signed fields, in order, once settled
    callback_fault: str | None = None
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)

    def request_body(self) -> dict[str, Any]:
        return {"ma_giao_dich": self.ma_giao_dich, "ma_ho_so": self.ma_ho_so, "so_tien": self.so_tien,
                "noi_dung": self.noi_dung, "url_callback": self.url_callback, "url_tra_ve": self.url_tra_ve}

    def public(self) -> dict[str, Any]:
        paid_at = self.thoi_gian if self.trang_thai in ("da_thanh_toan", "da_hoan_tien") else None
        return {"ma_giao_dich": self.ma_giao_dich, "ma_thanh_toan": self.ma_thanh_toan, "ma_ho_so": self.ma_ho_so,
                "so_tien": self.so_tien, "noi_dung": self.noi_dung, "trang_thai": self.trang_thai,
                "thoi_gian_thanh_toan": paid_at.isoformat() if paid_at else None,
                "so_tien_hoan": self.so_tien_hoan, "so_bien_lai": self.so_bien_lai}

    @property
    def was_paid(self) -> bool:
        return self.trang_thai in ("da_thanh_toan", "da_hoan_tien")


class PaymentState(Service):
    """Payments, refunds by idempotency key and cached receipts."""

    def __init__(self, backoff: float) -> None:
        super().__init__()
        self.backoff = backoff
        self.payments: dict[str, Payment] = {}
        self.by_platform_id: dict[str, Payment] = {}
        self.by_lookup: dict[str, Payment] = {}
        self.refunds: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {}
        self.receipts: dict[str, bytes] = {}
        self.receipt_lock = threading.Lock()  # one PDF printed at a time; never twice for one payment
        self.receipt_seq = 0

    def dump(self) -> dict[str, Any]:
        return {"payments": [{**_public(p), "charges": p.charges, "refunds": len(p.refunds),
                              "callback_fault": p.callback_fault, "callbacks": [dict(d) for d in p.deliveries]}
                             for p in self.payments.values()]}

    def clear(self) -> None:
        for index in (self.payments, self.by_platform_id, self.by_lookup, self.refunds, self.receipts):
            index.clear()


def _held() -> PaymentState:
    return state("payment", PaymentState)


def _payment(held: PaymentState, ma_giao_dich: str) -> Payment:
    """The payment (caller holds the lock), or a 404 refusal."""
    payment = held.payments.get(ma_giao_dich)
    if payment is None:
        raise Refused(404, "khong_tim_thay", f"Không tìm thấy giao dịch có mã {ma_giao_dich}.")
    return payment


def _secret() -> str:
    return str(current_app.config.get("PAYMENT_SECRET", DEFAULT_PAYMENT_SECRET))


def _now() -> datetime:
    return datetime.now(PLATFORM_TZ).replace(microsecond=0)


def _valid_url(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 2000:
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _with_query(url: str, fields: Sequence[tuple[str, str]]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(fields)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


# ------------------------------------------------------------------ callbacks (IPN)


def _post_callback(held: PaymentState, payment: Payment, fields: list[tuple[str, str]], *, attempt: int,
                   replay: bool = False) -> dict[str, Any]:
    """One POST of the signed callback; the receiver acknowledges with ``{"error_code": "0"}``."""
    now = time.time()
    entry: dict[str, Any] = {"at": stamp(now), "time": now, "attempt": attempt, "replay": replay, "status": None,
                             "ok": False, "error": None}
    try:
        response = requests.post(payment.url_callback, data=fields, timeout=CALLBACK_ATTEMPT_TIMEOUT)
    except requests.RequestException as exc:
        entry["error"] = type(exc).__name__
    else:
        entry["status"] = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        entry["ok"] = (response.status_code == 200 and isinstance(body, dict)
                       and str(body.get("error_code")) == "0")
    with held.lock:
        payment.deliveries.append(entry)
    return entry


def _deliver(held: PaymentState, payment: Payment, fields: list[tuple[str, str]], fault: CallbackFault | None) -> None:
    """Background thread: deliver once (``times`` times when duplicating), retrying an unacknowledged POST."""
    if fault is not None and fault.mode == "delay":
        time.sleep(fault.delay_ms / 1000)
    times = fault.times if fault is not None and fault.mode == "duplicate" else 1
    for _ in range(times):
        for attempt in range(1, CALLBACK_RETRIES + 2):
            if _post_callback(held, payment, fields, attempt=attempt)["ok"]:
                break
            if attempt <= CALLBACK_RETRIES:
                time.sleep(held.backoff * 2 ** (attempt - 1))


def _settle(payment: Payment, paid: bool, secret: str) -> list[tuple[str, str]]:
    """Mark the payment paid or cancelled (the caller holds the lock) and build its signed callback."""
    payment.thoi_gian = _now()
    payment.trang_thai = "da_thanh_toan" if paid else "da_huy"
    values = [payment.ma_giao_dich, payment.ma_thanh_toan, payment.ma_ho_so, str(payment.so_tien),
              STATUS_PAID if paid else STATUS_CANCELLED, payment.thoi_gian.strftime(TIMESTAMP_FORMAT)]
    fields = list(zip(CALLBACK_FIELDS, values, strict=True))
    fields.append((SIGNATURE_FIELD, sign(values, secret)))
    payment.callback = fields
    return fields


# ------------------------------------------------------------------ pages

_PAGE: Final = """<!doctype html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} — Nền tảng thanh toán</title>
<style>
  body { font-family: system-ui, "DejaVu Sans", sans-serif; background: #f3f5f8; margin: 0; color: #1b1f24; }
  main { max-width: 34rem; margin: 2rem auto; background: #fff; border-radius: .5rem; padding: 1.5rem 2rem;
         box-shadow: 0 1px 4px rgba(0,0,0,.12); }
  .brand { color: #b3261e; font-weight: 700; letter-spacing: .02em; }
  dl { display: grid; grid-template-columns: 9rem 1fr; gap: .5rem 1rem; }
  dt { color: #555; } dd { margin: 0; font-weight: 600; word-break: break-word; }
  .amount { font-size: 1.4rem; color: #b3261e; }
  .actions { display: flex; gap: 1rem; margin-top: 1.5rem; }
  button { font-size: 1rem; padding: .6rem 1.2rem; border-radius: .3rem; border: 1px solid #888; cursor: pointer; }
  button.pay { background: #b3261e; color: #fff; border-color: #b3261e; }
  .notice { padding: .8rem 1rem; border-radius: .3rem; background: #eef6ee; }
  .notice.warn { background: #fdf0e6; }
  small { color: #666; }
</style>
</head>
<body>
<main>
  <p class="brand">NỀN TẢNG THANH TOÁN <small>(môi trường thử nghiệm)</small></p>
  <h1>{{ title }}</h1>
  {% if message %}<p class="notice{% if warn %} warn{% endif %}" role="status">{{ message }}</p>{% endif %}
  {% if p %}
  <dl>
    <dt>Mã hồ sơ</dt><dd id="ma-ho-so">{{ p.ma_ho_so }}</dd>
    <dt>Nội dung</dt><dd id="noi-dung">{{ p.noi_dung }}</dd>
    <dt>Số tiền</dt><dd id="so-tien" class="amount">{{ amount }}</dd>
    <dt>Mã giao dịch</dt><dd>{{ p.ma_giao_dich }}</dd>
    <dt>Mã thanh toán</dt><dd>{{ p.ma_thanh_toan }}</dd>
    {% if p.so_bien_lai %}<dt>Số biên lai</dt><dd>{{ p.so_bien_lai }}</dd>{% endif %}
    {% if paid_at %}<dt>Thời gian</dt><dd>{{ paid_at }}</dd>{% endif %}
  </dl>
  {% if pending %}
  <form method="post" action="{{ action }}" class="actions">
    <button type="submit" name="hanh_dong" value="thanh_toan" class="pay">Thanh toán</button>
    <button type="submit" name="hanh_dong" value="huy">Hủy giao dịch</button>
  </form>
  {% elif back %}
  <p><a href="{{ back }}">Quay lại trang dịch vụ công</a></p>
  {% endif %}
  {% endif %}
</main>
</body>
</html>
"""

_STATUS_TEXT: Final = {
    "cho_thanh_toan": "Giao dịch đang chờ thanh toán.",
    "da_thanh_toan": "Giao dịch đã được thanh toán thành công.",
    "da_huy": "Giao dịch đã bị hủy.",
    "da_hoan_tien": "Giao dịch đã được hoàn tiền.",
}


def _page(title: str, payment: Payment | None, *, message: str = "", warn: bool = False,
          status: int = 200) -> tuple[str, int]:
    pending = payment is not None and payment.trang_thai == "cho_thanh_toan"
    back = None
    if payment is not None and payment.callback is not None:
        back = _with_query(payment.url_tra_ve, payment.callback)
    html = render_template_string(
        _PAGE, title=title, p=payment, message=message, warn=warn, pending=pending, back=back,
        amount=format_vnd(payment.so_tien) if payment else "",
        paid_at=payment.thoi_gian.strftime("%H:%M:%S %d/%m/%Y") if payment and payment.thoi_gian else "",
        action=url_for("payment.hosted_page", ma_thanh_toan=payment.ma_thanh_toan) if payment else "")
    return html, status


def _public(payment: Payment) -> dict[str, Any]:
    """The re-query answer; once paid it carries the receipt lookup URL (the one in the receipt's QR code)."""
    answer = payment.public()
    answer["url_tra_cuu_bien_lai"] = (url_for("payment.receipt_lookup", ma_tra_cuu=payment.ma_tra_cuu, _external=True)
                                      if payment.was_paid else None)
    return answer


def _receipt_data(payment: Payment) -> dict[str, Any]:
    return {"so_bien_lai": payment.so_bien_lai, "ma_ho_so": payment.ma_ho_so, "noi_dung": payment.noi_dung,
            "so_tien": payment.so_tien, "thoi_gian_thanh_toan": payment.thoi_gian,
            "ma_giao_dich": payment.ma_giao_dich, "ma_thanh_toan": payment.ma_thanh_toan,
            "url_tra_cuu": url_for("payment.receipt_lookup", ma_tra_cuu=payment.ma_tra_cuu, _external=True)}


# ------------------------------------------------------------------ validation


def _parse_create(body: dict[str, Any]) -> dict[str, Any]:
    ma_giao_dich = body.get("ma_giao_dich")
    if (not isinstance(ma_giao_dich, str) or not TRANSACTION_ID_RE.fullmatch(ma_giao_dich)
            or ma_giao_dich in _RESERVED_IDS):
        raise Refused(422, "ma_giao_dich_khong_hop_le",
                      "Mã giao dịch phải gồm 1–64 ký tự chữ cái không dấu, chữ số, “-” hoặc “_”.")
    ma_ho_so = body.get("ma_ho_so")
    if not isinstance(ma_ho_so, str) or not ma_ho_so.strip() or len(ma_ho_so) > 64:
        raise Refused(422, "du_lieu_khong_hop_le", "Thiếu mã hồ sơ (tối đa 64 ký tự).")
    so_tien = body.get("so_tien")
    if not is_int(so_tien) or not 0 < so_tien <= MAX_AMOUNT:
        raise Refused(422, "so_tien_khong_hop_le", "Số tiền phải là số nguyên dương (đồng).")
    noi_dung = body.get("noi_dung")
    if not isinstance(noi_dung, str) or not noi_dung.strip() or len(noi_dung) > 255:
        raise Refused(422, "du_lieu_khong_hop_le", "Thiếu nội dung thanh toán (tối đa 255 ký tự).")
    for key in ("url_callback", "url_tra_ve"):
        if not _valid_url(body.get(key)):
            raise Refused(422, "du_lieu_khong_hop_le", f"“{key}” phải là một địa chỉ http(s) đầy đủ.")
    return {"ma_giao_dich": ma_giao_dich, "ma_ho_so": ma_ho_so.strip(), "so_tien": so_tien,
            "noi_dung": noi_dung.strip(), "url_callback": body["url_callback"], "url_tra_ve": body["url_tra_ve"]}


def _parse_callback_fault(body: dict[str, Any]) -> CallbackFault:
    mode = body.get("mode")
    if mode not in CALLBACK_FAULT_MODES:
        raise Refused(422, "du_lieu_khong_hop_le", "“mode” phải là một trong: drop, duplicate, delay.")
    values = {"count": body.get("count", 1), "times": body.get("times", 2), "delay_ms": body.get("delay_ms", 0)}
    check_ints(values, {"count": 1, "times": 1, "delay_ms": 0})
    if values["times"] > 20 or values["delay_ms"] > 60_000:
        raise Refused(422, "du_lieu_khong_hop_le", "“times” tối đa 20, “delay_ms” tối đa 60000.")
    return CallbackFault(str(mode), **values)


# ------------------------------------------------------------------ merchant API and citizen pages


def _make_state(app: Flask) -> PaymentState:
    return PaymentState(float(app.config.get("PAYMENT_CALLBACK_BACKOFF", DEFAULT_CALLBACK_BACKOFF)))


bp = Blueprint("payment", __name__)
attach_state(bp, "payment", _make_state, hook="/_payment/payments")
queue_routes(bp, "/_payment/callback-faults", "payment_callbacks", _parse_callback_fault)


@bp.post("/thanh-toan/khoi-tao")
@bearer
def create() -> ResponseReturnValue:
    parsed = _parse_create(json_object())
    held = _held()
    with held.lock:
        existing = held.payments.get(parsed["ma_giao_dich"])
        if existing is not None:
            if existing.request_body() != parsed:
                raise Refused(409, "ma_giao_dich_da_ton_tai",
                              f"Mã giao dịch {parsed['ma_giao_dich']} đã được dùng cho một giao dịch khác "
                              "(khác số tiền hoặc nội dung).")
            payment, status = existing, 200
        else:
            payment = Payment(**parsed, ma_thanh_toan="TT" + secrets.token_hex(8).upper(),
                              created_at=_now(), ma_tra_cuu=secrets.token_urlsafe(12))
            held.payments[payment.ma_giao_dich] = payment
            held.by_platform_id[payment.ma_thanh_toan] = payment
            held.by_lookup[payment.ma_tra_cuu] = payment
            status = 201
        answer = {"ma_giao_dich": payment.ma_giao_dich, "ma_thanh_toan": payment.ma_thanh_toan,
                  "url_thanh_toan": url_for("payment.hosted_page", ma_thanh_toan=payment.ma_thanh_toan,
                                            _external=True),
                  "trang_thai": payment.trang_thai}
    return jsonify(answer), status


def _not_found_page() -> tuple[str, int]:
    return _page("Không tìm thấy giao dịch", None, warn=True, status=404,
                 message="Giao dịch không tồn tại hoặc đường dẫn thanh toán không đúng.")


@bp.get("/thanh-toan/trang/<ma_thanh_toan>")
def hosted_page(ma_thanh_toan: str) -> ResponseReturnValue:
    held = _held()
    with held.lock:
        payment = held.by_platform_id.get(ma_thanh_toan)
        if payment is None:
            return _not_found_page()
        return _page("Thanh toán phí, lệ phí" if payment.trang_thai == "cho_thanh_toan" else "Kết quả giao dịch",
                     payment, message=_STATUS_TEXT[payment.trang_thai])


@bp.post("/thanh-toan/trang/<ma_thanh_toan>")
def hosted_action(ma_thanh_toan: str) -> ResponseReturnValue:
    held = _held()
    action = request.form.get("hanh_dong", "")
    secret = _secret()
    with held.lock:
        payment = held.by_platform_id.get(ma_thanh_toan)
        if payment is None:
            return _not_found_page()
        if action not in ("thanh_toan", "huy"):
            return _page("Thanh toán phí, lệ phí", payment, warn=True, status=400,
                         message="Thao tác không hợp lệ: hãy chọn “Thanh toán” hoặc “Hủy giao dịch”.")
        if payment.trang_thai != "cho_thanh_toan":
            # A second click, a resubmitted form, a back button: never a second charge.
            return _page("Kết quả giao dịch", payment, message=_STATUS_TEXT[payment.trang_thai],
                         warn=payment.trang_thai != "da_thanh_toan")
        paid = action == "thanh_toan"
        if paid:
            payment.charges += 1
            held.receipt_seq += 1
            payment.so_bien_lai = f"{held.receipt_seq:07d}"
        fields = _settle(payment, paid, secret)
    fault = state("payment_callbacks", Queue).take(lambda f: True)
    with held.lock:
        payment.callback_fault = fault.mode if fault is not None else None
    if fault is None or fault.mode != "drop":
        threading.Thread(target=_deliver, args=(held, payment, fields, fault), daemon=True,
                         name=f"payment-callback-{payment.ma_giao_dich}").start()
    return redirect(_with_query(payment.url_tra_ve, fields), 302)


@bp.get("/thanh-toan/<ma_giao_dich>")
@bearer
def query(ma_giao_dich: str) -> ResponseReturnValue:
    held = _held()
    with held.lock:
        return jsonify(_public(_payment(held, ma_giao_dich)))


@bp.get("/thanh-toan/<ma_giao_dich>/bien-lai")
@bearer
def receipt(ma_giao_dich: str) -> ResponseReturnValue:
    held = _held()
    with held.lock:
        payment = _payment(held, ma_giao_dich)
        if not payment.was_paid:
            raise Refused(409, "chua_thanh_toan", "Giao dịch chưa được thanh toán nên chưa có biên lai điện tử.")
        data = _receipt_data(payment)
    with held.receipt_lock:
        pdf = held.receipts.get(ma_giao_dich)
        if pdf is None:
            pdf = render_receipt_pdf(data)
            held.receipts[ma_giao_dich] = pdf
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="bien-lai-{data["so_bien_lai"]}.pdf"'
    return response


@bp.get("/tra-cuu-bien-lai/<ma_tra_cuu>")
def receipt_lookup(ma_tra_cuu: str) -> ResponseReturnValue:
    held = _held()
    with held.lock:
        payment = held.by_lookup.get(ma_tra_cuu)
        if payment is None or not payment.was_paid:
            return _page("Không tìm thấy biên lai", None, warn=True, status=404,
                         message="Không tìm thấy biên lai điện tử với mã tra cứu này.")
        return _page("Tra cứu biên lai điện tử", payment, message=_STATUS_TEXT[payment.trang_thai])


@bp.post("/thanh-toan/<ma_giao_dich>/hoan-tien")
@bearer
def refund(ma_giao_dich: str) -> ResponseReturnValue:
    key = request.headers.get("Idempotency-Key", "")
    if not _IDEMPOTENCY_KEY_RE.fullmatch(key):
        raise Refused(422, "thieu_khoa_chong_trung",
                      "Yêu cầu hoàn tiền phải có tiêu đề Idempotency-Key (1–128 ký tự ASCII in được).")
    body = json_object()
    so_tien, ly_do = body.get("so_tien"), body.get("ly_do")
    if not is_int(so_tien) or so_tien <= 0:
        raise Refused(422, "so_tien_khong_hop_le", "Số tiền hoàn phải là số nguyên dương (đồng).")
    if not isinstance(ly_do, str) or not ly_do.strip() or len(ly_do) > 255:
        raise Refused(422, "du_lieu_khong_hop_le", "Thiếu lý do hoàn tiền (tối đa 255 ký tự).")
    request_body = {"so_tien": so_tien, "ly_do": ly_do.strip()}
    held = _held()
    with held.lock:
        payment = _payment(held, ma_giao_dich)
        previous = held.refunds.get((ma_giao_dich, key))
        if previous is not None:
            if previous[0] != request_body:
                raise Refused(409, "khoa_chong_trung_da_dung",
                              "Idempotency-Key này đã được dùng cho một yêu cầu hoàn tiền khác.")
            return jsonify(previous[1]), 200
        if not payment.was_paid:
            raise Refused(409, "chua_thanh_toan", "Chỉ hoàn tiền được giao dịch đã thanh toán.")
        if payment.so_tien_hoan + so_tien > payment.so_tien:
            raise Refused(409, "vuot_so_tien_da_thanh_toan",
                          f"Số tiền hoàn ({format_vnd(so_tien)}) vượt quá số tiền còn có thể hoàn "
                          f"({format_vnd(payment.so_tien - payment.so_tien_hoan)}).")
        payment.so_tien_hoan += so_tien
        if payment.so_tien_hoan == payment.so_tien:
            payment.trang_thai = "da_hoan_tien"
        answer = {"ma_giao_dich": ma_giao_dich, "ma_hoan_tien": "HT" + secrets.token_hex(6).upper(),
                  "so_tien": so_tien, "ly_do": request_body["ly_do"], "so_tien_hoan": payment.so_tien_hoan,
                  "trang_thai": payment.trang_thai, "thoi_gian": _now().isoformat()}
        payment.refunds.append(answer)
        held.refunds[(ma_giao_dich, key)] = (request_body, answer)
    return jsonify(answer), 201


# ------------------------------------------------------------------ test hooks


@bp.post("/_payment/<ma_giao_dich>/replay-callback")
def replay_callback(ma_giao_dich: str) -> ResponseReturnValue:
    held = _held()
    with held.lock:
        payment = _payment(held, ma_giao_dich)
        fields = list(payment.callback) if payment.callback else None
    if fields is None:
        raise Refused(409, "chua_co_thong_bao", "Giao dịch chưa kết thúc nên chưa có thông báo để gửi lại.")
    entry = _post_callback(held, payment, fields, attempt=1, replay=True)
    return jsonify({"delivery": entry, "fields": dict(fields)})


@bp.post("/_payment/verify-signature")
def verify_signature() -> ResponseReturnValue:
    """Whether callback fields (form or JSON object) carry a valid ``MaXacThuc`` under the platform's secret."""
    fields = request.form.to_dict() if request.form else json_object()
    values = [fields.get(name) for name in (*CALLBACK_FIELDS, SIGNATURE_FIELD)]
    missing = [name for name, value in zip((*CALLBACK_FIELDS, SIGNATURE_FIELD), values, strict=True)
               if not isinstance(value, str)]
    if missing:
        raise Refused(422, "du_lieu_khong_hop_le", f"Thiếu trường: {', '.join(missing)}.")
    *signed, signature = [str(value) for value in values]
    return jsonify({"valid": signature_valid(signed, signature, _secret())})

"""National payment platform: create a payment, send the citizen to its hosted page, verify the signed callback.

The flow (DOMAIN.md "Payments and fees"):

1. :meth:`PaymentConnector.create_payment` registers a payment under our own transaction id
   (``ma_giao_dich``, unique, also the idempotency key) and gets back ``url_thanh_toan``, the hosted
   page the citizen's browser is sent to.
2. Once the citizen pays (or cancels), the platform POSTs a signed, form-encoded callback (IPN) to
   ``url_callback`` and redirects the browser to ``url_tra_ve`` with the same signed fields in the
   query string. Either may come twice, late, or never: :meth:`PaymentConnector.verify_callback`
   checks the signature, the receiver deduplicates by ``ma_giao_dich`` and a job reconciles pending
   payments with :meth:`PaymentConnector.query_payment`.
3. After payment, :meth:`PaymentConnector.fetch_receipt` downloads the e-receipt (biên lai điện tử) PDF.

Callback fields, in signing order: :data:`CALLBACK_FIELDS`, then ``MaXacThuc`` = lowercase hex
SHA-256 of their values joined by ``|`` followed by ``|`` + the shared secret (:func:`sign`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from connectors.base import HttpClient, PermanentError
from connectors.registry import Operation

__all__ = [
    "CALLBACK_FIELDS",
    "DEFAULT_PAYMENT_SECRET",
    "PROVIDER",
    "SIGNATURE_FIELD",
    "STATUS_CANCELLED",
    "STATUS_PAID",
    "TIMESTAMP_FORMAT",
    "PaymentConnector",
    "sign",
]

PROVIDER: Final = "payment"
DEFAULT_PAYMENT_SECRET: Final = "sandbox-payment-secret"  # noqa: S105 - the sandbox's published secret
CALLBACK_FIELDS: Final = ("MaGiaoDich", "MaThanhToan", "MaHoSo", "SoTien", "TrangThai", "ThoiGianThanhToan")
SIGNATURE_FIELD: Final = "MaXacThuc"
STATUS_PAID: Final = "00"
STATUS_CANCELLED: Final = "01"
TIMESTAMP_FORMAT: Final = "%Y%m%d%H%M%S"  # yyyyMMddHHmmss, local time in Vietnam
PLATFORM_TZ: Final = ZoneInfo("Asia/Ho_Chi_Minh")
TRANSACTION_ID_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$", re.ASCII)
PAYMENT_STATUSES: Final = ("cho_thanh_toan", "da_thanh_toan", "da_huy", "da_hoan_tien")


def sign(values: Sequence[str], secret: str) -> str:
    """``MaXacThuc``: lowercase hex SHA-256 of ``"|".join(values + [secret])`` (UTF-8)."""
    return hashlib.sha256("|".join([*values, secret]).encode("utf-8")).hexdigest()


# ------------------------------------------------------------------ JSON Schemas of the operations

_TRANSACTION_ID = {"type": "string", "pattern": TRANSACTION_ID_RE.pattern}
_URL = {"type": "string", "pattern": "^https?://", "maxLength": 2000}

CREATE_PARAMS: Final = {
    "type": "object",
    "required": ["ma_giao_dich", "ma_ho_so", "so_tien", "noi_dung", "url_callback", "url_tra_ve"],
    "properties": {
        "ma_giao_dich": _TRANSACTION_ID,
        "ma_ho_so": {"type": "string", "minLength": 1, "maxLength": 64},
        "so_tien": {"type": "integer", "minimum": 1},
        "noi_dung": {"type": "string", "minLength": 1, "maxLength": 255},
        "url_callback": _URL,
        "url_tra_ve": _URL,
    },
    "additionalProperties": False,
}
CREATE_RESULT: Final = {
    "type": "object",
    "required": ["ma_giao_dich", "ma_thanh_toan", "url_thanh_toan", "trang_thai"],
    "properties": {
        "ma_giao_dich": {"type": "string"},
        "ma_thanh_toan": {"type": "string", "minLength": 1},
        "url_thanh_toan": _URL,
        "trang_thai": {"enum": list(PAYMENT_STATUSES)},
    },
}
QUERY_PARAMS: Final = {
    "type": "object",
    "required": ["ma_giao_dich"],
    "properties": {"ma_giao_dich": _TRANSACTION_ID},
    "additionalProperties": False,
}
QUERY_RESULT: Final = {
    "type": "object",
    "required": ["ma_giao_dich", "ma_thanh_toan", "ma_ho_so", "so_tien", "trang_thai", "thoi_gian_thanh_toan",
                 "so_tien_hoan"],
    "properties": {
        "ma_giao_dich": {"type": "string"},
        "ma_thanh_toan": {"type": "string"},
        "ma_ho_so": {"type": "string"},
        "so_tien": {"type": "integer", "minimum": 1},
        "trang_thai": {"enum": list(PAYMENT_STATUSES)},
        "thoi_gian_thanh_toan": {"type": ["string", "null"]},
        "so_tien_hoan": {"type": "integer", "minimum": 0},
    },
}
REFUND_PARAMS: Final = {
    "type": "object",
    "required": ["ma_giao_dich", "so_tien", "ly_do", "idempotency_key"],
    "properties": {
        "ma_giao_dich": _TRANSACTION_ID,
        "so_tien": {"type": "integer", "minimum": 1},
        "ly_do": {"type": "string", "minLength": 1, "maxLength": 255},
        # Sent as an HTTP header: printable ASCII only.
        "idempotency_key": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,128}$"},
    },
    "additionalProperties": False,
}
REFUND_RESULT: Final = {
    "type": "object",
    "required": ["ma_giao_dich", "ma_hoan_tien", "so_tien", "so_tien_hoan", "trang_thai"],
    "properties": {
        "ma_giao_dich": {"type": "string"},
        "ma_hoan_tien": {"type": "string", "minLength": 1},
        "so_tien": {"type": "integer", "minimum": 1},
        "so_tien_hoan": {"type": "integer", "minimum": 1},
        "trang_thai": {"enum": list(PAYMENT_STATUSES)},
    },
}


class PaymentConnector:
    """A real HTTP client of the payment platform; ``secret`` is the shared key that signs callbacks."""

    def __init__(self, client: HttpClient, secret: str) -> None:
        self.client = client
        self._secret = secret

    def __repr__(self) -> str:  # never show the secret
        return f"PaymentConnector(client={self.client!r})"

    @staticmethod
    def _check_transaction_id(ma_giao_dich: str) -> None:
        if not isinstance(ma_giao_dich, str) or not TRANSACTION_ID_RE.fullmatch(ma_giao_dich):
            raise PermanentError(PROVIDER, "invalid_params",
                                 "Mã giao dịch phải gồm 1–64 ký tự chữ cái không dấu, chữ số, “-” hoặc “_”.")

    def create_payment(self, ma_giao_dich: str, ma_ho_so: str, so_tien: int, noi_dung: str, url_callback: str,
                       url_tra_ve: str) -> dict[str, Any]:
        """Register a payment; safe to retry (the platform is idempotent by ``ma_giao_dich``)."""
        self._check_transaction_id(ma_giao_dich)
        if isinstance(so_tien, bool) or not isinstance(so_tien, int) or so_tien <= 0:
            raise PermanentError(PROVIDER, "invalid_params", "Số tiền thanh toán phải là số nguyên dương (đồng).")
        body = {"ma_giao_dich": ma_giao_dich, "ma_ho_so": ma_ho_so, "so_tien": so_tien, "noi_dung": noi_dung,
                "url_callback": url_callback, "url_tra_ve": url_tra_ve}
        result: dict[str, Any] = self.client.request("POST", "/thanh-toan/khoi-tao", json=body,
                                                     idempotency_key=ma_giao_dich)
        return result

    def query_payment(self, ma_giao_dich: str) -> dict[str, Any]:
        """The platform's view of a payment (for reconciling callbacks that never came)."""
        self._check_transaction_id(ma_giao_dich)
        result: dict[str, Any] = self.client.request("GET", f"/thanh-toan/{ma_giao_dich}")
        return result

    def fetch_receipt(self, ma_giao_dich: str) -> bytes:
        """The e-receipt PDF (only once paid; a 409 from the platform is a PermanentError)."""
        self._check_transaction_id(ma_giao_dich)
        content = self.client.request("GET", f"/thanh-toan/{ma_giao_dich}/bien-lai", raw=True)
        if not isinstance(content, bytes) or not content.startswith(b"%PDF"):
            raise PermanentError(PROVIDER, "invalid_receipt", "Biên lai điện tử nhận được không phải tệp PDF.")
        return content

    def refund(self, ma_giao_dich: str, so_tien: int, ly_do: str, idempotency_key: str) -> dict[str, Any]:
        """Refund (part of) a paid payment; the same ``idempotency_key`` never refunds twice."""
        self._check_transaction_id(ma_giao_dich)
        if not idempotency_key:
            raise PermanentError(PROVIDER, "invalid_params", "Hoàn tiền cần khóa chống trùng (idempotency key).")
        result: dict[str, Any] = self.client.request(
            "POST", f"/thanh-toan/{ma_giao_dich}/hoan-tien", json={"so_tien": so_tien, "ly_do": ly_do},
            idempotency_key=idempotency_key)
        return result

    def verify_callback(self, fields: Mapping[str, str]) -> dict[str, Any]:
        """Check a callback's (or return redirect's) signature and decode it.

        Returns ``{ma_giao_dich, ma_thanh_toan, ma_ho_so, so_tien: int, da_thanh_toan: bool,
        thoi_gian: aware datetime}``; raises :class:`PermanentError` ``invalid_signature`` when a field
        or the signature is missing or the signature does not match, ``invalid_callback`` when a signed
        value cannot be decoded.
        """
        values: list[str] = []
        for name in (*CALLBACK_FIELDS, SIGNATURE_FIELD):
            value = fields.get(name)
            if not isinstance(value, str) or (name == SIGNATURE_FIELD and not value):
                raise PermanentError(PROVIDER, "invalid_signature",
                                     f"Thông báo thanh toán thiếu trường “{name}”: không thể xác thực.")
            values.append(value)
        *signed, signature = values
        expected = sign(signed, self._secret)
        if not hmac.compare_digest(expected.encode("ascii"), signature.strip().lower().encode("utf-8")):
            raise PermanentError(PROVIDER, "invalid_signature",
                                 "Chữ ký (MaXacThuc) của thông báo thanh toán không hợp lệ: thông báo bị từ chối.")
        ma_giao_dich, ma_thanh_toan, ma_ho_so, so_tien, trang_thai, thoi_gian = signed
        if not so_tien.isascii() or not so_tien.isdigit() or int(so_tien) <= 0:
            raise PermanentError(PROVIDER, "invalid_callback", f"Số tiền “{so_tien}” trong thông báo không hợp lệ.")
        if trang_thai not in (STATUS_PAID, STATUS_CANCELLED):
            raise PermanentError(PROVIDER, "invalid_callback",
                                 f"Trạng thái “{trang_thai}” trong thông báo thanh toán không được hỗ trợ.")
        try:
            if len(thoi_gian) != 14:
                raise ValueError(thoi_gian)
            moment = datetime.strptime(thoi_gian, TIMESTAMP_FORMAT).replace(tzinfo=PLATFORM_TZ)
        except ValueError:
            raise PermanentError(PROVIDER, "invalid_callback",
                                 f"Thời gian “{thoi_gian}” không đúng dạng yyyyMMddHHmmss.") from None
        return {"ma_giao_dich": ma_giao_dich, "ma_thanh_toan": ma_thanh_toan, "ma_ho_so": ma_ho_so,
                "so_tien": int(so_tien), "da_thanh_toan": trang_thai == STATUS_PAID, "thoi_gian": moment}

    def operations(self) -> list[Operation]:
        return [
            Operation(f"{PROVIDER}.create_payment", "Khởi tạo giao dịch thanh toán trực tuyến phí, lệ phí",
                      CREATE_PARAMS, CREATE_RESULT, self.create_payment),
            Operation(f"{PROVIDER}.query_payment", "Tra cứu trạng thái giao dịch thanh toán",
                      QUERY_PARAMS, QUERY_RESULT, self.query_payment),
            Operation(f"{PROVIDER}.refund", "Hoàn tiền giao dịch đã thanh toán",
                      REFUND_PARAMS, REFUND_RESULT, self.refund),
        ]

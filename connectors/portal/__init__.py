"""National public-service portal (Cổng Dịch vụ công quốc gia, DVCQG): sync dossiers and their process steps.

Wire protocol (see :mod:`sandbox.portal` for the demo service):

- ``POST /dvcqg/ho-so/them-moi`` / ``POST /dvcqg/ho-so/cap-nhat`` with the dossier payload
  (:data:`DOSSIER_SCHEMA`), ``POST /dvcqg/qua-trinh`` with ``{ma_ho_so, buoc}`` (:data:`STEP_SCHEMA`);
- every answer is ``{"error_code", "message"}``, ``"0"`` = accepted — usually with HTTP 200 even when refused;
- dates are ``yyyyMMddHHmmss`` strings, Vietnam wall-clock time (:func:`portal_time` makes them).

Only synced dossiers count in national statistics, so a sync must never lose an update:

- :meth:`PortalConnector.push_dossier` creates, and when the portal says the dossier already exists
  (``HS_DA_TON_TAI``, e.g. the create went through but its answer was lost) sends the same payload as an
  update. Each payload carries ``phien_ban``, the sender's monotonically increasing version of the dossier,
  so the receiver can tell a late, older update from a newer one.
- Transport failures (timeouts, 5xx, 429) are retried by :class:`~connectors.base.HttpClient`, then raised as
  TransientError; the job layer retries later.

Error codes → exceptions (``code`` keeps the portal's error_code):

- ``HE_THONG_BAN`` (portal busy) → TransientError;
- ``HS_KHONG_TON_TAI`` on ``push_step`` → TransientError: the dossier's own create may still be queued
  behind the step, so trying later can succeed; the same code from the update that follows an
  ``HS_DA_TON_TAI`` is a race with the portal and is TransientError too;
- anything else non-``"0"`` (``THIEU_TRUONG_BAT_BUOC``, ``NGAY_KHONG_HOP_LE``, ``DU_LIEU_KHONG_HOP_LE``,
  ``QT_MA_BUOC_XUNG_DOT``, …) → PermanentError; so is a 4xx (401 ``chua_xac_thuc``) or an answer without
  ``error_code`` (``invalid_response``).

Payloads are checked before anything leaves: dates (``ngay_khong_hop_le``, with the field and the value in the
message) and then the JSON Schema (``invalid_payload``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from jsonschema import Draft202012Validator

from connectors.base import ConnectorError, HttpClient, PermanentError, TransientError
from connectors.registry import Operation

__all__ = [
    "DOSSIER_SCHEMA", "PROVIDER", "STEP_SCHEMA", "TRANG_THAI", "TRANSIENT_CODES", "PortalConnector",
    "parse_portal_time", "portal_time",
]

PROVIDER: Final = "portal"
VIETNAM: Final = ZoneInfo("Asia/Ho_Chi_Minh")
DATE_FORMAT: Final = "%Y%m%d%H%M%S"
_DATE_RE: Final = re.compile(r"^[0-9]{14}$", re.ASCII)

OK: Final = "0"
ALREADY_EXISTS: Final = "HS_DA_TON_TAI"
NOT_FOUND: Final = "HS_KHONG_TON_TAI"
TRANSIENT_CODES: Final = frozenset({"HE_THONG_BAN"})

# TrangThaiHoSo: the only statuses a synced dossier may have.
TRANG_THAI: Final = {
    1: "Mới đăng ký", 2: "Được tiếp nhận", 3: "Không được tiếp nhận", 4: "Đang xử lý",
    5: "Yêu cầu bổ sung giấy tờ", 6: "Yêu cầu thực hiện nghĩa vụ tài chính", 7: "Công dân yêu cầu rút hồ sơ",
    8: "Dừng xử lý", 9: "Đã xử lý xong", 10: "Đã trả kết quả",
}
KENH: Final = {1: "Trực tiếp", 2: "Trực tuyến", 3: "Bưu chính"}
DATE_FIELDS: Final = ("ngay_nop", "ngay_tiep_nhan", "ngay_hen_tra", "ngay_tra", "ngay_ket_thuc", "ngay_tu_choi")
STEP_DATES: Final = ("thoi_diem", "bat_dau", "han_xu_ly")

_CODE: Final = {"type": "string", "pattern": "^\\S{1,100}$"}
_DATE: Final = {"type": "string", "pattern": "^[0-9]{14}$"}
_OPT_DATE: Final = {"type": ["string", "null"], "pattern": "^[0-9]{14}$"}
_OPT_TEXT: Final = {"type": ["string", "null"]}
_STATUS: Final = {"type": "integer", "minimum": 1, "maximum": 10}

DOSSIER_SCHEMA: Final = {
    "type": "object",
    "required": ["ma_ho_so", "ma_thu_tuc", "trang_thai", "ngay_nop", "phien_ban"],
    "properties": {
        "ma_ho_so": _CODE,
        "ma_thu_tuc": _CODE,
        "ten_thu_tuc": _OPT_TEXT,
        "linh_vuc": _OPT_TEXT,
        "kenh": {"enum": [1, 2, 3, None]},
        "chu_ho_so": {
            "type": ["object", "null"],
            "properties": {"ho_ten": _OPT_TEXT, "so_dinh_danh": _OPT_TEXT, "loai_doi_tuong": {"enum": [1, 2, None]},
                           "email": _OPT_TEXT, "so_dien_thoai": _OPT_TEXT},
            "additionalProperties": False,
        },
        "trich_yeu": _OPT_TEXT,
        **{name: (_DATE if name == "ngay_nop" else _OPT_DATE) for name in DATE_FIELDS},
        "trang_thai": _STATUS,
        "don_vi_xu_ly": _OPT_TEXT,
        "thanh_phan": {
            "type": ["array", "null"],
            "items": {
                "type": "object",
                "required": ["ten"],
                "properties": {"ten": {"type": "string", "minLength": 1}, "ma": _OPT_TEXT, "url": _OPT_TEXT,
                               "so_hoa": {"type": ["boolean", "null"]}, "tai_su_dung": {"type": ["boolean", "null"]}},
                "additionalProperties": False,
            },
        },
        "le_phi": {
            "type": ["array", "null"],
            "items": {
                "type": "object",
                "required": ["ten", "so_tien"],
                "properties": {"ten": {"type": "string", "minLength": 1}, "so_tien": {"type": "integer", "minimum": 0}},
                "additionalProperties": False,
            },
        },
        # Free-form records; every key named ngay_* must be a yyyyMMddHHmmss date. Suggested fields —
        # lich_su_bo_sung: ngay_yeu_cau, noi_dung, ngay_bo_sung; ket_qua: ten, so_ky_hieu, ngay_ky, url.
        "lich_su_bo_sung": {"type": ["array", "null"], "items": {"type": "object"}},
        "ket_qua": {"type": ["array", "null"], "items": {"type": "object"}},
        "phien_ban": {"type": "integer", "minimum": 1},
    },
    "additionalProperties": False,
}
STEP_SCHEMA: Final = {
    "type": "object",
    "required": ["ma_buoc", "thoi_diem", "noi_dung", "trang_thai"],
    "properties": {
        "ma_buoc": _CODE,
        "can_bo": _OPT_TEXT,
        "chuc_danh": _OPT_TEXT,
        "phong_ban": _OPT_TEXT,
        "thoi_diem": _DATE,
        "noi_dung": {"type": "string", "minLength": 1},
        "trang_thai": _STATUS,
        "bat_dau": _OPT_DATE,
        "han_xu_ly": _OPT_DATE,
    },
    "additionalProperties": False,
}
PUSH_DOSSIER_PARAMS: Final = {
    "type": "object", "required": ["payload"], "properties": {"payload": DOSSIER_SCHEMA}, "additionalProperties": False,
}
PUSH_DOSSIER_RESULT: Final = {
    "type": "object",
    "required": ["action", "ma_ho_so", "phien_ban", "error_code", "message"],
    "properties": {"action": {"enum": ["created", "updated"]}, "ma_ho_so": {"type": "string"},
                   "phien_ban": {"type": "integer"}, "error_code": {"const": OK}, "message": {"type": "string"}},
}
PUSH_STEP_PARAMS: Final = {
    "type": "object", "required": ["ma_ho_so", "buoc"], "properties": {"ma_ho_so": _CODE, "buoc": STEP_SCHEMA},
    "additionalProperties": False,
}
PUSH_STEP_RESULT: Final = {
    "type": "object",
    "required": ["ma_ho_so", "ma_buoc", "error_code", "message"],
    "properties": {"ma_ho_so": {"type": "string"}, "ma_buoc": {"type": "string"}, "error_code": {"const": OK},
                   "message": {"type": "string"}},
}


def portal_time(dt: datetime) -> str:
    """``yyyyMMddHHmmss`` of an aware datetime, in Vietnam time (Asia/Ho_Chi_Minh); ValueError if naive."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("portal_time needs an aware datetime (a naive one has no known zone)")
    return dt.astimezone(VIETNAM).strftime(DATE_FORMAT)


def parse_portal_time(value: str) -> datetime:
    """The aware datetime (Asia/Ho_Chi_Minh) that a ``yyyyMMddHHmmss`` string stands for; ValueError otherwise."""
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
        raise ValueError(f"not a yyyyMMddHHmmss date: {value!r}")
    return datetime.strptime(value, DATE_FORMAT).replace(tzinfo=VIETNAM)


def _check_date(name: str, value: Any) -> None:
    try:
        parse_portal_time(value)
    except ValueError:
        raise PermanentError(PROVIDER, "ngay_khong_hop_le",
                             f"Trường «{name}» phải là ngày giờ có thật dạng yyyyMMddHHmmss (ví dụ 20260315143000); "
                             f"giá trị nhận được: «{value}».") from None


def _check(schema: Mapping[str, Any], data: Any, what: str) -> None:
    errors = sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or what
        raise PermanentError(PROVIDER, "invalid_payload", f"Dữ liệu {what} không hợp lệ ({where}): {errors[0].message}")


def check_dossier(payload: Any) -> None:
    """PermanentError if the portal would refuse this payload: dates first (clear message), then the schema."""
    if isinstance(payload, dict):
        for name in DATE_FIELDS:
            if payload.get(name) is not None:
                _check_date(name, payload[name])
        for name in ("lich_su_bo_sung", "ket_qua"):
            records = payload.get(name)
            for index, record in enumerate(records if isinstance(records, list) else []):
                for key, value in (record.items() if isinstance(record, dict) else ()):
                    if key.startswith("ngay_") and value is not None:
                        _check_date(f"{name}[{index}].{key}", value)
    _check(DOSSIER_SCHEMA, payload, "hồ sơ")


def check_step(buoc: Any) -> None:
    """PermanentError if the portal would refuse this process step."""
    if isinstance(buoc, dict):
        for name in STEP_DATES:
            if buoc.get(name) is not None:
                _check_date(f"buoc.{name}", buoc[name])
    _check(STEP_SCHEMA, buoc, "bước xử lý")


def _refusal(code: str, message: str, *, transient: bool = False) -> ConnectorError:
    kind = TransientError if transient or code in TRANSIENT_CODES else PermanentError
    return kind(PROVIDER, code, message or f"Cổng Dịch vụ công quốc gia từ chối yêu cầu (mã {code}).")


class PortalConnector:
    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def _post(self, path: str, body: dict[str, Any], key: str) -> tuple[str, str]:
        try:
            answer = self.client.request("POST", path, json=body, idempotency_key=key)
        except PermanentError as exc:
            # A portal that reports these as HTTP 4xx instead of 200 + error_code means the same thing.
            if exc.code in (ALREADY_EXISTS, NOT_FOUND):
                return exc.code, exc.message
            raise
        if not isinstance(answer, dict) or answer.get("error_code") is None:
            raise PermanentError(PROVIDER, "invalid_response",
                                 "Cổng Dịch vụ công quốc gia trả về dữ liệu không đúng định dạng.")
        return str(answer["error_code"]).strip(), str(answer.get("message") or "")

    def push_dossier(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Create the dossier on the portal, or update it if it is already there (version 1 tries create first,
        later versions update first).

        ``{"action": "created"|"updated", "ma_ho_so", "phien_ban", "error_code": "0", "message"}``.
        """
        check_dossier(payload)
        code_hs, version = payload["ma_ho_so"], payload["phien_ban"]
        key = f"dvcqg:{code_hs}:v{version}"
        if version > 1:
            # A later version is almost always an update: try that first and save a round trip.
            code, message = self._post("/dvcqg/ho-so/cap-nhat", payload, f"{key}:cap-nhat")
            if code != NOT_FOUND:
                if code != OK:
                    raise _refusal(code, message)
                return {"action": "updated", "ma_ho_so": code_hs, "phien_ban": version, "error_code": OK,
                        "message": message}
        code, message = self._post("/dvcqg/ho-so/them-moi", payload, f"{key}:them-moi")
        action = "created"
        if code == ALREADY_EXISTS or (code != OK and "đã tồn tại" in message.casefold()):
            code, message = self._post("/dvcqg/ho-so/cap-nhat", payload, f"{key}:cap-nhat")
            action = "updated"
            if code == NOT_FOUND:
                raise _refusal(code, message, transient=True)
        if code != OK:
            raise _refusal(code, message)
        return {"action": action, "ma_ho_so": code_hs, "phien_ban": version, "error_code": OK, "message": message}

    def push_step(self, ma_ho_so: str, buoc: dict[str, Any]) -> dict[str, Any]:
        """Record one process step (idempotent by ``buoc.ma_buoc``): ``{ma_ho_so, ma_buoc, error_code, message}``."""
        _check(_CODE, ma_ho_so, "mã hồ sơ")
        check_step(buoc)
        code, message = self._post("/dvcqg/qua-trinh", {"ma_ho_so": ma_ho_so, "buoc": buoc},
                                   f"dvcqg:{ma_ho_so}:buoc:{buoc['ma_buoc']}")
        if code != OK:
            raise _refusal(code, message, transient=code == NOT_FOUND)
        return {"ma_ho_so": ma_ho_so, "ma_buoc": buoc["ma_buoc"], "error_code": OK, "message": message}

    def operations(self) -> list[Operation]:
        return [
            Operation(f"{PROVIDER}.push_dossier", "Đồng bộ hồ sơ lên Cổng Dịch vụ công quốc gia (thêm mới/cập nhật)",
                      PUSH_DOSSIER_PARAMS, PUSH_DOSSIER_RESULT, self.push_dossier),
            Operation(f"{PROVIDER}.push_step", "Đồng bộ một bước trong quá trình xử lý hồ sơ lên Cổng DVCQG",
                      PUSH_STEP_PARAMS, PUSH_STEP_RESULT, self.push_step),
        ]

"""SMS over an HTTP gateway: ``POST /sms/gui`` with ``{so_dien_thoai, noi_dung, ma_tin}``.

The number is checked (and normalised to ``0xxxxxxxxx``) before anything leaves the building; ``ma_tin``
is the client's message id, sent both in the body and as the ``Idempotency-Key`` header, so a retry after a
lost answer never texts the citizen twice.
"""

from __future__ import annotations

import re
from typing import Any, Final

from connectors.base import HttpClient, PermanentError
from connectors.registry import Operation

PROVIDER: Final = "sms"
MAX_LENGTH: Final = 480
_MOBILE_RE: Final = re.compile(r"^0[35789][0-9]{8}$", re.ASCII)
_SEPARATORS_RE: Final = re.compile(r"[\s.\-()]")
_MESSAGE_ID_RE: Final = re.compile(r"^[\x21-\x7e]{1,100}$", re.ASCII)

SEND_PARAMS: Final = {
    "type": "object",
    "required": ["so_dien_thoai", "noi_dung", "ma_tin"],
    "properties": {
        "so_dien_thoai": {"type": "string", "minLength": 10, "maxLength": 20,
                          "pattern": "^[+]?[0-9 .()-]+$"},
        "noi_dung": {"type": "string", "minLength": 1, "maxLength": MAX_LENGTH, "pattern": "\\S"},
        "ma_tin": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,100}$"},
    },
    "additionalProperties": False,
}
SEND_RESULT: Final = {
    "type": "object",
    "required": ["ma_tin", "trang_thai", "so_phan_doan"],
    "properties": {
        "ma_tin": {"type": "string"},
        "trang_thai": {"type": "string"},
        "so_phan_doan": {"type": "integer", "minimum": 1},
        "so_dien_thoai": {"type": "string"},
        "ma_hoa": {"type": "string"},
    },
}


def normalise_phone(value: str) -> str:
    """The national form ``0xxxxxxxxx`` of a Vietnamese mobile number, or PermanentError ``so_dien_thoai_khong_hop_le``.

    Accepted: ``0912345678``, ``0912 345 678``, ``091.234.5678``, ``+84912345678``, ``84912345678``.
    Landlines (02…) and anything that is not 10 digits once normalised are refused.
    """
    compact = _SEPARATORS_RE.sub("", value) if isinstance(value, str) else ""
    if compact.startswith("+84"):
        compact = "0" + compact[3:]
    elif compact.startswith("84") and len(compact) == 11:
        compact = "0" + compact[2:]
    if not _MOBILE_RE.fullmatch(compact):
        raise PermanentError(PROVIDER, "so_dien_thoai_khong_hop_le",
                             f"Số điện thoại «{value}» không phải số di động Việt Nam hợp lệ "
                             "(10 chữ số bắt đầu bằng 03, 05, 07, 08, 09, hoặc +84…).")
    return compact


class SmsSender:
    """One text per call through the SMS gateway's HTTP API."""

    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def send_sms(self, so_dien_thoai: str, noi_dung: str, ma_tin: str) -> dict[str, Any]:
        """``{ma_tin, trang_thai, so_phan_doan, …}`` from the gateway; PermanentError before calling out if the
        number, the text or the message id is unusable."""
        number = normalise_phone(so_dien_thoai)
        if not isinstance(noi_dung, str) or not noi_dung.strip():
            raise PermanentError(PROVIDER, "noi_dung_khong_hop_le", "Nội dung tin nhắn không được để trống.")
        if len(noi_dung) > MAX_LENGTH:
            raise PermanentError(PROVIDER, "noi_dung_khong_hop_le",
                                 f"Nội dung tin nhắn dài {len(noi_dung)} ký tự, vượt quá {MAX_LENGTH} ký tự cho phép.")
        if not isinstance(ma_tin, str) or not _MESSAGE_ID_RE.fullmatch(ma_tin):
            raise PermanentError(PROVIDER, "ma_tin_khong_hop_le",
                                 "Mã tin phải là chuỗi 1–100 ký tự ASCII in được, không có khoảng trắng.")
        body = {"so_dien_thoai": number, "noi_dung": noi_dung, "ma_tin": ma_tin}
        result = self.client.request("POST", "/sms/gui", json=body, idempotency_key=ma_tin)
        if not isinstance(result, dict):
            raise PermanentError(PROVIDER, "invalid_response", "Cổng SMS trả về dữ liệu không đúng định dạng.")
        return result

    def operations(self) -> list[Operation]:
        return [Operation(f"{PROVIDER}.send_sms", "Gửi tin nhắn SMS tới số di động của công dân",
                          SEND_PARAMS, SEND_RESULT, self.send_sms)]

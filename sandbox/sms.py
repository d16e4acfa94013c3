"""Sandbox: an SMS gateway (tin nhắn thương hiệu) that accepts messages and keeps them for tests to read.

``POST /sms/gui`` (bearer auth) takes ``{so_dien_thoai, noi_dung, ma_tin}``:

- ``so_dien_thoai``: a Vietnamese mobile number, ``0xxxxxxxxx`` (10 digits, mobile prefixes 03/05/07/08/09)
  or ``+84xxxxxxxxx`` / ``84xxxxxxxxx``; spaces, dots, hyphens and brackets are ignored. It is stored and
  answered in the national form ``0xxxxxxxxx``.
- ``noi_dung``: 1–480 characters, not only blanks.
- ``ma_tin``: the client's message id (1–100 printable ASCII characters, no spaces) — the idempotency key.

First time: **201** ``{ma_tin, trang_thai: "da_gui", so_phan_doan, so_dien_thoai, ma_hoa}``. The same
``ma_tin`` with the same number and text again: **200** with the very same answer, stored once. The same
``ma_tin`` with a different number or text: **409** ``ma_tin_da_dung`` (a client bug, never retried).

Segments (``so_phan_doan``) follow GSM 03.38: text entirely in the GSM-7 alphabet fits 160 units in one SMS
(extension characters such as ``€ [ ] { }`` count 2), 153 per part once split; anything else — Vietnamese
with diacritics included — is sent as UCS-2: 70 UTF-16 units in one SMS, 67 per part once split.

Errors: 401 ``chua_xac_thuc``; 422 ``du_lieu_khong_hop_le`` / ``so_dien_thoai_khong_hop_le`` /
``noi_dung_khong_hop_le`` / ``ma_tin_khong_hop_le``; 409 ``ma_tin_da_dung``.

Test hooks (unauthenticated): ``GET /_sms`` lists every message accepted, in arrival order;
``DELETE /_sms`` forgets them. Faults come from :mod:`sandbox.faults` (path_prefix ``/sms``).
"""

from __future__ import annotations

import math
import re
import time
from typing import Any, Final

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox.common import Refused, Service, attach_state, bearer, json_object, stamp, state

__all__ = ["SmsState", "bp", "normalise_phone", "segments"]

MAX_LENGTH: Final = 480
_MOBILE_RE: Final = re.compile(r"^0[35789][0-9]{8}$", re.ASCII)
_SEPARATORS_RE: Final = re.compile(r"[\s.\-()]")
_MESSAGE_ID_RE: Final = re.compile(r"^[\x21-\x7e]{1,100}$", re.ASCII)

# GSM 03.38 default alphabet (without ESC) and its extension table (each costs two units).
GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION: Final = frozenset("^{}\\[~]|€\f")


class SmsState(Service):
    """Messages accepted, in order, and an index by ``ma_tin``."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict[str, Any]] = []
        self.by_id: dict[str, dict[str, Any]] = {}

    def dump(self) -> dict[str, Any]:
        return {"messages": [{k: v for k, v in m.items() if k != "answer"} for m in self.messages]}

    def clear(self) -> None:
        self.messages.clear()
        self.by_id.clear()


def normalise_phone(value: str) -> str | None:
    """``0xxxxxxxxx`` for a Vietnamese mobile number written in any usual way, ``None`` if it is not one."""
    compact = _SEPARATORS_RE.sub("", value)
    if compact.startswith("+84"):
        compact = "0" + compact[3:]
    elif compact.startswith("84") and len(compact) == 11:
        compact = "0" + compact[2:]
    return compact if _MOBILE_RE.fullmatch(compact) else None


def segments(text: str) -> tuple[int, str]:
    """How many SMS parts ``text`` takes, and the encoding used (``GSM-7`` or ``UCS-2``)."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        units = sum(2 if c in GSM7_EXTENSION else 1 for c in text)
        return (1 if units <= 160 else math.ceil(units / 153)), "GSM-7"
    units = sum(2 if ord(c) > 0xFFFF else 1 for c in text)
    return (1 if units <= 70 else math.ceil(units / 67)), "UCS-2"


bp = Blueprint("sms", __name__)
attach_state(bp, "sms", lambda app: SmsState(), hook="/_sms")


@bp.post("/sms/gui")
@bearer
def send() -> ResponseReturnValue:
    body = json_object()
    phone, text, message_id = body.get("so_dien_thoai"), body.get("noi_dung"), body.get("ma_tin")
    if not isinstance(message_id, str) or not _MESSAGE_ID_RE.fullmatch(message_id):
        raise Refused(422, "ma_tin_khong_hop_le",
                      "“ma_tin” phải là chuỗi 1–100 ký tự ASCII in được, không có khoảng trắng.")
    number = normalise_phone(phone) if isinstance(phone, str) else None
    if number is None:
        raise Refused(422, "so_dien_thoai_khong_hop_le",
                      "Số điện thoại phải là số di động Việt Nam: 10 chữ số bắt đầu bằng 03, 05, 07, 08, 09 "
                      "(hoặc +84…).")
    if not isinstance(text, str) or not text.strip():
        raise Refused(422, "noi_dung_khong_hop_le", "Nội dung tin nhắn không được để trống.")
    if len(text) > MAX_LENGTH:
        raise Refused(422, "noi_dung_khong_hop_le",
                      f"Nội dung tin nhắn dài {len(text)} ký tự, vượt quá {MAX_LENGTH} ký tự cho phép.")
    parts, encoding = segments(text)
    held = state("sms", SmsState)
    with held.lock:
        known = held.by_id.get(message_id)
        if known is not None:
            if known["so_dien_thoai"] != number or known["noi_dung"] != text:
                raise Refused(409, "ma_tin_da_dung",
                              f"Mã tin «{message_id}» đã được dùng cho một tin nhắn khác (khác số hoặc nội dung).")
            return jsonify(known["answer"]), 200
        answer = {"ma_tin": message_id, "trang_thai": "da_gui", "so_phan_doan": parts,
                  "so_dien_thoai": number, "ma_hoa": encoding}
        record = {"ma_tin": message_id, "so_dien_thoai": number, "noi_dung": text, "so_phan_doan": parts,
                  "ma_hoa": encoding, "trang_thai": "da_gui",
                  "idempotency_key": request.headers.get("Idempotency-Key"), "at": stamp(time.time()),
                  "answer": answer}
        held.messages.append(record)
        held.by_id[message_id] = record
    return jsonify(answer), 201

"""Sandbox: the national population database (Cơ sở dữ liệu quốc gia về dân cư), over real HTTP.

``POST /dan-cu/tra-cuu`` (bearer token) ``{so_dinh_danh, ho_ten, ngay_sinh | nam_sinh}`` answers the
citizen's record when all three match, 404 otherwise (a mismatch never says which field was wrong).
Case and spacing of the name are forgiven, diacritics are not: "Nguyễn Văn An" ≠ "Nguyen Van An".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any, Final

from flask import Blueprint, Response, jsonify

from sandbox.common import Refused, bearer, is_int, json_object, state
from sandbox.seed import SandboxData

__all__ = ["bp"]

_ID_RE: Final = re.compile(r"^[0-9]{12}$", re.ASCII)
_DATE_RE: Final = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", re.ASCII)

bp = Blueprint("population", __name__)


def _normalise_name(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).split()).casefold()


def _birth_check(body: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    birth, year = body.get("ngay_sinh"), body.get("nam_sinh")
    if birth is None and is_int(year):
        return lambda c: bool(c["ngay_sinh"][:4] == f"{year:04d}")
    if isinstance(birth, str) and _DATE_RE.fullmatch(birth.strip()):
        return lambda c: bool(c["ngay_sinh"] == birth.strip())
    raise Refused(422, "du_lieu_khong_hop_le", "Cần ngày sinh dạng YYYY-MM-DD (ngay_sinh) hoặc năm sinh (nam_sinh).")


@bp.post("/dan-cu/tra-cuu")
@bearer
def lookup_citizen() -> Response:
    body = json_object()
    number, name = body.get("so_dinh_danh"), body.get("ho_ten")
    if not isinstance(number, str) or not _ID_RE.fullmatch(number.strip()):
        raise Refused(422, "so_dinh_danh_khong_hop_le", "Số định danh cá nhân phải gồm đúng 12 chữ số.")
    if not isinstance(name, str) or not name.strip():
        raise Refused(422, "du_lieu_khong_hop_le", "Thiếu họ và tên công dân.")
    birth_matches = _birth_check(body)
    citizen = state("data", SandboxData).citizens.get(number.strip())
    if citizen is None or _normalise_name(citizen["ho_ten"]) != _normalise_name(name) or not birth_matches(citizen):
        raise Refused(404, "khong_tim_thay",
                      "Không tìm thấy công dân có số định danh, họ tên và ngày sinh như đã cung cấp.")
    return jsonify(citizen)

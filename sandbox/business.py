"""Sandbox: the national business registry (Cơ sở dữ liệu quốc gia về đăng ký doanh nghiệp), over real HTTP.

``GET /doanh-nghiep/<ma_so_thue>`` (bearer token) answers the enterprise's record, 404 when the code
is well formed but not registered, 422 when it is not a 10-digit code (or a dependent unit's
``NNNNNNNNNN-NNN``, which the seeded registry never holds).
"""

from __future__ import annotations

import re
from typing import Final

from flask import Blueprint, Response, jsonify

from sandbox.common import Refused, bearer, state
from sandbox.seed import SandboxData

__all__ = ["bp"]

_TAX_RE: Final = re.compile(r"^[0-9]{10}(?:-[0-9]{3})?$", re.ASCII)

bp = Blueprint("business", __name__)


@bp.get("/doanh-nghiep/<ma_so_thue>")
@bearer
def lookup_business(ma_so_thue: str) -> Response:
    if not _TAX_RE.fullmatch(ma_so_thue):
        raise Refused(422, "ma_so_thue_khong_hop_le",
                      "Mã số doanh nghiệp gồm 10 chữ số (đơn vị phụ thuộc: 10 chữ số, gạch nối, 3 chữ số).")
    business = state("data", SandboxData).businesses.get(ma_so_thue)
    if business is None:
        raise Refused(404, "khong_tim_thay", f"Không tìm thấy doanh nghiệp có mã số thuế {ma_so_thue}.")
    return jsonify(business)

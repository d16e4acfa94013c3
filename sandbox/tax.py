"""Sandbox: the tax authority's side of inter-connected procedures (land ↔ tax), over real HTTP.

The one-stop office sends what it knows of a dossier and receives a tax notice (thông báo nộp thuế);
once the citizen has paid — at a bank, outside MotCua — the payment voucher (chứng từ nộp thuế)
keyed by the dossier code says so (DOMAIN.md "Tax").

- ``POST /thue/thong-bao`` (bearer token) ``{ma_ho_so, ma_so_thue, khoan_thu, gia_tri_tinh_thue}`` → the
  notice; idempotent by (ma_ho_so, khoan_thu): 201 the first time, 200 with the same notice after,
  409 if the tax code or the assessed value changed.
- ``GET /thue/chung-tu/<ma_ho_so>`` (bearer token) → the voucher over every notice of the dossier;
  404 when no notice was issued.
- Test hooks: ``POST /_tax/<ma_ho_so>/nop`` marks the dossier's notices paid (optionally one item:
  ``{"khoan_thu": …}``); ``GET /_tax/notices`` lists every notice, ``DELETE`` forgets them.

Amount rule (simplified, documented, not the law in full): ``so_tien`` = ``gia_tri_tinh_thue`` × rate,
rounded half up to the nearest 1,000 đ, where the rate is 2 % for "Thuế thu nhập cá nhân" (transfer
of real estate) and 0.5 % for everything else ("Lệ phí trước bạ" on land and houses included).
The payment deadline (``han_nop``) is 30 days after the notice date.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox.common import Refused, Service, attach_state, bearer, is_int, json_object, state
from sandbox.seed import tax_check_digit

__all__ = ["DEFAULT_RATE_PER_MILLE", "PAYMENT_DAYS", "RATES_PER_MILLE", "TaxState", "bp", "check_tax_code",
           "compute_amount"]

TAX_TZ: Final = ZoneInfo("Asia/Ho_Chi_Minh")
DEFAULT_RATE_PER_MILLE: Final = 5  # 0.5 %
RATES_PER_MILLE: Final = {"thuế thu nhập cá nhân": 20}  # by item, case-folded
PAYMENT_DAYS: Final = 30
MAX_VALUE: Final = 10**15
_TAX_CODE_RE: Final = re.compile(r"^(?P<base>[0-9]{10})(?:-?(?P<branch>[0-9]{3}))?$", re.ASCII)


def _item_key(khoan_thu: str) -> str:
    return " ".join(unicodedata.normalize("NFC", khoan_thu).split()).casefold()


def compute_amount(khoan_thu: str, gia_tri_tinh_thue: int) -> int:
    """Value × rate (per mille), rounded half up to 1,000 đ, in integers only."""
    rate = RATES_PER_MILLE.get(_item_key(khoan_thu), DEFAULT_RATE_PER_MILLE)
    return (gia_tri_tinh_thue * rate + 500_000) // 1_000_000 * 1_000


@dataclass
class Notice:
    so_thong_bao: str
    ngay_thong_bao: date
    ma_ho_so: str
    ma_so_thue: str
    khoan_thu: str
    gia_tri_tinh_thue: int
    so_tien: int
    han_nop: date
    thoi_gian_nop: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"so_thong_bao": self.so_thong_bao, "ngay_thong_bao": self.ngay_thong_bao.isoformat(),
                "ma_ho_so": self.ma_ho_so, "ma_so_thue": self.ma_so_thue, "khoan_thu": self.khoan_thu,
                "gia_tri_tinh_thue": self.gia_tri_tinh_thue, "so_tien": self.so_tien,
                "han_nop": self.han_nop.isoformat()}


class TaxState(Service):
    def __init__(self) -> None:
        super().__init__()
        self.notices: dict[tuple[str, str], Notice] = {}  # (ma_ho_so, item key)
        self.seq = 0

    def of_dossier(self, ma_ho_so: str) -> list[Notice]:
        return [n for n in self.notices.values() if n.ma_ho_so == ma_ho_so]

    def dump(self) -> dict[str, Any]:
        return {"notices": [{**n.as_dict(), "thoi_gian_nop": n.thoi_gian_nop.isoformat() if n.thoi_gian_nop else None}
                            for n in self.notices.values()]}

    def clear(self) -> None:
        self.notices.clear()


def check_tax_code(raw: object) -> str:
    """The tax code normalised (``NNNNNNNNNN`` or ``NNNNNNNNNN-NNN``), or a 422 refusal.

    The tax authority's rule, re-applied here: the 10th digit is 10 − (Σ Ni·Wi mod 11) over the first
    nine (:func:`sandbox.seed.tax_check_digit`); a dependent unit's branch number is 001–999.
    """
    value = raw.strip() if isinstance(raw, str) else ""
    match = _TAX_CODE_RE.fullmatch(value)
    if match is None:
        raise Refused(422, "ma_so_thue_khong_hop_le", f"Mã số thuế “{value}” không hợp lệ: phải gồm 10 chữ số, "
                                                      "hoặc 13 ký tự dạng NNNNNNNNNN-NNN cho đơn vị phụ thuộc.")
    base, branch = match["base"], match["branch"]
    if tax_check_digit(base[:9]) != int(base[9]):
        raise Refused(422, "ma_so_thue_khong_hop_le", f"Mã số thuế “{value}” sai chữ số kiểm tra.")
    if branch == "000":
        raise Refused(422, "ma_so_thue_khong_hop_le",
                      f"Mã số thuế “{value}”: ba số cuối của mã đơn vị phụ thuộc phải từ 001 đến 999.")
    return base if branch is None else f"{base}-{branch}"


def _voucher(notices: list[Notice]) -> dict[str, Any]:
    paid = all(n.thoi_gian_nop is not None for n in notices)
    times = [n.thoi_gian_nop for n in notices if n.thoi_gian_nop is not None]
    return {
        "ma_ho_so": notices[0].ma_ho_so,
        "ma_so_thue": notices[0].ma_so_thue,
        "so_tien": sum(n.so_tien for n in notices),
        "thoi_gian_nop": max(times).isoformat() if paid and times else None,
        "trang_thai": "da_nop" if paid else "chua_nop",
        "chi_tiet": [{"so_thong_bao": n.so_thong_bao, "khoan_thu": n.khoan_thu, "ma_so_thue": n.ma_so_thue,
                      "so_tien": n.so_tien,
                      "thoi_gian_nop": n.thoi_gian_nop.isoformat() if n.thoi_gian_nop else None,
                      "trang_thai": "da_nop" if n.thoi_gian_nop else "chua_nop"} for n in notices],
    }


def _notices(held: TaxState, ma_ho_so: str, item: object = None) -> list[Notice]:
    """The dossier's notices (of one item when ``item`` is a string), or a 404 refusal."""
    notices = [n for n in held.of_dossier(ma_ho_so)
               if not isinstance(item, str) or _item_key(n.khoan_thu) == _item_key(item)]
    if not notices:
        raise Refused(404, "khong_tim_thay", f"Hồ sơ {ma_ho_so} chưa có thông báo nộp thuế.")
    return notices


bp = Blueprint("tax", __name__)
attach_state(bp, "tax", lambda app: TaxState(), hook="/_tax/notices")


@bp.post("/thue/thong-bao")
@bearer
def notice() -> ResponseReturnValue:
    body = json_object()
    ma_ho_so, khoan_thu, value = body.get("ma_ho_so"), body.get("khoan_thu"), body.get("gia_tri_tinh_thue")
    if not isinstance(ma_ho_so, str) or not ma_ho_so.strip() or len(ma_ho_so) > 64:
        raise Refused(422, "du_lieu_khong_hop_le", "Thiếu mã hồ sơ (tối đa 64 ký tự).")
    ma_so_thue = check_tax_code(body.get("ma_so_thue"))
    if not isinstance(khoan_thu, str) or not khoan_thu.strip() or len(khoan_thu) > 200:
        raise Refused(422, "du_lieu_khong_hop_le", "Thiếu khoản thu (tối đa 200 ký tự).")
    if not is_int(value) or not 0 < value <= MAX_VALUE:
        raise Refused(422, "du_lieu_khong_hop_le", "Giá trị tính thuế phải là số nguyên dương (đồng).")
    ma_ho_so, khoan_thu = ma_ho_so.strip(), " ".join(khoan_thu.split())
    held = state("tax", TaxState)
    with held.lock:
        key = (ma_ho_so, _item_key(khoan_thu))
        issued = held.notices.get(key)
        if issued is not None:
            if (issued.ma_so_thue, issued.gia_tri_tinh_thue) != (ma_so_thue, value):
                raise Refused(409, "thong_bao_da_ton_tai",
                              f"Hồ sơ {ma_ho_so} đã có thông báo {issued.so_thong_bao} cho khoản thu "
                              f"“{issued.khoan_thu}” với mã số thuế hoặc giá trị tính thuế khác.")
            return jsonify(issued.as_dict()), 200
        held.seq += 1
        today = datetime.now(TAX_TZ).date()
        issued = Notice(so_thong_bao=f"{held.seq:06d}/TB-CCT", ngay_thong_bao=today, ma_ho_so=ma_ho_so,
                        ma_so_thue=ma_so_thue, khoan_thu=khoan_thu, gia_tri_tinh_thue=value,
                        so_tien=compute_amount(khoan_thu, value), han_nop=today + timedelta(days=PAYMENT_DAYS))
        held.notices[key] = issued
        return jsonify(issued.as_dict()), 201


@bp.get("/thue/chung-tu/<ma_ho_so>")
@bearer
def voucher(ma_ho_so: str) -> ResponseReturnValue:
    held = state("tax", TaxState)
    with held.lock:
        return jsonify(_voucher(_notices(held, ma_ho_so)))


@bp.post("/_tax/<ma_ho_so>/nop")
def mark_paid(ma_ho_so: str) -> ResponseReturnValue:
    """Test hook: the citizen paid at the bank (every notice of the dossier, or ``{"khoan_thu": …}`` only)."""
    body = request.get_json(silent=True)
    item = body.get("khoan_thu") if isinstance(body, dict) else None
    held = state("tax", TaxState)
    with held.lock:
        notices = _notices(held, ma_ho_so, item)
        now = datetime.now(TAX_TZ).replace(microsecond=0)
        for unpaid in notices:
            if unpaid.thoi_gian_nop is None:
                unpaid.thoi_gian_nop = now
        return jsonify(_voucher(held.of_dossier(ma_ho_so)))

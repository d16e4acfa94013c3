"""Sandbox: the tax authority's side of inter-connected procedures (land ↔ tax), over real HTTP.

The one-stop office sends what it knows of a dossier and receives a tax notice (thông báo nộp thuế);
once the citizen has paid — at a bank, outside MotCua — the payment voucher (chứng từ nộp thuế)
keyed by the dossier code says so (DOMAIN.md "Tax").

- ``POST /thue/thong-bao`` (bearer token) ``{ma_ho_so, ma_so_thue, khoan_thu, gia_tri_tinh_thue}`` → the
  notice; idempotent by (ma_ho_so, khoan_thu): 201 the first time, 200 with the same notice after,
  409 if the tax code or the assessed value changed.
- ``GET /thue/chung-tu/<ma_ho_so>`` (bearer token) → the voucher over every notice of the dossier;
  404 when no notice was issued.
- Test hook ``POST /_tax/<ma_ho_so>/nop`` marks the dossier's notices paid (optionally one item:
  ``{"khoan_thu": …}``).

Amount rule (simplified, documented, not the law in full): ``so_tien`` = ``gia_tri_tinh_thue`` × rate,
rounded half up to the nearest 1,000 đ, where the rate is 2 % for "Thuế thu nhập cá nhân" (transfer
of real estate) and 0.5 % for everything else ("Lệ phí trước bạ" on land and houses included).
The payment deadline (``han_nop``) is 30 days after the notice date.
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from flask import Flask, Response, current_app, jsonify, request

from app.identifiers import IdentifierError, validate_tax_code
from sandbox.app import _authorised, _error

__all__ = ["DEFAULT_RATE_PER_MILLE", "PAYMENT_DAYS", "RATES_PER_MILLE", "TaxState", "compute_amount", "install"]

TAX_TZ: Final = ZoneInfo("Asia/Ho_Chi_Minh")
DEFAULT_RATE_PER_MILLE: Final = 5  # 0.5 %
RATES_PER_MILLE: Final = {"thuế thu nhập cá nhân": 20}  # by item, case-folded
PAYMENT_DAYS: Final = 30
MAX_VALUE: Final = 10**15
_UNAUTHORISED: Final = ("chua_xac_thuc", "Thiếu hoặc sai mã truy cập (Authorization: Bearer …).")


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


class TaxState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.notices: dict[tuple[str, str], Notice] = {}  # (ma_ho_so, item key)
        self.seq = 0

    def of_dossier(self, ma_ho_so: str) -> list[Notice]:
        return [n for n in self.notices.values() if n.ma_ho_so == ma_ho_so]


def _tstate() -> TaxState:
    state: TaxState = current_app.extensions["sandbox_tax"]
    return state


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


def install(app: Flask) -> None:
    """Add the tax service's routes and its test hook (under /_tax) to the sandbox app."""
    app.extensions["sandbox_tax"] = TaxState()

    @app.post("/thue/thong-bao")
    def tax_notice() -> Any:
        if not _authorised():
            return _error(401, *_UNAUTHORISED)
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error(422, "du_lieu_khong_hop_le", "Nội dung yêu cầu phải là một đối tượng JSON.")
        ma_ho_so, khoan_thu, value = body.get("ma_ho_so"), body.get("khoan_thu"), body.get("gia_tri_tinh_thue")
        if not isinstance(ma_ho_so, str) or not ma_ho_so.strip() or len(ma_ho_so) > 64:
            return _error(422, "du_lieu_khong_hop_le", "Thiếu mã hồ sơ (tối đa 64 ký tự).")
        try:
            raw_code = body.get("ma_so_thue")
            ma_so_thue = validate_tax_code(raw_code if isinstance(raw_code, str) else "")
        except IdentifierError as exc:
            return _error(422, "ma_so_thue_khong_hop_le", exc.message)
        if not isinstance(khoan_thu, str) or not khoan_thu.strip() or len(khoan_thu) > 200:
            return _error(422, "du_lieu_khong_hop_le", "Thiếu khoản thu (tối đa 200 ký tự).")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_VALUE:
            return _error(422, "du_lieu_khong_hop_le", "Giá trị tính thuế phải là số nguyên dương (đồng).")
        ma_ho_so, khoan_thu = ma_ho_so.strip(), " ".join(khoan_thu.split())
        state = _tstate()
        with state.lock:
            key = (ma_ho_so, _item_key(khoan_thu))
            notice = state.notices.get(key)
            if notice is not None:
                if (notice.ma_so_thue, notice.gia_tri_tinh_thue) != (ma_so_thue, value):
                    return _error(409, "thong_bao_da_ton_tai",
                                  f"Hồ sơ {ma_ho_so} đã có thông báo {notice.so_thong_bao} cho khoản thu "
                                  f"“{notice.khoan_thu}” với mã số thuế hoặc giá trị tính thuế khác.")
                return jsonify(notice.as_dict()), 200
            state.seq += 1
            today = datetime.now(TAX_TZ).date()
            notice = Notice(so_thong_bao=f"{state.seq:06d}/TB-CCT", ngay_thong_bao=today, ma_ho_so=ma_ho_so,
                            ma_so_thue=ma_so_thue, khoan_thu=khoan_thu, gia_tri_tinh_thue=value,
                            so_tien=compute_amount(khoan_thu, value), han_nop=today + timedelta(days=PAYMENT_DAYS))
            state.notices[key] = notice
            return jsonify(notice.as_dict()), 201

    @app.get("/thue/chung-tu/<ma_ho_so>")
    def tax_voucher(ma_ho_so: str) -> Any:
        if not _authorised():
            return _error(401, *_UNAUTHORISED)
        state = _tstate()
        with state.lock:
            notices = state.of_dossier(ma_ho_so)
            if not notices:
                return _error(404, "khong_tim_thay", f"Hồ sơ {ma_ho_so} chưa có thông báo nộp thuế.")
            return jsonify(_voucher(notices))

    @app.post("/_tax/<ma_ho_so>/nop")
    def tax_mark_paid(ma_ho_so: str) -> Any:
        body = request.get_json(silent=True)
        item = body.get("khoan_thu") if isinstance(body, dict) else None
        state = _tstate()
        with state.lock:
            notices = [n for n in state.of_dossier(ma_ho_so)
                       if not isinstance(item, str) or _item_key(n.khoan_thu) == _item_key(item)]
            if not notices:
                return _error(404, "khong_tim_thay", f"Hồ sơ {ma_ho_so} chưa có thông báo nộp thuế.")
            now = datetime.now(TAX_TZ).replace(microsecond=0)
            for notice in notices:
                if notice.thoi_gian_nop is None:
                    notice.thoi_gian_nop = now
            return jsonify(_voucher(state.of_dossier(ma_ho_so)))

    @app.get("/_tax/notices")
    def tax_list_notices() -> Response:
        state = _tstate()
        with state.lock:
            return jsonify({"notices": [{**n.as_dict(), "thoi_gian_nop": n.thoi_gian_nop.isoformat()
                                         if n.thoi_gian_nop else None} for n in state.notices.values()]})

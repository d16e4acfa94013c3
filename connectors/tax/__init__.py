"""Tax authority (inter-connected land ↔ tax procedures): obtain a tax notice, read the payment voucher.

Both are keyed by the dossier code (DOMAIN.md "Tax"). The notice request is idempotent on the
provider's side by (dossier code, item), so retrying it after a timeout never issues two notices.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final
from urllib.parse import quote

from app.identifiers import IdentifierError, validate_tax_code
from connectors.base import HttpClient, PermanentError
from connectors.registry import Operation

__all__ = ["PROVIDER", "TaxConnector"]

PROVIDER: Final = "tax"

_DOSSIER = {"type": "string", "minLength": 1, "maxLength": 64}
_DATE = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}

NOTICE_PARAMS: Final = {
    "type": "object",
    "required": ["ma_ho_so", "ma_so_thue", "khoan_thu", "gia_tri_tinh_thue"],
    "properties": {
        "ma_ho_so": _DOSSIER,
        "ma_so_thue": {"type": "string", "pattern": "^[0-9]{10}(-?[0-9]{3})?$"},
        "khoan_thu": {"type": "string", "minLength": 1, "maxLength": 200},
        "gia_tri_tinh_thue": {"type": "integer", "minimum": 1},
    },
    "additionalProperties": False,
}
NOTICE_RESULT: Final = {
    "type": "object",
    "required": ["so_thong_bao", "ngay_thong_bao", "ma_ho_so", "ma_so_thue", "khoan_thu", "so_tien", "han_nop"],
    "properties": {
        "so_thong_bao": {"type": "string", "minLength": 1},
        "ngay_thong_bao": _DATE,
        "ma_ho_so": {"type": "string"},
        "ma_so_thue": {"type": "string"},
        "khoan_thu": {"type": "string"},
        "so_tien": {"type": "integer", "minimum": 0},
        "han_nop": _DATE,
    },
}
VOUCHER_PARAMS: Final = {
    "type": "object",
    "required": ["ma_ho_so"],
    "properties": {"ma_ho_so": _DOSSIER},
    "additionalProperties": False,
}
VOUCHER_RESULT: Final = {
    "type": "object",
    "required": ["ma_ho_so", "ma_so_thue", "so_tien", "thoi_gian_nop", "trang_thai"],
    "properties": {
        "ma_ho_so": {"type": "string"},
        "ma_so_thue": {"type": "string"},
        "so_tien": {"type": "integer", "minimum": 0},
        "thoi_gian_nop": {"type": ["string", "null"]},
        "trang_thai": {"enum": ["chua_nop", "da_nop"]},
    },
}


class TaxConnector:
    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def obtain_notice(self, ma_ho_so: str, ma_so_thue: str, khoan_thu: str, gia_tri_tinh_thue: int) -> dict[str, Any]:
        """The tax notice for one item of a dossier (the same one again when asked twice)."""
        # A tax code with a wrong check digit cannot be anyone's: refused here, without a call.
        try:
            ma_so_thue = validate_tax_code(ma_so_thue)
        except IdentifierError as exc:
            raise PermanentError(PROVIDER, exc.code, exc.message) from exc
        body = {"ma_ho_so": ma_ho_so, "ma_so_thue": ma_so_thue, "khoan_thu": khoan_thu,
                "gia_tri_tinh_thue": gia_tri_tinh_thue}
        # Header values must be ASCII; the item name is Vietnamese, so the key is a digest.
        key = "tax-notice-" + hashlib.sha256(f"{ma_ho_so}|{khoan_thu}".encode()).hexdigest()[:40]
        result: dict[str, Any] = self.client.request("POST", "/thue/thong-bao", json=body, idempotency_key=key)
        return result

    def get_voucher(self, ma_ho_so: str) -> dict[str, Any]:
        """The payment voucher of a dossier: ``trang_thai`` "da_nop" once every notice is paid."""
        if not isinstance(ma_ho_so, str) or not ma_ho_so.strip():
            raise PermanentError(PROVIDER, "invalid_params", "Thiếu mã hồ sơ.")
        result: dict[str, Any] = self.client.request("GET", f"/thue/chung-tu/{quote(ma_ho_so.strip(), safe='')}")
        return result

    def operations(self) -> list[Operation]:
        return [
            Operation(f"{PROVIDER}.obtain_notice", "Lấy thông báo nộp thuế, lệ phí của hồ sơ liên thông",
                      NOTICE_PARAMS, NOTICE_RESULT, self.obtain_notice),
            Operation(f"{PROVIDER}.get_voucher", "Tra cứu chứng từ nộp thuế theo mã hồ sơ",
                      VOUCHER_PARAMS, VOUCHER_RESULT, self.get_voucher),
        ]

"""Social-insurance office (Bảo hiểm xã hội, BHXH): health-insurance cards (thẻ BHYT) for children under 6.

Part of the inter-agency bundle of Nghị định 63/2024 (khai sinh – thường trú – BHYT): once the child's birth is
registered and the child has a personal ID, the office issues the free card (DOMAIN.md "Inter-agency procedures").
Wire protocol: :mod:`sandbox.social_insurance` serves it for the demo; only the URL differs in production.

- ``social_insurance.issue_child_card`` issues the card. The birth-registration dossier code is the idempotency
  key (sent in the body and as ``Idempotency-Key``): a retry after a lost answer, or the same service task run
  again, gets the same card, never a second one.
- ``social_insurance.lookup_card`` finds a card by the child's personal ID or by the card code (15 characters,
  ``TE1`` + province + social-insurance number) / the 10-digit social-insurance number.

Error codes (``ConnectorError.code``, what an error boundary event's ``errorCode`` names):

- ``so_dinh_danh_khong_hop_le``: the personal ID cannot be this child's (checked here before any call with
  :func:`app.identifiers.validate_personal_id` against the date of birth and sex, and again by the office);
- ``khong_du_dieu_kien``: the child is 6 or older (the office decides, on its own date);
- ``the_da_ton_tai``: the child already holds a card issued for another dossier; ``ho_so_da_cap_the``: this dossier
  already has a card for another child;
- ``noi_kcb_khong_hop_le``: the requested primary-care facility does not take children of that province;
- ``khong_tim_thay``: no card matches the look-up; ``ma_the_khong_hop_le``: a malformed card code;
- ``du_lieu_khong_hop_le``: anything else the office refused. All of these are permanent; timeouts, 5xx and 429
  are transient and retried (:class:`~connectors.base.HttpClient`).
"""

from __future__ import annotations

import hashlib
import unicodedata
from datetime import date
from typing import Any, Final

from app.identifiers import IdentifierError, validate_personal_id
from connectors.base import HttpClient, PermanentError
from connectors.registry import Operation

__all__ = ["CARD_RESULT", "ERROR_CODES", "ISSUE_PARAMS", "LOOKUP_PARAMS", "LOOKUP_RESULT", "PROVIDER",
           "SocialInsuranceConnector"]

PROVIDER: Final = "social_insurance"

ERROR_CODES: Final = ("so_dinh_danh_khong_hop_le", "khong_du_dieu_kien", "the_da_ton_tai", "ho_so_da_cap_the",
                      "noi_kcb_khong_hop_le", "khong_tim_thay", "ma_the_khong_hop_le", "du_lieu_khong_hop_le")

_ID = {"type": "string", "pattern": "^[0-9]{12}$"}
_DATE = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
# As the platform's forms say it ("nam"/"nu") or as the population record does ("Nam"/"Nữ").
_SEX = {"enum": ["nam", "nu", "Nam", "Nữ", "nữ"]}

ISSUE_PARAMS: Final = {
    "type": "object",
    "required": ["ma_ho_so", "so_dinh_danh", "ho_ten", "ngay_sinh", "gioi_tinh", "ma_tinh", "ma_xa"],
    "properties": {
        "ma_ho_so": {"type": "string", "minLength": 1, "maxLength": 64},  # the birth-registration dossier
        "so_dinh_danh": _ID,
        "ho_ten": {"type": "string", "minLength": 2, "maxLength": 100},
        "ngay_sinh": _DATE,
        "gioi_tinh": _SEX,
        "ma_tinh": {"type": "string", "pattern": "^[0-9]{2}$"},  # province of permanent residence
        "ma_xa": {"type": "string", "pattern": "^[0-9]{5}$"},  # commune (ward) of permanent residence
        "dia_chi": {"type": "string", "maxLength": 300},
        "ma_noi_kcb": {"type": "string", "pattern": "^[0-9]{5}$"},  # default: the commune's health station
    },
    "additionalProperties": False,
}
_CARD_REQUIRED: Final = ["ma_so_bhxh", "ma_the", "so_dinh_danh", "ho_ten", "ngay_sinh", "gioi_tinh", "gia_tri_tu",
                         "gia_tri_den", "ma_noi_kcb", "noi_kcb", "ma_ho_so"]
_CARD_FIELDS: Final[dict[str, Any]] = {
    "ma_so_bhxh": {"type": "string", "pattern": "^[0-9]{10}$"},
    "ma_the": {"type": "string", "pattern": "^TE1[0-9]{12}$"},
    "doi_tuong": {"type": "string"},
    "muc_huong": {"type": "integer"},
    "ma_ho_so": {"type": "string"},
    "so_dinh_danh": {"type": "string"},
    "ho_ten": {"type": "string"},
    "ngay_sinh": _DATE,
    "gioi_tinh": {"type": "string"},
    "ma_tinh": {"type": "string"},
    "ma_xa": {"type": "string"},
    "dia_chi": {"type": ["string", "null"]},
    "ma_noi_kcb": {"type": "string"},
    "noi_kcb": {"type": "string"},
    "ngay_cap": _DATE,
    "gia_tri_tu": _DATE,
    "gia_tri_den": _DATE,
}
CARD_RESULT: Final = {"type": "object", "required": _CARD_REQUIRED, "properties": _CARD_FIELDS}
LOOKUP_PARAMS: Final = {
    "type": "object",
    "properties": {
        "so_dinh_danh": _ID,
        "ma_the": {"type": "string", "pattern": "^(TE1[0-9]{2})?[0-9]{10}$"},
    },
    "oneOf": [{"required": ["so_dinh_danh"]}, {"required": ["ma_the"]}],
    "additionalProperties": False,
}
LOOKUP_RESULT: Final = {
    "type": "object",
    "required": [*_CARD_REQUIRED, "trang_thai"],
    "properties": {**_CARD_FIELDS, "trang_thai": {"enum": ["con_hieu_luc", "het_hieu_luc"]}},
}


def _refused(code: str, message: str) -> PermanentError:
    return PermanentError(PROVIDER, code, message)


def _sex(value: str) -> str:
    """The office's words ("nam" or "nu") for the form's or the population record's."""
    sex = {"nam": "nam", "nu": "nu", "nữ": "nu"}.get(unicodedata.normalize("NFC", str(value)).strip().lower())
    if sex is None:
        raise _refused("du_lieu_khong_hop_le", f"Giới tính “{value}” không hợp lệ: “nam” hoặc “nu”.")
    return sex


class SocialInsuranceConnector:
    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def issue_child_card(self, ma_ho_so: str, so_dinh_danh: str, ho_ten: str, ngay_sinh: str, gioi_tinh: str,
                         ma_tinh: str, ma_xa: str, dia_chi: str | None = None,
                         ma_noi_kcb: str | None = None) -> dict[str, Any]:
        """The child's card, issued once per birth-registration dossier (the same card when asked again)."""
        if not isinstance(ma_ho_so, str) or not ma_ho_so.strip():
            raise _refused("du_lieu_khong_hop_le", "Thiếu mã hồ sơ.")
        sex = _sex(gioi_tinh)
        # A number that cannot be this child's is refused here, without a call, under the office's own code.
        try:
            born = date.fromisoformat(ngay_sinh)
        except ValueError as exc:
            raise _refused("du_lieu_khong_hop_le", f"Ngày sinh “{ngay_sinh}” không hợp lệ (YYYY-MM-DD).") from exc
        try:
            so_dinh_danh = validate_personal_id(so_dinh_danh, born, sex)
        except IdentifierError as exc:
            raise _refused("so_dinh_danh_khong_hop_le", exc.message) from exc
        body: dict[str, Any] = {"ma_ho_so": ma_ho_so.strip(), "so_dinh_danh": so_dinh_danh, "ho_ten": ho_ten,
                                "ngay_sinh": ngay_sinh, "gioi_tinh": sex, "ma_tinh": ma_tinh, "ma_xa": ma_xa}
        if dia_chi:
            body["dia_chi"] = dia_chi
        if ma_noi_kcb:
            body["ma_noi_kcb"] = ma_noi_kcb
        # Header values must be ASCII and a dossier code may not be: the key is a digest of it.
        key = "bhyt-te-" + hashlib.sha256(ma_ho_so.strip().encode()).hexdigest()[:40]
        result: dict[str, Any] = self.client.request("POST", "/bhxh/the-bhyt/tre-em", json=body, idempotency_key=key)
        return result

    def lookup_card(self, so_dinh_danh: str | None = None, ma_the: str | None = None) -> dict[str, Any]:
        """A card by the child's personal ID or by its code (or social-insurance number), with ``trang_thai``."""
        if (so_dinh_danh is None) == (ma_the is None):
            raise _refused("du_lieu_khong_hop_le", "Tra cứu theo số định danh cá nhân hoặc theo mã thẻ, một trong hai.")
        if so_dinh_danh is not None:
            try:
                body = {"so_dinh_danh": validate_personal_id(so_dinh_danh)}
            except IdentifierError as exc:
                raise _refused("so_dinh_danh_khong_hop_le", exc.message) from exc
        else:
            body = {"ma_the": str(ma_the).strip().upper()}
        result: dict[str, Any] = self.client.request("POST", "/bhxh/the-bhyt/tra-cuu", json=body)
        return result

    def operations(self) -> list[Operation]:
        return [
            Operation(f"{PROVIDER}.issue_child_card",
                      "Cấp thẻ bảo hiểm y tế cho trẻ em dưới 6 tuổi (liên thông khai sinh – thường trú – BHYT)",
                      ISSUE_PARAMS, CARD_RESULT, self.issue_child_card),
            Operation(f"{PROVIDER}.lookup_card", "Tra cứu thẻ bảo hiểm y tế theo số định danh cá nhân hoặc mã thẻ",
                      LOOKUP_PARAMS, LOOKUP_RESULT, self.lookup_card),
        ]

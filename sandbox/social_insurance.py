"""Sandbox: the social-insurance office (Bảo hiểm xã hội, BHXH) — health-insurance cards for children under 6.

Under Nghị định 63/2024 a birth registration, the child's permanent residence and the child's free health-insurance
card (thẻ bảo hiểm y tế, BHYT) are one application: once the commune has registered the birth and the child has a
personal ID, the social-insurance office issues the card (DOMAIN.md "Inter-agency procedures").

- ``POST /bhxh/the-bhyt/tre-em`` (bearer token) ``{ma_ho_so, so_dinh_danh, ho_ten, ngay_sinh, gioi_tinh, ma_tinh,
  ma_xa, dia_chi?, ma_noi_kcb?}`` → the card. Idempotent by ``ma_ho_so`` (the birth-registration dossier code):
  201 the first time, 200 with the same card after; 409 ``ho_so_da_cap_the`` when the dossier already has a card for
  another child, 409 ``the_da_ton_tai`` when the child already holds a card from another dossier (one child, one
  card). Refusals (422): ``so_dinh_danh_khong_hop_le`` (not 12 digits, unknown province of birth registration, or
  the century/year digits or the sex parity disagree with ``ngay_sinh``/``gioi_tinh``), ``khong_du_dieu_kien`` (the
  child is 6 or older on the day of the request, Vietnam time), ``noi_kcb_khong_hop_le`` (a primary-care facility
  outside the province of residence or unknown), ``du_lieu_khong_hop_le`` (anything else missing or malformed).
- ``POST /bhxh/the-bhyt/tra-cuu`` (bearer token) ``{so_dinh_danh}`` or ``{ma_the}`` (the 15-character card code or
  the 10-digit social-insurance number) → the card with ``trang_thai`` (``con_hieu_luc`` / ``het_hieu_luc``) as of
  today; 404 ``khong_tim_thay``. A POST, so that personal IDs never sit in URLs and access logs.
- Test hook: ``GET /_bhxh/cards`` lists every card issued, ``DELETE`` forgets them.

The card (format of the card printed since QĐ 1351/QĐ-BHXH (2015), still read by every hospital's system):

- ``ma_so_bhxh``: the social-insurance number, 10 digits, kept for life. The sandbox makes it the 2-digit province
  code followed by 8 random digits (seeded); the real numbering beyond that is the office's own, and nobody
  should parse it.
- ``ma_the``: 15 characters = beneficiary group ``TE`` (trẻ em dưới 6 tuổi) + benefit level ``1`` (100 %) + the
  2-digit code of the province issuing the card + ``ma_so_bhxh``, e.g. ``TE1010112345678``. Cards of the 2021
  design print only ``ma_so_bhxh``; both are given.
- ``doi_tuong`` ``TE``, ``muc_huong`` 100 (per cent); ``gia_tri_tu`` the day of issue; ``gia_tri_den`` the day
  before the 6th birthday (a child born on 29 February turns 6 on 1 March). The law lets a child who turns six
  before the school year keep the card until 30 September of that year; the sandbox does not model that extension.
- ``ma_noi_kcb``/``noi_kcb``: the registered primary-care facility (nơi đăng ký khám chữa bệnh ban đầu), a 5-digit
  code (2-digit province + 3 digits). By default the health station of the commune of residence; a requested
  ``ma_noi_kcb`` must be one of the facilities the sandbox knows in that province (:data:`FACILITIES`: the seeded
  communes' health stations and one children's hospital per seeded province; names real, codes illustrative).
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, jsonify
from flask.typing import ResponseReturnValue

from sandbox.common import Refused, Service, attach_state, bearer, json_object, state
from sandbox.seed import RESIDENCE_PROVINCES, SandboxData

__all__ = ["FACILITIES", "PROVINCE_BIRTH_CODES", "PROVINCE_CODES", "CardState", "bp", "check_child_id",
           "sixth_birthday", "valid_until"]

VIETNAM: Final = ZoneInfo("Asia/Ho_Chi_Minh")
GROUP: Final = "TE"  # trẻ em dưới 6 tuổi
BENEFIT_LEVEL: Final = "1"  # the card's benefit-level digit: 100 % of covered costs
BENEFIT_PERCENT: Final = 100

# PPP of a personal ID: the 63 pre-2025 provinces of birth registration (numbers issued keep them).
_PROVINCE_BIRTH_CODES_TEXT: Final = """
001 002 004 006 008 010 011 012 014 015 017 019 020 022 024 025 026 027 030 031 033 034 035 036
037 038 040 042 044 045 046 048 049 051 052 054 056 058 060 062 064 066 067 068 070 072 074 075
077 079 080 082 083 084 086 087 089 091 092 093 094 095 096
"""
PROVINCE_BIRTH_CODES: Final = frozenset(_PROVINCE_BIRTH_CODES_TEXT.split())
# The 34 provinces since 1 July 2025 (where a child lives, and so which office issues the card).
_PROVINCE_CODES_TEXT: Final = """
01 04 08 11 12 14 15 19 20 22 24 25 31 33 37 38 40 42 44 46 48 51 52 56 66 68 75 79 80 82 86 91 92 96
"""
PROVINCE_CODES: Final = frozenset(_PROVINCE_CODES_TEXT.split())
_CHILDREN_HOSPITALS: Final = {
    "01": "Bệnh viện Nhi Trung ương", "31": "Bệnh viện Trẻ em Hải Phòng", "79": "Bệnh viện Nhi Đồng 1",
    "48": "Bệnh viện Phụ sản - Nhi Đà Nẵng", "92": "Bệnh viện Nhi đồng Thành phố Cần Thơ",
    "46": "Bệnh viện Trung ương Huế", "38": "Bệnh viện Nhi Thanh Hóa",
}


def _facilities() -> dict[str, str]:
    known: dict[str, str] = {}
    for province, _name, _prefix, wards in RESIDENCE_PROVINCES:
        known[f"{province}001"] = _CHILDREN_HOSPITALS[province]
        for ward_code, ward_name in wards:
            known[_station_code(province, ward_code)] = f"Trạm Y tế {ward_name}"
    return known


def _station_code(province: str, ward: str) -> str:
    return f"{province}{ward[-3:]}"


FACILITIES: Final[dict[str, str]] = _facilities()  # 5-digit facility code → name

_ID_RE: Final = re.compile(r"^[0-9]{12}$", re.ASCII)
_DATE_RE: Final = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", re.ASCII)
_WARD_RE: Final = re.compile(r"^[0-9]{5}$", re.ASCII)
_FACILITY_RE: Final = re.compile(r"^[0-9]{5}$", re.ASCII)
_CARD_RE: Final = re.compile(r"^(?:TE1[0-9]{2})?([0-9]{10})$", re.ASCII)
_SEX: Final = {"nam": "nam", "nu": "nu", "nữ": "nu"}


def _invalid(message: str) -> Refused:
    return Refused(422, "du_lieu_khong_hop_le", message)


def sixth_birthday(born: date) -> date:
    """The day a child turns 6 (a child born on 29 February turns 6 on 1 March)."""
    try:
        return born.replace(year=born.year + 6)
    except ValueError:
        return date(born.year + 6, 3, 1)


def valid_until(born: date) -> date:
    """The last day of a child's card: the day before the 6th birthday."""
    return sixth_birthday(born) - timedelta(days=1)


def check_child_id(number: object, born: date, sex: str) -> str:
    """The personal ID if it can be this child's (``PPP G YY RRRRRR``), else a 422 ``so_dinh_danh_khong_hop_le``.

    The rule re-applied here: PPP one of the 63 pre-2025 provinces; G even for boys, odd for girls, one pair per
    century from the 1900s (2000s: 2/3); YY the last two digits of the year of birth.
    """
    value = number.strip() if isinstance(number, str) else ""
    if not _ID_RE.fullmatch(value):
        raise Refused(422, "so_dinh_danh_khong_hop_le", "Số định danh cá nhân của trẻ phải gồm đúng 12 chữ số.")
    if value[:3] not in PROVINCE_BIRTH_CODES:
        raise Refused(422, "so_dinh_danh_khong_hop_le",
                      f"Số định danh cá nhân {value}: ba chữ số đầu không phải mã tỉnh đăng ký khai sinh.")
    century = (born.year // 100 - 19) * 2 + (1 if sex == "nu" else 0)
    if int(value[3]) != century or value[4:6] != f"{born.year % 100:02d}":
        raise Refused(422, "so_dinh_danh_khong_hop_le",
                      f"Số định danh cá nhân {value} không khớp năm sinh {born.year} hoặc giới tính của trẻ.")
    return value


def _text(body: dict[str, Any], key: str, label: str, low: int, high: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not low <= len(" ".join(value.split())) <= high:
        raise _invalid(f"Thiếu hoặc sai {label} (từ {low} đến {high} ký tự).")
    return " ".join(unicodedata.normalize("NFC", value).split())


@dataclass
class Card:
    ma_so_bhxh: str
    ma_the: str
    ma_ho_so: str
    so_dinh_danh: str
    ho_ten: str
    ngay_sinh: date
    gioi_tinh: str
    ma_tinh: str
    ma_xa: str
    dia_chi: str | None
    ma_noi_kcb: str
    noi_kcb: str
    ngay_cap: date

    @property
    def gia_tri_den(self) -> date:
        return valid_until(self.ngay_sinh)

    def as_dict(self) -> dict[str, Any]:
        return {"ma_so_bhxh": self.ma_so_bhxh, "ma_the": self.ma_the, "doi_tuong": GROUP,
                "muc_huong": BENEFIT_PERCENT, "ma_ho_so": self.ma_ho_so, "so_dinh_danh": self.so_dinh_danh,
                "ho_ten": self.ho_ten, "ngay_sinh": self.ngay_sinh.isoformat(), "gioi_tinh": self.gioi_tinh,
                "ma_tinh": self.ma_tinh, "ma_xa": self.ma_xa, "dia_chi": self.dia_chi,
                "ma_noi_kcb": self.ma_noi_kcb, "noi_kcb": self.noi_kcb, "ngay_cap": self.ngay_cap.isoformat(),
                "gia_tri_tu": self.ngay_cap.isoformat(), "gia_tri_den": self.gia_tri_den.isoformat()}


class CardState(Service):
    """Cards by dossier code; social-insurance numbers from a generator seeded like the rest of the world."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.cards: dict[str, Card] = {}  # ma_ho_so → card
        self.rng = random.Random(f"bhxh-{seed}")

    def new_number(self, province: str) -> str:
        taken = {c.ma_so_bhxh for c in self.cards.values()}
        while True:
            number = f"{province}{self.rng.randrange(10**8):08d}"
            if number not in taken:
                return number

    def find(self, so_dinh_danh: str | None = None, number: str | None = None) -> Card | None:
        return next((c for c in self.cards.values()
                     if c.so_dinh_danh == so_dinh_danh or c.ma_so_bhxh == number), None)

    def dump(self) -> dict[str, Any]:
        return {"cards": [c.as_dict() for c in self.cards.values()]}

    def clear(self) -> None:
        self.cards.clear()


def _make_state(app: Flask) -> CardState:
    data = app.extensions["sandbox"]["data"]
    assert isinstance(data, SandboxData)
    return CardState(data.seed)


bp = Blueprint("social_insurance", __name__)
attach_state(bp, "social_insurance", _make_state, hook="/_bhxh/cards")


def _today() -> date:
    return datetime.now(VIETNAM).date()


def _facility(province: str, ward: str, requested: object) -> tuple[str, str]:
    """The primary-care facility: the one requested, if known in the province, else the commune's health station."""
    if requested is None or requested == "":
        code = _station_code(province, ward)
        return code, FACILITIES.get(code, f"Trạm Y tế xã, phường (mã {ward})")
    if not isinstance(requested, str) or not _FACILITY_RE.fullmatch(requested.strip()):
        raise Refused(422, "noi_kcb_khong_hop_le", "Mã nơi đăng ký khám chữa bệnh ban đầu phải gồm 5 chữ số.")
    code = requested.strip()
    if not code.startswith(province) or code not in FACILITIES:
        raise Refused(422, "noi_kcb_khong_hop_le",
                      f"Cơ sở khám chữa bệnh mã {code} không nhận đăng ký ban đầu cho trẻ thường trú tại tỉnh, "
                      f"thành phố mã {province}.")
    return code, FACILITIES[code]


@bp.post("/bhxh/the-bhyt/tre-em")
@bearer
def issue_child_card() -> ResponseReturnValue:
    body = json_object()
    ma_ho_so = _text(body, "ma_ho_so", "mã hồ sơ", 1, 64)
    ho_ten = _text(body, "ho_ten", "họ và tên của trẻ", 2, 100)
    sex = _SEX.get(unicodedata.normalize("NFC", str(body.get("gioi_tinh", ""))).strip().lower())
    if sex is None:
        raise _invalid("Giới tính của trẻ phải là “nam” hoặc “nu”.")
    birth = body.get("ngay_sinh")
    try:
        born = date.fromisoformat(birth) if isinstance(birth, str) and _DATE_RE.fullmatch(birth) else None
    except ValueError:
        born = None
    if born is None:
        raise _invalid("Ngày sinh của trẻ phải có dạng YYYY-MM-DD.")
    so_dinh_danh = check_child_id(body.get("so_dinh_danh"), born, sex)
    province, ward = body.get("ma_tinh"), body.get("ma_xa")
    if not isinstance(province, str) or province not in PROVINCE_CODES:
        raise _invalid("Mã tỉnh, thành phố nơi thường trú của trẻ không hợp lệ (2 chữ số, 34 tỉnh, thành phố).")
    if not isinstance(ward, str) or not _WARD_RE.fullmatch(ward):
        raise _invalid("Mã xã, phường nơi thường trú của trẻ phải gồm 5 chữ số.")
    address = body.get("dia_chi")
    if address is not None and (not isinstance(address, str) or len(address) > 300):
        raise _invalid("Địa chỉ thường trú tối đa 300 ký tự.")
    today = _today()
    if born > today:
        raise _invalid(f"Ngày sinh {born:%d/%m/%Y} ở sau ngày hôm nay.")
    if sixth_birthday(born) <= today:
        raise Refused(422, "khong_du_dieu_kien",
                      f"Trẻ sinh ngày {born:%d/%m/%Y} đã đủ 6 tuổi: không thuộc đối tượng cấp thẻ bảo hiểm y tế "
                      "trẻ em dưới 6 tuổi.")
    code, facility = _facility(province, ward, body.get("ma_noi_kcb"))
    held = state("social_insurance", CardState)
    with held.lock:
        issued = held.cards.get(ma_ho_so)
        if issued is not None:
            if issued.so_dinh_danh != so_dinh_danh:
                raise Refused(409, "ho_so_da_cap_the",
                              f"Hồ sơ {ma_ho_so} đã được cấp thẻ bảo hiểm y tế {issued.ma_the} cho một trẻ khác.")
            return jsonify(issued.as_dict()), 200
        held_elsewhere = held.find(so_dinh_danh=so_dinh_danh)
        if held_elsewhere is not None:
            raise Refused(409, "the_da_ton_tai",
                          f"Trẻ có số định danh {so_dinh_danh} đã được cấp thẻ bảo hiểm y tế "
                          f"{held_elsewhere.ma_the} (hồ sơ {held_elsewhere.ma_ho_so}).")
        number = held.new_number(province)
        card = Card(ma_so_bhxh=number, ma_the=f"{GROUP}{BENEFIT_LEVEL}{province}{number}", ma_ho_so=ma_ho_so,
                    so_dinh_danh=so_dinh_danh, ho_ten=ho_ten, ngay_sinh=born, gioi_tinh=sex, ma_tinh=province,
                    ma_xa=ward, dia_chi=" ".join(address.split()) if address else None, ma_noi_kcb=code,
                    noi_kcb=facility, ngay_cap=today)
        held.cards[ma_ho_so] = card
        return jsonify(card.as_dict()), 201


@bp.post("/bhxh/the-bhyt/tra-cuu")
@bearer
def lookup_card() -> ResponseReturnValue:
    body = json_object()
    so_dinh_danh, ma_the = body.get("so_dinh_danh"), body.get("ma_the")
    if (so_dinh_danh is None) == (ma_the is None):
        raise _invalid("Tra cứu theo đúng một trong hai: số định danh cá nhân (so_dinh_danh) hoặc mã thẻ (ma_the).")
    number: str | None = None
    if so_dinh_danh is not None:
        if not isinstance(so_dinh_danh, str) or not _ID_RE.fullmatch(so_dinh_danh.strip()):
            raise Refused(422, "so_dinh_danh_khong_hop_le", "Số định danh cá nhân phải gồm đúng 12 chữ số.")
        so_dinh_danh = so_dinh_danh.strip()
    else:
        match = _CARD_RE.fullmatch(ma_the.strip().upper()) if isinstance(ma_the, str) else None
        if match is None:
            raise Refused(422, "ma_the_khong_hop_le",
                          "Mã thẻ bảo hiểm y tế gồm 15 ký tự (ví dụ TE1010112345678) hoặc mã số bảo hiểm xã hội "
                          "10 chữ số.")
        number = match[1]
    held = state("social_insurance", CardState)
    with held.lock:
        card = held.find(so_dinh_danh=so_dinh_danh, number=number)
        if card is None or (isinstance(ma_the, str) and len(ma_the.strip()) == 15
                            and card.ma_the != ma_the.strip().upper()):
            raise Refused(404, "khong_tim_thay", "Không tìm thấy thẻ bảo hiểm y tế theo thông tin đã cung cấp.")
        answer = card.as_dict()
    answer["trang_thai"] = "con_hieu_luc" if _today() <= card.gia_tri_den else "het_hieu_luc"
    return jsonify(answer)

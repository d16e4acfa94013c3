"""Vietnamese administrative identifiers: agency identifiers, dossier codes, procedure codes,
personal identification numbers and tax codes.

Every check fails with an :class:`IdentifierError` carrying a stable machine ``code`` (for APIs,
logs and translations) and a Vietnamese ``message`` that tells the citizen or officer exactly
what is wrong — "invalid" alone sends people back to the counter. The module is pure (no Flask,
no database) so forms, services, connectors and the sandbox share one definition.

Sources: dossier code — Thông tư 01/2018/TT-VPCP art. 19; agency identifier — QCVN 102:2016/BTTTT;
personal identification number — the 12-digit scheme ``PPP G YY RRRRRR``; tax code — the check
digit used in practice by the tax authority.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Final, NamedTuple

from app.clock import local_today

__all__ = [
    "AGENCY_ID_RE",
    "DOSSIER_CODE_RE",
    "PROCEDURE_CODE_RE",
    "PROVINCE_BIRTH_CODES",
    "TAX_CODE_WEIGHTS",
    "IdentifierError",
    "PersonalIdParts",
    "describe_personal_id",
    "format_dossier_code",
    "parse_dossier_code",
    "tax_code_check_digit",
    "validate_agency_identifier",
    "validate_personal_id",
    "validate_procedure_code",
    "validate_tax_code",
]


class IdentifierError(ValueError):
    """A malformed or inconsistent identifier: ``code`` for machines, ``message`` (Vietnamese) for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"IdentifierError({self.code!r}, {self.message!r})"


# ------------------------------------------------------------------ agency identifier

# QCVN 102:2016: V1V2V3.Z1Z2.Y1Y2.MX1X2 — level 1 (a letter + 2 digits: H29 province, G12 ministry…)
# is required; lower levels (2, 3, 4 digit groups) may only be dropped from the left:
# "H29", "98.H29", "38.98.H29", "000.00.01.H29".
_AGENCY_PATTERN: Final = r"(?:(?:(?:\d{3}\.)?\d{2}\.)?\d{2}\.)?[A-Z]\d{2}"
AGENCY_ID_RE: Final = re.compile(rf"^{_AGENCY_PATTERN}$", re.ASCII)

_AGENCY_EXAMPLE: Final = "000.00.01.H29"


def validate_agency_identifier(s: str) -> str:
    """Return the agency identifier normalised (trimmed, upper case) or raise :class:`IdentifierError`.

    An agency without an identifier cannot receive dossiers, so an empty value is its own error.
    """
    value = (s or "").strip().upper()
    if not value:
        raise IdentifierError(
            "agency_identifier.missing",
            "Cơ quan chưa được cấu hình mã định danh (QCVN 102:2016/BTTTT) nên chưa thể tiếp nhận hồ sơ.",
        )
    if not AGENCY_ID_RE.fullmatch(value):
        raise IdentifierError(
            "agency_identifier.format",
            f"Mã định danh cơ quan “{s.strip()}” không đúng cấu trúc QCVN 102:2016/BTTTT: các nhóm chữ số "
            f"ngăn cách bằng dấu chấm, kết thúc bằng một chữ cái và 2 chữ số (ví dụ: {_AGENCY_EXAMPLE}, "
            "38.98.H29).",
        )
    return value


# ------------------------------------------------------------------ dossier code

DOSSIER_SEQUENCE_MAX: Final = 9999
DOSSIER_CODE_RE: Final = re.compile(
    rf"^(?P<agency>{_AGENCY_PATTERN})-(?P<day>\d{{6}})-(?P<seq>\d{{4}})$", re.ASCII
)
_DOSSIER_EXAMPLE: Final = "000.00.01.H29-240115-0001"


def format_dossier_code(agency_identifier: str, received: date, seq: int) -> str:
    """``<agency identifier>-<YYMMDD>-<NNNN>`` (TT 01/2018/TT-VPCP art. 19).

    ``received`` is the LOCAL date of receipt; ``seq`` the agency's counter for that day, from 1.
    The regulation fixes four digits, so a 10,000th dossier in one day is refused rather than
    given a wider code that the national portal and every reader would reject. Years outside
    2000–2099 are refused too: YY must read back to the same date.
    """
    agency = validate_agency_identifier(agency_identifier)
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise TypeError("the dossier sequence must be an int")
    if seq < 1:
        raise IdentifierError(
            "dossier_code.sequence",
            f"Số thứ tự hồ sơ trong ngày phải từ 1 đến {DOSSIER_SEQUENCE_MAX}, không thể là {seq}.",
        )
    if seq > DOSSIER_SEQUENCE_MAX:
        raise IdentifierError(
            "dossier_code.sequence_overflow",
            f"Cơ quan {agency} đã tiếp nhận quá {DOSSIER_SEQUENCE_MAX} hồ sơ trong ngày "
            f"{received:%d/%m/%Y}: mã hồ sơ theo Thông tư 01/2018/TT-VPCP chỉ có 4 chữ số thứ tự.",
        )
    if not 2000 <= received.year <= 2099:
        raise IdentifierError(
            "dossier_code.year",
            f"Năm tiếp nhận {received.year} nằm ngoài khoảng 2000–2099 mà mã hồ sơ (YYMMDD) biểu diễn được.",
        )
    return f"{agency}-{received:%y%m%d}-{seq:04d}"


def parse_dossier_code(code: str) -> tuple[str, date, int]:
    """Split a dossier code into (agency identifier, receipt date, sequence), strictly.

    Only surrounding spaces and letter case are forgiven (citizens type codes into the lookup
    box); anything else that differs from the regulation is an :class:`IdentifierError`.
    """
    raw = code if isinstance(code, str) else ""
    value = raw.strip().upper()
    match = DOSSIER_CODE_RE.fullmatch(value)
    if match is None:
        raise IdentifierError(
            "dossier_code.format",
            f"Mã hồ sơ “{raw.strip()}” không đúng dạng <mã định danh cơ quan>-<YYMMDD>-<NNNN> "
            f"(ví dụ: {_DOSSIER_EXAMPLE}).",
        )
    day_text = match["day"]
    try:
        received = date(2000 + int(day_text[:2]), int(day_text[2:4]), int(day_text[4:]))
    except ValueError as exc:
        raise IdentifierError(
            "dossier_code.date",
            f"Mã hồ sơ “{value}”: “{day_text}” không phải một ngày tiếp nhận hợp lệ (dạng YYMMDD).",
        ) from exc
    seq = int(match["seq"])
    if seq == 0:
        raise IdentifierError(
            "dossier_code.sequence",
            f"Mã hồ sơ “{value}”: số thứ tự trong ngày bắt đầu từ 0001, không thể là 0000.",
        )
    return match["agency"], received, seq


# ------------------------------------------------------------------ procedure code

# N.NNNNNN from the national TTHC database, optionally suffixed by a province with an agency identifier.
PROCEDURE_CODE_RE: Final = re.compile(rf"^[1-9]\.\d{{6}}(?:\.{_AGENCY_PATTERN})?$", re.ASCII)


def validate_procedure_code(code: str) -> str:
    """Return the procedure code normalised (trimmed, upper-case suffix) or raise :class:`IdentifierError`."""
    raw = code if isinstance(code, str) else ""
    value = raw.strip().upper()
    if not PROCEDURE_CODE_RE.fullmatch(value):
        raise IdentifierError(
            "procedure_code.format",
            f"Mã thủ tục hành chính “{raw.strip()}” không đúng dạng N.NNNNNN (ví dụ: 1.001193), "
            "có thể kèm hậu tố mã định danh cơ quan (ví dụ: 1.001193.000.00.00.H56).",
        )
    return value


# ------------------------------------------------------------------ personal identification number

# The 63 pre-2025 province codes of birth registration. Numbers already issued keep them after the
# 2025 merger of provinces, so this list stays valid for validation.
_PROVINCE_BIRTH_CODES_TEXT: Final = """
001 002 004 006 008 010 011 012 014 015 017 019 020 022 024 025 026 027 030 031 033 034 035 036
037 038 040 042 044 045 046 048 049 051 052 054 056 058 060 062 064 066 067 068 070 072 074 075
077 079 080 082 083 084 086 087 089 091 092 093 094 095 096
"""
PROVINCE_BIRTH_CODES: Final[frozenset[str]] = frozenset(_PROVINCE_BIRTH_CODES_TEXT.split())

_SEX_VALUES: Final = {"nam": "nam", "male": "nam", "nữ": "nu", "nu": "nu", "female": "nu"}
_SEX_LABELS: Final = {"nam": "nam", "nu": "nữ"}


class PersonalIdParts(NamedTuple):
    """What a personal identification number says about its holder."""

    province_code: str  # PPP, province of birth registration
    sex: str  # "nam" | "nu"
    birth_year: int


def _personal_id_error(code: str, message: str) -> IdentifierError:
    return IdentifierError(f"personal_id.{code}", message)


def describe_personal_id(number: str, *, today: date | None = None) -> PersonalIdParts:
    """Check the shape of a 12-digit personal identification number and decode it.

    Raises :class:`IdentifierError` for a wrong length, non-digits, an unknown province code or a
    birth year in the future (compared with ``today``, default: the current date).
    """
    parts = _decode_personal_id(number)
    _check_not_future(parts, today)
    return parts


def _decode_personal_id(number: str) -> PersonalIdParts:
    raw = number if isinstance(number, str) else ""
    value = raw.strip()
    if not value:
        raise _personal_id_error("missing", "Chưa nhập số định danh cá nhân.")
    if not value.isascii() or not value.isdigit():
        raise _personal_id_error(
            "digits",
            f"Số định danh cá nhân “{value}” chỉ được gồm chữ số (12 chữ số, không có khoảng trắng).",
        )
    if len(value) == 9:
        raise _personal_id_error(
            "legacy_cmnd",
            f"“{value}” là số chứng minh nhân dân 9 số, không phải số định danh cá nhân (12 chữ số).",
        )
    if len(value) != 12:
        raise _personal_id_error(
            "length", f"Số định danh cá nhân phải có đúng 12 chữ số; “{value}” có {len(value)} chữ số."
        )
    province = value[:3]
    if province not in PROVINCE_BIRTH_CODES:
        raise _personal_id_error(
            "province",
            f"Ba chữ số đầu “{province}” của số định danh cá nhân không phải mã tỉnh nơi đăng ký khai sinh "
            "hợp lệ.",
        )
    gender_century = int(value[3])
    birth_year = 1900 + 100 * (gender_century // 2) + int(value[4:6])
    sex = "nu" if gender_century % 2 else "nam"
    return PersonalIdParts(province_code=province, sex=sex, birth_year=birth_year)


def _check_not_future(parts: PersonalIdParts, today: date | None) -> None:
    if parts.birth_year > (today or local_today()).year:
        raise _personal_id_error(
            "birth_year_future",
            f"Chữ số thứ 4 và 5–6 của số định danh cá nhân cho năm sinh {parts.birth_year}, "
            "sau năm hiện tại.",
        )


def validate_personal_id(
    number: str,
    date_of_birth: date | None = None,
    sex: str | None = None,
    *,
    today: date | None = None,
) -> str:
    """Return the 12-digit personal identification number (trimmed) or raise :class:`IdentifierError`.

    With ``date_of_birth`` the century digit and YY must match the birth year (checked before the
    "birth year in the future" rule, whose message would be less telling); with ``sex``
    ("nam"/"nữ"/"nu" or "male"/"female", any case) the parity of the 4th digit must match it.
    An unrecognised ``sex`` value is a programming error (plain ``ValueError``), not a wrong number.
    """
    expected_sex = _normalise_sex(sex) if sex is not None else None
    parts = _decode_personal_id(number)
    value = number.strip()
    if date_of_birth is not None:
        decoded_century = parts.birth_year // 100 * 100
        actual_century = date_of_birth.year // 100 * 100
        if decoded_century != actual_century:
            raise _personal_id_error(
                "century",
                f"Chữ số thứ 4 của số định danh cá nhân là {value[3]}, dành cho người sinh từ năm "
                f"{decoded_century} đến {decoded_century + 99}, không khớp năm sinh {date_of_birth.year}.",
            )
        if parts.birth_year != date_of_birth.year:
            raise _personal_id_error(
                "birth_year",
                f"Chữ số thứ 5–6 của số định danh cá nhân là {value[4:6]}, không khớp hai số cuối "
                f"của năm sinh {date_of_birth.year} ({date_of_birth.year % 100:02d}).",
            )
    _check_not_future(parts, today)
    if expected_sex is not None and expected_sex != parts.sex:
        raise _personal_id_error(
            "sex",
            f"Chữ số thứ 4 của số định danh cá nhân là {value[3]}, dành cho giới tính "
            f"{_SEX_LABELS[parts.sex]}, không khớp giới tính đã khai ({_SEX_LABELS[expected_sex]}).",
        )
    return value


def _normalise_sex(sex: str) -> str:
    key = unicodedata.normalize("NFC", sex).strip().lower()
    try:
        return _SEX_VALUES[key]
    except KeyError:
        raise ValueError(f"unknown sex value {sex!r}: expected nam/nữ/nu or male/female") from None


# ------------------------------------------------------------------ tax code

TAX_CODE_WEIGHTS: Final = (31, 29, 23, 19, 17, 13, 7, 5, 3)
_TAX_CODE_RE: Final = re.compile(r"^(?P<base>\d{10})(?:-?(?P<branch>\d{3}))?$", re.ASCII)


def tax_code_check_digit(first_nine: str) -> int | None:
    """The 10th digit for the first nine digits of a tax code: 10 − (Σ Ni·Wi mod 11).

    When the sum is divisible by 11 the formula gives 10, which is not a digit: the tax authority
    does not issue such numbers, so ``None`` is returned and any 10-digit code built on these nine
    digits is invalid.
    """
    if len(first_nine) != 9 or not first_nine.isascii() or not first_nine.isdigit():
        raise ValueError("expected exactly nine digits")
    check = (
        10 - sum(int(digit) * weight for digit, weight in zip(first_nine, TAX_CODE_WEIGHTS, strict=True)) % 11
    )
    return None if check == 10 else check


def validate_tax_code(code: str, *, allow_personal_id: bool = False) -> str:
    """Return the tax code normalised or raise :class:`IdentifierError`.

    Accepted: 10 digits with a correct check digit (enterprises, organisations, individuals before
    2025), or a dependent unit's ``NNNNNNNNNN-NNN`` whose first ten digits are valid and whose
    branch number is 001–999 (13 digits without the hyphen are accepted and returned hyphenated).
    With ``allow_personal_id`` a 12-digit personal identification number is accepted too, since
    individuals now use it as their tax code.
    """
    raw = code if isinstance(code, str) else ""
    value = raw.strip()
    if allow_personal_id and len(value) == 12 and value.isascii() and value.isdigit():
        return validate_personal_id(value)
    match = _TAX_CODE_RE.fullmatch(value) if value.isascii() else None
    if match is None:
        accepted = "10 chữ số, hoặc 13 ký tự dạng NNNNNNNNNN-NNN cho đơn vị phụ thuộc"
        if allow_personal_id:
            accepted += ", hoặc số định danh cá nhân 12 chữ số"
        raise IdentifierError("tax_code.format", f"Mã số thuế “{value}” không hợp lệ: phải gồm {accepted}.")
    base = match["base"]
    expected = tax_code_check_digit(base[:9])
    if expected is None:
        raise IdentifierError(
            "tax_code.check_digit",
            f"Mã số thuế “{value}” không hợp lệ: chín chữ số đầu {base[:9]} không cho chữ số kiểm tra "
            "hợp lệ nên không thể là mã số thuế đã cấp.",
        )
    if int(base[9]) != expected:
        raise IdentifierError(
            "tax_code.check_digit",
            f"Mã số thuế “{value}” sai chữ số kiểm tra: chữ số thứ 10 phải là {expected}, "
            f"không phải {base[9]}.",
        )
    branch = match["branch"]
    if branch is None:
        return base
    if branch == "000":
        raise IdentifierError(
            "tax_code.branch",
            f"Mã số thuế “{value}”: ba số cuối của mã đơn vị phụ thuộc phải từ 001 đến 999.",
        )
    return f"{base}-{branch}"

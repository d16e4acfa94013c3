"""Vietnamese identifiers: agency identifiers, dossier codes, procedure codes, personal IDs, tax codes."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest

from app.identifiers import (
    AGENCY_ID_RE,
    PROVINCE_BIRTH_CODES,
    IdentifierError,
    PersonalIdParts,
    describe_personal_id,
    format_dossier_code,
    parse_dossier_code,
    tax_code_check_digit,
    validate_agency_identifier,
    validate_personal_id,
    validate_procedure_code,
    validate_tax_code,
)

TODAY = date(2026, 6, 1)


def error_code(excinfo: pytest.ExceptionInfo[IdentifierError]) -> str:
    return excinfo.value.code


# ------------------------------------------------------------------ IdentifierError


def test_identifier_error_is_a_value_error_with_code_and_message() -> None:
    err = IdentifierError("x.y", "Thông báo")
    assert isinstance(err, ValueError)
    assert err.code == "x.y"
    assert err.message == "Thông báo"
    assert str(err) == "Thông báo"


# ------------------------------------------------------------------ agency identifier


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("000.00.01.H29", "000.00.01.H29"),
        ("38.98.H29", "38.98.H29"),
        ("000.00.00.G12", "000.00.00.G12"),
        ("98.H29", "98.H29"),
        ("H56", "H56"),
        ("  000.00.01.h29 ", "000.00.01.H29"),
    ],
)
def test_valid_agency_identifiers_are_normalised(raw: str, normalised: str) -> None:
    assert validate_agency_identifier(raw) == normalised
    assert AGENCY_ID_RE.fullmatch(normalised)


@pytest.mark.parametrize(
    "raw",
    [
        "H2",  # level 1 needs two digits
        "H290",
        "29",  # no letter
        "000.00.01.29",
        "000.00.01.HH9",
        "0000.00.01.H29",  # four-digit level 4
        "000.01.H29",  # level 4 without level 3
        "00.00.01.H29",  # level 4 must have three digits
        "1.00.01.H29",
        "000.00.01.H29.",
        ".000.00.01.H29",
        "000,00,01,H29",
        "000.00.01 H29",
        "000.00.01-H29",
        "٠٠٠.00.01.H29",  # non-ASCII digits
        "000.00.01.Ư29",
    ],
)
def test_malformed_agency_identifiers_are_refused(raw: str) -> None:
    with pytest.raises(IdentifierError) as excinfo:
        validate_agency_identifier(raw)
    assert error_code(excinfo) == "agency_identifier.format"
    assert "QCVN 102:2016" in excinfo.value.message


@pytest.mark.parametrize("raw", ["", "   "])
def test_missing_agency_identifier_is_a_configuration_error(raw: str) -> None:
    with pytest.raises(IdentifierError) as excinfo:
        validate_agency_identifier(raw)
    assert error_code(excinfo) == "agency_identifier.missing"
    assert "chưa thể tiếp nhận hồ sơ" in excinfo.value.message


# ------------------------------------------------------------------ dossier code


def test_dossier_code_example_from_the_regulation() -> None:
    assert format_dossier_code("000.00.01.H29", date(2024, 1, 15), 1) == "000.00.01.H29-240115-0001"
    assert parse_dossier_code("000.00.01.H29-240115-0001") == ("000.00.01.H29", date(2024, 1, 15), 1)


@pytest.mark.parametrize(
    ("agency", "received", "seq", "expected"),
    [
        ("38.98.H29", date(2026, 11, 20), 42, "38.98.H29-261120-0042"),
        ("000.00.00.G12", date(2000, 2, 29), 9999, "000.00.00.G12-000229-9999"),
        ("h56", date(2099, 12, 31), 10, "H56-991231-0010"),
        (" 000.00.01.H29 ", date(2025, 7, 1), 123, "000.00.01.H29-250701-0123"),
    ],
)
def test_format_and_parse_round_trip(agency: str, received: date, seq: int, expected: str) -> None:
    code = format_dossier_code(agency, received, seq)
    assert code == expected
    assert parse_dossier_code(code) == (agency.strip().upper(), received, seq)


@pytest.mark.parametrize("seq", [1, 2, 9, 10, 99, 100, 999, 1000, 9998, 9999])
def test_sequence_is_always_four_digits(seq: int) -> None:
    code = format_dossier_code("000.00.01.H29", date(2026, 1, 2), seq)
    assert len(code.rsplit("-", 1)[1]) == 4
    assert parse_dossier_code(code)[2] == seq


def test_ten_thousandth_dossier_of_a_day_is_refused_not_widened() -> None:
    with pytest.raises(IdentifierError) as excinfo:
        format_dossier_code("000.00.01.H29", date(2026, 1, 2), 10000)
    assert error_code(excinfo) == "dossier_code.sequence_overflow"
    assert "9999" in excinfo.value.message
    assert "02/01/2026" in excinfo.value.message


@pytest.mark.parametrize("seq", [0, -1])
def test_sequence_starts_at_one(seq: int) -> None:
    with pytest.raises(IdentifierError) as excinfo:
        format_dossier_code("000.00.01.H29", date(2026, 1, 2), seq)
    assert error_code(excinfo) == "dossier_code.sequence"


def test_sequence_must_be_an_int() -> None:
    with pytest.raises(TypeError):
        format_dossier_code("000.00.01.H29", date(2026, 1, 2), True)
    with pytest.raises(TypeError):
        format_dossier_code("000.00.01.H29", date(2026, 1, 2), 1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("year", [1999, 2100])
def test_year_outside_the_two_digit_range_is_refused(year: int) -> None:
    with pytest.raises(IdentifierError) as excinfo:
        format_dossier_code("000.00.01.H29", date(year, 1, 2), 1)
    assert error_code(excinfo) == "dossier_code.year"


def test_format_refuses_an_agency_without_identifier() -> None:
    with pytest.raises(IdentifierError) as excinfo:
        format_dossier_code("", date(2026, 1, 2), 1)
    assert error_code(excinfo) == "agency_identifier.missing"
    with pytest.raises(IdentifierError) as excinfo:
        format_dossier_code("HN-01", date(2026, 1, 2), 1)
    assert error_code(excinfo) == "agency_identifier.format"


def test_parse_forgives_only_case_and_surrounding_spaces() -> None:
    assert parse_dossier_code("  000.00.01.h29-240115-0001\n") == ("000.00.01.H29", date(2024, 1, 15), 1)


@pytest.mark.parametrize(
    "code",
    [
        "",
        "000.00.01.H29",
        "000.00.01.H29-240115",
        "000.00.01.H29-240115-001",
        "000.00.01.H29-240115-00001",
        "000.00.01.H29-2401150-0001",
        "000.00.01.H29-24015-0001",
        "-240115-0001",
        "000.00.01.H29_240115_0001",
        "000.00.01.H29 240115 0001",
        "000.00.01.H29-240115-0001-1",
        "000.00.01.H29--240115-0001",
        "0000.00.01.H29-240115-0001",
        "000.00.01.H29-24O115-0001",
        "000.00.01.H29-240115-0001\nX",
        "000.00.01.H29-240115-٠٠٠١",
    ],
)
def test_parse_rejects_malformed_codes(code: str) -> None:
    with pytest.raises(IdentifierError) as excinfo:
        parse_dossier_code(code)
    assert error_code(excinfo) == "dossier_code.format"
    assert "YYMMDD" in excinfo.value.message


def test_parse_rejects_a_non_string() -> None:
    with pytest.raises(IdentifierError) as excinfo:
        parse_dossier_code(None)  # type: ignore[arg-type]
    assert error_code(excinfo) == "dossier_code.format"


@pytest.mark.parametrize(
    "code",
    [
        "000.00.01.H29-240230-0001",  # 30 February
        "000.00.01.H29-230229-0001",  # 2023 is not a leap year
        "000.00.01.H29-241301-0001",
        "000.00.01.H29-240100-0001",
        "000.00.01.H29-240132-0001",
    ],
)
def test_parse_rejects_impossible_dates(code: str) -> None:
    with pytest.raises(IdentifierError) as excinfo:
        parse_dossier_code(code)
    assert error_code(excinfo) == "dossier_code.date"


def test_parse_accepts_a_leap_day() -> None:
    assert parse_dossier_code("H29-240229-0007")[1] == date(2024, 2, 29)


def test_parse_rejects_sequence_zero() -> None:
    with pytest.raises(IdentifierError) as excinfo:
        parse_dossier_code("000.00.01.H29-240115-0000")
    assert error_code(excinfo) == "dossier_code.sequence"


# ------------------------------------------------------------------ procedure code


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("1.001193", "1.001193"),
        ("1.004222", "1.004222"),
        ("2.000815", "2.000815"),
        ("1.001612", "1.001612"),
        ("3.000333", "3.000333"),
        ("1.001193.000.00.00.H56", "1.001193.000.00.00.H56"),
        (" 1.001193.000.00.00.h56 ", "1.001193.000.00.00.H56"),
        ("1.001193.H56", "1.001193.H56"),
    ],
)
def test_valid_procedure_codes(raw: str, normalised: str) -> None:
    assert validate_procedure_code(raw) == normalised


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "1001193",
        "1.01193",
        "1.0011930",
        "0.001193",
        "A.001193",
        "11.001193",
        "1,001193",
        "1.001193.",
        "1.001193.H5",
        "1.001193-000.00.00.H56",
        "1.001193.0000.00.00.H56",
        "1.001193 000.00.00.H56",
    ],
)
def test_malformed_procedure_codes(raw: str) -> None:
    with pytest.raises(IdentifierError) as excinfo:
        validate_procedure_code(raw)
    assert error_code(excinfo) == "procedure_code.format"
    assert "N.NNNNNN" in excinfo.value.message


# ------------------------------------------------------------------ personal identification number


def test_the_63_province_codes_of_domain_md() -> None:
    assert len(PROVINCE_BIRTH_CODES) == 63
    assert all(len(code) == 3 and code.isdigit() for code in PROVINCE_BIRTH_CODES)
    assert {"001", "031", "079", "096"} <= PROVINCE_BIRTH_CODES
    assert not {"000", "003", "005", "097", "100"} & PROVINCE_BIRTH_CODES


@pytest.mark.parametrize(
    ("number", "dob", "sex"),
    [
        ("001090123456", date(1990, 5, 1), "nam"),  # Hà Nội, 1900s male
        ("001190123456", date(1990, 5, 1), "nữ"),  # 1900s female
        ("079301012345", date(2001, 12, 31), "nu"),  # TP.HCM, 2000s female
        ("031203001234", date(2003, 1, 1), "male"),  # Hải Phòng, 2000s male
        ("096325000001", date(2025, 3, 3), "FEMALE"),
        ("001000000000", date(1900, 1, 1), "Nam"),
        ("001199999999", date(1999, 6, 6), " Nữ "),
    ],
)
def test_valid_personal_ids(number: str, dob: date, sex: str) -> None:
    assert validate_personal_id(number, dob, sex, today=TODAY) == number
    assert validate_personal_id(f" {number} ", today=TODAY) == number


def test_sex_in_decomposed_unicode_is_understood() -> None:
    assert validate_personal_id("001190123456", sex=unicodedata.normalize("NFD", "Nữ"), today=TODAY)


def test_describe_personal_id_decodes_the_parts() -> None:
    assert describe_personal_id("079301012345", today=TODAY) == PersonalIdParts("079", "nu", 2001)
    assert describe_personal_id("001090123456", today=TODAY) == PersonalIdParts("001", "nam", 1990)


@pytest.mark.parametrize(
    ("number", "code", "fragment"),
    [
        ("", "personal_id.missing", "Chưa nhập"),
        ("00109012345", "personal_id.length", "11 chữ số"),
        ("0010901234567", "personal_id.length", "13 chữ số"),
        ("123456789", "personal_id.legacy_cmnd", "chứng minh nhân dân"),
        ("00109O123456", "personal_id.digits", "chỉ được gồm chữ số"),
        ("001 090 123456", "personal_id.digits", "chỉ được gồm chữ số"),
        ("٠٠١090123456", "personal_id.digits", "chỉ được gồm chữ số"),
        ("003090123456", "personal_id.province", "“003”"),
        ("000090123456", "personal_id.province", "“000”"),
        ("097090123456", "personal_id.province", "“097”"),
        ("001499123456", "personal_id.birth_year_future", "2199"),
        ("001227123456", "personal_id.birth_year_future", "2027"),
    ],
)
def test_malformed_personal_ids(number: str, code: str, fragment: str) -> None:
    with pytest.raises(IdentifierError) as excinfo:
        validate_personal_id(number, today=TODAY)
    assert error_code(excinfo) == code
    assert fragment in excinfo.value.message


def test_birth_year_of_this_year_is_accepted() -> None:
    assert validate_personal_id("001226123456", date(2026, 1, 1), "nam", today=TODAY)


@pytest.mark.parametrize(
    ("number", "dob", "code", "fragment"),
    [
        ("001090123456", date(2090, 1, 1), "personal_id.century", "từ năm 1900 đến 1999"),
        ("001290123456", date(1990, 1, 1), "personal_id.century", "từ năm 2000 đến 2099"),
        ("001210123456", date(1910, 1, 1), "personal_id.century", "không khớp năm sinh 1910"),
        ("001090123456", date(1991, 1, 1), "personal_id.birth_year", "năm sinh 1991 (91)"),
        ("079301012345", date(2010, 1, 1), "personal_id.birth_year", "là 01"),
    ],
)
def test_birth_year_must_match(number: str, dob: date, code: str, fragment: str) -> None:
    with pytest.raises(IdentifierError) as excinfo:
        validate_personal_id(number, dob, today=TODAY)
    assert error_code(excinfo) == code
    assert fragment in excinfo.value.message


@pytest.mark.parametrize(
    ("number", "sex", "fragment"),
    [
        ("001090123456", "nu", "giới tính nam, không khớp giới tính đã khai (nữ)"),
        ("001090123456", "female", "giới tính nam"),
        ("001190123456", "nam", "giới tính nữ, không khớp giới tính đã khai (nam)"),
        ("079301012345", "male", "giới tính nữ"),
    ],
)
def test_sex_must_match_the_parity_of_the_century_digit(number: str, sex: str, fragment: str) -> None:
    with pytest.raises(IdentifierError) as excinfo:
        validate_personal_id(number, sex=sex, today=TODAY)
    assert error_code(excinfo) == "personal_id.sex"
    assert fragment in excinfo.value.message


def test_unknown_sex_value_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown sex") as excinfo:
        validate_personal_id("001090123456", sex="x", today=TODAY)
    assert not isinstance(excinfo.value, IdentifierError)


# ------------------------------------------------------------------ tax code


def test_domain_example_tax_code_is_valid() -> None:
    assert validate_tax_code("0100109106") == "0100109106"
    assert tax_code_check_digit("010010910") == 6


@pytest.mark.parametrize(
    ("first_nine", "digit"),
    [
        ("010000000", 3),  # 29 → 29 mod 11 = 7 → 3
        ("030000000", 0),  # 87 → 87 mod 11 = 10 → 0
        ("100000000", 1),  # 31 → 9 → 1
        ("000000001", 7),  # 3 → 3 → 7
        ("010000005", None),  # 29 + 15 = 44 → 0 → 10: no digit
        ("000000000", None),
    ],
)
def test_check_digit_worked_by_hand(first_nine: str, digit: int | None) -> None:
    assert tax_code_check_digit(first_nine) == digit


@pytest.mark.parametrize("bad", ["01001091", "0100109106", "01001091a", "０１００１０９１０"])
def test_check_digit_needs_nine_ascii_digits(bad: str) -> None:
    with pytest.raises(ValueError):
        tax_code_check_digit(bad)


@pytest.mark.parametrize("code", ["0100000003", "0300000000", "1000000001", "0000000017"])
def test_other_valid_tax_codes(code: str) -> None:
    assert validate_tax_code(code) == code


@pytest.mark.parametrize("last", "012345789")
def test_every_wrong_check_digit_is_refused(last: str) -> None:
    code = "010010910" + last
    with pytest.raises(IdentifierError) as excinfo:
        validate_tax_code(code)
    assert error_code(excinfo) == "tax_code.check_digit"
    assert "phải là 6" in excinfo.value.message


@pytest.mark.parametrize("last", "0123456789")
def test_nine_digits_without_a_possible_check_digit_are_never_valid(last: str) -> None:
    with pytest.raises(IdentifierError) as excinfo:
        validate_tax_code("010000005" + last)
    assert error_code(excinfo) == "tax_code.check_digit"
    assert "không cho chữ số kiểm tra" in excinfo.value.message


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("0100109106-001", "0100109106-001"),
        ("0100109106-999", "0100109106-999"),
        ("0100109106001", "0100109106-001"),
        (" 0100109106-012 ", "0100109106-012"),
    ],
)
def test_dependent_unit_tax_codes(raw: str, normalised: str) -> None:
    assert validate_tax_code(raw) == normalised


def test_dependent_unit_needs_a_valid_parent_and_a_branch_number() -> None:
    with pytest.raises(IdentifierError) as excinfo:
        validate_tax_code("0100109107-001")
    assert error_code(excinfo) == "tax_code.check_digit"
    with pytest.raises(IdentifierError) as excinfo:
        validate_tax_code("0100109106-000")
    assert error_code(excinfo) == "tax_code.branch"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "010010910",
        "01001091066",
        "0100109106-01",
        "0100109106-0001",
        "0100109106_001",
        "0100 109106",
        "01001O9106",
        "０１００１０９１０６",
        "001090123456",  # a personal ID is not accepted unless asked for
    ],
)
def test_malformed_tax_codes(raw: str) -> None:
    with pytest.raises(IdentifierError) as excinfo:
        validate_tax_code(raw)
    assert error_code(excinfo) == "tax_code.format"
    assert "10 chữ số" in excinfo.value.message


def test_personal_id_as_tax_code_when_allowed() -> None:
    assert validate_tax_code("001090123456", allow_personal_id=True) == "001090123456"
    assert validate_tax_code("0100109106", allow_personal_id=True) == "0100109106"
    with pytest.raises(IdentifierError) as excinfo:
        validate_tax_code("003090123456", allow_personal_id=True)
    assert error_code(excinfo) == "personal_id.province"
    with pytest.raises(IdentifierError) as excinfo:
        validate_tax_code("00109012345", allow_personal_id=True)
    assert "số định danh cá nhân 12 chữ số" in excinfo.value.message


def test_declared_birth_date_is_compared_before_the_future_rule() -> None:
    # G = 2 means 2000s: with a 1990 birth date the century mismatch is the telling error.
    with pytest.raises(IdentifierError) as excinfo:
        validate_personal_id("001290123456", date(1990, 1, 1), today=TODAY)
    assert error_code(excinfo) == "personal_id.century"
    # A consistent but future birth date is still refused.
    with pytest.raises(IdentifierError) as excinfo:
        validate_personal_id("001227123456", date(2027, 1, 1), today=TODAY)
    assert error_code(excinfo) == "personal_id.birth_year_future"
    with pytest.raises(IdentifierError) as excinfo:
        describe_personal_id("001227123456", today=TODAY)
    assert error_code(excinfo) == "personal_id.birth_year_future"

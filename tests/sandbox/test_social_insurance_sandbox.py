"""The sandbox social-insurance office over real HTTP: health-insurance cards for children under 6."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
import requests

from app.identifiers import PROVINCE_BIRTH_CODES, IdentifierError, validate_personal_id
from sandbox.common import Refused
from sandbox.social_insurance import FACILITIES, check_child_id, sixth_birthday, valid_until
from tests.sandbox.conftest import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
T = TypeVar("T")


def vietnam_today() -> date:
    return datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()


def on_one_day(check: Callable[[date], T]) -> T:
    """Run ``check(today)`` again if Vietnam's date changed while it ran (the office judges age by its own day)."""
    for _ in range(3):
        today = vietnam_today()
        result = check(today)
        if vietnam_today() == today:
            return result
    raise AssertionError("the date kept changing")


def child_id(born: date, sex: str = "nam", province: str = "001") -> str:
    century = (born.year // 100 - 19) * 2 + (1 if sex == "nu" else 0)
    return f"{province}{century}{born.year % 100:02d}{uuid.uuid4().int % 1_000_000:06d}"


def dossier() -> str:
    return f"000.00.01.H29-261201-{uuid.uuid4().int % 10_000:04d}-{uuid.uuid4().hex[:6]}"


def child(born: date, **changes: Any) -> dict[str, Any]:
    sex = changes.get("gioi_tinh", "nam")
    return {"ma_ho_so": dossier(), "so_dinh_danh": child_id(born, sex), "ho_ten": "Nguyễn Minh Anh",
            "ngay_sinh": born.isoformat(), "gioi_tinh": sex, "ma_tinh": "01", "ma_xa": "00004",
            "dia_chi": "Số 12, phố Kim Mã", **changes}


def issue(url: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{url}/bhxh/the-bhyt/tre-em", json=body, headers=AUTH, timeout=5)


def lookup(url: str, **body: Any) -> requests.Response:
    return requests.post(f"{url}/bhxh/the-bhyt/tra-cuu", json=body, headers=AUTH, timeout=5)


# ------------------------------------------------------------------ the rules, without HTTP


@pytest.mark.parametrize(("born", "last_day"), [
    (date(2024, 5, 1), date(2030, 4, 30)),
    (date(2021, 1, 1), date(2026, 12, 31)),
    (date(2024, 2, 29), date(2030, 2, 28)),  # turns 6 on 1 March 2030
    (date(2020, 3, 1), date(2026, 2, 28)),
])
def test_card_lasts_until_the_day_before_the_sixth_birthday(born: date, last_day: date) -> None:
    assert valid_until(born) == last_day
    assert sixth_birthday(born) == last_day + timedelta(days=1)


def test_province_codes_of_birth_registration_are_the_platforms() -> None:
    from sandbox.social_insurance import PROVINCE_BIRTH_CODES as SANDBOX_CODES

    assert SANDBOX_CODES == PROVINCE_BIRTH_CODES


@pytest.mark.parametrize("number", ["001224123456", "001324123456", "079225000001", "001124123456",
                                    "003224123456", "001223123456", "0012241234", "00122412345a", "101224123456"])
@pytest.mark.parametrize("sex", ["nam", "nu"])
def test_id_check_agrees_with_the_platform(number: str, sex: str) -> None:
    born = date(2024, 6, 1)
    try:
        validate_personal_id(number, born, sex)
        platform_accepts = True
    except IdentifierError:
        platform_accepts = False
    try:
        check_child_id(number, born, sex)
        sandbox_accepts = True
    except Refused as exc:
        assert exc.code == "so_dinh_danh_khong_hop_le" and exc.status == 422
        sandbox_accepts = False
    assert sandbox_accepts == platform_accepts


# ------------------------------------------------------------------ issue


def test_card_is_issued_once_per_dossier(base_url: str) -> None:
    born = date(2024, 5, 1)
    body = child(born, gioi_tinh="nu", ho_ten="  Trần   Ngọc Hân ")
    first = issue(base_url, body)
    assert first.status_code == 201, first.text
    card = first.json()
    number = card["ma_so_bhxh"]
    assert len(number) == 10 and number.isdigit() and number.startswith("01")
    assert card["ma_the"] == f"TE101{number}" and len(card["ma_the"]) == 15
    assert card["doi_tuong"] == "TE" and card["muc_huong"] == 100
    assert card["ho_ten"] == "Trần Ngọc Hân" and card["gioi_tinh"] == "nu"
    assert card["so_dinh_danh"] == body["so_dinh_danh"] and card["ma_ho_so"] == body["ma_ho_so"]
    assert card["gia_tri_den"] == "2030-04-30"
    assert abs((date.fromisoformat(card["gia_tri_tu"]) - vietnam_today()).days) <= 1
    assert card["ma_noi_kcb"] == "01004" and card["noi_kcb"] == "Trạm Y tế Phường Ba Đình"

    again = issue(base_url, body)
    assert again.status_code == 200 and again.json() == card
    cards = requests.get(f"{base_url}/_bhxh/cards", timeout=5).json()["cards"]
    assert [c["ma_the"] for c in cards if c["so_dinh_danh"] == body["so_dinh_danh"]] == [card["ma_the"]]


def test_one_dossier_one_child_one_card(base_url: str) -> None:
    born = date(2023, 9, 15)
    body = child(born)
    card = issue(base_url, body).json()
    other_child = issue(base_url, child(born, ma_ho_so=body["ma_ho_so"]))
    assert other_child.status_code == 409 and other_child.json()["error_code"] == "ho_so_da_cap_the"
    assert body["ma_ho_so"] in other_child.json()["message"]
    other_dossier = issue(base_url, {**body, "ma_ho_so": dossier()})
    assert other_dossier.status_code == 409 and other_dossier.json()["error_code"] == "the_da_ton_tai"
    assert card["ma_the"] in other_dossier.json()["message"]


def born_turning_six_on(day: date) -> date | None:
    """The birth date whose 6th birthday is ``day`` (none for 29 February: six years earlier is not a leap year)."""
    approx = day - timedelta(days=6 * 365 + 1)
    return next((b for b in (approx + timedelta(days=k) for k in range(-5, 6)) if sixth_birthday(b) == day), None)


def test_a_child_turning_six_today_is_refused_the_day_before_is_not(base_url: str) -> None:
    def attempt(today: date) -> tuple[list[requests.Response], requests.Response | None]:
        too_old = [born_turning_six_on(today), today - timedelta(days=6 * 366), date(today.year - 9, 1, 15)]
        refused = [issue(base_url, child(born)) for born in too_old if born is not None]
        last_day = born_turning_six_on(today + timedelta(days=1))
        return refused, (issue(base_url, child(last_day)) if last_day is not None else None)

    refused, almost = on_one_day(attempt)
    assert len(refused) >= 2
    for response in refused:
        assert response.status_code == 422 and response.json()["error_code"] == "khong_du_dieu_kien", response.text
        assert "6 tuổi" in response.json()["message"]
    if almost is not None:  # none when tomorrow is 29 February
        assert almost.status_code == 201, almost.text
        assert almost.json()["gia_tri_den"] == almost.json()["gia_tri_tu"]  # the card's last day is today


@pytest.mark.parametrize(("change", "code"), [
    ({"so_dinh_danh": "00122412345"}, "so_dinh_danh_khong_hop_le"),  # 11 digits
    ({"so_dinh_danh": "00122412345x"}, "so_dinh_danh_khong_hop_le"),
    ({"so_dinh_danh": "003224123456"}, "so_dinh_danh_khong_hop_le"),  # no province 003
    ({"so_dinh_danh": "001223123456"}, "so_dinh_danh_khong_hop_le"),  # born 2023 by the number, 2024 declared
    ({"so_dinh_danh": "001324123456"}, "so_dinh_danh_khong_hop_le"),  # a girl's number, a boy declared
    ({"so_dinh_danh": "001024123456"}, "so_dinh_danh_khong_hop_le"),  # the 1900s
    ({"so_dinh_danh": 1224123456}, "so_dinh_danh_khong_hop_le"),
    ({"ngay_sinh": "2024-02-30"}, "du_lieu_khong_hop_le"),
    ({"ngay_sinh": "01/05/2024"}, "du_lieu_khong_hop_le"),
    ({"gioi_tinh": "khac"}, "du_lieu_khong_hop_le"),
    ({"ho_ten": " "}, "du_lieu_khong_hop_le"),
    ({"ma_ho_so": ""}, "du_lieu_khong_hop_le"),
    ({"ma_tinh": "99"}, "du_lieu_khong_hop_le"),
    ({"ma_xa": "4"}, "du_lieu_khong_hop_le"),
    ({"ma_noi_kcb": "79001"}, "noi_kcb_khong_hop_le"),  # a Ho Chi Minh City hospital for a child of Hà Nội
    ({"ma_noi_kcb": "01999"}, "noi_kcb_khong_hop_le"),
    ({"ma_noi_kcb": "1"}, "noi_kcb_khong_hop_le"),
])
def test_malformed_requests_are_refused(base_url: str, change: dict[str, Any], code: str) -> None:
    body = {**child(date(2024, 5, 1)), "so_dinh_danh": "001224123456", **change}
    response = issue(base_url, body)
    assert response.status_code == 422 and response.json()["error_code"] == code, response.text
    assert response.json()["message"]


def test_a_future_birth_is_refused(base_url: str) -> None:
    born = vietnam_today() + timedelta(days=3)
    response = issue(base_url, child(born))
    assert response.status_code == 422 and response.json()["error_code"] == "du_lieu_khong_hop_le"


def test_primary_care_facility_by_request_or_by_commune(base_url: str) -> None:
    hospital = issue(base_url, child(date(2025, 1, 2), ma_noi_kcb="01001")).json()
    assert hospital["ma_noi_kcb"] == "01001"
    assert hospital["noi_kcb"] == FACILITIES["01001"] == "Bệnh viện Nhi Trung ương"
    saigon = issue(base_url, child(date(2025, 1, 2), ma_tinh="79", ma_xa="26734")).json()
    assert saigon["ma_the"].startswith("TE179") and saigon["ma_noi_kcb"] == "79734"
    assert saigon["noi_kcb"] == "Trạm Y tế Phường Sài Gòn"
    elsewhere = issue(base_url, child(date(2025, 1, 2), ma_tinh="40", ma_xa="16681")).json()
    assert elsewhere["ma_noi_kcb"] == "40681" and "16681" in elsewhere["noi_kcb"]


# ------------------------------------------------------------------ look up


def test_look_up_by_personal_id_card_code_or_number(base_url: str) -> None:
    body = child(date(2022, 11, 30))
    card = issue(base_url, body).json()
    for query in ({"so_dinh_danh": body["so_dinh_danh"]}, {"ma_the": card["ma_the"]},
                  {"ma_the": card["ma_the"].lower()}, {"ma_the": card["ma_so_bhxh"]}):
        found = lookup(base_url, **query)
        assert found.status_code == 200, (query, found.text)
        assert found.json() == {**card, "trang_thai": "con_hieu_luc"}


def test_look_up_misses_and_malformed_queries(base_url: str) -> None:
    card = issue(base_url, child(date(2022, 11, 30))).json()
    wrong_province = "TE179" + card["ma_so_bhxh"]
    for query in ({"so_dinh_danh": child_id(date(2022, 1, 1))}, {"ma_the": "TE1019999999999"},
                  {"ma_the": wrong_province}):
        missing = lookup(base_url, **query)
        assert missing.status_code == 404 and missing.json()["error_code"] == "khong_tim_thay", query
    for query, code in (({"so_dinh_danh": "123"}, "so_dinh_danh_khong_hop_le"),
                        ({"ma_the": "GD4010113052350"}, "ma_the_khong_hop_le"), ({}, "du_lieu_khong_hop_le"),
                        ({"so_dinh_danh": card["so_dinh_danh"], "ma_the": card["ma_the"]}, "du_lieu_khong_hop_le")):
        refused = lookup(base_url, **query)
        assert refused.status_code == 422 and refused.json()["error_code"] == code, query


# ------------------------------------------------------------------ like every national system


def test_token_required(base_url: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = requests.post(f"{base_url}/bhxh/the-bhyt/tre-em", json=child(date(2024, 1, 1)), headers=headers,
                                 timeout=5)
        assert response.status_code == 401 and response.json()["error_code"] == "chua_xac_thuc"


def test_faults_reach_the_office_and_pass(base_url: str) -> None:
    requests.delete(f"{base_url}/_faults", timeout=5)
    requests.post(f"{base_url}/_faults", json={"path_prefix": "/bhxh/", "mode": "error", "status": 503, "count": 2},
                  timeout=5)
    body = child(date(2024, 8, 8))
    for _ in range(2):
        failed = issue(base_url, body)
        assert failed.status_code == 503 and failed.json()["error_code"] == "loi_he_thong"
    assert lookup(base_url, so_dinh_danh=body["so_dinh_danh"]).status_code == 404  # nothing was issued
    assert issue(base_url, body).status_code == 201
    log = requests.get(f"{base_url}/_log", timeout=5).json()["requests"]
    assert [r["path"] for r in log if r["path"].startswith("/bhxh/")][-4:] == [
        "/bhxh/the-bhyt/tre-em", "/bhxh/the-bhyt/tre-em", "/bhxh/the-bhyt/tra-cuu", "/bhxh/the-bhyt/tre-em"]


def test_hook_lists_and_forgets_cards(base_url: str) -> None:
    body = child(date(2024, 3, 3))
    issue(base_url, body)
    listed = requests.get(f"{base_url}/_bhxh/cards", timeout=5).json()["cards"]
    assert body["ma_ho_so"] in {c["ma_ho_so"] for c in listed}
    assert requests.delete(f"{base_url}/_bhxh/cards", timeout=5).json() == {"cards": []}
    assert lookup(base_url, so_dinh_danh=body["so_dinh_danh"]).status_code == 404

"""SocialInsuranceConnector against the sandbox social-insurance office over real HTTP, and its two operations as
the registry, the upload checker and the studio's modeller offer them."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from app.procedures.package import check_package, load_directory
from connectors import build_registry, operation_catalog
from connectors.base import CircuitBreaker, HttpClient, PermanentError, RetryPolicy, TransientError
from connectors.registry import Registry
from connectors.social_insurance import (
    ISSUE_PARAMS,
    LOOKUP_PARAMS,
    PROVIDER,
    SocialInsuranceConnector,
)

TOKEN = "sandbox-test-token"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def bhxh(sandbox: str) -> SocialInsuranceConnector:
    requests.delete(f"{sandbox}/_faults", timeout=5)
    client = HttpClient(PROVIDER, sandbox, token=TOKEN, timeout=0.5,
                        retry=RetryPolicy(attempts=3, base_delay=0.01), breaker=CircuitBreaker())
    return SocialInsuranceConnector(client)


def dossier() -> str:
    return f"000.00.01.H29-261201-{uuid.uuid4().int % 10_000:04d}{uuid.uuid4().hex[:4]}"


def child_id(born: date, sex: str = "nam") -> str:
    century = (born.year // 100 - 19) * 2 + (0 if sex.lower() == "nam" else 1)
    return f"001{century}{born.year % 100:02d}{uuid.uuid4().int % 1_000_000:06d}"


def child(born: date = date(2024, 7, 20), sex: str = "nam", **changes: Any) -> dict[str, Any]:
    return {"ma_ho_so": dossier(), "so_dinh_danh": child_id(born, sex), "ho_ten": "Lê Gia Bảo",
            "ngay_sinh": born.isoformat(), "gioi_tinh": sex, "ma_tinh": "01", "ma_xa": "00070", **changes}


def bhxh_calls(sandbox: str) -> list[dict[str, Any]]:
    return [r for r in requests.get(f"{sandbox}/_log", timeout=5).json()["requests"] if r["path"].startswith("/bhxh")]


def cards_of(sandbox: str, ma_ho_so: str) -> list[str]:
    cards = requests.get(f"{sandbox}/_bhxh/cards", timeout=5).json()["cards"]
    return [c["ma_the"] for c in cards if c["ma_ho_so"] == ma_ho_so]


def test_card_is_issued_once_per_dossier(bhxh: SocialInsuranceConnector, sandbox: str) -> None:
    params = child(sex="Nữ")
    card = bhxh.issue_child_card(**params)
    assert card["so_dinh_danh"] == params["so_dinh_danh"] and card["gioi_tinh"] == "nu"
    assert card["ma_the"] == "TE101" + card["ma_so_bhxh"] and card["gia_tri_den"] == "2030-07-19"
    assert card["noi_kcb"] == "Trạm Y tế Phường Hoàn Kiếm"
    assert bhxh.issue_child_card(**params) == card
    assert cards_of(sandbox, params["ma_ho_so"]) == [card["ma_the"]]
    with pytest.raises(PermanentError) as info:
        bhxh.issue_child_card(**{**params, "ma_ho_so": dossier()})
    assert info.value.code == "the_da_ton_tai" and info.value.status == 409


def test_a_lost_answer_is_retried_and_still_one_card(bhxh: SocialInsuranceConnector, sandbox: str) -> None:
    params = child()
    requests.post(f"{sandbox}/_faults", json={"path_prefix": "/bhxh/the-bhyt/tre-em", "mode": "latency",
                                              "delay_ms": 800, "count": 1}, timeout=5)
    before = len(bhxh_calls(sandbox))
    card = bhxh.issue_child_card(**params)
    assert len(bhxh_calls(sandbox)) - before == 2  # timed out (the office issued the card meanwhile), retried
    assert cards_of(sandbox, params["ma_ho_so"]) == [card["ma_the"]]


def test_server_errors_are_retried_then_given_up_as_transient(bhxh: SocialInsuranceConnector, sandbox: str) -> None:
    params = child()
    requests.post(f"{sandbox}/_faults", json={"path_prefix": "/bhxh/", "mode": "error", "status": 503, "count": 2},
                  timeout=5)
    before = len(bhxh_calls(sandbox))
    card = bhxh.issue_child_card(**params)
    assert len(bhxh_calls(sandbox)) - before == 3 and card["ma_ho_so"] == params["ma_ho_so"]

    requests.post(f"{sandbox}/_faults", json={"path_prefix": "/bhxh/", "mode": "timeout", "count": 3}, timeout=5)
    with pytest.raises(TransientError) as info:
        bhxh.lookup_card(so_dinh_danh=params["so_dinh_danh"])
    assert info.value.status == 504 and info.value.provider == PROVIDER
    assert bhxh.lookup_card(so_dinh_danh=params["so_dinh_danh"])["ma_the"] == card["ma_the"]


def test_a_child_of_six_is_refused_once_not_retried(bhxh: SocialInsuranceConnector, sandbox: str) -> None:
    today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    before = len(bhxh_calls(sandbox))
    for born in (date(today.year - 7, 6, 1), today - timedelta(days=6 * 366)):
        with pytest.raises(PermanentError) as info:
            bhxh.issue_child_card(**child(born))
        assert info.value.code == "khong_du_dieu_kien" and info.value.status == 422
        assert "6 tuổi" in info.value.message
    assert len(bhxh_calls(sandbox)) - before == 2


@pytest.mark.parametrize(("number", "born", "sex"), [
    ("00122412345", date(2024, 7, 20), "nam"),  # 11 digits
    ("003224123456", date(2024, 7, 20), "nam"),  # no such province
    ("001223123456", date(2024, 7, 20), "nam"),  # the number says 2023
    ("001324123456", date(2024, 7, 20), "nam"),  # a girl's number
    ("001224123456", date(2024, 7, 20), "nu"),  # a boy's number
    ("001224123456", date(2124, 7, 20), "nam"),  # the 2100s have other century digits
])
def test_a_number_that_cannot_be_the_childs_is_refused_without_a_call(
        bhxh: SocialInsuranceConnector, sandbox: str, number: str, born: date, sex: str) -> None:
    before = len(bhxh_calls(sandbox))
    with pytest.raises(PermanentError) as info:
        bhxh.issue_child_card(**child(born, sex, so_dinh_danh=number))
    assert info.value.code == "so_dinh_danh_khong_hop_le" and info.value.provider == PROVIDER
    assert "định danh" in info.value.message
    with pytest.raises(PermanentError) as lookup:
        bhxh.lookup_card(so_dinh_danh="003224123456")
    assert lookup.value.code == "so_dinh_danh_khong_hop_le"
    assert len(bhxh_calls(sandbox)) == before


def test_look_up_both_ways(bhxh: SocialInsuranceConnector) -> None:
    params = child(date(2023, 2, 28))
    card = bhxh.issue_child_card(**params)
    by_id = bhxh.lookup_card(so_dinh_danh=params["so_dinh_danh"])
    assert by_id == {**card, "trang_thai": "con_hieu_luc"}
    assert bhxh.lookup_card(ma_the=card["ma_the"]) == by_id
    assert bhxh.lookup_card(ma_the=card["ma_so_bhxh"]) == by_id
    for query in ({"so_dinh_danh": child_id(date(2023, 2, 28))}, {"ma_the": "TE1010000000000"}):
        with pytest.raises(PermanentError) as info:
            bhxh.lookup_card(**query)
        assert info.value.code == "khong_tim_thay" and info.value.status == 404


def test_operations_through_the_registry(bhxh: SocialInsuranceConnector, sandbox: str) -> None:
    registry = Registry()
    for operation in bhxh.operations():
        registry.register(operation)
    assert registry.ids() == ["social_insurance.issue_child_card", "social_insurance.lookup_card"]
    params = child(dia_chi="Số 3, phố Tràng Tiền", ma_noi_kcb="01001")
    card = registry.call("social_insurance.issue_child_card", params)
    assert card["ma_noi_kcb"] == "01001" and card["noi_kcb"] == "Bệnh viện Nhi Trung ương"
    found = registry.call("social_insurance.lookup_card", {"ma_the": card["ma_the"]})
    assert found["trang_thai"] == "con_hieu_luc" and found["dia_chi"] == "Số 3, phố Tràng Tiền"
    before = len(bhxh_calls(sandbox))
    for bad in ({**params, "gioi_tinh": "khác"}, {k: v for k, v in params.items() if k != "ma_ho_so"},
                {**params, "so_dinh_danh": "00122412345"}, {**params, "ma_xa": 70}):
        with pytest.raises(PermanentError) as info:
            registry.call("social_insurance.issue_child_card", bad)
        assert info.value.code == "invalid_params"
    for bad in ({}, {"so_dinh_danh": params["so_dinh_danh"], "ma_the": card["ma_the"]}, {"ma_the": "TE10"}):
        with pytest.raises(PermanentError) as info:
            registry.call("social_insurance.lookup_card", bad)
        assert info.value.code == "invalid_params"
    assert len(bhxh_calls(sandbox)) == before


def test_configured_by_its_url_like_every_provider(sandbox: str) -> None:
    registry = build_registry({"SOCIAL_INSURANCE_URL": sandbox, "SOCIAL_INSURANCE_TOKEN": TOKEN,
                               "CONNECTOR_ATTEMPTS": 1})
    assert registry.ids() == ["social_insurance.issue_child_card", "social_insurance.lookup_card"]
    card = registry.call("social_insurance.issue_child_card", child())
    assert registry.call("social_insurance.lookup_card", {"so_dinh_danh": card["so_dinh_danh"]})["ma_the"] == \
        card["ma_the"]
    unauthorised = build_registry({"SOCIAL_INSURANCE_URL": sandbox, "SOCIAL_INSURANCE_TOKEN": "wrong"})
    with pytest.raises(PermanentError) as info:
        unauthorised.call("social_insurance.lookup_card", {"so_dinh_danh": card["so_dinh_danh"]})
    assert info.value.status == 401
    assert "social_insurance.lookup_card" not in build_registry({}).ids()


# ------------------------------------------------------------------ the catalogue: upload checker and modeller


def test_the_catalogue_offers_both_operations_with_their_schemas() -> None:
    catalog = operation_catalog()
    assert catalog["social_insurance.issue_child_card"] == ISSUE_PARAMS
    assert catalog["social_insurance.lookup_card"] == LOOKUP_PARAMS
    assert set(ISSUE_PARAMS["required"]) == {"ma_ho_so", "so_dinh_danh", "ho_ten", "ngay_sinh", "gioi_tinh", "ma_tinh",
                                             "ma_xa"}


LOOKUP_MOTHER = (b'<spiffworkflow:serviceTaskOperator id="population.lookup_citizen" resultVariable="tra_cuu_me">\n'
                 b'          <spiffworkflow:parameters>\n'
                 b'            <spiffworkflow:parameter id="so_dinh_danh" type="str" value="me[\'so_dinh_danh\']"/>\n'
                 b'            <spiffworkflow:parameter id="ho_ten" type="str" value="me[\'ho_ten\']"/>\n'
                 b'            <spiffworkflow:parameter id="nam_sinh" type="int" value="me[\'nam_sinh\']"/>\n'
                 b'          </spiffworkflow:parameters>')


def _checked_with(operator: bytes) -> Any:
    pkg = load_directory(ROOT / "bpmn" / "khai-sinh")
    [name] = pkg.bpmn
    assert LOOKUP_MOTHER in pkg.bpmn[name]
    pkg.bpmn[name] = pkg.bpmn[name].replace(LOOKUP_MOTHER, operator)
    return check_package(pkg)


def test_the_upload_checker_knows_the_operations_and_their_parameters() -> None:
    report = _checked_with(b'<spiffworkflow:serviceTaskOperator id="social_insurance.lookup_card" '
                           b'resultVariable="tra_cuu_me"><spiffworkflow:parameters>'
                           b'<spiffworkflow:parameter id="so_dinh_danh" type="str" value="me[\'so_dinh_danh\']"/>'
                           b'</spiffworkflow:parameters>')
    assert not [p for p in report.problems if p.code.startswith("operation")], [p.message for p in report.problems]

    report = _checked_with(b'<spiffworkflow:serviceTaskOperator id="social_insurance.issue_child_card" '
                           b'resultVariable="tra_cuu_me"><spiffworkflow:parameters>'
                           b'<spiffworkflow:parameter id="so_dinh_danh" type="str" value="me[\'so_dinh_danh\']"/>'
                           b'<spiffworkflow:parameter id="ma_the" type="str" value="\'TE1010000000000\'"/>'
                           b'</spiffworkflow:parameters>')
    messages = {p.code: p.message for p in report.problems}
    assert "ma_the" in messages["operation_params_unknown"]
    for required in ("ma_ho_so", "ho_ten", "ngay_sinh", "gioi_tinh", "ma_tinh", "ma_xa"):
        assert required in messages["operation_params_missing"]

    report = _checked_with(b'<spiffworkflow:serviceTaskOperator id="social_insurance.lookup_card" '
                           b'resultVariable="tra_cuu_me"><spiffworkflow:parameters/>')
    [missing] = [p for p in report.problems if p.code == "operation_params_missing"]
    assert "so_dinh_danh" in missing.message and "ma_the" in missing.message


def test_the_modeller_offers_the_operations(client: Any, db_session: Any) -> None:
    from tests.conftest import login

    login(client, "thietke")
    response = client.post("/thiet-ke/ban-nhap/moi", data={"code": "9.900261", "name": "Thử thẻ bảo hiểm y tế",
                                                           "agency": "000.00.01.H26"})
    assert response.status_code == 302, response.data[:400]
    draft_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    operations = client.get(f"/thiet-ke/ban-nhap/{draft_id}/goi.json").get_json()["catalog"]["operations"]
    assert operations["social_insurance.issue_child_card"] == ISSUE_PARAMS
    assert operations["social_insurance.lookup_card"] == LOOKUP_PARAMS


def test_sex_in_the_forms_or_the_registrys_words(bhxh: SocialInsuranceConnector, sandbox: str) -> None:
    for said, sent in (("Nam", "nam"), ("nu", "nu"), ("Nữ", "nu")):
        card = bhxh.issue_child_card(**child(sex=said))
        assert card["gioi_tinh"] == sent
    before = len(bhxh_calls(sandbox))
    with pytest.raises(PermanentError) as info:
        bhxh.issue_child_card(**{**child(), "gioi_tinh": "khác"})
    assert info.value.code == "du_lieu_khong_hop_le" and len(bhxh_calls(sandbox)) == before

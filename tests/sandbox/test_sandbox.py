"""The sandbox national services, exercised over real HTTP as a connector would see them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import requests

from app.identifiers import validate_personal_id, validate_tax_code
from sandbox import DEMO_CITIZEN_ID, DEMO_SPOUSE_ID, DEMO_TAX_CODE, create_sandbox_app, generate

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DEMO = {"so_dinh_danh": DEMO_CITIZEN_ID, "ho_ten": "Nguyễn Văn An", "ngay_sinh": "1990-05-12"}


@pytest.fixture()
def url(base_url: str) -> Iterator[str]:
    requests.delete(f"{base_url}/_faults", timeout=5)
    requests.delete(f"{base_url}/_log", timeout=5)
    yield base_url
    requests.delete(f"{base_url}/_faults", timeout=5)


def lookup(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(f"{url}/dan-cu/tra-cuu", json=body, headers=AUTH if headers is None else headers,
                         timeout=10)


# ------------------------------------------------------------------ seeded data

def test_every_seeded_citizen_has_a_valid_consistent_personal_id() -> None:
    data = generate(2026)
    assert len(data.citizens) >= 1000
    for number, citizen in data.citizens.items():
        assert number == citizen["so_dinh_danh"]
        validate_personal_id(number, date.fromisoformat(citizen["ngay_sinh"]), citizen["gioi_tinh"])
        for key in ("noi_thuong_tru", "noi_o_hien_tai", "que_quan"):
            assert set(citizen[key]) == {"province_code", "province_name", "ward_code", "ward_name", "detail"}


def test_every_seeded_business_has_a_valid_tax_code_and_a_seeded_representative() -> None:
    data = generate(2026)
    assert len(data.businesses) == 200
    for code, business in data.businesses.items():
        assert validate_tax_code(code) == code == business["ma_so_thue"]
        rep = business["nguoi_dai_dien_phap_luat"]
        assert data.citizens[rep["so_dinh_danh"]]["ho_ten"] == rep["ho_ten"]
        assert business["nganh_nghe_kinh_doanh"] and business["von_dieu_le"] > 0
    assert sum(b["tinh_trang"] == "Đang hoạt động" for b in data.businesses.values()) > 100


def test_same_seed_same_world_other_seed_other_world() -> None:
    a, b, c = generate(7), generate(7), generate(8)
    assert a.citizens == b.citizens and a.businesses == b.businesses and a.households == b.households
    assert set(a.citizens) != set(c.citizens)
    assert set(a.businesses) != set(c.businesses)


def test_families_are_consistent() -> None:
    data = generate(2026)
    citizens = data.citizens
    children = 0
    for book, members in data.households.items():
        assert 2 <= len(members) <= 6
        heads = [m for m in members if citizens[m]["quan_he_voi_chu_ho"] == "Chủ hộ"]
        assert len(heads) == 1
        for m in members:
            assert citizens[m]["so_ho_khau"] == book
            assert citizens[m]["chu_ho"]["so_dinh_danh"] == heads[0]
    for number, citizen in citizens.items():
        spouse = citizen["vo_chong"]
        if spouse:
            other = citizens[spouse["so_dinh_danh"]]
            assert other["vo_chong"]["so_dinh_danh"] == number
            assert other["gioi_tinh"] != citizen["gioi_tinh"]
            assert citizen["tinh_trang_hon_nhan"] == "Đã kết hôn"
        for parent_key, sex in (("cha", "Nam"), ("me", "Nữ")):
            parent = citizen[parent_key]
            if parent:
                assert citizens[parent["so_dinh_danh"]]["gioi_tinh"] == sex
                assert citizens[parent["so_dinh_danh"]]["ngay_sinh"] < citizen["ngay_sinh"]
                children += 1
    assert children > 300


def test_demo_family_is_seeded() -> None:
    citizens = generate(2026).citizens
    an, binh = citizens[DEMO_CITIZEN_ID], citizens[DEMO_SPOUSE_ID]
    assert (an["ho_ten"], an["gioi_tinh"], an["ngay_sinh"]) == ("Nguyễn Văn An", "Nam", "1990-05-12")
    assert an["quan_he_voi_chu_ho"] == "Chủ hộ" and an["noi_thuong_tru"]["province_name"] == "Thành phố Hà Nội"
    assert binh["ho_ten"] == "Trần Thị Bình" and binh["ngay_sinh"].startswith("1995")
    assert an["vo_chong"]["so_dinh_danh"] == DEMO_SPOUSE_ID and binh["chu_ho"]["so_dinh_danh"] == DEMO_CITIZEN_ID


# ------------------------------------------------------------------ endpoints

def test_health(url: str) -> None:
    response = requests.get(f"{url}/health", timeout=5)
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_demo_citizen_found_with_forgiving_case_and_spaces(url: str) -> None:
    response = lookup(url, {**DEMO, "ho_ten": "  nguyễn   VĂN an "})
    assert response.status_code == 200
    body = response.json()
    assert body["so_dinh_danh"] == DEMO_CITIZEN_ID and body["ho_ten"] == "Nguyễn Văn An"
    assert body["vo_chong"]["ho_ten"] == "Trần Thị Bình"
    assert "Ba Đình" in response.text  # non-ASCII kept readable


@pytest.mark.parametrize("change", [{"ho_ten": "Nguyen Van An"}, {"ho_ten": "Nguyễn Văn Anh"},
                                    {"ngay_sinh": "1990-05-13"}, {"so_dinh_danh": "001090099999"}])
def test_lookup_mismatch_is_not_found(url: str, change: dict[str, str]) -> None:
    response = lookup(url, {**DEMO, **change})
    assert response.status_code == 404
    assert response.json()["error_code"] == "khong_tim_thay"
    assert "Không tìm thấy" in response.json()["message"]


@pytest.mark.parametrize("bad_id", ["00109001234", "0010900123456", "00109001234x", 1090012345])
def test_malformed_id_is_unprocessable(url: str, bad_id: Any) -> None:
    response = lookup(url, {**DEMO, "so_dinh_danh": bad_id})
    assert response.status_code == 422
    assert "12 chữ số" in response.json()["message"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
def test_auth_required(url: str, headers: dict[str, str]) -> None:
    assert lookup(url, DEMO, headers).status_code == 401
    response = requests.get(f"{url}/doanh-nghiep/{DEMO_TAX_CODE}", headers=headers, timeout=5)
    assert response.status_code == 401 and response.json()["error_code"] == "chua_xac_thuc"


def test_business_lookup(url: str) -> None:
    response = requests.get(f"{url}/doanh-nghiep/{DEMO_TAX_CODE}", headers=AUTH, timeout=5)
    assert response.status_code == 200
    body = response.json()
    assert body["ma_so_thue"] == DEMO_TAX_CODE and body["tinh_trang"] == "Đang hoạt động"
    assert body["nguoi_dai_dien_phap_luat"]["so_dinh_danh"] == DEMO_CITIZEN_ID
    missing = "0100109106"  # valid check digit, not seeded
    assert missing not in generate(2026).businesses
    assert requests.get(f"{url}/doanh-nghiep/{missing}", headers=AUTH, timeout=5).status_code == 404
    assert requests.get(f"{url}/doanh-nghiep/12345", headers=AUTH, timeout=5).status_code == 422


# ------------------------------------------------------------------ faults and log

def test_error_fault_fails_count_times_then_recovers(url: str) -> None:
    queued = requests.post(f"{url}/_faults", json={"path_prefix": "/dan-cu", "mode": "error", "status": 503,
                                                   "count": 2}, timeout=5)
    assert queued.status_code == 201
    # Other paths are unaffected.
    assert requests.get(f"{url}/doanh-nghiep/{DEMO_TAX_CODE}", headers=AUTH, timeout=5).status_code == 200
    assert [lookup(url, DEMO).status_code for _ in range(3)] == [503, 503, 200]


def test_timeout_fault_waits_then_answers_504(url: str) -> None:
    requests.post(f"{url}/_faults", json={"path_prefix": "/dan-cu", "mode": "timeout", "delay_ms": 300,
                                          "count": 1}, timeout=5)
    started = time.monotonic()
    response = lookup(url, DEMO)
    assert response.status_code == 504 and time.monotonic() - started >= 0.3
    with pytest.raises(requests.Timeout):
        requests.post(f"{url}/_faults", json={"path_prefix": "/dan-cu", "mode": "timeout", "delay_ms": 800},
                      timeout=5)
        requests.post(f"{url}/dan-cu/tra-cuu", json=DEMO, headers=AUTH, timeout=0.2)
    assert lookup(url, DEMO).status_code == 200


def test_latency_fault_delays_but_succeeds(url: str) -> None:
    requests.post(f"{url}/_faults", json={"path_prefix": "/dan-cu", "mode": "latency", "delay_ms": 400,
                                          "count": 1}, timeout=5)
    started = time.monotonic()
    response = lookup(url, DEMO)
    elapsed = time.monotonic() - started
    assert response.status_code == 200 and elapsed >= 0.4
    started = time.monotonic()
    assert lookup(url, DEMO).status_code == 200 and time.monotonic() - started < 0.4


def test_delete_faults_clears_them(url: str) -> None:
    requests.post(f"{url}/_faults", json={"path_prefix": "/", "mode": "error", "count": 5}, timeout=5)
    assert requests.delete(f"{url}/_faults", timeout=5).status_code == 200
    assert lookup(url, DEMO).status_code == 200


def test_bad_fault_rejected(url: str) -> None:
    for body in ({"mode": "explode"}, {"mode": "error", "count": 0}, {"path_prefix": "dan-cu"}):
        assert requests.post(f"{url}/_faults", json=body, timeout=5).status_code == 422


def test_concurrent_requests_consume_each_fault_use_once(url: str) -> None:
    requests.post(f"{url}/_faults", json={"path_prefix": "/health", "mode": "error", "status": 500, "count": 5},
                  timeout=5)
    statuses: list[int] = []
    lock = threading.Lock()

    def call() -> None:
        code = requests.get(f"{url}/health", timeout=5).status_code
        with lock:
            statuses.append(code)

    threads = [threading.Thread(target=call) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 7 + [500] * 5


def test_log_counts_requests(url: str) -> None:
    requests.post(f"{url}/_faults", json={"path_prefix": "/dan-cu", "mode": "error", "count": 1}, timeout=5)
    lookup(url, DEMO)
    lookup(url, DEMO)
    requests.get(f"{url}/doanh-nghiep/{DEMO_TAX_CODE}", headers=AUTH, timeout=5)
    entries = requests.get(f"{url}/_log", timeout=5).json()["requests"]
    assert [(e["method"], e["path"]) for e in entries] == [
        ("POST", "/dan-cu/tra-cuu"), ("POST", "/dan-cu/tra-cuu"), ("GET", f"/doanh-nghiep/{DEMO_TAX_CODE}")]
    assert all(isinstance(e["time"], float) for e in entries)
    requests.delete(f"{url}/_log", timeout=5)
    assert requests.get(f"{url}/_log", timeout=5).json()["requests"] == []


# ------------------------------------------------------------------ one fault injector for every national system

ONE_ROUTE_EACH = [  # (method, path, JSON body) of one authenticated route per blueprint
    ("POST", "/dan-cu/tra-cuu", DEMO),
    ("GET", f"/doanh-nghiep/{DEMO_TAX_CODE}", None),
    ("GET", "/thue/chung-tu/KHONG-CO", None),
    ("GET", "/thanh-toan/KHONG-CO", None),
    ("POST", "/sms/gui", {}),
    ("POST", "/dvcqg/qua-trinh", {}),
]


@pytest.mark.parametrize(("method", "path", "body"), ONE_ROUTE_EACH)
def test_faults_and_the_log_apply_to_every_national_system(url: str, method: str, path: str, body: Any) -> None:
    def call() -> requests.Response:
        return requests.request(method, f"{url}{path}", json=body, headers=AUTH, timeout=5)

    healthy = call().status_code
    assert healthy not in (502, 503)
    requests.post(f"{url}/_faults", json={"path_prefix": path, "status": 502, "count": 1}, timeout=5)
    failed = call()
    assert failed.status_code == 502 and failed.json()["error_code"] == "loi_he_thong"
    assert call().status_code == healthy
    assert [e["path"] for e in requests.get(f"{url}/_log", timeout=5).json()["requests"]] == [path] * 3


def test_busy_fault_is_in_band_where_the_service_has_such_a_reply(url: str) -> None:
    requests.post(f"{url}/_faults", json={"path_prefix": "/dvcqg", "mode": "busy", "count": 1}, timeout=5)
    busy = requests.post(f"{url}/dvcqg/qua-trinh", json={}, headers=AUTH, timeout=5)
    assert busy.status_code == 200 and busy.json()["error_code"] == "HE_THONG_BAN"
    requests.post(f"{url}/_faults", json={"path_prefix": "/dan-cu", "mode": "busy", "status": 503}, timeout=5)
    assert lookup(url, DEMO).status_code == 503  # the population database has no in-band reply
    assert lookup(url, DEMO).status_code == 200


def test_portal_outage_is_a_fault_of_the_one_queue(url: str) -> None:
    requests.delete(f"{url}/_portal", timeout=5)
    outage = requests.post(f"{url}/_portal/outage", json={"count": 2, "mode": "ma_loi"}, timeout=5)
    assert outage.json() == {"outage": {"count": 2, "mode": "ma_loi", "status": 503}}
    [queued] = requests.get(f"{url}/_faults", timeout=5).json()["faults"]
    assert queued == {"path_prefix": "/dvcqg", "mode": "busy", "status": 503, "delay_ms": 0, "count": 2}
    requests.post(f"{url}/dvcqg/qua-trinh", json={}, headers=AUTH, timeout=5)
    assert requests.get(f"{url}/_portal", timeout=5).json()["outage"]["count"] == 1
    requests.delete(f"{url}/_faults", timeout=5)  # clearing the queue ends the outage too
    assert requests.get(f"{url}/_portal", timeout=5).json()["outage"]["count"] == 0
    requests.post(f"{url}/_portal/outage", json={"count": 5}, timeout=5)
    requests.delete(f"{url}/_portal", timeout=5)  # and so does forgetting the portal's state
    assert requests.get(f"{url}/_faults", timeout=5).json() == {"faults": []}


def test_mail_hook_reads_and_clears_the_sink() -> None:
    import smtplib
    from email.message import EmailMessage

    from sandbox.common import state
    from sandbox.smtp import Mailbox, start_smtp_sink

    app = create_sandbox_app(2026, {"SANDBOX_TOKEN": TOKEN})
    with app.app_context():
        controller, _ = start_smtp_sink(mailbox=state("mail", Mailbox))
    try:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "motcua@example.vn", "an@example.vn", "Hồ sơ"
        message.set_content("Đã tiếp nhận.")
        with smtplib.SMTP("127.0.0.1", controller.port, timeout=5) as smtp:
            smtp.send_message(message)
        client = app.test_client()
        [mail] = client.get("/_mail").get_json()["messages"]
        assert mail["to"] == ["an@example.vn"] and mail["subject"] == "Hồ sơ" and "Đã tiếp nhận." in mail["body"]
        # The same Message-ID again (a sender retrying after a lost answer) is accepted and delivered once.
        message["Message-ID"] = "<thong-bao-1@motcua>"
        with smtplib.SMTP("127.0.0.1", controller.port, timeout=5) as smtp:
            smtp.send_message(message)
            smtp.send_message(message)
        assert len(client.get("/_mail").get_json()["messages"]) == 2
        assert client.get("/_mail").get_json()["duplicates"] == {"<thong-bao-1@motcua>": 1}
        assert client.delete("/_mail").get_json() == {"messages": [], "duplicates": {}}
        assert client.get("/_mail").get_json() == {"messages": [], "duplicates": {}}
    finally:
        controller.stop()

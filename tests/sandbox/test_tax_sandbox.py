"""The sandbox tax service over real HTTP: tax notices (idempotent per dossier and item) and payment vouchers."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from app.identifiers import IdentifierError, validate_tax_code
from sandbox import create_sandbox_app
from sandbox.common import Refused
from sandbox.tax import check_tax_code, compute_amount

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TAX_CODE = "0109090121"
BUYER_TAX_CODE = "0100109106"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    app = create_sandbox_app(2026, {"SANDBOX_TOKEN": TOKEN})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def dossier() -> str:
    return f"000.00.01.H29-261123-{uuid.uuid4().int % 10_000:04d}-{uuid.uuid4().hex[:6]}"


def notice(url: str, **body: Any) -> requests.Response:
    return requests.post(f"{url}/thue/thong-bao", json=body, headers=AUTH, timeout=5)


def voucher(url: str, ma_ho_so: str) -> requests.Response:
    return requests.get(f"{url}/thue/chung-tu/{ma_ho_so}", headers=AUTH, timeout=5)


def base(ma_ho_so: str, **changes: Any) -> dict[str, Any]:
    return {"ma_ho_so": ma_ho_so, "ma_so_thue": TAX_CODE, "khoan_thu": "Lệ phí trước bạ",
            "gia_tri_tinh_thue": 1_234_567_890, **changes}


@pytest.mark.parametrize(("item", "value", "amount"), [
    ("Lệ phí trước bạ", 1_000_000_000, 5_000_000),
    ("Lệ phí trước bạ", 1_234_567, 6_000),  # 6 172.8 → 6 000
    ("Lệ phí trước bạ", 1_300_000, 7_000),  # 6 500 → 7 000 (half up)
    ("lệ phí  TRƯỚC bạ", 100_000, 1_000),  # 500 → 1 000
    ("Thuế thu nhập cá nhân", 2_000_000_000, 40_000_000),
    ("Phí thẩm định hồ sơ", 10_000_000, 50_000),
])
def test_amount_rule(item: str, value: int, amount: int) -> None:
    assert compute_amount(item, value) == amount


def test_notice_is_issued_once_per_dossier_and_item(url: str) -> None:
    code = dossier()
    first = notice(url, **base(code))
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["ma_ho_so"] == code and body["ma_so_thue"] == TAX_CODE and body["khoan_thu"] == "Lệ phí trước bạ"
    assert body["so_tien"] == 6_173_000 and body["so_thong_bao"].endswith("/TB-CCT")
    issued = date.fromisoformat(body["ngay_thong_bao"])
    assert abs((issued - date.today()).days) <= 1
    assert date.fromisoformat(body["han_nop"]) == issued + timedelta(days=30)

    again = notice(url, **base(code, khoan_thu="  lệ phí trước  bạ "))
    assert again.status_code == 200 and again.json() == body
    changed = notice(url, **base(code, gia_tri_tinh_thue=2_000_000_000))
    assert changed.status_code == 409 and changed.json()["error_code"] == "thong_bao_da_ton_tai"
    other_item = notice(url, **base(code, khoan_thu="Thuế thu nhập cá nhân", ma_so_thue=BUYER_TAX_CODE))
    assert other_item.status_code == 201 and other_item.json()["so_thong_bao"] != body["so_thong_bao"]


@pytest.mark.parametrize("code", [
    TAX_CODE, BUYER_TAX_CODE, " 0109090121 ", "0109090121-001", "0109090121001", "0109090121-000",
    "0109090122", "0100109107", "0100000050",  # 0100000050: the first nine digits have no check digit
    "010909012", "01090901211", "0109090121-01", "", "０１０９０９０１２１", "abcdefghij",
])
def test_tax_code_rule_agrees_with_the_platform(code: str) -> None:
    """The sandbox re-derives the tax-code rule instead of importing it: both must accept and refuse alike."""
    try:
        expected: str | None = validate_tax_code(code)
    except IdentifierError:
        expected = None
    try:
        actual: str | None = check_tax_code(code)
    except Refused as exc:
        assert exc.status == 422 and exc.code == "ma_so_thue_khong_hop_le"
        actual = None
    assert actual == expected


def test_notice_validation(url: str) -> None:
    code = dossier()
    assert requests.post(f"{url}/thue/thong-bao", json=base(code), timeout=5).status_code == 401
    wrong_digit = notice(url, **base(code, ma_so_thue="0109090122"))
    assert wrong_digit.status_code == 422 and wrong_digit.json()["error_code"] == "ma_so_thue_khong_hop_le"
    assert "chữ số kiểm tra" in wrong_digit.json()["message"]
    for change in ({"ma_so_thue": "123"}, {"ma_so_thue": None}, {"ma_ho_so": ""}, {"khoan_thu": " "},
                   {"gia_tri_tinh_thue": 0}, {"gia_tri_tinh_thue": "1000"}, {"gia_tri_tinh_thue": True}):
        response = notice(url, **{**base(code), **change})
        assert response.status_code == 422, change
        assert set(response.json()) == {"error_code", "message"}
    assert requests.post(f"{url}/thue/thong-bao", data="x", headers=AUTH, timeout=5).status_code == 422
    assert voucher(url, code).status_code == 404  # nothing was issued


def test_voucher_before_and_after_payment(url: str) -> None:
    code = dossier()
    missing = voucher(url, code)
    assert missing.status_code == 404 and missing.json()["error_code"] == "khong_tim_thay"
    assert requests.get(f"{url}/thue/chung-tu/{code}", timeout=5).status_code == 401
    notice(url, **base(code, gia_tri_tinh_thue=1_000_000_000))
    notice(url, **base(code, khoan_thu="Thuế thu nhập cá nhân", gia_tri_tinh_thue=1_000_000_000))

    unpaid = voucher(url, code).json()
    assert unpaid["trang_thai"] == "chua_nop" and unpaid["thoi_gian_nop"] is None
    assert unpaid["ma_ho_so"] == code and unpaid["ma_so_thue"] == TAX_CODE
    assert unpaid["so_tien"] == 5_000_000 + 20_000_000 and len(unpaid["chi_tiet"]) == 2

    one = requests.post(f"{url}/_tax/{code}/nop", json={"khoan_thu": "Lệ phí trước bạ"}, timeout=5)
    assert one.status_code == 200 and one.json()["trang_thai"] == "chua_nop"
    paid = requests.post(f"{url}/_tax/{code}/nop", timeout=5).json()
    assert paid["trang_thai"] == "da_nop"
    paid_at = datetime.fromisoformat(paid["thoi_gian_nop"])
    assert paid_at.utcoffset() == timedelta(hours=7)
    assert voucher(url, code).json() == paid
    assert requests.post(f"{url}/_tax/{code}/nop", timeout=5).json() == paid  # paying again changes nothing
    assert requests.post(f"{url}/_tax/{dossier()}/nop", timeout=5).status_code == 404

"""TaxConnector against the sandbox tax service over real HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from connectors.base import CircuitBreaker, HttpClient, PermanentError, RetryPolicy
from connectors.registry import Registry
from connectors.tax import PROVIDER, TaxConnector

TOKEN = "sandbox-test-token"
TAX_CODE = "0109090121"


@pytest.fixture()
def tax(sandbox: str) -> TaxConnector:
    requests.delete(f"{sandbox}/_faults", timeout=5)
    client = HttpClient(PROVIDER, sandbox, token=TOKEN, timeout=0.5,
                        retry=RetryPolicy(attempts=3, base_delay=0.01), breaker=CircuitBreaker())
    return TaxConnector(client)


def dossier() -> str:
    return f"000.00.01.H29-261123-{uuid.uuid4().int % 10_000:04d}{uuid.uuid4().hex[:4]}"


def tax_calls(sandbox: str) -> list[dict[str, Any]]:
    return [r for r in requests.get(f"{sandbox}/_log", timeout=5).json()["requests"] if r["path"].startswith("/thue")]


def test_notice_is_idempotent(tax: TaxConnector) -> None:
    code = dossier()
    first = tax.obtain_notice(code, TAX_CODE, "Lệ phí trước bạ", 800_000_000)
    assert first["so_tien"] == 4_000_000 and first["ma_ho_so"] == code and first["han_nop"] > first["ngay_thong_bao"]
    assert tax.obtain_notice(code, TAX_CODE, "Lệ phí trước bạ", 800_000_000) == first
    with pytest.raises(PermanentError) as info:
        tax.obtain_notice(code, TAX_CODE, "Lệ phí trước bạ", 900_000_000)
    assert info.value.status == 409


def test_notice_survives_a_lost_answer(tax: TaxConnector, sandbox: str) -> None:
    code = dossier()
    requests.post(f"{sandbox}/_faults", json={"path_prefix": "/thue/thong-bao", "mode": "latency", "delay_ms": 800,
                                              "count": 1}, timeout=5)
    before = len(tax_calls(sandbox))
    notice = tax.obtain_notice(code, TAX_CODE, "Lệ phí trước bạ", 100_000_000)
    assert len(tax_calls(sandbox)) - before == 2  # timed out, retried
    notices = requests.get(f"{sandbox}/_tax/notices", timeout=5).json()["notices"]
    assert [n["so_thong_bao"] for n in notices if n["ma_ho_so"] == code] == [notice["so_thong_bao"]]


def test_voucher_before_and_after_payment(tax: TaxConnector, sandbox: str) -> None:
    code = dossier()
    with pytest.raises(PermanentError) as info:
        tax.get_voucher(code)
    assert info.value.status == 404 and info.value.code == "khong_tim_thay"
    tax.obtain_notice(code, TAX_CODE, "Lệ phí trước bạ", 1_000_000_000)
    unpaid = tax.get_voucher(code)
    assert unpaid["trang_thai"] == "chua_nop" and unpaid["thoi_gian_nop"] is None
    assert unpaid["so_tien"] == 5_000_000 and unpaid["ma_so_thue"] == TAX_CODE
    assert requests.post(f"{sandbox}/_tax/{code}/nop", timeout=5).status_code == 200
    paid = tax.get_voucher(code)
    assert paid["trang_thai"] == "da_nop" and paid["thoi_gian_nop"]


def test_bad_tax_code_is_refused_without_a_request(tax: TaxConnector, sandbox: str) -> None:
    before = len(tax_calls(sandbox))
    for bad in ("0109090122", "12345", "01090901211"):
        with pytest.raises(PermanentError) as info:
            tax.obtain_notice(dossier(), bad, "Lệ phí trước bạ", 1_000_000)
        assert info.value.code.startswith("tax_code") and info.value.provider == "tax"
        assert "Mã số thuế" in info.value.message
    with pytest.raises(PermanentError):
        tax.get_voucher(" ")
    assert len(tax_calls(sandbox)) == before


def test_operations_through_the_registry(tax: TaxConnector, sandbox: str) -> None:
    registry = Registry()
    for operation in tax.operations():
        registry.register(operation)
    assert registry.ids() == ["tax.get_voucher", "tax.obtain_notice"]
    code = dossier()
    notice = registry.call("tax.obtain_notice", {"ma_ho_so": code, "ma_so_thue": TAX_CODE,
                                                 "khoan_thu": "Thuế thu nhập cá nhân",
                                                 "gia_tri_tinh_thue": 500_000_000})
    assert notice["so_tien"] == 10_000_000
    assert registry.call("tax.get_voucher", {"ma_ho_so": code})["trang_thai"] == "chua_nop"
    before = len(tax_calls(sandbox))
    with pytest.raises(PermanentError) as info:
        registry.call("tax.obtain_notice", {"ma_ho_so": code, "ma_so_thue": TAX_CODE, "khoan_thu": "x",
                                            "gia_tri_tinh_thue": "nhiều"})
    assert info.value.code == "invalid_params"
    assert len(tax_calls(sandbox)) == before

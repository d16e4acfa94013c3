"""The SMS connector against the sandbox gateway over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connectors.base import CircuitBreaker, HttpClient, PermanentError, RetryPolicy, TransientError
from connectors.registry import Registry
from connectors.sms import SmsSender, normalise_phone

TOKEN = "sandbox-test-token"


@pytest.fixture()
def gateway(sandbox: str) -> Iterator[str]:
    for hook in ("_faults", "_log", "_sms"):
        requests.delete(f"{sandbox}/{hook}", timeout=5)
    yield sandbox
    requests.delete(f"{sandbox}/_faults", timeout=5)


def sender(url: str, token: str = TOKEN) -> SmsSender:
    client = HttpClient("sms", url, token=token, timeout=2.0, breaker=CircuitBreaker(),
                        retry=RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01))
    return SmsSender(client)


def received(url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = requests.get(f"{url}/_sms", timeout=5).json()["messages"]
    return messages


def calls(url: str) -> list[dict[str, Any]]:
    return [r for r in requests.get(f"{url}/_log", timeout=5).json()["requests"] if r["path"].startswith("/sms")]


def test_send_and_read_back(gateway: str) -> None:
    text = "Hồ sơ của ông/bà đã được tiếp nhận, hẹn trả ngày 16/01/2026."
    result = sender(gateway).send_sms("+84 912 345 678", text, "hs-0001-tiep-nhan")
    assert result == {"ma_tin": "hs-0001-tiep-nhan", "trang_thai": "da_gui", "so_phan_doan": 1,
                      "so_dien_thoai": "0912345678", "ma_hoa": "UCS-2"}
    [message] = received(gateway)
    assert message["so_dien_thoai"] == "0912345678" and message["noi_dung"] == text
    assert message["idempotency_key"] == "hs-0001-tiep-nhan"


def test_same_message_id_is_sent_once(gateway: str) -> None:
    sms = sender(gateway)
    first = sms.send_sms("0912345678", "Ma xac nhan: 123456", "otp-1")
    second = sms.send_sms("0912345678", "Ma xac nhan: 123456", "otp-1")
    assert first == second and len(received(gateway)) == 1 and len(calls(gateway)) == 2
    with pytest.raises(PermanentError) as info:
        sms.send_sms("0912345678", "Ma xac nhan: 654321", "otp-1")
    assert info.value.code == "ma_tin_da_dung" and info.value.status == 409


@pytest.mark.parametrize("phone", ["0241234567", "091234567", "+1 555 0100", "", "09123456789"])
def test_bad_number_is_refused_before_calling_out(gateway: str, phone: str) -> None:
    with pytest.raises(PermanentError) as info:
        sender(gateway).send_sms(phone, "Xin chào", "m-1")
    assert info.value.code == "so_dien_thoai_khong_hop_le" and "di động" in info.value.message
    assert calls(gateway) == [] and received(gateway) == []


def test_bad_text_or_id_is_refused_before_calling_out(gateway: str) -> None:
    for text, message_id, code in (("  ", "m-1", "noi_dung_khong_hop_le"), ("x" * 481, "m-1", "noi_dung_khong_hop_le"),
                                   ("ok", "có dấu", "ma_tin_khong_hop_le")):
        with pytest.raises(PermanentError) as info:
            sender(gateway).send_sms("0912345678", text, message_id)
        assert info.value.code == code
    assert calls(gateway) == []


def test_normalise_phone() -> None:
    assert normalise_phone("84 387 654 321") == "0387654321"
    assert normalise_phone("091.234.5678") == "0912345678"


def test_gateway_outage_is_retried(gateway: str) -> None:
    requests.post(f"{gateway}/_faults", json={"path_prefix": "/sms", "status": 503, "count": 2}, timeout=5)
    assert sender(gateway).send_sms("0912345678", "Xin chao", "m-retry")["trang_thai"] == "da_gui"
    assert len(calls(gateway)) == 3 and len(received(gateway)) == 1
    requests.post(f"{gateway}/_faults", json={"path_prefix": "/sms", "status": 503, "count": 3}, timeout=5)
    with pytest.raises(TransientError):
        sender(gateway).send_sms("0912345678", "Xin chao", "m-fail")


def test_unauthenticated_is_refused(gateway: str) -> None:
    with pytest.raises(PermanentError) as info:
        sender(gateway, token="sai").send_sms("0912345678", "Xin chao", "m-1")
    assert info.value.status == 401 and info.value.code == "chua_xac_thuc"
    assert received(gateway) == []


def test_registry_operation(gateway: str) -> None:
    registry = Registry()
    for operation in sender(gateway).operations():
        registry.register(operation)
    assert registry.ids() == ["sms.send_sms"]
    result = registry.call("sms.send_sms", {"so_dien_thoai": "0987654321", "noi_dung": "A" * 161, "ma_tin": "r-1"})
    assert result["so_phan_doan"] == 2
    with pytest.raises(PermanentError) as info:
        registry.call("sms.send_sms", {"so_dien_thoai": "0987654321", "noi_dung": "", "ma_tin": "r-2"})
    assert info.value.code == "invalid_params"
    assert len(calls(gateway)) == 1

"""PaymentConnector against the sandbox payment platform over real HTTP.

A tiny callback receiver plays MotCua's IPN endpoint: it verifies each callback with the connector,
deduplicates by transaction id and acknowledges with ``{"error_code": "0"}``.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from connectors.base import CircuitBreaker, HttpClient, PermanentError, RetryPolicy
from connectors.payment import CALLBACK_FIELDS, DEFAULT_PAYMENT_SECRET, PROVIDER, PaymentConnector, sign
from connectors.registry import Registry
from tests.sandbox.test_payment_sandbox import Receiver, wait_until

TOKEN = "sandbox-test-token"
DOSSIER = "000.00.01.H29-261123-0002"


class MotCuaReceiver(Receiver):
    """Verifies, deduplicates, acknowledges; remembers what it processed and what it refused."""

    def __init__(self, connector: PaymentConnector) -> None:
        super().__init__()
        self.connector = connector
        self.processed: dict[str, dict[str, Any]] = {}
        self.rejected: list[str] = []
        self.duplicates = 0
        self.handler = self.handle

    def handle(self, fields: list[tuple[str, str]]) -> dict[str, Any]:
        try:
            result = self.connector.verify_callback(dict(fields))
        except PermanentError as exc:
            with self.lock:
                self.rejected.append(exc.code)
            return {"error_code": "97", "message": exc.message}
        with self.lock:
            if result["ma_giao_dich"] in self.processed:
                self.duplicates += 1
            else:
                self.processed[result["ma_giao_dich"]] = result
        return {"error_code": "0", "message": "Đã ghi nhận"}


@pytest.fixture()
def connector(sandbox: str) -> PaymentConnector:
    requests.delete(f"{sandbox}/_faults", timeout=5)
    requests.delete(f"{sandbox}/_payment/callback-faults", timeout=5)
    client = HttpClient(PROVIDER, sandbox, token=TOKEN, timeout=2.0,
                        retry=RetryPolicy(attempts=3, base_delay=0.01), breaker=CircuitBreaker())
    return PaymentConnector(client, DEFAULT_PAYMENT_SECRET)


@pytest.fixture()
def motcua(connector: PaymentConnector) -> Iterator[MotCuaReceiver]:
    receiver = MotCuaReceiver(connector)
    yield receiver
    receiver.stop()


def new_id() -> str:
    return "HS-" + uuid.uuid4().hex[:20]


def start(connector: PaymentConnector, motcua: MotCuaReceiver, amount: int = 10_000) -> dict[str, Any]:
    created = connector.create_payment(new_id(), DOSSIER, amount, "Lệ phí đăng ký thường trú", f"{motcua.url}/ipn",
                                       "https://motcua.example/thanh-toan/ve")
    return created


def pay(created: dict[str, Any], action: str = "thanh_toan") -> requests.Response:
    page = requests.get(created["url_thanh_toan"], timeout=5)
    assert page.status_code == 200 and 'value="thanh_toan"' in page.text
    return requests.post(created["url_thanh_toan"], data={"hanh_dong": action}, allow_redirects=False, timeout=5)


def listed(sandbox: str, ma_giao_dich: str) -> dict[str, Any]:
    payments = requests.get(f"{sandbox}/_payment/payments", timeout=5).json()["payments"]
    return next(p for p in payments if p["ma_giao_dich"] == ma_giao_dich)


def test_full_flow(connector: PaymentConnector, motcua: MotCuaReceiver, sandbox: str) -> None:
    created = start(connector, motcua)
    assert created["trang_thai"] == "cho_thanh_toan" and created["url_thanh_toan"].startswith(sandbox)
    response = pay(created)
    assert response.status_code == 302

    # The browser's return: same signed fields, verified with the connector.
    query = dict(parse_qsl(urlsplit(response.headers["Location"]).query))
    returned = connector.verify_callback(query)
    assert returned["ma_giao_dich"] == created["ma_giao_dich"] and returned["da_thanh_toan"] is True
    assert returned["so_tien"] == 10_000 and returned["ma_ho_so"] == DOSSIER
    assert returned["thoi_gian"].utcoffset() == timedelta(hours=7)

    # The server-to-server callback, its signature recomputed independently.
    assert wait_until(lambda: created["ma_giao_dich"] in motcua.processed)
    fields = motcua.for_payment(created["ma_giao_dich"])[0]
    values = [v for k, v in fields if k != "MaXacThuc"]
    assert [k for k, _ in fields] == [*CALLBACK_FIELDS, "MaXacThuc"]
    assert dict(fields)["MaXacThuc"] == hashlib.sha256(
        "|".join([*values, "sandbox-payment-secret"]).encode()).hexdigest()
    assert motcua.processed[created["ma_giao_dich"]] == returned

    state = connector.query_payment(created["ma_giao_dich"])
    assert state["trang_thai"] == "da_thanh_toan" and state["so_tien"] == 10_000
    assert state["ma_thanh_toan"] == created["ma_thanh_toan"]
    receipt = connector.fetch_receipt(created["ma_giao_dich"])
    assert receipt.startswith(b"%PDF") and len(receipt) > 5_000
    assert wait_until(lambda: listed(sandbox, created["ma_giao_dich"])["callbacks"])
    assert listed(sandbox, created["ma_giao_dich"])["charges"] == 1


def test_create_is_idempotent_and_survives_a_lost_answer(connector: PaymentConnector, motcua: MotCuaReceiver,
                                                          sandbox: str) -> None:
    created = start(connector, motcua)
    again = connector.create_payment(created["ma_giao_dich"], DOSSIER, 10_000, "Lệ phí đăng ký thường trú",
                                     f"{motcua.url}/ipn", "https://motcua.example/thanh-toan/ve")
    assert again["ma_thanh_toan"] == created["ma_thanh_toan"]
    with pytest.raises(PermanentError) as info:
        connector.create_payment(created["ma_giao_dich"], DOSSIER, 20_000, "Lệ phí đăng ký thường trú",
                                 f"{motcua.url}/ipn", "https://motcua.example/thanh-toan/ve")
    assert info.value.status == 409 and info.value.code == "ma_giao_dich_da_ton_tai"

    # The platform registers the payment but answers too late; the client retries with the same id.
    client = HttpClient(PROVIDER, sandbox, token=TOKEN, timeout=0.3,
                        retry=RetryPolicy(attempts=3, base_delay=0.01), breaker=CircuitBreaker())
    slow = PaymentConnector(client, DEFAULT_PAYMENT_SECRET)
    requests.post(f"{sandbox}/_faults", json={"path_prefix": "/thanh-toan/khoi-tao", "mode": "latency",
                                              "delay_ms": 600, "count": 1}, timeout=5)
    ma_giao_dich = new_id()
    calls_before = len(creations(sandbox))
    result = slow.create_payment(ma_giao_dich, DOSSIER, 10_000, "Lệ phí", f"{motcua.url}/ipn",
                                 "https://motcua.example/ve")
    payments = requests.get(f"{sandbox}/_payment/payments", timeout=5).json()["payments"]
    assert [p["ma_thanh_toan"] for p in payments if p["ma_giao_dich"] == ma_giao_dich] == [result["ma_thanh_toan"]]
    assert len(creations(sandbox)) - calls_before == 2  # timed out once, retried once


def creations(sandbox: str) -> list[dict[str, Any]]:
    log = requests.get(f"{sandbox}/_log", timeout=5).json()["requests"]
    return [r for r in log if r["path"] == "/thanh-toan/khoi-tao"]


def test_dropped_callback_is_reconciled_by_query(connector: PaymentConnector, motcua: MotCuaReceiver,
                                                 sandbox: str) -> None:
    requests.post(f"{sandbox}/_payment/callback-faults", json={"mode": "drop"}, timeout=5)
    created = start(connector, motcua)
    assert pay(created).status_code == 302
    assert connector.query_payment(created["ma_giao_dich"])["trang_thai"] == "da_thanh_toan"
    assert motcua.for_payment(created["ma_giao_dich"]) == []
    assert listed(sandbox, created["ma_giao_dich"])["callback_fault"] == "drop"


def test_duplicate_and_replayed_callbacks_are_processed_once(connector: PaymentConnector, motcua: MotCuaReceiver,
                                                             sandbox: str) -> None:
    requests.post(f"{sandbox}/_payment/callback-faults", json={"mode": "duplicate", "times": 3}, timeout=5)
    created = start(connector, motcua)
    pay(created)
    assert wait_until(lambda: len(motcua.for_payment(created["ma_giao_dich"])) == 3)
    replay = requests.post(f"{sandbox}/_payment/{created['ma_giao_dich']}/replay-callback", timeout=5)
    assert replay.status_code == 200 and replay.json()["delivery"]["ok"]
    assert len(motcua.for_payment(created["ma_giao_dich"])) == 4
    assert motcua.duplicates == 3 and list(motcua.processed) == [created["ma_giao_dich"]]
    assert motcua.rejected == []
    assert listed(sandbox, created["ma_giao_dich"])["charges"] == 1


def test_cancelled_payment(connector: PaymentConnector, motcua: MotCuaReceiver) -> None:
    created = start(connector, motcua)
    pay(created, "huy")
    assert wait_until(lambda: created["ma_giao_dich"] in motcua.processed)
    assert motcua.processed[created["ma_giao_dich"]]["da_thanh_toan"] is False
    assert connector.query_payment(created["ma_giao_dich"])["trang_thai"] == "da_huy"
    with pytest.raises(PermanentError) as info:
        connector.fetch_receipt(created["ma_giao_dich"])
    assert info.value.status == 409


def signed(values: list[str], secret: str = DEFAULT_PAYMENT_SECRET) -> dict[str, str]:
    return {**dict(zip(CALLBACK_FIELDS, values, strict=True)), "MaXacThuc": sign(values, secret)}


def test_verify_callback_rejects_tampering(connector: PaymentConnector) -> None:
    values = ["HS-1", "TT1", DOSSIER, "10000", "00", "20261123091500"]
    good = signed(values)
    result = connector.verify_callback(good)
    assert result == {"ma_giao_dich": "HS-1", "ma_thanh_toan": "TT1", "ma_ho_so": DOSSIER, "so_tien": 10_000,
                      "da_thanh_toan": True, "thoi_gian": result["thoi_gian"]}
    assert result["thoi_gian"].isoformat() == "2026-11-23T09:15:00+07:00"
    message = b"HS-1|TT1|000.00.01.H29-261123-0002|10000|00|20261123091500|s"
    assert sign(values, "s") == hashlib.sha256(message).hexdigest()

    cases = {
        "tampered amount": {**good, "SoTien": "1000"},
        "tampered status": {**good, "TrangThai": "01"},
        "wrong secret": signed(values, "another-secret"),
        "missing signature": {k: v for k, v in good.items() if k != "MaXacThuc"},
        "empty signature": {**good, "MaXacThuc": ""},
        "missing field": {k: v for k, v in good.items() if k != "MaHoSo"},
        "garbage signature": {**good, "MaXacThuc": "không phải chữ ký"},
    }
    for name, fields in cases.items():
        with pytest.raises(PermanentError) as info:
            connector.verify_callback(fields)
        assert info.value.code == "invalid_signature", name
        assert info.value.provider == "payment"
        assert "MaXacThuc" in info.value.message or "thiếu trường" in info.value.message

    with pytest.raises(PermanentError) as info:  # well signed, but not a date
        connector.verify_callback(signed(["HS-1", "TT1", DOSSIER, "10000", "00", "20261323091500"]))
    assert info.value.code == "invalid_callback"
    with pytest.raises(PermanentError) as info:
        connector.verify_callback(signed(["HS-1", "TT1", DOSSIER, "-5", "00", "20261123091500"]))
    assert info.value.code == "invalid_callback"


def test_refunds(connector: PaymentConnector, motcua: MotCuaReceiver) -> None:
    created = start(connector, motcua, amount=30_000)
    gd = created["ma_giao_dich"]
    with pytest.raises(PermanentError) as info:
        connector.refund(gd, 10_000, "Hồ sơ bị từ chối", "rf-" + gd + "-0")
    assert info.value.status == 409  # not paid yet
    pay(created)
    first = connector.refund(gd, 10_000, "Hồ sơ bị từ chối", "rf-" + gd + "-1")
    assert first["so_tien"] == 10_000 and first["so_tien_hoan"] == 10_000 and first["trang_thai"] == "da_thanh_toan"
    assert connector.refund(gd, 10_000, "Hồ sơ bị từ chối", "rf-" + gd + "-1") == first
    with pytest.raises(PermanentError) as info:
        connector.refund(gd, 20_001, "Hồ sơ bị từ chối", "rf-" + gd + "-2")
    assert info.value.status == 409 and info.value.code == "vuot_so_tien_da_thanh_toan"
    assert connector.query_payment(gd)["so_tien_hoan"] == 10_000
    rest = connector.refund(gd, 20_000, "Hồ sơ bị từ chối", "rf-" + gd + "-3")
    assert rest["trang_thai"] == "da_hoan_tien"
    assert connector.query_payment(gd)["trang_thai"] == "da_hoan_tien"


def test_operations_through_the_registry(connector: PaymentConnector, motcua: MotCuaReceiver, sandbox: str) -> None:
    registry = Registry()
    for operation in connector.operations():
        registry.register(operation)
    assert registry.ids() == ["payment.create_payment", "payment.query_payment", "payment.refund"]
    ma_giao_dich = new_id()
    created = registry.call("payment.create_payment", {
        "ma_giao_dich": ma_giao_dich, "ma_ho_so": DOSSIER, "so_tien": 2_000, "noi_dung": "Lệ phí chứng thực",
        "url_callback": f"{motcua.url}/ipn", "url_tra_ve": "https://motcua.example/ve"})
    assert created["ma_giao_dich"] == ma_giao_dich
    assert registry.call("payment.query_payment", {"ma_giao_dich": ma_giao_dich})["trang_thai"] == "cho_thanh_toan"
    pay(created)
    refunded = registry.call("payment.refund", {"ma_giao_dich": ma_giao_dich, "so_tien": 2_000, "ly_do": "Trả lại",
                                                "idempotency_key": f"rf-{ma_giao_dich}"})
    assert refunded["trang_thai"] == "da_hoan_tien"

    log_before = len(requests.get(f"{sandbox}/_log", timeout=5).json()["requests"])
    for params in ({"ma_giao_dich": "có dấu"}, {"ma_giao_dich": "x", "thua": 1}):
        with pytest.raises(PermanentError) as info:
            registry.call("payment.query_payment", params)
        assert info.value.code == "invalid_params"
    with pytest.raises(PermanentError):
        registry.call("payment.create_payment", {"ma_giao_dich": new_id(), "ma_ho_so": DOSSIER, "so_tien": 0,
                                                 "noi_dung": "x", "url_callback": "http://a/b", "url_tra_ve": "http://a"})
    with pytest.raises(PermanentError):
        connector.query_payment("../bien-lai")  # refused by the connector itself
    assert len(requests.get(f"{sandbox}/_log", timeout=5).json()["requests"]) == log_before


def test_secret_is_not_in_repr(connector: PaymentConnector) -> None:
    assert DEFAULT_PAYMENT_SECRET not in repr(connector) and TOKEN not in repr(connector)


def test_concurrent_callbacks_and_queries(connector: PaymentConnector, motcua: MotCuaReceiver) -> None:
    created = [start(connector, motcua, amount=1_000 * (i + 1)) for i in range(4)]
    threads = [threading.Thread(target=pay, args=(c,)) for c in created]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wait_until(lambda: all(c["ma_giao_dich"] in motcua.processed for c in created))
    for index, c in enumerate(created):
        assert motcua.processed[c["ma_giao_dich"]]["so_tien"] == 1_000 * (index + 1)
        assert connector.query_payment(c["ma_giao_dich"])["trang_thai"] == "da_thanh_toan"


def test_production_signer_and_the_sandbox_verifier_agree(sandbox: str) -> None:
    """Two implementations of one rule, written apart: what connectors.payment signs, the sandbox accepts."""
    values = ["HS-2", "TT2", DOSSIER, "250000", "01", "20261124101500"]

    def check(fields: dict[str, str]) -> bool:
        answer = requests.post(f"{sandbox}/_payment/verify-signature", data=fields, timeout=5)
        assert answer.status_code == 200, answer.text
        return bool(answer.json()["valid"])

    assert check(signed(values))
    assert not check({**signed(values), "MaThanhToan": "TT3"})
    assert not check(signed(values, "another-secret"))

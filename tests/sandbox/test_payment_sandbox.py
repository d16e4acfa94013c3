"""The sandbox payment platform over real HTTP: hosted page, signed callbacks and their faults, receipts, refunds.

Signatures are recomputed here with hashlib alone, independently of ``connectors.payment.sign``.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from sandbox import create_sandbox_app
from sandbox.receipt import amount_in_words, format_vnd, receipt_html

TOKEN = "test-token"
SECRET = "test-payment-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FIELDS = ["MaGiaoDich", "MaThanhToan", "MaHoSo", "SoTien", "TrangThai", "ThoiGianThanhToan"]
DOSSIER = "000.00.01.H29-261123-0001"
VN = ZoneInfo("Asia/Ho_Chi_Minh")


def serve(app: Flask) -> tuple[str, Callable[[], None]]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # A short poll interval: shutdown() waits for it, and receivers come and go with each test.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join(timeout=5)

    return f"http://127.0.0.1:{server.server_port}", stop


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def expected_signature(values: list[str], secret: str) -> str:
    return hashlib.sha256(("|".join(values) + "|" + secret).encode("utf-8")).hexdigest()


class Receiver:
    """A merchant's callback endpoint on a free port: records every POST (fields in order) and acknowledges.

    ``fail_next`` answers that many deliveries with an error; ``handler`` may replace the answer.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []
        self.fail_next = 0
        self.handler: Callable[[list[tuple[str, str]]], dict[str, Any]] | None = None
        app = Flask("receiver")

        @app.post("/ipn")
        def ipn() -> Any:
            fields = list(request.form.items(multi=True))
            with self.lock:
                self.received.append({"time": time.monotonic(), "fields": fields,
                                      "content_type": request.content_type})
                failing = self.fail_next > 0
                self.fail_next -= int(failing)
            if failing:
                return jsonify({"error_code": "99", "message": "Lỗi tạm thời"}), 500
            if self.handler is not None:
                return jsonify(self.handler(fields))
            return jsonify({"error_code": "0", "message": "Đã nhận"})

        self.url, self._stop = serve(app)

    def for_payment(self, ma_giao_dich: str) -> list[list[tuple[str, str]]]:
        with self.lock:
            return [r["fields"] for r in self.received if dict(r["fields"]).get("MaGiaoDich") == ma_giao_dich]

    def stop(self) -> None:
        self._stop()


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    app = create_sandbox_app(2026, {"SANDBOX_TOKEN": TOKEN, "PAYMENT_SECRET": SECRET,
                                    "PAYMENT_CALLBACK_BACKOFF": 0.02})
    url, stop = serve(app)
    yield url
    stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture()
def url(base_url: str, receiver: Receiver) -> Iterator[str]:
    requests.delete(f"{base_url}/_payment/callback-faults", timeout=5)
    receiver.fail_next = 0
    receiver.handler = None
    yield base_url
    requests.delete(f"{base_url}/_payment/callback-faults", timeout=5)


def new_id() -> str:
    return "GD-" + uuid.uuid4().hex[:16]


def create(url: str, receiver: Receiver, **overrides: Any) -> dict[str, Any]:
    body = {"ma_giao_dich": new_id(), "ma_ho_so": DOSSIER, "so_tien": 10_000,
            "noi_dung": "Lệ phí đăng ký thường trú", "url_callback": f"{receiver.url}/ipn",
            "url_tra_ve": "https://dichvucong.example/thanh-toan/ket-qua?nguon=motcua"}
    body.update(overrides)
    response = requests.post(f"{url}/thanh-toan/khoi-tao", json=body, headers=AUTH, timeout=5)
    assert response.status_code == 201, response.text
    return {**body, **response.json()}


def act(payment: dict[str, Any], action: str) -> requests.Response:
    return requests.post(payment["url_thanh_toan"], data={"hanh_dong": action}, allow_redirects=False, timeout=5)


def listed(url: str, ma_giao_dich: str) -> dict[str, Any]:
    payments = requests.get(f"{url}/_payment/payments", timeout=5).json()["payments"]
    return next(p for p in payments if p["ma_giao_dich"] == ma_giao_dich)


def query(url: str, ma_giao_dich: str) -> requests.Response:
    return requests.get(f"{url}/thanh-toan/{ma_giao_dich}", headers=AUTH, timeout=5)


def signed_query(location: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in parse_qsl(urlsplit(location).query) if k in FIELDS or k == "MaXacThuc"]


def check_signed(fields: list[tuple[str, str]], secret: str = SECRET) -> dict[str, str]:
    assert [k for k, _ in fields] == [*FIELDS, "MaXacThuc"]
    values = [v for _, v in fields]
    assert values[-1] == expected_signature(values[:-1], secret)
    assert re.fullmatch(r"[0-9a-f]{64}", values[-1])
    return dict(fields)


# ------------------------------------------------------------------ creating payments


def test_create_requires_the_token_and_valid_fields(url: str, receiver: Receiver) -> None:
    body = {"ma_giao_dich": new_id(), "ma_ho_so": DOSSIER, "so_tien": 10_000, "noi_dung": "Lệ phí",
            "url_callback": f"{receiver.url}/ipn", "url_tra_ve": "https://x.example/ve"}
    response = requests.post(f"{url}/thanh-toan/khoi-tao", json=body, timeout=5)
    assert response.status_code == 401 and response.json()["error_code"] == "chua_xac_thuc"
    for change in ({"ma_giao_dich": "có dấu"}, {"ma_giao_dich": "x" * 65}, {"ma_giao_dich": "khoi-tao"},
                   {"so_tien": 0}, {"so_tien": True}, {"so_tien": "10000"}, {"so_tien": 10.5},
                   {"noi_dung": " "}, {"url_callback": "ftp://x/y"}, {"url_tra_ve": "/relative"}):
        response = requests.post(f"{url}/thanh-toan/khoi-tao", json={**body, **change}, headers=AUTH, timeout=5)
        assert response.status_code == 422, change
        assert set(response.json()) == {"error_code", "message"}
    assert query(url, body["ma_giao_dich"]).status_code == 404


def test_create_is_idempotent_by_transaction_id(url: str, receiver: Receiver) -> None:
    payment = create(url, receiver)
    assert payment["trang_thai"] == "cho_thanh_toan"
    assert payment["url_thanh_toan"] == f"{url}/thanh-toan/trang/{payment['ma_thanh_toan']}"
    body = {k: payment[k] for k in ("ma_giao_dich", "ma_ho_so", "so_tien", "noi_dung", "url_callback", "url_tra_ve")}
    again = requests.post(f"{url}/thanh-toan/khoi-tao", json=body, headers=AUTH, timeout=5)
    assert again.status_code == 200
    assert again.json()["ma_thanh_toan"] == payment["ma_thanh_toan"]
    conflict = requests.post(f"{url}/thanh-toan/khoi-tao", json={**body, "so_tien": 20_000}, headers=AUTH, timeout=5)
    assert conflict.status_code == 409 and conflict.json()["error_code"] == "ma_giao_dich_da_ton_tai"
    assert "khác" in conflict.json()["message"]
    assert query(url, payment["ma_giao_dich"]).json()["so_tien"] == 10_000


# ------------------------------------------------------------------ the hosted page and the callback


def test_hosted_page_shows_the_payment_escaped(url: str, receiver: Receiver) -> None:
    payment = create(url, receiver, noi_dung="Lệ phí <script>alert(1)</script>", so_tien=1_250_000)
    page = requests.get(payment["url_thanh_toan"], timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.text
    assert '<html lang="vi">' in html and DOSSIER in html and "1.250.000 đ" in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert f'action="/thanh-toan/trang/{payment["ma_thanh_toan"]}"' in html
    assert 'name="hanh_dong" value="thanh_toan"' in html and ">Thanh toán</button>" in html
    assert 'name="hanh_dong" value="huy"' in html and ">Hủy giao dịch</button>" in html
    assert requests.get(f"{url}/thanh-toan/trang/TTKHONGCO", timeout=5).status_code == 404


def test_pay_sends_a_signed_callback_and_redirects_with_the_same_fields(url: str, receiver: Receiver) -> None:
    payment = create(url, receiver)
    before = datetime.now(VN).replace(microsecond=0)
    response = act(payment, "thanh_toan")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("https://dichvucong.example/thanh-toan/ket-qua?nguon=motcua&MaGiaoDich=")
    redirect_fields = check_signed(signed_query(location))

    callbacks = wait_until(lambda: receiver.for_payment(payment["ma_giao_dich"]))
    assert len(callbacks) == 1
    fields = check_signed(callbacks[0])
    assert fields == redirect_fields
    assert fields["MaGiaoDich"] == payment["ma_giao_dich"] and fields["MaThanhToan"] == payment["ma_thanh_toan"]
    assert fields["MaHoSo"] == DOSSIER and fields["SoTien"] == "10000" and fields["TrangThai"] == "00"
    paid_at = datetime.strptime(fields["ThoiGianThanhToan"], "%Y%m%d%H%M%S").replace(tzinfo=VN)
    assert before <= paid_at <= datetime.now(VN) + timedelta(seconds=1)
    with receiver.lock:
        assert receiver.received[-1]["content_type"].startswith("application/x-www-form-urlencoded")

    state = query(url, payment["ma_giao_dich"]).json()
    assert state["trang_thai"] == "da_thanh_toan" and state["so_tien_hoan"] == 0
    assert datetime.fromisoformat(state["thoi_gian_thanh_toan"]) == paid_at
    record = wait_until(lambda: (r := listed(url, payment["ma_giao_dich"]))["callbacks"] and r)
    assert record["charges"] == 1
    assert [(c["status"], c["ok"]) for c in record["callbacks"]] == [(200, True)]

    result = requests.get(payment["url_thanh_toan"], timeout=5).text
    assert "thanh toán thành công" in result and 'value="thanh_toan"' not in result


def test_paying_twice_never_charges_twice(url: str, receiver: Receiver) -> None:
    payment = create(url, receiver)
    answers: list[int] = []

    def click() -> None:
        answers.append(act(payment, "thanh_toan").status_code)

    clicks = [threading.Thread(target=click) for _ in range(5)]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join()
    assert sorted(answers) == [200, 200, 200, 200, 302]  # one payment, four "already paid" pages
    second = act(payment, "thanh_toan")
    assert second.status_code == 200 and "đã được thanh toán" in second.text
    assert act(payment, "huy").status_code == 200  # too late to cancel
    wait_until(lambda: receiver.for_payment(payment["ma_giao_dich"]))
    time.sleep(0.1)
    record = listed(url, payment["ma_giao_dich"])
    assert record["charges"] == 1 and record["trang_thai"] == "da_thanh_toan"
    assert len(receiver.for_payment(payment["ma_giao_dich"])) == 1


def test_cancel(url: str, receiver: Receiver) -> None:
    payment = create(url, receiver)
    response = act(payment, "huy")
    assert response.status_code == 302
    fields = check_signed(signed_query(response.headers["Location"]))
    assert fields["TrangThai"] == "01"
    callback = wait_until(lambda: receiver.for_payment(payment["ma_giao_dich"]))
    assert check_signed(callback[0])["TrangThai"] == "01"
    assert act(payment, "thanh_toan").status_code == 200  # cancelled stays cancelled
    state = query(url, payment["ma_giao_dich"]).json()
    assert state["trang_thai"] == "da_huy" and state["thoi_gian_thanh_toan"] is None
    assert listed(url, payment["ma_giao_dich"])["charges"] == 0
    receipt = requests.get(f"{url}/thanh-toan/{payment['ma_giao_dich']}/bien-lai", headers=AUTH, timeout=5)
    assert receipt.status_code == 409


def test_unknown_action_is_refused(url: str, receiver: Receiver) -> None:
    payment = create(url, receiver)
    assert act(payment, "tra_gop").status_code == 400
    assert query(url, payment["ma_giao_dich"]).json()["trang_thai"] == "cho_thanh_toan"


# ------------------------------------------------------------------ callback faults


def test_unacknowledged_callbacks_are_retried_three_times(url: str, receiver: Receiver) -> None:
    receiver.fail_next = 2
    payment = create(url, receiver)
    act(payment, "thanh_toan")
    record = wait_until(lambda: (r := listed(url, payment["ma_giao_dich"]))["callbacks"][-1:]
                        and r["callbacks"][-1]["ok"] and r)
    assert [c["ok"] for c in record["callbacks"]] == [False, False, True]
    assert [c["status"] for c in record["callbacks"]] == [500, 500, 200]

    receiver.handler = lambda fields: {"error_code": "97", "message": "Sai chữ ký"}
    never = create(url, receiver)
    act(never, "thanh_toan")
    assert wait_until(lambda: len(listed(url, never["ma_giao_dich"])["callbacks"]) == 4)
    time.sleep(0.3)  # backoff 0.02 s doubling: a fifth try would have come by now
    assert len(receiver.for_payment(never["ma_giao_dich"])) == 4  # the first + 3 retries, then it gives up


def test_dropped_callback_leaves_the_payment_to_reconciliation(url: str, receiver: Receiver) -> None:
    faults = requests.post(f"{url}/_payment/callback-faults", json={"mode": "drop", "count": 1}, timeout=5)
    assert faults.status_code == 201 and faults.json()["faults"][0]["mode"] == "drop"
    payment = create(url, receiver)
    response = act(payment, "thanh_toan")
    assert response.status_code == 302
    time.sleep(0.2)
    assert receiver.for_payment(payment["ma_giao_dich"]) == []
    record = listed(url, payment["ma_giao_dich"])
    assert record["callback_fault"] == "drop" and record["callbacks"] == []
    assert query(url, payment["ma_giao_dich"]).json()["trang_thai"] == "da_thanh_toan"
    # The fault was for one payment only.
    other = create(url, receiver)
    act(other, "thanh_toan")
    assert wait_until(lambda: receiver.for_payment(other["ma_giao_dich"]))


def test_duplicate_callbacks(url: str, receiver: Receiver) -> None:
    requests.post(f"{url}/_payment/callback-faults", json={"mode": "duplicate", "times": 3}, timeout=5)
    payment = create(url, receiver)
    act(payment, "thanh_toan")
    copies = wait_until(lambda: len(got := receiver.for_payment(payment["ma_giao_dich"])) == 3 and got)
    assert copies and copies[0] == copies[1] == copies[2]
    check_signed(copies[0])
    record = listed(url, payment["ma_giao_dich"])
    assert record["charges"] == 1 and record["callback_fault"] == "duplicate"


def test_delayed_callback_arrives_after_the_redirect(url: str, receiver: Receiver) -> None:
    requests.post(f"{url}/_payment/callback-faults", json={"mode": "delay", "delay_ms": 300}, timeout=5)
    payment = create(url, receiver)
    start = time.monotonic()
    assert act(payment, "thanh_toan").status_code == 302
    assert receiver.for_payment(payment["ma_giao_dich"]) == []  # the browser is back first
    assert wait_until(lambda: receiver.for_payment(payment["ma_giao_dich"]))
    with receiver.lock:
        arrived = next(r["time"] for r in receiver.received
                       if dict(r["fields"]).get("MaGiaoDich") == payment["ma_giao_dich"])
    assert arrived - start >= 0.29


def test_fault_hook_validation_and_clear(url: str) -> None:
    for body in ({"mode": "lose"}, {"mode": "drop", "count": 0}, {"mode": "duplicate", "times": "2"}, []):
        assert requests.post(f"{url}/_payment/callback-faults", json=body, timeout=5).status_code == 422
    requests.post(f"{url}/_payment/callback-faults", json={"mode": "drop", "count": 2}, timeout=5)
    assert len(requests.get(f"{url}/_payment/callback-faults", timeout=5).json()["faults"]) == 1
    assert requests.delete(f"{url}/_payment/callback-faults", timeout=5).json() == {"faults": []}


def test_replay_hook_resends_the_same_signed_callback(url: str, receiver: Receiver) -> None:
    payment = create(url, receiver)
    pending = requests.post(f"{url}/_payment/{payment['ma_giao_dich']}/replay-callback", timeout=5)
    assert pending.status_code == 409
    assert requests.post(f"{url}/_payment/KHONG-CO/replay-callback", timeout=5).status_code == 404
    act(payment, "thanh_toan")
    first = wait_until(lambda: receiver.for_payment(payment["ma_giao_dich"]))
    replay = requests.post(f"{url}/_payment/{payment['ma_giao_dich']}/replay-callback", timeout=5)
    assert replay.status_code == 200
    assert replay.json()["delivery"]["ok"] and replay.json()["delivery"]["replay"]
    copies = receiver.for_payment(payment["ma_giao_dich"])
    assert len(copies) == 2 and copies[1] == first[0]
    record = listed(url, payment["ma_giao_dich"])
    assert record["charges"] == 1 and [c["replay"] for c in record["callbacks"]] == [False, True]


def verify(url: str, fields: dict[str, str], *, form: bool = False) -> requests.Response:
    if form:
        return requests.post(f"{url}/_payment/verify-signature", data=fields, timeout=5)
    return requests.post(f"{url}/_payment/verify-signature", json=fields, timeout=5)


def test_sandbox_verifies_signatures_computed_independently_and_refuses_tampering(url: str) -> None:
    values = ["HS-1", "TT1", DOSSIER, "10000", "00", "20261123091500"]
    good = {**dict(zip(FIELDS, values, strict=True)), "MaXacThuc": expected_signature(values, SECRET)}
    assert verify(url, good).json() == {"valid": True}
    assert verify(url, good, form=True).json() == {"valid": True}
    assert verify(url, {**good, "MaXacThuc": good["MaXacThuc"].upper()}).json() == {"valid": True}
    refused = {
        "tampered amount": {**good, "SoTien": "1000"},
        "tampered status": {**good, "TrangThai": "01"},
        "wrong secret": {**good, "MaXacThuc": expected_signature(values, "another-secret")},
        "empty signature": {**good, "MaXacThuc": ""},
        "not hex": {**good, "MaXacThuc": "không phải chữ ký"},
    }
    for name, fields in refused.items():
        assert verify(url, fields).json() == {"valid": False}, name
    missing = verify(url, {k: v for k, v in good.items() if k != "MaHoSo"})
    assert missing.status_code == 422 and "MaHoSo" in missing.json()["message"]


def test_callbacks_the_sandbox_sends_pass_its_own_verifier(url: str, receiver: Receiver) -> None:
    payment = create(url, receiver)
    act(payment, "thanh_toan")
    [fields] = wait_until(lambda: receiver.for_payment(payment["ma_giao_dich"]))
    assert verify(url, dict(fields), form=True).json() == {"valid": True}
    assert verify(url, {**dict(fields), "SoTien": "1"}, form=True).json() == {"valid": False}


# ------------------------------------------------------------------ e-receipt


def pdf_metadata(pdf: bytes) -> str:
    """WeasyPrint compresses its object streams: inflate them and decode the UTF-16 metadata strings."""
    text = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        # A compressed stream may itself end in a carriage return, which the pattern's optional \r takes:
        # give it back before giving up on the stream (the metadata was otherwise lost once in a while).
        for data in (match.group(1), match.group(1) + b"\r"):
            try:
                text.append(zlib.decompress(data).decode("latin-1"))
                break
            except zlib.error:
                continue
    joined = "\n".join(text)
    decoded = [bytes.fromhex(h).decode("utf-16-be") for h in re.findall(r"<feff([0-9a-f]+)>", joined)]
    return joined + "\n" + "\n".join(decoded)


def test_receipt_pdf(url: str, receiver: Receiver) -> None:
    payment = create(url, receiver, so_tien=125_000, noi_dung="Lệ phí chứng thực bản sao")
    receipt_url = f"{url}/thanh-toan/{payment['ma_giao_dich']}/bien-lai"
    assert requests.get(receipt_url, headers=AUTH, timeout=5).status_code == 409
    assert requests.get(receipt_url, timeout=5).status_code == 401
    act(payment, "thanh_toan")
    response = requests.get(receipt_url, headers=AUTH, timeout=30)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/pdf"
    pdf = response.content
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF") and len(pdf) > 5_000
    metadata = pdf_metadata(pdf)
    assert "Biên lai điện tử" in metadata and DOSSIER in metadata and payment["ma_giao_dich"] in metadata
    assert "WeasyPrint" in metadata
    again = requests.get(receipt_url, headers=AUTH, timeout=5)
    assert again.content == pdf  # cached, not printed again

    state = query(url, payment["ma_giao_dich"]).json()
    lookup = requests.get(state["url_tra_cuu_bien_lai"], timeout=5)
    assert lookup.status_code == 200 and DOSSIER in lookup.text and "125.000 đ" in lookup.text
    assert state["so_bien_lai"] and state["so_bien_lai"] in lookup.text


def test_receipt_html_has_the_qr_code_and_escapes() -> None:
    html = receipt_html({"so_bien_lai": "0000042", "ma_ho_so": DOSSIER, "noi_dung": "Lệ phí <b>",
                         "so_tien": 2_000, "thoi_gian_thanh_toan": datetime(2026, 11, 23, 9, 5, 7, tzinfo=VN),
                         "ma_giao_dich": "GD-1", "ma_thanh_toan": "TT1",
                         "url_tra_cuu": "http://sandbox.test/tra-cuu-bien-lai/abc?x=1&y=2"})
    assert "Biên lai điện tử" in html and DOSSIER in html and "2.000 đ" in html and "Hai nghìn đồng" in html
    assert "09:05:07 23/11/2026" in html and "Lệ phí &lt;b&gt;" in html
    assert 'src="data:image/svg+xml' in html and "http://sandbox.test/tra-cuu-bien-lai/abc?x=1&amp;y=2" in html


@pytest.mark.parametrize(("amount", "words"), [
    (0, "Không đồng"),
    (5, "Năm đồng"),
    (15, "Mười lăm đồng"),
    (21, "Hai mươi mốt đồng"),
    (24, "Hai mươi tư đồng"),
    (105, "Một trăm linh năm đồng"),
    (10_000, "Mười nghìn đồng"),
    (125_000, "Một trăm hai mươi lăm nghìn đồng"),
    (200_000, "Hai trăm nghìn đồng"),
    (1_005_000, "Một triệu không trăm linh năm nghìn đồng"),
    (2_000_000_000, "Hai tỷ đồng"),
    (1_000_000_000_000, "Một nghìn tỷ đồng"),
])
def test_amount_in_words(amount: int, words: str) -> None:
    assert amount_in_words(amount) == words


def test_format_vnd() -> None:
    assert format_vnd(10_000) == "10.000 đ" and format_vnd(500) == "500 đ" and format_vnd(1_250_000) == "1.250.000 đ"


# ------------------------------------------------------------------ refunds


def refund(url: str, ma_giao_dich: str, so_tien: int, key: str | None, ly_do: str = "Hồ sơ bị từ chối"
           ) -> requests.Response:
    headers = {**AUTH, **({"Idempotency-Key": key} if key else {})}
    return requests.post(f"{url}/thanh-toan/{ma_giao_dich}/hoan-tien", json={"so_tien": so_tien, "ly_do": ly_do},
                         headers=headers, timeout=5)


def test_refunds(url: str, receiver: Receiver) -> None:
    payment = create(url, receiver, so_tien=20_000)
    gd = payment["ma_giao_dich"]
    assert refund(url, gd, 5_000, "k-pending").status_code == 409  # not paid yet
    act(payment, "thanh_toan")
    assert refund(url, gd, 5_000, None).status_code == 422  # no idempotency key
    assert refund(url, "KHONG-CO", 5_000, "k-x").status_code == 404

    first = refund(url, gd, 5_000, "k-1")
    assert first.status_code == 201
    assert first.json()["so_tien"] == 5_000 and first.json()["so_tien_hoan"] == 5_000
    assert first.json()["trang_thai"] == "da_thanh_toan"
    repeat = refund(url, gd, 5_000, "k-1")
    assert repeat.status_code == 200 and repeat.json() == first.json()
    assert refund(url, gd, 6_000, "k-1").status_code == 409  # same key, another refund
    over = refund(url, gd, 15_001, "k-2")
    assert over.status_code == 409 and over.json()["error_code"] == "vuot_so_tien_da_thanh_toan"
    assert "15.001 đ" in over.json()["message"]
    assert query(url, gd).json()["so_tien_hoan"] == 5_000

    rest = refund(url, gd, 15_000, "k-3")
    assert rest.status_code == 201 and rest.json()["trang_thai"] == "da_hoan_tien"
    state = query(url, gd).json()
    assert state["trang_thai"] == "da_hoan_tien" and state["so_tien_hoan"] == 20_000
    assert state["thoi_gian_thanh_toan"] is not None
    assert refund(url, gd, 1, "k-4").status_code == 409
    record = listed(url, gd)
    assert record["refunds"] == 2 and record["charges"] == 1
    # The receipt of a refunded payment still exists.
    assert requests.get(f"{url}/thanh-toan/{gd}/bien-lai", headers=AUTH, timeout=30).content.startswith(b"%PDF")

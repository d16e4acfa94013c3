"""The whole loop over real HTTP both ways: the platform's server-to-server callback reaches a running
MotCua (jobs in its own worker thread), duplicated three times, and settles the fee exactly once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from sqlalchemy import select

from app.extensions import db
from app.models import Payment, PaymentCallback
from tests.samples import requests_uploader, start_data, with_uploads


@pytest.fixture()
def wired(live_national: Any) -> Any:
    return live_national


def wait_for(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def test_duplicated_server_callbacks_settle_the_fee_once(wired, live_token, sandbox):
    base, citizen, reception = wired.url, live_token("congdan"), live_token("ca.tiepnhan")
    data = with_uploads(requests_uploader(base), citizen, start_data("thuong-tru"))
    created = requests.post(f"{base}/api/v1/procedures/1.004222/dossiers", json=data, headers=citizen, timeout=10)
    assert created.status_code == 201, created.text
    code = created.json()["code"]

    def dossier() -> dict[str, Any]:
        return requests.get(f"{base}/api/v1/dossiers/{code}", headers=citizen, timeout=10).json()

    payment = wait_for(lambda: next((p for p in dossier()["payments"] if p["pay_url"]), None))
    requests.post(f"{sandbox}/_payment/callback-faults", json={"mode": "duplicate", "count": 1, "times": 3},
                  timeout=5).raise_for_status()
    paid = requests.post(payment["pay_url"], data={"hanh_dong": "thanh_toan"}, allow_redirects=False, timeout=10)
    assert paid.status_code == 302  # the browser is not followed back: only the server callbacks arrive

    settled = wait_for(lambda: (d := dossier())["payments"][0]["receipt_url"] and d)
    assert settled["payments"][0]["state"] == "paid"
    tasks = requests.get(f"{base}/api/v1/tasks", headers=reception, timeout=10).json()["items"]
    assert [t["title"] for t in tasks if t["dossier_code"] == code] == ["Tiếp nhận hồ sơ"]
    platform = {p["ma_giao_dich"]: p for p in
                requests.get(f"{sandbox}/_payment/payments", timeout=5).json()["payments"]}[payment["transaction_id"]]
    assert platform["charges"] == 1
    wait_for(lambda: len(platform_callbacks(wired, payment["transaction_id"])) == 3)
    assert sorted(platform_callbacks(wired, payment["transaction_id"])) == ["ipn:applied", "ipn:duplicate",
                                                                            "ipn:duplicate"]


def platform_callbacks(server: Any, transaction_id: str) -> list[str]:
    with server.app.app_context():
        payment = db.session.scalar(select(Payment).where(Payment.transaction_id == transaction_id))
        outcomes = [c.outcome for c in db.session.scalars(
            select(PaymentCallback).where(PaymentCallback.payment_id == payment.id))]
        db.session.remove()
        return outcomes


def test_two_payments_for_one_fee_confirmed_at_the_same_moment_charge_once(wired, live_token, sandbox):
    """The first payment's link expired here but stayed open on the platform; the payer paid it and a second
    one, and both callbacks arrive together: one settles the fee, the other is refunded."""
    import threading
    from urllib.parse import parse_qsl, urlsplit

    from app.dossiers import payments
    from app.jobs import payments as payment_jobs
    from app.models import Dossier, User

    base, citizen = wired.url, live_token("congdan")
    data = with_uploads(requests_uploader(base), citizen, start_data("thuong-tru"))
    code = requests.post(f"{base}/api/v1/procedures/1.004222/dossiers", json=data, headers=citizen,
                         timeout=10).json()["code"]
    wait_for(lambda: any(p["pay_url"] for p in requests.get(f"{base}/api/v1/dossiers/{code}", headers=citizen,
                                                            timeout=10).json()["payments"]))
    app = wired.app
    with app.app_context():
        dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
        [first] = payments.payments_of(dossier)
        assert payment_jobs.recheck_payment(first.id, 1) == "expired"
        second = payments.new_payment(dossier, db.session.scalar(select(User).where(User.username == "congdan")))
        db.session.commit()
        payments.open_for_payer(second)
        db.session.commit()
        urls = [first.pay_url, second.pay_url]
        db.session.remove()
    requests.post(f"{sandbox}/_payment/callback-faults", json={"mode": "drop", "count": 2}, timeout=5)
    signed = []
    for url in urls:
        answer = requests.post(url, data={"hanh_dong": "thanh_toan"}, allow_redirects=False, timeout=10)
        signed.append(dict(parse_qsl(urlsplit(answer.headers["Location"]).query)))
    barrier = threading.Barrier(2)
    answers: list[int] = []

    def notify(fields: dict[str, str]) -> None:
        barrier.wait()
        answers.append(requests.post(f"{base}/thanh-toan/ipn", data=fields, timeout=10).status_code)

    threads = [threading.Thread(target=notify, args=(fields,)) for fields in signed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200, 200]

    def settled() -> list[Any]:
        return sorted((p["state"], p["refunded_amount"]) for p in
                      requests.get(f"{base}/api/v1/dossiers/{code}", headers=citizen, timeout=10).json()["payments"])

    assert wait_for(lambda: settled() == [("paid", 0), ("refunded", 10000)])
    platform = requests.get(f"{sandbox}/_payment/payments", timeout=5).json()["payments"]
    ours = [p for p in platform if p["ma_ho_so"] == code]
    assert sum(p["so_tien"] - p["so_tien_hoan"] for p in ours) == 10000  # the fee, once

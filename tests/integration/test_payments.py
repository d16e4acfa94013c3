"""Thường trú online: the fee is paid on the demo payment platform over real HTTP; callbacks are verified,
deduplicated and reconciled, the e-receipt is kept, and nobody is charged twice."""

from __future__ import annotations

from urllib.parse import urlsplit

import lxml.html
import pytest
import requests
from sqlalchemy import select

from app.dossiers import payments
from app.dossiers.services import submit_dossier
from app.extensions import db
from app.jobs import payments as payment_jobs
from app.models import HumanTask, Payment, PaymentCallback, ServiceCall
from connectors.payment import CALLBACK_FIELDS, DEFAULT_PAYMENT_SECRET, sign
from tests.conftest import login, user
from tests.samples import start_data, with_stored_uploads


def run_jobs(jobs, rounds=10):
    results = []
    for _ in range(rounds):
        if not jobs.jobs:
            break
        results += [r for r in jobs.run_all() if isinstance(r, str)]
    return results


def submit_online(db_session, jobs):
    dossier = submit_dossier("1.004222", with_stored_uploads(start_data("thuong-tru"), user("congdan")),
                             applicant=user("congdan"), channel=2)
    db_session.commit()
    assert run_jobs(jobs) == ["waiting"]
    return dossier


def on_platform(sandbox, payment, action="thanh_toan"):
    """The payer's browser on the hosted page: pay (or cancel); returns where the platform sends it back."""
    page = requests.get(payment.pay_url, timeout=5)
    assert page.status_code == 200 and payment.transaction_id in page.text or "10.000" in page.text
    answer = requests.post(payment.pay_url, data={"hanh_dong": action}, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    back = urlsplit(answer.headers["Location"])
    return f"{back.path}?{back.query}"


def platform_payments(sandbox):
    return {p["ma_giao_dich"]: p for p in requests.get(f"{sandbox}/_payment/payments", timeout=5).json()["payments"]}


def ready_titles(dossier):
    return [t.title for t in db.session.scalars(
        select(HumanTask).where(HumanTask.dossier_id == dossier.id, HumanTask.state == "ready"))]


def fee_call(dossier):
    return db.session.scalar(select(ServiceCall).where(ServiceCall.dossier_id == dossier.id,
                                                       ServiceCall.operation == "payment.collect"))


def test_paid_online_then_received_with_an_e_receipt(client, db_session, jobs, national, sandbox):
    dossier = submit_online(db_session, jobs)
    assert ready_titles(dossier) == []  # reception waits for the fee
    [payment] = payments.payments_of(dossier)
    assert (payment.state, payment.amount) == ("pending", 10000) and payment.pay_url.startswith(sandbox)
    login(client, "congdan")
    page = lxml.html.fromstring(client.get(f"/ho-so/{dossier.code}").data)
    assert page.get_element_by_id("pay-button") is not None

    back = on_platform(sandbox, payment)
    assert client.get(back).status_code == 303
    db.session.refresh(payment)
    assert payment.state == "paid" and payment.paid_at is not None
    assert fee_call(dossier).state == "done"
    assert ready_titles(dossier) == ["Tiếp nhận hồ sơ"]

    assert run_jobs(jobs) == ["stored"]  # the e-receipt
    page = lxml.html.fromstring(client.get(f"/ho-so/{dossier.code}").data)
    link = page.get_element_by_id(f"receipt-{payment.id}").get("href")
    pdf = client.get(link)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert platform_payments(sandbox)[payment.transaction_id]["charges"] == 1


def test_callback_replayed_three_times_changes_nothing(client, db_session, jobs, national, sandbox):
    dossier = submit_online(db_session, jobs)
    [payment] = payments.payments_of(dossier)
    back = on_platform(sandbox, payment)
    fields = dict(p.split("=", 1) for p in urlsplit(back).query.split("&"))
    from urllib.parse import unquote_plus

    fields = {k: unquote_plus(v) for k, v in fields.items()}
    outcomes = [client.post("/thanh-toan/ipn", data=fields).get_json()["error_code"] for _ in range(3)]
    assert outcomes == ["0", "0", "0"]
    assert client.get(back).status_code == 303
    trail = db.session.scalars(select(PaymentCallback).where(PaymentCallback.payment_id == payment.id)
                               .order_by(PaymentCallback.id)).all()
    assert [c.outcome for c in trail] == ["ipn:applied", "ipn:duplicate", "ipn:duplicate", "return:duplicate"]
    assert ready_titles(dossier) == ["Tiếp nhận hồ sơ"]
    assert platform_payments(sandbox)[payment.transaction_id]["charges"] == 1


def test_forged_or_tampered_callbacks_are_refused(client, db_session, jobs, national, sandbox):
    dossier = submit_online(db_session, jobs)
    [payment] = payments.payments_of(dossier)
    values = [payment.transaction_id, payment.platform_id, dossier.code, "10000", "00", "20261123100000"]
    forged = dict(zip(CALLBACK_FIELDS, values, strict=True)) | {"MaXacThuc": sign(values, "not-the-secret")}
    response = client.post("/thanh-toan/ipn", data=forged)
    assert response.status_code == 400 and response.get_json()["error_code"] == "97"
    cheaper = [*values[:3], "1000", *values[4:]]
    signed_cheaper = dict(zip(CALLBACK_FIELDS, cheaper, strict=True)) | {
        "MaXacThuc": sign(cheaper, DEFAULT_PAYMENT_SECRET)}
    assert client.post("/thanh-toan/ipn", data=signed_cheaper).get_json()["error_code"] == "04"
    assert client.post("/thanh-toan/ipn", json=[forged]).status_code == 400  # not even an object
    db.session.refresh(payment)
    assert payment.state == "pending" and ready_titles(dossier) == []


def test_a_callback_that_never_comes_is_found_by_the_re_query(client, db_session, jobs, national, sandbox,
                                                              monkeypatch):
    requests.post(f"{sandbox}/_payment/callback-faults", json={"mode": "drop", "count": 1}, timeout=5)
    dossier = submit_online(db_session, jobs)
    [payment] = payments.payments_of(dossier)
    on_platform(sandbox, payment)  # paid, but the browser never comes back and the callback is dropped
    assert payment_jobs.recheck_payment(payment.id, 1) == "applied"
    db.session.refresh(payment)
    assert payment.state == "paid" and payment.checks == 1
    assert ready_titles(dossier) == ["Tiếp nhận hồ sơ"]
    assert payment_jobs.recheck_payment(payment.id, 1) == "skipped"


def test_cancelled_then_paid_again_and_a_late_second_payment_is_refunded(client, db_session, jobs, national,
                                                                           sandbox, monkeypatch):
    dossier = submit_online(db_session, jobs)
    [first] = payments.payments_of(dossier)
    # The payer leaves the page open; our last re-query gives up on it and stops offering the link.
    assert payment_jobs.recheck_payment(first.id, 1) == "expired"
    login(client, "congdan")
    response = client.post(f"/ho-so/{dossier.code}/thanh-toan")
    assert response.status_code == 303
    second = payments.open_payment(dossier)
    assert second is not None and second.id != first.id and response.headers["Location"] == second.pay_url
    client.get(on_platform(sandbox, second))
    assert ready_titles(dossier) == ["Tiếp nhận hồ sơ"]
    # ...then pays the first, still open on the platform: that money comes back.
    assert client.get(on_platform(sandbox, first)).status_code == 303
    db.session.refresh(first)
    assert first.state == "paid"
    assert "refunded" in run_jobs(jobs)
    db.session.refresh(first)
    assert (first.state, first.refunded_amount) == ("refunded", 10000)
    platform = platform_payments(sandbox)
    assert platform[first.transaction_id]["trang_thai"] == "da_hoan_tien"
    assert platform[second.transaction_id]["charges"] == 1


def test_an_api_client_pays_again_after_its_link_expired(client, db_session, jobs, national, sandbox, token):
    """The API's way to the dossier page's button: the payment waiting for the payer, or a new one once the last
    expired unpaid; asked twice, the same one. Only the applicant may; the dossier then moves on once paid."""
    dossier = submit_online(db_session, jobs)
    [first] = payments.payments_of(dossier)
    citizen = token("congdan")
    url = f"/api/v1/dossiers/{dossier.code}/payments"
    same = client.post(url, headers=citizen)
    assert same.status_code == 200 and same.get_json()["id"] == first.id  # still open: that one
    assert payment_jobs.recheck_payment(first.id, 1) == "expired"  # nobody paid: the link stops being offered
    assert client.post(url, headers=token("tiepnhan")).status_code in (403, 404)
    again = client.post(url, headers=citizen)
    body = again.get_json()
    assert again.status_code == 200 and body["id"] != first.id and body["state"] == "pending" and body["pay_url"]
    assert client.post(url, headers=citizen).get_json()["id"] == body["id"]  # not a third one
    second = db.session.get(Payment, body["id"])
    client.get(on_platform(sandbox, second))
    assert ready_titles(dossier) == ["Tiếp nhận hồ sơ"]
    nothing = client.post(url, headers=citizen)
    assert nothing.status_code == 409 and nothing.get_json()["error"]["code"] == "nothing_to_pay"


def test_cancel_on_the_platform(client, db_session, jobs, national, sandbox):
    dossier = submit_online(db_session, jobs)
    [payment] = payments.payments_of(dossier)
    login(client, "congdan")
    client.get(on_platform(sandbox, payment, "huy"))
    db.session.refresh(payment)
    assert payment.state == "cancelled" and fee_call(dossier).state == "waiting"
    page = lxml.html.fromstring(client.get(f"/ho-so/{dossier.code}").data)
    assert "Tạo giao dịch thanh toán" in page.get_element_by_id("pay-button").text_content()


def test_officer_refund_over_the_api_is_idempotent(client, db_session, jobs, national, sandbox, token):
    dossier = submit_online(db_session, jobs)
    [payment] = payments.payments_of(dossier)
    client.get(on_platform(sandbox, payment))
    run_jobs(jobs)
    headers = token("ca.tiepnhan")
    too_much = client.post(f"/api/v1/payments/{payment.id}/refund", json={"so_tien": 20000, "ly_do": "x"},
                           headers=headers)
    assert too_much.status_code == 422
    assert client.post(f"/api/v1/payments/{payment.id}/refund", json={"so_tien": 10000, "ly_do": "Từ chối"},
                       headers=token("tiepnhan")).status_code == 404  # another agency
    response = client.post(f"/api/v1/payments/{payment.id}/refund", json={"so_tien": 10000, "ly_do": "Từ chối"},
                           headers=headers)
    assert response.status_code == 202
    [job] = jobs.jobs
    assert run_jobs(jobs) == ["refunded"]
    from app.jobs.queue import _resolve

    assert _resolve(job.func)(*job.args) == "skipped"  # the same job replayed refunds nothing more
    db.session.refresh(payment)
    assert (payment.state, payment.refunded_amount) == ("refunded", 10000)
    assert platform_payments(sandbox)[payment.transaction_id]["so_tien_hoan"] == 10000


@pytest.mark.parametrize("channel", [1])
def test_in_person_dossiers_pay_at_the_desk(client, db_session, jobs, national, channel):
    dossier = submit_dossier("1.004222", with_stored_uploads(start_data("thuong-tru"), user("congdan")),
                             applicant=user("congdan"), channel=channel)
    db_session.commit()
    assert dossier.fee_amount == 20000 and fee_call(dossier) is None
    assert ready_titles(dossier) == ["Tiếp nhận hồ sơ"]
    assert db.session.scalars(select(Payment).where(Payment.dossier_id == dossier.id)).all() == []


def test_history_names_payment_events_and_keeps_incidents_for_officers(client, db_session, jobs, national, sandbox):
    from app.models import AuditEvent

    dossier = submit_online(db_session, jobs)
    [payment] = payments.payments_of(dossier)
    client.get(on_platform(sandbox, payment))
    db.session.add(AuditEvent(dossier_id=dossier.id, actor_name="Hệ thống", action="incident", note="thử"))
    db_session.commit()
    login(client, "congdan")
    history = lxml.html.fromstring(client.get(f"/ho-so/{dossier.code}").data).get_element_by_id("history")
    text = history.text_content()
    assert "Tạo giao dịch thanh toán" in text and "Đã thanh toán" in text and "payment_paid" not in text
    assert not history.find_class("event-incident")
    client.get("/dang-xuat")
    login(client, "ca.tiepnhan")
    history = lxml.html.fromstring(client.get(f"/ho-so/{dossier.code}").data).get_element_by_id("history")
    assert history.find_class("event-incident")


def test_an_officer_refunds_from_the_dossier_page(client, db_session, jobs, national, sandbox):
    dossier = submit_online(db_session, jobs)
    [payment] = payments.payments_of(dossier)
    client.get(on_platform(sandbox, payment))
    run_jobs(jobs)
    login(client, "congdan")
    page = lxml.html.fromstring(client.get(f"/ho-so/{dossier.code}").data)
    assert not page.find_class("refund")  # the applicant cannot refund
    assert client.post(f"/ho-so/{dossier.code}/thanh-toan/{payment.id}/hoan-tien",
                       data={"so_tien": "10000", "ly_do": "x"}).status_code == 404
    client.get("/dang-xuat")
    login(client, "ca.tiepnhan")
    page = lxml.html.fromstring(client.get(f"/ho-so/{dossier.code}").data)
    assert page.get_element_by_id(f"refund-{payment.id}") is not None
    bad = client.post(f"/ho-so/{dossier.code}/thanh-toan/{payment.id}/hoan-tien", data={"so_tien": "abc", "ly_do": "x"})
    assert bad.status_code == 303 and jobs.jobs == []
    done = client.post(f"/ho-so/{dossier.code}/thanh-toan/{payment.id}/hoan-tien",
                       data={"so_tien": "4000", "ly_do": "Thu thừa"})
    assert done.status_code == 303
    assert run_jobs(jobs) == ["refunded"]
    db.session.refresh(payment)
    assert (payment.state, payment.refunded_amount) == ("paid", 4000)  # partly refunded


def _query_meanwhile(monkeypatch, national, before):
    """Make the platform's answer to a re-query arrive only after `before()` ran (a callback in between)."""
    real = national.call

    def call(operation, params):
        answer = real(operation, params)
        if operation == "payment.query_payment":
            before()
        return answer

    monkeypatch.setattr(national, "call", call)


def test_a_callback_during_a_re_query_is_not_applied_twice(client, db_session, jobs, national, sandbox,
                                                             monkeypatch):
    dossier = submit_online(db_session, jobs)
    [payment] = payments.payments_of(dossier)
    back = on_platform(sandbox, payment)
    _query_meanwhile(monkeypatch, national, lambda: client.get(back))
    assert payment_jobs.recheck_payment(payment.id, 1) == "skipped"
    db.session.refresh(payment)
    assert (payment.state, payment.refunded_amount) == ("paid", 0)  # paid once, kept, nothing refunded
    assert ready_titles(dossier) == ["Tiếp nhận hồ sơ"]


def test_a_payment_made_while_the_last_re_query_asked_is_not_expired(client, db_session, jobs, national, sandbox,
                                                                       monkeypatch):
    dossier = submit_online(db_session, jobs)
    [payment] = payments.payments_of(dossier)

    def pay_now():
        client.get(on_platform(sandbox, payment))

    _query_meanwhile(monkeypatch, national, pay_now)  # the platform said "waiting", then the payer paid
    assert payment_jobs.recheck_payment(payment.id, 1) == "skipped"
    db.session.refresh(payment)
    assert payment.state == "paid"


def test_a_paid_fee_whose_task_never_heard_of_it_is_handed_on(client, db_session, jobs, national, sandbox, token):
    from datetime import timedelta

    dossier = submit_online(db_session, jobs)
    [payment] = payments.payments_of(dossier)
    back = on_platform(sandbox, payment)
    # As if the process died between recording the payment and completing the task.
    payment.state = "paid"
    call = fee_call(dossier)
    call.updated_at = call.updated_at - timedelta(hours=1)
    db_session.commit()
    assert ready_titles(dossier) == []
    [listed] = client.get("/api/v1/incidents", headers=token("ca.tiepnhan")).get_json()["items"]
    assert (listed["id"], listed["state"], listed["stalled"]) == (call.id, "waiting", True)
    client.get(back)  # the next callback (or the retry button) hands it on
    assert fee_call(dossier).state == "done" and ready_titles(dossier) == ["Tiếp nhận hồ sơ"]


def test_two_refunds_asked_before_either_ran_both_happen(client, db_session, jobs, national, sandbox, token):
    dossier = submit_online(db_session, jobs)
    [payment] = payments.payments_of(dossier)
    client.get(on_platform(sandbox, payment))
    run_jobs(jobs)
    headers = token("ca.tiepnhan")
    for amount in (3000, 2000):
        assert client.post(f"/api/v1/payments/{payment.id}/refund", json={"so_tien": amount, "ly_do": "Thu thừa"},
                           headers=headers).status_code == 202
    assert client.post(f"/api/v1/payments/{payment.id}/refund", json={"so_tien": 1, "ly_do": "x"},
                       headers=token("thietke")).status_code == 404  # a designer does not refund fees
    assert run_jobs(jobs) == ["refunded", "refunded"]
    db.session.refresh(payment)
    assert payment.refunded_amount == 5000
    assert platform_payments(sandbox)[payment.transaction_id]["so_tien_hoan"] == 5000


def test_a_callback_signed_for_another_dossier_is_refused(client, db_session, jobs, national, sandbox):
    dossier = submit_online(db_session, jobs)
    [payment] = payments.payments_of(dossier)
    values = [payment.transaction_id, payment.platform_id, "000.00.02.H26-261123-9999", "10000", "00",
              "20261123100000"]
    fields = dict(zip(CALLBACK_FIELDS, values, strict=True)) | {"MaXacThuc": sign(values, DEFAULT_PAYMENT_SECRET)}
    assert client.post("/thanh-toan/ipn", data=fields).status_code == 400
    db.session.refresh(payment)
    assert payment.state == "pending"


def test_online_payment_is_off_without_a_real_shared_secret(sandbox):
    from connectors import build_registry

    for secret in ("", "short"):
        registry = build_registry({"PAYMENT_URL": sandbox, "PAYMENT_TOKEN": "t", "PAYMENT_SECRET": secret})
        assert "payment.create_payment" not in registry.ids() and "payment" not in registry.connectors


def test_a_platform_time_without_offset_is_vietnam_time():
    at = payments.platform_time("2026-11-23T10:00:00")
    assert at.utcoffset().total_seconds() == 7 * 3600


def test_refunds_still_pending_count_against_what_is_left(client, db_session, jobs, national, sandbox, token):
    dossier = submit_online(db_session, jobs)
    [payment] = payments.payments_of(dossier)
    client.get(on_platform(sandbox, payment))
    run_jobs(jobs)
    headers = token("ca.tiepnhan")
    first = client.post(f"/api/v1/payments/{payment.id}/refund", json={"so_tien": 6000, "ly_do": "a"}, headers=headers)
    assert first.status_code == 202
    second = client.post(f"/api/v1/payments/{payment.id}/refund", json={"so_tien": 6000, "ly_do": "b"},
                         headers=headers)
    assert second.status_code == 422 and "4000" in second.get_json()["error"]["details"]["/so_tien"]


def test_a_refund_the_platform_could_not_take_is_listed_and_retried(client, db_session, jobs, national, sandbox,
                                                                     token):
    from datetime import timedelta

    from app.models import Refund
    from connectors.base import TransientError

    dossier = submit_online(db_session, jobs)
    [payment] = payments.payments_of(dossier)
    client.get(on_platform(sandbox, payment))
    run_jobs(jobs)
    headers = token("ca.tiepnhan")
    assert client.post(f"/api/v1/payments/{payment.id}/refund", json={"so_tien": 10000, "ly_do": "Từ chối"},
                       headers=headers).status_code == 202
    requests.post(f"{sandbox}/_faults", json={"path_prefix": "/thanh-toan", "mode": "error", "status": 503,
                                              "count": 1}, timeout=5)
    with pytest.raises(TransientError):
        jobs.run_all()  # rq would try again later; say every try failed and the job is gone
    [request] = db.session.scalars(select(Refund).where(Refund.payment_id == payment.id)).all()
    assert request.state == "pending"
    assert client.get("/api/v1/incidents", headers=headers).get_json()["refunds"] == []  # not overdue yet
    request.requested_at = request.requested_at - timedelta(hours=1)
    db_session.commit()
    [listed] = client.get("/api/v1/incidents", headers=headers).get_json()["refunds"]
    assert (listed["id"], listed["transaction_id"]) == (request.id, payment.transaction_id)
    login(client, "ca.tiepnhan")
    page = lxml.html.fromstring(client.get("/can-bo/su-co").data)
    assert page.get_element_by_id(f"refund-{request.id}") is not None
    assert client.post(f"/can-bo/su-co/hoan-tien/{request.id}/thu-lai").status_code == 303
    assert run_jobs(jobs) == ["refunded"]
    db.session.refresh(payment)
    assert (payment.state, payment.refunded_amount) == ("refunded", 10000)
    assert client.post(f"/api/v1/refunds/{request.id}/retry", headers=headers).status_code == 409


def test_a_dossier_refused_twice_refunds_once(client, db_session, jobs, national, sandbox):
    from app.models import Refund

    dossier = submit_online(db_session, jobs)
    [payment] = payments.payments_of(dossier)
    client.get(on_platform(sandbox, payment))
    run_jobs(jobs)
    payments.on_status(dossier, 3)
    payments.on_status(dossier, 3)
    db_session.commit()
    assert len(db.session.scalars(select(Refund).where(Refund.payment_id == payment.id)).all()) == 1
    assert run_jobs(jobs) == ["refunded"]

"""Unauthenticated writes are bounded: a refused payment callback leaves a small record, and only so many."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from app.dossiers import payments
from app.models import PaymentCallback
from connectors.payment import CALLBACK_FIELDS, DEFAULT_PAYMENT_SECRET, sign
from tests.integration.test_payments import submit_online


def _refused(db_session) -> list[PaymentCallback]:
    return list(db_session.scalars(select(PaymentCallback).where(PaymentCallback.payment_id.is_(None))
                                   .order_by(PaymentCallback.id)))


def test_a_forged_callback_is_recorded_small(client, db_session, national):
    before = len(_refused(db_session))
    padding = {f"pad{i}": "x" * 300 for i in range(25)}  # ~11 KB in all: under the body limit, far over a record
    forged = {name: "y" * 500 for name in CALLBACK_FIELDS} | {"MaXacThuc": "0" * 64} | padding
    response = client.post("/thanh-toan/ipn", data=forged)
    assert response.status_code == 400 and response.get_json()["error_code"] == "97"
    rows = _refused(db_session)
    assert len(rows) == before + 1
    stored = rows[-1]
    assert stored.outcome == "ipn:invalid_signature"
    assert len(json.dumps(stored.fields, ensure_ascii=False)) <= payments.REFUSED_RECORD_CHARS
    assert stored.fields["MaGiaoDich"].startswith("yyy")  # what identifies the attempt is kept, cut short


def test_a_signed_callback_is_recorded_with_its_signed_fields_only(client, db_session, jobs, national):
    dossier = submit_online(db_session, jobs)
    [payment] = payments.payments_of(dossier)
    values = [payment.transaction_id, payment.platform_id, dossier.code, "10000", "00", "20261123100000"]
    signed = dict(zip(CALLBACK_FIELDS, values, strict=True)) | {"MaXacThuc": sign(values, DEFAULT_PAYMENT_SECRET)}
    response = client.post("/thanh-toan/ipn", data=signed | {"extra": "z" * 10_000})
    assert response.get_json()["error_code"] == "0"
    row = db_session.scalar(select(PaymentCallback).where(PaymentCallback.payment_id == payment.id))
    assert set(row.fields) == {*CALLBACK_FIELDS, "MaXacThuc"}


def test_refused_callbacks_kept_are_capped(app, client, db_session, national, monkeypatch):
    monkeypatch.setitem(app.config, "PAYMENT_REFUSED_CALLBACKS_KEPT", 5)
    for i in range(12):
        client.post("/thanh-toan/ipn", data={"MaGiaoDich": f"forged-{i}", "MaXacThuc": "00"})
    rows = _refused(db_session)
    assert len(rows) == 5
    assert [r.fields["MaGiaoDich"] for r in rows] == [f"forged-{i}" for i in range(7, 12)]  # the newest


def test_an_oversized_callback_is_refused_before_anything_is_stored(client, db_session, national):
    count = db_session.scalar(select(func.count()).select_from(PaymentCallback))
    response = client.post("/thanh-toan/ipn", data={"MaGiaoDich": "x" * (5 * 1024 * 1024)})
    assert response.status_code == 413
    assert db_session.scalar(select(func.count()).select_from(PaymentCallback)) == count

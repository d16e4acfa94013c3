"""One fee computation, from the manifest: the receipt, the dossier's fee, the online payment, the national
portal and the API show the same amount, also when the fee is per copy."""

from __future__ import annotations

import json
from pathlib import Path

import lxml.html
import requests
from sqlalchemy import select

from app.dossiers import payments
from app.dossiers.fees import describe_fee, fee_lines, fee_total
from app.dossiers.services import submit_dossier
from app.extensions import db
from app.models import PortalOutbox, ServiceCall
from app.procedures.deploy import deploy
from app.procedures.package import check_package, load_directory
from tests.conftest import login, user
from tests.integration.test_payments import run_jobs
from tests.samples import start_data, with_stored_uploads

ROOT = Path(__file__).resolve().parents[2]
PER_COPY = {"field": "/so_ban_sao", "amount": 8000, "name": "Phí cấp bản sao", "unit": "bản"}


def thuong_tru_per_copy(fee=None, so_tien=None):
    """The shipped thường trú package, charging 8.000 đ per copy of the result asked for (and nothing else)."""
    pkg = load_directory(ROOT / "bpmn" / "thuong-tru")
    manifest = json.loads(pkg.manifest)
    manifest["fee"] = fee or {"in_person": 0, "online": 0, "per": [PER_COPY]}
    pkg.manifest = json.dumps(manifest).encode()
    form = json.loads(pkg.forms["to-khai.schema.json"])
    form["properties"]["so_ban_sao"] = {"type": "integer", "title": "Số bản sao", "minimum": 0, "maximum": 10}
    pkg.forms["to-khai.schema.json"] = json.dumps(form).encode()
    if so_tien is not None:
        name = next(iter(pkg.bpmn))
        pkg.bpmn[name] = pkg.bpmn[name].replace(b"value=\"thong_tin_ho_so['le_phi']\"",
                                                f'value="{so_tien}"'.encode())
    return pkg


def snapshot_fees(dossier):
    rows = db.session.scalars(select(PortalOutbox).where(PortalOutbox.dossier_id == dossier.id,
                                                         PortalOutbox.kind == "dossier").order_by(PortalOutbox.id))
    return [sum(f["so_tien"] for f in (r.payload["le_phi"] or [])) for r in rows]


def test_receipt_payment_portal_and_api_agree_for_three_copies(client, db_session, jobs, national, sandbox,
                                                               token):
    deploy(thuong_tru_per_copy(), deployed_by="tests")
    applicant = user("congdan")
    data = with_stored_uploads(start_data("thuong-tru"), applicant) | {"so_ban_sao": 3}
    dossier = submit_dossier("1.004222", data, applicant=applicant, channel=2)
    db_session.commit()
    assert dossier.fee_amount == 24000
    assert run_jobs(jobs) == ["waiting"]
    [payment] = payments.payments_of(dossier)
    assert payment.amount == 24000
    platform = requests.get(f"{sandbox}/_payment/payments", timeout=5).json()["payments"]
    assert [p["so_tien"] for p in platform if p["ma_giao_dich"] == payment.transaction_id] == [24000]
    assert set(snapshot_fees(dossier)) == {24000}
    assert client.get(f"/api/v1/dossiers/{dossier.code}", headers=token("congdan")).get_json()["fee_amount"] == 24000
    login(client, "congdan")
    receipt = lxml.html.fromstring(client.get(f"/ho-so/{dossier.code}/bien-nhan").data)
    fee = receipt.get_element_by_id("fee").text_content()
    assert "24.000 đ" in fee and "3 bản × 8.000 đ" in fee


def test_the_payment_never_charges_what_the_fee_rules_did_not_compute(client, db_session, jobs, national):
    deploy(thuong_tru_per_copy(), deployed_by="tests")
    applicant = user("congdan")
    data = with_stored_uploads(start_data("thuong-tru"), applicant) | {"so_ban_sao": 3}
    dossier = submit_dossier("1.004222", data, applicant=applicant, channel=2)
    db_session.commit()
    call = db.session.scalar(select(ServiceCall).where(ServiceCall.dossier_id == dossier.id))
    call.params = {**call.params, "so_tien": 8000}  # as a diagram computing its own amount would have it
    db_session.commit()
    run_jobs(jobs)
    db.session.refresh(call)
    assert call.state == "failed" and call.error_code == "fee_mismatch"
    assert payments.payments_of(dossier) == []


def test_khai_sinh_charges_per_copy_of_the_extract(client, db_session):
    applicant = user("congdan")
    data = with_stored_uploads(start_data("khai-sinh"), applicant) | {"so_ban_sao": 3}
    dossier = submit_dossier("1.001193", data, applicant=applicant, channel=2)
    db_session.commit()
    manifest = dossier.procedure_version.manifest
    assert dossier.fee_amount == fee_total(manifest, 2, data) == 24000
    assert [(line.quantity, line.unit_amount, line.amount) for line in fee_lines(manifest, 2, data)] == [
        (3, 8000, 24000)]
    assert set(snapshot_fees(dossier)) == {24000}
    page = lxml.html.fromstring(client.get("/thu-tuc/1.001193").data).get_element_by_id("fee-rules")
    assert "8.000 đ/bản" in page.text_content()


def test_tiers_and_caps_are_data():
    item = {"field": "/so_trang", "amount": 2000, "tiers": [{"from": 3, "amount": 1000}], "cap": 200000,
            "name": "Phí chứng thực bản sao", "unit": "trang"}
    manifest = {"name": "Chứng thực bản sao", "fee": {"in_person": 0, "per": [item]}}
    assert fee_total(manifest, 1, {"so_trang": 2}) == 4000
    assert fee_total(manifest, 1, {"so_trang": 5}) == 2000 * 2 + 1000 * 3
    assert fee_total(manifest, 1, {"so_trang": 500}) == 200000
    assert fee_total(manifest, 1, {"so_trang": "5"}) == 0  # not what the form's schema admits: nothing asked
    assert describe_fee(manifest, 1) == ["2.000 đ/trang (Phí chứng thực bản sao), từ trang thứ 3: 1.000 đ, "
                                         "tối đa 200.000 đ"]


def test_upload_refuses_fee_rules_the_form_cannot_feed_and_payments_computed_elsewhere():
    def codes(pkg):
        return {(p.code, p.pointer) for p in check_package(pkg).problems}

    assert not {c for c, _ in codes(thuong_tru_per_copy())} & {"fee_field_unknown", "fee_amount_elsewhere"}
    missing = codes(thuong_tru_per_copy(fee={"per": [{**PER_COPY, "field": "/khong_co"}]}))
    assert ("fee_field_unknown", "/fee/per/0/field") in missing
    text_field = codes(thuong_tru_per_copy(fee={"per": [{**PER_COPY, "field": "/noi_de_nghi_dang_ky"}]}))
    assert ("fee_field_not_integer", "/fee/per/0/field") in text_field
    bad_tier = codes(thuong_tru_per_copy(fee={"per": [{**PER_COPY, "tiers": [{"from": 0, "amount": 1}]}]}))
    assert any(code.startswith("manifest_") for code, _ in bad_tier)
    elsewhere = codes(thuong_tru_per_copy(so_tien="thong_tin_ho_so['le_phi'] * 3"))
    assert "fee_amount_elsewhere" in {c for c, _ in elsewhere}

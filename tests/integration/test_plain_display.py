"""What people read is words, not codes: role names, status labels, step titles, one payment event, one
date format, and dossier codes accepted whatever their letter case."""

from __future__ import annotations

import re

import lxml.html
from sqlalchemy import select

from app.dossiers import payments, services
from app.dossiers.services import submit_dossier
from app.extensions import db
from app.models import AuditEvent
from tests.conftest import login, user
from tests.integration.test_payments import on_platform, run_jobs, submit_online
from tests.samples import MOTHER_ID, start_data, with_stored_uploads

DATETIME = r"\d{2}:\d{2} \d{2}/\d{2}/\d{4}"


def khai_sinh(db_session, **changes):
    applicant = user("congdan")
    data = start_data("khai-sinh")
    data.update(changes)
    dossier = submit_dossier("1.001193", with_stored_uploads(data, applicant), applicant=applicant)
    db_session.commit()
    return dossier


def text_of(response) -> str:
    return lxml.html.fromstring(response.data).text_content()


def test_lower_case_dossier_codes_are_found_on_every_path(client, db_session, token):
    dossier = khai_sinh(db_session)
    typed = f"  {dossier.code.lower()} "
    assert services.get_dossier(typed).id == dossier.id
    assert client.get("/tra-cuu", query_string={"ma": typed}).status_code == 200
    assert client.get(f"/api/v1/public/dossiers/{dossier.code.lower()}").get_json()["code"] == dossier.code
    assert client.get(f"/api/v1/dossiers/{dossier.code.lower()}", headers=token("congdan")).status_code == 200
    login(client, "congdan")
    assert client.get(f"/ho-so/{dossier.code.lower()}").status_code == 200


def test_roles_and_statuses_are_shown_by_name(client, db_session):
    dossier = khai_sinh(db_session)
    login(client, "tiepnhan")
    inbox = text_of(client.get("/can-bo/"))
    assert "tiep_nhan" not in inbox and "Tiếp nhận hồ sơ" in inbox
    page = lxml.html.fromstring(client.get(f"/ho-so/{dossier.code}").data)
    assert page.get_element_by_id("status").text_content().strip() == "Mới đăng ký"


def test_the_citizen_sees_no_internal_steps_and_officers_no_operation_ids(client, db_session, jobs, national):
    dossier = khai_sinh(db_session, me={**start_data("khai-sinh")["me"], "so_dinh_danh": MOTHER_ID})
    run_jobs(jobs)
    actions = [e.action for e in services.history(dossier)]
    assert "service_done" in actions  # the mother was looked up in the population database
    login(client, "congdan")
    page = client.get(f"/ho-so/{dossier.code}")
    history = lxml.html.fromstring(page.data).get_element_by_id("history").text_content()
    assert "population." not in history and "Tra cứu" not in history
    assert not re.search(r"[a-z]+\.[a-z_]+_[a-z_]+", history)
    client.post("/dang-xuat")
    login(client, "tiepnhan")
    officer = lxml.html.fromstring(client.get(f"/ho-so/{dossier.code}").data).get_element_by_id("history")
    assert "population.lookup_citizen" not in officer.text_content()
    assert any(row.get("class") == "event-service_done" for row in officer.iter("tr"))


def test_one_payment_is_one_history_row(client, db_session, jobs, national, sandbox):
    dossier = submit_online(db_session, jobs)
    [payment] = payments.payments_of(dossier)
    login(client, "congdan")
    client.get(on_platform(sandbox, payment))
    run_jobs(jobs)
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.dossier_id == dossier.id)).all()
    paid = [e for e in events if e.action == "payment_paid"
            or (e.action == "service_done" and e.task_title == "Nộp lệ phí trực tuyến")]
    assert [e.action for e in paid] == ["payment_paid"]
    assert "10.000 đ" in paid[0].note_text and "payment.collect" not in paid[0].note_text
    history = lxml.html.fromstring(client.get(f"/ho-so/{dossier.code}").data).get_element_by_id("history")
    assert len([row for row in history.iter("tr") if "Đã thanh toán" in row.text_content()]) == 1


def test_one_date_format_on_every_page(client, db_session):
    dossier = khai_sinh(db_session)
    lookup = lxml.html.fromstring(client.get("/tra-cuu", query_string={"ma": dossier.code}).data)
    assert re.fullmatch(DATETIME, lookup.get_element_by_id("public-due").text_content().strip())
    login(client, "congdan")
    for path in (f"/ho-so/{dossier.code}", f"/ho-so/{dossier.code}/bien-nhan", "/ho-so-cua-toi"):
        body = text_of(client.get(path))
        assert not re.search(r"\d{4}-\d{2}-\d{2}", body), path
        assert not re.search(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", body), path  # date before time: the other order
        assert re.search(DATETIME, body), path
    # Dates the citizen typed (date of birth) read as dd/mm/yyyy too.
    assert "12/05/1990" in text_of(client.get(f"/ho-so/{dossier.code}"))


def test_form_values_use_the_same_formats(app):
    from app.eforms.render import render_values

    schema = {"type": "object", "properties": {"luc": {"type": "string", "format": "date-time", "title": "Lúc"},
                                               "ngay": {"type": "string", "format": "date", "title": "Ngày"}}}
    with app.test_request_context():
        html = str(render_values(schema, None, {"luc": "2026-11-16T08:36:00Z", "ngay": "2026-11-16"}))
    assert "15:36 16/11/2026" in html and "16/11/2026" in html


def test_the_api_gives_the_applicant_the_same_history_as_the_page(client, db_session, jobs, national, token):
    dossier = khai_sinh(db_session, me={**start_data("khai-sinh")["me"], "so_dinh_danh": MOTHER_ID})
    run_jobs(jobs)

    def actions(username):
        body = client.get(f"/api/v1/dossiers/{dossier.code}", headers=token(username)).get_json()
        return {e["action"] for e in body["history"]}

    assert "service_done" not in actions("congdan") and "submitted" in actions("congdan")
    assert "service_done" in actions("tiepnhan")

"""Status-change email and SMS take the applicant to the dossier: a link to its public status page, and the
SMS stays one 160-unit GSM-7 message whatever the status and the platform's address."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import gsm0338  # noqa: F401 - registers the "gsm03.38" codec
import pytest
import requests

from app.dossiers.services import submit_dossier
from app.jobs.tasks import sms_text, status_link
from app.models.dossier import STATUSES
from connectors import build_registry
from tests.conftest import user
from tests.integration.test_notify import mailbox  # noqa: F401 - the SMTP sink fixture
from tests.samples import start_data, with_stored_uploads

LONG_PUBLIC_URL = "https://dichvucong.ubnd-xa-dong-hung.hungyen.gov.vn/cong-dich-vu-cong"


def submit(db_session):
    applicant = user("congdan")
    dossier = submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), applicant), applicant=applicant)
    db_session.commit()
    return dossier


def test_the_email_links_to_the_dossier_status_page(client, db_session, jobs, mailbox):  # noqa: F811
    box, _ = mailbox
    dossier = submit(db_session)
    jobs.run_all()
    [mail] = box.read()
    [link] = re.findall(r"https?://\S+", mail["body"])
    assert link == f"http://127.0.0.1:5000/tra-cuu?ma={dossier.code}"
    page = client.get(f"{urlsplit(link).path}?{urlsplit(link).query}")
    assert page.status_code == 200 and dossier.code in page.get_data(as_text=True)
    assert re.search(r"\b17:00 \d{2}/\d{2}/\d{4}\b", mail["body"])  # the appointment, as pages write it


def test_the_sms_links_to_the_dossier_in_one_gsm7_message(app, client, db_session, jobs, monkeypatch, sandbox):
    requests.delete(f"{sandbox}/_sms", timeout=5)
    monkeypatch.setitem(app.extensions, "motcua_connectors",
                        build_registry({"SMS_URL": sandbox, "SMS_TOKEN": "sandbox-test-token"}))
    monkeypatch.setitem(app.config, "PUBLIC_URL", LONG_PUBLIC_URL)
    dossier = submit(db_session)
    jobs.run_all()
    [sms] = requests.get(f"{sandbox}/_sms", timeout=5).json()["messages"]
    assert f"{LONG_PUBLIC_URL}/tra-cuu?ma={dossier.code}" in sms["noi_dung"]
    assert (sms["so_phan_doan"], sms["ma_hoa"]) == (1, "GSM-7")


@pytest.mark.parametrize("status", sorted(STATUSES))
def test_every_status_fits_one_sms_with_its_link(app, status):
    code = "000.00.01.H26-261116-0001"
    with app.test_request_context():
        app.config["PUBLIC_URL"], saved = LONG_PUBLIC_URL, app.config["PUBLIC_URL"]
        try:
            link = status_link(code)
        finally:
            app.config["PUBLIC_URL"] = saved
    text = sms_text(code, STATUSES[status], link)
    assert link in text and len(text.encode("gsm03.38")) <= 160  # the link carries the code

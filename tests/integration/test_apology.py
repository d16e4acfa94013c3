"""The apology letter (Phiếu xin lỗi và hẹn lại ngày trả kết quả) from the desk, on a procedure whose diagram models
none of it: the web inbox and the API, the document issued, the applicant told by email and SMS through the demo
services, the new date on the public look-up, the statutory date kept for lateness; and the refusals."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import select

from app.dossiers import desk, services
from app.dossiers.calendar import QUA_HAN, classify_finished
from app.dossiers.deadlines import calendar_for
from app.extensions import db
from app.models import AuditEvent, Dossier, IssuedDocument, Notification
from connectors import build_registry
from sandbox.smtp import Mailbox, start_smtp_sink
from tests.conftest import login, user
from tests.integration.test_watch import at_signing

VN = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture()
def messaging(app: Any, monkeypatch: pytest.MonkeyPatch, sandbox: str) -> Iterator[tuple[Mailbox, str]]:
    """Email through the demo SMTP sink and SMS through the demo gateway."""
    controller, box = start_smtp_sink()
    for hook in ("_faults", "_sms"):
        requests.delete(f"{sandbox}/{hook}", timeout=5)
    registry = build_registry({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": controller.port,
                               "MAIL_SENDER": "motcua@example.vn", "CONNECTOR_TIMEOUT": 2, "CONNECTOR_ATTEMPTS": 1,
                               "SMS_URL": sandbox, "SMS_TOKEN": "sandbox-test-token"})
    monkeypatch.setitem(app.extensions, "motcua_connectors", registry)
    yield box, sandbox
    controller.stop()


def _late(db_session: Any) -> Dossier:
    """A dossier at its signing step, held by the leader, past its appointment."""
    dossier, signing = at_signing()
    services.claim_task(signing.id, user("chutich"))
    dossier.due_at = datetime.now(VN) - timedelta(hours=3)
    db_session.commit()
    return dossier


def _working_day(dossier: Dossier, after: int) -> date:
    return calendar_for(dossier.agency).add_working_days(date.today(), after)


def _flash(page: str) -> str:
    found = re.search(r'<p class="flash[^"]*" role="status">([^<]*)</p>', page)
    return found.group(1) if found else ""


def test_apology_from_the_inbox_and_the_api_moves_the_appointment_and_tells_the_applicant(
        client, db_session, jobs, messaging, token):
    box, sandbox = messaging
    dossier = _late(db_session)
    statutory = dossier.due_at
    jobs.jobs.clear()

    login(client, "chutich")
    page = client.get(f"/can-bo/ho-so/{dossier.code}").get_data(as_text=True)
    assert 'id="apology-form"' in page and 'id="dossier-late"' in page
    new_day = _working_day(dossier, 3)
    done = client.post(f"/can-bo/ho-so/{dossier.code}/xin-loi",
                       data={"ngay_hen_moi": new_day.isoformat(), "ly_do": "Chờ xác minh của bệnh viện."},
                       follow_redirects=True)
    assert "Đã gửi phiếu xin lỗi" in _flash(done.get_data(as_text=True))
    db.session.refresh(dossier)
    new_at = datetime(new_day.year, new_day.month, new_day.day, 17, 0, tzinfo=VN)
    assert dossier.appointment_at == new_at and dossier.appointment == new_at
    assert dossier.due_at == statutory  # the statutory deadline lateness is judged by does not move
    [entry] = db.session.scalars(select(AuditEvent).where(AuditEvent.dossier_id == dossier.id,
                                                          AuditEvent.action == "apology"))
    assert "Chờ xác minh của bệnh viện." in entry.note_text and new_day.strftime("%d/%m/%Y") in entry.note_text
    [letter] = db.session.scalars(select(IssuedDocument).where(IssuedDocument.dossier_id == dossier.id,
                                                               IssuedDocument.kind == "apology"))
    assert letter.number == "01/PXL" and letter.content["reason"] == "Chờ xác minh của bệnh viện."
    assert datetime.fromisoformat(letter.content["new_due"]) == new_at
    assert datetime.fromisoformat(letter.content["old_due"]) == statutory
    shown = client.get(f"/can-bo/ho-so/{dossier.code}").get_data(as_text=True)
    assert 'id="apologies"' in shown and 'id="statutory-due"' in shown

    # The applicant: by email and by SMS, once each.
    notify = [j for j in jobs.jobs if j.func.endswith("watch.notify_apology")]
    assert len(notify) == 1
    jobs.run_all()
    mails = [m for m in box.read() if "Hẹn lại ngày trả kết quả" in m["subject"]]
    assert len(mails) == 1 and mails[0]["to"] == ["an.nguyen@example.vn"]
    assert "Chờ xác minh của bệnh viện." in mails[0]["body"] and new_day.strftime("%d/%m/%Y") in mails[0]["body"]
    texts = [m for m in requests.get(f"{sandbox}/_sms", timeout=5).json()["messages"]
             if "Hen lai ngay tra ket qua" in m["noi_dung"]]
    assert len(texts) == 1 and texts[0]["so_dien_thoai"] == "0912345678"
    assert new_day.strftime("%d/%m/%Y") in texts[0]["noi_dung"] and dossier.code in texts[0]["noi_dung"]
    note = db.session.scalar(select(Notification).where(Notification.audit_event_id == entry.id))
    assert note.sent_at is not None and note.sms_sent_at is not None
    db.session.refresh(entry)
    assert entry.notified_at is not None  # the sweeper owes it nothing more

    # The new date on the public look-up and the applicant's page.
    client.post("/dang-xuat")
    public = client.get(f"/tra-cuu?ma={dossier.code}").get_data(as_text=True)
    assert re.search(r'id="public-due">[^<]*' + re.escape(new_day.strftime("%d/%m/%Y")), public), public[-2000:]

    # The head's list: overdue by the statutory date, and apologised for.
    login(client, "truongphong")
    head = client.get("/can-bo/phong").get_data(as_text=True)
    row = re.search(rf'<tr data-dossier="{re.escape(dossier.code)}">.*?</tr>', head, re.S)
    assert row is not None and "data-no-apology" not in row.group(0) and "Đã gửi 1 lần" in row.group(0)
    client.post("/dang-xuat")

    # A second apology, over the API: recorded too, the appointment moved again.
    later = _working_day(dossier, 6)
    answer = client.post(f"/api/v1/dossiers/{dossier.code}/apology",
                         json={"ly_do": "Hệ thống của bệnh viện gián đoạn.", "ngay_hen_moi": later.isoformat()},
                         headers={**token("chutich"), "Idempotency-Key": f'"{uuid.uuid4()}"'})
    assert answer.status_code == 201, answer.get_json()
    out = answer.get_json()
    assert datetime.fromisoformat(out["old_due_at"]) == new_at
    assert datetime.fromisoformat(out["dossier"]["due_at"]).date() == later
    assert datetime.fromisoformat(out["new_due_at"]).date() == later
    letters = list(db.session.scalars(select(IssuedDocument.sequence).where(
        IssuedDocument.dossier_id == dossier.id, IssuedDocument.kind == "apology").order_by(IssuedDocument.sequence)))
    assert letters == [1, 2]
    assert db.session.scalar(select(db.func.count()).select_from(AuditEvent).where(
        AuditEvent.dossier_id == dossier.id, AuditEvent.action == "apology")) == 2
    # Statistics still judge it against the statutory date: finished on the promised day, it was late.
    db.session.refresh(dossier)
    assert dossier.due_at == statutory and classify_finished(dossier.due_at, new_at) == QUA_HAN


def test_refusals_are_clear_and_localized(client, db_session, token):
    dossier = _late(db_session)
    code = dossier.code
    old_day = dossier.due_at.astimezone(VN).date()
    good = _working_day(dossier, 3)

    def ask(who: str, body: dict[str, Any]) -> Any:
        return client.post(f"/api/v1/dossiers/{code}/apology", json=body, headers=token(who))

    body = {"ly_do": "Chờ xác minh.", "ngay_hen_moi": good.isoformat()}
    # Not the holder: an officer of the agency whose role holds no step of it, the applicant.
    for who in ("tiepnhan", "congdan"):
        refused = ask(who, body)
        assert refused.status_code == 403, refused.get_json()
        assert refused.get_json()["error"]["code"] == "desk_forbidden"
    # A new date not after the current appointment.
    same = ask("chutich", {**body, "ngay_hen_moi": old_day.isoformat()})
    assert same.status_code == 422 and same.get_json()["error"]["code"] == "new_date_not_later"
    assert "Ngày hẹn mới phải sau ngày hẹn hiện tại" in same.get_json()["error"]["message"]
    assert "/ngay_hen_moi" in same.get_json()["error"]["details"]
    sunday = good + timedelta(days=(6 - good.weekday()) % 7 or 7)
    off = ask("chutich", {**body, "ngay_hen_moi": sunday.isoformat()})
    assert off.status_code == 422 and off.get_json()["error"]["code"] == "new_date_day_off"
    no_reason = ask("chutich", {**body, "ly_do": "  "})
    assert no_reason.status_code == 422 and no_reason.get_json()["error"]["code"] == "reason_missing"
    # In English for a reader who asks for it (the message, translated where the catalogue has it).
    english = client.post(f"/api/v1/dossiers/{code}/apology", json={**body, "ngay_hen_moi": old_day.isoformat()},
                          headers={**token("chutich"), "Accept-Language": "en"})
    assert english.status_code == 422 and english.get_json()["error"]["message"]
    # The web form says the same, and nothing changed.
    login(client, "chutich")
    page = client.post(f"/can-bo/ho-so/{code}/xin-loi", data={"ngay_hen_moi": old_day.isoformat(), "ly_do": "x"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Ngày hẹn mới phải sau ngày hẹn hiện tại" in page
    missing = client.post(f"/can-bo/ho-so/{code}/xin-loi", data={"ngay_hen_moi": "", "ly_do": "x"},
                          follow_redirects=True).get_data(as_text=True)
    assert "Vui lòng chọn ngày hẹn trả kết quả mới." in missing
    client.post("/dang-xuat")
    db.session.refresh(dossier)
    assert dossier.appointment_at is None
    # A final dossier: refused, nothing more to promise.
    desk.refuse(code, user("chutich"), "Hồ sơ giả mạo.")
    db_session.commit()
    final = ask("chutich", body)
    assert final.status_code == 409 and final.get_json()["error"]["code"] == "status_conflict"
    assert db.session.scalar(select(db.func.count()).select_from(AuditEvent).where(
        AuditEvent.dossier_id == dossier.id, AuditEvent.action == "apology")) == 0

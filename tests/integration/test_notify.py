"""Status notifications reach the applicant by email over real SMTP (the demo SMTP sink), exactly once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Notification
from connectors import build_registry
from sandbox.smtp import Mailbox, start_smtp_sink
from tests.conftest import user
from tests.samples import start_data, with_stored_uploads


@pytest.fixture()
def mailbox(app, monkeypatch) -> Iterator[tuple[Mailbox, int]]:
    controller, box = start_smtp_sink()
    registry = build_registry({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": controller.port,
                               "MAIL_SENDER": "motcua@example.vn", "CONNECTOR_TIMEOUT": 2})
    monkeypatch.setitem(app.extensions, "motcua_connectors", registry)
    yield box, controller.port
    controller.stop()


def test_status_change_is_emailed_once(client, db_session, jobs, mailbox):
    from app.dossiers.services import submit_dossier

    box, _ = mailbox
    applicant = user("congdan")
    dossier = submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), applicant), applicant=applicant)
    db_session.commit()
    [job] = jobs.jobs
    jobs.run_all()
    [mail] = box.read()
    assert mail["to"] == ["an.nguyen@example.vn"] and dossier.code in mail["subject"]
    assert "Mới đăng ký" in mail["subject"] and dossier.code in mail["body"]
    note = db.session.scalar(select(Notification).where(Notification.dossier_id == dossier.id))
    assert note.sent_at is not None
    # The same job again (a duplicated delivery from the queue) sends nothing more.
    jobs.jobs.append(job)
    jobs.run_all()
    assert len(box.read()) == 1


def test_mail_server_down_is_transient_and_retried_later(client, db_session, jobs, app, monkeypatch):
    from app.dossiers.services import submit_dossier

    registry = build_registry({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": 1, "CONNECTOR_TIMEOUT": 1})
    monkeypatch.setitem(app.extensions, "motcua_connectors", registry)
    applicant = user("congdan")
    dossier = submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), applicant), applicant=applicant)
    db_session.commit()
    jobs.run_all()
    note = db.session.scalar(select(Notification).where(Notification.dossier_id == dossier.id))
    assert note is not None and note.sent_at is None  # kept, shown on the page, sent when retried
    # The retry is kept with the notification (the sweeper finds it if its job is lost) and queued for then.
    assert note.attempts == 1 and note.next_attempt_at is not None
    [retry] = jobs.jobs
    assert retry.job_id == f"notify-{dossier.id}-{note.audit_event_id}-r1" and retry.delay == 10
    assert db.session.get(AuditEvent, note.audit_event_id).notified_at is None  # still owed


def test_status_change_is_texted_once_even_if_the_gateway_fails_first(client, db_session, jobs, app, monkeypatch,
                                                                     sandbox):
    import requests

    from app.dossiers.services import submit_dossier
    from app.jobs.queue import _resolve

    requests.delete(f"{sandbox}/_sms", timeout=5)
    registry = build_registry({"SMS_URL": sandbox, "SMS_TOKEN": "sandbox-test-token", "CONNECTOR_ATTEMPTS": 1,
                               "CONNECTOR_TIMEOUT": 2})
    monkeypatch.setitem(app.extensions, "motcua_connectors", registry)
    requests.post(f"{sandbox}/_faults", json={"path_prefix": "/sms", "mode": "error", "status": 503, "count": 1},
                  timeout=5)
    applicant = user("congdan")
    dossier = submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), applicant), applicant=applicant)
    db_session.commit()
    [job] = jobs.jobs
    jobs.run_all()  # the gateway is down: a retry is kept and queued for later
    assert [j.job_id for j in jobs.jobs] == [f"{job.job_id}-r1"]
    assert requests.get(f"{sandbox}/_sms", timeout=5).json()["messages"] == []
    _resolve(job.func)(*job.args)  # the retry
    _resolve(job.func)(*job.args)  # and a duplicate of it
    [sms] = requests.get(f"{sandbox}/_sms", timeout=5).json()["messages"]
    assert sms["so_dien_thoai"] == "0912345678"
    assert dossier.code in sms["noi_dung"] and "Moi dang ky" in sms["noi_dung"] and sms["so_phan_doan"] == 1
    note = db.session.scalar(select(Notification).where(Notification.dossier_id == dossier.id))
    assert note.sms_sent_at is not None
    requests.delete(f"{sandbox}/_faults", timeout=5)

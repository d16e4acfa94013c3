"""An engine error after a person's valid step: their work is kept, operators see an incident and retry it.

A gateway condition reading data nobody provides froze a dossier with a 422 to the officer and no
incident. Here the khai sinh diagram is deployed with such a condition after reception.
"""

from __future__ import annotations

from pathlib import Path

import lxml.html
import pytest
from sqlalchemy import select

from app.dossiers.services import submit_dossier
from app.extensions import db
from app.jobs.service_calls import finish_call
from app.models import AuditEvent, Dossier, HumanTask, PortalOutbox, ServiceCall, User, WorkflowInstance
from app.models.integration import WorkflowIncident
from app.procedures.deploy import deploy
from app.procedures.package import load_directory
from tests.conftest import login, user
from tests.samples import MOTHER_ID, form_fields, start_data, task_data, with_stored_uploads

ROOT = Path(__file__).resolve().parents[2]
BROKEN = "du_lieu['quyet_dinh_khac'] == \"tu_choi\""


@pytest.fixture()
def broken_version(db_session):
    """Khai sinh whose reception gateway reads a field no form defines (the checker cannot see into du_lieu)."""
    pkg = load_directory(ROOT / "bpmn" / "khai-sinh")
    name = next(n for n in pkg.bpmn if n.endswith("process.bpmn"))
    text = pkg.bpmn[name].decode()
    pkg.bpmn[name] = text.replace('quyet_dinh_tiep_nhan == "tu_choi"', BROKEN.replace('"', "&quot;")).encode()
    assert pkg.bpmn[name].decode() != text
    deploy(pkg, deployed_by="tests")
    db_session.commit()


def _submitted(db_session) -> Dossier:
    dossier = submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), user("congdan")),
                             applicant=user("congdan"))
    db_session.commit()
    return dossier


def _reception(dossier: Dossier) -> HumanTask:
    return db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id,
                                                     HumanTask.state == "ready"))


def _open_incidents(dossier: Dossier) -> list[WorkflowIncident]:
    return list(db.session.scalars(select(WorkflowIncident).where(WorkflowIncident.dossier_id == dossier.id,
                                                                  WorkflowIncident.state == "open")))


def test_api_completion_keeps_the_step_records_an_incident_and_a_retry_moves_on(
        client, db_session, token, broken_version):
    dossier = _submitted(db_session)
    task = _reception(dossier)
    headers = token("tiepnhan")
    response = client.post(f"/api/v1/tasks/{task.id}/complete", headers=headers,
                           json=task_data("khai-sinh", task.form))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["task"]["state"] == "completed"
    assert "đã được lưu" in body["workflow_error"] and "quyet_dinh_khac" in body["workflow_error"]

    db.session.expire_all()
    assert db.session.get(HumanTask, task.id).state == "completed"
    assert db.session.get(HumanTask, task.id).data["quyet_dinh_tiep_nhan"] == "tiep_nhan"
    reloaded = db.session.get(Dossier, dossier.id)
    assert reloaded.status == 2 and reloaded.status != 10  # received; never reported finished
    assert db.session.scalar(select(WorkflowInstance.completed).where(WorkflowInstance.dossier_id == dossier.id)) \
        is False
    [incident] = _open_incidents(dossier)
    assert incident.code == "expression_unknown_field" and incident.task_title == "Tiếp nhận hồ sơ?"
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.dossier_id == dossier.id,
                                                         AuditEvent.action == "incident")) is not None

    listed = client.get("/api/v1/incidents", headers=headers).get_json()["workflow"]
    assert [(i["id"], i["dossier_code"], i["code"]) for i in listed] == [
        (incident.id, dossier.code, "expression_unknown_field")]

    # Retried as it is, it fails again and stays open; with the missing value supplied, the dossier moves on.
    again = client.post(f"/api/v1/workflow-incidents/{incident.id}/retry", headers=headers)
    assert again.status_code == 200 and again.get_json()["state"] == "open" and again.get_json()["attempts"] == 2
    fixed = client.post(f"/api/v1/workflow-incidents/{incident.id}/retry", headers=headers,
                        json={"du_lieu": {"quyet_dinh_khac": "tiep_nhan"}})
    assert fixed.status_code == 200 and fixed.get_json()["state"] == "resolved"
    db.session.expire_all()
    assert _open_incidents(dossier) == []
    assert [t.title for t in db.session.scalars(select(HumanTask).where(
        HumanTask.dossier_id == dossier.id, HumanTask.state == "ready"))] == ["Thẩm định, ghi sổ hộ tịch"]
    assert client.post(f"/api/v1/workflow-incidents/{incident.id}/retry", headers=headers).status_code == 409


def test_web_completion_tells_the_officer_and_the_incidents_page_retries(client, db_session, broken_version):
    dossier = _submitted(db_session)
    task = _reception(dossier)
    login(client, "tiepnhan")
    form = form_fields(task_data("khai-sinh", task.form))
    form["__submit__"] = "1"
    response = client.post(f"/cong-viec/{task.id}", data=form, follow_redirects=True)
    assert response.status_code == 200
    text = lxml.html.fromstring(response.data).text_content()
    assert "đã được lưu" in text and "người vận hành" in text
    db.session.expire_all()
    assert db.session.get(HumanTask, task.id).state == "completed"
    [incident] = _open_incidents(dossier)

    incidents_page = lxml.html.fromstring(client.get("/can-bo/su-co").data)
    row = incidents_page.get_element_by_id(f"workflow-incident-{incident.id}")
    assert dossier.code in row.text_content() and "expression_unknown_field" in row.text_content()
    retried = client.post(f"/can-bo/su-co/quy-trinh/{incident.id}/thu-lai", follow_redirects=True)
    assert retried.status_code == 200
    assert "vẫn gặp lỗi" in lxml.html.fromstring(retried.data).text_content()
    db.session.expire_all()
    assert db.session.get(WorkflowIncident, incident.id).attempts == 2


def test_a_dossier_that_loops_too_long_becomes_an_incident_not_a_finished_dossier(
        client, db_session, token, monkeypatch):
    """The leader returns the dossier again and again; the guard stops it before a false completion."""
    from app.engine import runtime

    monkeypatch.setattr(runtime, "MAX_TASK_DEPTH", 24)  # a few rounds instead of a hundred
    dossier = _submitted(db_session)
    rounds = 0
    while rounds < 20:
        db.session.expire_all()
        task = _reception(dossier)
        if task is None:
            break
        data = task_data("khai-sinh", task.form)
        if task.form == "ky-duyet.schema.json":
            data["phe_duyet"] = False  # returned to the assessment step
        who = {"tiep-nhan.schema.json": "tiepnhan", "tham-dinh.schema.json": "hotich",
               "ky-duyet.schema.json": "chutich"}[task.form]
        response = client.post(f"/api/v1/tasks/{task.id}/complete", headers=token(who), json=data)
        assert response.status_code == 200, response.get_json()
        rounds += 1
    assert 3 < rounds < 20
    db.session.expire_all()
    [incident] = _open_incidents(dossier)
    assert incident.code == "workflow_loop_limit"
    assert db.session.get(Dossier, dossier.id).status != 10
    assert _reception(dossier) is None  # nothing more is offered while it is stopped


def test_an_answer_handed_back_is_kept_when_the_workflow_then_fails(db_session):
    """The mother's look-up answers; the next gateway reads a field nobody provides. The answer is kept (the
    call is done, never called again) and the gateway's failure is a workflow incident."""
    pkg = load_directory(ROOT / "bpmn" / "khai-sinh")
    name = next(n for n in pkg.bpmn if n.endswith("process.bpmn"))
    text = pkg.bpmn[name].decode()
    condition = "'cha' in du_lieu and 'so_dinh_danh' in cha and cha['so_dinh_danh']"
    assert condition in text
    pkg.bpmn[name] = text.replace(condition, "du_lieu['cha_khac']").encode()
    deploy(pkg, deployed_by="tests")
    data = with_stored_uploads(start_data("khai-sinh"), user("congdan"))
    data["me"]["so_dinh_danh"] = MOTHER_ID
    dossier = submit_dossier("1.001193", data, applicant=user("congdan"))
    db_session.commit()
    call = db.session.scalar(select(ServiceCall).where(ServiceCall.dossier_id == dossier.id))

    assert finish_call(call.id, {"tim_thay": True, "khop": True}) == "done"
    db.session.expire_all()
    assert db.session.get(ServiceCall, call.id).state == "done"
    [incident] = _open_incidents(dossier)
    assert incident.code == "expression_unknown_field" and incident.task_title == "Có số định danh người cha?"
    document = db.session.scalar(select(WorkflowInstance.document).where(WorkflowInstance.dossier_id == dossier.id))
    assert "tra_cuu_me" in str(document)


# ---------------------------------------------------------------- incidents are scoped to the agency


def _failed_call(dossier: Dossier) -> ServiceCall:
    call = ServiceCall(dossier_id=dossier.id, engine_task_id="00000000-0000-0000-0000-000000000001",
                       spec_name="Task_TraCuuMe", title="Tra cứu người mẹ", operation="population.lookup_citizen",
                       params={}, result_variable="tra_cuu_me", state="failed", attempts=3, rounds=1,
                       error_code="timeout", error_message="Hết thời gian chờ.")
    db.session.add(call)
    db.session.flush()
    return call


def _admin(db_session) -> User:
    admin = User(username="quantri.test", full_name="Quản Trị", roles=["quan_tri"], agency_id=None)
    db.session.add(admin)
    db_session.commit()
    return admin


def _refused_sync(dossier: Dossier) -> None:
    row = db.session.scalar(select(PortalOutbox).where(PortalOutbox.dossier_id == dossier.id,
                                                       PortalOutbox.sent_at.is_(None)).order_by(PortalOutbox.id))
    row.last_error, row.next_attempt_at, row.attempts = "Cổng từ chối: thiếu trường.", None, 1


def test_incidents_are_scoped_to_the_agency_over_the_api(client, db_session, token, broken_version):
    dossier = _submitted(db_session)
    task = _reception(dossier)
    client.post(f"/api/v1/tasks/{task.id}/complete", headers=token("tiepnhan"), json=task_data("khai-sinh", task.form))
    call = _failed_call(dossier)
    _refused_sync(dossier)
    db_session.commit()
    [incident] = _open_incidents(dossier)

    for outsider in ("thietke", "ca.tiepnhan"):  # a designer without an agency; an officer of another agency
        headers = token(outsider)
        listed = client.get("/api/v1/incidents", headers=headers).get_json()
        assert listed["items"] == [] and listed["workflow"] == [] and listed["portal_sync"] == [], outsider
        assert client.post(f"/api/v1/incidents/{call.id}/retry", headers=headers).status_code == 404
        assert client.post(f"/api/v1/workflow-incidents/{incident.id}/retry", headers=headers).status_code == 404
        resend = client.post(f"/api/v1/dossiers/{dossier.code}/portal-sync/resend", headers=headers)
        assert resend.status_code == 404
    db.session.expire_all()
    assert db.session.get(ServiceCall, call.id).rounds == 1
    assert db.session.get(WorkflowIncident, incident.id).attempts == 1

    own = client.get("/api/v1/incidents", headers=token("tiepnhan")).get_json()
    assert [c["id"] for c in own["items"]] == [call.id] and [w["id"] for w in own["workflow"]] == [incident.id]
    assert [s["dossier_code"] for s in own["portal_sync"]] == [dossier.code]
    _admin(db_session)
    admin = client.get("/api/v1/incidents", headers=token("quantri.test")).get_json()
    assert call.id in [c["id"] for c in admin["items"]] and incident.id in [w["id"] for w in admin["workflow"]]


def test_incidents_are_scoped_to_the_agency_on_the_web(client, db_session, token, broken_version):
    dossier = _submitted(db_session)
    task = _reception(dossier)
    client.post(f"/api/v1/tasks/{task.id}/complete", headers=token("tiepnhan"), json=task_data("khai-sinh", task.form))
    call = _failed_call(dossier)
    db_session.commit()
    [incident] = _open_incidents(dossier)

    _refused_sync(dossier)
    db_session.commit()

    login(client, "thietke")
    page = client.get("/can-bo/su-co").get_data(as_text=True)
    assert dossier.code not in page
    assert client.post(f"/can-bo/su-co/{call.id}/thu-lai").status_code == 404
    assert client.post(f"/can-bo/su-co/quy-trinh/{incident.id}/thu-lai").status_code == 404
    assert client.post(f"/can-bo/su-co/dong-bo/{dossier.id}/gui-lai").status_code == 404
    client.post("/dang-xuat")
    login(client, "tiepnhan")
    page = client.get("/can-bo/su-co").get_data(as_text=True)
    assert f'id="incident-{call.id}"' in page and f"workflow-incident-{incident.id}" in page
    assert f'id="sync-{dossier.id}"' in page

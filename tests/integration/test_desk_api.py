"""The desk over the JSON API: each action with bearer tokens and Idempotency-Key, answers checked against their
documented models (API_CHECK_RESPONSES)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from app.extensions import db
from app.models import AuditEvent, Dossier, User
from tests.conftest import user
from tests.samples import PDF_BYTES, client_uploader, start_data, task_data, with_uploads


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f'"{uuid.uuid4()}"'}


def _submit(client, headers) -> str:
    data = with_uploads(client_uploader(client), headers, start_data("khai-sinh"))
    created = client.post("/api/v1/procedures/1.001193/dossiers", json=data, headers=headers)
    assert created.status_code == 201, created.get_json()
    return created.get_json()["code"]


def _task(client, headers, code):
    return next(t for t in client.get("/api/v1/tasks", headers=headers).get_json()["items"]
                if t["dossier_code"] == code)


def _complete(client, headers, code):
    task = _task(client, headers, code)
    done = client.post(f"/api/v1/tasks/{task['id']}/complete", json=task_data("khai-sinh", task["form"]),
                       headers=headers)
    assert done.status_code == 200, done.get_json()


def _at_signing(client, token) -> tuple[str, dict[str, str]]:
    code = _submit(client, token("congdan"))
    _complete(client, token("tiepnhan"), code)
    _complete(client, token("hotich"), code)
    return code, token("chutich")


def test_supplement_requested_uploaded_by_the_applicant_and_the_dossier_resumes(client, token):
    code, leader = _at_signing(client, token)
    citizen = token("congdan")
    task = _task(client, leader, code)
    assert task["legal_time"] in ("trong_han", "sap_het_han", "qua_han")
    body = {"ly_do": "Giấy chứng sinh bị mờ.", "thanh_phan": [{"code": "GCS"}, {"name": "Giấy xác nhận"}],
            "han_bo_sung": (date.today() + timedelta(days=10)).isoformat()}
    key = _key()
    asked = client.post(f"/api/v1/dossiers/{code}/supplement-requests", json=body, headers={**leader, **key})
    assert asked.status_code == 201, asked.get_json()
    again = client.post(f"/api/v1/dossiers/{code}/supplement-requests", json=body, headers={**leader, **key})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"  # asked once
    seen = client.get(f"/api/v1/dossiers/{code}", headers=citizen).get_json()
    assert seen["status"] == 5 and [s["state"] for s in seen["supplements"]] == ["open"]
    assert seen["supplements"][0]["components"][0]["code"] == "GCS" and seen["tasks"] == []
    # Only the applicant hands it in online; the file is uploaded first, as for a form.
    upload = client.post("/api/v1/attachments", headers=citizen,
                         data={"field": "bo_sung", "file": (__import__("io").BytesIO(PDF_BYTES), "gcs.pdf")})
    reference = upload.get_json()["reference"]
    assert client.post(f"/api/v1/dossiers/{code}/supplement-requests/answer", json={"tep": {"0": reference}},
                       headers=leader).status_code == 403
    answered = client.post(f"/api/v1/dossiers/{code}/supplement-requests/answer", json={"tep": {"0": reference}},
                           headers={**citizen, **_key()})
    assert answered.status_code == 200, answered.get_json()
    out = answered.get_json()
    assert out["dossier"]["status"] == 4 and out["supplement"]["channel"] == "online"
    assert out["supplement"]["received"][0]["reference"] == reference
    assert [t["title"] for t in out["dossier"]["tasks"]] == [task["title"]]


def test_return_with_a_reason_over_the_api(client, token):
    code, leader = _at_signing(client, token)
    task = _task(client, leader, code)
    refused = client.post(f"/api/v1/tasks/{task['id']}/return", json={"ly_do": ""}, headers=leader)
    assert refused.status_code == 422
    back = client.post(f"/api/v1/tasks/{task['id']}/return", json={"ly_do": "Sai ngày sinh."},
                       headers={**leader, **_key()})
    assert back.status_code == 200, back.get_json()
    reopened = back.get_json()["task"]
    assert reopened["role"] == "chuyen_vien" and reopened["state"] == "claimed"
    examiner = token("hotich")
    assert _task(client, examiner, code)["id"] == reopened["id"]
    shown = client.get(f"/api/v1/tasks/{reopened['id']}", headers=examiner).get_json()
    assert shown["returned"]["reason"] == "Sai ngày sinh." and shown["returned"]["task"] == task["title"]
    detail = client.get(f"/api/v1/dossiers/{code}", headers=examiner).get_json()
    assert any(h["action"] == "returned" and h["note"] == "Sai ngày sinh." for h in detail["history"])


def test_refuse_stop_resume_and_withdraw_over_the_api(client, token):
    code = _submit(client, token("congdan"))
    desk_officer = token("tiepnhan")
    assert client.post(f"/api/v1/dossiers/{code}/stop", json={"ly_do": "x"}, headers=desk_officer).status_code == 409
    refused = client.post(f"/api/v1/dossiers/{code}/refuse", json={"ly_do": "Không thuộc thẩm quyền."},
                          headers={**desk_officer, **_key()})
    assert refused.status_code == 200 and refused.get_json()["status"] == 3

    code, leader = _at_signing(client, token)
    stopped = client.post(f"/api/v1/dossiers/{code}/stop", json={"ly_do": "Chờ xác minh."}, headers=leader)
    assert stopped.status_code == 200 and stopped.get_json()["status"] == 8 and stopped.get_json()["tasks"] == []
    resumed = client.post(f"/api/v1/dossiers/{code}/resume", headers=leader)
    assert resumed.status_code == 200 and resumed.get_json()["status"] == 4
    assert client.post(f"/api/v1/dossiers/{code}/withdraw", headers=leader).status_code == 403
    withdrawn = client.post(f"/api/v1/dossiers/{code}/withdraw", json={"ly_do": "Nộp nhầm."},
                            headers=token("congdan"))
    assert withdrawn.status_code == 200 and withdrawn.get_json()["status"] == 7
    dossier = db.session.query(Dossier).filter_by(code=code).one()
    assert db.session.query(AuditEvent).filter_by(dossier_id=dossier.id, status_to=7).one().note == "Nộp nhầm."


def test_a_head_of_department_reassigns_over_the_api(client, token, db_session):
    code = _submit(client, token("congdan"))
    _complete(client, token("tiepnhan"), code)
    model = user("hotich")
    db.session.add_all([User(username="truongphong.api", full_name="Trưởng Phòng", roles=["lanh_dao_phong"],
                             agency_id=model.agency_id),
                        User(username="hotich.api", full_name="Chuyên Viên Hai", roles=["chuyen_vien"],
                             agency_id=model.agency_id)])
    db_session.commit()
    head, other = token("truongphong.api"), user("hotich.api")
    task = _task(client, token("hotich"), code)
    assert client.get("/api/v1/department/load", headers=token("hotich")).status_code == 403
    load = client.get("/api/v1/department/load", headers=head).get_json()
    assert load["waiting"].get("chuyen_vien", 0) >= 1 and any(t["id"] == task["id"] for t in load["tasks"])
    moved = client.post(f"/api/v1/tasks/{task['id']}/reassign", json={"nguoi_nhan": other.id, "ly_do": "Cân đối."},
                        headers={**head, **_key()})
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["task"]["claimed_by"] == other.id
    after = client.get("/api/v1/department/load", headers=head).get_json()
    assert {o["user_id"]: o["claimed"] for o in after["officers"]}[other.id] == 1
    # The filter by remaining legal time.
    soon = client.get("/api/v1/tasks?due=in_time", headers=token("hotich.api")).get_json()
    assert all(t["legal_time"] == "trong_han" for t in soon["items"])

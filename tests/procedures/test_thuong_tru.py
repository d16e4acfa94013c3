"""1.004222 Đăng ký thường trú, end to end: reception, a supplement by the applicant, approval, result."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import Dossier
from tests.samples import client_uploader, pay_fee, start_data, task_data, with_uploads

CODE = "1.004222"


def open_tasks_of(client, headers, code):
    return [t for t in client.get("/api/v1/tasks", headers=headers).get_json()["items"] if t["dossier_code"] == code]


def open_task(client, headers, code):
    tasks = [t for t in client.get("/api/v1/tasks", headers=headers).get_json()["items"] if t["dossier_code"] == code]
    assert len(tasks) == 1, tasks
    return tasks[0]


def complete(client, headers, task, **overrides):
    data = {**task_data("thuong-tru", task["form"]), **overrides}
    response = client.post(f"/api/v1/tasks/{task['id']}/complete", json=data, headers=headers)
    assert response.status_code == 200, response.get_json()
    return client.get(response.get_json()["dossier"]["href"], headers=headers).get_json()  # the whole dossier


def test_supplement_loop_then_result(client, token, jobs, national):
    citizen, reception = token("congdan"), token("ca.tiepnhan")
    specialist, chief = token("ca.cutru"), token("ca.truong")
    data = with_uploads(client_uploader(client), citizen, start_data("thuong-tru"))
    created = client.post(f"/api/v1/procedures/{CODE}/dossiers", json=data, headers=citizen)
    assert created.status_code == 201, created.get_json()
    code = created.get_json()["code"]
    assert code.startswith("000.00.02.H26-")
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    assert dossier.fee_amount == 10000  # online fee, not the 20,000 đ at the desk
    assert open_tasks_of(client, reception, code) == []  # reception comes once the fee is paid
    pay_fee(client, jobs, code)

    complete(client, reception, open_task(client, reception, code))
    state = complete(client, specialist, open_task(client, specialist, code), ket_qua_tham_dinh="bo_sung",
                     noi_dung_bo_sung="Bổ sung hợp đồng thuê nhà có công chứng.")
    assert state["status"] == 5  # supplement requested: the clock stops

    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    assert dossier.paused_at is not None
    due_before = dossier.due_at
    # Pretend the applicant took two working days to answer: the appointment moves by the paused time.
    dossier.paused_at = dossier.paused_at - timedelta(days=2)
    db.session.commit()

    supplement = open_task(client, citizen, code)
    assert supplement["role"] == "cong_dan"
    assert not [t for t in client.get("/api/v1/tasks", headers=specialist).get_json()["items"]
                if t["dossier_code"] == code]
    state = complete(client, citizen, supplement)
    assert state["status"] == 4
    again = client.get(f"/api/v1/tasks/{open_task(client, specialist, code)['id']}", headers=specialist).get_json()
    # The examination is decided afresh: last time's decision and what it asked for are not carried over.
    assert again["previous_data"] == {"ghi_chu": task_data("thuong-tru", "tham-dinh.schema.json")["ghi_chu"]}
    assert again["returned"]["task"] == "Bổ sung hồ sơ" and again["returned"]["outcome"] == "Đã bổ sung"
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    assert dossier.paused_at is None and dossier.due_at > due_before

    complete(client, specialist, open_task(client, specialist, code), ket_qua_tham_dinh="dat")
    state = complete(client, chief, open_task(client, chief, code), dong_y=True)
    assert state["status"] == 9
    state = complete(client, reception, open_task(client, reception, code))
    assert state["status"] == 10
    steps = [h["task"] for h in state["history"] if h["action"] in ("completed", "returned")]
    assert steps.count("Thẩm định hồ sơ") == 2 and "Bổ sung hồ sơ" in steps
    # The supplement sent the dossier back to the examination: the flow's name and the applicant's words.
    [back] = [h for h in state["history"] if h["action"] == "returned"]
    assert (back["task"], back["outcome"], back["note"]) == (
        "Bổ sung hồ sơ", "Đã bổ sung", task_data("thuong-tru", "bo-sung.schema.json")["giai_trinh"])
    assert datetime.fromisoformat(state["returned_at"]) <= datetime.now(UTC) + timedelta(hours=8)


def test_refused_at_intake_and_the_fee_comes_back(client, token, jobs, national):
    citizen, reception = token("congdan"), token("ca.tiepnhan")
    data = with_uploads(client_uploader(client), citizen, start_data("thuong-tru"))
    code = client.post(f"/api/v1/procedures/{CODE}/dossiers", json=data, headers=citizen).get_json()["code"]
    pay_fee(client, jobs, code)
    state = complete(client, reception, open_task(client, reception, code), quyet_dinh_tiep_nhan="tu_choi",
                     ly_do="Nơi đề nghị đăng ký không thuộc địa bàn.")
    assert state["status"] == 3 and state["finished_at"] and state["tasks"] == []
    while jobs.jobs:
        jobs.run_all()
    [payment] = client.get(f"/api/v1/dossiers/{code}", headers=citizen).get_json()["payments"]
    assert (payment["state"], payment["refunded_amount"]) == ("refunded", 10000)
    assert payment["receipt_url"].startswith("/tep/")


def test_chief_disagrees_and_the_examination_comes_back_with_the_reason(client, token, jobs, national):
    citizen, reception = token("congdan"), token("ca.tiepnhan")
    specialist, chief = token("ca.cutru"), token("ca.truong")
    data = with_uploads(client_uploader(client), citizen, start_data("thuong-tru"))
    code = client.post(f"/api/v1/procedures/{CODE}/dossiers", json=data, headers=citizen).get_json()["code"]
    pay_fee(client, jobs, code)
    complete(client, reception, open_task(client, reception, code))
    complete(client, specialist, open_task(client, specialist, code), ghi_chu="Chủ hộ đồng ý cho nhập khẩu.")
    reason = "Chưa có văn bản đồng ý của chủ hộ, đề nghị kiểm tra lại."
    state = complete(client, chief, open_task(client, chief, code), dong_y=False, y_kien=reason)
    [back] = [h for h in state["history"] if h["action"] == "returned"]
    assert (back["task"], back["outcome"], back["note"]) == ("Phê duyệt", "Không đồng ý", reason)
    again = client.get(f"/api/v1/tasks/{open_task(client, specialist, code)['id']}", headers=specialist).get_json()
    assert again["returned"]["reason"] == reason and again["returned"]["outcome"] == "Không đồng ý"
    assert again["previous_data"] == {"ghi_chu": "Chủ hộ đồng ý cho nhập khẩu."}

    # Examined again and sent on: a plain completion; the chief's new task is a new decision, not a return.
    state = complete(client, specialist, open_task(client, specialist, code), ghi_chu="Đã có văn bản của chủ hộ.")
    assert [h["action"] for h in state["history"] if h["task"] == "Thẩm định hồ sơ"
            and h["action"] not in ("claimed", "status")] == ["completed", "completed"]
    assert [h["task"] for h in state["history"] if h["action"] == "returned"] == ["Phê duyệt"]
    decision = client.get(f"/api/v1/tasks/{open_task(client, chief, code)['id']}", headers=chief).get_json()
    assert decision["returned"] is None and decision["previous_data"] is None
    state = complete(client, chief, open_task(client, chief, code), dong_y=True)
    assert state["status"] == 9
    assert [h["action"] for h in state["history"] if h["task"] == "Phê duyệt"
            and h["action"] not in ("claimed", "status")] == ["returned", "completed"]

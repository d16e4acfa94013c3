"""1.001193 Đăng ký khai sinh, end to end through the web pages: portal → four officers → result."""

from __future__ import annotations

import io

from sqlalchemy import select

from app.extensions import db
from app.models import Dossier, HumanTask, RegistryLookup
from tests.conftest import login
from tests.samples import PDF_BYTES, form_fields, start_data, task_data

USERS = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich", "tra_ket_qua": "traketqua"}


def test_khai_sinh_from_portal_to_returned_result(client, jobs):
    login(client, "congdan")
    fields = form_fields(start_data("khai-sinh"))
    files = {k: (io.BytesIO(PDF_BYTES), "gcs.pdf") for k, v in fields.items() if v == "FILE"}
    fields = {k: v for k, v in fields.items() if v != "FILE"}
    response = client.post("/thu-tuc/1.001193", data={**fields, **files, "__submit__": "1"},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    code = response.location.rstrip("/").split("/")[-2]
    client.post("/dang-xuat")

    titles = []
    while True:
        dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
        task = db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id,
                                                         HumanTask.state == "ready"))
        if task is None:
            break
        titles.append(task.title)
        login(client, USERS[task.role])
        assert client.post(f"/cong-viec/{task.id}/nhan").status_code == 302
        form = {**form_fields(task_data("khai-sinh", task.form)), "__submit__": "1"}
        done = client.post(f"/cong-viec/{task.id}", data=form)
        assert done.status_code == 302, done.data[:2000]
        client.post("/dang-xuat")
    assert titles == ["Tiếp nhận hồ sơ", "Thẩm định, ghi sổ hộ tịch", "Ký giấy khai sinh", "Trả kết quả"]
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    assert dossier.status == 10 and dossier.returned_at is not None
    # Each status change leaves one notification job; running them twice adds nothing.
    ids = jobs.run_all()
    assert len(ids) == 5 and all(ids)
    login(client, "congdan")
    page = client.get(f"/ho-so/{code}").get_data(as_text=True)
    assert "Đã trả kết quả" in page and "Thông báo đã gửi" in page


def test_khai_sinh_with_both_parents_looked_up_to_the_result(client, jobs, national, sandbox, token):
    """Through the API: both parents are checked in the demo population database before reception."""
    import requests

    from tests.samples import MOTHER_ID, client_uploader, with_uploads

    requests.delete(f"{sandbox}/_log", timeout=5)
    citizen = token("congdan")
    data = with_uploads(client_uploader(client), citizen, start_data("khai-sinh"))
    data["me"]["so_dinh_danh"] = MOTHER_ID
    data["cha"] = {"ho_ten": "Nguyễn Văn An", "so_dinh_danh": "001090012345", "nam_sinh": 1990, "dan_toc": "Kinh",
                   "quoc_tich": "Việt Nam", "noi_cu_tru": data["me"]["noi_cu_tru"]}
    created = client.post("/api/v1/procedures/1.001193/dossiers", json=data, headers=citizen)
    assert created.status_code == 201, created.get_json()
    code = created.get_json()["code"]
    assert created.get_json()["tasks"] == []  # nothing for reception before the look-ups
    while jobs.jobs:
        jobs.run_all()
    dossier = client.get(f"/api/v1/dossiers/{code}", headers=citizen).get_json()
    assert [(c["title"], c["state"]) for c in dossier["service_calls"]] == [
        ("Tra cứu thông tin người mẹ", "done"), ("Tra cứu thông tin người cha", "done")]
    looked_up = [r for r in requests.get(f"{sandbox}/_log", timeout=5).json()["requests"]
                 if r["path"] == "/dan-cu/tra-cuu"]
    assert len(looked_up) == 2

    titles = []
    while dossier["tasks"]:
        task = dossier["tasks"][0]
        headers = token(USERS[task["role"]])
        titles.append(task["title"])
        assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=headers).status_code == 200
        done = client.post(f"/api/v1/tasks/{task['id']}/complete", json=task_data("khai-sinh", task["form"]),
                           headers=headers)
        assert done.status_code == 200, done.get_json()
        dossier = done.get_json()["dossier"]
    assert titles == ["Tiếp nhận hồ sơ", "Thẩm định, ghi sổ hộ tịch", "Ký giấy khai sinh", "Trả kết quả"]
    assert dossier["status"] == 10
    lookups = db.session.scalars(select(RegistryLookup).where(RegistryLookup.dossier_id == db.session.scalar(
        select(Dossier.id).where(Dossier.code == code)))).all()
    assert sorted(r.subject for r in lookups) == sorted([MOTHER_ID, "001090012345"])


def test_leader_returns_the_dossier_with_a_reason(client, token):
    """A leader's return is a decision with its reason: in the history, and on the re-opened task, which starts
    from what the specialist submitted last time (register number, book) but decides afresh. Sending the
    dossier on to the leader again is a plain completion, and the leader's new task is a new decision: no
    return shown, not pre-filled with their own refusal."""
    import lxml.html

    from tests.samples import client_uploader, with_uploads

    citizen = token("congdan")
    data = with_uploads(client_uploader(client), citizen, start_data("khai-sinh"))
    code = client.post("/api/v1/procedures/1.001193/dossiers", json=data, headers=citizen).get_json()["code"]

    def step(username, **overrides):
        headers = token(username)
        [task] = client.get(f"/api/v1/dossiers/{code}", headers=headers).get_json()["tasks"]
        assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=headers).status_code == 200
        done = client.post(f"/api/v1/tasks/{task['id']}/complete",
                           json={**task_data("khai-sinh", task["form"]), **overrides}, headers=headers)
        assert done.status_code == 200, done.get_json()
        return client.get(done.get_json()["dossier"]["href"], headers=headers).get_json()  # the whole dossier

    step("tiepnhan")
    register = {"so_dang_ky": "125", "quyen_so": "01/2026", "ghi_chu": "Đã đối chiếu giấy chứng sinh."}
    step("hotich", **register)
    reason = "Quyển số ghi sai năm, đề nghị kiểm tra lại."
    dossier = step("chutich", phe_duyet=False, y_kien=reason)

    returned = [h for h in dossier["history"] if h["task"] == "Ký giấy khai sinh"
                and h["action"] not in ("claimed", "status")]
    assert [(h["action"], h["outcome"], h["note"]) for h in returned] == [("returned", "Trả lại", reason)]
    [task] = dossier["tasks"]
    assert task["title"] == "Thẩm định, ghi sổ hộ tịch"
    specialist = token("hotich")
    body = client.get(f"/api/v1/tasks/{task['id']}", headers=specialist).get_json()
    assert body["returned"]["reason"] == reason and body["returned"]["outcome"] == "Trả lại"
    assert body["returned"]["task"] == "Ký giấy khai sinh" and body["returned"]["by"]
    # The work done is kept; the decision (and its reason) is taken again, not carried over from last time.
    assert body["previous_data"] == register

    # The officer's page: the reason above the form, the form filled with the last values but no decision.
    login(client, "hotich")
    page = lxml.html.fromstring(client.get(f"/cong-viec/{task['id']}").data)
    box = page.get_element_by_id("returned")
    assert reason in box.text_content() and "Trả lại" in box.text_content()
    form = page.get_element_by_id("task-form")
    assert form.xpath(".//input[@name='so_dang_ky']/@value") == ["125"]
    assert form.xpath(".//input[@name='quyen_so']/@value") == ["01/2026"]
    assert form.xpath(".//input[@name='ket_qua_tham_dinh'][@checked]/@value") == []
    history = lxml.html.fromstring(client.get(f"/ho-so/{code}").data).get_element_by_id("history")
    row = history.find_class("event-returned")[0].text_content()
    assert "Trả lại" in row and "Ký giấy khai sinh" in row and reason in row and "Hoàn thành" not in row
    client.post("/dang-xuat")

    # Examined again and sent on: a forward step, not a return, even though the leader's step was done before.
    dossier = step("hotich", so_dang_ky="126")
    again = [(h["action"], h["outcome"]) for h in dossier["history"] if h["task"] == "Thẩm định, ghi sổ hộ tịch"
             and h["action"] not in ("claimed", "status")]
    assert again == [("completed", "Đủ điều kiện, trình ký Giấy khai sinh")] * 2
    [task] = dossier["tasks"]
    assert task["title"] == "Ký giấy khai sinh"
    body = client.get(f"/api/v1/tasks/{task['id']}", headers=token("chutich")).get_json()
    assert body["returned"] is None and body["previous_data"] is None
    login(client, "chutich")
    page = lxml.html.fromstring(client.get(f"/cong-viec/{task['id']}").data)
    assert not page.xpath("//*[@id='returned']")
    form = page.get_element_by_id("task-form")
    assert form.xpath(".//input[@name='phe_duyet'][@checked]") == []
    assert reason not in form.text_content() and reason not in "".join(form.xpath(".//textarea/text()"))
    history = lxml.html.fromstring(client.get(f"/ho-so/{code}").data).get_element_by_id("history")
    assert len(history.find_class("event-returned")) == 1
    assert "Đạt: Thẩm định" not in history.text_content()
    client.post("/dang-xuat")

    # Approved the second time round: the result as usual, and no return is shown on a first-time task.
    dossier = step("chutich")
    assert [(h["action"], h["outcome"]) for h in dossier["history"] if h["task"] == "Ký giấy khai sinh"
            and h["action"] not in ("claimed", "status")] == [("returned", "Trả lại"),
                                                               ("completed", "Đồng ý ký Giấy khai sinh: Có")]
    [task] = dossier["tasks"]
    assert task["title"] == "Trả kết quả"
    body = client.get(f"/api/v1/tasks/{task['id']}", headers=token("traketqua")).get_json()
    assert body["returned"] is None and body["previous_data"] is None
    assert step("traketqua")["status"] == 10


def test_reception_sees_the_parents_registry_records_labelled_and_checked(client, jobs, national, token):
    """Only what the manifest declares from each look-up, labelled, each set against the declaration, with a
    verdict; nothing else the population database answered (religion, blood group, old ID, household…)."""
    import lxml.html

    from tests.samples import MOTHER_ID, client_uploader, with_uploads

    citizen = token("congdan")
    data = with_uploads(client_uploader(client), citizen, start_data("khai-sinh"))
    # Case and spacing differ from the registry: still the same name.
    data["me"].update(so_dinh_danh=MOTHER_ID, ho_ten="trần  thị BÌNH")
    data["cha"] = {"ho_ten": "Nguyễn Văn An", "so_dinh_danh": "001090012345", "nam_sinh": 1990, "dan_toc": "Tày",
                   "quoc_tich": "Việt Nam", "noi_cu_tru": data["me"]["noi_cu_tru"]}
    code = client.post("/api/v1/procedures/1.001193/dossiers", json=data, headers=citizen).get_json()["code"]
    while jobs.jobs:
        jobs.run_all()
    [task] = client.get(f"/api/v1/dossiers/{code}", headers=citizen).get_json()["tasks"]

    login(client, "tiepnhan")
    html = client.get(f"/cong-viec/{task['id']}").get_data(as_text=True)
    mother, father = lxml.html.fromstring(html).find_class("lookup-result")
    rows = {tr.get("data-key"): tr for tr in mother.iter("tr") if tr.get("data-key")}
    assert list(rows) == ["ho_ten", "so_dinh_danh", "ngay_sinh", "dan_toc", "quoc_tich", "noi_thuong_tru"]
    assert "Họ, chữ đệm và tên" in rows["ho_ten"].text_content() and "Trần Thị Bình" in rows["ho_ten"].text_content()
    assert rows["ho_ten"].get("class") == "match" and rows["ngay_sinh"].get("class") == "match"
    assert "20/08/1995" in rows["ngay_sinh"].text_content() and "1995" in rows["ngay_sinh"].text_content()
    assert rows["noi_thuong_tru"].get("class") == "" and "Phường Ba Đình" in rows["noi_thuong_tru"].text_content()
    assert "verdict-match" in mother.find_class("verdict")[0].get("class")
    father_rows = {tr.get("data-key"): tr for tr in father.iter("tr") if tr.get("data-key")}
    assert father_rows["dan_toc"].get("class") == "mismatch"
    assert "Tày" in father_rows["dan_toc"].text_content() and "Kinh" in father_rows["dan_toc"].text_content()
    assert "verdict-mismatch" in father.find_class("verdict")[0].get("class")
    for leaked in ("nhom_mau", "ton_giao", "so_cmnd", "so_ho_khau", "Tin lành", "884410270", "tranthibinh@"):
        assert leaked not in html, leaked
    # The manifest carries the labels in English too.
    english = lxml.html.fromstring(client.get(f"/cong-viec/{task['id']}?lang=en").data)
    first = english.find_class("lookup-result")[0]
    assert "Full name" in first.text_content() and "Họ, chữ đệm và tên" not in first.text_content()

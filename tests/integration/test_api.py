"""JSON API: the whole path over HTTP with bearer tokens, and every kind of bad input."""

from __future__ import annotations

import json

from app.extensions import db
from app.models import Dossier
from tests.samples import client_uploader, start_data, task_data, with_uploads


def submit(client, headers, slug="khai-sinh", code="1.001193", data=None):
    data = with_uploads(client_uploader(client), headers, data or start_data(slug))
    return client.post(f"/api/v1/procedures/{code}/dossiers", json=data, headers=headers)


def test_catalogue_and_procedure(client):
    items = client.get("/api/v1/procedures").get_json()["items"]
    assert {"1.001193", "1.004222"} <= {p["code"] for p in items}
    one = client.get("/api/v1/procedures/1.001193").get_json()
    assert one["start_form_schema"]["type"] == "object"
    missing = client.get("/api/v1/procedures/9.999999")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "procedure_not_found"


def test_tokens_are_required_and_checked(client):
    url = "/api/v1/procedures/1.001193/dossiers"
    assert client.post(url, json=start_data("khai-sinh")).status_code == 401
    response = client.post(url, json=start_data("khai-sinh"), headers={"Authorization": "Bearer mc_forged"})
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")


def test_bad_bodies_get_clear_errors_and_change_nothing(client, token):
    headers = token("congdan")
    before = db.session.query(Dossier).count()
    bad = client.post("/api/v1/procedures/1.001193/dossiers", data=b"{not json", headers=headers,
                      content_type="application/json")
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "malformed_json"
    not_object = client.post("/api/v1/procedures/1.001193/dossiers", json=[1, 2], headers=headers)
    assert not_object.status_code == 422
    data = start_data("khai-sinh")
    data["so_ban_sao"] = "ba"
    data.pop("tre")
    wrong = submit(client, headers, data=data)
    assert wrong.status_code == 422
    details = wrong.get_json()["error"]["details"]
    assert details["/so_ban_sao"].endswith("phải là số nguyên.")
    assert details["/tre"].startswith("Vui lòng nhập")
    assert db.session.query(Dossier).count() == before


def test_file_fields_must_be_own_uploads(client, token):
    foreign = with_uploads(client_uploader(client), token("hotich"), start_data("khai-sinh"))
    response = client.post("/api/v1/procedures/1.001193/dossiers", json=foreign, headers=token("congdan"))
    assert response.status_code == 422
    assert "/giay_chung_sinh" in response.get_json()["error"]["details"]
    made_up = start_data("khai-sinh", files_as="AAAAAAAAAAAAAAAAAAAAAAAA/gia.pdf")
    response = client.post("/api/v1/procedures/1.001193/dossiers", json=made_up, headers=token("congdan"))
    assert response.status_code == 422


def test_unknown_and_malformed_codes(client, token):
    headers = token("congdan")
    assert client.get("/api/v1/public/dossiers/khong-phai-ma").status_code == 404
    response = client.get("/api/v1/public/dossiers/000.00.01.H26-991231-9999")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "dossier_not_found"
    assert client.get("/api/v1/dossiers/000.00.01.H26-991231-9999", headers=headers).status_code == 404
    assert client.post("/api/v1/tasks/999999/claim", headers=token("tiepnhan")).status_code == 404


def test_full_khai_sinh_over_api(client, token):
    citizen = token("congdan")
    created = submit(client, citizen)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    code = body["code"]
    assert body["status"] == 1 and created.headers["Location"] == f"/api/v1/dossiers/{code}"
    public = client.get(f"/api/v1/public/dossiers/{code}").get_json()
    assert public["status_label"] == "Mới đăng ký" and "data" not in public
    assert public["applicant"] == "N. V. A."  # initials only

    seen = []
    for username in ["tiepnhan", "hotich", "chutich", "traketqua"]:
        headers = token(username)
        tasks = [t for t in client.get("/api/v1/tasks", headers=headers).get_json()["items"]
                 if t["dossier_code"] == code]
        assert len(tasks) == 1, (username, tasks)
        task = tasks[0]
        detail = client.get(f"/api/v1/tasks/{task['id']}", headers=headers).get_json()
        assert detail["form_schema"]["type"] == "object"
        assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=headers).status_code == 200
        done = client.post(f"/api/v1/tasks/{task['id']}/complete", json=task_data("khai-sinh", task["form"]),
                           headers=headers)
        assert done.status_code == 200, done.get_json()
        seen.append(done.get_json()["dossier"]["status"])
        again = client.post(f"/api/v1/tasks/{task['id']}/complete", json=task_data("khai-sinh", task["form"]),
                            headers=headers)
        assert again.status_code == 409
    assert seen == [4, 4, 9, 10]
    final = client.get(f"/api/v1/dossiers/{code}", headers=citizen).get_json()
    assert final["status"] == 10 and final["returned_at"] and final["tasks"] == []
    statuses = [h["status_to"] for h in final["history"] if h["action"] == "status"]
    assert statuses == [2, 4, 9, 10]


def test_claim_conflict_and_foreign_task(client, token):
    code = submit(client, token("congdan")).get_json()["code"]
    reception = token("tiepnhan")
    task = next(t for t in client.get("/api/v1/tasks", headers=reception).get_json()["items"]
                if t["dossier_code"] == code)
    assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=reception).status_code == 200
    # The police's receiving officer has the same role but another agency: the task does not exist for them.
    assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=token("ca.tiepnhan")).status_code == 404
    assert client.get(f"/api/v1/dossiers/{code}", headers=token("ca.tiepnhan")).status_code == 403
    wrong = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"quyet_dinh_tiep_nhan": "co_le"},
                        headers=reception)
    assert wrong.status_code == 422
    assert "/quyet_dinh_tiep_nhan" in wrong.get_json()["error"]["details"]


def test_inbox_is_sorted_by_deadline(client, token):
    from datetime import timedelta

    citizen, reception = token("congdan"), token("tiepnhan")
    first = submit(client, citizen).get_json()["code"]
    second = submit(client, citizen).get_json()["code"]
    later = db.session.query(Dossier).filter_by(code=first).one()
    sooner = db.session.query(Dossier).filter_by(code=second).one()
    sooner.due_at = later.due_at - timedelta(days=1)
    db.session.commit()
    codes = [t["dossier_code"] for t in client.get("/api/v1/tasks", headers=reception).get_json()["items"]]
    assert codes.index(second) < codes.index(first)


def test_undeclared_fields_are_refused_by_submit_and_complete(client, token):
    headers = token("congdan")
    before = db.session.query(Dossier).count()
    data = start_data("khai-sinh")
    data["dem"] = "x" * 100_000
    data["tre"]["bi_danh"] = "y"
    response = submit(client, headers, data=data)
    assert response.status_code == 422
    details = response.get_json()["error"]["details"]
    assert details == {"/dem": "Trường «dem» không có trong Tờ khai đăng ký khai sinh; vui lòng bỏ trường này.",
                       "/tre/bi_danh": "Trường «bi_danh» không có trong Người được khai sinh; vui lòng bỏ trường này."}
    assert db.session.query(Dossier).count() == before
    code = submit(client, headers).get_json()["code"]
    reception = token("tiepnhan")
    task = next(t for t in client.get("/api/v1/tasks", headers=reception).get_json()["items"]
                if t["dossier_code"] == code)
    client.post(f"/api/v1/tasks/{task['id']}/claim", headers=reception)
    extra = {**task_data("khai-sinh", task["form"]), "thong_tin_ho_so": {"le_phi": 0}}
    done = client.post(f"/api/v1/tasks/{task['id']}/complete", json=extra, headers=reception)
    assert done.status_code == 422
    assert "/thong_tin_ho_so" in done.get_json()["error"]["details"]


def test_a_list_without_max_items_is_bounded_by_the_platform_setting_over_the_api(app, client, token, monkeypatch):
    code = submit(client, token("congdan")).get_json()["code"]
    reception = token("tiepnhan")
    task = next(t for t in client.get("/api/v1/tasks", headers=reception).get_json()["items"]
                if t["dossier_code"] == code)
    client.post(f"/api/v1/tasks/{task['id']}/claim", headers=reception)
    monkeypatch.setitem(app.config, "FORM_MAX_ITEMS", 2)
    data = {**task_data("khai-sinh", task["form"]), "thanh_phan_da_nhan": ["TK", "GCS", "GTTT"]}
    response = client.post(f"/api/v1/tasks/{task['id']}/complete", json=data, headers=reception)
    assert response.status_code == 422
    assert response.get_json()["error"]["details"]["/thanh_phan_da_nhan"].endswith("tối đa 2 mục.")


def _khai_sinh_with_birthplace_pattern(pattern: str) -> list[tuple[str, bytes]]:
    from tests.integration.test_security import package_files

    files = []
    for name, content in package_files("khai-sinh"):
        if name == "to-khai.schema.json":
            form = json.loads(content)
            form["properties"]["tre"]["properties"]["noi_sinh"]["pattern"] = pattern
            content = json.dumps(form, ensure_ascii=False).encode()
        files.append((name, content))
    return files


def test_a_pattern_with_a_backreference_is_refused_at_upload(client, token):
    from tests.integration.test_security import post_package

    response = post_package(client, token("thietke"), _khai_sinh_with_birthplace_pattern("^(a)\\1$"))
    assert response.status_code == 422
    problems = [p for p in response.get_json()["error"]["details"]["problems"] if p["file"] == "to-khai.schema.json"]
    assert [p["pointer"] for p in problems] == ["/properties/tre/properties/noi_sinh/pattern"], problems
    assert "tham chiếu ngược" in problems[0]["message"]


def test_a_catastrophic_pattern_deployed_cannot_hang_a_submission(client, token):
    from tests.integration.test_security import post_package
    from tests.unit.test_eforms_validate import hang_guard

    deployed = post_package(client, token("thietke"), _khai_sinh_with_birthplace_pattern("^(a+)+$"))
    assert deployed.status_code == 201, deployed.get_json()
    data = start_data("khai-sinh")
    data["tre"]["noi_sinh"] = "a" * 200 + "!"
    with hang_guard():
        response = submit(client, token("congdan"), data=data)
    assert response.status_code == 422
    assert response.get_json()["error"]["details"] == {"/tre/noi_sinh": "Nơi sinh: không đúng định dạng."}
    data["tre"]["noi_sinh"] = "a" * 200
    assert submit(client, token("congdan"), data=data).status_code == 201


def test_commands_answer_with_where_the_dossier_stands_and_a_link_to_the_rest(client, token):
    citizen, reception = token("congdan"), token("tiepnhan")
    created = submit(client, citizen)
    body = created.get_json()
    assert created.headers["Location"] == body["href"] == f"/api/v1/dossiers/{body['code']}"
    assert [t["title"] for t in body["tasks"]] == body["current_steps"] and body["tasks"]
    assert "history" not in body and "data" not in body  # the whole dossier is read at href
    task = body["tasks"][0]
    assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=reception).status_code == 200
    done = client.post(f"/api/v1/tasks/{task['id']}/complete", json=task_data("khai-sinh", task["form"]),
                       headers=reception).get_json()
    state = done["dossier"]
    assert state["status"] == 4 and state["href"] == body["href"]  # received (2), then in processing (4)
    assert [t["id"] for t in state["tasks"]] != [task["id"]] and state["tasks"][0]["state"] == "ready"
    whole = client.get(state["href"], headers=citizen).get_json()
    assert whole["status"] == 4 and {"submitted", "claimed", "completed"} <= {h["action"] for h in whole["history"]}

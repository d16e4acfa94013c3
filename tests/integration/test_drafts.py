"""Drafts of the studio's modeller, over the web: created blank or from a version, checked live with problems placed
on their diagram elements, saved by revision (a stale save is refused), previewed, deployed into a version that
runs, and guarded (designers only, wrong ids, hostile files)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from app.dossiers.services import complete_task, submit_dossier
from app.extensions import db
from app.models import Dossier, HumanTask, ProcedureDraft, ProcedureVersion
from app.procedures import drafts
from tests.conftest import login, user

CODE = "9.900201"
START = {"nguoi_yeu_cau": {"ho_ten": "Nguyễn Văn An", "so_dinh_danh": "001090000001", "dien_thoai": "0912345678",
                           "dia_chi": "Số 1 phố Hàng Bạc, Hà Nội"}, "noi_dung": "Xin cấp giấy xác nhận."}


def _new(client: Any, code: str = CODE) -> int:
    login(client, "thietke")
    response = client.post("/thiet-ke/ban-nhap/moi", data={"code": code, "name": "Cấp giấy xác nhận thử nghiệm",
                                                           "agency": "000.00.01.H26"})
    assert response.status_code == 302, response.data[:400]
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def _package(client: Any, draft_id: int) -> dict[str, Any]:
    response = client.get(f"/thiet-ke/ban-nhap/{draft_id}/goi.json")
    assert response.status_code == 200
    return dict(response.get_json())


def _without_form(files: dict[str, str]) -> dict[str, str]:
    changed = dict(files)
    changed["process.bpmn"] = changed["process.bpmn"].replace(
        '<spiffworkflow:property name="formJsonSchemaFilename" value="tra-ket-qua.schema.json" />', "")
    return changed


def test_a_blank_draft_checks_clean_deploys_and_runs_a_dossier_to_its_end(client, db_session):
    draft_id = _new(client)
    pkg = _package(client, draft_id)
    assert pkg["revision"] == 1 and sorted(pkg["files"]) == [
        "forms/tiep-nhan.schema.json", "forms/to-khai.schema.json", "forms/tra-ket-qua.schema.json", "procedure.json",
        "process.bpmn"]
    assert "payment.collect" in pkg["catalog"]["operations"] and "portal.push_step" not in pkg["catalog"]["operations"]
    assert pkg["texts"]["check_ok"] == "Có thể triển khai: không phát hiện lỗi."
    report = client.post(f"/thiet-ke/ban-nhap/{draft_id}/kiem-tra", json={"files": pkg["files"]}).get_json()
    assert report == {"verdict": "deployable", "ok": True, "reason": "", "problems": []}

    response = client.post(f"/thiet-ke/ban-nhap/{draft_id}/trien-khai")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/thiet-ke/thu-tuc/{CODE}")
    version = db.session.scalar(select(ProcedureVersion).where(ProcedureVersion.process_id == "thu_tuc_9_900201"))
    assert version is not None and version.version == 1 and version.deployed_by == "thietke"
    draft = db.session.get(ProcedureDraft, draft_id)
    assert draft is not None and draft.deployed_version_id == version.id and draft.deployed_at is not None

    dossier = submit_dossier(CODE, START, applicant=user("congdan"))
    for officer, data in (("tiepnhan", {"ghi_chu_tiep_nhan": "Đủ giấy tờ."}),
                          ("tiepnhan", {"hinh_thuc_tra": "truc_tiep", "ngay_tra": "2026-12-02"})):
        task = db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id,
                                                         HumanTask.state == "ready"))
        assert task is not None
        complete_task(task.id, user(officer), data)
    db.session.expire_all()
    assert db.session.get(Dossier, dossier.id).status == 10

    # Deployed: the draft keeps its files but takes no more saves or deployments.
    again = client.post(f"/thiet-ke/ban-nhap/{draft_id}/luu", json={"files": pkg["files"], "revision": 1})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "draft_deployed"


def test_problems_are_placed_on_their_elements_and_a_refused_deploy_says_why(client, db_session):
    draft_id = _new(client)
    files = _without_form(_package(client, draft_id)["files"])
    files["process.bpmn"] = files["process.bpmn"].replace(
        '<bpmn:sequenceFlow id="Flow_DaTra" sourceRef="Task_TraKetQua" targetRef="EndEvent_DaTraKetQua" />',
        '<bpmn:sequenceFlow id="Flow_DaTra" sourceRef="Task_TraKetQua" targetRef="EndEvent_DaTraKetQua">'
        "<bpmn:conditionExpression>khong_co_ten == 1</bpmn:conditionExpression></bpmn:sequenceFlow>")
    report = client.post(f"/thiet-ke/ban-nhap/{draft_id}/kiem-tra", json={"files": files}).get_json()
    placed = {(p["code"], p["element"]) for p in report["problems"]}
    assert ("form_unset", "Task_TraKetQua") in placed
    assert any(code.startswith("expression_name") and element == "Flow_DaTra" for code, element in placed), placed
    assert report["ok"] is False and report["verdict"] == "invalid"

    saved = client.post(f"/thiet-ke/ban-nhap/{draft_id}/luu", json={"files": files, "revision": 1})
    assert saved.status_code == 200 and saved.get_json()["revision"] == 2
    refused = client.post(f"/thiet-ke/ban-nhap/{draft_id}/trien-khai", follow_redirects=True)
    assert refused.status_code == 200
    assert "Chưa triển khai: bản nháp đã lưu còn" in refused.get_data(as_text=True)
    assert db.session.scalar(select(ProcedureDraft.deployed_at).where(ProcedureDraft.id == draft_id)) is None


def test_a_stale_save_is_refused_and_the_stored_draft_is_kept(client, db_session):
    draft_id = _new(client)
    files = _package(client, draft_id)["files"]
    first = client.post(f"/thiet-ke/ban-nhap/{draft_id}/luu", json={"files": _without_form(files), "revision": 1})
    assert first.status_code == 200
    stale = client.post(f"/thiet-ke/ban-nhap/{draft_id}/luu", json={"files": files, "revision": 1})
    assert stale.status_code == 409
    error = stale.get_json()["error"]
    assert error["code"] == "draft_stale" and "thietke đã lưu bản nháp này" in error["message"]
    stored = db.session.get(ProcedureDraft, draft_id)
    db.session.refresh(stored)
    assert stored.revision == 2 and stored.files == _without_form(files)


def test_hostile_or_malformed_files_are_refused_with_a_reason(client, db_session, app):
    draft_id = _new(client)
    files = _package(client, draft_id)["files"]
    url = f"/thiet-ke/ban-nhap/{draft_id}/kiem-tra"
    for body, status, code in [
        ({"files": ["not", "a", "map"]}, 400, "files_invalid"),
        ({"files": {**files, "../../etc/passwd.bpmn": "x"}}, 422, "file_name_invalid"),
        ({"files": {**files, "forms/Tờ Khai.schema.json": "{}"}}, 422, "file_name_invalid"),
        ({"files": {**files, "notes.txt": "x"}}, 422, "file_name_invalid"),
    ]:
        response = client.post(url, json=body)
        assert response.status_code == status, (body, response.data[:300])
        assert response.get_json()["error"]["code"] == code
    too_big = {**files, **{f"forms/f{i}.schema.json": "{}" for i in range(201)}}
    assert client.post(url, json={"files": too_big}).status_code == 413
    # Hostile XML and broken JSON are the checker's business: a verdict with its reasons, nothing crashes.
    bomb = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            "<bpmn:definitions xmlns:bpmn=\"http://www.omg.org/spec/BPMN/20100524/MODEL\">&b;</bpmn:definitions>")
    report = client.post(url, json={"files": {**files, "process.bpmn": bomb,
                                              "procedure.json": '{"code": '}}).get_json()
    codes = {p["code"] for p in report["problems"]}
    assert report["ok"] is False and "xml_doctype_forbidden" in codes, codes
    assert any(p["file"] == "procedure.json" for p in report["problems"])
    assert client.post(url, data="{", content_type="application/json").status_code == 400


def test_only_designers_reach_drafts_and_unknown_ids_are_404(client, db_session):
    draft_id = _new(client)
    client.post("/dang-xuat")
    login(client, "hotich")
    for method, path in [("get", "/thiet-ke/ban-nhap/"), ("get", f"/thiet-ke/ban-nhap/{draft_id}"),
                         ("get", f"/thiet-ke/ban-nhap/{draft_id}/goi.json"),
                         ("post", f"/thiet-ke/ban-nhap/{draft_id}/kiem-tra"),
                         ("post", f"/thiet-ke/ban-nhap/{draft_id}/luu"),
                         ("post", f"/thiet-ke/ban-nhap/{draft_id}/trien-khai"),
                         ("post", f"/thiet-ke/ban-nhap/{draft_id}/xoa")]:
        assert getattr(client, method)(path).status_code == 403, path
    client.post("/dang-xuat")
    login(client, "thietke")
    for path in ("/thiet-ke/ban-nhap/999999", "/thiet-ke/ban-nhap/999999/goi.json",
                 f"/thiet-ke/ban-nhap/{draft_id}/bieu-mau/khong-co.schema.json", "/thiet-ke/ban-nhap/99999999999"):
        assert client.get(path).status_code == 404, path
    assert client.post("/thiet-ke/ban-nhap/999999/kiem-tra", json={"files": {}}).get_json()["error"]["code"] == (
        "not_found")


def test_a_new_procedure_needs_a_free_valid_code_and_a_known_agency(client, db_session):
    login(client, "thietke")
    for data, status, text in [
        ({"code": "1.001193", "name": "Trùng mã", "agency": "000.00.01.H26"}, 409, "đã có trên hệ thống"),
        ({"code": "mã có dấu", "name": "Sai mã", "agency": "000.00.01.H26"}, 422, "không hợp lệ"),
        ({"code": "9.9", "name": "X", "agency": "000.00.01.H26"}, 422, "từ 2 đến 500 ký tự"),
        ({"code": "9.9", "name": "Cơ quan lạ", "agency": "000.00.99.H26"}, 422, "Chưa chọn cơ quan"),
    ]:
        response = client.post("/thiet-ke/ban-nhap/moi", data=data)
        assert response.status_code == status and text in response.get_data(as_text=True), data
    assert db.session.scalar(select(ProcedureDraft.id)) is None


def test_a_version_opens_as_a_draft_and_deploying_it_unchanged_makes_no_new_version(client, db_session):
    login(client, "thietke")
    response = client.post("/thiet-ke/ban-nhap/tu-phien-ban/1.001193/1")
    assert response.status_code == 302
    draft_id = int(response.headers["Location"].rsplit("/", 1)[1])
    draft = db.session.get(ProcedureDraft, draft_id)
    version = db.session.get(ProcedureVersion, draft.base_version_id)
    assert draft.code == "1.001193" and version.version == 1
    assert drafts.check(draft.files, draft.slug).report.ok
    done = client.post(f"/thiet-ke/ban-nhap/{draft_id}/trien-khai", follow_redirects=True)
    assert "giống hệt phiên bản 1" in done.get_data(as_text=True)
    assert client.post("/thiet-ke/ban-nhap/tu-phien-ban/1.001193/99").status_code == 404


def test_a_draft_form_previews_as_saved_and_the_draft_can_be_discarded(client, db_session):
    draft_id = _new(client)
    files = _package(client, draft_id)["files"]
    schema = json.loads(files["forms/to-khai.schema.json"])
    schema["properties"]["noi_dung"]["title"] = "Nội dung cần xác nhận"
    files["forms/to-khai.schema.json"] = json.dumps(schema, ensure_ascii=False)
    assert client.post(f"/thiet-ke/ban-nhap/{draft_id}/luu", json={"files": files, "revision": 1}).status_code == 200
    page = client.get(f"/thiet-ke/ban-nhap/{draft_id}/bieu-mau/to-khai.schema.json")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Nội dung cần xác nhận" in html and "Xem trước" in html and "Nguyễn" in html  # the sample's name
    editor = client.get(f"/thiet-ke/ban-nhap/{draft_id}").get_data(as_text=True)
    assert f'data-preview-url="/thiet-ke/ban-nhap/{draft_id}/bieu-mau/__FORM__"' in editor
    assert client.post(f"/thiet-ke/ban-nhap/{draft_id}/xoa").status_code == 302
    assert db.session.get(ProcedureDraft, draft_id) is None

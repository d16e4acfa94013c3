"""Where a dossier stands in its diagram (app.engine.diagram through app.dossiers.diagrams), read from the stored
workflow document of khai sinh dossiers at known steps on PostgreSQL; who may read it; and the bpmn-js files the
platform serves from node_modules (app.web.vendor)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from app.dossiers import desk, diagrams
from app.dossiers.errors import Forbidden
from app.dossiers.services import submit_dossier
from app.engine.diagram import diagram_of, progress_of, read_diagram
from app.extensions import db
from app.models import HumanTask, ProcedureVersion
from tests.conftest import ROOT, login, user
from tests.integration.test_desk import _at_signing, _do, _open, _submit
from tests.integration.test_workflow_incidents import broken_version  # noqa: F401 (a fixture)
from tests.samples import MOTHER_ID, start_data, with_stored_uploads

# Automatic steps before reception: no mother's or father's ID given, so both look-ups are skipped.
BEFORE_RECEPTION = ["StartEvent_NopHoSo", "Gateway_CoMe", "Gateway_XongTraCuuMe", "Gateway_CoCha",
                    "Gateway_XongTraCuuCha"]
FLOWS_TO_RECEPTION = ["Flow_NopHoSo", "Flow_KhongMe", "Flow_SangCha", "Flow_KhongCha", "Flow_SangTiepNhan"]


def test_at_examination_the_path_through_reception_is_completed_and_examination_is_current(db_session: Any) -> None:
    dossier = _submit()
    _do(dossier)  # reception
    db.session.flush()
    got = diagrams.dossier_progress(dossier, user("hotich"))
    assert got["current"] == ["Task_ThamDinh"] and got["failed"] == [] and not got["finished"]
    assert got["completed"] == [*BEFORE_RECEPTION, "Task_TiepNhan", "Gateway_KetQuaTiepNhan", "Gateway_VaoThamDinh"]
    assert got["flows"] == [*FLOWS_TO_RECEPTION, "Flow_QuyetDinhTiepNhan", "Flow_TiepNhan", "Flow_VaoThamDinh"]
    # The branches not taken are not marked: the look-ups, the refusal, and everything after examination.
    marked = set(got["completed"]) | set(got["flows"])
    assert not marked & {"Task_TraCuuMe", "Flow_TraCuuMe", "EndEvent_TuChoiTiepNhan", "Flow_TuChoiTiepNhan",
                         "Task_KyGiayKhaiSinh", "Flow_KetQuaThamDinh"}
    assert got["steps"] == {
        "completed": [{"id": "StartEvent_NopHoSo", "name": "Nộp hồ sơ", "kind": "startEvent"},
                      {"id": "Task_TiepNhan", "name": "Tiếp nhận hồ sơ", "kind": "userTask"}],
        "current": [{"id": "Task_ThamDinh", "name": "Thẩm định, ghi sổ hộ tịch", "kind": "userTask"}],
        "failed": []}
    # The same as the restored workflow says: its ready task is the current element.
    [task] = db.session.scalars(select(HumanTask).where(HumanTask.dossier_id == dossier.id,
                                                        HumanTask.state == "ready")).all()
    assert [task.spec_name] == got["current"]


def test_a_return_to_examination_makes_it_current_again(db_session: Any) -> None:
    dossier = _at_signing()
    desk.return_task(_open(dossier).id, user("chutich"), "Tên cha chưa khớp.", to_step="Task_ThamDinh")
    db.session.flush()
    got = diagrams.dossier_progress(dossier, user("hotich"))
    assert got["current"] == ["Task_ThamDinh"]
    assert "Task_ThamDinh" not in got["completed"] and "Task_TiepNhan" in got["completed"]
    assert "Task_KyGiayKhaiSinh" not in got["current"]


def test_a_waiting_lookup_is_current_and_a_finished_dossier_has_its_whole_path(db_session: Any, jobs: Any) -> None:
    data = with_stored_uploads(start_data("khai-sinh"), user("congdan"))
    data["me"]["so_dinh_danh"] = MOTHER_ID
    waiting = submit_dossier("1.001193", data, applicant=user("congdan"))
    db.session.flush()
    got = diagrams.dossier_progress(waiting, user("tiepnhan"))
    assert got["current"] == ["Task_TraCuuMe"]  # the population look-up, a job not run yet
    assert got["completed"] == ["StartEvent_NopHoSo", "Gateway_CoMe"] and got["flows"] == ["Flow_NopHoSo",
                                                                                          "Flow_TraCuuMe"]

    dossier = _submit()
    for _ in range(4):
        _do(dossier)
    db.session.flush()
    assert dossier.workflow.completed
    got = diagrams.dossier_progress(dossier, user("traketqua"))
    assert got["finished"] and got["current"] == [] and got["flows"] == []  # the compact form keeps no tree
    assert got["completed"] == ["Task_TiepNhan", "Task_ThamDinh", "Task_KyGiayKhaiSinh", "Task_TraKetQua",
                                "EndEvent_DaTraKetQua"]


def test_a_step_stopped_on_an_engine_error_is_marked_failed(db_session: Any, broken_version: Any) -> None:  # noqa: F811
    dossier = submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), user("congdan")),
                             applicant=user("congdan"))
    db.session.flush()
    _do(dossier)  # reception; its gateway then reads a field nobody provides
    db.session.flush()
    got = diagrams.dossier_progress(dossier, user("tiepnhan"))
    assert got["failed"] == ["Gateway_KetQuaTiepNhan"] and got["current"] == []
    assert got["steps"]["failed"] == [{"id": "Gateway_KetQuaTiepNhan", "name": "Tiếp nhận hồ sơ?",
                                       "kind": "exclusiveGateway"}]
    assert "Task_TiepNhan" in got["completed"] and "Flow_QuyetDinhTiepNhan" in got["flows"]


def test_only_officers_who_may_see_the_dossier_read_its_progress(db_session: Any) -> None:
    dossier = _submit()
    for who in ("congdan", "thietke", "ca.tiepnhan"):  # the applicant, a designer, another agency's officer
        with pytest.raises(Forbidden):
            diagrams.dossier_progress(dossier, user(who))
    assert diagrams.dossier_progress(dossier, user("tiepnhan"))["current"] == ["Task_TiepNhan"]


def test_the_diagram_is_read_once_per_version_and_an_unknown_element_is_ignored(db_session: Any) -> None:
    version = db.session.scalar(select(ProcedureVersion).join(ProcedureVersion.procedure)
                                .where(ProcedureVersion.process_id == "dang_ky_khai_sinh"))
    assert version is not None
    first = diagrams.version_diagram(version)
    assert diagram_of(version.content_hash, lambda: pytest.fail("read again"), version.process_id) is first
    assert first.elements["Task_TiepNhan"].kind == "userTask" and first.flows[("Task_TraKetQua",
                                                                             "EndEvent_DaTraKetQua")] == ("Flow_DaTra",)
    # A task of the engine's own (no element) and one of another diagram are not drawn.
    document = {"tasks": {"a": {"task_spec": "Start", "state": 64, "parent": None},
                          "b": {"task_spec": "Elsewhere", "state": 16, "parent": "a"}}}
    assert progress_of(document, first).current == [] and progress_of(document, first).completed == []


def test_read_diagram_takes_every_flow_node_of_every_process() -> None:
    text = (ROOT / "bpmn" / "thuong-tru" / "process.bpmn").read_text("utf-8")
    found = read_diagram(text, "process.bpmn")
    assert {e.kind for e in found.elements.values()} >= {"startEvent", "userTask", "endEvent", "exclusiveGateway"}
    assert not any(e.kind in ("lane", "sequenceFlow", "process") for e in found.elements.values())


# ------------------------------------------------------------------ web


def test_officer_endpoints_give_progress_and_xml_to_officers_only(client: Any, db_session: Any) -> None:
    dossier = _submit()
    db_session.commit()
    code = dossier.code
    login(client, "tiepnhan")
    answer = client.get(f"/can-bo/ho-so/{code}/so-do.json")
    assert answer.status_code == 200 and answer.get_json()["current"] == ["Task_TiepNhan"]
    assert "no-store" in answer.headers["Cache-Control"]
    xml = client.get(f"/can-bo/ho-so/{code}/so-do.bpmn")
    assert xml.status_code == 200 and xml.mimetype == "application/xml"
    assert xml.headers["Content-Disposition"].startswith("attachment") and b'id="Task_TiepNhan"' in xml.data
    page = client.get(f"/cong-viec/{_open(dossier).id}").get_data(as_text=True)
    assert f'data-progress-url="/can-bo/ho-so/{code}/so-do.json"' in page and "/tai-nguyen/bpmn-js/" in page
    assert f'data-progress-url="/can-bo/ho-so/{code}/so-do.json"' in client.get(f"/can-bo/ho-so/{code}").get_data(
        as_text=True)  # the dossier's desk shows it too
    client.post("/dang-xuat")
    login(client, "congdan")
    assert client.get(f"/can-bo/ho-so/{code}/so-do.json").status_code == 403
    assert client.get(f"/can-bo/ho-so/{code}/so-do.bpmn").status_code == 403
    assert 'class="diagram"' not in client.get(f"/ho-so/{code}").get_data(as_text=True)  # the plain step list


def test_studio_version_page_and_its_xml_are_for_designers(client: Any, db_session: Any) -> None:
    login(client, "thietke")
    listing = client.get("/thiet-ke/thu-tuc/1.001193").get_data(as_text=True)
    assert 'href="/thiet-ke/thu-tuc/1.001193/phien-ban/1"' in listing
    page = client.get("/thiet-ke/thu-tuc/1.001193/phien-ban/1")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-xml-url="/thiet-ke/thu-tuc/1.001193/phien-ban/1/so-do.bpmn"' in html and "<details" in html
    xml = client.get("/thiet-ke/thu-tuc/1.001193/phien-ban/1/so-do.bpmn")
    assert xml.status_code == 200 and b"dang_ky_khai_sinh" in xml.data
    assert client.get("/thiet-ke/thu-tuc/1.001193/phien-ban/99").status_code == 404
    client.post("/dang-xuat")
    login(client, "hotich")
    assert client.get("/thiet-ke/thu-tuc/1.001193/phien-ban/1").status_code == 403


def _installed() -> str:
    import json

    return str(json.loads((ROOT / "node_modules" / "bpmn-js" / "package.json").read_text("utf-8"))["version"])


def test_bpmn_js_is_served_from_node_modules_with_long_caching_and_its_types(client: Any) -> None:
    base = f"/tai-nguyen/bpmn-js/{_installed()}"
    for name, mimetype in [("bpmn-navigated-viewer.production.min.js", "text/javascript"),
                           ("assets/diagram-js.css", "text/css"), ("assets/bpmn-js.css", "text/css"),
                           ("assets/bpmn-font/font/bpmn.woff2", "font/woff2")]:
        answer = client.get(f"{base}/{name}")
        assert answer.status_code == 200, name
        assert answer.mimetype == mimetype, (name, answer.mimetype)
        assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.data == (ROOT / "node_modules" / "bpmn-js" / "dist" / name).read_bytes()
    for wrong in (f"{base}/../package.json", f"{base}/..%2Fpackage.json", f"{base}/assets/bpmn-font/css/../../..",
                  "/tai-nguyen/bpmn-js/0.0.1/bpmn-viewer.production.min.js", "/tai-nguyen/axe-core/x/axe.min.js",
                  f"{base}/bpmn-viewer.production.min.js.map"):
        answer = client.get(wrong)
        assert answer.status_code == 404, wrong
        assert "no-store" in answer.headers["Cache-Control"], wrong


def test_a_missing_node_modules_is_said_plainly(app: Any, client: Any, tmp_path: Any, caplog: Any) -> None:
    from app.web import vendor

    saved_dir, saved = app.config["NODE_MODULES"], app.extensions.pop(vendor._VERSIONS, None)
    app.config["NODE_MODULES"] = str(tmp_path)
    try:
        with caplog.at_level("WARNING"):
            answer = client.get(f"/tai-nguyen/bpmn-js/{vendor.MISSING}/bpmn-navigated-viewer.production.min.js")
        assert answer.status_code == 503
        assert "npm ci" in answer.get_data(as_text=True) and "Content-Security-Policy" in answer.headers
        assert any("npm ci" in r.getMessage() for r in caplog.records)
    finally:
        app.config["NODE_MODULES"] = saved_dir
        app.extensions.pop(vendor._VERSIONS, None)
        if saved is not None:
            app.extensions[vendor._VERSIONS] = saved

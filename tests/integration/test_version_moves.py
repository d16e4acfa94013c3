"""Versions for designers: download a package, compare two versions, retire one, move running dossiers to another
version (dry run, blocked dossiers left as they are) and repair a dossier stuck on an engine error that way.

The new version of khai sinh used here drops the signing step (Task_KyGiayKhaiSinh and its gateway), adds a filing
step after the result is returned (Task_LuuHoSo, with a form of its own) and removes a field of the result form."""

from __future__ import annotations

import io
import json
import re
import zipfile
from contextlib import contextmanager
from pathlib import Path

import lxml.html
from sqlalchemy import select
from sqlalchemy.orm import scoped_session, sessionmaker

from app.dossiers.services import complete_task, submit_dossier
from app.extensions import db
from app.models import AuditEvent, Dossier, HumanTask, Procedure, ProcedureVersion
from app.models.integration import WorkflowIncident
from app.procedures.deploy import deploy
from app.procedures.package import PackageFiles, check_package, load_directory, load_upload
from tests.conftest import login, make_app, prepare_database, user
from tests.samples import start_data, task_data, with_stored_uploads

ROOT = Path(__file__).resolve().parents[2]
CODE = "1.001193"
FILING_FORM = {"type": "object", "title": "Lưu hồ sơ",
               "properties": {"ghi_chu": {"type": "string", "title": "Ghi chú", "maxLength": 200}}}
FILING = '''
    <bpmn:userTask id="Task_LuuHoSo" name="Lưu hồ sơ">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="luu-ho-so.schema.json"/>
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>Flow_DaTra</bpmn:incoming>
      <bpmn:outgoing>Flow_LuuXong</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="Flow_LuuXong" sourceRef="Task_LuuHoSo" targetRef="EndEvent_DaTraKetQua"/>'''
SIGNING = ("Task_KyGiayKhaiSinh", "Gateway_DaKy", "Flow_TrinhKy", "Flow_DaKy", "Flow_TraLai")
BROKEN = "du_lieu['quyet_dinh_khac'] == \"tu_choi\""
ROLES = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich", "tra_ket_qua": "traketqua"}


def without_signing() -> PackageFiles:
    pkg = load_directory(ROOT / "bpmn" / "khai-sinh")
    bpmn = pkg.bpmn["process.bpmn"].decode()
    bpmn = re.sub(r'\s*<bpmn:userTask id="Task_KyGiayKhaiSinh".*?</bpmn:userTask>', "", bpmn, flags=re.S)
    bpmn = re.sub(r'\s*<bpmn:exclusiveGateway id="Gateway_DaKy".*?</bpmn:exclusiveGateway>', "", bpmn, flags=re.S)
    bpmn = re.sub(r'\s*<bpmn:sequenceFlow id="Flow_TrinhKy"[^>]*/>', "", bpmn)
    bpmn = re.sub(r'\s*<bpmn:sequenceFlow id="Flow_DaKy".*?</bpmn:sequenceFlow>', "", bpmn, flags=re.S)
    bpmn = re.sub(r'\s*<bpmn:sequenceFlow id="Flow_TraLai"[^>]*/>', "", bpmn)
    bpmn = bpmn.replace("<bpmn:incoming>Flow_TraLai</bpmn:incoming>", "")
    bpmn = bpmn.replace('targetRef="Task_KyGiayKhaiSinh"', 'targetRef="Task_TraKetQua"')
    bpmn = bpmn.replace("<bpmn:incoming>Flow_DaKy</bpmn:incoming>", "<bpmn:incoming>Flow_Dat</bpmn:incoming>")
    bpmn = re.sub(r"\s*<bpmn:flowNodeRef>(Task_KyGiayKhaiSinh|Gateway_DaKy)</bpmn:flowNodeRef>", "", bpmn)
    layout = r'\s*<bpmndi:BPMN(Shape|Edge) id="[^"]*" bpmnElement="(' + "|".join(SIGNING) + r')".*?</bpmndi:BPMN\1>'
    bpmn = re.sub(layout, "", bpmn, flags=re.S)
    bpmn = bpmn.replace('sourceRef="Task_TraKetQua" targetRef="EndEvent_DaTraKetQua"/>',
                        'sourceRef="Task_TraKetQua" targetRef="Task_LuuHoSo"/>' + FILING)
    bpmn = bpmn.replace("<bpmn:incoming>Flow_DaTra</bpmn:incoming>\n    </bpmn:endEvent>",
                        "<bpmn:incoming>Flow_LuuXong</bpmn:incoming>\n    </bpmn:endEvent>")
    bpmn = bpmn.replace("<bpmn:flowNodeRef>EndEvent_DaTraKetQua</bpmn:flowNodeRef>",
                        "<bpmn:flowNodeRef>EndEvent_DaTraKetQua</bpmn:flowNodeRef>"
                        "<bpmn:flowNodeRef>Task_LuuHoSo</bpmn:flowNodeRef>")
    assert "Task_KyGiayKhaiSinh" not in bpmn and "Task_LuuHoSo" in bpmn
    pkg.bpmn["process.bpmn"] = bpmn.encode()
    form = json.loads(pkg.forms["tra-ket-qua.schema.json"])
    del form["properties"]["nguoi_nhan"]
    form["required"].remove("nguoi_nhan")
    pkg.forms["tra-ket-qua.schema.json"] = json.dumps(form, ensure_ascii=False, indent=2).encode()
    pkg.forms["luu-ho-so.schema.json"] = json.dumps(FILING_FORM, ensure_ascii=False).encode()
    return pkg


def deployed(pkg: PackageFiles) -> ProcedureVersion:
    result = deploy(pkg, deployed_by="tests")
    assert result.created
    db.session.commit()
    return result.version


def submitted() -> Dossier:
    dossier = submit_dossier(CODE, with_stored_uploads(start_data("khai-sinh"), user("congdan")),
                             applicant=user("congdan"))
    db.session.commit()
    return dossier


def open_task(dossier: Dossier) -> HumanTask | None:
    return db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id,
                                                     HumanTask.state.in_(("ready", "claimed"))))


def step(dossier: Dossier) -> str:
    """Complete the dossier's open step as the officer of its role; the step's engine name."""
    task = open_task(dossier)
    assert task is not None
    name = task.spec_name
    if task.form == "luu-ho-so.schema.json":
        data = {"ghi_chu": "Đã lưu."}
    else:  # the sample answer, without what this version's form no longer has
        fields = task.dossier.procedure_version.forms[task.form]["properties"]
        data = {k: v for k, v in task_data("khai-sinh", task.form).items() if k in fields}
    complete_task(task.id, user(ROLES[task.role]), data)
    db.session.commit()
    return name


def to_the_end(dossier: Dossier) -> list[str]:
    done = []
    while open_task(dossier) is not None:
        done.append(step(dossier))
        assert len(done) < 10
    return done


@contextmanager
def fresh_database(tmp_path: Path):
    """Another app on an SQLite file of its own, migrated and seeded, with `db.session` bound to it meanwhile (the
    test's session is bound to the PostgreSQL test transaction)."""
    other = make_app(f"sqlite:///{tmp_path / 'fresh.db'}", tmp_path)
    kept = db.session
    context = other.app_context()
    context.push()
    db.session = scoped_session(sessionmaker(bind=db.engine))  # type: ignore[assignment]
    try:
        prepare_database(other)
        yield other
    finally:
        db.session.remove()
        db.engine.dispose()
        context.pop()  # its teardown removes the session it finds: the fresh one, not the test's
        db.session = kept


# ---------------------------------------------------------------- download


def test_download_deploys_to_the_same_content_hash_in_a_fresh_database(client, db_session, token, tmp_path):
    version = deployed(without_signing())
    login(client, "thietke")
    response = client.get(f"/thiet-ke/thu-tuc/{CODE}/phien-ban/{version.version}/tai-ve")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.headers["X-Content-Hash-Exact"] == "true"
    data = response.data
    names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    assert {"bpmn/khai-sinh/procedure.json", "bpmn/khai-sinh/process.bpmn",
            "forms/khai-sinh/luu-ho-so.schema.json"} <= names
    assert load_upload([("goi.zip", data)]).content_hash() == version.content_hash
    assert client.get(f"/api/v1/procedures/{CODE}/versions/{version.version}/package",
                      headers=token("thietke")).data == data
    assert client.get(f"/api/v1/procedures/{CODE}/versions/{version.version}/package",
                      headers=token("hotich")).status_code == 403

    # A version deployed before the files were kept: rebuilt from what is stored, still a deployable package.
    expected, number = version.content_hash, version.version
    version.source_files = None
    db.session.commit()
    rebuilt = client.get(f"/thiet-ke/thu-tuc/{CODE}/phien-ban/{number}/tai-ve")
    assert rebuilt.headers["X-Content-Hash-Exact"] == "false"
    assert check_package(load_upload([("goi.zip", rebuilt.data)])).ok

    with fresh_database(tmp_path):
        assert db.session.scalar(select(ProcedureVersion.id).where(ProcedureVersion.content_hash == expected)) is None
        result = deploy(load_upload([("goi.zip", data)]), deployed_by="tests")
        created, got = result.created, result.version.content_hash
        db.session.commit()
    assert created and got == expected


# ---------------------------------------------------------------- compare


def test_compare_lists_the_added_task_the_removed_step_and_the_removed_field(client, db_session, token):
    deployed(without_signing())
    body = client.get(f"/api/v1/procedures/{CODE}/versions/compare?from=1&to=2", headers=token("thietke")).get_json()
    assert body["from"] == 1 and body["to"] == 2
    added = {e["id"]: e for e in body["diagram"]["added"]}
    assert added["Task_LuuHoSo"] == {"id": "Task_LuuHoSo", "type": "userTask", "name": "Lưu hồ sơ"}
    assert "Flow_LuuXong" in added
    removed = {e["id"]: e for e in body["diagram"]["removed"]}
    assert removed["Task_KyGiayKhaiSinh"]["name"] == "Ký giấy khai sinh" and "Gateway_DaKy" in removed
    changed = {e["id"]: e for e in body["diagram"]["changed"]}
    assert changed["Flow_Dat"]["changes"] == ["target"] and changed["Flow_DaTra"]["changes"] == ["target"]
    assert "Task_ThamDinh" not in changed and "Task_TiepNhan" not in changed and "LaneSet_1" not in changed
    assert changed["Lane_LanhDao"]["changes"] == ["nodes"]  # the signing step left the leaders' lane
    forms = {f["form"]: f for f in body["forms"]}
    assert forms["luu-ho-so.schema.json"]["state"] == "added"
    result_form = forms["tra-ket-qua.schema.json"]
    assert result_form["state"] == "changed"
    assert result_form["fields"]["removed"] == [{"pointer": "/nguoi_nhan", "title": "Người nhận kết quả"}]
    assert not result_form["fields"]["added"] and not result_form["fields"]["changed"]
    assert "tiep-nhan.schema.json" not in forms
    assert body["manifest"] == []

    login(client, "thietke")
    html = client.get(f"/thiet-ke/thu-tuc/{CODE}/so-sanh?tu=1&den=2")
    assert html.status_code == 200
    tree = lxml.html.fromstring(html.data)
    diagram = tree.get_element_by_id("diagram-diff").text_content()
    assert "Task_LuuHoSo" in diagram and "Lưu hồ sơ" in diagram and "Task_KyGiayKhaiSinh" in diagram
    assert "/nguoi_nhan" in tree.get_element_by_id("forms-diff").text_content()


# ---------------------------------------------------------------- retire


def test_retiring_versions_moves_new_dossiers_and_lets_running_ones_finish(client, db_session, token):
    v2 = deployed(without_signing())
    running = submitted()
    assert running.procedure_version_id == v2.id
    headers = token("thietke")
    assert client.post(f"/api/v1/procedures/{CODE}/versions/2/retire", headers=token("hotich")).status_code == 403
    answer = client.post(f"/api/v1/procedures/{CODE}/versions/2/retire", headers=headers)
    assert answer.status_code == 200 and answer.get_json()["current_version"] == 1
    assert submitted().procedure_version.version == 1  # new dossiers start on the newest version not retired
    assert to_the_end(running)[-1] == "Task_LuuHoSo"  # the retired version's dossier runs to its end
    assert db.session.get(Dossier, running.id).status == 10

    login(client, "thietke")
    client.post(f"/thiet-ke/thu-tuc/{CODE}/phien-ban/1/ngung", follow_redirects=True)
    db.session.expire_all()
    assert db.session.scalar(select(Procedure).where(Procedure.code == CODE)).current_version_id is None
    refused = client.post(f"/api/v1/procedures/{CODE}/dossiers", json=start_data("khai-sinh"),
                          headers=token("congdan"))
    assert refused.status_code == 404
    listed = client.get(f"/api/v1/procedures/{CODE}/versions", headers=headers).get_json()
    assert listed["current_version"] is None and all(v["retired"] for v in listed["items"])


# ---------------------------------------------------------------- move running dossiers


def test_dry_run_lists_the_blocked_dossier_and_the_move_takes_the_rest_to_the_end(client, db_session, token):
    at_reception, at_signing, at_review = submitted(), submitted(), submitted()
    assert step(at_signing) == "Task_TiepNhan" and step(at_signing) == "Task_ThamDinh"
    assert step(at_review) == "Task_TiepNhan"
    reception_task = open_task(at_reception)
    deployed(without_signing())

    headers = token("thietke")
    dry = client.post(f"/api/v1/procedures/{CODE}/versions/1/moves?to=2", headers=headers)
    assert dry.status_code == 200, dry.get_json()
    items = {i["dossier"]: i for i in dry.get_json()["items"]}
    assert dry.get_json()["dry_run"] is True
    assert items[at_reception.code]["movable"] and items[at_reception.code]["landing"] == ["Tiếp nhận hồ sơ"]
    assert items[at_review.code]["landing"] == ["Thẩm định, ghi sổ hộ tịch"]
    blocked = items[at_signing.code]
    assert not blocked["movable"] and blocked["steps"] == ["Ký giấy khai sinh"]
    assert [o["code"] for o in blocked["obstacles"]] == ["current_step_removed"]
    assert "Ký giấy khai sinh" in blocked["obstacles"][0]["message"]
    db.session.expire_all()
    assert {d.procedure_version.version for d in (at_reception, at_signing, at_review)} == {1}  # nothing moved

    login(client, "thietke")
    page = client.get(f"/thiet-ke/thu-tuc/{CODE}/chuyen-phien-ban?tu=1&den=2")
    rows = lxml.html.fromstring(page.data).get_element_by_id("moves")
    assert at_signing.code in rows.xpath("string(.//tr[@class='blocked'])")
    moved = client.post(f"/thiet-ke/thu-tuc/{CODE}/chuyen-phien-ban", data={"tu": "1", "den": "2"})
    assert moved.status_code == 200
    assert "2/3" in lxml.html.fromstring(moved.data).get_element_by_id("move-summary").text_content()

    db.session.expire_all()
    assert db.session.get(Dossier, at_reception.id).procedure_version.version == 2
    assert db.session.get(Dossier, at_review.id).procedure_version.version == 2
    assert db.session.get(Dossier, at_signing.id).procedure_version.version == 1
    same = open_task(at_reception)  # the open step is the same task, with the new version's description
    assert (same.id, same.engine_task_id) == (reception_task.id, reception_task.engine_task_id)
    entry = db.session.scalar(select(AuditEvent).where(AuditEvent.dossier_id == at_reception.id,
                                                       AuditEvent.action == "migrated"))
    assert entry is not None and entry.note_params == {"old": 1, "new": 2}
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.dossier_id == at_signing.id,
                                                         AuditEvent.action == "migrated")) is None
    login(client, "tiepnhan")  # the officer's history shows the move; the applicant's leaves the machinery out
    history = lxml.html.fromstring(client.get(f"/ho-so/{at_reception.code}").data).get_element_by_id("history")
    assert "Chuyển hồ sơ từ phiên bản v1 sang phiên bản v2" in history.xpath("string(.//tr[@class='event-migrated'])")
    login(client, "congdan")
    history = lxml.html.fromstring(client.get(f"/ho-so/{at_reception.code}").data).get_element_by_id("history")
    assert not history.xpath(".//tr[@class='event-migrated']")

    assert to_the_end(at_reception) == ["Task_TiepNhan", "Task_ThamDinh", "Task_TraKetQua", "Task_LuuHoSo"]
    assert to_the_end(at_review) == ["Task_ThamDinh", "Task_TraKetQua", "Task_LuuHoSo"]
    assert to_the_end(at_signing) == ["Task_KyGiayKhaiSinh", "Task_TraKetQua"]  # still on v1, as it was
    db.session.expire_all()
    assert {db.session.get(Dossier, d.id).status for d in (at_reception, at_review, at_signing)} == {10}
    again = client.post(f"/api/v1/procedures/{CODE}/versions/1/moves?to=2", headers=headers).get_json()
    assert again["items"] == []  # nothing of v1 runs any more


def test_a_dossier_stuck_on_an_engine_error_is_repaired_by_moving_it_to_the_fixed_version(client, db_session, token):
    broken = load_directory(ROOT / "bpmn" / "khai-sinh")
    text = broken.bpmn["process.bpmn"].decode()
    broken.bpmn["process.bpmn"] = text.replace('quyet_dinh_tiep_nhan == "tu_choi"',
                                               BROKEN.replace('"', "&quot;")).encode()
    deployed(broken)
    stuck = submitted()
    assert step(stuck) == "Task_TiepNhan"
    [incident] = db.session.scalars(select(WorkflowIncident).where(WorkflowIncident.dossier_id == stuck.id,
                                                                   WorkflowIncident.state == "open"))
    assert open_task(stuck) is None  # frozen: nobody has anything to do

    fixed = load_directory(ROOT / "bpmn" / "khai-sinh")  # the designer's fix (a new version: its text differs)
    fixed.bpmn["process.bpmn"] = fixed.bpmn["process.bpmn"].replace(b"</bpmn:definitions>",
                                                                    b"<!-- sua dieu kien -->\n</bpmn:definitions>")
    assert deployed(fixed).version == 3

    headers = token("thietke")
    dry = client.post(f"/api/v1/procedures/{CODE}/versions/2/moves?to=3", headers=headers).get_json()
    [item] = dry["items"]
    assert item["incident"] and item["movable"] and item["repaired"] and not item["moved"]
    assert item["landing"] == ["Thẩm định, ghi sổ hộ tịch"]
    db.session.expire_all()
    assert db.session.get(WorkflowIncident, incident.id).state == "open"  # a dry run changes nothing

    done = client.post(f"/api/v1/procedures/{CODE}/versions/2/moves?to=3&dry_run=false", headers=headers)
    assert done.status_code == 200, done.get_json()
    [item] = done.get_json()["items"]
    assert item["moved"] and item["repaired"] and item["steps"] == ["Thẩm định, ghi sổ hộ tịch"]
    db.session.expire_all()
    assert db.session.get(WorkflowIncident, incident.id).state == "resolved"
    assert db.session.get(Dossier, stuck.id).procedure_version.version == 3
    assert to_the_end(stuck) == ["Task_ThamDinh", "Task_KyGiayKhaiSinh", "Task_TraKetQua"]
    assert db.session.get(Dossier, stuck.id).status == 10


def test_a_paused_dossier_is_not_moved(client, db_session, token):
    paused = submitted()
    task = open_task(paused)
    task.state = "held"  # as a supplement request holds it (app.dossiers.desk)
    db.session.commit()
    deployed(without_signing())
    body = client.post(f"/api/v1/procedures/{CODE}/versions/1/moves?to=2&dry_run=false",
                       headers=token("thietke")).get_json()
    [item] = [i for i in body["items"] if i["dossier"] == paused.code]
    assert not item["moved"] and [o["code"] for o in item["obstacles"]] == ["paused"]
    db.session.expire_all()
    assert db.session.get(Dossier, paused.id).procedure_version.version == 1

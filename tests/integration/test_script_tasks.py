"""Script tasks through the platform: deployed with a procedure, run in the sandbox by the engine step that reaches
them, their assignments read by the conditions that follow; a runaway script ends as an incident on its dossier
while the process goes on serving the next one.

Khai sinh is deployed with a script task between the reception step and its gateway: the script decides whether
the dossier was received, and the gateway routes on what it assigned.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from app.dossiers.services import submit_dossier
from app.engine.runtime import task_data_in
from app.extensions import db
from app.models import Dossier, HumanTask, WorkflowInstance
from app.models.integration import WorkflowIncident
from app.procedures.deploy import deploy
from app.procedures.package import check_package, load_directory
from tests.conftest import user
from tests.samples import MOTHER_ID, start_data, task_data, with_stored_uploads

ROOT = Path(__file__).resolve().parents[2]
DECIDES = """
tiep_nhan_duoc = quyet_dinh_tiep_nhan != "tu_choi"
so_giay_to = len(thanh_phan_da_nhan) if 'thanh_phan_da_nhan' in du_lieu else 0
ghi_chu_tiep_nhan = "Đã tiếp nhận " + str(so_giay_to) + " giấy tờ" if tiep_nhan_duoc else "Từ chối"
"""
LOOPS = """
tiep_nhan_duoc = True
while tiep_nhan_duoc:
    so_vong = 1
"""


def _package(script: str):  # type: ignore[no-untyped-def]
    """Khai sinh with a script task «Xét kết quả tiếp nhận» after reception; its gateway routes on the script's
    `tiep_nhan_duoc`."""
    pkg = load_directory(ROOT / "bpmn" / "khai-sinh")
    name = next(n for n in pkg.bpmn if n.endswith("process.bpmn"))
    text = pkg.bpmn[name].decode()
    flow = ('<bpmn:sequenceFlow id="Flow_QuyetDinhTiepNhan" sourceRef="Task_TiepNhan" '
            'targetRef="Gateway_KetQuaTiepNhan"/>')
    script_xml = script.replace("&", "&amp;").replace("<", "&lt;")
    replaced = text.replace(flow, (
        '<bpmn:sequenceFlow id="Flow_QuyetDinhTiepNhan" sourceRef="Task_TiepNhan" targetRef="Task_XetTiepNhan"/>\n'
        '    <bpmn:scriptTask id="Task_XetTiepNhan" name="Xét kết quả tiếp nhận" scriptFormat="python">\n'
        "      <bpmn:incoming>Flow_QuyetDinhTiepNhan</bpmn:incoming><bpmn:outgoing>Flow_DaXet</bpmn:outgoing>\n"
        f"      <bpmn:script>{script_xml}</bpmn:script>\n"
        "    </bpmn:scriptTask>\n"
        '    <bpmn:sequenceFlow id="Flow_DaXet" sourceRef="Task_XetTiepNhan" targetRef="Gateway_KetQuaTiepNhan"/>'))
    replaced = replaced.replace('quyet_dinh_tiep_nhan == "tu_choi"</bpmn:conditionExpression>',
                                "not tiep_nhan_duoc</bpmn:conditionExpression>")
    assert replaced.count("Task_XetTiepNhan") == 3 and "not tiep_nhan_duoc" in replaced
    pkg.bpmn[name] = replaced.encode()
    return pkg


def _submitted(db_session) -> Dossier:  # type: ignore[no-untyped-def]
    dossier = submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), user("congdan")),
                             applicant=user("congdan"))
    db_session.commit()
    return dossier


def _ready(dossier: Dossier) -> list[HumanTask]:
    return list(db.session.scalars(select(HumanTask).where(HumanTask.dossier_id == dossier.id,
                                                           HumanTask.state == "ready")))


def _receive(client, token, dossier: Dossier) -> dict:  # type: ignore[no-untyped-def]
    [task] = _ready(dossier)
    assert task.title == "Tiếp nhận hồ sơ"
    response = client.post(f"/api/v1/tasks/{task.id}/complete", headers=token("tiepnhan"),
                           json=task_data("khai-sinh", task.form))
    assert response.status_code == 200, response.get_json()
    body: dict = response.get_json()
    return body


def test_a_script_task_deploys_and_its_assignments_route_the_dossier(client, db_session, token):
    pkg = _package(DECIDES)
    report = check_package(pkg)
    assert report.verdict == "deployable", [p.message for p in report.problems if p.severity == "error"]
    deploy(pkg, deployed_by="tests")
    db_session.commit()

    dossier = _submitted(db_session)
    body = _receive(client, token, dossier)
    assert not body.get("workflow_error")
    db.session.expire_all()
    assert [t.title for t in _ready(dossier)] == ["Thẩm định, ghi sổ hộ tịch"]
    instance = db.session.scalar(select(WorkflowInstance).where(WorkflowInstance.dossier_id == dossier.id))
    [waiting] = _ready(dossier)
    data = task_data_in(instance.document, waiting.engine_task_id)
    assert data["tiep_nhan_duoc"] is True
    assert data["ghi_chu_tiep_nhan"].startswith("Đã tiếp nhận ")
    assert isinstance(data["so_giay_to"], int)
    assert db.session.scalars(select(WorkflowIncident).where(WorkflowIncident.dossier_id == dossier.id)).all() == []


def test_a_script_that_loops_forever_becomes_an_incident_and_the_next_dossier_still_runs(
        app, client, db_session, token, monkeypatch):
    monkeypatch.setitem(app.config, "SCRIPT_CPU_SECONDS", 0.3)
    deploy(_package(LOOPS), deployed_by="tests")
    db_session.commit()
    stuck = _submitted(db_session)
    body = _receive(client, token, stuck)
    assert "đã được lưu" in body["workflow_error"] and "vòng lặp" in body["workflow_error"]
    db.session.expire_all()
    [incident] = db.session.scalars(select(WorkflowIncident).where(WorkflowIncident.dossier_id == stuck.id,
                                                                   WorkflowIncident.state == "open")).all()
    assert incident.code == "script_cpu_limit" and incident.task_title == "Xét kết quả tiếp nhận"
    assert "0.3 giây CPU" in incident.message
    assert _ready(stuck) == []  # the person's step is kept, the workflow waits for the operators
    listed = client.get("/api/v1/incidents", headers=token("tiepnhan")).get_json()["workflow"]
    assert [(i["dossier_code"], i["code"]) for i in listed] == [(stuck.code, "script_cpu_limit")]

    # The same process serves on: a retry fails the same way and stays open, and a dossier of the repaired
    # version runs its script and moves on.
    again = client.post(f"/api/v1/workflow-incidents/{incident.id}/retry", headers=token("tiepnhan"))
    assert again.status_code == 200 and again.get_json()["state"] == "open"
    deploy(_package(DECIDES), deployed_by="tests")
    db_session.commit()
    following = _submitted(db_session)
    assert not _receive(client, token, following).get("workflow_error")
    db.session.expire_all()
    assert [t.title for t in _ready(following)] == ["Thẩm định, ghi sổ hộ tịch"]


@pytest.mark.parametrize(("script", "code", "says"), [
    ("tiep_nhan_duoc = True\nx = 'a' * (2 * 1024 ** 3)", "script_memory_limit", "MB bộ nhớ"),
    ("tiep_nhan_duoc = True\nx = '{0.__class__}'.format(1)", "script_forbidden", "«str.format»"),
    ("tiep_nhan_duoc = True\nx = 'a' * 300000", "script_output_too_large", "KB"),
])
def test_a_runaway_script_or_an_escape_attempt_at_run_time_ends_as_an_incident(
        client, db_session, token, script, code, says):
    pkg = _package(script)
    assert check_package(pkg).verdict == "deployable"  # nothing the upload check can see
    deploy(pkg, deployed_by="tests")
    db_session.commit()
    dossier = _submitted(db_session)
    body = _receive(client, token, dossier)
    assert "đã được lưu" in body["workflow_error"] and says in body["workflow_error"]
    db.session.expire_all()
    [incident] = db.session.scalars(select(WorkflowIncident).where(WorkflowIncident.dossier_id == dossier.id)).all()
    assert incident.code == code and says in incident.message
    assert _ready(dossier) == []


def test_an_escape_attempt_the_checker_sees_never_deploys():
    report = check_package(_package("tiep_nhan_duoc = thanh_phan_da_nhan.pop.__self__"))
    problem = next(p for p in report.problems if p.code == "script_construct_forbidden")
    assert report.verdict != "deployable" and "«__self__»" in problem.message
    assert problem.line is not None and problem.file.endswith("process.bpmn")


def test_a_name_a_script_reads_that_no_step_defines_is_refused_with_a_suggestion():
    report = check_package(_package('tiep_nhan_duoc = quyet_dinh_tiep_nhn != "tu_choi"'))
    problem = next(p for p in report.problems if p.code == "expression_name_undefined")
    assert report.verdict != "deployable"
    assert "Kịch bản của tác vụ «Xét kết quả tiếp nhận»" in problem.message
    assert "«quyet_dinh_tiep_nhn»" in problem.message and "«quyet_dinh_tiep_nhan»?" in problem.message
    # Read after it is tested for, a name only some paths define is fine; the script's own names never count.
    guarded = check_package(_package("tiep_nhan_duoc = True\nif 'ly_do' in du_lieu:\n    x = ly_do\n"
                                     "def f(a):\n    return a\ny = f(x) if 'x' in du_lieu else None"))
    assert guarded.verdict == "deployable", [p.message for p in guarded.problems]


AFTER_LOOKUP = """
ho_ten_me_tra_cuu = tra_cuu_me['ho_ten'].upper() if 'tra_cuu_me' in du_lieu else ''
"""


def _after_lookups(script: str):  # type: ignore[no-untyped-def]
    """Khai sinh with a script task «Chuẩn hoá kết quả tra cứu» between the population look-ups and reception: it
    runs in the step the look-up's job takes, in the worker."""
    pkg = load_directory(ROOT / "bpmn" / "khai-sinh")
    name = next(n for n in pkg.bpmn if n.endswith("process.bpmn"))
    text = pkg.bpmn[name].decode()
    flow = '<bpmn:sequenceFlow id="Flow_SangTiepNhan" sourceRef="Gateway_XongTraCuuCha" targetRef="Task_TiepNhan"/>'
    replaced = text.replace(flow, (
        '<bpmn:sequenceFlow id="Flow_SangTiepNhan" sourceRef="Gateway_XongTraCuuCha" targetRef="Task_ChuanHoa"/>\n'
        '    <bpmn:scriptTask id="Task_ChuanHoa" name="Chuẩn hoá kết quả tra cứu">\n'
        f"      <bpmn:script>{script}</bpmn:script>\n"
        "    </bpmn:scriptTask>\n"
        '    <bpmn:sequenceFlow id="Flow_DaChuanHoa" sourceRef="Task_ChuanHoa" targetRef="Task_TiepNhan"/>'))
    assert replaced != text
    pkg.bpmn[name] = replaced.encode()
    return pkg


def _run_jobs(jobs) -> None:  # type: ignore[no-untyped-def]
    for _ in range(10):
        if not jobs.jobs:
            return
        jobs.run_all()


def test_a_script_after_a_lookup_runs_in_the_job_step_and_a_loop_there_is_an_incident(
        app, db_session, jobs, national, monkeypatch):
    monkeypatch.setitem(app.config, "SCRIPT_CPU_SECONDS", 0.3)

    def submit() -> Dossier:
        data = with_stored_uploads(start_data("khai-sinh"), user("congdan"))
        data["me"]["so_dinh_danh"] = MOTHER_ID
        dossier = submit_dossier("1.001193", data, applicant=user("congdan"))
        db_session.commit()
        return dossier

    deploy(_after_lookups(AFTER_LOOKUP), deployed_by="tests")
    db_session.commit()
    dossier = submit()
    assert _ready(dossier) == []  # the look-up's job comes first
    _run_jobs(jobs)
    db.session.expire_all()
    [reception] = _ready(dossier)
    instance = db.session.scalar(select(WorkflowInstance).where(WorkflowInstance.dossier_id == dossier.id))
    assert task_data_in(instance.document, reception.engine_task_id)["ho_ten_me_tra_cuu"] == "TRẦN THỊ BÌNH"

    deploy(_after_lookups("while True:\n    pass"), deployed_by="tests")
    db_session.commit()
    looping = submit()
    _run_jobs(jobs)  # the job's step meets the loop: the answer is kept, the loop becomes an incident
    db.session.expire_all()
    [incident] = db.session.scalars(select(WorkflowIncident).where(WorkflowIncident.dossier_id == looping.id)).all()
    assert incident.code == "script_cpu_limit" and incident.task_title == "Chuẩn hoá kết quả tra cứu"
    assert _ready(looping) == []
    # The worker goes on: a dossier of a repaired version runs its script in the next job.
    deploy(_after_lookups(AFTER_LOOKUP.replace("upper", "lower")), deployed_by="tests")
    db_session.commit()
    following = submit()
    _run_jobs(jobs)
    db.session.expire_all()
    [reception] = _ready(following)
    instance = db.session.scalar(select(WorkflowInstance).where(WorkflowInstance.dossier_id == following.id))
    assert task_data_in(instance.document, reception.engine_task_id)["ho_ten_me_tra_cuu"] == "trần thị bình"

"""Multi-instance user tasks through the platform: one appraisal step per item of a list of the start form.

Parallel, each instance sent to the agency its item names (`assignedAgency`: the commune People's Committee's
specialist and the commune police's take one each, neither sees the other's); sequential, one instance after the
other; with an output collection (the designer's, SpiffWorkflow's own behaviour) and without (the platform collects
every instance's form data in `ket_qua_<task id>`; SpiffWorkflow 3.2 alone raises on the sequential case). Later
conditions read what was collected, and the dossier ends with the status its branch sets.
"""

from __future__ import annotations

import pytest

from app.dossiers.diagrams import dossier_progress
from app.dossiers.errors import NotFound
from app.dossiers.listings import ListQuery, inbox
from app.dossiers.services import claim_task
from app.models import Dossier
from tests.breadth_support import (
    AGENCY,
    MANIFEST,
    POLICE,
    agency_code,
    checked,
    complete,
    definitions,
    deployed,
    end,
    errors,
    open_tasks,
    process,
    submit,
    task_data,
    user_task,
    workflow_data,
)
from tests.conftest import login, user

PROCESS = "tham_dinh_lien_nganh"


def loop(sequential: bool, output: bool, input_ref: str = "phong_ban") -> str:
    collected = ('<bpmn:loopDataOutputRef>y_kiens</bpmn:loopDataOutputRef>'
                 '<bpmn:outputDataItem id="y_kien" name="y_kien"/>') if output else ""
    return (f'<bpmn:multiInstanceLoopCharacteristics isSequential="{str(sequential).lower()}">'
            f'<bpmn:loopDataInputRef>{input_ref}</bpmn:loopDataInputRef>{collected}'
            '<bpmn:inputDataItem id="phong" name="phong"/></bpmn:multiInstanceLoopCharacteristics>')


def diagram(sequential: bool, output: bool, condition: str, *, assigned: str | None = None,
            input_ref: str = "phong_ban") -> str:
    """Reception → the appraisal, once per item of phong_ban → signing when `condition` holds, else refusal."""
    props = {"assignedAgency": assigned} if assigned else None
    return definitions(process(
        PROCESS,
        '<bpmn:startEvent id="Bat_Dau"/>'
        + user_task("Tiep_Nhan", "Tiếp nhận hồ sơ", "tiep-nhan", status=1, receives=True)
        + user_task("Tham_Dinh", "Thẩm định", "tham-dinh", status=4, allotted="1", props=props,
                    extra=loop(sequential, output, input_ref))
        + '<bpmn:exclusiveGateway id="Gw_Dat" default="F_KhongDat"/>'
        + user_task("Ky_Duyet", "Ký duyệt", "ky", status=4)
        + end("Ket_Thuc", 10) + end("Tu_Choi", 3),
        {"Bộ phận một cửa": ["Bat_Dau", "Tiep_Nhan"], "Chuyên viên": ["Tham_Dinh", "Gw_Dat", "Tu_Choi"],
         "Lãnh đạo": ["Ky_Duyet", "Ket_Thuc"]},
        [("F1", "Bat_Dau", "Tiep_Nhan"), ("F2", "Tiep_Nhan", "Tham_Dinh"), ("F3", "Tham_Dinh", "Gw_Dat"),
         ("F_Dat", "Gw_Dat", "Ky_Duyet", condition), ("F_KhongDat", "Gw_Dat", "Tu_Choi"),
         ("F4", "Ky_Duyet", "Ket_Thuc")]))


ALL_PASSED = "all(k['dat'] for k in ket_qua_Tham_Dinh)"


def titles(username: str) -> list[tuple[str, str]]:
    return [(t.title, t.dossier_code) for t in inbox(user(username), ListQuery()).items]


def test_parallel_appraisal_by_two_agencies_each_instance_to_its_own_officers(db_session):
    deployed({"process.bpmn": diagram(False, False, ALL_PASSED, assigned="phong")})
    db_session.commit()
    dossier = submit(db_session, {"phong_ban": [AGENCY, POLICE]})
    complete(db_session, open_tasks(dossier.id)[0], {})
    instances = open_tasks(dossier.id)
    assert [(t.title, t.role, agency_code(t)) for t in instances] == [
        ("Thẩm định", "chuyen_vien", AGENCY), ("Thẩm định", "chuyen_vien", POLICE)]
    assert all(t.due_at is not None for t in instances)
    assert db_session.get(Dossier, dossier.id).status == 4
    ubnd, police = instances
    assert task_data(ubnd)["phong"] == AGENCY and task_data(police)["phong"] == POLICE
    # Each agency's specialist sees and takes only the instance sent to it.
    assert titles("hotich") == [("Thẩm định", dossier.code)] and titles("ca.cutru") == [("Thẩm định", dossier.code)]
    with pytest.raises(NotFound):
        claim_task(police.id, user("hotich"))
    db_session.rollback()
    with pytest.raises(NotFound):
        claim_task(ubnd.id, user("ca.cutru"))
    db_session.rollback()

    complete(db_session, police, {"dat": True, "y_kien": "Đúng nơi cư trú"}, "ca.cutru")
    assert [t.id for t in open_tasks(dossier.id)] == [ubnd.id]  # waits for every agency
    progress = dossier_progress(db_session.get(Dossier, dossier.id), user("hotich"))
    assert progress["current"] == ["Tham_Dinh"] and "Tiep_Nhan" in progress["completed"]  # one step, on the diagram
    complete(db_session, ubnd, {"dat": True, "y_kien": "Hồ sơ đầy đủ"}, "hotich")
    [signing] = open_tasks(dossier.id)
    assert signing.title == "Ký duyệt"
    collected = task_data(signing)["ket_qua_Tham_Dinh"]
    assert collected == [{"phong": AGENCY, "dat": True, "y_kien": "Hồ sơ đầy đủ"},
                         {"phong": POLICE, "dat": True, "y_kien": "Đúng nơi cư trú"}]  # in the list's order
    assert "phong" not in task_data(signing)  # an instance's item stays in it
    complete(db_session, signing, {"phe_duyet": True}, "chutich")
    assert db_session.get(Dossier, dossier.id).status == 10
    assert workflow_data(dossier.id)["ket_qua_Tham_Dinh"] == collected


def test_one_agency_s_objection_sends_the_dossier_to_the_refusal(db_session):
    deployed({"process.bpmn": diagram(False, False, ALL_PASSED, assigned="phong")})
    db_session.commit()
    dossier = submit(db_session, {"phong_ban": [AGENCY, POLICE]})
    complete(db_session, open_tasks(dossier.id)[0], {})
    ubnd, police = open_tasks(dossier.id)
    complete(db_session, ubnd, {"dat": True}, "hotich")
    complete(db_session, police, {"dat": False, "y_kien": "Không cư trú tại địa chỉ"}, "ca.cutru")
    assert open_tasks(dossier.id) == []
    assert db_session.get(Dossier, dossier.id).status == 3


def test_an_unknown_agency_code_leaves_the_instance_with_the_procedure_s_agency(db_session):
    deployed({"process.bpmn": diagram(False, False, ALL_PASSED, assigned="phong")})
    db_session.commit()
    dossier = submit(db_session, {"phong_ban": ["999.99.99.H99"]})
    complete(db_session, open_tasks(dossier.id)[0], {})
    [instance] = open_tasks(dossier.id)
    assert agency_code(instance) == AGENCY  # not stuck: the procedure's own specialists take it
    complete(db_session, instance, {"dat": True}, "hotich")
    assert [t.title for t in open_tasks(dossier.id)] == ["Ký duyệt"]


@pytest.mark.parametrize("output", [False, True], ids=["without-output", "with-output"])
def test_sequential_appraisal_one_item_after_the_other(db_session, output):
    condition = "len(y_kiens) == 3" if output else ALL_PASSED
    deployed({"process.bpmn": diagram(True, output, condition)})
    db_session.commit()
    dossier = submit(db_session, {"phong_ban": ["tu_phap", "dia_chinh", "van_hoa"]})
    complete(db_session, open_tasks(dossier.id)[0], {})
    seen = []
    for answer in ("Ý kiến 1", "Ý kiến 2", "Ý kiến 3"):
        [step] = open_tasks(dossier.id)  # one at a time
        assert (step.title, step.role, agency_code(step)) == ("Thẩm định", "chuyen_vien", AGENCY)
        seen.append(task_data(step)["phong"])
        complete(db_session, step, {"dat": True, "y_kien": answer}, "hotich")
    assert seen == ["tu_phap", "dia_chinh", "van_hoa"]
    [signing] = open_tasks(dossier.id)
    assert signing.title == "Ký duyệt"
    data = task_data(signing)
    if output:
        assert data["y_kiens"] == ["Ý kiến 1", "Ý kiến 2", "Ý kiến 3"]
        assert "ket_qua_Tham_Dinh" not in data
    else:
        assert [(k["phong"], k["y_kien"], k["dat"]) for k in data["ket_qua_Tham_Dinh"]] == [
            ("tu_phap", "Ý kiến 1", True), ("dia_chinh", "Ý kiến 2", True), ("van_hoa", "Ý kiến 3", True)]
    complete(db_session, signing, {"phe_duyet": True}, "chutich")
    assert db_session.get(Dossier, dossier.id).status == 10


def test_parallel_with_an_output_collection_keeps_spiffworkflow_s_behaviour(db_session):
    deployed({"process.bpmn": diagram(False, True, "'Không đạt' not in y_kiens")})
    db_session.commit()
    dossier = submit(db_session, {"phong_ban": ["a", "b"]})
    complete(db_session, open_tasks(dossier.id)[0], {})
    first, second = open_tasks(dossier.id)
    complete(db_session, second, {"dat": True, "y_kien": "Đạt B"}, "hotich")
    complete(db_session, first, {"dat": True, "y_kien": "Đạt A"}, "hotich")
    [signing] = open_tasks(dossier.id)
    assert task_data(signing)["y_kiens"] == ["Đạt B", "Đạt A"]  # SpiffWorkflow's: in the order they finished
    assert "ket_qua_Tham_Dinh" not in task_data(signing)


@pytest.mark.parametrize("sequential", [False, True], ids=["parallel", "sequential"])
def test_an_empty_list_skips_the_step_and_its_collection_is_empty(db_session, sequential):
    deployed({"process.bpmn": diagram(sequential, False, "len(ket_qua_Tham_Dinh) == 0")})
    db_session.commit()
    dossier = submit(db_session, {"phong_ban": []})
    complete(db_session, open_tasks(dossier.id)[0], {})
    [signing] = open_tasks(dossier.id)
    assert signing.title == "Ký duyệt" and task_data(signing)["ket_qua_Tham_Dinh"] == []


def test_the_checker_reads_what_a_multi_instance_task_gives_and_needs():
    files = {"process.bpmn": diagram(True, False, ALL_PASSED)}
    assert checked(files).ok  # sequential without an output collection now runs
    # A condition reading an instance's field after the task: the instances' fields stay in them.
    leaked = checked({"process.bpmn": diagram(False, False, "dat == True")})
    assert not leaked.ok and "«dat»" in errors(leaked)["expression_name_undefined"]
    # With an output collection, that is what the process gets (the platform's collection is not made).
    other = checked({"process.bpmn": diagram(False, True, ALL_PASSED)})
    assert not other.ok and "ket_qua_Tham_Dinh" in errors(other)["expression_name_undefined"]
    # An input collection no step defines.
    typo = checked({"process.bpmn": diagram(False, False, ALL_PASSED, input_ref="phong_bann")})
    assert not typo.ok and "phong_bann" in errors(typo)["expression_name_undefined"]
    # assignedAgency is an expression: another tool's language is refused.
    juel = checked({"process.bpmn": diagram(False, False, ALL_PASSED, assigned="${phong}")})
    assert not juel.ok and "assignedAgency" in errors(juel)["expression_language_unsupported"]
    assert MANIFEST["lanes"]["Chuyên viên"] == "chuyen_vien"


def test_the_other_agency_s_officer_works_the_instance_over_the_api_and_the_web(db_session, client, token):
    deployed({"process.bpmn": diagram(False, False, ALL_PASSED, assigned="phong")})
    db_session.commit()
    dossier = submit(db_session, {"phong_ban": [AGENCY, POLICE]})
    complete(db_session, open_tasks(dossier.id)[0], {})
    ubnd, police = open_tasks(dossier.id)
    headers = token("ca.cutru")
    listed = client.get("/api/v1/tasks", headers=headers).get_json()["items"]
    assert [t["id"] for t in listed] == [police.id]
    assert client.get(f"/api/v1/tasks/{ubnd.id}", headers=headers).status_code == 404
    login(client, "ca.cutru")
    own = client.get(f"/cong-viec/{police.id}")
    assert own.status_code == 200 and "Thẩm định" in own.get_data(as_text=True)
    assert client.post(f"/api/v1/tasks/{police.id}/claim", headers=headers).status_code == 200
    done = client.post(f"/api/v1/tasks/{police.id}/complete", headers=headers, json={"dat": True, "y_kien": "Đạt"})
    assert done.status_code == 200, done.get_json()
    login(client, "hotich")
    page = client.get(f"/cong-viec/{ubnd.id}")
    assert page.status_code == 200 and "Thẩm định" in page.get_data(as_text=True)
    login(client, "ca.cutru")
    assert client.get(f"/cong-viec/{ubnd.id}").status_code == 404
    complete(db_session, open_tasks(dossier.id)[0], {"dat": True}, "hotich")
    assert task_data(open_tasks(dossier.id)[0])["ket_qua_Tham_Dinh"][1] == {"phong": POLICE, "dat": True,
                                                                              "y_kien": "Đạt"}

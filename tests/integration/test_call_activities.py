"""Call activities through the platform: a procedure reusing a shared sub-process, kept in a second .bpmn file of the
package or as a second process of the same file. Deployed through app.procedures.deploy, dossiers submitted and steps
completed through the dossier services: the called process's user tasks reach the inbox of the role its lane maps to,
with their status and allotted time, its form data comes back to the calling process's conditions, and the diagram
marks the call activity while the shared process runs.
"""

from __future__ import annotations

import pytest

from app.dossiers import services
from app.dossiers.diagrams import dossier_progress
from app.dossiers.errors import NotFound
from app.dossiers.listings import ListQuery, inbox
from app.models import Dossier
from tests.breadth_support import (
    LANES,
    MANIFEST,
    checked,
    complete,
    definitions,
    deployed,
    end,
    errors,
    open_tasks,
    process,
    submit,
    user_task,
)
from tests.conftest import user

CALLER = "tham_dinh_lien_nganh"
SHARED = "tham_dinh_chung"


def caller_process(call: str = f'<bpmn:callActivity id="Goi_ThamDinh" name="Thẩm định (quy trình chung)" '
                                f'calledElement="{SHARED}"/>') -> str:
    """Reception → the shared appraisal (called) → the leader signs when it passed, else a refusal."""
    return process(
        CALLER,
        '<bpmn:startEvent id="Bat_Dau"/>'
        + user_task("Tiep_Nhan", "Tiếp nhận hồ sơ", "tiep-nhan", status=1, receives=True)
        + call
        + '<bpmn:exclusiveGateway id="Gw_Dat" default="F_KhongDat"/>'
        + user_task("Ky_Duyet", "Ký duyệt", "ky", status=4, allotted="0.5")
        + end("Ket_Thuc", 10) + end("Tu_Choi", 3),
        {"Bộ phận một cửa": ["Bat_Dau", "Tiep_Nhan"], "Lãnh đạo": ["Goi_ThamDinh", "Gw_Dat", "Ky_Duyet", "Ket_Thuc",
                                                                   "Tu_Choi"]},
        [("F1", "Bat_Dau", "Tiep_Nhan"), ("F2", "Tiep_Nhan", "Goi_ThamDinh"), ("F3", "Goi_ThamDinh", "Gw_Dat"),
         ("F_Dat", "Gw_Dat", "Ky_Duyet", "dat == True"), ("F_KhongDat", "Gw_Dat", "Tu_Choi"),
         ("F4", "Ky_Duyet", "Ket_Thuc")])


def shared_process(executable: bool = True) -> str:
    """The shared appraisal: one specialist's step, with its own status and allotted time."""
    return process(
        SHARED,
        '<bpmn:startEvent id="TD_Bat_Dau"/>'
        + user_task("TD_Tham_Dinh", "Thẩm định hồ sơ", "tham-dinh", status=4, allotted="2")
        + end("TD_Xong"),
        {"Chuyên viên": ["TD_Bat_Dau", "TD_Tham_Dinh", "TD_Xong"]},
        [("G1", "TD_Bat_Dau", "TD_Tham_Dinh"), ("G2", "TD_Tham_Dinh", "TD_Xong")], executable=executable)


MANIFEST_CALLING = {**MANIFEST, "process_id": CALLER}
TWO_FILES = {"process.bpmn": definitions(caller_process()), "tham-dinh-chung.bpmn": definitions(shared_process())}
ONE_FILE = {"process.bpmn": definitions(caller_process(), shared_process())}


def inbox_titles(username: str) -> list[str]:
    return [t.title for t in inbox(user(username), ListQuery()).items]


@pytest.mark.parametrize("files", [TWO_FILES, ONE_FILE], ids=["second-file", "same-file"])
def test_a_called_process_s_steps_reach_the_role_of_its_lane_and_its_data_returns(db_session, files):
    version = deployed(files, MANIFEST_CALLING)
    db_session.commit()
    assert version.tasks["TD_Tham_Dinh"]["role"] == "chuyen_vien"
    dossier = submit(db_session, {})
    [reception] = open_tasks(dossier.id)
    assert reception.role == "tiep_nhan"
    complete(db_session, reception, {})

    [appraisal] = open_tasks(dossier.id)
    assert (appraisal.title, appraisal.lane, appraisal.role) == ("Thẩm định hồ sơ", "Chuyên viên", "chuyen_vien")
    assert appraisal.due_at is not None and appraisal.due_at > appraisal.created_at  # allottedTime 2 working days
    assert db_session.get(Dossier, dossier.id).status == 4  # the called step's dossierStatus
    assert "Thẩm định hồ sơ" in inbox_titles("hotich")
    assert "Thẩm định hồ sơ" not in inbox_titles("tiepnhan") and "Thẩm định hồ sơ" not in inbox_titles("chutich")
    with pytest.raises(NotFound):
        services.claim_task(appraisal.id, user("tiepnhan"))
    db_session.rollback()
    # The diagram: the call activity is where the dossier stands while the shared process runs.
    progress = dossier_progress(db_session.get(Dossier, dossier.id), user("hotich"))
    assert "Goi_ThamDinh" in progress["current"] and "Tiep_Nhan" in progress["completed"]
    assert "Thẩm định (quy trình chung)" in [s["name"] for s in progress["steps"]["current"]]

    complete(db_session, appraisal, {"dat": True, "y_kien": "Đủ điều kiện"}, "hotich")
    [signing] = open_tasks(dossier.id)  # the caller's condition read the called process's `dat`
    assert (signing.title, signing.role) == ("Ký duyệt", "lanh_dao_ky")
    progress = dossier_progress(db_session.get(Dossier, dossier.id), user("chutich"))
    assert "Goi_ThamDinh" in progress["completed"] and progress["current"] == ["Ky_Duyet"]
    assert "F_Dat" in progress["flows"]
    complete(db_session, signing, {"phe_duyet": True}, "chutich")
    finished = db_session.get(Dossier, dossier.id)
    assert finished.status == 10 and open_tasks(dossier.id) == []


def test_the_called_process_decides_the_caller_s_branch_the_other_way(db_session):
    deployed(TWO_FILES, MANIFEST_CALLING)
    db_session.commit()
    dossier = submit(db_session, {})
    complete(db_session, open_tasks(dossier.id)[0], {})
    complete(db_session, open_tasks(dossier.id)[0], {"dat": False, "y_kien": "Thiếu giấy tờ"}, "hotich")
    assert open_tasks(dossier.id) == []
    assert db_session.get(Dossier, dossier.id).status == 3  # the caller's refusal end event


def test_the_checker_refuses_what_a_call_cannot_run_with_what_to_change():
    # A called process that is in no file of the package.
    missing = checked({"process.bpmn": definitions(caller_process())}, MANIFEST_CALLING)
    assert not missing.ok and "call_target_missing" in errors(missing)
    assert SHARED in errors(missing)["call_target_missing"]
    # No calledElement at all.
    blank = checked({"process.bpmn": definitions(caller_process(
        '<bpmn:callActivity id="Goi_ThamDinh" name="Thẩm định"/>'), shared_process())}, MANIFEST_CALLING)
    assert not blank.ok and "calledElement" in errors(blank)["call_target_missing"]
    # Two processes of the package with a user task of the same id: a step is known by its id.
    clash = definitions(caller_process(), shared_process().replace("TD_Tham_Dinh", "Ky_Duyet"))
    shared = checked({"process.bpmn": clash}, MANIFEST_CALLING)
    assert not shared.ok and "task_id_shared" in errors(shared)
    assert "Ky_Duyet" in errors(shared)["task_id_shared"]
    # A lane of the called process that the manifest does not map.
    unmapped = checked(TWO_FILES, {**MANIFEST_CALLING, "lanes": {k: v for k, v in LANES.items() if k != "Chuyên viên"}})
    assert not unmapped.ok and "Chuyên viên" in errors(unmapped)["lane_unmapped"]
    # Both processes executable and no process_id: which one runs is asked for.
    ambiguous = checked(TWO_FILES)
    assert not ambiguous.ok and "process_id" in ambiguous.reason
    # What runs is accepted.
    assert checked(TWO_FILES, MANIFEST_CALLING).ok and checked(ONE_FILE, MANIFEST_CALLING).ok


def test_a_shared_process_called_once_per_item_one_after_the_other(db_session):
    # SpiffWorkflow 3.2 alone stops a sequential multi-instance task with no output collection after its first item
    # ("input item already exists"); a call activity run once per item goes through every item.
    looped = ('<bpmn:callActivity id="Goi_ThamDinh" name="Thẩm định từng phòng" calledElement="tham_dinh_chung">'
              '<bpmn:multiInstanceLoopCharacteristics isSequential="true">'
              "<bpmn:loopDataInputRef>phong_ban</bpmn:loopDataInputRef>"
              '<bpmn:inputDataItem id="phong" name="phong"/></bpmn:multiInstanceLoopCharacteristics>'
              "</bpmn:callActivity>")
    deployed({"process.bpmn": definitions(caller_process(looped)), "tham-dinh-chung.bpmn": definitions(
        shared_process())}, MANIFEST_CALLING)
    db_session.commit()
    dossier = submit(db_session, {"phong_ban": ["tu_phap", "dia_chinh"]})
    complete(db_session, open_tasks(dossier.id)[0], {})
    for answer in (True, True):
        [appraisal] = open_tasks(dossier.id)
        assert (appraisal.title, appraisal.role) == ("Thẩm định hồ sơ", "chuyen_vien")
        complete(db_session, appraisal, {"dat": answer}, "hotich")
    [signing] = open_tasks(dossier.id)
    assert signing.title == "Ký duyệt"

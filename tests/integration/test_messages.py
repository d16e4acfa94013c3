"""BPMN messages from outside a dossier's workflow, through the platform: deployed, dossiers run by the services and
the messages delivered over the API (POST /api/v1/dossiers/<code>/messages), correlated by the dossier's code.

One procedure waits for messages in the three ways a diagram can: an event-based gateway between a message and a
timer, a message boundary event that interrupts a step, and a receive task. The checker accepts those waits only
when procedure.json declares the messages (`messages`) or a pool of the package sends them; a message nothing waits
for is refused with what the dossier does wait for, so a replay is never applied twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.dossiers.services import complete_task, submit_dossier
from app.dossiers.workflow_runs import live_runs
from app.extensions import db
from app.models import AuditEvent, Dossier, HumanTask
from app.procedures.deploy import deploy
from app.procedures.package import PackageFiles, check_package
from tests.conftest import user

ROOT = Path(__file__).resolve().parents[2]
CODE = "9.900301"
START = {"nguoi_yeu_cau": {"ho_ten": "Nguyễn Văn An", "so_dinh_danh": "001090012345", "dien_thoai": "0912345678",
                           "dia_chi": "Số 1 phố Hàng Bạc, Hà Nội"}, "noi_dung": "Xin xác minh thông tin."}
PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="D" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:message id="M_XacMinh" name="ket_qua_xac_minh"/>
  <bpmn:message id="M_Huy" name="huy_ho_so"/>
  <bpmn:message id="M_XacNhan" name="xac_nhan_tra"/>
  <bpmn:process id="xac_minh" isExecutable="true">
    <bpmn:laneSet id="LS"><bpmn:lane id="L" name="Bộ phận một cửa">
      <bpmn:flowNodeRef>S</bpmn:flowNodeRef><bpmn:flowNodeRef>T_TiepNhan</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>T_XuLy</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="S"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="T_TiepNhan" name="Tiếp nhận hồ sơ">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="tiep-nhan.schema.json"/>
        <spiffworkflow:property name="dossierStatus" value="1"/>
        <spiffworkflow:property name="receivesDossier" value="true"/>
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:eventBasedGateway id="G_Cho" name="Chờ kết quả xác minh"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing><bpmn:outgoing>f4</bpmn:outgoing></bpmn:eventBasedGateway>
    <bpmn:intermediateCatchEvent id="E_KetQua" name="Nhận kết quả xác minh">
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>
      <bpmn:messageEventDefinition id="MED1" messageRef="M_XacMinh"><bpmn:extensionElements>
        <spiffworkflow:messageVariable>xac_minh</spiffworkflow:messageVariable></bpmn:extensionElements>
      </bpmn:messageEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="E_QuaHan" name="Quá 30 ngày không có kết quả">
      <bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f6</bpmn:outgoing>
      <bpmn:timerEventDefinition id="TED"><bpmn:timeDuration>P30D</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="End_QuaHan"><bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="dossierStatus" value="3"/></spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f6</bpmn:incoming></bpmn:endEvent>
    <bpmn:userTask id="T_XuLy" name="Xử lý theo kết quả xác minh">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="xu-ly.schema.json"/>
        <spiffworkflow:property name="dossierStatus" value="4"/>
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f5</bpmn:incoming><bpmn:outgoing>f7</bpmn:outgoing></bpmn:userTask>
    <bpmn:boundaryEvent id="B_Huy" name="Cơ quan xác minh hủy" attachedToRef="T_XuLy">
      <bpmn:outgoing>f8</bpmn:outgoing>
      <bpmn:messageEventDefinition id="MED2" messageRef="M_Huy"><bpmn:extensionElements>
        <spiffworkflow:messageVariable>ly_do_huy</spiffworkflow:messageVariable></bpmn:extensionElements>
      </bpmn:messageEventDefinition></bpmn:boundaryEvent>
    <bpmn:endEvent id="End_Huy"><bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="dossierStatus" value="3"/></spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f8</bpmn:incoming></bpmn:endEvent>
    <bpmn:receiveTask id="R_XacNhan" name="Chờ xác nhận đã trả" messageRef="M_XacNhan">
      <bpmn:incoming>f7</bpmn:incoming><bpmn:outgoing>f9</bpmn:outgoing></bpmn:receiveTask>
    <bpmn:endEvent id="End_DaTra"><bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="dossierStatus" value="10"/></spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f9</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="T_TiepNhan"/>
    <bpmn:sequenceFlow id="f2" sourceRef="T_TiepNhan" targetRef="G_Cho"/>
    <bpmn:sequenceFlow id="f3" sourceRef="G_Cho" targetRef="E_KetQua"/>
    <bpmn:sequenceFlow id="f4" sourceRef="G_Cho" targetRef="E_QuaHan"/>
    <bpmn:sequenceFlow id="f5" sourceRef="E_KetQua" targetRef="T_XuLy"/>
    <bpmn:sequenceFlow id="f6" sourceRef="E_QuaHan" targetRef="End_QuaHan"/>
    <bpmn:sequenceFlow id="f7" sourceRef="T_XuLy" targetRef="R_XacNhan"/>
    <bpmn:sequenceFlow id="f8" sourceRef="B_Huy" targetRef="End_Huy"/>
    <bpmn:sequenceFlow id="f9" sourceRef="R_XacNhan" targetRef="End_DaTra"/>
  </bpmn:process>
</bpmn:definitions>
"""
XU_LY = {"type": "object", "title": "Xử lý", "required": ["ket_luan"],
         "properties": {"ket_luan": {"type": "string", "title": "Kết luận", "minLength": 2, "maxLength": 500}}}
DECLARED: dict[str, Any] = {
            "ket_qua_xac_minh": {"description": "Kết quả xác minh của cơ quan khác",
                                 "key": "/nguoi_yeu_cau/so_dinh_danh"},
            "huy_ho_so": "Cơ quan xác minh đề nghị hủy hồ sơ", "xac_nhan_tra": "Bưu điện xác nhận đã trả kết quả"}


def package(declared: dict[str, Any] | None = DECLARED) -> PackageFiles:
    blank = ROOT / "app" / "procedures" / "blank"
    manifest = {
        "code": CODE, "name": "Xác minh thông tin (thử thông điệp)", "level": "xa", "agency": "000.00.01.H26",
        "processing_time": {"amount": 3, "unit": "working_days"}, "fee": {"in_person": 0, "online": 0},
        "start_form": "to-khai.schema.json", "process_id": "xac_minh", "lanes": {"Bộ phận một cửa": "tiep_nhan"},
    }
    if declared is not None:
        manifest["messages"] = declared
    return PackageFiles(slug="xac-minh", bpmn={"process.bpmn": PROCESS.encode()},
                        forms={"to-khai.schema.json": (blank / "to-khai.schema.json").read_bytes(),
                               "tiep-nhan.schema.json": (blank / "tiep-nhan.schema.json").read_bytes(),
                               "xu-ly.schema.json": json.dumps(XU_LY).encode()},
                        manifest=json.dumps(manifest).encode())


def _received(db_session: Any) -> Dossier:
    deploy(package(), deployed_by="tests")
    dossier = submit_dossier(CODE, START, applicant=user("congdan"))
    task = db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id, HumanTask.state == "ready"))
    complete_task(task.id, user("tiepnhan"), {"ghi_chu_tiep_nhan": "Đủ giấy tờ."})
    db_session.commit()
    return dossier


def _open_titles(dossier: Dossier) -> list[str]:
    return list(db.session.scalars(select(HumanTask.title).where(HumanTask.dossier_id == dossier.id,
                                                                 HumanTask.state == "ready")))


def _send(client: Any, token: Any, code: str, name: str, payload: Any, who: str = "tiepnhan") -> Any:
    live_runs().clear()  # the waits are found in the stored workflow, not only in one this process kept
    return client.post(f"/api/v1/dossiers/{code}/messages", headers=token(who), json={"ten": name, "noi_dung": payload})


def test_waiting_for_messages_is_refused_unless_declared_or_sent_by_a_pool(db_session):
    refused = check_package(package(declared=None))
    codes = sorted({p.code for p in refused.problems})
    assert not refused.ok and "message_wait_unsupported" in codes, codes
    accepted = check_package(package())
    assert accepted.ok, [p.message for p in accepted.problems]


def test_a_message_takes_the_gateway_and_a_receive_task_ends_the_dossier(client, db_session, token):
    dossier = _received(db_session)
    assert _open_titles(dossier) == []  # waiting at the gateway: for the message, or for 30 days
    wrong = _send(client, token, dossier.code, "xac_nhan_tra", {})
    assert wrong.status_code == 409
    error = wrong.get_json()["error"]
    assert error["code"] == "message_not_awaited" and error["details"]["waiting"] == ["ket_qua_xac_minh"]

    done = _send(client, token, dossier.code, "ket_qua_xac_minh", {"ket_qua": "khop", "co_quan": "Công an"})
    assert done.status_code == 200, done.data[:400]
    assert [t["title"] for t in done.get_json()["tasks"]] == ["Xử lý theo kết quả xác minh"]
    replay = _send(client, token, dossier.code, "ket_qua_xac_minh", {"ket_qua": "khop"})
    assert replay.status_code == 409  # already taken: not applied twice
    db.session.expire_all()
    assert dossier.workflow.next_due_at is None  # the gateway's timer went with the branch not taken

    from app.engine.runtime import task_data_in

    step = db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id, HumanTask.state == "ready"))
    assert task_data_in(dossier.workflow.document, step.engine_task_id)["xac_minh"] == {
        "ket_qua": "khop", "co_quan": "Công an"}
    complete_task(step.id, user("tiepnhan"), {"ket_luan": "Thông tin khớp."})
    db_session.commit()
    assert _send(client, token, dossier.code, "xac_nhan_tra", {"ngay": "2026-12-03"}).status_code == 200
    db.session.expire_all()
    assert db.session.get(Dossier, dossier.id).status == 10
    notes = list(db.session.scalars(select(AuditEvent.note_params).where(AuditEvent.dossier_id == dossier.id,
                                                                         AuditEvent.action == "message_received")))
    assert notes == [{"message": "ket_qua_xac_minh"}, {"message": "xac_nhan_tra"}]


def test_a_message_boundary_event_interrupts_the_step(client, db_session, token):
    dossier = _received(db_session)
    assert _send(client, token, dossier.code, "ket_qua_xac_minh", {"ket_qua": "khong_khop"}).status_code == 200
    assert _open_titles(dossier) == ["Xử lý theo kết quả xác minh"]
    cancelled = _send(client, token, dossier.code, "huy_ho_so", "Người yêu cầu đã rút đề nghị.")
    assert cancelled.status_code == 200, cancelled.data[:300]
    db.session.expire_all()
    assert _open_titles(dossier) == [] and db.session.get(Dossier, dossier.id).status == 3


def test_only_the_dossiers_agencies_deliver_and_unknown_dossiers_are_404(client, db_session, token):
    dossier = _received(db_session)
    for who in ("ca.cutru", "congdan", "thietke"):
        assert _send(client, token, dossier.code, "ket_qua_xac_minh", {}, who).status_code == 403, who
    assert _send(client, token, "000.00.01.H26-261201-9999", "ket_qua_xac_minh", {}).status_code == 404
    assert _send(client, token, dossier.code, "", {}).status_code == 422


def test_a_message_finds_its_dossier_by_a_declared_key(client, db_session, token):
    """`ket_qua_xac_minh` is correlated by the applicant's personal ID (procedure.json `messages` … `key`): another
    system that knows the person, not the dossier code, reaches the dossier waiting for it."""
    dossier = _received(db_session)
    live_runs().clear()
    url = "/api/v1/messages"
    unknown = client.post(url, headers=token("tiepnhan"),
                          json={"ten": "ket_qua_xac_minh", "khoa": "001099999999", "noi_dung": {}})
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "message_key_unknown"
    done = client.post(url, headers=token("tiepnhan"),
                       json={"ten": "ket_qua_xac_minh", "khoa": START["nguoi_yeu_cau"]["so_dinh_danh"],
                             "noi_dung": {"ket_qua": "khop"}})
    assert done.status_code == 200, done.data[:400]
    assert [d["code"] for d in done.get_json()["dossiers"]] == [dossier.code]
    again = client.post(url, headers=token("tiepnhan"),
                        json={"ten": "ket_qua_xac_minh", "khoa": START["nguoi_yeu_cau"]["so_dinh_danh"],
                              "noi_dung": {"ket_qua": "khop"}})
    assert again.status_code == 409  # the one dossier with that key no longer waits for it


def test_a_key_must_name_a_start_form_field(db_session):
    report = check_package(package({"ket_qua_xac_minh": {"key": "/nguoi_yeu_cau/so_cmnd"}}))
    assert [p.pointer for p in report.problems if p.code == "message_key_unknown"] == ["/messages/ket_qua_xac_minh/key"]

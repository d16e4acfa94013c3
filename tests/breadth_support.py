"""A small procedure package of the tests' own, for the engine-breadth tests (call activities, multi-instance tasks,
decision tables, event-based gateways): deployed through app.procedures.deploy and run through the dossier services
as officers and citizens do.

The package is «Thẩm định liên ngành» (code 9.000001) of UBND phường Ba Đình (000.00.01.H26): a start form, a
reception step at the one-stop desk, an appraisal by specialists and a leader's signature, with the lanes mapped to
the demo officers' roles. Each test draws its own process with `process()` and `user_task()`.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from app.dossiers import services
from app.extensions import db
from app.models import HumanTask, WorkflowInstance
from app.procedures.deploy import DeployRefused, deploy
from app.procedures.package import PackageFiles, PackageReport, check_package
from tests.conftest import user

CODE = "9.000001"
AGENCY = "000.00.01.H26"  # UBND phường Ba Đình
POLICE = "000.00.02.H26"  # Công an phường Ba Đình
LANES = {"Bộ phận một cửa": "tiep_nhan", "Chuyên viên": "chuyen_vien", "Lãnh đạo": "lanh_dao_ky"}
# Who takes a step of each role, by agency.
OFFICERS = {(AGENCY, "tiep_nhan"): "tiepnhan", (AGENCY, "chuyen_vien"): "hotich", (AGENCY, "lanh_dao_ky"): "chutich",
            (POLICE, "chuyen_vien"): "ca.cutru", (POLICE, "tiep_nhan"): "ca.tiepnhan"}

START_FORM = {
    "type": "object", "title": "Tờ khai",
    "required": ["ho_ten"],
    "properties": {
        "ho_ten": {"type": "string", "title": "Họ và tên", "minLength": 1, "maxLength": 100},
        "so_ban": {"type": "integer", "title": "Số bản", "minimum": 0, "maximum": 50, "default": 1},
        "dien_tich": {"type": "integer", "title": "Diện tích (m²)", "minimum": 0, "maximum": 100000, "default": 0},
        "phong_ban": {"type": "array", "title": "Cơ quan thẩm định", "maxItems": 5,
                      "items": {"type": "string", "maxLength": 30}},
    },
}
FORMS = {
    "to-khai.schema.json": START_FORM,
    "tiep-nhan.schema.json": {"type": "object", "title": "Tiếp nhận",
                              "properties": {"ghi_chu": {"type": "string", "maxLength": 200}}},
    "tham-dinh.schema.json": {"type": "object", "title": "Thẩm định", "required": ["dat"],
                              "properties": {"dat": {"type": "boolean", "title": "Đạt"},
                                             "y_kien": {"type": "string", "title": "Ý kiến", "maxLength": 500}}},
    "ky.schema.json": {"type": "object", "title": "Ký duyệt",
                       "properties": {"phe_duyet": {"type": "boolean", "title": "Phê duyệt"}}},
}
MANIFEST: dict[str, Any] = {
    "code": CODE, "name": "Thẩm định liên ngành", "level": "xa", "agency": AGENCY,
    "processing_time": {"amount": 5, "unit": "working_days"}, "fee": {},
    "start_form": "to-khai.schema.json", "lanes": LANES, "applicant": {"name": "/ho_ten"},
}
NS = ('xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
      'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
      'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" targetNamespace="http://motcua.test"')


def user_task(task_id: str, name: str, form: str, *, status: int | None = None, allotted: str | None = None,
              receives: bool = False, extra: str = "", props: dict[str, str] | None = None) -> str:
    """A user task with the package's form `form` (tiep-nhan, tham-dinh, ky) and the platform's properties."""
    values = {"formJsonSchemaFilename": f"{form}.schema.json", **(props or {})}
    if status is not None:
        values["dossierStatus"] = str(status)
    if allotted is not None:
        values["allottedTime"] = allotted
    if receives:
        values["receivesDossier"] = "true"
    xml = "".join(f'<spiffworkflow:property name="{k}" value="{v}"/>' for k, v in values.items())
    return (f'<bpmn:userTask id="{task_id}" name="{name}"><bpmn:extensionElements><spiffworkflow:properties>{xml}'
            f'</spiffworkflow:properties></bpmn:extensionElements>{extra}</bpmn:userTask>')


def end(end_id: str, status: int | None = None) -> str:
    if status is None:
        return f'<bpmn:endEvent id="{end_id}"/>'
    return (f'<bpmn:endEvent id="{end_id}"><bpmn:extensionElements><spiffworkflow:properties>'
            f'<spiffworkflow:property name="dossierStatus" value="{status}"/></spiffworkflow:properties>'
            "</bpmn:extensionElements></bpmn:endEvent>")


def flows(*edges: tuple[str, str, str] | tuple[str, str, str, str]) -> list[tuple[str, ...]]:
    return list(edges)


def process(process_id: str, body: str, lanes: dict[str, list[str]], edges: list[tuple[str, ...]],
            executable: bool = True) -> str:
    """One bpmn:process: its nodes, lanes (lane name → node ids) and flows (id, source, target[, condition])."""
    lane_xml = "".join(
        f'<bpmn:lane id="Lane_{process_id}_{i}" name="{name}">'
        + "".join(f"<bpmn:flowNodeRef>{node}</bpmn:flowNodeRef>" for node in nodes) + "</bpmn:lane>"
        for i, (name, nodes) in enumerate(lanes.items()))
    flow_xml = ""
    for edge in edges:
        fid, src, dst = edge[:3]
        if len(edge) > 3:
            flow_xml += (f'<bpmn:sequenceFlow id="{fid}" sourceRef="{src}" targetRef="{dst}"><bpmn:conditionExpression>'
                         f"{edge[3]}</bpmn:conditionExpression></bpmn:sequenceFlow>")
        else:
            flow_xml += f'<bpmn:sequenceFlow id="{fid}" sourceRef="{src}" targetRef="{dst}"/>'
    return (f'<bpmn:process id="{process_id}" isExecutable="{"true" if executable else "false"}">'
            f'<bpmn:laneSet id="LaneSet_{process_id}">{lane_xml}</bpmn:laneSet>{body}{flow_xml}</bpmn:process>')


def definitions(*processes: str) -> str:
    return f"<?xml version='1.0' encoding='UTF-8'?><bpmn:definitions {NS} id='Defs'>{''.join(processes)}" \
           "</bpmn:definitions>"


def package(files: dict[str, str], manifest: dict[str, Any] | None = None,
            forms: dict[str, Any] | None = None) -> PackageFiles:
    pkg = PackageFiles(slug="tham-dinh-lien-nganh")
    pkg.manifest = json.dumps(manifest or MANIFEST, ensure_ascii=False).encode()
    pkg.bpmn = {name: text.encode() for name, text in files.items()}
    pkg.forms = {name: json.dumps(form, ensure_ascii=False).encode() for name, form in (forms or FORMS).items()}
    return pkg


def deployed(files: dict[str, str], manifest: dict[str, Any] | None = None) -> Any:
    """Deploy the package (the caller commits); the new version. An AssertionError lists the checker's problems."""
    try:
        return deploy(package(files, manifest), deployed_by="tests").version
    except DeployRefused as exc:
        raise AssertionError([(p.code, p.file, p.line, p.pointer, p.message) for p in exc.report.problems]) from exc


def checked(files: dict[str, str], manifest: dict[str, Any] | None = None) -> PackageReport:
    return check_package(package(files, manifest))


def errors(report: PackageReport) -> dict[str, str]:
    """code → message of the report's errors."""
    return {p.code: p.message for p in report.problems if p.severity == "error"}


def submit(db_session: Any, data: dict[str, Any], channel: int = 2) -> Any:
    dossier = services.submit_dossier(CODE, {"ho_ten": "Nguyễn Văn An", **data}, applicant=user("congdan"),
                                      channel=channel)
    db_session.commit()
    return dossier


def open_tasks(dossier_id: int) -> list[HumanTask]:
    db.session.expire_all()
    return list(db.session.scalars(select(HumanTask).where(HumanTask.dossier_id == dossier_id,
                                                           HumanTask.state.in_(("ready", "claimed")))
                                   .order_by(HumanTask.id)))


def agency_code(task: HumanTask) -> str:
    from app.models import Agency

    found = db.session.get(Agency, task.agency_id)
    assert found is not None
    return str(found.code)


def officer_for(task: HumanTask) -> str:
    return OFFICERS[(agency_code(task), task.role)]


def complete(db_session: Any, task: HumanTask, data: dict[str, Any], username: str | None = None) -> None:
    """Claim and complete the task as the officer of its agency and role (or `username`)."""
    officer = user(username or officer_for(task))
    services.claim_task(task.id, officer)
    db_session.commit()
    services.complete_task(task.id, officer, data)
    db_session.commit()
    db_session.expire_all()


def workflow_data(dossier_id: int) -> dict[str, Any]:
    """The workflow's own data (a finished workflow's compact document keeps it)."""
    db.session.expire_all()
    instance = db.session.scalar(select(WorkflowInstance).where(WorkflowInstance.dossier_id == dossier_id))
    assert instance is not None
    return dict(instance.document.get("data") or {})


def instance_document(dossier_id: int) -> dict[str, Any]:
    db.session.expire_all()
    instance = db.session.scalar(select(WorkflowInstance).where(WorkflowInstance.dossier_id == dossier_id))
    assert instance is not None
    return dict(instance.document)


def task_data(task: HumanTask) -> dict[str, Any]:
    """What the workflow holds for a waiting task (what its officer sees)."""
    from app.engine.runtime import task_data_in

    return task_data_in(instance_document(task.dossier_id), task.engine_task_id)

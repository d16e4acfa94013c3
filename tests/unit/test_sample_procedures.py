# ruff: noqa: TID251
"""The two shipped procedure packages (khai-sinh, thuong-tru) are coherent and run every path.

These tests read the files straight from bpmn/<slug>/ and forms/<slug>/ and drive the diagrams with
SpiffWorkflow directly, without any platform code: a package that fails here is broken whatever the
platform does with it. The default script engine is acceptable only because the diagrams are our own
and hold nothing but simple comparisons (a test below makes sure of that).
"""

from __future__ import annotations

import ast
import copy
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.serializer.task_spec import ServiceTaskConverter
from SpiffWorkflow.util.task import TaskState

from app.engine.environment import SafeScriptEngine
from app.engine.service import DeferredServiceTask, MotcuaBpmnParser

ROOT = Path(__file__).resolve().parents[2]
SLUGS = ["khai-sinh", "thuong-tru"]
NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
ROLES = {"tiep_nhan", "chuyen_vien", "lanh_dao_phong", "lanh_dao_ky", "tra_ket_qua", "cong_dan"}
FLOW_NODES = {"startEvent", "endEvent", "userTask", "exclusiveGateway", "parallelGateway", "inclusiveGateway",
              "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent", "manualTask", "task",
              "callActivity", "subProcess", "businessRuleTask", "sendTask", "receiveTask", "serviceTask"}
FORBIDDEN = {"scriptTask", "preScript", "postScript"}  # service tasks run as jobs, scripts never
SCHEMA_2020_12 = "https://json-schema.org/draft/2020-12/schema"
DELETE = object()


# ------------------------------------------------------------------------------------- package files


def manifest(slug: str) -> dict[str, Any]:
    return json.loads((ROOT / "bpmn" / slug / "procedure.json").read_text(encoding="utf-8"))


def form(slug: str, name: str) -> dict[str, Any]:
    return json.loads((ROOT / "forms" / slug / name).read_text(encoding="utf-8"))


def form_names(slug: str) -> list[str]:
    return sorted(p.name for p in (ROOT / "forms" / slug).glob("*.json"))


def validator(slug: str, name: str) -> Draft202012Validator:
    return Draft202012Validator(form(slug, name), format_checker=FormatChecker())


def bpmn_path(slug: str) -> Path:
    return ROOT / "bpmn" / slug / "process.bpmn"


def bpmn_tree(slug: str) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.parse(str(bpmn_path(slug)), parser).getroot()


def local(element: etree._Element) -> str:
    return etree.QName(element).localname


def process_of(slug: str) -> etree._Element:
    processes = bpmn_tree(slug).findall("bpmn:process", NS)
    assert len(processes) == 1
    return processes[0]


def properties(element: etree._Element) -> dict[str, str]:
    nodes = element.findall("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)
    return {n.get("name"): n.get("value") for n in nodes}


def lane_of(process: etree._Element) -> dict[str, str]:
    return {ref.text: ref.getparent().get("name") for ref in process.iterfind(".//bpmn:lane/bpmn:flowNodeRef", NS)}


def pointer_get(doc: Any, pointer: str) -> Any:
    for part in pointer.lstrip("/").split("/"):
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


def schema_at(schema: dict[str, Any], pointer: str) -> dict[str, Any]:
    for part in pointer.lstrip("/").split("/"):
        schema = schema["items"] if part.isdigit() else schema["properties"][part]
    return schema


def mutate(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


# ------------------------------------------------------------------------------------- sample data

PDF = "9c1e2f7a4b5d/{}.pdf"  # an upload reference as the platform stores it: <token>/<file name>

START: dict[str, dict[str, Any]] = {
    "khai-sinh": {
        "nguoi_yeu_cau": {
            "ho_ten": "Nguyễn Văn An",
            "so_dinh_danh": "001090012345",
            "ngay_sinh": "1990-05-12",
            "gioi_tinh": "nam",
            "dien_thoai": "0912345678",
            "email": "an.nguyen@example.vn",
            "noi_cu_tru": "Số 12 ngõ 34 phố Kim Mã, phường Ngọc Hà, thành phố Hà Nội",
            "quan_he_voi_tre": "cha",
        },
        "tre": {
            "ho_ten": "Nguyễn Minh Khang",
            "gioi_tinh": "nam",
            "ngay_sinh": "2025-06-01",
            "noi_sinh": "Bệnh viện Phụ sản Hà Nội",
            "quoc_tich": "Việt Nam",
            "dan_toc": "Kinh",
            "que_quan": "Xã Đông Hưng, tỉnh Hưng Yên",
        },
        "me": {
            "ho_ten": "Trần Thị Bình",
            "so_dinh_danh": "001195012346",
            "nam_sinh": 1995,
            "dan_toc": "Kinh",
            "quoc_tich": "Việt Nam",
            "noi_cu_tru": "Số 12 ngõ 34 phố Kim Mã, phường Ngọc Hà, thành phố Hà Nội",
        },
        "cha": {
            "ho_ten": "Nguyễn Văn An",
            "so_dinh_danh": "001090012345",
            "nam_sinh": 1990,
            "dan_toc": "Kinh",
            "quoc_tich": "Việt Nam",
            "noi_cu_tru": "Số 12 ngõ 34 phố Kim Mã, phường Ngọc Hà, thành phố Hà Nội",
        },
        "giay_chung_sinh": PDF.format("giay-chung-sinh"),
        "so_ban_sao": 2,
    },
    "thuong-tru": {
        "nguoi_khai": {
            "ho_ten": "Lê Thị Hoa",
            "so_dinh_danh": "031188004567",
            "ngay_sinh": "1988-03-20",
            "gioi_tinh": "nu",
            "dien_thoai": "0987654321",
            "email": "hoa.le@example.vn",
            "noi_o_hien_tai": "Số 5 đường Lạch Tray, phường Lê Chân, thành phố Hải Phòng",
        },
        "noi_de_nghi_dang_ky": "Số 20 đường Trần Phú, phường Ngô Quyền, thành phố Hải Phòng",
        "co_so_hop_phap": "gcn_quyen_su_dung",
        "giay_to_cho_o_hop_phap": PDF.format("giay-chung-nhan"),
        "giay_to_quan_he_nhan_than": PDF.format("giay-chung-nhan-ket-hon"),
        "chu_ho": {"ho_ten": "Phạm Văn Minh", "so_dinh_danh": "031085001234", "quan_he_voi_chu_ho": "vo"},
        "thanh_vien_cung_dang_ky": [
            {"ho_ten": "Phạm Gia Bảo", "ngay_sinh": "2015-09-02", "so_dinh_danh": "031215006789", "quan_he": "con"},
        ],
        "noi_dung_de_nghi": "Đề nghị đăng ký thường trú cho tôi và con vào hộ gia đình ông Phạm Văn Minh (chồng).",
    },
}

ACCEPT = {"thanh_phan_da_nhan": ["TK", "GCS", "GTTT"], "so_bo_ho_so": 1, "quyet_dinh_tiep_nhan": "tiep_nhan"}
REFUSE = {"thanh_phan_da_nhan": ["TK"], "quyet_dinh_tiep_nhan": "tu_choi",
          "ly_do": "Thiếu giấy chứng sinh hoặc văn bản của người làm chứng."}
RETURN = {"hinh_thuc_tra": "truc_tiep", "ngay_tra": "2025-06-11", "nguoi_nhan": "Nguyễn Văn An"}
KS_PASS = {"ket_qua_tham_dinh": "dat", "so_dang_ky": "125", "quyen_so": "01/2025", "ngay_dang_ky": "2025-06-10"}
KS_FAIL = {"ket_qua_tham_dinh": "khong_dat", "ly_do_khong_dat": "Giấy chứng sinh không hợp lệ."}
TT_ACCEPT = {"thanh_phan_da_nhan": ["CT01", "CSHP", "QHNT"], "quyet_dinh_tiep_nhan": "tiep_nhan"}
TT_REFUSE = {"thanh_phan_da_nhan": ["CT01"], "quyet_dinh_tiep_nhan": "tu_choi",
             "ly_do": "Không có giấy tờ chứng minh chỗ ở hợp pháp."}
TT_PASS = {"ket_qua_tham_dinh": "dat", "ghi_chu": "Đã đối chiếu Cơ sở dữ liệu quốc gia về dân cư."}
TT_MORE = {"ket_qua_tham_dinh": "bo_sung", "noi_dung_bo_sung": "Bổ sung bản chụp giấy chứng nhận kết hôn.",
           "thanh_phan_can_bo_sung": ["QHNT"]}
TT_FAIL = {"ket_qua_tham_dinh": "khong_dat", "ly_do_khong_dat": "Chỗ ở đang có tranh chấp quyền sở hữu."}
SUPPLEMENT = {"giai_trinh": "Đã bổ sung giấy chứng nhận kết hôn.", "giay_to_bo_sung": PDF.format("ket-hon")}


# ------------------------------------------------------------------------------------- the manifest


@pytest.mark.parametrize("slug", SLUGS)
def test_manifest_is_complete_and_points_into_the_start_form(slug: str) -> None:
    data = manifest(slug)
    assert re.fullmatch(r"[0-9]\.[0-9]{6}", data["code"])
    assert data["level"] in {"bo", "tinh", "xa"}
    assert data["service_level"] in {"toan_trinh", "mot_phan"}
    assert re.fullmatch(r"\d{3}\.\d{2}\.\d{2}\.H\d{2}", data["agency"])
    assert data["processing_time"]["unit"] in {"working_days", "days"}
    assert data["processing_time"]["amount"] >= 0  # 0: the same day (hộ tịch, with its 15:00 cut-off)
    assert set(data["lanes"].values()) <= ROLES
    assert data["process_id"] == process_of(slug).get("id")
    assert (ROOT / "forms" / slug / data["start_form"]).is_file()

    start_schema = form(slug, data["start_form"])
    document = START[slug]
    for key, pointer in data["applicant"].items():
        value = pointer_get(document, pointer)
        assert isinstance(value, str) and value, key
        assert schema_at(start_schema, pointer)["type"] == "string"
    assert pointer_get(document, data["summary"])

    codes = [c["code"] for c in data["components"]]
    assert len(codes) == len(set(codes))
    assert any(c["required"] for c in data["components"])
    for component in data["components"]:
        if "field" in component:  # an upload in the start form carries this component
            assert schema_at(start_schema, component["field"]).get("contentMediaType"), component["code"]


def test_manifests_carry_the_legal_times_and_fees() -> None:
    khai_sinh, thuong_tru = manifest("khai-sinh"), manifest("thuong-tru")
    assert (khai_sinh["code"], khai_sinh["agency"]) == ("1.001193", "000.00.01.H26")
    # Luật Hộ tịch: the same day; received after 15:00, the result the next working day.
    assert khai_sinh["processing_time"] == {"amount": 0, "unit": "working_days", "online_amount": 0, "cutoff": "15:00"}
    assert (khai_sinh["fee"]["in_person"], khai_sinh["fee"]["online"]) == (0, 0)
    assert (thuong_tru["code"], thuong_tru["agency"]) == ("1.004222", "000.00.02.H26")
    assert thuong_tru["processing_time"]["amount"] == 7
    assert (thuong_tru["fee"]["in_person"], thuong_tru["fee"]["online"]) == (20000, 10000)
    assert thuong_tru["lanes"]["Công dân"] == "cong_dan"


# ------------------------------------------------------------------------------------- the forms


def _check_ui(ui: dict[str, Any], schema: dict[str, Any], where: str) -> None:
    props = schema.get("properties", {})
    for name in ui.get("ui:order", []):
        assert name in props, f"{where}: ui:order names unknown field {name}"
    for key, value in ui.items():
        if key.startswith("ui:"):
            continue
        if key == "items":
            _check_ui(value, schema["items"], f"{where}/items")
            continue
        assert key in props, f"{where}: hint for unknown field {key}"
        widget = value.get("ui:widget")
        if widget == "file":
            assert props[key].get("contentMediaType"), f"{where}/{key}"
        if widget == "radio":
            assert "enum" in props[key] or "oneOf" in props[key], f"{where}/{key}"
        _check_ui(value, props[key], f"{where}/{key}")


@pytest.mark.parametrize("slug", SLUGS)
def test_every_form_is_json_schema_2020_12_with_matching_ui_hints(slug: str) -> None:
    names = form_names(slug)
    schemas = [n for n in names if n.endswith(".schema.json")]
    assert manifest(slug)["start_form"] in schemas
    for name in schemas:
        schema = form(slug, name)
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == SCHEMA_2020_12, name
        assert schema["type"] == "object" and schema["properties"], name
        assert schema.get("title"), name
        ui_name = name.replace(".schema.json", ".ui.json")
        if ui_name in names:
            _check_ui(form(slug, ui_name), schema, ui_name)
    for name in names:
        assert name.endswith((".schema.json", ".ui.json")), name
        if name.endswith(".ui.json"):
            assert name.replace(".ui.json", ".schema.json") in schemas, name


@pytest.mark.parametrize("slug", SLUGS)
def test_field_names_do_not_collide_once_merged_into_task_data(slug: str) -> None:
    """Form data is merged flat into task data: a shared name would let one step overwrite another's."""
    start = manifest(slug)["start_form"]
    seen: dict[str, str] = {}
    for name in [start, *sorted(task_forms(slug))]:
        for field_name in form(slug, name)["properties"]:
            assert field_name not in seen, f"{field_name} in both {seen.get(field_name)} and {name}"
            seen[field_name] = name


@pytest.mark.parametrize("slug", SLUGS)
def test_sample_start_document_is_valid(slug: str) -> None:
    start = manifest(slug)["start_form"]
    assert list(validator(slug, start).iter_errors(START[slug])) == []


def test_father_is_optional_as_a_whole_but_complete_when_given() -> None:
    check = validator("khai-sinh", "to-khai.schema.json")
    assert check.is_valid(mutate(START["khai-sinh"], ("cha",), DELETE))
    assert not check.is_valid(mutate(START["khai-sinh"], ("cha",), {"ho_ten": "Nguyễn Văn An"}))


@pytest.mark.parametrize(("slug", "path", "value"), [
    ("khai-sinh", ("nguoi_yeu_cau", "so_dinh_danh"), "00109001234"),
    ("khai-sinh", ("nguoi_yeu_cau", "so_dinh_danh"), "00109001234a"),
    ("khai-sinh", ("nguoi_yeu_cau", "dien_thoai"), "912345678"),
    ("khai-sinh", ("nguoi_yeu_cau", "email"), "khong-phai-email"),
    ("khai-sinh", ("nguoi_yeu_cau", "gioi_tinh"), "khac"),
    ("khai-sinh", ("nguoi_yeu_cau", "quan_he_voi_tre"), "hang_xom"),
    ("khai-sinh", ("tre", "ngay_sinh"), "01/06/2025"),
    ("khai-sinh", ("tre", "ho_ten"), DELETE),
    ("khai-sinh", ("me", "nam_sinh"), 1850),
    ("khai-sinh", ("me", "nam_sinh"), "1995"),
    ("khai-sinh", ("so_ban_sao",), 11),
    ("khai-sinh", ("so_ban_sao",), "ba"),
    ("khai-sinh", ("tre",), DELETE),
    ("khai-sinh", ("giay_chung_sinh",), DELETE),
    ("thuong-tru", ("nguoi_khai", "so_dinh_danh"), "0311880045678"),
    ("thuong-tru", ("nguoi_khai", "ngay_sinh"), "20-03-1988"),
    ("thuong-tru", ("co_so_hop_phap",), "so_do"),
    ("thuong-tru", ("giay_to_cho_o_hop_phap",), DELETE),
    ("thuong-tru", ("chu_ho", "quan_he_voi_chu_ho"), "ban"),
    ("thuong-tru", ("thanh_vien_cung_dang_ky", 0, "so_dinh_danh"), "abc"),
    ("thuong-tru", ("thanh_vien_cung_dang_ky", 0, "quan_he"), DELETE),
    ("thuong-tru", ("thanh_vien_cung_dang_ky",), [{"ho_ten": "A B", "so_dinh_danh": "031215006789",
                                                  "quan_he": "con"}] * 21),
    ("thuong-tru", ("noi_dung_de_nghi",), ""),
])
def test_wrong_start_document_is_refused(slug: str, path: tuple[Any, ...], value: Any) -> None:
    check = validator(slug, manifest(slug)["start_form"])
    assert check.is_valid(START[slug])
    assert not check.is_valid(mutate(START[slug], path, value))


@pytest.mark.parametrize(("slug", "name", "data", "valid"), [
    ("khai-sinh", "tiep-nhan.schema.json", ACCEPT, True),
    ("khai-sinh", "tiep-nhan.schema.json", REFUSE, True),
    ("khai-sinh", "tiep-nhan.schema.json", {**REFUSE, "ly_do": ""}, False),
    ("khai-sinh", "tiep-nhan.schema.json", {"thanh_phan_da_nhan": ["TK"], "quyet_dinh_tiep_nhan": "tu_choi"}, False),
    ("khai-sinh", "tiep-nhan.schema.json", {**ACCEPT, "quyet_dinh_tiep_nhan": "co_le"}, False),
    ("khai-sinh", "tham-dinh.schema.json", KS_PASS, True),
    ("khai-sinh", "tham-dinh.schema.json", {"ket_qua_tham_dinh": "dat"}, False),
    ("khai-sinh", "tham-dinh.schema.json", KS_FAIL, True),
    ("khai-sinh", "tham-dinh.schema.json", {"ket_qua_tham_dinh": "khong_dat"}, False),
    ("khai-sinh", "ky-duyet.schema.json", {"phe_duyet": True}, True),
    ("khai-sinh", "ky-duyet.schema.json", {"phe_duyet": False}, False),
    ("khai-sinh", "ky-duyet.schema.json", {"phe_duyet": "co"}, False),
    ("khai-sinh", "tra-ket-qua.schema.json", RETURN, True),
    ("khai-sinh", "tra-ket-qua.schema.json", {**RETURN, "hinh_thuc_tra": "fax"}, False),
    ("thuong-tru", "tiep-nhan.schema.json", TT_REFUSE, True),
    ("thuong-tru", "tiep-nhan.schema.json", {**TT_REFUSE, "ly_do": DELETE}, False),
    ("thuong-tru", "tham-dinh.schema.json", TT_MORE, True),
    ("thuong-tru", "tham-dinh.schema.json", {"ket_qua_tham_dinh": "bo_sung"}, False),
    ("thuong-tru", "tham-dinh.schema.json", {"ket_qua_tham_dinh": "khong_dat"}, False),
    ("thuong-tru", "tham-dinh.schema.json", {"ket_qua_tham_dinh": "dat"}, True),
    ("thuong-tru", "bo-sung.schema.json", SUPPLEMENT, True),
    ("thuong-tru", "bo-sung.schema.json", {"giay_to_bo_sung": PDF.format("x")}, False),
    ("thuong-tru", "phe-duyet.schema.json", {"dong_y": False, "y_kien": "Đề nghị xác minh lại chỗ ở."}, True),
    ("thuong-tru", "phe-duyet.schema.json", {"dong_y": False}, False),
])
def test_task_forms_require_what_the_decision_needs(slug: str, name: str, data: dict[str, Any], valid: bool) -> None:
    data = {k: v for k, v in data.items() if v is not DELETE}
    assert validator(slug, name).is_valid(data) is valid


# ------------------------------------------------------------------------------------- the diagram


def task_forms(slug: str) -> set[str]:
    return {properties(t)["formJsonSchemaFilename"] for t in process_of(slug).iterfind("bpmn:userTask", NS)}


@pytest.mark.parametrize("slug", SLUGS)
def test_bpmn_is_schema_valid_and_uses_nothing_forbidden(slug: str) -> None:
    BpmnValidator().validate(bpmn_tree(slug), str(bpmn_path(slug)))  # raises on any XSD violation
    process = process_of(slug)
    assert process.get("isExecutable") == "true"
    used = {local(e) for e in process.iter() if isinstance(e.tag, str)}
    assert not used & FORBIDDEN


@pytest.mark.parametrize("slug", SLUGS)
def test_every_element_is_drawn_inside_its_lane(slug: str) -> None:
    root = bpmn_tree(slug)
    process = process_of(slug)
    shapes = {s.get("bpmnElement"): s for s in root.iterfind(".//bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement"): e for e in root.iterfind(".//bpmndi:BPMNEdge", NS)}

    def bounds(element_id: str) -> tuple[float, float, float, float]:
        b = shapes[element_id].find("dc:Bounds", NS)
        return float(b.get("x")), float(b.get("y")), float(b.get("width")), float(b.get("height"))

    def on_border(point: tuple[float, float], element_id: str) -> bool:
        x, y, w, h = bounds(element_id)
        px, py = point
        inside = x - 1 <= px <= x + w + 1 and y - 1 <= py <= y + h + 1
        return inside and min(abs(px - x), abs(px - x - w), abs(py - y), abs(py - y - h)) <= 1

    participant = root.find(".//bpmn:collaboration/bpmn:participant", NS)
    assert participant is not None and participant.get("processRef") == process.get("id")
    assert participant.get("id") in shapes
    lanes = process.findall(".//bpmn:lane", NS)
    assert lanes and all(lane.get("id") in shapes for lane in lanes)
    lane_ids = {lane.get("name"): lane.get("id") for lane in lanes}

    nodes = [e for e in process if isinstance(e.tag, str) and local(e) in FLOW_NODES]
    in_lane = lane_of(process)
    for node in nodes:
        node_id = node.get("id")
        assert node_id in shapes, f"no BPMNShape for {node_id}"
        assert node_id in in_lane, f"{node_id} is in no lane"
        x, y, w, h = bounds(node_id)
        lx, ly, lw, lh = bounds(lane_ids[in_lane[node_id]])
        assert lx <= x and x + w <= lx + lw and ly <= y and y + h <= ly + lh, f"{node_id} drawn outside its lane"

    flows = process.findall("bpmn:sequenceFlow", NS)
    for flow in flows:
        flow_id = flow.get("id")
        assert flow_id in edges, f"no BPMNEdge for {flow_id}"
        points = [(float(p.get("x")), float(p.get("y"))) for p in edges[flow_id].findall("di:waypoint", NS)]
        assert len(points) >= 2, flow_id
        assert on_border(points[0], flow.get("sourceRef")), f"{flow_id} does not leave its source"
        assert on_border(points[-1], flow.get("targetRef")), f"{flow_id} does not reach its target"
        for (x1, y1), (x2, y2) in zip(points, points[1:], strict=False):
            assert x1 == x2 or y1 == y2, f"{flow_id} has a slanted segment"

    drawn = set(shapes) | set(edges)
    declared = {e.get("id") for e in root.iter() if isinstance(e.tag, str) and e.get("id")}
    assert drawn <= declared, drawn - declared


@pytest.mark.parametrize("slug", SLUGS)
def test_graph_is_connected_and_every_step_can_finish(slug: str) -> None:
    process = process_of(slug)
    flows = [(f.get("sourceRef"), f.get("targetRef")) for f in process.findall("bpmn:sequenceFlow", NS)]
    # A boundary event is reached through the task it is attached to.
    flows += [(b.get("attachedToRef"), b.get("id")) for b in process.findall("bpmn:boundaryEvent", NS)]
    nodes = {e.get("id"): local(e) for e in process if isinstance(e.tag, str) and local(e) in FLOW_NODES}
    starts = [n for n, kind in nodes.items() if kind == "startEvent"]
    ends = {n for n, kind in nodes.items() if kind == "endEvent"}
    assert len(starts) == 1 and ends

    def reach(frm: set[str], edges: list[tuple[str, str]]) -> set[str]:
        seen, todo = set(frm), list(frm)
        while todo:
            current = todo.pop()
            for a, b in edges:
                if a == current and b not in seen:
                    seen.add(b)
                    todo.append(b)
        return seen

    assert reach(set(starts), flows) == set(nodes)
    assert reach(ends, [(b, a) for a, b in flows]) == set(nodes)
    for node_id, kind in nodes.items():
        element = process.find(f"*[@id='{node_id}']")
        assert {i.text for i in element.findall("bpmn:incoming", NS)} == {
            f.get("id") for f in process.findall("bpmn:sequenceFlow", NS) if f.get("targetRef") == node_id}
        assert {o.text for o in element.findall("bpmn:outgoing", NS)} == {
            f.get("id") for f in process.findall("bpmn:sequenceFlow", NS) if f.get("sourceRef") == node_id}
        if kind not in {"exclusiveGateway", "endEvent"}:
            assert len(element.findall("bpmn:outgoing", NS)) == 1, node_id


@pytest.mark.parametrize("slug", SLUGS)
def test_user_tasks_and_end_events_carry_valid_properties(slug: str) -> None:
    data = manifest(slug)
    process = process_of(slug)
    in_lane = lane_of(process)
    forms_here = set(form_names(slug))
    tasks = process.findall("bpmn:userTask", NS)
    assert tasks
    receiving = []
    allotted = Decimal(0)
    for task in tasks:
        props = properties(task)
        name = task.get("name")
        assert props["formJsonSchemaFilename"] in forms_here, name
        assert props["formJsonSchemaFilename"] != data["start_form"], name
        if "formUiSchemaFilename" in props:
            assert props["formUiSchemaFilename"] in forms_here, name
        assert in_lane[task.get("id")] in data["lanes"], name
        assert 1 <= int(props["dossierStatus"]) <= 10, name
        if props.get("receivesDossier") == "true":
            receiving.append(task.get("id"))
        if "allottedTime" in props:
            assert re.fullmatch(r"\d+(\.\d+)?", props["allottedTime"]) and Decimal(props["allottedTime"]) > 0, name
            allotted += Decimal(props["allottedTime"])
    # Exactly one step receives the dossier, and it is the first person's step after submission
    # (automatic steps such as registry look-ups may come before it).
    start = process.find("bpmn:startEvent", NS)
    user_ids = {t.get("id") for t in tasks}
    edges = [(f.get("sourceRef"), f.get("targetRef")) for f in process.findall("bpmn:sequenceFlow", NS)]
    edges += [(b.get("attachedToRef"), b.get("id")) for b in process.findall("bpmn:boundaryEvent", NS)]
    first_people: set[str] = set()
    seen, todo = {start.get("id")}, [start.get("id")]
    while todo:
        current = todo.pop()
        for a, b in edges:
            if a == current and b not in seen:
                seen.add(b)
                if b in user_ids:
                    first_people.add(b)
                else:
                    todo.append(b)
    assert receiving == sorted(first_people)
    # The steps' allotted times fit in the legal processing time ("the same day": one working day at most).
    assert 0 < allotted <= max(Decimal(str(data["processing_time"]["amount"])), Decimal(1))
    for end in process.findall("bpmn:endEvent", NS):
        assert 1 <= int(properties(end).get("dossierStatus", "10")) <= 10


@pytest.mark.parametrize("slug", SLUGS)
def test_gateway_conditions_compare_form_fields_with_their_allowed_values(slug: str) -> None:
    process = process_of(slug)
    fields: dict[str, dict[str, Any]] = {}
    for name in task_forms(slug):
        fields.update(form(slug, name)["properties"])
    flows = {f.get("id"): f for f in process.findall("bpmn:sequenceFlow", NS)}
    for gateway in process.findall("bpmn:exclusiveGateway", NS):
        outgoing = [flows[o.text] for o in gateway.findall("bpmn:outgoing", NS)]
        if len(outgoing) == 1:
            continue  # a merge
        for flow in outgoing:
            condition = flow.find("bpmn:conditionExpression", NS)
            if flow.get("id") == gateway.get("default"):
                assert condition is None, flow.get("id")
                continue
            assert condition is not None and condition.text, f"{flow.get('id')} has neither condition nor default"
            tree = ast.parse(condition.text.strip(), mode="eval")
            if isinstance(tree.body, ast.BoolOp):
                # A presence check on the start form ("'me' in du_lieu and 'so_dinh_danh' in me and …"):
                # every name it reads is the data itself or a part of the start form.
                start = form(slug, manifest(slug)["start_form"])["properties"]
                names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
                assert names <= {"du_lieu", "thong_tin_ho_so", *start}, condition.text
                continue
            assert isinstance(tree.body, ast.Compare), condition.text
            left, (op,), (right,) = tree.body.left, tree.body.ops, tree.body.comparators
            assert isinstance(left, ast.Name) and isinstance(op, ast.Eq) and isinstance(right, ast.Constant)
            schema = fields[left.id]
            if schema["type"] == "boolean":
                assert isinstance(right.value, bool)
            else:
                assert right.value in schema["enum"], condition.text


# ------------------------------------------------------------------------------------- running it


def parse(slug: str) -> tuple[Any, dict[str, Any]]:
    # The platform's parser (service tasks wait for a job), with the BPMN schema validator on.
    parser = MotcuaBpmnParser(validator=BpmnValidator())
    parser.add_bpmn_file(str(bpmn_path(slug)))
    process_id = manifest(slug)["process_id"]
    return parser.get_spec(process_id), parser.get_subprocess_specs(process_id)


@dataclass
class Step:
    name: str
    role: str
    status: int
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Route:
    slug: str
    steps: list[Step]
    end: str
    end_status: int


SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(
    {**SPIFF_CONFIG, DeferredServiceTask: ServiceTaskConverter}))

PATHS = {
    "khai-sinh: happy path": Route("khai-sinh", [
        Step("Tiếp nhận hồ sơ", "tiep_nhan", 1, ACCEPT),
        Step("Thẩm định, ghi sổ hộ tịch", "chuyen_vien", 4, KS_PASS),
        Step("Ký giấy khai sinh", "lanh_dao_ky", 4, {"phe_duyet": True, "y_kien": "Đồng ý."}),
        Step("Trả kết quả", "tra_ket_qua", 9, RETURN),
    ], "EndEvent_DaTraKetQua", 10),
    "khai-sinh: refused at intake": Route("khai-sinh", [
        Step("Tiếp nhận hồ sơ", "tiep_nhan", 1, REFUSE),
    ], "EndEvent_TuChoiTiepNhan", 3),
    "khai-sinh: not eligible": Route("khai-sinh", [
        Step("Tiếp nhận hồ sơ", "tiep_nhan", 1, ACCEPT),
        Step("Thẩm định, ghi sổ hộ tịch", "chuyen_vien", 4, KS_FAIL),
    ], "EndEvent_KhongDuDieuKien", 3),
    "khai-sinh: leader sends it back once": Route("khai-sinh", [
        Step("Tiếp nhận hồ sơ", "tiep_nhan", 1, ACCEPT),
        Step("Thẩm định, ghi sổ hộ tịch", "chuyen_vien", 4, KS_PASS),
        Step("Ký giấy khai sinh", "lanh_dao_ky", 4, {"phe_duyet": False, "y_kien": "Kiểm tra lại quê quán."}),
        Step("Thẩm định, ghi sổ hộ tịch", "chuyen_vien", 4, KS_PASS),
        Step("Ký giấy khai sinh", "lanh_dao_ky", 4, {"phe_duyet": True}),
        Step("Trả kết quả", "tra_ket_qua", 9, RETURN),
    ], "EndEvent_DaTraKetQua", 10),
    "thuong-tru: happy path": Route("thuong-tru", [
        Step("Tiếp nhận hồ sơ", "tiep_nhan", 1, TT_ACCEPT),
        Step("Thẩm định hồ sơ", "chuyen_vien", 4, TT_PASS),
        Step("Phê duyệt", "lanh_dao_ky", 4, {"dong_y": True}),
        Step("Trả kết quả", "tra_ket_qua", 9, {**RETURN, "hinh_thuc_tra": "truc_tuyen", "nguoi_nhan": "Lê Thị Hoa"}),
    ], "EndEvent_DaTraKetQua", 10),
    "thuong-tru: refused at intake": Route("thuong-tru", [
        Step("Tiếp nhận hồ sơ", "tiep_nhan", 1, TT_REFUSE),
    ], "EndEvent_TuChoiTiepNhan", 3),
    "thuong-tru: supplement once, then approved": Route("thuong-tru", [
        Step("Tiếp nhận hồ sơ", "tiep_nhan", 1, TT_ACCEPT),
        Step("Thẩm định hồ sơ", "chuyen_vien", 4, TT_MORE),
        Step("Bổ sung hồ sơ", "cong_dan", 5, SUPPLEMENT),
        Step("Thẩm định hồ sơ", "chuyen_vien", 4, TT_PASS),
        Step("Phê duyệt", "lanh_dao_ky", 4, {"dong_y": True}),
        Step("Trả kết quả", "tra_ket_qua", 9, RETURN),
    ], "EndEvent_DaTraKetQua", 10),
    "thuong-tru: not eligible": Route("thuong-tru", [
        Step("Tiếp nhận hồ sơ", "tiep_nhan", 1, TT_ACCEPT),
        Step("Thẩm định hồ sơ", "chuyen_vien", 4, TT_FAIL),
    ], "EndEvent_KhongDuDieuKien", 3),
    "thuong-tru: head of police sends it back, supplement, approved": Route("thuong-tru", [
        Step("Tiếp nhận hồ sơ", "tiep_nhan", 1, TT_ACCEPT),
        Step("Thẩm định hồ sơ", "chuyen_vien", 4, TT_PASS),
        Step("Phê duyệt", "lanh_dao_ky", 4, {"dong_y": False, "y_kien": "Đề nghị xác minh lại quan hệ nhân thân."}),
        Step("Thẩm định hồ sơ", "chuyen_vien", 4, TT_MORE),
        Step("Bổ sung hồ sơ", "cong_dan", 5, SUPPLEMENT),
        Step("Thẩm định hồ sơ", "chuyen_vien", 4, TT_PASS),
        Step("Phê duyệt", "lanh_dao_ky", 4, {"dong_y": True}),
        Step("Trả kết quả", "tra_ket_qua", 9, RETURN),
    ], "EndEvent_DaTraKetQua", 10),
}


def answer_service_tasks(workflow: Any) -> list[str]:
    """Play the job's part: each waiting service task gets a registry-like answer built from its parameters."""
    answered = []
    while waiting := [t for t in workflow.get_tasks(state=TaskState.STARTED)
                      if isinstance(t.task_spec, DeferredServiceTask)]:
        for task in waiting:
            params = task.internal_data["motcua_service_params"]
            assert params and all(v not in (None, "") for v in params.values()), params
            task.data[task.task_spec.result_variable] = {**params, "found": True}
            task.complete()
            answered.append(task.task_spec.bpmn_id)
        workflow.do_engine_steps()
    return answered


@pytest.mark.parametrize("case", list(PATHS))
def test_path_runs_to_its_end(case: str) -> None:
    path = PATHS[case]
    data = manifest(path.slug)
    spec, subprocesses = parse(path.slug)
    workflow = BpmnWorkflow(spec, subprocesses, script_engine=SafeScriptEngine())
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(copy.deepcopy(START[path.slug]))
        # What the platform adds to the start data (see submit_dossier): an online dossier with its fee.
        task.data["thong_tin_ho_so"] = {"ma_ho_so": "000.00.02.H26-261123-0001", "le_phi": 10000, "kenh": 2,
                                        "ma_thu_tuc": data["code"], "ten_thu_tuc": data["name"]}
    workflow.do_engine_steps()
    # Khai sinh looks both parents up (their IDs are given); thường trú collects the online fee.
    assert answer_service_tasks(workflow) == (
        ["Task_TraCuuMe", "Task_TraCuuCha"] if path.slug == "khai-sinh" else ["Task_ThuLePhi"])

    trail: list[tuple[str, str, int]] = []
    for step in path.steps:
        ready = workflow.get_tasks(state=TaskState.READY, manual=True)
        assert [t.task_spec.bpmn_name for t in ready] == [step.name], trail
        task = ready[0]
        props = task.task_spec.extensions["properties"]
        trail.append((task.task_spec.bpmn_name, data["lanes"][task.task_spec.lane], int(props["dossierStatus"])))
        assert task.data["nguoi_khai" if path.slug == "thuong-tru" else "nguoi_yeu_cau"]  # start data flows along
        errors = [e.message for e in validator(path.slug, props["formJsonSchemaFilename"]).iter_errors(step.data)]
        assert errors == [], (step.name, errors)
        task.data.update(copy.deepcopy(step.data))
        task.run()
        workflow.do_engine_steps()
        # The platform stores the workflow between steps: every state, loops included, must survive that.
        workflow = SERIALIZER.deserialize_json(SERIALIZER.serialize_json(workflow))
        workflow.script_engine = SafeScriptEngine()

    assert trail == [(s.name, s.role, s.status) for s in path.steps]
    assert workflow.is_completed()
    assert workflow.get_tasks(state=TaskState.READY | TaskState.WAITING) == []
    end_ids = {e.get("id") for e in process_of(path.slug).findall("bpmn:endEvent", NS)}
    reached = [t for t in workflow.get_tasks(state=TaskState.COMPLETED) if t.task_spec.bpmn_id in end_ids]
    assert [t.task_spec.bpmn_id for t in reached] == [path.end]
    end_props = reached[0].task_spec.extensions.get("properties", {})
    assert int(end_props.get("dossierStatus", "10")) == path.end_status


def test_every_user_task_and_end_event_is_covered_by_some_path() -> None:
    for slug in SLUGS:
        process = process_of(slug)
        names = {t.get("name") for t in process.findall("bpmn:userTask", NS)}
        ends = {e.get("id") for e in process.findall("bpmn:endEvent", NS)}
        paths = [p for p in PATHS.values() if p.slug == slug]
        assert names == {s.name for p in paths for s in p.steps}
        assert ends == {p.end for p in paths}

"""The designer's studio and package upload over the web and the API: hostile packages, what deploys runs,
the running dossiers, and the documentation the people doing each step see."""

from __future__ import annotations

import datetime as dt
import io
import json
import struct
import zipfile
from pathlib import Path

import lxml.html
from sqlalchemy import select

from app.engine.runtime import WorkflowRun, get_bundle
from app.extensions import db
from app.models import Dossier, HumanTask, Procedure
from app.procedures.deploy import deploy
from app.procedures.package import load_directory
from tests.conftest import login
from tests.integration.test_web import submit_via_portal

ROOT = Path(__file__).resolve().parents[2]


def page(response):
    return lxml.html.fromstring(response.data)


def package(**changes: bytes) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in sorted((ROOT / "bpmn" / "khai-sinh").iterdir()) if p.is_file()}
    files.update({p.name: p.read_bytes() for p in sorted((ROOT / "forms" / "khai-sinh").iterdir()) if p.is_file()})
    files.update(changes)
    return files


def as_zip(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def bad_crc() -> bytes:
    data = bytearray(as_zip(package(), zipfile.ZIP_STORED))
    at = data.index(b'"code"')
    data[at + 1] = ord("C")
    return bytes(data)


def encrypted() -> bytes:
    data = bytearray(as_zip(package()))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.index(signature)
        struct.pack_into("<H", data, at + offset, struct.unpack_from("<H", data, at + offset)[0] | 1)
    return bytes(data)


def bomb() -> bytes:
    return as_zip(package(**{"process.bpmn": b" " * (16 * 1024 * 1024)}))


HOSTILE_ZIPS = {"zip_member_corrupt": bad_crc, "zip_encrypted": encrypted, "zip_bomb": bomb}


def post_api(client, headers, files: dict[str, bytes], dry_run: bool = True):
    data = {"files": [(io.BytesIO(content), name) for name, content in files.items()]}
    return client.post(f"/api/v1/procedures{'?dry_run=1' if dry_run else ''}", data=data, headers=headers,
                       content_type="multipart/form-data")


def post_studio(client, files: dict[str, bytes], action: str = "check"):
    data = {"action": action, "files": [(io.BytesIO(content), name) for name, content in files.items()]}
    return client.post("/thiet-ke/tai-len", data=data, content_type="multipart/form-data")


def test_hostile_zips_get_a_clear_4xx_on_the_api(client, token):
    headers = token("thietke")
    for code, make in HOSTILE_ZIPS.items():
        response = post_api(client, headers, {"goi.zip": make()})
        assert response.status_code == 422, (code, response.data[:300])
        body = response.get_json()
        assert body["error"]["code"] == code, body
        assert "Traceback" not in body["error"]["message"]


def test_hostile_zips_get_a_clear_4xx_in_the_studio(client):
    login(client, "thietke")
    for code, make in HOSTILE_ZIPS.items():
        response = post_studio(client, {"goi.zip": make()})
        assert response.status_code == 422, code
        alert = page(response).xpath("//*[@role='alert']")
        assert alert and "tệp nén" in alert[0].text_content().lower(), code


def nested_schema(depth: int) -> bytes:
    inner = '{"type": "string"}'
    for _ in range(depth):
        inner = '{"type": "object", "properties": {"a": ' + inner + "}}"
    return inner.encode()


def test_form_schema_nested_3000_levels_is_a_checker_error(client, token):
    files = package(**{"tham-dinh.schema.json": nested_schema(3000)})
    response = post_api(client, token("thietke"), files)
    assert response.status_code == 422
    problems = response.get_json()["problems"]
    assert [p["code"] for p in problems if p["file"] == "tham-dinh.schema.json"] == ["json_too_deep"]
    for zipped in (False, True):
        upload = {"goi.zip": as_zip(files)} if zipped else files
        deployed = post_api(client, token("thietke"), upload, dry_run=False)
        assert deployed.status_code == 422
        assert "json_too_deep" in [p["code"] for p in deployed.get_json()["error"]["details"]["problems"]]
    login(client, "thietke")
    studio = post_studio(client, files, action="deploy")
    assert studio.status_code == 422
    assert "lồng nhau quá sâu" in page(studio).get_element_by_id("report").text_content()


def test_start_event_named_start_is_refused_before_any_submission(client, token):
    bpmn = package()["process.bpmn"].decode().replace("StartEvent_NopHoSo", "Start")
    response = post_api(client, token("thietke"), package(**{"process.bpmn": bpmn.encode()}), dry_run=False)
    assert response.status_code == 422
    details = response.get_json()["error"]["details"]
    problem = next(p for p in details["problems"] if p["code"] == "id_reserved")
    assert "«Start»" in problem["message"] and problem["line"]
    assert details["verdict"] != "deployable"


def test_studio_headline_counts_every_error(client):
    bpmn = package()["process.bpmn"].decode().replace('ket_qua_tham_dinh == "dat"', "ket_qua_tham_dinh ==")
    manifest = json.loads(package()["procedure.json"])
    manifest["code"] = "sai"
    files = package(**{"process.bpmn": bpmn.encode(), "procedure.json": json.dumps(manifest).encode(),
                       "tham-dinh.schema.json": b"{oops"})
    login(client, "thietke")
    response = post_studio(client, files)
    assert response.status_code == 422
    report = page(response).get_element_by_id("report")
    errors = [li for li in report.xpath(".//ul[@class='problems']/li") if "cảnh báo" not in li.text_content()]
    headline = report.get_element_by_id("report-reason").text_content()
    assert f"{len(errors) - 1} lỗi khác" in headline, (headline, len(errors))


def test_bare_iso_timer_deploys_and_evaluates_to_its_value(db_session):
    pkg = load_directory(ROOT / "bpmn" / "khai-sinh")
    manifest = json.loads(pkg.manifest or b"")
    manifest["code"] = "1.999001"
    pkg.manifest = json.dumps(manifest).encode()
    timer = ('<bpmn:boundaryEvent id="Event_NhacViec" name="Nhắc việc" cancelActivity="false" '
             'attachedToRef="Task_TiepNhan"><bpmn:outgoing>Flow_NhacViec</bpmn:outgoing><bpmn:timerEventDefinition '
             'id="Timer_NhacViec"><bpmn:timeDuration>P7DT0H</bpmn:timeDuration></bpmn:timerEventDefinition>'
             '</bpmn:boundaryEvent><bpmn:endEvent id="End_NhacViec"><bpmn:incoming>Flow_NhacViec</bpmn:incoming>'
             '</bpmn:endEvent><bpmn:sequenceFlow id="Flow_NhacViec" sourceRef="Event_NhacViec" '
             'targetRef="End_NhacViec"/>\n    <bpmn:userTask id="Task_TiepNhan"')
    text = pkg.bpmn["process.bpmn"].decode().replace('<bpmn:userTask id="Task_TiepNhan"', timer, 1)
    pkg.bpmn["process.bpmn"] = text.encode()
    result = deploy(pkg, deployed_by="tests")
    version = result.version
    bundle = get_bundle(version.content_hash, version.bpmn_files, version.process_id)
    before = dt.datetime.now(dt.UTC)
    run, step = WorkflowRun.start(bundle, {"thong_tin_ho_so": {"kenh": 2}})
    assert [t.spec_name for t in step.ready] == ["Task_TiepNhan"]
    # The timer waits with its evaluated due time, kept in the workflow document.
    (value,) = [t["internal_data"]["event_value"] for t in run.document()["tasks"].values()
                if "event_value" in (t.get("internal_data") or {})]
    due = dt.datetime.fromisoformat(value)
    assert before + dt.timedelta(days=7) <= due <= dt.datetime.now(dt.UTC) + dt.timedelta(days=7)


def test_running_dossiers_leave_out_finished_ones(client):
    codes = [submit_via_portal(client).rstrip("/").split("/")[-2] for _ in range(2)]
    finished = db.session.scalar(select(Dossier).where(Dossier.code == codes[1]))
    finished.status = 10
    db.session.flush()
    client.post("/dang-xuat")
    login(client, "thietke")
    running = page(client.get("/thiet-ke/thu-tuc/1.001193")).get_element_by_id("running").text_content()
    assert codes[0] in running
    assert codes[1] not in running


def test_officer_sees_the_steps_documentation_and_its_forms_description(client):
    pkg = load_directory(ROOT / "bpmn" / "khai-sinh")
    form = json.loads(pkg.forms["tiep-nhan.schema.json"])
    form["description"] = "Đối chiếu bản chính.\nTrả lại <ngay> nếu thiếu giấy tờ."
    pkg.forms["tiep-nhan.schema.json"] = json.dumps(form, ensure_ascii=False).encode()
    deploy(pkg, deployed_by="tests")
    db.session.flush()
    code = submit_via_portal(client).rstrip("/").split("/")[-2]
    client.post("/dang-xuat")
    task = db.session.scalar(select(HumanTask).join(Dossier).where(Dossier.code == code))
    login(client, "tiepnhan")
    guidance = page(client.get(f"/cong-viec/{task.id}")).get_element_by_id("task-guidance")
    text = guidance.text_content()
    assert "Kiểm tra thành phần hồ sơ; tiếp nhận và in giấy hẹn trả kết quả" in text  # the BPMN documentation
    assert "Trả lại <ngay> nếu thiếu giấy tờ." in text and guidance.xpath(".//br")


def test_citizen_sees_start_documentation_and_form_description_as_plain_text(client, db_session):
    pkg = load_directory(ROOT / "bpmn" / "khai-sinh")
    text = pkg.bpmn["process.bpmn"].decode().replace(
        '<bpmn:startEvent id="StartEvent_NopHoSo" name="Nộp hồ sơ">',
        '<bpmn:startEvent id="StartEvent_NopHoSo" name="Nộp hồ sơ"><bpmn:documentation>Chuẩn bị giấy chứng sinh.'
        "\nKhai đúng họ tên &lt;b&gt;người mẹ&lt;/b&gt;.</bpmn:documentation>", 1)
    pkg.bpmn["process.bpmn"] = text.encode()
    form = json.loads(pkg.forms["to-khai.schema.json"])
    form["description"] = "Tờ khai theo mẫu của Bộ Tư pháp.\nĐiền bằng tiếng Việt có dấu."
    pkg.forms["to-khai.schema.json"] = json.dumps(form, ensure_ascii=False).encode()
    deploy(pkg, deployed_by="tests")
    db.session.flush()
    login(client, "congdan")
    response = client.get("/thu-tuc/1.001193")
    guidance = page(response).get_element_by_id("procedure-guidance")
    assert "Chuẩn bị giấy chứng sinh." in guidance.text_content()
    assert "Khai đúng họ tên <b>người mẹ</b>." in guidance.text_content()  # shown as text, not markup
    assert not guidance.xpath(".//b")
    assert guidance.xpath(".//br")  # line breaks kept
    assert "Điền bằng tiếng Việt có dấu." in guidance.text_content()


def test_odd_slugs_and_file_names_are_refused_clearly(client, token):
    headers = token("thietke")
    manifest = json.loads(package()["procedure.json"])
    manifest["code"] = "1.999002"  # a new procedure: its row stores the slug
    files = package(**{"procedure.json": json.dumps(manifest).encode()})
    for slug in ("x" * 300, "thu\x00tuc", "Thủ tục/../x"):
        data = {"slug": slug, "files": [(io.BytesIO(content), name) for name, content in files.items()]}
        response = client.post("/api/v1/procedures", data=data, headers=headers, content_type="multipart/form-data")
        assert 400 <= response.status_code < 500, (slug, response.status_code)
        if "\x00" not in slug:  # NUL bytes are refused before any view runs
            assert response.get_json()["error"]["code"] == "slug_invalid"
    for odd in ("quy\x01trinh.bpmn", "quy\x00trinh.bpmn"):
        renamed = {(odd if name == "process.bpmn" else name): content for name, content in files.items()}
        response = post_api(client, headers, renamed, dry_run=False)
        assert 400 <= response.status_code < 500, odd
        if "\x00" not in odd:
            assert response.get_json()["error"]["code"] == "file_name_invalid"
    long_name = {("q" * 300 + ".bpmn" if name == "process.bpmn" else name): content for name, content in files.items()}
    response = post_api(client, headers, long_name, dry_run=False)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "file_name_invalid"
    # Without a slug one is made from the diagram's file name, whatever it is.
    named = {("Quy trình khai sinh (bản 2).bpmn" if name == "process.bpmn" else name): content
             for name, content in files.items()}
    assert post_api(client, headers, named, dry_run=False).status_code == 201
    assert db.session.scalar(select(Procedure.slug).where(Procedure.code == "1.999002")) == "quy-trinh-khai-sinh-ban-2"


def _four_mistakes() -> dict[str, bytes]:
    bpmn = package()["process.bpmn"].decode().replace("StartEvent_NopHoSo", "Start")
    bpmn = bpmn.replace("<bpmn:flowNodeRef>Task_ThamDinh</bpmn:flowNodeRef>", "")
    bpmn = bpmn.replace('ket_qua_tham_dinh == "dat"', 'ket_qua_tham_dinhh == "dat"')
    files = package(**{"process.bpmn": bpmn.encode()})
    del files["tra-ket-qua.schema.json"]
    return files


def test_dry_run_lists_every_mistake_at_once_and_no_false_one(client, token):
    response = post_api(client, token("thietke"), _four_mistakes())
    assert response.status_code == 422
    found = sorted(p["code"] for p in response.get_json()["problems"])
    assert found == sorted(["id_reserved", "form_missing", "task_outside_lanes", "expression_name_undefined"])


def test_studio_lists_every_mistake_at_once_and_no_false_one(client):
    login(client, "thietke")
    response = post_studio(client, _four_mistakes())
    assert response.status_code == 422
    report = page(response).get_element_by_id("report")
    text = report.text_content()
    for fragment in ("«Start»", "tra-ket-qua.schema.json", "không nằm trong làn nào", "«ket_qua_tham_dinhh»"):
        assert fragment in text, fragment
    assert "lookup_results" not in text and "components_field" not in text
    assert len(report.xpath(".//ul[@class='problems']/li")) == 4


def test_a_schema_that_is_not_json_is_one_problem_in_the_studio(client):
    login(client, "thietke")
    response = post_studio(client, package(**{"ky-duyet.schema.json": b'{"type": "object", '}))
    assert response.status_code == 422
    items = page(response).get_element_by_id("report").xpath(".//ul[@class='problems']/li")
    assert len(items) == 1 and "ky-duyet.schema.json" in items[0].text_content()

"""Hostile input gets a clear error and changes nothing."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from sqlalchemy import func, select

from app.extensions import db
from app.models import Procedure, ProcedureVersion

ROOT = Path(__file__).resolve().parents[2]

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">&xxe;</bpmn:definitions>"""


def package_files(slug: str) -> list[tuple[str, bytes]]:
    files = [(p.name, p.read_bytes()) for p in sorted((ROOT / "bpmn" / slug).iterdir()) if p.is_file()]
    files += [(p.name, p.read_bytes()) for p in sorted((ROOT / "forms" / slug).iterdir()) if p.is_file()]
    return files


def post_package(client, headers, files, **query):
    data = {"files": [(io.BytesIO(content), name) for name, content in files]}
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return client.post(f"/api/v1/procedures{'?' + qs if qs else ''}", data=data, headers=headers,
                       content_type="multipart/form-data")


def version_count() -> int:
    return db.session.scalar(select(func.count(ProcedureVersion.id)))


def test_xxe_package_is_refused_without_reading_files(client, token):
    headers = token("thietke")
    before = version_count()
    files = [(n, XXE if n == "process.bpmn" else c) for n, c in package_files("khai-sinh")]
    response = post_package(client, headers, files)
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"]["code"] == "package_invalid"
    assert b"root:" not in response.data
    problems = body["error"]["details"]["problems"]
    assert any(p["file"] == "process.bpmn" for p in problems)
    assert version_count() == before


def test_script_task_reading_a_file_is_refused_at_deploy(client, token):
    headers = token("thietke")
    files = package_files("khai-sinh")
    bpmn = dict(files)["process.bpmn"].decode()
    # Turn the first user task into a script task that would read a file.
    start = bpmn.index("<bpmn:userTask")
    end = bpmn.index("</bpmn:userTask>", start) + len("</bpmn:userTask>")
    task_id = bpmn[start:end].split('id="', 1)[1].split('"', 1)[0]
    script = (f'<bpmn:scriptTask id="{task_id}" name="x"><bpmn:script>open("/etc/hostname").read()'
              "</bpmn:script></bpmn:scriptTask>")
    hostile = bpmn[:start] + script + bpmn[end:]
    files = [(n, hostile.encode() if n == "process.bpmn" else c) for n, c in files]
    response = post_package(client, headers, files)
    assert response.status_code == 422
    problems = response.get_json()["error"]["details"]["problems"]
    [refused] = [p for p in problems if p["code"] == "script_construct_forbidden"]
    assert "«open»" in refused["message"]
    assert refused["line"] == hostile[:hostile.index("<bpmn:script>")].count("\n") + 1


def test_zip_bomb_and_oversized_upload(app, client, token):
    headers = token("thietke")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("process.bpmn", b"0" * (30 * 1024 * 1024))
    response = post_package(client, headers, [("bomb.zip", buffer.getvalue())])
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "package_too_large"

    big = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = post_package(client, headers, [("process.bpmn", big)])
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


def test_only_designers_deploy(client, token):
    response = post_package(client, token("hotich"), package_files("khai-sinh"))
    assert response.status_code == 403
    response = post_package(client, {}, package_files("khai-sinh"))
    assert response.status_code == 401


def test_redeploy_same_content_is_not_a_new_version_and_change_is(client, token):
    headers = token("thietke")
    files = package_files("khai-sinh")
    code = json.loads(dict(files)["procedure.json"])["code"]
    response = post_package(client, headers, files)
    assert response.status_code == 200
    assert response.get_json()["created"] is False
    first = response.get_json()["version"]

    manifest = json.loads(dict(files)["procedure.json"])
    manifest["name"] = manifest["name"] + " (sửa đổi)"
    changed = [(n, json.dumps(manifest, ensure_ascii=False).encode() if n == "procedure.json" else c)
               for n, c in files]
    response = post_package(client, headers, changed)
    assert response.status_code == 201
    assert response.get_json()["version"] == first + 1
    proc = db.session.scalar(select(Procedure).where(Procedure.code == code))
    assert proc.current_version.version == first + 1


def test_dry_run_reports_missing_form_with_file(client, token):
    files = [(n, c) for n, c in package_files("khai-sinh") if not n.startswith("tham-dinh")]
    response = post_package(client, token("thietke"), files, dry_run=1)
    assert response.status_code == 422
    problems = response.get_json()["problems"]
    missing = [p for p in problems if p["code"] == "form_missing"]
    assert missing and missing[0]["file"] == "process.bpmn" and missing[0]["line"]


def test_malformed_manifest_names_line(client, token):
    files = [(n, b'{"code": "1.001193",\n "name": }' if n == "procedure.json" else c)
             for n, c in package_files("khai-sinh")]
    response = post_package(client, token("thietke"), files, dry_run=1)
    problems = response.get_json()["problems"]
    bad = [p for p in problems if p["code"] == "json_malformed"]
    assert bad and bad[0]["file"] == "procedure.json" and bad[0]["line"] == 2


def test_invalid_form_schema_and_no_executable_process_are_named(client, token):
    files = dict(package_files("khai-sinh"))
    files["tham-dinh.schema.json"] = b'{"type": "object", "properties": {"x": {"type": "strin"}}}'
    bpmn = files["process.bpmn"].decode().replace('isExecutable="true"', 'isExecutable="false"')
    files["process.bpmn"] = bpmn.encode()
    response = post_package(client, token("thietke"), list(files.items()), dry_run=1)
    assert response.status_code == 422
    body = response.get_json()
    assert body["verdict"] == "not_executable" and "isExecutable" in body["reason"]
    bad_form = [p for p in body["problems"] if p["file"] == "tham-dinh.schema.json"]
    assert bad_form and bad_form[0]["pointer"].startswith("/properties/x")


def test_parsed_spec_is_cached_by_content_hash(db_session):
    from app.engine.runtime import get_bundle
    from app.models import Procedure

    version = db.session.scalar(select(Procedure).where(Procedure.code == "1.001193")).current_version
    calls = []

    def load():
        calls.append(1)
        return version.bpmn_files

    first = get_bundle(version.content_hash, load, version.process_id)
    again = get_bundle(version.content_hash, load, version.process_id)
    assert again is first and len(calls) <= 1

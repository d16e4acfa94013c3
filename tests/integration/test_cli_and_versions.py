"""The CLI (check, deploy, token), CSRF on forms, and dossiers staying on the version they started on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import requests
from sqlalchemy import select

from app.extensions import db
from app.models import Dossier, Procedure
from tests.samples import client_uploader, start_data, task_data, with_uploads

ROOT = Path(__file__).resolve().parents[2]
MIWG = ROOT.parent / "shared" / "conformance" / "miwg"


def test_cli_check_gives_verdicts(app, db_session, tmp_path):
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["procedures", "check", str(ROOT / "bpmn" / "khai-sinh")])
    assert ok.exit_code == 0, ok.output
    assert "deployable" in ok.output

    broken = tmp_path / "bpmn" / "hong"
    shutil.copytree(ROOT / "bpmn" / "khai-sinh", broken)
    (broken / "procedure.json").write_text('{"code": "1.001193"}', encoding="utf-8")
    result = runner.invoke(args=["procedures", "check", str(broken)])
    assert result.exit_code == 1
    assert "procedure.json#/name" in result.output and "manifest_required" in result.output

    descriptive = next(iter(sorted((MIWG / "reference").glob("*.bpmn"))), None)
    if descriptive is not None:
        result = runner.invoke(args=["procedures", "check", str(descriptive)])
        assert result.exit_code == 1 and "not_executable" in result.output


def test_cli_token_works_for_the_api(app, client, db_session):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "token", "hotich"])
    assert result.exit_code == 0
    token = result.output.strip().splitlines()[-1]
    response = client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert runner.invoke(args=["users", "token", "khong-co"]).exit_code != 0


def test_running_dossier_stays_on_its_version(app, client, token, tmp_path):
    citizen = token("congdan")
    data = with_uploads(client_uploader(client), citizen, start_data("khai-sinh"))
    code = client.post("/api/v1/procedures/1.001193/dossiers", json=data, headers=citizen).get_json()["code"]
    old = db.session.scalar(select(Dossier).where(Dossier.code == code)).procedure_version
    old_version = old.version

    # Deploy a changed package: the reception form gains a required field.
    package = tmp_path / "bpmn" / "khai-sinh"
    shutil.copytree(ROOT / "bpmn" / "khai-sinh", package)
    shutil.copytree(ROOT / "forms" / "khai-sinh", tmp_path / "forms" / "khai-sinh")
    form_path = tmp_path / "forms" / "khai-sinh" / "tiep-nhan.schema.json"
    form = json.loads(form_path.read_text(encoding="utf-8"))
    form["properties"]["ma_bien_nhan_giay"] = {"type": "string", "title": "Mã biên nhận giấy"}
    form["required"] = [*form.get("required", []), "ma_bien_nhan_giay"]
    form_path.write_text(json.dumps(form, ensure_ascii=False), encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["procedures", "deploy", str(package)])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    proc = db.session.scalar(select(Procedure).where(Procedure.code == "1.001193"))
    assert proc.current_version.version == old_version + 1

    # The running dossier completes on its own version's form (no new field needed) …
    reception = token("tiepnhan")
    task = next(t for t in client.get("/api/v1/tasks", headers=reception).get_json()["items"]
                if t["dossier_code"] == code)
    done = client.post(f"/api/v1/tasks/{task['id']}/complete", json=task_data("khai-sinh", task["form"]),
                       headers=reception)
    assert done.status_code == 200, done.get_json()
    db.session.expire_all()
    assert db.session.scalar(select(Dossier).where(Dossier.code == code)).procedure_version.version == old_version
    # … while a new dossier starts on the new version and needs the new field.
    data = with_uploads(client_uploader(client), citizen, start_data("khai-sinh"))
    new_code = client.post("/api/v1/procedures/1.001193/dossiers", json=data, headers=citizen).get_json()["code"]
    task = next(t for t in client.get("/api/v1/tasks", headers=reception).get_json()["items"]
                if t["dossier_code"] == new_code)
    refused = client.post(f"/api/v1/tasks/{task['id']}/complete", json=task_data("khai-sinh", task["form"]),
                          headers=reception)
    assert refused.status_code == 422
    assert "/ma_bien_nhan_giay" in refused.get_json()["error"]["details"]


def test_forms_are_protected_against_csrf(live_server):
    session = requests.Session()
    response = session.post(f"{live_server.url}/dang-nhap", data={"username": "congdan", "password": "demo123"},
                            allow_redirects=False, timeout=10)
    assert response.status_code == 400
    assert "Phiên làm việc đã hết hạn" in response.text
    page = session.get(f"{live_server.url}/dang-nhap", timeout=10).text
    csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = session.post(f"{live_server.url}/dang-nhap",
                            data={"username": "congdan", "password": "demo123", "csrf_token": csrf},
                            allow_redirects=False, timeout=10)
    assert response.status_code == 302

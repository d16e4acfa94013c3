"""Every action writes its security audit event (app.audit), through the web pages and the API, in the same
transaction as the action; and a citizen sees the look-ups about them and the views of their dossiers, nobody
else's."""

from __future__ import annotations

from datetime import timedelta

import lxml.html
import requests
from sqlalchemy import select

from app import audit
from app.clock import local_today
from app.extensions import db
from app.models import AuditLog, Dossier, HumanTask, User
from tests.conftest import login, user
from tests.integration.test_web import submit_via_portal
from tests.samples import MOTHER_ID, client_uploader, form_fields, start_data, task_data, with_uploads

HOTICH_AGENCY = "000.00.01.H26"


def events(action: str | None = None, after: int = 0) -> list[AuditLog]:
    query = select(AuditLog).where(AuditLog.id > after).order_by(AuditLog.id)
    if action is not None:
        query = query.where(AuditLog.action == action)
    return list(db.session.scalars(query))


def last_id() -> int:
    return db.session.scalar(select(AuditLog.id).order_by(AuditLog.id.desc()).limit(1)) or 0


def chains_hold(*codes: str) -> None:
    for code in codes:
        report = audit.verify_chain(code)
        assert report.ok, report


def test_login_failed_login_and_logout(client):
    start = last_id()
    assert client.post("/dang-nhap", data={"username": "hotich", "password": "sai-mat-khau"}).status_code == 401
    assert client.post("/dang-nhap", data={"username": "khong-ai-ca", "password": "x"}).status_code == 401
    login(client, "hotich")
    client.post("/dang-xuat")
    failed_known, failed_unknown = events(audit.LOGIN_FAILED, start)
    assert (failed_known.chain, failed_known.object_ref, failed_known.actor_id) == (HOTICH_AGENCY, "hotich", None)
    assert failed_known.ip == "127.0.0.1" and failed_known.reason == "POST /dang-nhap"
    assert (failed_unknown.chain, failed_unknown.object_ref) == ("platform", "khong-ai-ca")
    [ok] = events(audit.LOGIN, start)
    assert ok.actor_id == user("hotich").id and ok.actor_name == "Trần Văn Hộ" and ok.actor_role == "chuyen_vien"
    assert ok.actor_agency == user("hotich").agency.name and ok.chain == HOTICH_AGENCY
    [out] = events(audit.LOGOUT, start)
    assert out.actor_id == ok.actor_id
    chains_hold(HOTICH_AGENCY, "platform")


def test_prefill_lookup_is_audited_for_the_citizen(app, client, monkeypatch, sandbox):
    from tests.integration.test_prefill import use_sandbox

    use_sandbox(app, monkeypatch, sandbox)
    start = last_id()
    login(client, "congdan")
    assert client.get("/thu-tuc/1.001193").status_code == 200
    [row] = events(audit.LOOKUP, start)
    assert (row.subject, row.object_kind, row.actor_id) == ("001090012345", "population.lookup_citizen",
                                                            user("congdan").id)
    assert "1.001193" in row.reason and row.detail["outcome"] == "ok" and row.chain == "platform"
    page = lxml.html.fromstring(client.get("/ho-so-cua-toi/ai-da-xem").data)
    first = page.xpath("//table[@id='data-access']//tbody/tr")[0].text_content()
    assert "Bạn" in first and "Tra cứu Cơ sở dữ liệu quốc gia về dân cư" in first and "1.001193" in first


def test_views_task_completion_and_the_citizen_page(client):
    """An officer opens the dossier, the task page and the file, completes the step; the citizen sees the views
    with the officer's name and agency; another citizen sees none of it."""
    location = submit_via_portal(client)
    code = location.rstrip("/").split("/")[-2]
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    token = dossier.form_data["giay_chung_sinh"].split("/")[0]
    client.post("/dang-xuat")
    start = last_id()

    login(client, "tiepnhan")
    assert client.get(f"/can-bo/ho-so/{code}").status_code == 200
    task = db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id))
    assert client.get(f"/cong-viec/{task.id}").status_code == 200
    assert client.get(f"/tep/{token}").status_code == 200
    assert client.post(f"/cong-viec/{task.id}/nhan").status_code == 302
    form = {**form_fields(task_data("khai-sinh", task.form)), "__submit__": "1"}
    assert client.post(f"/cong-viec/{task.id}", data=form).status_code == 302
    client.post("/dang-xuat")

    officer = user("tiepnhan")
    views = events(audit.VIEW, start)
    assert [(v.object_kind, v.actor_id, v.dossier_id, v.chain) for v in views] == [
        ("dossier", officer.id, dossier.id, HOTICH_AGENCY), ("task", officer.id, dossier.id, HOTICH_AGENCY),
        ("attachment", officer.id, dossier.id, HOTICH_AGENCY)]
    assert views[1].detail["step"] == task.title and views[0].reason == f"GET /can-bo/ho-so/{code}"
    assert all(v.subject == dossier.applicant_id_number for v in views)
    [done] = events(audit.TASK_COMPLETED, start)
    assert (done.actor_id, done.dossier_id, done.detail["step"]) == (officer.id, dossier.id, task.title)
    assert done.reason == f"POST /cong-viec/{task.id}"
    chains_hold(HOTICH_AGENCY)

    login(client, "congdan")
    page = lxml.html.fromstring(client.get("/ho-so-cua-toi/ai-da-xem").data)
    rows = [r.text_content() for r in page.xpath("//table[@id='data-access']//tbody/tr")]
    mine = [r for r in rows if "Nguyễn Thị Tiếp" in r]
    assert len(mine) == 3, rows
    assert any(f"Mở bước xử lý «{task.title}»" in r for r in mine)
    assert all(officer.agency.name in r and code in r for r in mine)
    assert not any("Tải tệp" in r and "Bạn" in r for r in rows)  # their own download is not someone else's view
    client.post("/dang-xuat")

    # Another citizen: nothing of the first one's.
    other = User(username="congdan.khac", full_name="Trần Thị Khác", roles=["cong_dan"], personal_id="001190000002")
    other.password_hash = user("congdan").password_hash
    db.session.add(other)
    db.session.commit()
    login(client, "congdan.khac")
    page = client.get("/ho-so-cua-toi/ai-da-xem").get_data(as_text=True)
    assert "Nguyễn Thị Tiếp" not in page and code not in page and 'id="data-access"' not in page


def test_api_reads_and_service_task_lookups(client, jobs, national, sandbox, token):
    """The API's reads are views; the diagram's registry look-ups are audited in the dossier's agency's chain and
    the citizen's API lists the one about them, not the one about the mother."""
    citizen = token("congdan")
    data = with_uploads(client_uploader(client), citizen, start_data("khai-sinh"))
    data["me"]["so_dinh_danh"] = MOTHER_ID
    data["cha"] = {"ho_ten": "Nguyễn Văn An", "so_dinh_danh": "001090012345", "nam_sinh": 1990, "dan_toc": "Kinh",
                   "quoc_tich": "Việt Nam", "noi_cu_tru": data["me"]["noi_cu_tru"]}
    requests.delete(f"{sandbox}/_faults", timeout=5)
    start = last_id()
    created = client.post("/api/v1/procedures/1.001193/dossiers", json=data, headers=citizen)
    assert created.status_code == 201, created.get_json()
    code = created.get_json()["code"]
    [submitted] = events(audit.SUBMITTED, start)
    assert submitted.actor_id == user("congdan").id and submitted.chain == HOTICH_AGENCY
    while jobs.jobs:
        jobs.run_all()
    lookups = events(audit.LOOKUP, start)
    assert sorted(r.subject for r in lookups) == sorted([MOTHER_ID, "001090012345"])
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    assert all(r.chain == HOTICH_AGENCY and r.dossier_id == dossier.id and r.actor_id is None for r in lookups)
    assert all(code in r.reason for r in lookups)

    officer = token("tiepnhan")
    assert client.get(f"/api/v1/dossiers/{code}", headers=officer).status_code == 200
    task_id = db.session.scalar(select(HumanTask.id).where(HumanTask.dossier_id == dossier.id))
    assert client.get(f"/api/v1/tasks/{task_id}", headers=officer).status_code == 200
    views = events(audit.VIEW, start)
    assert [(v.object_kind, v.actor_id) for v in views] == [("api_dossier", user("tiepnhan").id),
                                                            ("api_task", user("tiepnhan").id)]
    chains_hold(HOTICH_AGENCY)

    answer = client.get("/api/v1/me/data-access", headers=citizen)
    assert answer.status_code == 200
    items = answer.get_json()["items"]
    looked = [i for i in items if i["action"] == "lookup" and i["dossier_code"] == code]
    assert [i["kind"] for i in looked] == ["population.lookup_citizen"]  # the father's: theirs; the mother's: hers
    assert looked[0]["by"] == "Hệ thống (bước tự động)" and looked[0]["agency"] == dossier.agency.name
    seen = [i for i in items if i["action"] == "view" and i["dossier_code"] == code]
    assert [(i["kind"], i["by"]) for i in seen] == [("api_task", "Nguyễn Thị Tiếp"), ("api_dossier", "Nguyễn Thị Tiếp")]
    assert all(i["agency"] == user("tiepnhan").agency.name for i in seen)
    officers_view = client.get("/api/v1/me/data-access", headers=officer).get_json()["items"]
    assert not any(i["dossier_code"] == code for i in officers_view)


def test_deployment_retirement_and_leave(client, token):
    from tests.integration.test_api import _khai_sinh_with_birthplace_pattern
    from tests.integration.test_security import post_package

    start = last_id()
    designer = token("thietke")
    deployed = post_package(client, designer, _khai_sinh_with_birthplace_pattern("^[^!]*$"))
    assert deployed.status_code == 201, deployed.get_json()
    number = deployed.get_json()["version"]
    [row] = events(audit.DEPLOYED, start)
    assert (row.actor_id, row.object_ref, row.chain) == (user("thietke").id, f"1.001193@{number}", HOTICH_AGENCY)
    assert row.detail["created"] is True and row.ip == "127.0.0.1"

    login(client, "thietke")
    assert client.post(f"/thiet-ke/thu-tuc/1.001193/phien-ban/{number}/ngung").status_code == 302
    [retired] = events(audit.RETIRED, start)
    assert retired.object_ref == f"1.001193@{number}" and retired.actor_id == user("thietke").id
    client.post("/dang-xuat")

    login(client, "truongphong")
    today = local_today()
    answer = client.post("/can-bo/nghi-phep", data={
        "can_bo": str(user("hotich").id), "tu_ngay": (today + timedelta(days=30)).isoformat(),
        "den_ngay": (today + timedelta(days=31)).isoformat(), "nguoi_thay_the": "", "ly_do": "Học tập"})
    assert answer.status_code == 303
    [entered] = events(audit.LEAVE_ENTERED, start)
    assert (entered.actor_id, entered.reason, entered.detail["officer"]) == (user("truongphong").id, "Học tập",
                                                                              user("hotich").id)
    assert entered.detail["page"] == "POST /can-bo/nghi-phep"
    assert client.post(f"/can-bo/nghi-phep/{entered.object_ref}/huy").status_code in (302, 303)
    [cancelled] = events(audit.LEAVE_CANCELLED, start)
    assert cancelled.object_ref == entered.object_ref
    chains_hold(HOTICH_AGENCY)


def test_version_moves_and_draft_deploy(client, db_session, token):
    from tests.integration.test_drafts import _new
    from tests.integration.test_version_moves import CODE, deployed, submitted, without_signing

    at_reception = submitted()
    deployed(without_signing())
    db_session.commit()
    start = last_id()
    moved = client.post(f"/api/v1/procedures/{CODE}/versions/1/moves?to=2&dry_run=false", headers=token("thietke"))
    assert moved.status_code == 200, moved.get_json()
    [row] = events(audit.MOVED, start)
    assert (row.dossier_id, row.actor_id, row.detail) == (at_reception.id, user("thietke").id, {"from": 1, "to": 2})
    assert row.chain == at_reception.agency.code

    draft_id = _new(client)
    assert client.post(f"/thiet-ke/ban-nhap/{draft_id}/trien-khai").status_code == 302
    [draft] = events(audit.DRAFT_DEPLOYED, start)
    assert draft.object_ref == "9.900201@1" and draft.detail["draft"] == draft_id and draft.chain == HOTICH_AGENCY
    chains_hold(HOTICH_AGENCY, at_reception.agency.code)


def test_the_applicants_pages_read_by_an_officer_are_views_but_not_by_the_applicant(client):
    location = submit_via_portal(client)
    code = location.rstrip("/").split("/")[-2]
    start = last_id()
    assert client.get(f"/ho-so/{code}").status_code == 200
    assert client.get(f"/ho-so/{code}/bien-nhan").status_code == 200
    assert events(audit.VIEW, start) == []
    client.post("/dang-xuat")
    login(client, "hotich")
    assert client.get(f"/ho-so/{code}").status_code == 200
    assert client.get(f"/ho-so/{code}/bien-nhan").status_code == 200
    assert [(v.object_kind, v.actor_id) for v in events(audit.VIEW, start)] == [
        ("dossier", user("hotich").id), ("receipt", user("hotich").id)]


def test_desk_actions_write_their_events_with_the_reason(client, token):
    from tests.integration.test_api import submit

    created = submit(client, token("congdan"))
    assert created.status_code == 201, created.get_json()
    code = created.get_json()["code"]
    start = last_id()
    reception = token("tiepnhan")
    refused = client.post(f"/api/v1/dossiers/{code}/refuse", json={"ly_do": "Thiếu giấy chứng sinh bản chính."},
                          headers=reception)
    assert refused.status_code == 200, refused.get_json()
    [row] = events(audit.DESK, start)
    assert (row.actor_id, row.reason, row.detail["desk"]) == (user("tiepnhan").id, "Thiếu giấy chứng sinh bản chính.",
                                                             "refused")
    assert row.detail["page"] == f"POST /api/v1/dossiers/{code}/refuse" and row.object_ref == code
    chains_hold(HOTICH_AGENCY)


def test_a_change_in_the_administration_area_is_a_configuration_event(client):
    start = last_id()
    login(client, "quantri")
    hotich = user("hotich")
    answer = client.post(f"/quan-tri/can-bo/{hotich.id}/vai-tro", data={"roles": ["chuyen_vien", "tiep_nhan"]})
    assert answer.status_code == 303
    [changed] = events(audit.CONFIGURED, start)
    assert (changed.object_kind, changed.object_ref, changed.actor_id) == ("officer", str(hotich.id),
                                                                            user("quantri").id)
    assert changed.detail["action"] == "roles" and changed.detail["before"]["roles"] == ["chuyen_vien"]
    assert changed.detail["after"]["roles"] == ["tiep_nhan", "chuyen_vien"]
    assert changed.reason == f"POST /quan-tri/can-bo/{hotich.id}/vai-tro" and changed.chain == "platform"
    chains_hold("platform")

"""Agencies as tenants (app.administration): the hierarchy of administrative units, departments and roles, the
steps an officer holds when an administrator moves them or changes their roles, a procedure published for two
agencies, and the administration area's refusals and change records."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from app.administration import services as admin
from app.administration.units import commune_identifier, load_units
from app.dossiers import progress, services
from app.dossiers.deadlines import calendar_for
from app.dossiers.errors import Conflict, Forbidden, Invalid
from app.dossiers.listings import ListQuery, inbox
from app.extensions import db
from app.models import AdminChange, Agency, CalendarDay, Department, HumanTask, User
from tests.conftest import login, user
from tests.samples import start_data, with_stored_uploads

BA_DINH = "000.00.01.H26"
POLICE = "000.00.02.H26"


def _agency(code: str) -> Agency:
    return db.session.scalar(select(Agency).where(Agency.code == code))


def _department(name: str) -> Department:
    return db.session.scalar(select(Department).where(Department.name == name))


def _changes(entity: str, entity_id: int | None = None) -> list[AdminChange]:
    stmt = select(AdminChange).where(AdminChange.entity == entity).order_by(AdminChange.id)
    if entity_id is not None:
        stmt = stmt.where(AdminChange.entity_id == entity_id)
    return list(db.session.scalars(stmt))


def _submit(agency_code: str | None = None) -> Any:
    applicant = user("congdan")
    return services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), applicant),
                                   applicant=applicant, agency_code=agency_code)


def _reception(dossier: Any) -> HumanTask:
    tasks = progress.open_tasks(dossier)
    assert [t.role for t in tasks] == ["tiep_nhan"]
    return tasks[0]


def _inbox_ids(person: User, **query: Any) -> set[int]:
    return {t.id for t in inbox(person, ListQuery(size=100, **query)).items}


def _officer(username: str, agency: Agency, roles: list[str], department: Department | None = None) -> User:
    person = User(username=username, full_name=username.title(), roles=roles, agency_id=agency.id,
                  department_id=department.id if department else None)
    db.session.add(person)
    db.session.flush()
    return person


# ---------------------------------------------------------------- the hierarchy from the package


def test_units_load_the_two_tier_hierarchy_with_identifiers(db_session: Any) -> None:
    report = load_units()
    assert (report.provinces, report.communes) == (34, 3321)
    assert report.clashes == []
    governments = select(func.count()).select_from(Agency).where(Agency.kind == "ubnd")
    assert db.session.scalar(governments.where(Agency.level == "tinh")) == 34
    # Every commune and ward has its People's Committee; phường Ba Đình's is the demo agency, not a second one.
    assert db.session.scalar(governments.where(Agency.level == "xa")) == 3321
    assert _agency(commune_identifier("00004", "01")) is None
    hanoi = db.session.scalar(select(Agency).where(Agency.unit_code == "01", Agency.kind == "ubnd"))
    assert (hanoi.code, hanoi.name, hanoi.level, hanoi.code_provisional) == (
        "000.00.00.H26", "UBND thành phố Hà Nội", "tinh", False)
    hoan_kiem = db.session.scalar(select(Agency).where(Agency.unit_code == "00070", Agency.kind == "ubnd"))
    assert (hoan_kiem.code, hoan_kiem.name, hoan_kiem.parent_id, hoan_kiem.code_provisional) == (
        "000.70.00.H26", "UBND phường Hoàn Kiếm, thành phố Hà Nội", hanoi.id, True)
    hcm = db.session.scalar(select(Agency).where(Agency.unit_code == "79", Agency.kind == "ubnd"))
    assert hcm.name == "UBND thành phố Hồ Chí Minh" and hcm.code_provisional
    # The demo agencies of phường Ba Đình keep their codes and names, and now sit under Hà Nội.
    for code in (BA_DINH, POLICE, "000.00.03.H26"):
        assert _agency(code).parent_id == hanoi.id
    assert _agency(BA_DINH).name == "UBND phường Ba Đình, thành phố Hà Nội"
    # No unit of before 1/7/2025: Vĩnh Phúc (26) was merged into Phú Thọ.
    assert db.session.scalar(select(Agency).where(Agency.unit_code == "26")) is None
    loaded = _changes("agency")
    assert loaded[-1].action == "loaded" and loaded[-1].after["created"] == 34 + 3320

    again = load_units()
    assert again.created == 0 and again.attached == 0


# ---------------------------------------------------------------- roles and departments


def test_a_role_granted_reaches_the_waiting_steps_and_one_taken_away_gives_them_back(db_session: Any) -> None:
    administrator = user("quantri")
    ba_dinh = _agency(BA_DINH)
    newcomer = _officer("moi.den", ba_dinh, ["chuyen_vien"])
    task = _reception(_submit())
    assert task.id not in _inbox_ids(newcomer)

    admin.set_roles(administrator, newcomer, ["chuyen_vien", "tiep_nhan"])
    assert task.id in _inbox_ids(newcomer)  # no task row was touched: the lane resolves when the inbox is read
    services.claim_task(task.id, newcomer)
    assert task.id in _inbox_ids(newcomer, officer="me")

    admin.set_roles(administrator, newcomer, ["chuyen_vien"])
    db.session.refresh(task)
    assert (task.state, task.claimed_by_id) == ("ready", None)
    assert task.id in _inbox_ids(user("tiepnhan"), officer="free")
    assert task.id not in _inbox_ids(newcomer)
    first, second = _changes("officer", newcomer.id)
    assert (first.action, first.actor_name) == ("roles", administrator.full_name)
    assert first.before["roles"] == ["chuyen_vien"] and first.after["roles"] == ["tiep_nhan", "chuyen_vien"]
    assert second.after["released_task_ids"] == [task.id]


def test_a_department_move_carries_the_claimed_steps(db_session: Any) -> None:
    administrator = user("quantri")
    desk_officer = user("tiepnhan")
    front, civil = _department("Bộ phận một cửa"), _department("Phòng Tư pháp - Hộ tịch")
    assert desk_officer.department_id == front.id
    task = _reception(_submit())
    services.claim_task(task.id, desk_officer)
    assert task.id in {t.id for t in admin.department_work(front)}

    admin.move_officer(administrator, desk_officer, civil)
    db.session.refresh(task)
    assert (task.state, task.claimed_by_id) == ("claimed", desk_officer.id)
    assert task.id in {t.id for t in admin.department_work(civil)}
    assert task.id not in {t.id for t in admin.department_work(front)}
    assert task.id in _inbox_ids(desk_officer, officer="me")
    change = _changes("officer", desk_officer.id)[-1]
    assert (change.action, change.before["department_id"], change.after["department_id"]) == (
        "moved", front.id, civil.id)
    assert change.after["released_task_ids"] == []

    # Moved to another agency, the steps of the former one go back to its common inbox.
    police_desk = admin.add_department(administrator, _agency(POLICE), "Đội tiếp nhận")
    admin.move_officer(administrator, desk_officer, police_desk)
    db.session.refresh(task)
    assert (task.state, task.claimed_by_id) == ("ready", None)
    assert desk_officer.agency_id == _agency(POLICE).id
    assert task.id not in _inbox_ids(desk_officer)


# ---------------------------------------------------------------- publication


def test_a_procedure_published_for_two_agencies_goes_to_the_one_chosen(db_session: Any) -> None:
    administrator = user("quantri")
    other = Agency(code="000.70.00.H26", name="UBND phường Hoàn Kiếm, thành phố Hà Nội", level="xa")
    db.session.add(other)
    db.session.flush()
    hoan_kiem_desk = _officer("hk.tiepnhan", other, ["tiep_nhan"])
    procedure = admin.get_procedure("1.001193")
    admin.publish(administrator, procedure, other)
    assert [a.code for a in services.offering_agencies(procedure)] == [BA_DINH, other.code]

    with pytest.raises(Invalid) as refused:
        _submit()
    assert refused.value.code == "agency_required"
    with pytest.raises(Invalid) as refused:
        _submit(POLICE)
    assert refused.value.code == "agency_not_offered"

    there = _submit(other.code)
    assert there.code.startswith("000.70.00.H26-") and there.agency_id == other.id
    task = _reception(there)
    assert task.agency_id == other.id
    assert task.id in _inbox_ids(hoan_kiem_desk)
    assert task.id not in _inbox_ids(user("tiepnhan"))
    here = _submit(BA_DINH)
    assert here.code.startswith(BA_DINH + "-") and _reception(here).id in _inbox_ids(user("tiepnhan"))

    # At the other agency's one-stop desk a walk-in dossier is that agency's without asking.
    walk_in = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), hoan_kiem_desk),
                                      applicant=None, channel=1, filed_by=hoan_kiem_desk)
    assert walk_in.agency_id == other.id

    change = _changes("procedure", procedure.id)[-1]
    assert change.before == {"agency": BA_DINH, "published_to": []}
    assert change.after == {"agency": BA_DINH, "published_to": [other.code]}
    admin.unpublish(administrator, procedure, other)
    assert _reception(_submit()).agency_id == _agency(BA_DINH).id  # one agency again: no choice needed


# ---------------------------------------------------------------- the administration area


def test_an_agency_with_dossiers_keeps_its_identifier(db_session: Any) -> None:
    administrator, police = user("quantri"), _agency(POLICE)
    changed = admin.save_agency(administrator, police, code="000.00.12.H26", name=police.name, level="xa",
                                address="", office_hours="")
    assert changed.code == "000.00.12.H26"  # no dossier yet: the identifier may be corrected
    ba_dinh = _agency(BA_DINH)
    _submit()
    with pytest.raises(Conflict):
        admin.save_agency(administrator, ba_dinh, code="000.00.13.H26", name=ba_dinh.name, level="xa", address="",
                          office_hours="")


def test_a_calendar_day_set_by_an_administrator_moves_the_agencys_deadlines(db_session: Any) -> None:
    administrator, ba_dinh, police = user("quantri"), _agency(BA_DINH), _agency(POLICE)
    saturday, monday = date(2026, 12, 5), date(2026, 12, 7)
    assert not calendar_for(ba_dinh).is_working_day(saturday) and calendar_for(ba_dinh).is_working_day(monday)
    admin.set_calendar_day(administrator, ba_dinh, saturday, True, "Làm bù")
    admin.set_calendar_day(administrator, ba_dinh, monday, False, "Nghỉ bù")
    db.session.refresh(ba_dinh)  # the database's trigger moved its calendar_version
    assert calendar_for(ba_dinh).is_working_day(saturday) and not calendar_for(ba_dinh).is_working_day(monday)
    assert calendar_for(police).is_working_day(monday)  # another agency's calendar is its own
    entry = db.session.scalar(select(CalendarDay).where(CalendarDay.agency_id == ba_dinh.id,
                                                        CalendarDay.day == monday))
    admin.delete_calendar_day(administrator, entry)
    db.session.refresh(ba_dinh)
    assert calendar_for(ba_dinh).is_working_day(monday)
    assert [(c.action, (c.before or {}).get("note"), (c.after or {}).get("note"))
            for c in _changes("calendar_day")] == [("created", None, "Làm bù"), ("created", None, "Nghỉ bù"),
                                                    ("deleted", "Nghỉ bù", None)]


def test_the_use_cases_refuse_anyone_but_an_administrator(db_session: Any) -> None:
    ba_dinh = _agency(BA_DINH)
    for username in ("hotich", "truongphong", "thietke", "congdan"):
        with pytest.raises(Forbidden):
            admin.set_roles(user(username), user("hotich"), ["quan_tri"])
        with pytest.raises(Forbidden):
            admin.save_agency(user(username), ba_dinh, code=ba_dinh.code, name="X", level="xa", address="",
                              office_hours="")
    assert user("hotich").roles == ["chuyen_vien"] and ba_dinh.name.startswith("UBND")
    assert _changes("officer") == [] and _changes("agency") == []


PAGES = ["/quan-tri/", "/quan-tri/co-quan/moi", "/quan-tri/nguoi-dung?q=tiep", "/quan-tri/lich-chung",
         "/quan-tri/thu-tuc", "/quan-tri/thu-tuc/1.001193", "/quan-tri/nhat-ky", "/quan-tri/he-thong-ket-noi"]


def test_the_admin_pages_refuse_non_administrators(client: Any) -> None:
    ba_dinh, hotich = _agency(BA_DINH), user("hotich")
    pages = [*PAGES, f"/quan-tri/co-quan/{ba_dinh.id}", f"/quan-tri/can-bo/{hotich.id}"]
    for page in pages:
        assert client.get(page).status_code == 302  # to the login page
    posts = {f"/quan-tri/co-quan/{ba_dinh.id}": {"code": ba_dinh.code, "name": "Đổi tên", "level": "xa"},
             f"/quan-tri/can-bo/{hotich.id}/vai-tro": {"roles": ["quan_tri"]},
             f"/quan-tri/co-quan/{ba_dinh.id}/lich": {"day": "2026-12-05", "working": "1"},
             "/quan-tri/thu-tuc/1.001193": {"agency": POLICE},
             "/quan-tri/he-thong-ket-noi": {"name": "Hệ thống X", "scopes": "api:write"}}
    for username in ("hotich", "truongphong", "thietke", "congdan"):
        login(client, username)
        for page in pages:
            assert client.get(page).status_code == 403, (username, page)
        for page, form in posts.items():
            assert client.post(page, data=form).status_code == 403, (username, page)
        client.post("/dang-xuat")
    db.session.expire_all()
    assert _agency(BA_DINH).name.startswith("UBND") and user("hotich").roles == ["chuyen_vien"]
    assert db.session.scalar(select(func.count()).select_from(AdminChange)) == 0
    assert db.session.scalar(select(func.count()).select_from(CalendarDay).where(
        CalendarDay.agency_id == ba_dinh.id)) == 0


def test_each_change_in_the_admin_area_is_recorded_with_its_before_and_after(client: Any) -> None:
    login(client, "quantri")
    for page in PAGES:
        assert client.get(page).status_code == 200, page
    assert 'data-user="tiepnhan"' in client.get("/quan-tri/nguoi-dung?q=tiep").get_data(as_text=True)
    ba_dinh, hotich = _agency(BA_DINH), user("hotich")
    assert client.get(f"/quan-tri/co-quan/{ba_dinh.id}").status_code == 200
    assert client.get(f"/quan-tri/can-bo/{hotich.id}").status_code == 200

    answer = client.post(f"/quan-tri/co-quan/{ba_dinh.id}", data={
        "code": BA_DINH, "name": ba_dinh.name, "level": "xa", "address": "25 Đội Cấn, Ba Đình",
        "office_hours": "07:30-11:30, 13:00-17:00", "parent": ""})
    assert answer.status_code == 303
    refused = client.post(f"/quan-tri/co-quan/{ba_dinh.id}", data={
        "code": BA_DINH, "name": ba_dinh.name, "level": "xa", "office_hours": "17:00-07:00"})
    assert refused.status_code == 422
    client.post(f"/quan-tri/co-quan/{ba_dinh.id}/phong-ban", data={"name": "Văn phòng"})
    client.post(f"/quan-tri/co-quan/{ba_dinh.id}/lich", data={"day": "2026-12-05", "working": "1",
                                                               "note": "Làm bù"})
    civil = _department("Phòng Tư pháp - Hộ tịch")
    office = _department("Văn phòng")
    client.post(f"/quan-tri/can-bo/{hotich.id}/phong-ban", data={"department": office.id})
    client.post(f"/quan-tri/can-bo/{hotich.id}/vai-tro", data={"roles": ["chuyen_vien", "lanh_dao_phong"]})
    client.post("/quan-tri/thu-tuc/1.001193", data={"agency": POLICE})

    db.session.expire_all()
    changes = list(db.session.scalars(select(AdminChange).order_by(AdminChange.id)))
    assert [(c.entity, c.action) for c in changes] == [
        ("agency", "updated"), ("department", "created"), ("calendar_day", "created"), ("officer", "moved"),
        ("officer", "roles"), ("procedure", "published")]
    assert {c.actor_name for c in changes} == {user("quantri").full_name}
    agency_change = changes[0]
    assert agency_change.before["office_hours"] is None and agency_change.before["address"] == ""
    assert agency_change.after["office_hours"] == [["07:30", "11:30"], ["13:00", "17:00"]]
    assert agency_change.after["address"] == "25 Đội Cấn, Ba Đình"
    assert changes[2].after == {"agency_id": ba_dinh.id, "day": "2026-12-05", "working": True, "note": "Làm bù"}
    assert (changes[3].before["department_id"], changes[3].after["department_id"]) == (civil.id, office.id)
    assert changes[4].after["roles"] == ["chuyen_vien", "lanh_dao_phong"]
    log = client.get("/quan-tri/nhat-ky").get_data(as_text=True)
    assert "Làm bù" in log and "07:30" in log


# ---------------------------------------------------------------- the API


def test_the_admin_api_refuses_non_administrators_and_records_what_it_changes(client: Any, token: Any) -> None:
    hotich, police = user("hotich"), _agency(POLICE)
    calls = [("get", "/api/v1/admin/agencies?q=Ba%20%C4%90%C3%ACnh", None),
             ("post", f"/api/v1/admin/officers/{hotich.id}/roles", {"roles": ["quan_tri"]}),
             ("post", f"/api/v1/admin/officers/{hotich.id}/department",
              {"department_id": _department("Bộ phận một cửa").id}),
             ("post", f"/api/v1/admin/procedures/1.001193/agencies/{POLICE}", None),
             ("post", f"/api/v1/admin/agencies/{police.id}", {"code": POLICE, "name": "Đổi tên", "level": "xa"}),
             ("post", f"/api/v1/admin/agencies/{police.id}/departments", {"name": "Đội cảnh sát quản lý hành chính"}),
             ("post", f"/api/v1/admin/agencies/{police.id}/calendar", {"day": "2026-12-26", "working": True})]
    for username in ("hotich", "truongphong", "thietke", "congdan"):
        headers = token(username)
        for method, url, body in calls:
            answer = getattr(client, method)(url, json=body, headers=headers)
            assert answer.status_code == 403, (username, url, answer.get_json())
    assert client.get(calls[0][1]).status_code == 401
    assert db.session.scalar(select(func.count()).select_from(AdminChange)) == 0

    headers = token("quantri")
    found = client.get(calls[0][1], headers=headers).get_json()["items"]
    assert {a["code"] for a in found} >= {BA_DINH, POLICE}
    moved = client.post(calls[2][1], json=calls[2][2], headers=headers)
    assert moved.status_code == 200 and moved.get_json()["department_id"] == _department("Bộ phận một cửa").id
    roles = client.post(calls[1][1], json={"roles": ["chuyen_vien", "bogus"]}, headers=headers)
    assert roles.status_code == 422
    published = client.post(calls[3][1], headers=headers)
    assert published.status_code == 200
    assert [a["code"] for a in published.get_json()["agencies"]] == [BA_DINH, POLICE]
    detail = client.get("/api/v1/procedures/1.001193").get_json()
    assert [a["code"] for a in detail["agencies"]] == [BA_DINH, POLICE]
    citizen, data = token("congdan"), with_stored_uploads(start_data("khai-sinh"), user("congdan"))
    unchosen = client.post("/api/v1/procedures/1.001193/dossiers", json=data, headers=citizen)
    assert unchosen.status_code == 422 and unchosen.get_json()["error"]["code"] == "agency_required"
    data = with_stored_uploads(start_data("khai-sinh"), user("congdan"))  # the refusal rolled the upload back
    chosen = client.post(f"/api/v1/procedures/1.001193/dossiers?co_quan={POLICE}", json=data, headers=citizen)
    assert chosen.status_code == 201, chosen.get_json()
    assert chosen.get_json()["code"].startswith(POLICE + "-")
    db.session.expire_all()
    assert [(c.entity, c.action, c.actor_name) for c in db.session.scalars(
        select(AdminChange).order_by(AdminChange.id))] == [("officer", "moved", user("quantri").full_name),
                                                          ("procedure", "published", user("quantri").full_name)]
    renamed = client.post(calls[4][1], headers=headers, json={
        "code": POLICE, "name": police.name, "level": "xa", "office_hours": "07:00-11:00, 13:00-17:00",
        "address": "1 Đội Cấn", "parent": ""})
    assert renamed.status_code == 200 and renamed.get_json()["office_hours"] == [["07:00", "11:00"], ["13:00", "17:00"]]
    clash = client.post(calls[4][1], headers=headers, json={"code": BA_DINH, "name": police.name, "level": "xa"})
    assert clash.status_code == 422 and "code" in clash.get_json()["error"]["details"]
    added = client.post(calls[5][1], json=calls[5][2], headers=headers)
    assert added.status_code == 201 and added.get_json()["agency_id"] == police.id
    saturday = client.post(calls[6][1], json={**calls[6][2], "note": "Làm bù"}, headers=headers)
    assert saturday.status_code == 200 and saturday.get_json()["working"] is True
    db.session.expire_all()
    assert [(c.entity, c.action) for c in db.session.scalars(select(AdminChange).order_by(AdminChange.id))][2:] == [
        ("agency", "updated"), ("department", "created"), ("calendar_day", "created")]
    withdrawn = client.post(f"/api/v1/admin/procedures/1.001193/agencies/{police.code}/withdraw", headers=headers)
    assert [a["code"] for a in withdrawn.get_json()["agencies"]] == [BA_DINH]

"""The leaders' dashboard (/can-bo/chi-so, app.web.statistics): who sees which agencies, the figures it shows equal
to the indicators' SQL, the drill-down to an agency, its procedures and fields and the late dossiers (only those the
viewer may see), and the time the figures are as of."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import select

from app.dossiers import indicators
from app.dossiers.access import leader_agencies, may_view
from app.extensions import db
from app.models import Agency, Dossier
from tests.conftest import login, user
from tests.integration.test_indicators import END, START, local, make, november

NOV = "tu=2026-11-01&den=2026-11-30"


def cells(page: str, row: str) -> dict[str, str]:
    """The figures of one table row of the page, by counter."""
    found = re.search(rf'<tr data-row="{re.escape(row)}">(.*?)</tr>', page, re.S)
    assert found, row
    return dict(re.findall(r'data-key="([a-z_]+)">([^<]*)</td>', found.group(1)))


def shown(value):
    return "" if value is None else f"{value * 100:.1f}%" if isinstance(value, float) else str(value)


def test_who_sees_which_agencies(db_session):
    assert leader_agencies(user("quantri")) is None
    assert leader_agencies(user("truongphong")) == [user("truongphong").agency_id]
    assert leader_agencies(user("chutich")) == [user("chutich").agency_id]
    assert leader_agencies(user("hotich")) == [] and leader_agencies(user("congdan")) == []
    # A province's People's Committee: its leader sees every agency under it, down to the communes.
    province = Agency(code="000.00.00.H26", name="UBND tỉnh Thử", level="tinh")
    db.session.add(province)
    db.session.flush()
    commune = db.session.get(Agency, user("truongphong").agency_id)
    commune.parent_id = province.id
    leader = user("ca.truong")
    leader.agency_id = province.id
    db.session.flush()
    assert leader_agencies(leader) == sorted([province.id, commune.id])


def test_the_dashboard_shows_the_sql_figures_and_drills_down(client, db_session):
    agency = november(db_session)
    indicators.refresh()
    db_session.commit()
    login(client, "quantri")
    top = client.get(f"/can-bo/chi-so?{NOV}")
    assert top.status_code == 200
    page = top.get_data(as_text=True)
    assert 'id="chart-results"' in page and "chart.umd.min.js" in page and 'id="as-of"' in page
    start, end = indicators.bounds(date(2026, 11, 1), date(2026, 11, 30))
    expected = indicators.total(r for r in indicators.progress(start, end) if r.agency_id == agency).as_dict()
    assert cells(page, f"co-quan-{agency}") == {k: shown(expected[k]) for k in cells(page, f"co-quan-{agency}")}
    # The agency: one row per procedure, one per field (lĩnh vực), each equal to the SQL.
    page = client.get(f"/can-bo/chi-so/co-quan/{agency}?{NOV}").get_data(as_text=True)
    (sql,) = [r.as_dict() for r in indicators.progress(start, end, [agency]) if r.procedure_code == "1.001193"]
    row = cells(page, "thu-tuc-1.001193")
    assert row["digitized"] == "2" and row["finished_late"] == "1"
    assert row == {k: shown(sql[k]) for k in row}
    assert "Hộ tịch" in page and 'id="fields-table"' in page
    # The procedure's late dossiers: handled late (#3) and open past the date at the end (#4, #6, #10).
    late = client.get(f"/can-bo/chi-so/co-quan/{agency}/tre-han?{NOV}&thu_tuc=1.001193").get_data(as_text=True)
    codes = set(re.findall(r'data-dossier="([^"]+)"', late))
    assert {c[-4:] for c in codes} == {"9003", "9004", "9006", "9010"}


def test_leaders_see_their_own_agency_and_late_dossiers_they_may_view(client, db_session):
    november(db_session)
    db_session.commit()
    agency = user("truongphong").agency_id
    login(client, "truongphong")
    answer = client.get(f"/can-bo/chi-so?{NOV}")
    assert answer.status_code == 302 and f"/can-bo/chi-so/co-quan/{agency}" in answer.headers["Location"]
    assert client.get(f"/can-bo/chi-so/co-quan/{agency}?{NOV}").status_code == 200
    police = user("ca.truong").agency_id
    assert client.get(f"/can-bo/chi-so/co-quan/{police}?{NOV}").status_code == 403
    assert client.get(f"/can-bo/chi-so/co-quan/{police}/tre-han?{NOV}").status_code == 403
    late = client.get(f"/can-bo/chi-so/co-quan/{agency}/tre-han?{NOV}").get_data(as_text=True)
    listed = set(re.findall(r'data-dossier="([^"]+)"', late))
    viewer = user("truongphong")
    for dossier in db.session.scalars(select(Dossier).where(Dossier.code.in_(listed))):
        assert may_view(viewer, dossier)
    client.post("/dang-xuat")
    for name in ("hotich", "congdan", "ca.truong"):
        login(client, name)
        assert client.get(f"/can-bo/chi-so/co-quan/{agency}?{NOV}").status_code == 403, name
        client.post("/dang-xuat")
    assert client.get(f"/can-bo/chi-so?{NOV}").status_code in (302, 401)


def test_a_leader_above_the_agency_sees_its_counts_but_no_dossier_they_may_not_view(client, db_session):
    november(db_session)
    province = Agency(code="000.00.00.H26", name="UBND tỉnh Thử", level="tinh")
    db.session.add(province)
    db.session.flush()
    commune = db.session.get(Agency, user("truongphong").agency_id)
    commune.parent_id = province.id
    leader = user("ca.truong")
    leader.agency_id = province.id
    db_session.commit()
    login(client, "ca.truong")
    top = client.get(f"/can-bo/chi-so?{NOV}").get_data(as_text=True)
    assert f'data-row="co-quan-{commune.id}"' in top
    late = client.get(f"/can-bo/chi-so/co-quan/{commune.id}/tre-han?{NOV}").get_data(as_text=True)
    assert "data-dossier=" not in late and "id=\"hidden-count\"" in late  # counted, never shown


def test_a_dossier_finished_shows_up_at_once_and_the_page_says_as_of_when(client, db_session):
    agency = november(db_session)
    indicators.refresh()
    db_session.commit()
    login(client, "quantri")

    def figures() -> dict[str, str]:
        page = client.get(f"/can-bo/chi-so/co-quan/{agency}?{NOV}").get_data(as_text=True)
        assert re.search(r'id="as-of">[^<]*\d\d:\d\d:\d\d \d\d/\d\d/\d{4}', page)
        return cells(page, "thu-tuc-1.001193")

    assert figures()["finished_before"] == "1"
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == "000.00.01.H26-261199-9005"))
    dossier.status, dossier.finished_at, dossier.finished_verdict = 10, local(11, 28), "truoc_han"
    db_session.commit()
    assert figures()["finished_before"] == "2"  # at once, before the aggregate holds it
    indicators.refresh()
    db_session.commit()
    assert db.session.scalar(select(Dossier.counted).where(Dossier.id == dossier.id)) is True
    assert figures()["finished_before"] == "2"  # and once after it


def test_worked_example_unchanged_by_the_other_agencies(db_session):
    make(50, 2, local(11, 3), local(11, 5, 17), status=4)
    police = user("ca.tiepnhan").agency_id
    assert all(r.procedure_code != "1.001193" for r in indicators.summary(date(2026, 11, 1), date(2026, 11, 30),
                                                                           [police]))
    assert indicators.summary(date(2026, 11, 1), date(2026, 11, 30)) == indicators.progress(START, END)


def test_the_sql_rule_for_lists_is_may_view(db_session):
    from app.dossiers.access import viewable, viewable_at
    from app.models import HumanTask

    november(db_session)
    dossiers = list(db.session.scalars(select(Dossier).where(Dossier.code.like("%-261199-%"))))
    police = user("ca.tiepnhan").agency_id
    db.session.add(HumanTask(dossier_id=dossiers[0].id, agency_id=police, engine_task_id="x-1", spec_name="Buoc",
                             title="Bước của công an", role="chuyen_vien", state="completed"))
    dossiers[1].applicant_user_id = user("congdan").id
    db.session.flush()
    ids = [d.id for d in dossiers]
    for name in ("quantri", "truongphong", "hotich", "ca.cutru", "congdan", "congdan2", "thietke"):
        viewer = user(name)
        expected = {d.id for d in dossiers if may_view(viewer, d)}
        for rule in (viewable(viewer), viewable_at(viewer, dossiers[0].agency_id)):
            found = set(db.session.scalars(select(Dossier.id).where(Dossier.id.in_(ids), rule)))
            assert found == expected, name


def test_the_late_dossiers_come_a_page_at_a_time(client, db_session):
    november(db_session)
    # 30 more dossiers handled late in November, beyond one page of 25.
    for n in range(30):
        make(100 + n, 2, local(11, 2), local(11, 3, 17), status=10, finished=local(11, 6), verdict="qua_han")
    db_session.commit()
    agency = user("truongphong").agency_id
    login(client, "truongphong")
    base = f"/can-bo/chi-so/co-quan/{agency}/tre-han?{NOV}&thu_tuc=1.001193"
    first = client.get(base).get_data(as_text=True)
    second = client.get(base + "&trang=2").get_data(as_text=True)
    on_first = re.findall(r'data-dossier="([^"]+)"', first)
    on_second = re.findall(r'data-dossier="([^"]+)"', second)
    assert len(on_first) == 25
    assert len(on_second) == 34 - 25 and not set(on_first) & set(on_second)
    assert "trên tổng số 34" in first and 'rel="next"' in first and 'rel="next"' not in second
    assert {c[-4:] for c in on_first + on_second} >= {"9003", "9004", "9006", "9010"}

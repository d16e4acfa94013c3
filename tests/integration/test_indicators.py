"""The progress counters of the indicators (QĐ 766; app.dossiers.indicators), on a worked example: ten dossiers of
one procedure whose dates put each in a known box of November 2026 (local time), and the counters checked box by
box; and the finishing verdict set by the platform when a dossier is handed back."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from app.dossiers import indicators, services
from app.extensions import db
from app.models import Dossier, DossierRating, HumanTask, IndicatorDay, Payment, Procedure
from tests.conftest import user
from tests.samples import start_data, task_data, with_stored_uploads

VN = ZoneInfo("Asia/Ho_Chi_Minh")
START, END = datetime(2026, 11, 1, tzinfo=VN), datetime(2026, 12, 1, tzinfo=VN)


def local(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=VN)


def make(n: int, channel: int, received: datetime, due: datetime, *, status: int, finished: datetime | None = None,
         verdict: str | None = None, withdrawn: datetime | None = None, components: tuple[int, int] | None = None,
         reused: bool = False) -> None:
    proc = db.session.scalar(select(Procedure).where(Procedure.code == "1.001193"))
    db.session.add(Dossier(
        code=f"000.00.01.H26-261199-{9000 + n}", procedure_version_id=proc.current_version_id, agency_id=proc.agency_id,
        status=status, channel=channel, applicant_name="Nguyễn Văn An", summary="", form_data={}, fee_amount=0,
        submitted_at=received, received_at=received, due_at=due, finished_at=finished, finished_verdict=verdict,
        withdrawn_at=withdrawn, components_held=components[0] if components else None,
        components_digitized=components[1] if components else None,
        reused_documents={"giay_chung_sinh": {"document_id": 1, "origin": "result", "title": "Giấy chứng sinh",
                                              "dossier_code": "000.00.01.H26-261001-0001"}} if reused else None))


def november(db_session) -> int:
    """The worked example's dossiers, payments and ratings; the agency's id."""
    # Digitized (every component held at reception digitized): #1 (online, 3 of 3) and #2 (walk-in, both scans
    # uploaded); not #3 (online but received before 0023d: unknown), #7 (walk-in, 1 of 3 scanned) nor #9 (October).
    make(1, 2, local(11, 3), local(11, 5, 17), status=10, finished=local(11, 4), verdict="truoc_han",
         components=(3, 3))
    # Reused (a component taken from the applicant's document store): #2 (handed back: folded into the aggregate)
    # and #5 (still open: counted live); not #9 (September).
    make(2, 1, local(11, 10), local(11, 12, 17), status=10, finished=local(11, 12, 16), verdict="dung_han",
         components=(2, 2), reused=True)
    make(3, 2, local(11, 10), local(11, 11, 17), status=9, finished=local(11, 12), verdict="qua_han")
    make(4, 1, local(10, 28), local(11, 2, 17), status=4)  # carried over, still open and overdue at the end
    make(5, 2, local(11, 20), local(12, 3, 17), status=4, reused=True)  # open within its date
    make(6, 2, local(11, 25), local(11, 27, 17), status=5)  # paused (supplement), overdue
    make(7, 1, local(11, 5), local(11, 7, 17), status=3, finished=local(11, 5, 10), components=(3, 1))  # refused
    make(8, 2, local(11, 6), local(11, 9, 17), status=7, withdrawn=local(11, 8))  # withdrawn
    make(9, 1, local(9, 1), local(9, 5, 17), status=10, finished=local(10, 1), verdict="qua_han",
         components=(1, 1), reused=True)  # before November
    make(10, 1, local(11, 2), local(11, 4, 17), status=10, finished=local(12, 2), verdict="qua_han")  # after it
    db.session.flush()
    ids = {d.code[-4:]: d for d in db.session.scalars(select(Dossier).where(Dossier.code.like("%-261199-%")))}
    # Paid online in November: #1 (#3 paid in October, before the period, is not counted).
    db.session.add(Payment(dossier_id=ids["9001"].id, transaction_id="T-NOV-1", amount=8000, state="paid",
                           paid_at=local(11, 3, 10)))
    db.session.add(Payment(dossier_id=ids["9003"].id, transaction_id="T-OCT-3", amount=8000, state="paid",
                           paid_at=local(10, 30)))
    # Rated in November: #1 very satisfied, #2 not satisfied; #9 rated in October.
    for n, overall, when in (("9001", 3, local(11, 5)), ("9002", 1, local(11, 13)), ("9009", 2, local(10, 2))):
        db.session.add(DossierRating(dossier_id=ids[n].id, agency_id=ids[n].agency_id, channel="online",
                                     answers={"tong_the": overall}, comment="", created_at=when))
    # #1 paid again (a double charge, refunded) in November: still one dossier paid online; #3 too, but its
    # first payment was in October: not paid online in November.
    db.session.add(Payment(dossier_id=ids["9001"].id, transaction_id="T-NOV-1B", amount=8000, state="refunded",
                           paid_at=local(11, 3, 11)))
    db.session.add(Payment(dossier_id=ids["9003"].id, transaction_id="T-NOV-3B", amount=8000, state="refunded",
                           paid_at=local(11, 2)))
    db.session.flush()
    return int(user("tiepnhan").agency_id)


NOVEMBER = {
    "procedure_code": "1.001193",
    "received_online": 5, "received_in_person": 3, "received": 8, "carried_over": 1,
    "finished_before": 1, "finished_on_time": 1, "finished_late": 1, "finished": 3, "on_time_rate": 2 / 3,
    "refused": 1, "withdrawn": 1, "open_in_time": 1, "open_overdue": 3, "paused": 1,
    "digitized": 2, "digitization_rate": 2 / 8, "received_reused": 2,
    "paid_online": 1, "rated": 2, "rated_satisfied": 1, "satisfaction_rate": 0.5,
}


def test_the_november_worked_example(db_session):
    agency = november(db_session)
    (row,) = [r for r in indicators.progress(START, END, [agency]) if r.procedure_code == "1.001193"]
    assert row.as_dict() == {"agency_id": agency, **NOVEMBER}
    police = user("ca.tiepnhan").agency_id  # another agency's counters hold none of them
    assert all(r.procedure_code != "1.001193" for r in indicators.progress(START, END, [police]))


PERIODS = [(date(2026, 11, 1), date(2026, 11, 30)), (date(2026, 10, 1), date(2026, 10, 31)),
           (date(2026, 9, 1), date(2026, 12, 31)), (date(2026, 11, 10), date(2026, 11, 10)),
           (date(2026, 11, 12), date(2026, 11, 25)), (date(2026, 12, 1), date(2026, 12, 2)),
           (date(2026, 8, 1), date(2026, 8, 31))]


def _same(agency: int) -> None:
    for first, last in PERIODS:
        start, end = indicators.bounds(first, last)
        assert indicators.summary(first, last, [agency]) == indicators.progress(start, end, [agency]), (first, last)


def test_the_summary_from_the_daily_aggregate_equals_the_sql_before_and_after_a_refresh(db_session):
    agency = november(db_session)
    _same(agency)  # nothing folded yet: all of it counted live
    indicators.refresh()
    folded = db.session.scalars(select(Dossier.code).where(Dossier.code.like("%-261199-%"), Dossier.counted)).all()
    assert sorted(c[-4:] for c in folded) == ["9001", "9002", "9007", "9008", "9009", "9010"]  # statuses 3, 7, 10
    assert db.session.scalar(select(func.count()).select_from(IndicatorDay).where(IndicatorDay.agency_id == agency))
    _same(agency)
    (row,) = [r for r in indicators.summary(date(2026, 11, 1), date(2026, 11, 30), [agency])
              if r.procedure_code == "1.001193"]
    assert row.as_dict() == {"agency_id": agency, **NOVEMBER}
    indicators.refresh()  # nothing new: nothing counted twice
    _same(agency)


def test_a_dossier_finished_counts_at_once_and_after_the_refresh(db_session):
    agency = november(db_session)
    indicators.refresh()
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == "000.00.01.H26-261199-9005"))
    dossier.status, dossier.finished_at, dossier.returned_at = 10, local(11, 28), local(11, 28)
    dossier.finished_verdict = "truoc_han"
    db.session.flush()
    nov = (date(2026, 11, 1), date(2026, 11, 30))

    def row() -> dict:
        (found,) = [r for r in indicators.summary(*nov, [agency]) if r.procedure_code == "1.001193"]
        return found.as_dict()

    expected = {**NOVEMBER, "agency_id": agency, "finished_before": 2, "finished": 4, "on_time_rate": 3 / 4,
                "open_in_time": 0}
    assert row() == expected  # before any refresh: counted live
    indicators.sweep_source(local(12, 1), local(12, 1), 500)  # the sweeper's pass
    assert dossier.counted is False or db.session.scalar(select(Dossier.counted).where(Dossier.id == dossier.id))
    assert row() == expected  # after it: from the aggregate, once
    _same(agency)


def test_reception_records_the_components_held_and_digitized(db_session):
    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), user("congdan")),
                                      applicant=user("congdan"))
    assert dossier.components_held is None
    task = db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id, HumanTask.state == "ready"))
    services.complete_task(task.id, user("tiepnhan"), task_data("khai-sinh", task.form))
    db.session.refresh(dossier)
    assert dossier.status != 1 and dossier.components_held and dossier.components_held > 0
    assert dossier.components_digitized == dossier.components_held  # online: every component is digitized


def test_a_handed_back_dossier_gets_its_verdict_when_it_finishes(db_session):
    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), user("congdan")),
                                      applicant=user("congdan"))
    officers = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich", "tra_ket_qua": "traketqua"}
    while (task := db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id,
                                                             HumanTask.state == "ready"))) is not None:
        services.complete_task(task.id, user(officers[task.role]), task_data("khai-sinh", task.form))
    db.session.refresh(dossier)
    assert dossier.status == 10 and dossier.finished_verdict in ("truoc_han", "dung_han")


def test_the_api_gives_an_officer_their_agencys_counters(client, db_session, token):
    make(1, 2, local(11, 3), local(11, 5, 17), status=10, finished=local(11, 4), verdict="truoc_han")
    db_session.commit()
    answer = client.get("/api/v1/indicators/progress?tu=2026-11-01&den=2026-11-30", headers=token("truongphong"))
    assert answer.status_code == 200, answer.data[:300]
    (row,) = [r for r in answer.get_json()["items"] if r["procedure_code"] == "1.001193"]
    assert row["finished_before"] == 1 and row["on_time_rate"] == 1.0
    police = client.get("/api/v1/indicators/progress?tu=2026-11-01&den=2026-11-30", headers=token("ca.truong"))
    assert all(r["procedure_code"] != "1.001193" for r in police.get_json()["items"])
    assert client.get("/api/v1/indicators/progress?tu=2026-11-01&den=2026-11-30",
                      headers=token("congdan")).status_code == 403
    backwards = client.get("/api/v1/indicators/progress?tu=2026-11-30&den=2026-11-01", headers=token("truongphong"))
    assert backwards.status_code == 422


def test_the_table_its_csv_and_xlsx_and_the_public_page_show_the_same_counters(client, db_session):
    import csv
    import io

    from openpyxl import load_workbook

    from tests.conftest import login

    make(1, 2, local(11, 3), local(11, 5, 17), status=10, finished=local(11, 4), verdict="truoc_han")
    make(2, 1, local(11, 10), local(11, 12, 17), status=10, finished=local(11, 13), verdict="qua_han")
    db_session.commit()
    login(client, "truongphong")
    page = client.get("/can-bo/thong-ke?tu=2026-11-01&den=2026-11-30").get_data(as_text=True)
    assert "1.001193" in page and "50.0%" in page  # one of two handled on time
    lines = list(csv.reader(io.StringIO(client.get("/can-bo/thong-ke.csv?tu=2026-11-01&den=2026-11-30")
                                        .get_data(as_text=True).lstrip("\ufeff"))))
    head, rows = lines[0], [r for r in lines[1:] if r[1] == "1.001193"]
    assert head[:3] == ["Cơ quan", "Mã thủ tục", "Tên thủ tục"] and len(rows) == 1
    row = dict(zip(head, rows[0], strict=True))
    assert row["Giải quyết trước hạn"] == "1" and row["Giải quyết quá hạn"] == "1" and row["Tỉ lệ đúng hạn"] == "0.5"
    book = load_workbook(io.BytesIO(client.get("/can-bo/thong-ke.xlsx?tu=2026-11-01&den=2026-11-30").data))
    sheet_rows = [list(r) for r in book.active.iter_rows(values_only=True)]
    assert sheet_rows[0] == head and [r for r in sheet_rows if r[1] == "1.001193"][0][3:] == [
        int(v) if v.isdigit() else float(v) if v else None for v in rows[0][3:]]
    client.post("/dang-xuat")
    login(client, "congdan")
    assert client.get("/can-bo/thong-ke").status_code == 403
    client.post("/dang-xuat")  # the public page, as anyone sees it
    public = client.get("/cong-khai/000.00.01.H26?nam=2026").get_data(as_text=True)
    assert "1.001193" in public and "Nguyễn Văn An" not in public
    assert client.get("/cong-khai/000.00.99.H26").status_code == 404


def test_a_walk_in_dossier_counts_only_the_scans_as_digitized(db_session):
    from app.dossiers.components import received_components

    data = with_stored_uploads(start_data("khai-sinh"), user("tiepnhan"))
    dossier = services.submit_dossier("1.001193", data, applicant=None, channel=1, filed_by=user("tiepnhan"))
    task = db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id, HumanTask.state == "ready"))
    services.complete_task(task.id, user("tiepnhan"), task_data("khai-sinh", task.form))
    db.session.refresh(dossier)
    held = received_components(dossier)
    assert dossier.components_held == len(held) and len(held) > 1
    scanned = [c for c in held if c["uploaded"]]  # the birth certificate the desk scanned; not the paper ones
    assert dossier.components_digitized == len(scanned) and 0 < len(scanned) < len(held)
    start, end = indicators.bounds(dossier.received_at.astimezone(VN).date(), dossier.received_at.astimezone(VN).date())
    (row,) = [r for r in indicators.progress(start, end, [dossier.agency_id]) if r.procedure_code == "1.001193"]
    assert row.received_in_person >= 1 and row.digitized == 0  # not every component digitized

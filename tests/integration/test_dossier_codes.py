"""Dossier codes: `<agency>-<YYMMDD>-<NNNN>`, per agency per day, never duplicated under concurrency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.dossiers.deadlines import next_dossier_code
from app.dossiers.errors import Invalid
from app.extensions import db
from app.models import Agency


def agency(code: str) -> Agency:
    return db.session.scalar(select(Agency).where(Agency.code == code))


def test_sequence_per_agency_and_day(db_session):
    at = datetime(2031, 3, 5, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội
    a, b = agency("000.00.01.H26"), agency("000.00.02.H26")
    assert next_dossier_code(a, at) == "000.00.01.H26-310305-0001"
    assert next_dossier_code(a, at) == "000.00.01.H26-310305-0002"
    assert next_dossier_code(b, at) == "000.00.02.H26-310305-0001"
    # 23:30 UTC is already the next day in Vietnam: the date part and the counter follow local time.
    late = datetime(2031, 3, 5, 23, 30, tzinfo=UTC)
    assert next_dossier_code(a, late) == "000.00.01.H26-310306-0001"


def test_agency_without_identifier_cannot_receive(db_session):
    nameless = Agency(code="", name="Cơ quan chưa có mã", level="xa")
    db_session.add(nameless)
    db_session.flush()
    with pytest.raises(Invalid) as info:
        next_dossier_code(nameless, datetime.now(UTC))
    assert "mã định danh" in info.value.message


def test_concurrent_codes_are_unique(live_server):
    app = live_server.app
    at = datetime(2032, 7, 1, 3, 0, tzinfo=UTC)
    codes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def take(n: int) -> None:
        with app.app_context():
            a = agency("000.00.01.H26")
            barrier.wait()
            for _ in range(n):
                code = next_dossier_code(a, at)
                db.session.commit()
                with lock:
                    codes.append(code)
            db.session.remove()

    threads = [threading.Thread(target=take, args=(25,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(codes) == 100
    assert len(set(codes)) == 100
    assert sorted(int(c[-4:]) for c in codes) == list(range(1, 101))


def test_a_number_is_not_held_until_the_submission_commits(live_server):
    """The number is taken in a transaction of its own: a second submission to the same agency and day does
    not wait for the first one's transaction (before, it waited on the counter row until that commit); a
    submission that fails afterwards leaves a gap, which DOMAIN.md allows, and never a duplicate."""
    from tests.hang import hang_guard

    app = live_server.app
    at = datetime(2033, 1, 10, 3, 0, tzinfo=UTC)
    taken: dict[str, str] = {}

    def second() -> None:
        with app.app_context():
            taken["second"] = next_dossier_code(agency("000.00.01.H26"), at)
            db.session.commit()
            db.session.remove()

    with app.app_context():
        taken["first"] = next_dossier_code(agency("000.00.01.H26"), at)  # its transaction stays open
        thread = threading.Thread(target=second)
        with hang_guard(30, "the second submission waited for the first one's transaction"):
            thread.start()
            thread.join()
        db.session.rollback()  # the first submission fails after taking its number
        db.session.remove()
    with app.app_context():
        taken["third"] = next_dossier_code(agency("000.00.01.H26"), at)
        db.session.commit()
        db.session.remove()
    assert [taken[k][-4:] for k in ("first", "second", "third")] == ["0001", "0002", "0003"]


def test_concurrent_submissions_get_unique_increasing_codes(live_server):
    """Whole submissions through the service layer, 4 threads at once on PostgreSQL: every dossier committed,
    codes unique, and, with none failing, exactly 1..N for the day (no deadlock, no gap)."""
    from app.dossiers.attachments import reference, store_upload
    from app.dossiers.services import submit_dossier
    from app.models import Dossier
    from tests.conftest import user
    from tests.hang import hang_guard
    from tests.samples import PDF_BYTES, start_data

    app = live_server.app
    at = datetime(2033, 2, 14, 3, 0, tzinfo=UTC)
    codes: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def submit(n: int) -> None:
        try:
            with app.app_context():
                citizen = user("congdan")
                uploads = [reference(store_upload(PDF_BYTES, "gcs.pdf", "application/pdf", "giay_chung_sinh",
                                                  citizen)) for _ in range(n)]
                db.session.commit()
                barrier.wait()
                for ref in uploads:
                    data = start_data("khai-sinh", files_as=ref)
                    code = submit_dossier("1.001193", data, applicant=user("congdan"), at=at).code
                    db.session.commit()
                    with lock:
                        codes.append(code)
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            barrier.abort()  # the others stop waiting for this one

    threads = [threading.Thread(target=submit, args=(6,)) for _ in range(4)]
    with hang_guard(120, "concurrent submissions"):
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # The submissions' jobs (notifications) run in the live app's job thread: let them finish here, not
        # during a later test (they would use that test's session).
        app.extensions["motcua_jobs"].jobs.join()
    assert [e for e in errors if not isinstance(e, threading.BrokenBarrierError)] == []
    assert errors == []
    assert len(codes) == 24 and len(set(codes)) == 24
    assert len({c[:-5] for c in codes}) == 1  # one agency, one day
    assert sorted(int(c[-4:]) for c in codes) == list(range(1, 25))
    with app.app_context():
        stored = db.session.scalars(select(Dossier.code).where(Dossier.code.in_(codes))).all()
        db.session.remove()
    assert sorted(stored) == sorted(codes)

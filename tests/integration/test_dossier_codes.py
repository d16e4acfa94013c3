"""Dossier codes: `<agency>-<YYMMDD>-<NNNN>`, per agency per day, never duplicated under concurrency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.dossiers.errors import Invalid
from app.dossiers.services import next_dossier_code
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

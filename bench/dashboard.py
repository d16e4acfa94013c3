"""What the leaders' dashboard and the indicator exports cost at a province's volume (bench.volume's history).

    .venv/bin/python -m bench.dashboard --dossiers 1000000 --keep   # generate (a few minutes) and time
    .venv/bin/python -m bench.dashboard --reuse                     # time again on the kept database

The database is bench.volume's under a name of its own (motcua_dashboard). On top of the volume history this
fills what the indicators read and bench.volume leaves out: the finishing verdict (by local date), the withdrawal
time of withdrawn dossiers, the components held and digitized at reception (walk-in dossiers one in four, half
of their components scanned), a settled online payment for each dossier with a fee, and a rating for one
returned dossier in five. Printed: the defining SQL (app.dossiers.indicators.progress) over a year for every
agency, the first fold of the whole history into the daily aggregate, then each page and export (p50/p95 through
the Flask test client, SQL statements per request). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import volume  # noqa: E402

volume.DB_NAME = "motcua_dashboard"

EXTRA = [
    ("finishing verdicts", """
        UPDATE dossier SET finished_verdict = CASE
            WHEN (finished_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date < (due_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date
                THEN 'truoc_han'
            WHEN (finished_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date = (due_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date
                THEN 'dung_han' ELSE 'qua_han' END
        WHERE status IN (9, 10) AND finished_at IS NOT NULL"""),
    ("withdrawals", "UPDATE dossier SET withdrawn_at = finished_at, finished_at = NULL, returned_at = NULL "
                    "WHERE status = 7"),
    ("walk-in channel (one in four)", "UPDATE dossier SET channel = 1 WHERE id % 4 = 1"),
    ("components at reception", """
        UPDATE dossier SET components_held = 4,
                           components_digitized = CASE WHEN channel = 2 OR id % 8 = 1 THEN 4 ELSE 2 END
        WHERE received_at IS NOT NULL"""),
    ("settled online payments", """
        INSERT INTO payment (dossier_id, transaction_id, platform_id, amount, description, pay_url, state, paid_at,
                             refunded_amount, receipt_sha256, checks, created_at, updated_at)
        SELECT id, 'B-' || id, 'P-' || id, fee_amount, '', '', 'paid', submitted_at + interval '1 hour', 0, '', 0,
               submitted_at, submitted_at
        FROM dossier WHERE fee_amount > 0 AND status <> 1"""),
    ("ratings", """
        INSERT INTO dossier_rating (dossier_id, agency_id, channel, answers, comment, created_at)
        SELECT id, agency_id, 'online', jsonb_build_object('tong_the', 1 + id % 3), '', returned_at + interval '1 day'
        FROM dossier WHERE status = 10 AND id % 5 = 0"""),
]


def fill(log: Callable[[str], None]) -> None:
    import psycopg

    with psycopg.connect(volume.db_url(driver=False)) as conn:
        conn.execute("SET work_mem = '128MB'")
        for label, sql in EXTRA:
            started = time.perf_counter()
            cur = conn.execute(sql)  # type: ignore[arg-type]
            conn.commit()
            log(f"  {label}: {cur.rowcount} rows, {time.perf_counter() - started:.1f} s")
    with psycopg.connect(volume.db_url(driver=False), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


def fold(app: Any, log: Callable[[str], None]) -> None:
    from app.dossiers import indicators
    from app.extensions import db

    with app.app_context():
        started, batches = time.perf_counter(), 0
        while True:
            batch = time.perf_counter()
            written = indicators.refresh(50_000)
            db.session.commit()
            batches += 1
            if not written:
                break
            log(f"  fold batch {batches}: {written} rows folded, {time.perf_counter() - batch:.1f} s")
        rows = db.session.scalar(db.text("SELECT count(*) FROM indicator_day"))
        log(f"first fold of the history: {time.perf_counter() - started:.1f} s, {rows:,} aggregate rows")
        db.session.remove()


def timed(label: str, fn: Callable[[], Any], n: int) -> tuple[str, list[float]]:
    fn()
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return label, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    volume.history_arguments(parser)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--generate-only", action="store_true")
    args = parser.parse_args()

    def log(line: str) -> None:
        print(line, flush=True)

    with volume.history(args, log, then=fill) as app:
        if not args.generate_only:
            time_all(app, args.requests, log)


def time_all(app: Any, n: int, log: Callable[[str], None]) -> None:
    from sqlalchemy import event, select, text

    from app.clock import local_today
    from app.dossiers import indicators
    from app.extensions import db
    from app.models import Agency, User

    with app.app_context():
        total = db.session.scalar(text("SELECT count(*) FROM dossier"))
        uncounted = db.session.scalar(text("SELECT count(*) FROM dossier WHERE NOT counted"))
        agency = db.session.scalar(select(User.agency_id).where(User.username == "hotich"))
        agency_code = db.session.scalar(select(Agency.code).where(Agency.id == agency))
        db.session.remove()
    today = local_today()
    year = (date(today.year, 1, 1), today)
    results: list[tuple[str, list[float]]] = []
    with app.app_context():
        start, end = indicators.bounds(*year)
        results.append(timed("defining SQL, year to date, every agency (progress)",
                             lambda: indicators.progress(start, end), max(3, n // 4)))
        db.session.remove()
    if uncounted and uncounted > total // 2:
        fold(app, log)
    with app.app_context():
        uncounted = db.session.scalar(text("SELECT count(*) FROM dossier WHERE NOT counted"))

        def read(first: date, last: date) -> Callable[[], Any]:
            def go() -> Any:
                out = indicators.summary(first, last)
                db.session.rollback()  # the shared lock ends with the transaction, as with a request
                return out
            return go

        results.append(timed("summary (aggregate + live), year to date, every agency", read(*year), n))
        three = (today - timedelta(days=3 * 365), today)
        results.append(timed("summary, three years, every agency", read(*three), n))
        results.append(timed("refresh with nothing new", lambda: (indicators.refresh(), db.session.commit()), n))

        def closed_then_folded() -> None:
            """1,000 open dossiers handed back, the summary read, then folded by one refresh (rolled back)."""
            db.session.execute(text(
                "UPDATE dossier SET status = 10, finished_at = now(), returned_at = now(), finished_verdict = "
                "'dung_han' WHERE id IN (SELECT id FROM dossier WHERE status = 4 AND finished_at IS NULL "
                "ORDER BY id LIMIT 1000)"))
            started = time.perf_counter()
            indicators.refresh()
            folding.append((time.perf_counter() - started) * 1000)
            db.session.rollback()

        folding: list[float] = []
        for _ in range(5):
            closed_then_folded()
        results.append(("refresh folding 1,000 dossiers just handed back", folding))
        db.session.remove()
    log(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {total:,} dossiers ({uncounted:,} counted live), "
        f"{n} requests per page (Flask test client, PostgreSQL)")
    counter = {"n": 0}
    with app.app_context():
        def count(*_: Any) -> None:
            counter["n"] += 1
        event.listen(db.engine, "before_cursor_execute", count)
    y = f"tu={year[0].isoformat()}&den={year[1].isoformat()}"
    pages = [
        ("dashboard, province (administrator), year", "quantri", f"/can-bo/chi-so?{y}"),
        ("dashboard, agency (its procedures, fields), year", "quantri", f"/can-bo/chi-so/co-quan/{agency}?{y}"),
        ("late dossiers of one procedure of the agency, year", "quantri",
         f"/can-bo/chi-so/co-quan/{agency}/tre-han?{y}&thu_tuc=1.001193"),
        ("late dossiers of the agency, year", "quantri", f"/can-bo/chi-so/co-quan/{agency}/tre-han?{y}"),
        ("the same, as its head of department", "truongphong", f"/can-bo/chi-so/co-quan/{agency}/tre-han?{y}"),
        ("dashboard of the head of department (own agency)", "truongphong", f"/can-bo/chi-so/co-quan/{agency}?{y}"),
        ("CSV export, every agency, year", "quantri", f"/can-bo/thong-ke.csv?{y}"),
        ("XLSX export, every agency, year", "quantri", f"/can-bo/thong-ke.xlsx?{y}"),
        ("table page /can-bo/thong-ke, every agency, year", "quantri", f"/can-bo/thong-ke?{y}"),
        ("API progress indicators, year (administrator)", "quantri", f"/api/v1/indicators/progress?{y}"),
        ("public transparency page of the agency, this year", "", f"/cong-khai/{agency_code}"),
    ]
    rows = []
    print(f"{'what':60} {'p50 ms':>8} {'p95 ms':>8} {'SQL':>5} {'KB':>7}")
    for label, times in results:
        print(f"{label:60} {statistics.median(times):8.1f} {volume.percentile(times, 0.95):8.1f}", flush=True)
    for label, username, url in pages:
        client = app.test_client()
        headers = {}
        if username and url.startswith("/api/"):
            from app.accounts import issue_token

            with app.app_context():
                headers = {"Authorization": "Bearer " + issue_token(
                    db.session.scalar(select(User).where(User.username == username)), 1)}
                db.session.commit()
                db.session.remove()
        elif username:
            response = client.post("/dang-nhap", data={"username": username, "password": "demo123"})
            assert response.status_code == 302, response.status_code
        for _ in range(2):
            client.get(url, headers=headers)
        times, statements = [], []
        for _ in range(n):
            counter["n"] = 0
            started = time.perf_counter()
            response = client.get(url, headers=headers)
            times.append((time.perf_counter() - started) * 1000)
            statements.append(counter["n"])
            assert response.status_code == 200, (url, response.status_code, response.data[:300])
        rows.append((label, times, statistics.mean(statements), len(response.data) / 1024))
        print(f"{label:60} {statistics.median(times):8.1f} {volume.percentile(times, 0.95):8.1f} "
              f"{statistics.mean(statements):5.1f} {len(response.data) / 1024:7.1f}", flush=True)


if __name__ == "__main__":
    main()

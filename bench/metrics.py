"""What one Prometheus scrape of /metrics costs at a province's volume (bench.volume's generated history).

    .venv/bin/python -m bench.metrics --dossiers 1000000 --keep   # generate (about 2-3 min) and time
    .venv/bin/python -m bench.metrics --reuse                     # time again on the kept database

The database is bench.volume's, under a name of its own (motcua_metrics), so the two benches never drop each
other's. Each scrape goes through the Flask test client (the app's own code: the request metrics, the job-queue,
timer, incident and service-call collectors and the dossiers-by-status query). Printed: the first scrape (the
status counts computed), later scrapes with the cached counts, scrapes with the cache off
(METRICS_DOSSIER_STATUS_SECONDS 0), and the statements each made. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import volume  # noqa: E402

volume.DB_NAME = "motcua_metrics"


def scrape(app: Any, rounds: int) -> tuple[list[float], float]:
    from sqlalchemy import event

    from app.extensions import db

    statements: list[str] = []

    def count(*_: Any) -> None:
        statements.append("")

    times: list[float] = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", count)
    client = app.test_client()
    for _ in range(rounds):
        started = time.perf_counter()
        response = client.get("/metrics")
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    with app.app_context():
        event.remove(db.engine, "before_cursor_execute", count)
    return times, len(statements) / rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dossiers", type=int, default=1_000_000)
    parser.add_argument("--open-tasks", type=int, default=20_000)
    parser.add_argument("--agencies", type=int, default=20)
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the database motcua_metrics afterwards")
    parser.add_argument("--reuse", action="store_true", help="time on the kept database, do not generate")
    parser.add_argument("--generate-only", action="store_true")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="motcua_metrics_"))
    reuse = args.reuse and volume.database_exists()
    if not reuse:
        volume.recreate_database()
    app = volume.make_app(volume.db_url(), tmp)
    try:
        if not reuse:
            started = time.perf_counter()
            volume.prepare_database(app)
            volume.generate(args.dossiers, args.open_tasks, args.agencies, print)
            print(f"generated in {time.perf_counter() - started:.0f} s", flush=True)
        if args.generate_only:
            return
        from sqlalchemy import text

        from app.extensions import db

        with app.app_context():
            total = db.session.scalar(text("SELECT count(*) FROM dossier"))
            db.session.remove()
        print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {total:,} dossiers, "
              f"{args.scrapes} scrapes each (Flask test client, PostgreSQL)")
        first, first_sql = scrape(app, 1)
        cached, cached_sql = scrape(app, args.scrapes)
        app.config["METRICS_DOSSIER_STATUS_SECONDS"] = 0
        uncached, uncached_sql = scrape(app, args.scrapes)
        for label, times, sql in (("first scrape (status counts computed)", first, first_sql),
                                  ("scrapes with the status counts cached", cached, cached_sql),
                                  ("scrapes with the cache off (counts every scrape)", uncached, uncached_sql)):
            p95 = sorted(times)[max(0, int(len(times) * 0.95) - 1)]
            print(f"{label:52} p50 {statistics.median(times):8.1f} ms  p95 {p95:8.1f} ms  SQL {sql:4.1f}")
    finally:
        from app.extensions import db

        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if not args.keep:
            volume.drop_database()


if __name__ == "__main__":
    main()

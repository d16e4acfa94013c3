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
    volume.history_arguments(parser)
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--generate-only", action="store_true")
    args = parser.parse_args()
    with volume.history(args, print) as app:
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


if __name__ == "__main__":
    main()

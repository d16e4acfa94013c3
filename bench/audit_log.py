"""What one security audit event costs to write (app.audit), on PostgreSQL and on SQLite (the embedded mode).

Writes N events (default 1,000) into one agency's chain three ways and prints milliseconds per event:
- alone: one event per transaction (a view, a login: the event and its commit);
- with an action: the commit of a transaction that also changes a row, with and without its event (what the
  event adds to an action's transaction);
- batched: ten events per transaction;
- two writers: two threads writing the same chain at once, each its own transactions;
then verifies the chain (`flask audit verify`'s walk) and prints its time per row.

    .venv/bin/python -m bench.audit_log [--events 1000] [--sqlite]

It creates (and drops) a throwaway database, like the tests; nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select, text  # noqa: E402

from tests.conftest import _create_database, _drop_database, make_app, prepare_database  # noqa: E402


def _per_event(seconds: float, n: int) -> str:
    return f"{seconds * 1000 / n:.3f} ms/event"


def run(app: Any, n: int) -> None:
    from app import audit
    from app.extensions import db
    from app.models import Agency, User

    with app.app_context():
        # As in a request: the actor and agency are read once, not again after each commit.
        db.session().expire_on_commit = False
        officer = db.session.scalar(select(User).where(User.username == "hotich"))
        agency = db.session.get(Agency, officer.agency_id)
        chain, agency_id = agency.code, agency.id

        def event(i: int) -> None:
            audit.record(audit.VIEW, actor=officer, agency=agency, object_kind="dossier", object_ref=f"B-{i}",
                         subject="001090012345", detail={"step": "Thẩm định"})

        event(-1)
        db.session.commit()  # the chain's head exists: every measured write is the steady state

        started = time.perf_counter()
        for i in range(n):
            event(i)
            db.session.commit()
        alone = time.perf_counter() - started

        # The action: a row really changed (a throwaway database: the agency's address).
        touch = text("UPDATE agency SET address = :v WHERE id = :id")
        started = time.perf_counter()
        for i in range(n):
            db.session.execute(touch, {"id": agency_id, "v": f"a{i}"})
            db.session.commit()
        bare = time.perf_counter() - started
        started = time.perf_counter()
        for i in range(n):
            db.session.execute(touch, {"id": agency_id, "v": f"b{i}"})
            event(i)
            db.session.commit()
        with_event = time.perf_counter() - started

        started = time.perf_counter()
        for i in range(n):
            event(i)
            if i % 10 == 9:
                db.session.commit()
        db.session.commit()
        batched = time.perf_counter() - started
        db.session.remove()

    per_thread = n // 2
    barrier = threading.Barrier(2)

    def writer() -> None:
        with app.app_context():
            db.session().expire_on_commit = False
            who = db.session.scalar(select(User).where(User.username == "hotich"))
            where = db.session.get(Agency, who.agency_id)
            barrier.wait()
            for i in range(per_thread):
                audit.record(audit.VIEW, actor=who, agency=where, object_kind="dossier", object_ref=f"T-{i}")
                db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=writer) for _ in range(2)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    two = time.perf_counter() - started

    with app.app_context():
        started = time.perf_counter()
        report = audit.verify_chain(chain)
        walked = time.perf_counter() - started
        dialect = db.engine.dialect.name
        db.session.remove()

    print(f"events per run: {n}; dialect: {dialect}")
    print(f"alone (one event + commit):        {_per_event(alone, n)}")
    print(f"action commit without its event:   {_per_event(bare, n)}")
    print(f"action commit with its event:      {_per_event(with_event, n)}  "
          f"(+{(with_event - bare) * 1000 / n:.3f} ms for the event)")
    print(f"ten events per transaction:        {_per_event(batched, n)}")
    print(f"two writers, one chain:            {_per_event(two, 2 * per_thread)} (wall clock)")
    print(f"verify: {report.rows} rows, {'OK' if report.ok else 'BROKEN ' + report.kind}, "
          f"{walked * 1e6 / max(report.rows, 1):.1f} µs/row")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--sqlite", action="store_true", help="the embedded mode's SQLite file instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.sqlite:
            app = make_app(f"sqlite:///{tmp}/bench.db", Path(tmp), SWEEP_INTERVAL=0)
            prepare_database(app)
            run(app, args.events)
            return
        url = _create_database("motcua_bench_audit")
        try:
            app = make_app(url, Path(tmp), SWEEP_INTERVAL=0)
            prepare_database(app)
            run(app, args.events)
            with app.app_context():
                from app.extensions import db

                db.engine.dispose()
        finally:
            _drop_database(url)


if __name__ == "__main__":
    main()

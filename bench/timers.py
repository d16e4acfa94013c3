"""The timer host under load: 10,000 armed BPMN timers in PostgreSQL come due, the firing pass drains them.

    .venv/bin/python -m bench.timers                          # 10,000 timers, 2 worker processes, sweep every 1 s
    .venv/bin/python -m bench.timers --timers 2000 --workers 1 --window 20 --interval 10

One dossier is submitted and received through the service layer on a throwaway database (motcua_timers_bench),
with khai sinh deployed with a two-hour intermediate timer after reception (tests/timer_support.py): its workflow
document then holds a WAITING timer. That dossier and its workflow are copied --timers times with set-based SQL
(as bench/volume.py builds its history), each copy's stored due instant rewritten so that the timers come due evenly
over --window seconds starting --lead seconds from now, with `next_due_at` set to match.

Then --workers processes each run what a worker does: every --interval seconds (the sweeper's SWEEP_INTERVAL) a
drain of the due timers (app.jobs.timers.drain: FOR UPDATE SKIP LOCKED, one workflow per transaction: load, fire,
apply the step, save). Reported from the database afterwards: how many fired, each exactly once, the lateness of
each firing (history entry time − stored due time: p50, p95, max, and that of the last timer), and the throughput
(timers fired per second while the backlog lasted). Nothing is asserted; the database is dropped unless --keep.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import PG_ADMIN_URL, make_app, prepare_database  # noqa: E402

DB_NAME = "motcua_timers_bench"


def db_url() -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{DB_NAME}"


def plain_url() -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{DB_NAME}"


def recreate() -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def drop() -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def template(tmp: Path) -> tuple[int, str]:
    """One dossier armed through the service layer; its id and the due instant its workflow document holds."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import WorkflowInstance
    from tests.integration.test_timer_host import PROCESS, armed_dossier
    from tests.timer_support import deploy_khai_sinh

    app = make_app(db_url(), tmp)
    prepare_database(app)
    with app.app_context():
        deploy_khai_sinh(PROCESS)
        db.session.commit()
        dossier_id = armed_dossier()
        instance = db.session.scalar(select(WorkflowInstance).where(WorkflowInstance.dossier_id == dossier_id))
        assert instance.next_due_at is not None
        due = instance.next_due_at.isoformat()
        db.session.remove()
        db.engine.dispose()
    return dossier_id, due


def arm_documents(template_id: int, template_due: str, n: int, lead: float, window: float) -> None:
    """A workflow for each copy of the template dossier: the template's document with its stored due instant
    rewritten, the k-th due at now + lead + k·window/n, and next_due_at to match."""
    with psycopg.connect(plain_url()) as conn:
        (document,) = conn.execute("SELECT document::text FROM workflow_instance WHERE dossier_id = %s",
                                   (template_id,)).fetchone()
        assert template_due in document, "the stored due instant is not in the document as written"
        # The review task the timer leads to becomes a human task keyed by its engine id: a new id in each copy.
        review = next(key for key, entry in json.loads(document)["tasks"].items()
                      if entry["task_spec"] == "Task_ThamDinh")
        conn.execute("CREATE TEMP TABLE bench_template AS SELECT %s::text AS document", (document,))
        conn.execute(
            """
            WITH copies AS (
                SELECT d.id, row_number() OVER (ORDER BY d.id) - 1 AS k
                FROM dossier d WHERE d.code LIKE (SELECT code FROM dossier WHERE id = %(t)s) || '-%%'),
            timed AS (
                SELECT id, clock_timestamp() + make_interval(secs => %(lead)s + k * %(step)s) AS due FROM copies)
            INSERT INTO workflow_instance (dossier_id, document, version, completed, updated_at, next_due_at)
            SELECT timed.id,
                   replace(replace(b.document, %(old)s,
                                   to_char(timed.due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00'),
                           %(review)s, gen_random_uuid()::text)::json,
                   1, false, now(), timed.due
            FROM timed, bench_template b
            """,
            {"t": template_id, "lead": lead, "step": window / n, "old": template_due, "review": review})
        conn.execute("DELETE FROM workflow_instance WHERE dossier_id = %s", (template_id,))
        conn.commit()


def worker(index: int, interval: float, until: float, tmp: str, out: Any) -> None:
    """What a worker does: every `interval` seconds, a drain of the due timers (the sweeper's tick + its job)."""
    from app.extensions import db
    from app.jobs import timers as timer_jobs

    app = make_app(db_url(), Path(tmp))
    fired = 0
    busy = 0.0
    with app.app_context():
        while time.time() < until:
            began = time.monotonic()
            try:  # a worker outlives a database restart, as `flask worker` does
                fired += timer_jobs.drain(seconds=max(1.0, until - time.time()))
                busy += time.monotonic() - began
                db.session.remove()
                with psycopg.connect(plain_url()) as conn:
                    (left,) = conn.execute("SELECT count(*) FROM workflow_instance WHERE next_due_at IS NOT NULL")\
                        .fetchone()
                if left == 0:
                    break
            except Exception as exc:
                print(f"worker {index}: {type(exc).__name__}; again in {interval:g}s", flush=True)
                db.session.remove()
            time.sleep(max(0.0, interval - (time.monotonic() - began)))
        db.engine.dispose()
    out.put((index, fired, busy))


def report(n: int, started: float) -> None:
    with psycopg.connect(plain_url()) as conn:
        rows = conn.execute(
            "SELECT dossier_id, at, step_due_at FROM audit_event WHERE action = 'timer_fired' ORDER BY step_due_at"
        ).fetchall()
        (left,) = conn.execute("SELECT count(*) FROM workflow_instance WHERE next_due_at IS NOT NULL").fetchone()
        (tasks,) = conn.execute("SELECT count(*) FROM human_task WHERE title = 'Thẩm định'").fetchone()
    per_dossier: dict[int, int] = {}
    for dossier_id, _, _ in rows:
        per_dossier[dossier_id] = per_dossier.get(dossier_id, 0) + 1
    late = sorted((at - due).total_seconds() for _, at, due in rows)
    print(f"armed {n}; fired {len(rows)} ({len(per_dossier)} dossiers, "
          f"{sum(1 for c in per_dossier.values() if c > 1)} fired more than once); still armed {left}; "
          f"review tasks created {tasks}")
    if not rows:
        return
    last_due = max(due for _, _, due in rows)
    last_row = max(rows, key=lambda r: r[2])
    first_due = min(due for _, _, due in rows)
    last_fired = max(at for _, at, _ in rows)
    print(f"lateness (fired − due): p50 {statistics.median(late):.2f}s, p95 {late[int(len(late) * 0.95) - 1]:.2f}s, "
          f"max {late[-1]:.2f}s; the last timer due ({last_due.isoformat()}) fired "
          f"{(last_row[1] - last_row[2]).total_seconds():.2f}s late")
    span = (last_fired - first_due).total_seconds()
    print(f"first due → last fired: {span:.1f}s for {len(rows)} timers "
          f"(due over {(last_due - first_due).total_seconds():.1f}s): {len(rows) / span:.0f} fired/s overall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--lead", type=float, default=20.0, help="seconds from arming to the first due time")
    parser.add_argument("--window", type=float, default=0.0, help="seconds over which the timers come due")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between a worker's drains")
    parser.add_argument("--limit", type=float, default=1800.0, help="give up after this many seconds")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="motcua-timers-")
    recreate()
    try:
        t0 = time.monotonic()
        template_id, due = template(Path(tmp))
        with psycopg.connect(plain_url()) as conn:
            columns = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'dossier' "
                "AND column_name <> 'id' ORDER BY ordinal_position")]
            chosen = ", ".join(columns)
            values = ", ".join("code || '-' || g" if c == "code" else c for c in columns)
            conn.execute(f"INSERT INTO dossier ({chosen}) SELECT {values} FROM dossier, generate_series(1, %s) g "
                         "WHERE id = %s", (args.timers, template_id))
            conn.commit()
        arm_documents(template_id, due, args.timers, args.lead, args.window)
        print(f"armed {args.timers} timers in {time.monotonic() - t0:.1f}s; first due in {args.lead:.0f}s, "
              f"the last {args.lead + args.window:.0f}s from now; {args.workers} worker(s), a drain every "
              f"{args.interval:g}s")
        started = time.time()
        until = started + args.limit
        out: Any = multiprocessing.Queue()
        procs = [multiprocessing.Process(target=worker, args=(i, args.interval, until, tmp, out))
                 for i in range(args.workers)]
        for proc in procs:
            proc.start()
        results = [out.get() for _ in procs]
        for proc in procs:
            proc.join()
        for index, fired, busy in sorted(results):
            print(f"worker {index}: fired {fired}, busy draining {busy:.1f}s"
                  + (f" ({fired / busy:.0f}/s)" if busy else ""))
        report(args.timers, started)
    finally:
        if not args.keep:
            drop()


if __name__ == "__main__":
    main()

"""The khai sinh lifecycle through the service layer (submit + 4 × claim/complete) on PostgreSQL.

Each operation runs as a request would: the user read by id, the use case, the commit. Prints the median and
minimum milliseconds per lifecycle, SQL statements per lifecycle (with and without the per-request user
reads), a per-operation breakdown, the ratio to the bare-engine floor (bench.lifecycle.bare_engine_floor) and,
with --profile, the cProfile of the timed lifecycles (cumulative time).

    .venv/bin/python -m bench.service_layer --dossiers 100 [--profile 30] [--statements]

It creates (and drops) a throwaway PostgreSQL database, like the tests; nothing is asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, select  # noqa: E402

from bench.lifecycle import CODE, OFFICERS, SLUG, bare_engine_floor  # noqa: E402
from tests.conftest import _create_database, _drop_database, make_app, prepare_database  # noqa: E402
from tests.samples import PDF_BYTES, start_data, task_data  # noqa: E402


class Statements:
    """Counts the SQL statements the engine sends, by the operation running (`during`)."""

    def __init__(self, engine: Any) -> None:
        self.current: str | None = None
        self.counts: Counter[str] = Counter()
        self.texts: dict[str, list[str]] = defaultdict(list)
        self.keep_texts = False
        self.waited: Counter[str] = Counter()  # seconds spent in the database per operation: statements and commits
        self._started = 0.0
        event.listen(engine, "before_cursor_execute", self._seen)
        event.listen(engine, "after_cursor_execute", self._done)

    def _done(self, *args: Any) -> None:
        if self.current is not None:
            self.waited[self.current] += time.perf_counter() - self._started

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.current is not None:
            self.counts[self.current] += 1
            self._started = time.perf_counter()
            if self.keep_texts:
                self.texts[self.current].append(" ".join(statement.split())[:160])

    @contextmanager
    def during(self, name: str | None) -> Iterator[None]:
        before, self.current = self.current, name
        try:
            yield
        finally:
            self.current = before


def run(args: argparse.Namespace) -> None:
    url = _create_database("motcua_bench")
    try:
        app = make_app(url, Path(tempfile.mkdtemp()))
        prepare_database(app)
        with app.app_context():
            measure(app, args)
    finally:
        _drop_database(url)


def measure(app: Any, args: argparse.Namespace) -> None:
    from app.dossiers import services
    from app.dossiers.attachments import reference, store_upload
    from app.extensions import db
    from app.models import HumanTask, User

    ids = {name: db.session.scalar(select(User.id).where(User.username == name))
           for name in ["congdan", *OFFICERS.values()]}
    statements = Statements(db.engine)
    statements.keep_texts = args.statements
    dispatcher = app.extensions["motcua_jobs"]
    timings: dict[str, list[float]] = defaultdict(list)

    def op(kind: str, username: str, work: Callable[[Any], Any]) -> Any:
        """One request: read the user, do the work, commit, end the session; timed and counted under `kind`."""
        start, cpu = time.perf_counter(), time.process_time()
        with statements.during(f"{kind}:user"):
            user = db.session.get(User, ids[username])
        with statements.during(kind):
            result = work(user)
            before, committing = statements.waited[kind], time.perf_counter()
            db.session.commit()
            # the commit's own flush statements, its COMMIT and its WAL flush, timed once
            statements.waited[kind] = before + time.perf_counter() - committing
        db.session.remove()  # a request's session ends with it
        timings[kind].append((time.perf_counter() - start) * 1000)
        timings[f"{kind}:cpu"].append((time.process_time() - cpu) * 1000)
        return result

    def lifecycle() -> None:
        with statements.during(None):  # the bench's own set-up: an upload, done before the request
            data = start_data(SLUG)
            citizen = db.session.get(User, ids["congdan"])
            data["giay_chung_sinh"] = reference(store_upload(PDF_BYTES, "gcs.pdf", "application/pdf",
                                                             "giay_chung_sinh", citizen))
            db.session.commit()
        start = time.perf_counter()
        dossier_id = op("submit", "congdan",
                        lambda u: services.submit_dossier(CODE, data, applicant=u).id)
        while True:
            with statements.during(None):  # what the next step is: the bench's look-up, not the service's
                row = db.session.execute(select(HumanTask.id, HumanTask.role, HumanTask.form).where(
                    HumanTask.dossier_id == dossier_id, HumanTask.state == "ready")).first()
                db.session.rollback()
            if row is None:
                break
            officer = OFFICERS[row.role]
            op("claim", officer, lambda u, t=row.id: services.claim_task(t, u))
            op("complete", officer, lambda u, t=row.id, f=row.form: services.complete_task(t, u, task_data(SLUG, f)))
        timings["lifecycle"].append((time.perf_counter() - start) * 1000)
        dispatcher.jobs.clear()

    for _ in range(args.warmup):
        lifecycle()
    timings.clear()
    statements.counts.clear()
    statements.texts.clear()

    profiler = cProfile.Profile() if args.profile else None
    for i in range(args.dossiers):
        if profiler is not None and i < args.profile:
            profiler.enable()
            lifecycle()
            profiler.disable()
        else:
            lifecycle()

    n = args.dossiers
    floor = bare_engine_floor(args.floor_rounds)
    life = timings.pop("lifecycle")
    counted = {k: v / n for k, v in statements.counts.items()}
    with_users = sum(counted.values())
    without_users = sum(v for k, v in counted.items() if not k.endswith(":user"))
    print(f"dossiers: {n}")
    print(f"lifecycle ms: median {statistics.median(life):.1f}  min {min(life):.1f}  "
          f"= {statistics.median(life) / floor:.1f} × floor (median), {min(life) / floor:.1f} × (min)")
    print(f"bare-engine floor: {floor:.2f} ms per lifecycle")
    print(f"SQL statements per lifecycle: {without_users:.1f} (+ per-request user reads: {with_users:.1f})")
    cpu = {kind.removesuffix(":cpu"): timings.pop(kind) for kind in list(timings) if kind.endswith(":cpu")}
    print(f"this process's CPU per lifecycle: {sum(sum(v) for v in cpu.values()) / n:.1f} ms "
          "(the wall time less the waits on the database and on other processes)")
    waited = sum(statements.waited.values()) * 1000 / n
    print(f"in the database (statements and commits, wall time) per lifecycle: {waited:.1f} ms")
    print(f"{'operation':<10} {'n':>5} {'median ms':>10} {'min ms':>8} {'stmts/op':>9} {'db ms/op':>9}"
          f" {'cpu ms/op':>9}")
    for kind, values in timings.items():
        per_op = statements.counts[kind] / len(values)
        db_ms = (statements.waited[kind] + statements.waited[f"{kind}:user"]) * 1000 / len(values)
        print(f"{kind:<10} {len(values):>5} {statistics.median(values):>10.2f} {min(values):>8.2f} {per_op:>9.1f}"
              f" {db_ms:>9.2f} {statistics.median(cpu[kind]):>9.2f}")
    if args.statements:
        for kind, texts in statements.texts.items():
            if kind.endswith(":user"):
                continue
            print(f"\n-- {kind}: first {len(texts) // n} statements of one lifecycle's share (all ops of that kind)")
            for text in texts[: len(texts) // n]:
                print("   ", text)
    if profiler is not None:
        print()
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dossiers", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--floor-rounds", type=int, default=200)
    parser.add_argument("--profile", type=int, default=0, help="profile the first N timed lifecycles")
    parser.add_argument("--statements", action="store_true", help="print the statements of one lifecycle")
    parser.add_argument("--sort", default="cumulative", help="the profile's order (pstats: cumulative, tottime, ...)")
    parser.add_argument("--top", type=int, default=45, help="how many profile lines")
    run(parser.parse_args())


if __name__ == "__main__":
    main()

"""The sweeper: what is due, and when, lives in the database; Redis only carries it.

Every side effect is a row with its state and due time (a status change not yet notified, a pending service
call with its next attempt or the lease of the attempt in progress, a pending payment's next re-query, an
unsent portal outbox row). Jobs are still enqueued after commit and delayed retries still go through rq's
scheduler, but when a job is lost — it failed to enqueue, Redis restarted empty, its worker was killed, the
scheduler was down, the embedded process restarted — nothing else would ever run it. The sweeper does: every
SWEEP_INTERVAL seconds it asks each registered source for the work due for more than SWEEP_GRACE seconds and
re-enqueues its job, under the same job id where one is known, and not when that job still waits in its queue.
Each job checks the state of its row before acting (jobs are idempotent), so a job enqueued twice does nothing
twice, and each outside system gets a stable key it deduplicates on (Message-ID, ma_tin, transaction id,
ma_buoc / phien_ban) for the case where the answer, or the stamp after it, was lost.

The sources are registered in ONE place, app.subscriptions (SWEEPS); the sweeper runs them from the supervised
loop of each `flask worker` (one worker at a time, under an advisory lock), from the embedded job thread, and
once by hand with `flask sweep`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import text

from app.clock import now_utc
from app.dossiers.locks import exclusive
from app.extensions import db
from app.jobs.queue import unless_queued

log = logging.getLogger(__name__)

# A source: (now, cutoff = now - SWEEP_GRACE, limit) → how many jobs it enqueued (after commit, in db.session).
Source = Callable[[datetime, datetime, int], int]
SOURCES_KEY = "motcua_sweeps"
_LOCK = 1  # key of the sweeper's advisory lock


def sweep() -> dict[str, int]:
    """One pass over every registered source (in an app context); the jobs each one enqueued, by name.

    Each source is committed on its own, so one that fails (logged) costs nothing to the others. Empty when
    another process is sweeping right now.
    """
    sources: Mapping[str, Source] = current_app.extensions.get(SOURCES_KEY, {})
    grace = timedelta(seconds=float(current_app.config.get("SWEEP_GRACE", 30)))
    limit = int(current_app.config.get("SWEEP_BATCH", 500))
    counts: dict[str, int] = {}
    if not _schema_ready():
        return counts  # a database not migrated yet (a first start, a CLI command before `flask db upgrade`)
    with exclusive("sweeper", _LOCK) as mine:
        if not mine:
            return counts
        for name, source in sources.items():
            now = now_utc()
            try:
                counts[name] = source(now, now - grace, limit)
                unless_queued(db.session)
                db.session.commit()  # the jobs go out after this commit
            except Exception:
                db.session.rollback()
                log.exception("sweep of %s failed", name)
    _beat()
    found = {name: n for name, n in counts.items() if n}
    if found:
        log.info("sweeper re-enqueued %s", found)
    return counts


BEAT = "sweeper"  # the name its passes are recorded under (Dispatcher.beat), read by the readiness check


def _beat() -> None:
    """Record the pass for the readiness check and the metrics (app.monitoring); in Redis in the rq mode."""
    dispatcher = current_app.extensions.get("motcua_jobs")
    if dispatcher is None:
        return
    try:
        dispatcher.beat(BEAT)
    except Exception as exc:  # Redis away: the pass happened all the same; the check will say the beat is old
        log.warning("sweeper pass not recorded: %s", exc)


_READY = "motcua_schema_ready"


def _schema_ready() -> bool:
    """Whether the database has the platform's tables (its migrations ran); known for good once it has."""
    if current_app.extensions.get(_READY):
        return True
    try:
        db.session.execute(text("SELECT 1 FROM alembic_version"))
    except Exception:
        db.session.rollback()
        return False
    current_app.extensions[_READY] = True
    return True


def tick(app: Flask) -> None:
    """One pass in an app context of its own, for the supervised loops (worker, embedded thread): an error is
    logged, never raised (the loop goes on; the next pass finds the same work)."""
    try:
        with app.app_context():
            sweep()
    except Exception:
        log.exception("sweep failed")


def start(app: Flask) -> None:
    """Embedded mode: sweep from the in-process job thread, at once (work owed before a restart is found) and
    every SWEEP_INTERVAL seconds. (`flask worker` sweeps from its own loop: app.cli.)"""
    from app.jobs.queue import ThreadDispatcher

    dispatcher = app.extensions.get("motcua_jobs")
    interval = float(app.config.get("SWEEP_INTERVAL", 10))
    if isinstance(dispatcher, ThreadDispatcher) and interval > 0:
        dispatcher.every(interval, lambda: tick(app))

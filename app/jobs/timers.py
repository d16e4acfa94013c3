"""Timer jobs: drain the BPMN timers that are due (app.dossiers.timers), one workflow per transaction.

Where they run: the sweeper's `timers` source (app.subscriptions SWEEPS) looks, every SWEEP_INTERVAL seconds, for
workflows whose `next_due_at` has come, and enqueues drain jobs for them — one per TIMER_BATCH due workflows, at
most TIMER_DRAINERS, under fixed job ids so that a drain still waiting in its queue is not queued twice. The
sweeper itself runs in one process at a time; the drains run in every worker at once, each taking different
workflows (PostgreSQL: FOR UPDATE SKIP LOCKED). In embedded mode (SQLite, no Redis) the sweeper and the drains run
in the in-process job thread, and each workflow is fired under its lock (app.dossiers.locks.exclusive), which
also keeps out another process of the same database (a CLI command). A timer therefore fires within about
SWEEP_INTERVAL seconds of its due time; after a restart, every timer that came due meanwhile fires at the first
sweep, once.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import datetime

from flask import current_app
from sqlalchemy.orm.exc import StaleDataError

from app.clock import now_utc
from app.dossiers import timers
from app.dossiers.locks import exclusive
from app.extensions import db
from app.jobs.queue import QUEUE_CONNECTORS, enqueue_after_commit

log = logging.getLogger(__name__)

DEFAULT_BATCH = 200  # TIMER_BATCH: due workflows per drain job the sweeper enqueues
DEFAULT_DRAINERS = 4  # TIMER_DRAINERS: drain jobs enqueued at most per sweep
DEFAULT_DRAIN_SECONDS = 60.0  # TIMER_DRAIN_SECONDS: a drain stops after this long (the next sweep goes on)


def sweep(now: datetime, cutoff: datetime, limit: int) -> int:
    """The sweeper's source: drain jobs for the workflows whose timers are due now (not `cutoff`: a timer is
    due at its time, not SWEEP_GRACE later)."""
    batch = int(current_app.config.get("TIMER_BATCH", DEFAULT_BATCH))
    drainers = int(current_app.config.get("TIMER_DRAINERS", DEFAULT_DRAINERS))
    found = timers.count_due(now, batch * drainers)
    jobs = min(drainers, math.ceil(found / batch))
    for index in range(jobs):
        enqueue_after_commit(db.session, QUEUE_CONNECTORS, drain, job_id=f"timers-drain-{index}", retry=False)
    return jobs


def drain(seconds: float | None = None) -> int:
    """Fire due timers until none is left or `seconds` (TIMER_DRAIN_SECONDS) have passed; how many workflows
    took a step. Each workflow is fired and committed on its own."""
    budget = float(current_app.config.get("TIMER_DRAIN_SECONDS", DEFAULT_DRAIN_SECONDS)) if seconds is None \
        else seconds
    stop = time.monotonic() + budget
    if db.engine.dialect.name == "postgresql":
        return _drain_skip_locked(stop)
    return _drain_exclusive(stop)


def _drain_skip_locked(stop: float) -> int:
    fired = 0
    while time.monotonic() < stop:
        try:
            instance_id = timers.fire_next(now_utc())
            db.session.commit()
        except StaleDataError:  # an officer's step saved the workflow meanwhile: the next round re-reads it
            db.session.rollback()
            continue
        except Exception:
            db.session.rollback()
            log.exception("timer drain failed")
            return fired
        if instance_id is None:
            return fired
        fired += 1
    return fired


def _drain_exclusive(stop: float) -> int:
    fired = 0
    busy: set[int] = set()
    while time.monotonic() < stop:
        now = now_utc()
        candidates = [i for i in timers.due(now, len(busy) + 20) if i not in busy]
        db.session.rollback()  # nothing read is kept: each workflow is read again under its lock
        if not candidates:
            return fired
        for instance_id in candidates:
            if time.monotonic() >= stop:
                break
            with exclusive("timer", instance_id) as mine:
                if not mine:
                    busy.add(instance_id)  # another thread or process fires it
                    continue
                try:
                    if timers.fire(instance_id, now_utc()):
                        fired += 1
                    db.session.commit()
                except StaleDataError:
                    db.session.rollback()
                except Exception:
                    db.session.rollback()
                    log.exception("timers of workflow %s failed", instance_id)
                    busy.add(instance_id)
    return fired


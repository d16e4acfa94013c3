"""Job queue infrastructure: jobs are enqueued only after the transaction that caused them commits.

Jobs take ids, never objects. With REDIS_URL set they go to rq queues named by what they carry;
without it (embedded mode) an in-process worker thread runs them, so nothing needs Redis to demo.
"""

from __future__ import annotations

import atexit
import collections
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

QUEUE_NOTIFICATIONS = "notifications"
QUEUE_CONNECTORS = "connectors"  # connector calls for service tasks, payments, the national portal
QUEUES = (QUEUE_CONNECTORS, QUEUE_NOTIFICATIONS)
_PENDING_KEY = "motcua_pending_jobs"


@dataclass(frozen=True)
class PendingJob:
    queue: str
    func: str  # dotted path, e.g. app.jobs.tasks.notify_status_change
    args: tuple[Any, ...]
    job_id: str | None = None
    delay: float = 0.0  # seconds after the commit
    retry: bool = True  # let the queue try again on an exception (jobs that schedule their own retries say no)
    unless_queued: bool = False  # the sweeper's: not when a job of this id already waits in the queue


@dataclass(frozen=True)
class IdOf:
    """The id of a row not flushed yet, as a job's argument or part of its id: read as the transaction commits
    (so the caller need not flush just to learn it, and the rows of a step are inserted together)."""

    row: Any


JobId = str | tuple[str | IdOf, ...] | None  # a tuple is joined once its IdOf parts are known


def enqueue_after_commit(session: Session | Any, queue_name: str, func: Callable[..., Any], *args: Any,
                         job_id: JobId = None, delay: float = 0.0, retry: bool = True) -> None:
    """Remember a job on the session; it is dispatched when (and only if) the session commits."""
    for arg in args:
        if not isinstance(arg, int | str | float | bool | None | IdOf):
            raise TypeError("jobs take ids and plain values, never objects")
    pending: list[PendingJob] = session.info.setdefault(_PENDING_KEY, [])
    pending.append(PendingJob(queue_name, f"{func.__module__}.{func.__qualname__}", args,
                              job_id, delay, retry))  # type: ignore[arg-type]  # IdOf resolved before commit


def _known(value: Any) -> Any:
    return value.row.id if isinstance(value, IdOf) else value


@event.listens_for(Session, "before_commit")
def _resolve_ids(session: Session) -> None:
    """The ids the pending jobs wait for, once the rows are flushed (the commit would flush them anyway)."""
    pending: list[PendingJob] = session.info.get(_PENDING_KEY) or []
    if not any(isinstance(job.job_id, tuple) or any(isinstance(a, IdOf) for a in job.args) for job in pending):
        return
    session.flush()
    for index, job in enumerate(pending):
        job_id: Any = job.job_id
        if isinstance(job_id, tuple):
            job_id = "".join(str(_known(part)) for part in job_id)
        pending[index] = replace(job, args=tuple(_known(a) for a in job.args), job_id=job_id)


@event.listens_for(Session, "after_commit")
def _dispatch(session: Session) -> None:
    pending = session.info.pop(_PENDING_KEY, [])
    if not pending:
        return
    dispatcher: Dispatcher | None = current_app.extensions.get("motcua_jobs") if has_app_context() else None
    if dispatcher is None:
        log.warning("no job dispatcher; %d job(s) dropped", len(pending))
        return
    for job in pending:
        # The transaction is committed: a queue that is down must not turn that into an error for the caller.
        # What the job was to do is due in the database: the sweeper (app.jobs.sweeper) enqueues it again.
        try:
            dispatcher.dispatch(job)
        except Exception:
            log.exception("job %s (%s) could not be queued", job.job_id or job.func, job.queue)


def unless_queued(session: Session | Any) -> None:
    """The jobs pending on the session are dispatched only where no job of the same id waits in its queue yet
    (the sweeper re-enqueues work it finds due; one still waiting behind a backlog is left alone)."""
    pending: list[PendingJob] = session.info.get(_PENDING_KEY) or []
    session.info[_PENDING_KEY] = [replace(job, unless_queued=True) for job in pending]


@event.listens_for(Session, "after_soft_rollback")
def _discard(session: Session, previous_transaction: Any) -> None:
    if session.in_transaction():
        return
    session.info.pop(_PENDING_KEY, None)


def _resolve(path: str) -> Callable[..., Any]:
    module_name, _, attr = path.rpartition(".")
    module = __import__(module_name, fromlist=[attr])
    func: Callable[..., Any] = getattr(module, attr)
    return func


class Dispatcher:
    """Carries jobs to where they run; also keeps the beats of the periodic work (the sweeper's last pass), so
    that a readiness check in any process can tell whether it still runs (app.monitoring)."""

    def __init__(self) -> None:
        self.beats: dict[str, float] = {}

    def dispatch(self, job: PendingJob) -> None:
        raise NotImplementedError

    def beat(self, name: str) -> None:
        """Record that periodic work `name` has just run (wall-clock time)."""
        self.beats[name] = time.time()

    def last_beat(self, name: str) -> float | None:
        """When periodic work `name` last ran, as recorded by `beat` (None: never seen)."""
        return self.beats.get(name)


BEAT_KEY = "motcua:beat:%s"  # rq mode: the periodic work's beats live in Redis, shared by every process


class RqDispatcher(Dispatcher):
    def __init__(self, redis_url: str) -> None:
        from redis import Redis

        super().__init__()
        self.redis = Redis.from_url(redis_url)

    def beat(self, name: str) -> None:
        """In Redis, for a day: the workers sweep, the web processes answer readiness checks."""
        self.redis.set(BEAT_KEY % name, repr(time.time()), ex=86400)

    def last_beat(self, name: str) -> float | None:
        value = self.redis.get(BEAT_KEY % name)
        return float(value) if value else None

    def queue(self, name: str) -> Any:
        from rq import Queue

        return Queue(name, connection=self.redis)

    def dispatch(self, job: PendingJob) -> None:
        from datetime import timedelta

        from rq import Retry

        # A job that fails on a transient error (a national system down) is tried again with growing pauses.
        retry = Retry(max=5, interval=[10, 30, 60, 300, 900]) if job.retry else None
        queue = self.queue(job.queue)
        if job.unless_queued and job.job_id and self.queued(job.job_id):
            return
        if job.delay > 0:
            queue.enqueue_in(timedelta(seconds=job.delay), job.func, *job.args, job_id=job.job_id, retry=retry)
        else:
            queue.enqueue(job.func, *job.args, job_id=job.job_id, retry=retry)

    def queued(self, job_id: str) -> bool:
        """Whether the job waits in a queue. Scheduled, started (its worker may be dead), finished or unknown
        (Redis lost it) are not: a sweeper that found the work due past its time enqueues it again."""
        from rq.job import Job

        status = self.redis.hget(Job.key_for(job_id), "status")
        return status in (b"queued", "queued")


_WAKE = PendingJob("", "", ())  # wakes the embedded job thread (its periodic work changed)


class ThreadDispatcher(Dispatcher):
    """Embedded mode: one daemon thread runs jobs in order inside an app context, and every `interval` seconds
    (from its start, so also right after a restart) the periodic work given to `every` (the sweeper, which
    finds in the database what is due: delayed retries survive a restart).

    The jobs live in the process, so its exit waits for them: when the interpreter exits normally (gunicorn's
    worker after SIGTERM, once its requests are answered; a CLI command at its end) the thread runs every job
    already queued, and those they queue, for at most ``JOB_DRAIN_SECONDS``, then the process goes. Keep
    gunicorn's ``--graceful-timeout`` above that. Delayed jobs (retries waiting for their time) are dropped at
    exit: the sweeper finds them again in the database when the platform starts."""

    def __init__(self, app: Flask) -> None:
        super().__init__()
        self.app = app
        self.jobs: queue.Queue[PendingJob | None] = queue.Queue()
        # When each job waiting in self.jobs was queued (wall clock), oldest first: the queue's age for the metrics.
        self.queued_at: collections.deque[float] = collections.deque()
        self.looped_at = time.time()  # the thread's last pass through its loop (a job that hangs stops it)
        self.timers: set[threading.Timer] = set()
        self.waiting: set[str] = set()  # ids of the jobs in self.jobs
        self.periodic: Callable[[], None] | None = None
        self.interval = 10.0
        self.next_tick = 0.0
        self.thread = threading.Thread(target=self._work, name="motcua-jobs", daemon=True)
        self.thread.start()
        # At exit, before the interpreter tears down: the hook threading runs before it waits for non-daemon threads
        # (plain atexit comes later). Even there no module may register a thread-pool exit hook any more, so each
        # job's module is imported when it is dispatched, and the thread-pool module now.
        import concurrent.futures.thread  # noqa: F401

        getattr(threading, "_register_atexit", atexit.register)(self.shutdown)

    def every(self, interval: float, work: Callable[[], None]) -> None:
        """Run `work` in the job thread now and every `interval` seconds, between jobs."""
        self.interval, self.next_tick, self.periodic = interval, 0.0, work
        self.jobs.put(_WAKE)

    def dispatch(self, job: PendingJob) -> None:
        _resolve(job.func)  # imported now, not while the process exits
        if job.delay > 0:
            timer = threading.Timer(job.delay, self._due, (job,))
            timer.daemon = True
            self.timers.add(timer)
            timer.start()
        elif not (job.unless_queued and job.job_id in self.waiting):
            self._put(job)

    def _put(self, job: PendingJob) -> None:
        if job.job_id:
            self.waiting.add(job.job_id)
        self.queued_at.append(time.time())
        self.jobs.put(job)

    def backlog(self) -> tuple[int, float | None]:
        """How many jobs wait in the thread's queue, and when the oldest was queued (None: none waits)."""
        queued = list(self.queued_at)
        return len(queued), (queued[0] if queued else None)

    def stop(self) -> None:
        """End the thread after the jobs already queued (a test's way to let a process die)."""
        self.jobs.put(None)
        self.thread.join(timeout=30)

    def _tick(self) -> float:
        """Run the periodic work if it is due; how long the thread may then wait for a job."""
        if self.periodic is None:
            return 1.0
        now = time.monotonic()
        if now >= self.next_tick:
            self.next_tick = now + self.interval
            try:
                self.periodic()
            except Exception:
                log.exception("periodic work failed")
        return max(0.05, self.next_tick - time.monotonic())

    def _due(self, job: PendingJob) -> None:
        self.timers.discard(threading.current_thread())  # this runs in the timer's own thread
        self._put(job)

    def _work(self) -> None:
        stopping = False
        while True:
            self.looped_at = time.time()
            try:
                job = self.jobs.get(block=not stopping, timeout=None if stopping else self._tick())
            except queue.Empty:
                if stopping:
                    return  # asked to stop, and nothing is left
                continue
            try:
                if job is None:
                    stopping = True  # run what is queued (and what that queues), then stop; no more sweeps
                    continue
                if job is _WAKE:
                    continue
                if self.queued_at:
                    self.queued_at.popleft()
                self.waiting.discard(job.job_id or "")
                with self.app.app_context():
                    _resolve(job.func)(*job.args)
            except Exception:
                log.exception("job %s failed", job.func if job else None)
            finally:
                self.jobs.task_done()

    def shutdown(self, timeout: float | None = None) -> None:
        """Run the queued jobs before the process exits, for at most `timeout` (JOB_DRAIN_SECONDS) seconds."""
        if not self.thread.is_alive():
            return
        waiting = [timer for timer in list(self.timers) if timer.is_alive()]
        for timer in waiting:
            timer.cancel()
        if waiting:
            log.warning("%d delayed job(s) dropped at exit; their work is found again from the database", len(waiting))
        self.jobs.put(None)
        self.thread.join(self.app.config.get("JOB_DRAIN_SECONDS", 20) if timeout is None else timeout)
        if self.thread.is_alive():
            log.warning("job thread still running at exit; %d job(s) not run", self.jobs.qsize())


class RecordingDispatcher(Dispatcher):
    """Keeps jobs until run_all(): tests run them at a moment of their choosing, in their transaction."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[PendingJob] = []

    def dispatch(self, job: PendingJob) -> None:
        self.jobs.append(job)

    def run_all(self) -> list[Any]:
        jobs, self.jobs = self.jobs, []
        return [_resolve(job.func)(*job.args) for job in jobs]


def app_worker(app: Flask, queues: list[str], connection: Any, periodic: Callable[[], None] | None = None,
               interval: float = 10.0) -> Any:
    """An rq worker that runs each job in an app context of its own: the job's database session is closed
    after it, so one job's failed transaction (say, during a database failover) never leaks into the next.

    Its main loop is the supervisor of the rest: every `interval` seconds, between jobs or while idle, it runs
    `periodic` (the sweeper) and starts rq's scheduler again at once if its process died (rq itself looks only
    every 10 minutes, and a Redis restart kills it). An error there is logged; the loop goes on.
    """
    from rq import SimpleWorker

    class AppWorker(SimpleWorker):
        next_tick = 0.0
        burst = False

        def work(self, burst: bool = False, *args: Any, **kwargs: Any) -> bool:
            self.burst = burst  # a burst worker stops when the queues are empty: it keeps no scheduler
            return bool(super().work(burst, *args, **kwargs))

        def perform_job(self, job: Any, queue: Any) -> bool:
            with app.app_context():
                return bool(super().perform_job(job, queue))

        @property
        def dequeue_timeout(self) -> int:  # wake up for the periodic work even when no job comes
            return max(1, min(self.worker_ttl - 15, int(interval)))

        @property
        def should_run_maintenance_tasks(self) -> bool:
            return bool(SimpleWorker.should_run_maintenance_tasks.fget(self)  # type: ignore[attr-defined]
                        or time.monotonic() >= self.next_tick)

        def run_maintenance_tasks(self) -> None:
            if SimpleWorker.should_run_maintenance_tasks.fget(self):  # type: ignore[attr-defined]
                super().run_maintenance_tasks()
            if time.monotonic() < self.next_tick:
                return
            self.next_tick = time.monotonic() + interval
            try:
                scheduler = self.scheduler
                if scheduler is not None and not self.burst and (
                        scheduler._process is None or not scheduler._process.is_alive()):
                    scheduler.acquire_locks(auto_start=True)
            except Exception:
                log.exception("rq scheduler could not be restarted")
            if periodic is not None:
                try:
                    periodic()
                except Exception:
                    log.exception("periodic work failed")

    return AppWorker(queues, connection=connection)


def init_jobs(app: Flask) -> None:
    mode = app.config.get("JOB_DISPATCH", "auto")
    redis_url = app.config.get("REDIS_URL")
    dispatcher: Dispatcher
    if mode == "record":
        dispatcher = RecordingDispatcher()
    elif redis_url:
        dispatcher = RqDispatcher(redis_url)
    else:
        dispatcher = ThreadDispatcher(app)
    app.extensions["motcua_jobs"] = dispatcher

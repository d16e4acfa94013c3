"""Operations: is this process alive, may a load balancer send it requests, and the numbers Prometheus scrapes.

Liveness (`alive`) answers without touching anything. Readiness (`readiness`) runs every check concurrently,
each within READYZ_TIMEOUT seconds, and decides:

- **unavailable (503)** when a check named in READYZ_CRITICAL fails: by default the database (nothing can be
  recorded without it) and, in the embedded mode, this process's own job thread (the jobs this process queues
  would never run: a failure of this process alone, which taking it out of the balancer isolates);
- **degraded (200)** when anything else fails: Redis, the rq workers, the sweeper, a national service's open
  circuit breaker. Those are shared by every web process, so a 503 would take all of them out of the balancer
  at once and turn a partial outage into a total one, while requests are still recorded (the jobs they owe
  wait in the database and the sweeper hands them out again once the part is back). They are alerted on from
  the metrics instead (docs/operations.md).

Metrics (`render_metrics`): counters and histograms the process updates as it works (HTTP requests, calls to
national services through the connector registry), in this process's memory or, with PROMETHEUS_MULTIPROC_DIR
set before the process starts, in files shared by every gunicorn worker and `flask worker` of the host; and
gauges read at scrape time from the database and Redis (job queues, workers, sweeper, timers, incidents,
service calls, dossiers by status), in bounded queries under a statement timeout.

Circuit breakers live in each process; the process that sees a provider fail (usually an rq worker) publishes
its breaker's state to Redis (`motcua:breakers`), so the readiness check and the metrics of a web process show
it: per provider, the latest observation of any process wins.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, has_app_context, request
from flask.signals import request_finished, request_started
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

from app.extensions import db
from app.jobs.queue import BEAT_KEY, QUEUES, Dispatcher, RqDispatcher, ThreadDispatcher
from app.jobs.sweeper import BEAT
from app.models import ServiceCall, WorkflowInstance
from app.models.dossier import STATUSES, Dossier
from app.models.integration import WorkflowIncident
from connectors import base as connector_base
from connectors import registry as connector_registry
from connectors.base import CircuitBreaker, ConnectorError

log = logging.getLogger(__name__)

BREAKERS_KEY = "motcua:breakers"  # Redis hash: provider → the latest breaker observation of any process
METRICS_STATEMENT_TIMEOUT_MS = 5000  # no scrape waits longer than this on one statement
REGISTRIES = ("motcua_connectors", "motcua_prefill_registry")  # app.extensions keys of the connector registries
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # any other is counted as OTHER

# ---------------------------------------------------------------- metrics the process updates as it works

disable_created_metrics()  # no `_created` series beside each counter: Prometheus does not need them

HTTP_REQUESTS = Counter("motcua_http_requests", "HTTP requests answered, by method, endpoint and status.",
                        ["method", "endpoint", "status"])
HTTP_LATENCY = Histogram("motcua_http_request_duration_seconds", "Time to answer an HTTP request, by endpoint.",
                         ["endpoint"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
SERVICE_CALL_LATENCY = Histogram(
    "motcua_service_call_duration_seconds",
    "Time of one operation of a national service through the connector registry (retries inside it included), "
    "by operation.", ["operation"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60))
SERVICE_CALL_FAILURES = Counter(
    "motcua_service_call_failures", "Operations of national services that failed, by operation, kind "
    "(transient, permanent, error: not a connector error) and error code.", ["operation", "kind", "code"])


def observe_call(operation: str, seconds: float, error: Exception | None) -> None:
    """The connector registry's observer (connectors.registry.OBSERVERS)."""
    SERVICE_CALL_LATENCY.labels(operation).observe(seconds)
    if error is None:
        return
    if isinstance(error, ConnectorError):
        kind, code = ("transient" if error.transient else "permanent"), error.code[:40]
    else:
        kind, code = "error", type(error).__name__[:40]
    SERVICE_CALL_FAILURES.labels(operation, kind, code).inc()


def _request_started(sender: Flask, **_: Any) -> None:
    request.environ["motcua.started"] = time.perf_counter()


def _request_finished(sender: Flask, response: Any, **_: Any) -> None:
    started = request.environ.get("motcua.started")
    endpoint = request.endpoint or "none"  # an unmatched path is one label, never the path itself
    method = request.method if request.method in METHODS else "OTHER"  # a client may send any word
    HTTP_REQUESTS.labels(method, endpoint, str(response.status_code)).inc()
    if started is not None:
        HTTP_LATENCY.labels(endpoint).observe(time.perf_counter() - started)


def install(app: Flask) -> None:
    """Count this app's requests; time every connector registry's operations and publish breaker changes (both
    process-wide, once)."""
    request_started.connect(_request_started, app, weak=False)
    request_finished.connect(_request_finished, app, weak=False)
    if observe_call not in connector_registry.OBSERVERS:
        connector_registry.OBSERVERS.append(observe_call)
    if publish_breaker not in connector_base.BREAKER_LISTENERS:
        connector_base.BREAKER_LISTENERS.append(publish_breaker)


# ---------------------------------------------------------------- Redis, bounded

_REDIS = "motcua_monitoring_redis"


def redis_client(app: Flask) -> Any:
    """This app's Redis client for checks and breaker reports, with short timeouts (None without REDIS_URL)."""
    url = app.config.get("REDIS_URL")
    if not url:
        return None
    client = app.extensions.get(_REDIS)
    if client is None:
        from redis import Redis

        timeout = float(app.config.get("READYZ_TIMEOUT", 2))
        client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        app.extensions[_REDIS] = client
    return client


# ---------------------------------------------------------------- circuit breakers


_PUBLISH_PAUSE = 30.0  # seconds without publishing after Redis failed to take a report
_PUBLISH_FAILED = "motcua_breaker_publish_failed"


def publish_breaker(breaker: CircuitBreaker) -> None:
    """A breaker failed or recovered in this process: tell the others through Redis (when there is one).

    Runs inside the connector's call, so a Redis that does not answer must not slow every failing call down:
    after one failed report, none is tried for _PUBLISH_PAUSE seconds (the readiness check then says Redis is
    down anyway)."""
    if not has_app_context() or not breaker.name:
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    client = redis_client(app)
    if client is None or time.monotonic() - app.extensions.get(_PUBLISH_FAILED, -_PUBLISH_PAUSE) < _PUBLISH_PAUSE:
        return
    snapshot = breaker.snapshot()
    entry = {**snapshot, "at": time.time(), "process": f"{socket.gethostname()}:{os.getpid()}"}
    try:
        pipe = client.pipeline()
        pipe.hset(BREAKERS_KEY, breaker.name, json.dumps(entry))
        pipe.expire(BREAKERS_KEY, 86400)
        pipe.execute()
    except Exception as exc:
        app.extensions[_PUBLISH_FAILED] = time.monotonic()
        log.warning("circuit breaker of %s not published: %s", breaker.name, _first_line(exc))


def _local_breakers(app: Flask) -> dict[str, dict[str, Any]]:
    """This process's breakers by provider, the most recently changed one where two registries hold one."""
    found: dict[str, dict[str, Any]] = {}
    for key in REGISTRIES:
        registry = app.extensions.get(key)
        if registry is None:
            continue
        for provider, breaker in registry.breakers().items():
            snap = {**breaker.snapshot(), "at": breaker.changed_at or 0.0}
            if provider not in found or snap["at"] > found[provider]["at"]:
                found[provider] = snap
    return found


def _as_of_now(entry: dict[str, Any], now: float) -> str:
    """A published observation's state now: an open breaker lets a trial call through once its pause is over."""
    state = str(entry.get("state", "closed"))
    if state == "open" and float(entry.get("at", 0)) + float(entry.get("retry_in", 0)) <= now:
        return "half_open"
    return state


def breakers(app: Flask) -> dict[str, dict[str, Any]]:
    """Each configured national service's breaker: state (closed, open, half_open), consecutive failures and
    where the observation comes from (this process, or another one through Redis)."""
    result: dict[str, dict[str, Any]] = {}
    for provider, snap in _local_breakers(app).items():
        result[provider] = {"state": snap["state"], "failures": snap["failures"], "retry_in": snap["retry_in"],
                            "at": snap["at"], "seen_by": "this process"}
    client = redis_client(app)
    if client is not None:
        now = time.time()
        for name, raw in (client.hgetall(BREAKERS_KEY) or {}).items():
            provider = name.decode() if isinstance(name, bytes) else str(name)
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if provider in result and float(entry.get("at", 0)) <= result[provider]["at"]:
                continue
            result[provider] = {"state": _as_of_now(entry, now), "failures": int(entry.get("failures", 0)),
                                "retry_in": max(0.0, round(float(entry.get("at", 0)) + float(entry.get("retry_in", 0))
                                                           - now, 1)),
                                "at": float(entry.get("at", 0)), "seen_by": str(entry.get("process", ""))}
    return dict(sorted(result.items()))


# ---------------------------------------------------------------- readiness


@dataclass
class Check:
    status: str  # ok, failed, disabled (not configured here)
    detail: dict[str, Any] = field(default_factory=dict)


def _dispatcher(app: Flask) -> Dispatcher | None:
    dispatcher: Dispatcher | None = app.extensions.get("motcua_jobs")
    return dispatcher


def check_database(app: Flask) -> Check:
    with app.app_context():
        try:
            if db.engine.dialect.name == "postgresql":
                timeout_ms = int(float(app.config.get("READYZ_TIMEOUT", 2)) * 1000)
                db.session.execute(text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(timeout_ms)})
            db.session.execute(text("SELECT 1"))
            return Check("ok")
        except Exception as exc:
            return _failed("database", exc)
        finally:
            db.session.remove()


def check_redis(app: Flask) -> Check:
    client = redis_client(app)
    if client is None:
        return Check("disabled", {"reason": "REDIS_URL not set (embedded job thread)"})
    try:
        client.ping()
        return Check("ok")
    except Exception as exc:
        return _failed("redis", exc)


def rq_workers(client: Any, max_age: float) -> tuple[int, int]:
    """rq workers registered in Redis: (alive: heartbeat within max_age seconds, stale)."""
    from rq import Worker
    from rq.utils import utcparse

    keys = Worker.all_keys(connection=client)
    if not keys:
        return 0, 0
    pipe = client.pipeline()
    for key in keys:
        pipe.hget(key, "last_heartbeat")
    alive = stale = 0
    now = time.time()
    for beat in pipe.execute():
        seen = utcparse(beat.decode() if isinstance(beat, bytes) else beat).timestamp() if beat else 0.0
        if now - seen <= max_age:
            alive += 1
        else:
            stale += 1
    return alive, stale


def check_workers(app: Flask) -> Check:
    dispatcher = _dispatcher(app)
    if not isinstance(dispatcher, RqDispatcher):
        return Check("disabled", {"reason": "no rq queues (embedded job thread)"})
    client = redis_client(app)
    try:
        alive, stale = rq_workers(client, float(app.config.get("READYZ_WORKER_HEARTBEAT", 120)))
    except Exception as exc:
        return _failed("workers", exc)
    return Check("ok" if alive else "failed", {"alive": alive, "stale": stale})


def schedulers(client: Any) -> dict[str, bool]:
    """Per queue, whether an rq scheduler holds its lock (a live scheduler refreshes it; it expires otherwise):
    without one, delayed retries never move to their queue (`flask worker` restarts it within SWEEP_INTERVAL)."""
    from rq.scheduler import RQScheduler

    pipe = client.pipeline()
    for name in QUEUES:
        pipe.exists(RQScheduler.get_locking_key(name))
    return {name: bool(held) for name, held in zip(QUEUES, pipe.execute(), strict=True)}


def check_scheduler(app: Flask) -> Check:
    if not isinstance(_dispatcher(app), RqDispatcher):
        return Check("disabled", {"reason": "no rq queues (embedded job thread)"})
    try:
        held = schedulers(redis_client(app))
    except Exception as exc:
        return _failed("scheduler", exc)
    return Check("ok" if all(held.values()) else "failed", {"queues": held})


def sweep_max_age(app: Flask) -> float:
    configured = float(app.config.get("READYZ_SWEEP_AGE") or 0)
    return configured or max(60.0, 3 * float(app.config.get("SWEEP_INTERVAL", 10)))


def last_sweep(app: Flask) -> float | None:
    """When the sweeper last finished a pass (Redis in the rq mode, this process's memory in the embedded one)."""
    dispatcher = _dispatcher(app)
    if isinstance(dispatcher, RqDispatcher):
        client = redis_client(app)
        value = client.get(BEAT_KEY % BEAT) if client is not None else None
        return float(value) if value else None
    return dispatcher.last_beat(BEAT) if dispatcher is not None else None


def check_sweeper(app: Flask) -> Check:
    if float(app.config.get("SWEEP_INTERVAL", 10)) <= 0:
        return Check("disabled", {"reason": "SWEEP_INTERVAL is 0"})
    if not isinstance(_dispatcher(app), RqDispatcher | ThreadDispatcher):
        return Check("disabled", {"reason": "no periodic sweeper in this mode"})
    try:
        last = last_sweep(app)
    except Exception as exc:
        return _failed("sweeper", exc)
    limit = sweep_max_age(app)
    if last is None:
        return Check("failed", {"last_pass_age": None, "max_age": limit})
    age = round(max(0.0, time.time() - last), 1)
    return Check("ok" if age <= limit else "failed", {"last_pass_age": age, "max_age": limit})


def check_job_thread(app: Flask) -> Check:
    dispatcher = _dispatcher(app)
    if not isinstance(dispatcher, ThreadDispatcher):
        return Check("disabled", {"reason": "jobs run in rq workers" if isinstance(dispatcher, RqDispatcher)
                                  else "no job thread in this mode"})
    waiting, oldest = dispatcher.backlog()
    detail = {"alive": dispatcher.thread.is_alive(), "waiting": waiting,
              "oldest_age": round(time.time() - oldest, 1) if oldest else 0.0}
    return Check("ok" if dispatcher.thread.is_alive() else "failed", detail)


def check_national_services(app: Flask) -> Check:
    try:
        found = breakers(app)
    except Exception as exc:
        return _failed("national_services", exc)
    services = {p: {k: v for k, v in b.items() if k != "at"} for p, b in found.items()}
    if not services:
        return Check("disabled", {"reason": "no national service configured"})
    healthy = all(b["state"] == "closed" for b in services.values())
    return Check("ok" if healthy else "failed", {"services": services})


_CHECKS: dict[str, Callable[[Flask], Check]] = {
    "database": check_database, "redis": check_redis, "workers": check_workers, "scheduler": check_scheduler,
    "sweeper": check_sweeper, "job_thread": check_job_thread, "national_services": check_national_services,
}
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="motcua-readyz")


def critical_checks(app: Flask) -> set[str]:
    return {name.strip() for name in str(app.config.get("READYZ_CRITICAL", "")).split(",") if name.strip()}


def readiness(app: Flask) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): every check run at once, each bounded by READYZ_TIMEOUT; a check still running past
    it counts as failed (its thread finishes on its own)."""
    timeout = float(app.config.get("READYZ_TIMEOUT", 2))
    started = time.perf_counter()
    futures = {name: _POOL.submit(check, app) for name, check in _CHECKS.items()}
    results: dict[str, Check] = {}
    for name, future in futures.items():
        left = max(0.05, timeout - (time.perf_counter() - started))
        try:
            results[name] = future.result(timeout=left)
        except FutureTimeout:
            results[name] = Check("failed", {"error": f"no answer within {timeout:g} s"})
        except Exception as exc:
            results[name] = _failed(name, exc)
    critical = critical_checks(app)
    failed = {name for name, check in results.items() if check.status == "failed"}
    status = "unavailable" if failed & critical else "degraded" if failed else "ok"
    body = {"status": status,
            "checks": {name: {"status": check.status, "critical": name in critical, **check.detail}
                       for name, check in results.items()}}
    return (503 if status == "unavailable" else 200), body


def _failed(check: str, exc: BaseException) -> Check:
    """A failed check: the error's kind in the answer (which is open to the balancer: no host names, no
    addresses), its text in the log."""
    log.warning("readiness check %s failed: %s", check, _first_line(exc))
    return Check("failed", {"error": type(exc).__name__})


def _first_line(exc: BaseException) -> str:
    text_ = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return (text_[0] if text_ else type(exc).__name__)[:300]


# ---------------------------------------------------------------- metrics read at scrape time


class StateCollector(Collector):
    """Gauges read from the database and Redis when Prometheus scrapes (in the scraping request's app context).

    Each part is bounded: indexed counts of the few open rows (timers due, open incidents and service calls),
    the dossiers by status from a cache refreshed at most every METRICS_DOSSIER_STATUS_SECONDS (a GROUP BY over
    every dossier is the one unbounded query, so it is never made more often than that), queue lengths and the
    head of each queue in Redis. A part that fails is left out and counted in motcua_metrics_errors.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterable[Any]:
        errors = GaugeMetricFamily("motcua_metrics_errors", "Parts of this scrape that could not be read "
                                   "(their metrics are missing from it), by part.", labels=["part"])
        families: list[Any] = []
        parts: list[tuple[str, Callable[[], list[Any]]]] = [
            ("database", self._database), ("jobs", self._jobs), ("breakers", self._breakers)]
        for part, read in parts:
            try:
                families += read()
                errors.add_metric([part], 0)
            except Exception as exc:
                log.warning("metrics: %s not read: %s", part, _first_line(exc))
                errors.add_metric([part], 1)
                if part == "database":
                    db.session.rollback()
        yield from families
        yield errors

    # --- database

    def _database(self) -> list[Any]:
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("SELECT set_config('statement_timeout', :ms, true)"),
                               {"ms": str(METRICS_STATEMENT_TIMEOUT_MS)})
        from app.clock import now_utc

        now = now_utc()
        families = []
        armed, due, oldest = db.session.execute(
            select(func.count(), func.count().filter(WorkflowInstance.next_due_at <= now),
                   func.min(WorkflowInstance.next_due_at))
            .where(WorkflowInstance.next_due_at.is_not(None))).one()
        g = GaugeMetricFamily("motcua_timers_due", "BPMN timers due now and not yet fired (workflows whose earliest "
                              "armed timer's time has come).")
        g.add_metric([], due)
        families.append(g)
        g = GaugeMetricFamily("motcua_timers_armed", "Workflows with an armed BPMN timer.")
        g.add_metric([], armed)
        families.append(g)
        g = GaugeMetricFamily("motcua_timers_oldest_due_age_seconds",
                              "How late the most overdue armed timer is (0 when none is due).")
        g.add_metric([], max(0.0, (now - oldest).total_seconds()) if oldest is not None and oldest <= now else 0.0)
        families.append(g)
        incidents = db.session.scalar(select(func.count()).select_from(WorkflowIncident)
                                      .where(WorkflowIncident.state == "open"))
        g = GaugeMetricFamily("motcua_workflow_incidents_open", "Workflows stopped by an engine error, not yet "
                              "resolved by an operator.")
        g.add_metric([], incidents or 0)
        families.append(g)
        g = GaugeMetricFamily("motcua_service_calls_open", "Service calls not finished, by operation and state "
                              "(pending: attempts to come; waiting: a platform operation waits, e.g. a payer; "
                              "failed: an incident waiting for an operator).", labels=["operation", "state"])
        for operation, state, count in db.session.execute(
                select(ServiceCall.operation, ServiceCall.state, func.count())
                .where(ServiceCall.state.in_(("pending", "waiting", "failed")))
                .group_by(ServiceCall.operation, ServiceCall.state).order_by(ServiceCall.operation, ServiceCall.state)):
            g.add_metric([operation, state], count)
        families.append(g)
        counts, age = self._status_counts()
        g = GaugeMetricFamily("motcua_dossiers_by_status", "Dossiers by status (TrangThaiHoSo code and its name), "
                              "counted at most every METRICS_DOSSIER_STATUS_SECONDS.", labels=["status", "name"])
        for code, label in STATUSES.items():
            with_name = str(label)
            g.add_metric([str(code), with_name], counts.get(code, 0))
        families.append(g)
        g = GaugeMetricFamily("motcua_dossiers_by_status_age_seconds", "Age of the dossier counts in this scrape.")
        g.add_metric([], age)
        families.append(g)
        return families

    def _status_counts(self) -> tuple[dict[int, int], float]:
        """The dossier counts by status, from this process's cache when it is fresh enough."""
        ttl = float(self.app.config.get("METRICS_DOSSIER_STATUS_SECONDS", 60))
        cache: _StatusCache = self.app.extensions.setdefault("motcua_status_counts", _StatusCache())
        now = time.monotonic()
        if cache.counts is not None and now - cache.at < ttl:
            return cache.counts, round(now - cache.at, 1)
        if not cache.lock.acquire(blocking=cache.counts is None):
            return cache.counts or {}, round(now - cache.at, 1)  # another thread is counting: the last count
        try:
            rows = db.session.execute(select(Dossier.status, func.count()).group_by(Dossier.status))
            cache.counts, cache.at = {int(status): int(count) for status, count in rows}, time.monotonic()
        finally:
            cache.lock.release()
        return cache.counts, 0.0

    # --- job queues

    def _jobs(self) -> list[Any]:
        length = GaugeMetricFamily("motcua_job_queue_length", "Jobs waiting in a queue to be run, by queue and "
                                   "backend (rq, embedded).", labels=["queue", "backend"])
        oldest = GaugeMetricFamily("motcua_job_queue_oldest_age_seconds", "How long the oldest job waiting in a "
                                   "queue has waited (0 when empty).", labels=["queue", "backend"])
        families = [length, oldest]
        dispatcher = _dispatcher(self.app)
        now = time.time()
        if isinstance(dispatcher, ThreadDispatcher):
            waiting, first = dispatcher.backlog()
            length.add_metric(["embedded", "embedded"], waiting)
            oldest.add_metric(["embedded", "embedded"], max(0.0, now - first) if first else 0.0)
            g = GaugeMetricFamily("motcua_job_thread_alive", "1 when this process's embedded job thread runs.")
            g.add_metric([], 1 if dispatcher.thread.is_alive() else 0)
            families.append(g)
        elif isinstance(dispatcher, RqDispatcher):
            client = redis_client(self.app)
            families += self._rq(client, length, oldest, now)
        last = last_sweep(self.app) if isinstance(dispatcher, RqDispatcher | ThreadDispatcher) else None
        if last is not None:
            g = GaugeMetricFamily("motcua_sweeper_last_pass_age_seconds", "Seconds since the sweeper (and timer "
                                  "host) last finished a pass, in any process.")
            g.add_metric([], max(0.0, now - last))
            families.append(g)
        return families

    def _rq(self, client: Any, length: Any, oldest: Any, now: float) -> list[Any]:
        from rq import Queue
        from rq.job import Job
        from rq.registry import FailedJobRegistry, ScheduledJobRegistry
        from rq.utils import utcparse

        scheduled = GaugeMetricFamily("motcua_job_queue_scheduled", "Jobs of a queue waiting for their time "
                                      "(delayed retries, rq's scheduler).", labels=["queue"])
        failed = GaugeMetricFamily("motcua_job_queue_failed", "Jobs of a queue in rq's failed registry.",
                                   labels=["queue"])
        # rq's own key names, read in two round trips whatever the queues hold: the length, the job at the head
        # (the oldest: rq pushes at the tail and pops at the head) and the registries' sizes; then the head's time.
        pipe = client.pipeline()
        for name in QUEUES:
            key = Queue.redis_queue_namespace_prefix + name
            pipe.llen(key)
            pipe.lindex(key, 0)
            pipe.zcard(ScheduledJobRegistry.key_template.format(name))
            pipe.zcard(FailedJobRegistry.key_template.format(name))
        answers = pipe.execute()
        heads = client.pipeline()
        for index in range(len(QUEUES)):
            head = answers[4 * index + 1]
            heads.hget(Job.key_for(head.decode() if isinstance(head, bytes) else head) if head else "-", "enqueued_at")
        heads_at = heads.execute()
        for index, name in enumerate(QUEUES):
            count, _, delayed, broken = answers[4 * index: 4 * index + 4]
            length.add_metric([name, "rq"], count)
            at = heads_at[index]
            age = 0.0
            if at and count:
                age = max(0.0, now - utcparse(at.decode() if isinstance(at, bytes) else at).timestamp())
            oldest.add_metric([name, "rq"], age)
            scheduled.add_metric([name], delayed)
            failed.add_metric([name], broken)
        alive, stale = rq_workers(client, float(self.app.config.get("READYZ_WORKER_HEARTBEAT", 120)))
        workers = GaugeMetricFamily("motcua_job_workers", "rq workers registered in Redis, by whether their "
                                    "heartbeat is recent (READYZ_WORKER_HEARTBEAT).", labels=["state"])
        workers.add_metric(["alive"], alive)
        workers.add_metric(["stale"], stale)
        held = GaugeMetricFamily("motcua_job_scheduler_alive", "1 while an rq scheduler holds a queue's lock (delayed "
                                 "retries move to the queue on time).", labels=["queue"])
        for name, alive_ in schedulers(client).items():
            held.add_metric([name], 1 if alive_ else 0)
        return [scheduled, failed, workers, held]

    # --- national services

    def _breakers(self) -> list[Any]:
        state = GaugeMetricFamily("motcua_circuit_breaker_state", "1 for each national service's current circuit "
                                  "breaker state (closed, open, half_open), 0 for the others.",
                                  labels=["provider", "state"])
        failures = GaugeMetricFamily("motcua_circuit_breaker_failures", "Consecutive failures seen by a national "
                                     "service's circuit breaker.", labels=["provider"])
        for provider, breaker in breakers(self.app).items():
            for name in ("closed", "open", "half_open"):
                state.add_metric([provider, name], 1 if breaker["state"] == name else 0)
            failures.add_metric([provider], breaker["failures"])
        return [state, failures]


@dataclass
class _StatusCache:
    counts: dict[int, int] | None = None
    at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def render_metrics(app: Flask) -> bytes:
    """The Prometheus text exposition: the process's (or, in multiprocess mode, every process's) counters and
    histograms, then the gauges read now."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        worked = generate_latest(registry)
    else:
        worked = generate_latest(REGISTRY)
    state = CollectorRegistry(auto_describe=False)
    state.register(StateCollector(app))
    try:
        return worked + generate_latest(state)
    finally:
        db.session.rollback()  # ends the statement timeout with the scrape's transaction

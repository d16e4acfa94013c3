"""Operations endpoints: /healthz, /readyz and /metrics, against real PostgreSQL, Redis, an rq worker process and
the demo national services (app.monitoring, docs/operations.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from app.dossiers import services
from app.extensions import db
from connectors.base import TransientError
from tests.breadth_support import open_tasks
from tests.conftest import REDIS_URL, ROOT, _create_database, _drop_database, make_app, prepare_database, user
from tests.integration.test_timers import complete, reception_then
from tests.samples import start_data, with_stored_uploads
from tests.timer_support import deploy_khai_sinh, timer, user_task

# The rq worker test's own Redis database: its worker must never take jobs other test runs put in theirs.
WORKER_REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + "/9"
CITIZEN = {"so_dinh_danh": "001090012345", "ho_ten": "Nguyễn Văn An", "ngay_sinh": "1990-05-12"}  # seeded


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text answer, by (name, sorted labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict[Any, float], metric: str, /, **labels: str) -> float:
    return found.get((metric, tuple(sorted(labels.items()))), 0.0)


def scrape(client: Any, **headers: str) -> dict[Any, float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.data
    assert response.content_type.startswith("text/plain")
    return samples(response.get_data(as_text=True))


def submit(db_session: Any) -> Any:
    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), user("congdan")),
                                      applicant=user("congdan"))
    db_session.commit()
    return dossier


# ---------------------------------------------------------------- liveness and readiness


def test_healthz_answers_without_touching_anything(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_readyz_with_the_database_unreachable_is_503_and_names_the_database(tmp_path):
    """An app pointed at a closed port: not ready (the balancer stops sending it requests), still alive."""
    down = make_app("postgresql+psycopg://postgres@127.0.0.1:9/nowhere", tmp_path)
    client = down.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["status"] == "failed"
    assert body["checks"]["database"]["critical"] is True
    assert body["checks"]["database"]["error"] == "OperationalError"  # no host or address in an open answer
    assert client.get("/healthz").status_code == 200
    # The metrics still answer: the database's part is missing and counted as an error, the rest is there.
    found = scrape(client)
    assert value(found, "motcua_metrics_errors", part="database") == 1
    assert value(found, "motcua_metrics_errors", part="jobs") == 0
    with down.app_context():
        db.engine.dispose()


def test_readyz_with_an_open_breaker_reports_it_and_stays_ready(client, national, sandbox):
    """A national service that keeps failing opens its breaker: readiness says so, degraded, and still 200 (one
    national service down must not take the platform out of the balancer); the failures are counted."""
    before = scrape(client)
    requests.post(f"{sandbox}/_faults", json={"path_prefix": "/dan-cu", "mode": "error", "status": 503,
                                               "count": 50}, timeout=5).raise_for_status()
    breaker = national.breakers()["population"]
    calls = 0
    while breaker.state == "closed":
        with pytest.raises(TransientError):
            national.call("population.lookup_citizen", CITIZEN)
        calls += 1
        assert calls <= breaker.threshold
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded"
    services_ = body["checks"]["national_services"]
    assert services_["status"] == "failed" and services_["critical"] is False
    population = services_["services"]["population"]
    assert population["state"] == "open" and population["failures"] == breaker.threshold
    assert services_["services"]["business"]["state"] == "closed"
    assert body["checks"]["database"]["status"] == "ok"

    after = scrape(client)
    assert value(after, "motcua_circuit_breaker_state", provider="population", state="open") == 1
    assert value(after, "motcua_circuit_breaker_state", provider="business", state="closed") == 1
    assert value(after, "motcua_circuit_breaker_failures", provider="population") == breaker.threshold
    failures = ("motcua_service_call_failures_total", dict(operation="population.lookup_citizen", kind="transient",
                                                            code="loi_he_thong"))  # the demo service's error code
    assert value(after, failures[0], **failures[1]) - value(before, failures[0], **failures[1]) == calls


# ---------------------------------------------------------------- metrics


def test_metrics_count_requests_by_endpoint_and_status(client):
    before = scrape(client)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.get("/khong-co-trang-nay").status_code == 404
    after = scrape(client)
    ok = {"method": "GET", "endpoint": "ops.healthz", "status": "200"}
    assert value(after, "motcua_http_requests_total", **ok) - value(before, "motcua_http_requests_total", **ok) == 3
    missing = {"method": "GET", "endpoint": "none", "status": "404"}
    assert value(after, "motcua_http_requests_total", **missing) - value(
        before, "motcua_http_requests_total", **missing) == 1
    latency = ("motcua_http_request_duration_seconds_count", {"endpoint": "ops.healthz"})
    assert value(after, latency[0], **latency[1]) - value(before, latency[0], **latency[1]) == 3


def test_metrics_count_dossiers_by_status(client, db_session, monkeypatch, app):
    monkeypatch.setitem(app.config, "METRICS_DOSSIER_STATUS_SECONDS", 0)
    before = scrape(client)
    submit(db_session)
    submit(db_session)
    after = scrape(client)
    submitted = {"status": "1", "name": "Mới đăng ký"}
    assert value(after, "motcua_dossiers_by_status", **submitted) - value(
        before, "motcua_dossiers_by_status", **submitted) == 2
    assert value(after, "motcua_dossiers_by_status", status="10", name="Đã trả kết quả") == value(
        before, "motcua_dossiers_by_status", status="10", name="Đã trả kết quả")


def test_dossier_counts_are_cached_for_the_configured_time(client, db_session, monkeypatch, app):
    monkeypatch.setitem(app.config, "METRICS_DOSSIER_STATUS_SECONDS", 3600)
    app.extensions.pop("motcua_status_counts", None)
    before = scrape(client)
    submit(db_session)
    cached = scrape(client)
    submitted = {"status": "1", "name": "Mới đăng ký"}
    assert value(cached, "motcua_dossiers_by_status", **submitted) == value(
        before, "motcua_dossiers_by_status", **submitted)
    assert value(cached, "motcua_dossiers_by_status_age_seconds") >= 0
    app.extensions.pop("motcua_status_counts", None)


def test_metrics_time_a_real_call_to_a_national_service(client, national):
    name, labels = "motcua_service_call_duration_seconds_count", {"operation": "population.lookup_citizen"}
    before = scrape(client)
    record = national.call("population.lookup_citizen", CITIZEN)
    assert record["so_dinh_danh"] == CITIZEN["so_dinh_danh"]
    after = scrape(client)
    assert value(after, name, **labels) - value(before, name, **labels) == 1
    total = "motcua_service_call_duration_seconds_sum"
    assert value(after, total, **labels) > value(before, total, **labels)


def test_metrics_show_timers_armed_and_due(client, db_session, clock):
    deploy_khai_sinh(reception_then(
        f'<bpmn:intermediateCatchEvent id="Timer_Cho" name="Chờ 2 giờ">{timer("timeDuration", "PT2H")}'
        "</bpmn:intermediateCatchEvent>"
        + user_task("Task_ThamDinh", "Thẩm định", "ho_tich", status=4)
        + '<bpmn:endEvent id="End_1"/>',
        {"ho_tich": ["Timer_Cho", "Task_ThamDinh", "End_1"]},
        [("F1", "Task_TiepNhan", "Timer_Cho"), ("F2", "Timer_Cho", "Task_ThamDinh"), ("F3", "Task_ThamDinh", "End_1")]))
    db_session.commit()
    dossier = submit(db_session)
    before = scrape(client)
    [reception] = open_tasks(dossier.id)
    complete(db_session, reception)
    armed = scrape(client)
    assert value(armed, "motcua_timers_armed") - value(before, "motcua_timers_armed") == 1
    assert value(armed, "motcua_timers_due") == value(before, "motcua_timers_due")
    clock.advance(hours=2, minutes=1)
    due = scrape(client)
    assert value(due, "motcua_timers_due") - value(before, "motcua_timers_due") == 1
    assert value(due, "motcua_timers_oldest_due_age_seconds") >= 60


def test_metrics_token_is_required_when_set(client, monkeypatch, app):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "mot-ma-rat-dai-cho-prometheus")
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert b"motcua_" not in refused.data
    assert client.get("/metrics", headers={"Authorization": "Bearer sai"}).status_code == 401
    found = scrape(client, Authorization="Bearer mot-ma-rat-dai-cho-prometheus")
    assert ("motcua_metrics_errors", (("part", "database"),)) in found
    assert client.get("/healthz").status_code == 200  # liveness and readiness stay open to the balancer


# ---------------------------------------------------------------- everything up: Redis and a real rq worker


@pytest.fixture()
def worker_database(tmp_path: Path) -> Iterator[str]:
    """A database of the test's own: the worker commits what its sweeps find, which no other test may see."""
    url = _create_database("motcua_ops")
    prepare_database(make_app(url, tmp_path))
    yield url
    _drop_database(url)


def test_readyz_with_everything_up_and_queue_metrics(worker_database, tmp_path):
    """PostgreSQL, Redis and a real `flask worker` process (which sweeps every second): ready, every check ok."""
    from redis import Redis

    redis = Redis.from_url(WORKER_REDIS_URL)
    redis.delete("motcua:beat:sweeper", "motcua:breakers")
    env = {**os.environ, "DATABASE_URL": worker_database, "REDIS_URL": WORKER_REDIS_URL, "SWEEP_INTERVAL": "1",
           "SECRET_KEY": "test-secret", "UPLOAD_DIR": str(tmp_path / "uploads"), "FLASK_APP": "wsgi"}
    worker = subprocess.Popen([sys.executable, "-m", "flask", "worker"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    app = make_app(worker_database, tmp_path, REDIS_URL=WORKER_REDIS_URL, JOB_DISPATCH="auto")
    client = app.test_client()
    try:
        body: dict[str, Any] = {}
        deadline = time.monotonic() + 120  # the worker's start-up on a busy machine; not what is tested
        while time.monotonic() < deadline and worker.poll() is None:
            response = client.get("/readyz")
            body = response.get_json()
            if body["status"] == "ok":
                break
            time.sleep(0.5)
        assert worker.poll() is None, worker.stderr.read().decode()[-2000:] if worker.stderr else ""
        assert response.status_code == 200, body
        checks = body["checks"]
        assert body["status"] == "ok", body
        assert checks["database"]["status"] == "ok"
        assert checks["redis"]["status"] == "ok"
        assert checks["workers"]["status"] == "ok" and checks["workers"]["alive"] >= 1
        assert checks["scheduler"] == {"status": "ok", "critical": False,
                                       "queues": {"connectors": True, "notifications": True}}
        assert checks["sweeper"]["status"] == "ok" and checks["sweeper"]["last_pass_age"] <= checks["sweeper"][
            "max_age"]
        assert checks["job_thread"]["status"] == "disabled"

        found = scrape(client)
        assert value(found, "motcua_job_workers", state="alive") >= 1
        assert value(found, "motcua_job_scheduler_alive", queue="connectors") == 1
        assert ("motcua_job_queue_length", (("backend", "rq"), ("queue", "connectors"))) in found
        assert ("motcua_job_queue_oldest_age_seconds", (("backend", "rq"), ("queue", "notifications"))) in found
        assert ("motcua_job_queue_scheduled", (("queue", "connectors"),)) in found
        assert value(found, "motcua_sweeper_last_pass_age_seconds") <= checks["sweeper"]["max_age"]
        assert value(found, "motcua_metrics_errors", part="jobs") == 0
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        redis.delete("motcua:beat:sweeper", "motcua:breakers")
        with app.app_context():
            db.engine.dispose()


def test_readyz_and_queue_metrics_in_the_embedded_mode(sqlite_app):
    """No Redis: the job thread of this process runs the jobs and the sweeper; readiness reports both."""
    from app.jobs.queue import ThreadDispatcher

    embedded = make_app(sqlite_app.config["SQLALCHEMY_DATABASE_URI"], Path(sqlite_app.config["UPLOAD_DIR"]).parent,
                        JOB_DISPATCH="auto", SWEEP_INTERVAL=1)
    dispatcher = embedded.extensions["motcua_jobs"]
    assert isinstance(dispatcher, ThreadDispatcher)
    client = embedded.test_client()
    try:
        deadline = time.monotonic() + 60
        while dispatcher.last_beat("sweeper") is None and time.monotonic() < deadline:
            time.sleep(0.2)
        response = client.get("/readyz")
        body = response.get_json()
        assert response.status_code == 200 and body["status"] == "ok", body
        assert body["checks"]["job_thread"]["status"] == "ok" and body["checks"]["job_thread"]["alive"] is True
        assert body["checks"]["redis"]["status"] == "disabled"
        assert body["checks"]["workers"]["status"] == "disabled"
        assert body["checks"]["sweeper"]["status"] == "ok"
        found = scrape(client)
        assert ("motcua_job_queue_length", (("backend", "embedded"), ("queue", "embedded"))) in found
        assert value(found, "motcua_job_thread_alive") == 1

        dispatcher.stop()  # the thread dies: this process can no longer run its jobs
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.get_json()["checks"]["job_thread"]["status"] == "failed"
    finally:
        dispatcher.stop()
        with embedded.app_context():
            db.session.remove()
            db.engine.dispose()


# ---------------------------------------------------------------- documentation and several processes


def test_every_metric_is_documented_and_on_the_sample_dashboard(client, national):
    national.call("population.lookup_citizen", CITIZEN)
    text = client.get("/metrics").get_data(as_text=True)
    exported = {family.name for family in text_string_to_metric_families(text) if family.name.startswith("motcua_")}
    assert {"motcua_http_requests", "motcua_dossiers_by_status", "motcua_timers_due",
            "motcua_service_call_duration_seconds"} <= exported
    documented = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    dashboard = (ROOT / "docs" / "grafana-dashboard.json").read_text(encoding="utf-8")
    json.loads(dashboard)
    # The families the embedded and rq modes export besides these are checked by name in the docs too.
    for name in exported | {"motcua_job_workers", "motcua_job_queue_scheduled", "motcua_job_queue_failed",
                            "motcua_job_scheduler_alive",
                            "motcua_job_thread_alive", "motcua_sweeper_last_pass_age_seconds",
                            "motcua_service_call_failures", "motcua_circuit_breaker_state"}:
        assert name in documented, name
        assert name in dashboard, name


MULTIPROCESS_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tests.conftest import make_app
app = make_app("postgresql+psycopg://postgres@127.0.0.1:9/nowhere", Path(sys.argv[2]))
client = app.test_client()
if sys.argv[3] == "requests":
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
else:
    sys.stdout.write(client.get("/metrics").get_data(as_text=True))
"""


def test_multiprocess_mode_adds_up_every_process_s_counts(tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR, one process's scrape shows what another process counted (gunicorn workers,
    `flask worker` processes of the host)."""
    shared = tmp_path / "metrics"
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}

    def run(what: str) -> str:
        done = subprocess.run([sys.executable, "-c", MULTIPROCESS_SCRIPT, str(ROOT), str(tmp_path), what], env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    run("requests")
    run("requests")
    found = samples(run("metrics"))
    ok = {"method": "GET", "endpoint": "ops.healthz", "status": "200"}
    assert value(found, "motcua_http_requests_total", **ok) == 6
    assert value(found, "motcua_metrics_errors", part="database") == 1  # the gauges read now are there too


def test_a_breaker_opened_in_one_process_is_reported_by_the_others(database_url, tmp_path, sandbox):
    """The process calling a national service (an rq worker) publishes its breaker to Redis; a web process whose
    own breaker never saw a failure reports it open."""
    from redis import Redis

    from connectors import build_registry

    redis = Redis.from_url(WORKER_REDIS_URL)
    redis.delete("motcua:breakers")
    settings = {"CONNECTOR_ATTEMPTS": 1, "CONNECTOR_TIMEOUT": 5, "POPULATION_URL": sandbox,
                "POPULATION_TOKEN": "sandbox-test-token"}
    worker_app = make_app(database_url, tmp_path, REDIS_URL=WORKER_REDIS_URL)
    web_app = make_app(database_url, tmp_path, REDIS_URL=WORKER_REDIS_URL)
    worker_app.extensions["motcua_connectors"] = worker_registry = build_registry(settings)
    web_app.extensions["motcua_connectors"] = build_registry(settings)
    web_app.extensions["motcua_prefill_registry"] = build_registry(settings)
    requests.delete(f"{sandbox}/_faults", timeout=5)
    requests.post(f"{sandbox}/_faults", json={"path_prefix": "/dan-cu", "mode": "error", "status": 503,
                                               "count": 50}, timeout=5).raise_for_status()
    try:
        breaker = worker_registry.breakers()["population"]
        with worker_app.app_context():
            for _ in range(breaker.threshold):
                with pytest.raises(TransientError):
                    worker_registry.call("population.lookup_citizen", CITIZEN)
        assert breaker.state == "open"
        body = web_app.test_client().get("/readyz").get_json()
        population = body["checks"]["national_services"]["services"]["population"]
        assert population["state"] == "open" and population["failures"] == breaker.threshold
        assert population["seen_by"] != "this process"
        assert body["status"] == "degraded"
        found = scrape(web_app.test_client())
        assert value(found, "motcua_circuit_breaker_state", provider="population", state="open") == 1
    finally:
        requests.delete(f"{sandbox}/_faults", timeout=5)
        redis.delete("motcua:breakers")
        for each in (worker_app, web_app):
            with each.app_context():
                db.engine.dispose()


def test_rq_queue_length_and_age_of_its_oldest_job_without_a_worker(database_url, tmp_path):
    """Jobs waiting in Redis with no worker to take them: counted, aged; readiness degraded (no worker), still 200."""
    from redis import Redis
    from rq import Queue

    from app.jobs.queue import PendingJob, RqDispatcher

    app = make_app(database_url, tmp_path, REDIS_URL=WORKER_REDIS_URL, JOB_DISPATCH="auto", SWEEP_INTERVAL=0)
    dispatcher = app.extensions["motcua_jobs"]
    assert isinstance(dispatcher, RqDispatcher)
    redis = Redis.from_url(WORKER_REDIS_URL)
    queue = Queue("notifications", connection=redis)
    ids = [f"ops-test-{n}" for n in range(2)]
    try:
        for job_id in ids:
            dispatcher.dispatch(PendingJob("notifications", "app.jobs.tasks.notify_status_change", (0, 0), job_id))
        found = scrape(app.test_client())
        assert value(found, "motcua_job_queue_length", queue="notifications", backend="rq") == 2
        assert ("motcua_job_queue_oldest_age_seconds", (("backend", "rq"), ("queue", "notifications"))) in found
        assert value(found, "motcua_job_queue_length", queue="connectors", backend="rq") == 0
        assert value(found, "motcua_job_queue_oldest_age_seconds", queue="connectors", backend="rq") == 0
        assert value(found, "motcua_job_workers", state="alive") == 0
        response = app.test_client().get("/readyz")
        body = response.get_json()
        assert body["checks"]["redis"]["status"] == "ok"
        assert body["checks"]["workers"]["status"] == "failed" and body["checks"]["workers"]["alive"] == 0
        assert body["checks"]["sweeper"]["status"] == "disabled"
        assert response.status_code == 200 and body["status"] == "degraded"
        # (a scheduler's lock may outlive the worker of another test for a minute: not asserted here)
        assert {name for name, check in body["checks"].items() if check["status"] == "failed"} - {"scheduler"} == {
            "workers"}
    finally:
        for job_id in ids:
            queue.remove(job_id)
            redis.delete(f"rq:job:{job_id}")
        with app.app_context():
            db.engine.dispose()

"""Service tasks run as jobs against the demo national services over real HTTP, faults included."""

from __future__ import annotations

import uuid
from dataclasses import replace

import lxml.html
import pytest
import requests
from redis import Redis
from rq import Queue, SimpleWorker
from sqlalchemy import select

from app.dossiers.services import submit_dossier
from app.engine.runtime import WorkflowRun
from app.extensions import db
from app.jobs.queue import QUEUE_CONNECTORS, RqDispatcher
from app.jobs.service_calls import run_service_call
from app.models import AuditEvent, HumanTask, RegistryLookup, ServiceCall
from connectors import build_registry
from tests.conftest import REDIS_URL, login, user
from tests.samples import MOTHER_ID, start_data, with_stored_uploads

SVC = "app.jobs.service_calls.run_service_call"


@pytest.fixture()
def registry(national, app, monkeypatch, sandbox):
    """As `national`, with a population client that gives up after half a second (timeouts stay quick)."""
    built = build_registry({"POPULATION_URL": sandbox, "POPULATION_TOKEN": "sandbox-test-token",
                            "CONNECTOR_ATTEMPTS": 1, "CONNECTOR_TIMEOUT": 0.5})
    monkeypatch.setitem(app.extensions, "motcua_connectors", built)
    return built


def fault(sandbox, **spec):
    requests.post(f"{sandbox}/_faults", json={"path_prefix": "/dan-cu", **spec}, timeout=5).raise_for_status()


def lookups_sent(sandbox) -> int:
    log = requests.get(f"{sandbox}/_log", timeout=5).json()["requests"]
    return sum(1 for r in log if r["path"] == "/dan-cu/tra-cuu")


def submit_with_mother(db_session, mother=None):
    data = with_stored_uploads(start_data("khai-sinh"), user("congdan"))
    data["me"].update(mother or {"so_dinh_danh": MOTHER_ID})
    dossier = submit_dossier("1.001193", data, applicant=user("congdan"))
    db_session.commit()
    return dossier


def calls(dossier):
    return db.session.scalars(select(ServiceCall).where(ServiceCall.dossier_id == dossier.id)).all()


def ready_titles(dossier):
    return [t.title for t in db.session.scalars(
        select(HumanTask).where(HumanTask.dossier_id == dossier.id, HumanTask.state == "ready"))]


def run_jobs(jobs, rounds=10):
    """Run queued jobs, and the jobs they queue, until none are left."""
    results = []
    for _ in range(rounds):
        if not jobs.jobs:
            break
        results += [r for r in jobs.run_all() if isinstance(r, str)]  # service-call outcomes only
    return results


def workflow_data(dossier, task_title):
    task = db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id, HumanTask.title == task_title))
    version = dossier.procedure_version
    from app.dossiers.progress import bundle_for

    db.session.refresh(dossier.workflow)
    return WorkflowRun.load(dossier.workflow.document, bundle_for(version)).task_data(task.engine_task_id)


def test_lookup_runs_after_commit_and_its_result_reaches_the_officer(client, db_session, jobs, registry, sandbox):
    dossier = submit_with_mother(db_session)
    [call] = calls(dossier)
    assert (call.operation, call.state, call.params) == (
        "population.lookup_citizen", "pending",
        {"so_dinh_danh": MOTHER_ID, "ho_ten": "Trần Thị Bình", "nam_sinh": 1995})
    assert ready_titles(dossier) == []  # reception waits for the look-up
    assert lookups_sent(sandbox) == 0  # nothing left during the request
    [job] = [j for j in jobs.jobs if j.func == SVC]
    assert job.queue == QUEUE_CONNECTORS and job.job_id == f"svc-{dossier.id}-{call.engine_task_id}-1-1"

    assert run_jobs(jobs) == ["done"]
    db.session.refresh(call)
    assert call.state == "done" and call.attempts == 1
    assert ready_titles(dossier) == ["Tiếp nhận hồ sơ"]
    assert workflow_data(dossier, "Tiếp nhận hồ sơ")["tra_cuu_me"]["ho_ten"] == "Trần Thị Bình"
    log = db.session.scalars(select(RegistryLookup).where(RegistryLookup.dossier_id == dossier.id)).all()
    assert [(r.subject, r.outcome) for r in log] == [(MOTHER_ID, "ok")] and dossier.code in log[0].purpose
    # A duplicated job (same attempt) has no second effect: no second call, no second step.
    assert run_service_call(call.id, 1, 1) == "skipped"
    assert lookups_sent(sandbox) == 1


def test_lookup_results_read_from_the_document_match_the_restored_workflow(client, db_session, jobs, registry,
                                                                          sandbox):
    from app.dossiers import services
    from app.dossiers.lookups import checked_result

    dossier = submit_with_mother(db_session)
    assert run_jobs(jobs) == ["done"]
    db.session.refresh(dossier.workflow)
    task = db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id,
                                                     HumanTask.title == "Tiếp nhận hồ sơ"))
    shown = services.lookup_results(task, list(calls(dossier)))
    # What the same task's data gives when the whole workflow is restored, as before.
    data = workflow_data(dossier, "Tiếp nhận hồ sơ")
    declared = dossier.procedure_version.manifest["lookup_results"]
    expected = [{"title": c.title, "variable": c.result_variable,
                 **checked_result(declared[c.result_variable], data[c.result_variable], data)}
                for c in calls(dossier) if c.state == "done"]
    assert shown == expected and shown and shown[0]["variable"] == "tra_cuu_me"
    assert "Trần Thị Bình" in repr(shown)


def test_not_found_is_caught_by_the_boundary_and_reception_sees_why(client, db_session, jobs, registry, sandbox):
    dossier = submit_with_mother(db_session, {"so_dinh_danh": MOTHER_ID, "ho_ten": "Trần Thị Bính"})
    assert run_jobs(jobs) == ["caught"]
    [call] = calls(dossier)
    assert call.state == "caught" and call.error_code == "khong_tim_thay"
    assert ready_titles(dossier) == ["Tiếp nhận hồ sơ"]
    error = workflow_data(dossier, "Tiếp nhận hồ sơ")["loi_dich_vu"]
    assert error["ma"] == "khong_tim_thay" and "Không tìm thấy" in error["thong_bao"]
    assert lookups_sent(sandbox) == 1  # a permanent answer is not retried


def test_5xx_then_success_is_retried_by_the_job(client, db_session, jobs, registry, sandbox):
    fault(sandbox, mode="error", status=503, count=1)
    dossier = submit_with_mother(db_session)
    assert run_jobs(jobs) == ["retry", "done"]
    [call] = calls(dossier)
    assert call.state == "done" and call.attempts == 2
    assert lookups_sent(sandbox) == 2
    assert ready_titles(dossier) == ["Tiếp nhận hồ sơ"]


def test_timeouts_exhaust_the_attempts_then_an_incident_is_retried_over_the_api(
        client, db_session, jobs, registry, sandbox, token):
    fault(sandbox, mode="timeout", delay_ms=1200, count=3)
    dossier = submit_with_mother(db_session)
    assert run_jobs(jobs) == ["retry", "retry", "incident"]
    [call] = calls(dossier)
    assert call.state == "failed" and call.error_code == "timeout" and call.attempts == 3
    assert ready_titles(dossier) == []
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.dossier_id == dossier.id,
                                                      AuditEvent.action == "incident")) is not None

    headers = token("tiepnhan")
    listed = client.get("/api/v1/incidents", headers=headers).get_json()["items"]
    assert [(i["id"], i["dossier_code"], i["error"]["code"]) for i in listed] == [(call.id, dossier.code, "timeout")]
    assert client.get("/api/v1/incidents", headers=token("ca.tiepnhan")).get_json()["items"] == []  # other agency
    assert client.post(f"/api/v1/incidents/{call.id}/retry", headers=token("ca.tiepnhan")).status_code == 404

    response = client.post(f"/api/v1/incidents/{call.id}/retry", headers=headers)
    assert response.status_code == 202 and response.get_json()["state"] == "pending"
    assert client.post(f"/api/v1/incidents/{call.id}/retry", headers=headers).status_code == 409  # already queued
    assert run_jobs(jobs) == ["done"]
    db.session.refresh(call)
    assert (call.state, call.rounds) == ("done", 2)
    log = db.session.scalars(select(RegistryLookup).where(RegistryLookup.dossier_id == dossier.id)
                             .order_by(RegistryLookup.id)).all()
    assert log[0].user_id is None and log[-1].user_id == user("tiepnhan").id  # the retry is on the operator
    assert ready_titles(dossier) == ["Tiếp nhận hồ sơ"]
    assert client.get("/api/v1/incidents", headers=headers).get_json()["items"] == []


def test_incident_page_lists_and_retries(client, db_session, jobs, registry, sandbox):
    fault(sandbox, mode="error", status=500, count=3)
    dossier = submit_with_mother(db_session)
    run_jobs(jobs)
    [call] = calls(dossier)
    assert call.state == "failed"
    login(client, "tiepnhan")
    assert "1 sự cố đang chờ xử lý" in client.get("/can-bo/").get_data(as_text=True)
    page = lxml.html.fromstring(client.get("/can-bo/su-co").data)
    row = page.get_element_by_id(f"incident-{call.id}")
    assert dossier.code in row.text_content() and "Tra cứu thông tin người mẹ" in row.text_content()
    response = client.post(f"/can-bo/su-co/{call.id}/thu-lai")
    assert response.status_code == 303
    assert run_jobs(jobs) == ["done"]
    assert ready_titles(dossier) == ["Tiếp nhận hồ sơ"]
    task = db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id))
    client.post(f"/cong-viec/{task.id}/nhan")
    task_page = lxml.html.fromstring(client.get(f"/cong-viec/{task.id}").data)
    assert "Đã có kết quả" in task_page.get_element_by_id("service-calls").text_content()
    # What the population database says about the mother, next to what the applicant declared.
    [found] = task_page.find_class("lookup-result")
    assert "Tra cứu thông tin người mẹ" in found.text_content() and "Trần Thị Bình" in found.text_content()
    assert MOTHER_ID in found.text_content()


def test_open_circuit_fails_fast_without_calling_then_recovers(client, db_session, jobs, registry, sandbox):
    breaker = registry.connectors["population"].client.breaker
    breaker.threshold, breaker.reset_after = 2, 60.0
    fault(sandbox, mode="error", status=502, count=2)
    dossier = submit_with_mother(db_session)
    assert run_jobs(jobs) == ["retry", "retry", "incident"]
    assert lookups_sent(sandbox) == 2  # the third attempt met an open circuit and sent nothing
    [call] = calls(dossier)
    assert call.error_code == "circuit_open" and breaker.state == "open"
    breaker.reset_after = 0.0  # time passes: the breaker lets one trial call through
    client.application.test_request_context().push()
    login(client, "tiepnhan")
    assert client.post(f"/can-bo/su-co/{call.id}/thu-lai").status_code == 303
    assert run_jobs(jobs) == ["done"]
    assert breaker.state == "closed" and lookups_sent(sandbox) == 3


def test_rq_worker_runs_a_duplicated_service_job_once(client, db_session, jobs, registry, sandbox):
    # A queue of this test's own: a worker of another test process must not take (and skip) its job.
    name = f"{QUEUE_CONNECTORS}-{uuid.uuid4().hex[:8]}"
    redis = Redis.from_url(REDIS_URL)
    queue = Queue(name, connection=redis)
    dossier = submit_with_mother(db_session)
    rq = RqDispatcher(REDIS_URL)
    for job in [j for j in jobs.jobs if j.func == SVC]:
        assert job.queue == QUEUE_CONNECTORS
        rq.dispatch(replace(job, queue=name))
        rq.dispatch(replace(job, queue=name))
    jobs.jobs.clear()
    SimpleWorker([queue], connection=redis).work(burst=True)
    [call] = calls(dossier)
    db.session.refresh(call)
    assert call.state == "done" and lookups_sent(sandbox) == 1
    queue.empty()


def test_a_call_whose_job_was_lost_shows_as_stalled_and_can_be_retried(client, db_session, jobs, registry,
                                                                        sandbox, token):
    from datetime import timedelta

    dossier = submit_with_mother(db_session)
    jobs.jobs.clear()  # Redis was flushed, or the embedded worker died with the process
    [call] = calls(dossier)
    headers = token("tiepnhan")
    assert client.get("/api/v1/incidents", headers=headers).get_json()["items"] == []  # not yet overdue
    call.updated_at = call.updated_at - timedelta(hours=1)
    db_session.commit()
    [listed] = client.get("/api/v1/incidents", headers=headers).get_json()["items"]
    assert (listed["id"], listed["state"], listed["stalled"]) == (call.id, "pending", True)
    assert client.post(f"/api/v1/incidents/{call.id}/retry", headers=headers).status_code == 202
    assert run_jobs(jobs) == ["done"]
    assert ready_titles(dossier) == ["Tiếp nhận hồ sơ"]

"""Follow-up work runs as jobs enqueued after commit: on rq with real Redis, or in-process."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace

import requests
from redis import Redis
from rq import Queue, SimpleWorker
from sqlalchemy import select

from app.extensions import db
from app.jobs.queue import QUEUE_NOTIFICATIONS, RqDispatcher
from app.models import Notification
from tests.conftest import REDIS_URL, user
from tests.samples import requests_uploader, start_data, with_stored_uploads, with_uploads


def test_jobs_are_enqueued_only_after_commit(client, db_session, jobs):
    from app.dossiers.services import submit_dossier

    submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), user("congdan")), applicant=user("congdan"))
    assert jobs.jobs == []  # nothing leaves before the commit
    db_session.rollback()
    db_session.commit()
    assert jobs.jobs == []  # a rolled-back change enqueues nothing

    dossier = submit_dossier(
        "1.001193", with_stored_uploads(start_data("khai-sinh"), user("congdan")), applicant=user("congdan")
    )
    db_session.commit()
    assert [j.func for j in jobs.jobs] == ["app.jobs.tasks.notify_status_change"]
    assert all(isinstance(a, int) for j in jobs.jobs for a in j.args)
    ids = jobs.run_all()
    note = db.session.get(Notification, ids[0])
    assert note.dossier_id == dossier.id and dossier.code in note.subject


def test_rq_worker_on_real_redis_runs_the_job_once(client, db_session, jobs):
    from app.dossiers.services import submit_dossier

    # A queue of this test's own: a worker of another test process must not take its job.
    name = f"{QUEUE_NOTIFICATIONS}-{uuid.uuid4().hex[:8]}"
    redis = Redis.from_url(REDIS_URL)
    queue = Queue(name, connection=redis)
    dossier = submit_dossier(
        "1.001193", with_stored_uploads(start_data("khai-sinh"), user("congdan")), applicant=user("congdan")
    )
    db_session.commit()
    rq = RqDispatcher(REDIS_URL)
    for job in jobs.jobs:
        assert job.queue == QUEUE_NOTIFICATIONS
        rq.dispatch(replace(job, queue=name))
        rq.dispatch(replace(job, queue=name))  # a duplicated enqueue (same job id) must not duplicate the effect
    jobs.jobs.clear()
    assert queue.count >= 1
    SimpleWorker([queue], connection=redis).work(burst=True)
    notes = db.session.scalars(select(Notification).where(Notification.dossier_id == dossier.id)).all()
    assert len(notes) == 1
    queue.empty()


def test_in_process_worker_delivers_after_commit(live_server, live_token):
    headers = live_token("congdan")
    response = requests.post(
        f"{live_server.url}/api/v1/procedures/1.001193/dossiers",
        json=with_uploads(requests_uploader(live_server.url), headers, start_data("khai-sinh")),
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 201, response.text
    code = response.json()["code"]
    with live_server.app.app_context():
        from app.models import Dossier

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
            notes = db.session.scalars(select(Notification).where(Notification.dossier_id == dossier.id)).all()
            if notes:
                break
            db.session.remove()
            time.sleep(0.1)
        assert notes and notes[0].recipient == dossier.applicant_email
        db.session.remove()


def test_a_delayed_job_waits_in_the_rq_scheduler():
    from rq.registry import ScheduledJobRegistry

    from app.jobs.queue import PendingJob

    name = f"test-delayed-{uuid.uuid4().hex[:8]}"
    redis = Redis.from_url(REDIS_URL)
    rq = RqDispatcher(REDIS_URL)
    rq.dispatch(PendingJob(name, "builtins.print", ("later",), f"{name}-1", delay=30, retry=False))
    queue = Queue(name, connection=redis)
    assert queue.count == 0  # not runnable yet
    assert ScheduledJobRegistry(queue=queue).get_job_ids() == [f"{name}-1"]
    ScheduledJobRegistry(queue=queue).remove(f"{name}-1", delete_job=True)


def test_a_job_waiting_for_an_unflushed_row_s_id_gets_it_at_commit(db_session, jobs):
    from app.jobs.queue import IdOf, enqueue_after_commit
    from app.jobs.tasks import notify_status_change
    from app.models import AuditEvent, Dossier

    dossier_id = db.session.scalar(select(Dossier.id).limit(1))
    if dossier_id is None:
        from app.dossiers.services import submit_dossier

        dossier_id = submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), user("congdan")),
                                    applicant=user("congdan")).id
        db_session.commit()
        jobs.jobs.clear()
    event = AuditEvent(dossier_id=dossier_id, actor_name="", action="status", status_from=1, status_to=2)
    db.session.add(event)
    enqueue_after_commit(db.session, QUEUE_NOTIFICATIONS, notify_status_change, dossier_id, IdOf(event),
                         job_id=(f"notify-{dossier_id}-", IdOf(event)))
    assert event.id is None  # nothing was flushed for it
    db_session.commit()
    [job] = jobs.jobs
    assert job.args == (dossier_id, event.id) and job.job_id == f"notify-{dossier_id}-{event.id}"

"""Nothing lost when a job is: what is due lives in the database and the sweeper re-enqueues it.

Each test loses a job the way production does — the queue refuses it after commit, Redis restarts empty with
delayed retries in it, a worker dies in the middle of a call, a retry job vanishes — and shows that one sweep
(`app.jobs.sweeper.sweep`, which the workers and the embedded job thread run every SWEEP_INTERVAL seconds)
brings the work back, done once. Real PostgreSQL, Redis and the demo national services over HTTP.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from redis import Redis
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from app.clock import now_utc
from app.dossiers import payments, services
from app.extensions import db
from app.jobs import sweeper
from app.jobs.queue import QUEUE_CONNECTORS, RqDispatcher
from app.models import AuditEvent, Notification, Payment, PortalOutbox, ServiceCall
from connectors import build_registry
from sandbox.smtp import Mailbox, start_smtp_sink
from tests.conftest import user
from tests.integration.test_payments import on_platform, submit_online
from tests.integration.test_portal_sync import advance, outage, received, registry  # noqa: F401
from tests.integration.test_service_calls import calls, lookups_sent, ready_titles, run_jobs, submit_with_mother
from tests.samples import start_data, with_stored_uploads


@pytest.fixture()
def no_grace(app, monkeypatch):
    """Work counts as lost as soon as it is due (production waits SWEEP_GRACE for its job to arrive)."""
    monkeypatch.setitem(app.config, "SWEEP_GRACE", 0)


def lose_jobs_after_commit(jobs, monkeypatch):
    """The queue refuses every job once the transaction has committed (Redis down at that moment)."""
    def refuse(job):
        raise ConnectionError("queue unreachable")

    monkeypatch.setattr(jobs, "dispatch", refuse)


def own(jobs, dossier_id: int, func: str = "") -> list[Any]:
    """The recorded jobs (of `func`) that concern this test's dossier (the sweep may find others' work)."""
    return [j for j in jobs.jobs if f"-{dossier_id}-" in (j.job_id or "") and j.func.endswith(func)]


# ---------------------------------------------------------------- lost after commit


@pytest.fixture()
def mailbox(app, national, monkeypatch) -> Iterator[Mailbox]:
    """The national services, plus email through the demo SMTP sink."""
    controller, box = start_smtp_sink()
    settings = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": controller.port, "MAIL_SENDER": "motcua@example.vn",
                "CONNECTOR_TIMEOUT": 2}
    mail = build_registry(settings)
    for operation_id in mail.ids():
        national.register(mail.get(operation_id))
    yield box
    controller.stop()


def test_jobs_refused_after_commit_are_run_by_the_sweeper(client, db_session, jobs, mailbox, sandbox, monkeypatch,
                                                          no_grace):
    with monkeypatch.context() as m:
        lose_jobs_after_commit(jobs, m)
        dossier = submit_with_mother(db_session)  # its notification and its registry look-up: both jobs lost
    assert jobs.jobs == [] and mailbox.read() == []
    [call] = calls(dossier)
    assert call.state == "pending" and call.attempts == 0

    counts = sweeper.sweep()
    assert counts["notifications"] >= 1 and counts["service_calls"] >= 1
    assert sorted(j.job_id for j in own(jobs, dossier.id)) == sorted(
        [f"notify-{dossier.id}-{db.session.scalar(select(AuditEvent.id).where(AuditEvent.dossier_id == dossier.id))}",
         f"svc-{dossier.id}-{call.engine_task_id}-1-1"])
    jobs.jobs[:] = own(jobs, dossier.id)
    run_jobs(jobs)
    db.session.refresh(call)
    assert call.state == "done" and ready_titles(dossier) == ["Tiếp nhận hồ sơ"]
    [mail] = mailbox.read()
    assert dossier.code in mail["subject"]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.dossier_id == dossier.id))
    db.session.refresh(event)
    assert event.notified_at is not None
    # Done is done: the next sweep finds nothing of this dossier.
    jobs.jobs.clear()
    sweeper.sweep()
    assert own(jobs, dossier.id) == []


# ---------------------------------------------------------------- a worker dies in the middle of a call


class Killed(BaseException):
    """The worker process dies (SIGKILL): nothing after this point of the job runs."""


def test_a_call_whose_worker_died_mid_call_is_retried_once_after_its_lease(client, db_session, jobs, national,
                                                                          sandbox, monkeypatch, no_grace):
    from app.dossiers import service_calls

    dossier = submit_with_mother(db_session)
    [job] = own(jobs, dossier.id, "run_service_call")
    jobs.jobs.clear()
    real_call_out = service_calls.call_out

    def call_then_die(call, commit):
        real_call_out(call, commit)  # the registry answered ...
        raise Killed()  # ... and the worker was killed before the answer was written

    with monkeypatch.context() as m:
        m.setattr(service_calls, "call_out", call_then_die)
        with pytest.raises(Killed):
            jobs.dispatch(job)
            jobs.run_all()
    db.session.rollback()
    [call] = calls(dossier)
    db.session.refresh(call)
    assert (call.state, call.attempts) == ("pending", 1) and call.lease_until is not None
    sweeper.sweep()
    assert own(jobs, dossier.id, "run_service_call") == []  # the lease still runs: the attempt may be alive

    # The lease runs out (SERVICE_CALL_LEASE): the worker is dead, the next attempt is made, once.
    db.session.execute(update(ServiceCall).where(ServiceCall.id == call.id)
                       .values(lease_until=now_utc() - timedelta(seconds=1)))
    db_session.commit()
    sweeper.sweep()
    sweeper.sweep()  # a second sweep (another worker) before the job ran: the same job id, still one attempt
    retries = own(jobs, dossier.id, "run_service_call")
    assert {j.job_id for j in retries} == {f"svc-{dossier.id}-{call.engine_task_id}-1-2"}
    jobs.jobs[:] = retries
    run_jobs(jobs)
    db.session.refresh(call)
    assert (call.state, call.attempts) == ("done", 2)
    assert ready_titles(dossier) == ["Tiếp nhận hồ sơ"]
    applied = db.session.scalars(select(AuditEvent.action).where(AuditEvent.dossier_id == dossier.id,
                                                                 AuditEvent.action == "service_done")).all()
    assert applied == ["service_done"]  # the result went into the workflow once
    assert lookups_sent(sandbox) == 2  # the dead attempt's and the retry's (a look-up: asking again is harmless)


# ---------------------------------------------------------------- payments


def test_a_dropped_callback_and_a_lost_re_query_still_end_with_the_payment_applied(
        client, db_session, jobs, national, sandbox, monkeypatch, no_grace):
    monkeypatch.setitem(client.application.config, "PAYMENT_RECHECK", "1,60")
    requests.post(f"{sandbox}/_payment/callback-faults", json={"mode": "drop", "count": 1}, timeout=5)
    dossier = services.submit_dossier("1.004222", with_stored_uploads(start_data("thuong-tru"), user("congdan")),
                                      applicant=user("congdan"), channel=2)
    db_session.commit()
    for _ in range(5):  # the payment step runs; its first re-query is queued for 1 s later ...
        jobs.jobs[:] = [j for j in jobs.jobs if not (j.job_id or "").startswith("pay-check-")]  # ... and lost
        if not jobs.jobs:
            break
        jobs.run_all()
    [payment] = payments.payments_of(dossier)
    assert payment.state == "pending" and payment.next_check_at is not None
    on_platform(sandbox, payment)  # paid; the callback is dropped and the browser never comes back
    sweeper.sweep()
    assert own(jobs, payment.id, "recheck_payment") == []  # not due yet
    time.sleep(max(0.0, (payment.next_check_at - now_utc()).total_seconds()) + 0.1)
    sweeper.sweep()
    assert [j.job_id for j in jobs.jobs if (j.job_id or "").startswith("pay-check-")] == [f"pay-check-{payment.id}-1"]
    run_jobs(jobs)
    db.session.refresh(payment)
    assert payment.state == "paid" and payment.checks == 1
    assert ready_titles(dossier) == ["Tiếp nhận hồ sơ"]


def test_a_payment_pending_past_its_re_queries_is_an_incident(client, db_session, jobs, national, sandbox,
                                                               monkeypatch):
    from app.dossiers.stalls import is_stalled

    dossier = submit_online(db_session, jobs)
    monkeypatch.setitem(client.application.config, "PAYMENT_RECHECK", "60")
    [payment] = payments.payments_of(dossier)
    [call] = [c for c in calls(dossier) if c.operation == "payment.collect"]
    assert call.state == "waiting" and not is_stalled(call)
    # An hour on, the platform never answered a re-query: the payment is still pending here.
    long_ago = now_utc() - timedelta(hours=1)
    db.session.execute(update(Payment).where(Payment.id == payment.id).values(created_at=long_ago))
    db.session.execute(update(ServiceCall).where(ServiceCall.id == call.id).values(updated_at=long_ago))
    db_session.commit()
    assert is_stalled(call)


def test_a_refund_whose_job_was_lost_is_carried_out_once(client, db_session, jobs, national, sandbox, token,
                                                          no_grace):
    from app.models import Refund
    from tests.integration.test_payments import platform_payments

    dossier = submit_online(db_session, jobs)
    [payment] = payments.payments_of(dossier)
    client.get(on_platform(sandbox, payment))
    jobs.jobs.clear()  # (the e-receipt: not this test's business)
    assert client.post(f"/api/v1/payments/{payment.id}/refund", json={"so_tien": 4000, "ly_do": "Thu thừa"},
                       headers=token("ca.tiepnhan")).status_code == 202
    jobs.jobs.clear()  # the refund's job is lost
    [request] = db.session.scalars(select(Refund).where(Refund.payment_id == payment.id)).all()
    sweeper.sweep()
    [job] = [j for j in jobs.jobs if j.func.endswith("refund_job") and j.args == (request.id,)]
    sweeper.sweep()  # queued again only after the longest retry pause, not at every sweep
    assert [j for j in jobs.jobs if j.func.endswith("refund_job") and j.args == (request.id,)] == [job]
    jobs.jobs[:] = [job, job]  # and a duplicate of it changes nothing
    assert jobs.run_all() == ["refunded", "skipped"]
    db.session.refresh(payment)
    assert payment.refunded_amount == 4000
    assert platform_payments(sandbox)[payment.transaction_id]["so_tien_hoan"] == 4000


# ---------------------------------------------------------------- notifications


def test_an_email_whose_stamp_was_lost_is_not_received_twice(client, db_session, jobs, mailbox, monkeypatch,
                                                             no_grace):
    from app.jobs.tasks import notify_status_change

    applicant = user("congdan")
    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), applicant),
                                      applicant=applicant)
    db_session.commit()
    [job] = [j for j in jobs.jobs if j.func.endswith("notify_status_change")]
    jobs.jobs.clear()
    sent = {"armed": False}
    real_call = client.application.extensions["motcua_connectors"].call

    def call(operation_id, params):
        answer = real_call(operation_id, params)
        sent["armed"] = operation_id == "notify.send_email"
        return answer

    real_commit = db.session.registry().commit

    def commit():
        if sent["armed"]:  # the database connection drops as the "sent" stamp is committed
            sent["armed"] = False
            db.session.rollback()
            raise OperationalError("UPDATE notification", {}, Exception("server closed the connection"))
        real_commit()

    with monkeypatch.context() as m:
        m.setattr(client.application.extensions["motcua_connectors"], "call", call)
        m.setattr(db.session, "commit", commit)
        with pytest.raises(OperationalError):
            notify_status_change(*job.args)
    note = db.session.scalar(select(Notification).where(Notification.dossier_id == dossier.id))
    assert note.sent_at is None and len(mailbox.read()) == 1  # sent, but not stamped

    sweeper.sweep()  # the job failed: the status change is still owed a notification
    [again] = own(jobs, dossier.id)
    jobs.jobs[:] = [again]
    jobs.run_all()
    db.session.refresh(note)
    assert note.sent_at is not None
    [mail] = mailbox.read()  # the receiver saw the same Message-ID again and delivered it once
    assert mail["message_id"] == f"<thong-bao-{note.id}@motcua>"
    assert mailbox.dump()["duplicates"] == {mail["message_id"]: 1}


# ---------------------------------------------------------------- the national portal


@pytest.fixture()
def portal_registry(registry, app, monkeypatch):  # noqa: F811  (the imported fixture, by name)
    """test_portal_sync's connectors to the sandbox portal, with a retry pause past the 1 s a later job may come
    early."""
    monkeypatch.setitem(app.config, "SERVICE_CALL_DELAYS", "3")
    return registry


def test_a_portal_row_whose_retry_job_was_lost_does_not_hold_back_the_later_ones(
        client, db_session, jobs, portal_registry, sandbox, monkeypatch, no_grace):
    from app.jobs.portal import sync_dossier

    outage(sandbox, 1)
    citizen = user("congdan")
    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), citizen),
                                      applicant=citizen)
    db_session.commit()
    assert sync_dossier(dossier.id) == "retry"  # the portal was down: a retry is queued for 1 s later ...
    jobs.jobs.clear()  # ... and lost with Redis
    advance(db_session, dossier)  # reception: more rows for the portal, and their own job
    assert [sync_dossier(*j.args) for j in jobs.jobs if j.func.endswith("sync_dossier")] == ["waiting"]
    jobs.jobs.clear()
    head = db.session.scalar(select(PortalOutbox).where(PortalOutbox.dossier_id == dossier.id,
                                                        PortalOutbox.sent_at.is_(None)).order_by(PortalOutbox.id))
    time.sleep(max(0.0, (head.next_attempt_at - now_utc()).total_seconds()) + 0.1)
    sweeper.sweep()
    [retry] = own(jobs, dossier.id, "sync_dossier")
    assert retry.job_id == f"portal-{dossier.id}-{head.id}-r1"  # the lost retry's own id
    assert sync_dossier(*retry.args).startswith("sent:")
    versions = [r["phien_ban"] for r in received(sandbox, dossier.code) if r.get("phien_ban") is not None]
    assert versions == sorted(versions) and len(versions) >= 2
    assert db.session.scalar(select(PortalOutbox.id).where(PortalOutbox.dossier_id == dossier.id,
                                                           PortalOutbox.sent_at.is_(None))) is None


# ---------------------------------------------------------------- Redis restarts with its data lost


@pytest.fixture()
def private_redis(tmp_path) -> Iterator[Any]:
    """A Redis of this test's own on a free port, restartable with its data lost (nothing else uses it)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    class Server:
        url = f"redis://127.0.0.1:{port}/0"
        process: subprocess.Popen[bytes] | None = None

        def start(self) -> None:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(100):
                try:
                    if Redis.from_url(self.url).ping():
                        return
                except Exception:  # noqa: BLE001 - not up yet
                    time.sleep(0.05)
            raise RuntimeError("redis-server did not start")

        def restart_empty(self) -> None:
            assert self.process is not None
            self.process.kill()
            self.process.wait()
            self.start()

    server = Server()
    server.start()
    yield server
    if server.process is not None:
        server.process.kill()
        server.process.wait()


def test_delayed_retries_survive_a_redis_restart_with_its_data_lost(app, client, db_session, national, sandbox,
                                                                     monkeypatch, private_redis, no_grace):
    from app.jobs.service_calls import run_service_call

    dispatcher = RqDispatcher(private_redis.url)
    monkeypatch.setitem(app.extensions, "motcua_jobs", dispatcher)
    monkeypatch.setitem(app.config, "REDIS_URL", private_redis.url)
    monkeypatch.setitem(app.config, "SERVICE_CALL_DELAYS", "1")
    requests.post(f"{sandbox}/_faults", json={"path_prefix": "/dan-cu", "mode": "error", "status": 503, "count": 1},
                  timeout=5).raise_for_status()
    dossier = submit_with_mother(db_session)
    [call] = calls(dossier)
    assert run_service_call(call.id, 1, 1) == "retry"  # attempt 1 failed: attempt 2 is scheduled in rq, 1 s on
    redis = Redis.from_url(private_redis.url)
    assert any(b"svc-" in key for key in redis.keys("rq:job:*"))
    private_redis.restart_empty()
    assert redis.keys("rq:*") == []  # queued and scheduled jobs are gone

    db.session.refresh(call)
    time.sleep(max(0.0, (call.next_attempt_at - now_utc()).total_seconds()) + 0.1)
    # A worker comes back (burst: it works off what there is, then stops); its loop sweeps first.
    result = app.test_cli_runner().invoke(args=["worker", "--burst", "--queue", QUEUE_CONNECTORS])
    assert result.exit_code == 0, result.output
    call = db.session.get(ServiceCall, call.id)  # the worker's app context closed the session
    assert (call.state, call.attempts) == ("done", 2)
    assert ready_titles(call.dossier) == ["Tiếp nhận hồ sơ"]


# ---------------------------------------------------------------- embedded mode: a restart


def _call_state(app) -> tuple[str, int, Any]:
    with app.app_context():
        call = db.session.scalar(select(ServiceCall).order_by(ServiceCall.id.desc()))
        result = (call.state, call.attempts, call.next_attempt_at) if call is not None else ("", 0, None)
        db.session.remove()
        return result


def _wait_for(app, condition, seconds: float = 20.0) -> tuple[str, int, Any]:
    deadline = time.monotonic() + seconds
    state = _call_state(app)
    while not condition(state) and time.monotonic() < deadline:
        time.sleep(0.1)
        state = _call_state(app)
    return state


def test_embedded_delayed_retries_survive_a_restart(tmp_path, sandbox):
    """No Redis: jobs run in the process's own thread, a delayed retry on a timer in memory. The process
    stops before the retry is due; the next one finds it in the database and makes it."""
    from app.subscriptions import add_platform_operations
    from tests.conftest import make_app, prepare_database
    from tests.samples import MOTHER_ID

    for hook in ("_faults", "_log"):
        requests.delete(f"{sandbox}/{hook}", timeout=5)
    url = f"sqlite:///{tmp_path / 'motcua.db'}"
    settings = {"JOB_DISPATCH": "auto", "REDIS_URL": "", "SWEEP_GRACE": 0, "SERVICE_CALL_DELAYS": "2"}

    def start(sweep_every: float) -> Any:
        app = make_app(url, tmp_path, SWEEP_INTERVAL=sweep_every, **settings)
        app.extensions["motcua_connectors"] = add_platform_operations(build_registry(
            {"POPULATION_URL": sandbox, "POPULATION_TOKEN": "sandbox-test-token", "CONNECTOR_ATTEMPTS": 1,
             "CONNECTOR_TIMEOUT": 2}))
        return app

    first = start(3600)
    prepare_database(first)
    requests.post(f"{sandbox}/_faults", json={"path_prefix": "/dan-cu", "mode": "error", "status": 503, "count": 1},
                  timeout=5).raise_for_status()
    with first.app_context():
        data = with_stored_uploads(start_data("khai-sinh"), user("congdan"))
        data["me"].update({"so_dinh_danh": MOTHER_ID})
        services.submit_dossier("1.001193", data, applicant=user("congdan"))
        db.session.commit()
        db.session.remove()
    state = _wait_for(first, lambda s: s[1] == 1 and s[2] is not None)
    assert state[:2] == ("pending", 1)  # attempt 1 failed; attempt 2 waits on a timer, 2 s on ...
    first.extensions["motcua_jobs"].stop()  # ... and the process stops before it fires
    with first.app_context():
        db.engine.dispose()
    time.sleep(2.5)
    assert _call_state(first)[:2] == ("pending", 1)  # the timer fired into a process that was gone

    second = start(0.2)  # the restarted process
    try:
        assert _wait_for(second, lambda s: s[0] == "done")[:2] == ("done", 2)
    finally:
        second.extensions["motcua_jobs"].stop()
        with second.app_context():
            db.engine.dispose()


# ---------------------------------------------------------------- the worker supervises rq's scheduler


def test_the_worker_starts_a_dead_scheduler_again_at_once(app, private_redis):
    from app.jobs.queue import app_worker

    ticks: list[int] = []
    worker = app_worker(app, [QUEUE_CONNECTORS], Redis.from_url(private_redis.url), periodic=lambda: ticks.append(1),
                        interval=1)
    worker._start_scheduler()
    scheduler = worker.scheduler
    try:
        assert scheduler._process is not None and scheduler._process.is_alive()
        worker.last_cleaned_at = now_utc()  # rq's own maintenance (every 10 minutes) has just run
        worker.run_maintenance_tasks()
        assert ticks == [1]  # the sweep runs from the worker's loop
        # The scheduler dies (a Redis restart in the middle of one of its calls does this; rq 2.12 survives one that
        # falls between its loops, so the death is made certain here).
        scheduler._process.kill()
        scheduler._process.join(timeout=60)
        assert not scheduler._process.is_alive()
        time.sleep(1.05)  # the next pass of the worker's loop, SWEEP_INTERVAL later
        assert worker.should_run_maintenance_tasks
        worker.run_maintenance_tasks()
        assert scheduler._process is not None and scheduler._process.is_alive() and ticks == [1, 1]
    finally:
        if scheduler._process is not None and scheduler._process.is_alive():
            scheduler._process.kill()
            scheduler._process.join(timeout=10)


def test_flask_sweep_runs_one_pass_by_hand(app, client, db_session, jobs, national, sandbox, monkeypatch, no_grace):
    with monkeypatch.context() as m:
        lose_jobs_after_commit(jobs, m)
        dossier = submit_with_mother(db_session)
    result = app.test_cli_runner().invoke(args=["sweep"])
    assert result.exit_code == 0, result.output
    assert "service_calls" in result.output and "notifications" in result.output
    assert own(jobs, dossier.id, "run_service_call") and own(jobs, dossier.id, "notify_status_change")


def test_of_two_payments_recorded_for_one_fee_the_kept_one_is_handed_on_never_the_refunded_one(
        client, db_session, jobs, national, sandbox):
    """The fee's payment A was recorded paid but its hand-on was lost; a second payment B of the same fee (its
    platform time earlier) was recorded as a double charge, its refund asked for. The sweeper hands A on, once;
    B is never handed on, whatever the order of their platform times."""
    from app.models import Refund

    dossier = submit_online(db_session, jobs)
    [a] = payments.payments_of(dossier)
    [call] = [c for c in calls(dossier) if c.operation == "payment.collect"]
    paid_at = now_utc() - timedelta(minutes=5)
    a.state, a.paid_at = "paid", paid_at
    b = Payment(dossier_id=a.dossier_id, service_call_id=a.service_call_id, transaction_id=a.transaction_id + "B",
                amount=a.amount, state="paid", paid_at=paid_at - timedelta(minutes=1))
    db.session.add(b)
    db.session.flush()
    db.session.add(Refund(payment_id=b.id, request_key=f"HT-{b.transaction_id}-trung", amount=0,
                          reason="Hoàn tiền thanh toán trùng"))
    db_session.commit()
    assert payments.reapply(b.id) == "duplicate"
    db_session.rollback()
    assert payments.reapply(a.id) == "applied"
    db_session.rollback()
    db.session.execute(update(Payment).where(Payment.id.in_((a.id, b.id)))
                       .values(updated_at=now_utc() - timedelta(hours=1)))
    db_session.commit()
    jobs.jobs.clear()
    sweeper.sweep()
    handed = [j for j in jobs.jobs if j.func.endswith("apply_paid") and j.args[0] in (a.id, b.id)]
    assert sorted(j.args[0] for j in handed) == [a.id, b.id]  # both look owed: their step still waits
    jobs.jobs[:] = handed
    assert sorted(jobs.run_all()) == ["applied", "duplicate"]
    db.session.refresh(call)
    assert call.state not in ("pending", "waiting") and ready_titles(dossier) == ["Tiếp nhận hồ sơ"]
    jobs.jobs.clear()
    sweeper.sweep()  # nothing is owed any more: the double charge is not queued again and again
    assert [j for j in jobs.jobs if j.func.endswith("apply_paid") and j.args[0] in (a.id, b.id)] == []


def test_a_database_not_migrated_yet_is_not_swept(tmp_path, caplog):
    """The embedded job thread starts with the app, also for a CLI command run before the migrations: its sweeps
    wait for the tables instead of logging an error per source."""
    from app.jobs import sweeper as sweeper_module
    from tests.conftest import make_app, prepare_database

    app = make_app(f"sqlite:///{tmp_path / 'fresh.db'}", tmp_path, SWEEP_INTERVAL=0)
    with app.app_context(), caplog.at_level("ERROR"):
        assert sweeper_module.sweep() == {}
    assert not [r for r in caplog.records if "sweep of" in r.getMessage()], "the unmigrated tables were swept"
    prepare_database(app)
    with app.app_context():
        assert "notifications" in sweeper_module.sweep()

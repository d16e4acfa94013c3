"""The timer host's exactly-once, on committed data: two workers racing for one timer, a restart of the scheduler
with timers due meanwhile, and the embedded mode (SQLite, no Redis) firing timers from its own job thread.

These need transactions that really commit and connections of their own, so they run on a database of this module
(PostgreSQL) or on an SQLite file, not inside the rolled-back transaction of the other integration tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

import app.clock as platform_clock
from app.dossiers import services
from app.dossiers import timers as timer_host
from app.extensions import db
from app.jobs import sweeper
from app.jobs import timers as timer_jobs
from app.models import AuditEvent, HumanTask, WorkflowInstance
from tests.conftest import _create_database, _drop_database, make_app, prepare_database, user
from tests.samples import start_data, task_data, with_stored_uploads
from tests.timer_support import deploy_khai_sinh, diagram, timer, user_task

WAIT = (f'<bpmn:intermediateCatchEvent id="Timer_Cho" name="Chờ 2 giờ">{timer("timeDuration", "PT2H")}'
        "</bpmn:intermediateCatchEvent>")
PROCESS = diagram(
    '<bpmn:startEvent id="Start_1"/>'
    + user_task("Task_TiepNhan", "Tiếp nhận hồ sơ", "mot_cua", status=1, receives=True) + WAIT
    + user_task("Task_ThamDinh", "Thẩm định", "ho_tich", status=4) + '<bpmn:endEvent id="End_1"/>',
    {"mot_cua": ["Start_1", "Task_TiepNhan"], "ho_tich": ["Timer_Cho", "Task_ThamDinh", "End_1"]},
    [("F0", "Start_1", "Task_TiepNhan"), ("F1", "Task_TiepNhan", "Timer_Cho"), ("F2", "Timer_Cho", "Task_ThamDinh"),
     ("F3", "Task_ThamDinh", "End_1")])


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = _create_database("motcua_timers")
    app = make_app(url, tmp_path_factory.mktemp("timers"))
    prepare_database(app)
    with app.app_context():
        deploy_khai_sinh(PROCESS)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    yield url
    _drop_database(url)


def start_app(url: str, tmp: Path, **config: Any) -> Flask:
    """A new process of the platform, as far as these tests go: its own app, engine, kept runs and dispatcher."""
    return make_app(url, tmp, **config)


def armed_dossier() -> int:
    """A dossier received just now: its workflow waits two hours on its timer. Committed."""
    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), user("congdan")),
                                      applicant=user("congdan"))
    db.session.commit()
    task = db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id))
    services.claim_task(task.id, user("tiepnhan"))
    db.session.commit()
    services.complete_task(task.id, user("tiepnhan"), task_data("khai-sinh", task.form))
    db.session.commit()
    return int(dossier.id)


def fired_entries(dossier_id: int) -> int:
    return int(db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.dossier_id == dossier_id, AuditEvent.action == "timer_fired")) or 0)


def reviews(dossier_id: int) -> int:
    return int(db.session.scalar(select(func.count()).select_from(HumanTask).where(
        HumanTask.dossier_id == dossier_id, HumanTask.title == "Thẩm định")) or 0)


def drains(dispatcher: Any) -> list[int]:
    """Run the timer drain jobs the sweep enqueued (the other sources' jobs are not this test's), as a worker
    would; what each fired."""
    jobs = [job for job in dispatcher.jobs if job.func == "app.jobs.timers.drain"]
    dispatcher.jobs.clear()
    return [timer_jobs.drain(*job.args) for job in jobs]


def in_thread(app: Flask, work: Any, results: dict[str, Any], name: str) -> threading.Thread:
    def run() -> None:
        with app.app_context():
            try:
                results[name] = work()
            except Exception as exc:  # reported by the test
                results[name] = exc
            finally:
                db.session.remove()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread


def test_worked_example_two_workers_racing_for_one_timer_fire_it_once(pg_url, tmp_path, clock, monkeypatch):
    app = start_app(pg_url, tmp_path)
    with app.app_context():
        dossier_id = armed_dossier()
        instance_id = db.session.scalar(select(WorkflowInstance.id).where(WorkflowInstance.dossier_id == dossier_id))
        db.session.remove()
    clock.advance(hours=2, minutes=1)

    # Worker A takes the workflow and is held in the middle of firing it (its row locked, nothing committed).
    inside, release = threading.Event(), threading.Event()
    real_load = timer_host.load_run

    def held_load(instance: Any, bundle: Any) -> Any:
        if threading.current_thread().name == "A":
            inside.set()
            assert release.wait(30)
        return real_load(instance, bundle)

    monkeypatch.setattr(timer_host, "load_run", held_load)
    results: dict[str, Any] = {}
    a = in_thread(app, lambda: timer_jobs.drain(seconds=30), results, "A")
    assert inside.wait(30)
    # Worker B drains at the same moment: the due workflow is being fired, so it is skipped, not waited on.
    b = in_thread(app, lambda: timer_jobs.drain(seconds=30), results, "B")
    b.join(30)
    assert results["B"] == 0
    # Worker C goes for that very workflow (a targeted firing): it waits on the row lock, then finds it fired.
    c = in_thread(app, lambda: (timer_host.fire(instance_id, platform_clock.now_utc()), db.session.commit())[0],
                  results, "C")
    time.sleep(0.5)
    assert c.is_alive()  # blocked on the row lock held by A
    release.set()
    a.join(30)
    c.join(30)
    assert results["A"] == 1 and results["C"] is False

    with app.app_context():
        assert fired_entries(dossier_id) == 1 and reviews(dossier_id) == 1
        assert db.session.get(WorkflowInstance, instance_id).next_due_at is None
        db.session.remove()
        db.engine.dispose()


def test_many_timers_drained_by_racing_workers_each_fire_once(pg_url, tmp_path, clock):
    app = start_app(pg_url, tmp_path)
    with app.app_context():
        dossiers = [armed_dossier() for _ in range(12)]
        db.session.remove()
    clock.advance(hours=2, minutes=1)
    results: dict[str, Any] = {}
    workers = [in_thread(app, lambda: timer_jobs.drain(seconds=60), results, f"W{i}") for i in range(3)]
    for worker in workers:
        worker.join(90)
    assert not any(isinstance(r, Exception) for r in results.values()), results
    assert sum(results.values()) == len(dossiers)
    with app.app_context():
        assert [fired_entries(d) for d in dossiers] == [1] * len(dossiers)
        assert [reviews(d) for d in dossiers] == [1] * len(dossiers)
        db.session.remove()
        db.engine.dispose()


def test_worked_example_timers_due_while_the_scheduler_was_down_fire_once_after_the_restart(pg_url, tmp_path, clock):
    before = start_app(pg_url, tmp_path)
    with before.app_context():
        early = armed_dossier()
        clock.advance(minutes=30)
        late = armed_dossier()
        clock.advance(hours=5)
        not_yet = armed_dossier()  # armed after the others came due: due two hours after the restart
        db.session.remove()
        db.engine.dispose()
    # The scheduler was down all that time: nothing fired. The platform starts again.
    after = start_app(pg_url, tmp_path, SWEEP_GRACE=30)
    with after.app_context():
        assert fired_entries(early) == fired_entries(late) == 0
        dispatcher = after.extensions["motcua_jobs"]
        dispatcher.jobs.clear()
        counts = sweeper.sweep()
        assert counts["timers"] == 1  # one drain job for the two due workflows
        assert drains(dispatcher) == [2]
        assert (fired_entries(early), fired_entries(late), fired_entries(not_yet)) == (1, 1, 0)
        # How late they fired: the stored due time is in each entry.
        entry = db.session.scalar(select(AuditEvent).where(AuditEvent.dossier_id == early,
                                                           AuditEvent.action == "timer_fired"))
        assert entry.at - entry.step_due_at > timedelta(hours=3)
        # A second sweep (or another restart) finds nothing more due.
        assert sweeper.sweep()["timers"] == 0 and drains(dispatcher) == []
        clock.advance(hours=2, minutes=1)
        assert sweeper.sweep()["timers"] == 1 and drains(dispatcher) == [1]
        assert (fired_entries(early), fired_entries(late), fired_entries(not_yet)) == (1, 1, 1)
        db.session.remove()
        db.engine.dispose()


def test_embedded_mode_fires_timers_from_its_job_thread_also_after_a_restart(tmp_path, clock):
    """SQLite, no Redis: the in-process job thread sweeps (now and every SWEEP_INTERVAL) and drains the timers under
    the per-workflow lock; a timer that came due while the process was down fires once when it starts again."""
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    first = make_app(url, tmp_path, JOB_DISPATCH="auto", SWEEP_INTERVAL=0.2)
    prepare_database(first)
    with first.app_context():
        deploy_khai_sinh(PROCESS)
        db.session.commit()
        running = armed_dossier()
        stopped = armed_dossier()
        db.session.remove()
    clock.advance(hours=2, minutes=1)
    deadline = time.monotonic() + 20
    with first.app_context():
        while fired_entries(running) == 0 and time.monotonic() < deadline:
            db.session.remove()
            time.sleep(0.1)
        assert fired_entries(running) == 1 and reviews(running) == 1
        db.session.remove()
    first.extensions["motcua_jobs"].stop()
    with first.app_context():
        db.engine.dispose()

    # A timer armed, the process stopped, the time passed, the process started again.
    second = make_app(url, tmp_path, JOB_DISPATCH="record")
    with second.app_context():
        later = armed_dossier()
        db.session.remove()
        db.engine.dispose()
    clock.advance(hours=2, minutes=1)
    third = make_app(url, tmp_path, JOB_DISPATCH="auto", SWEEP_INTERVAL=0.2)
    deadline = time.monotonic() + 20
    with third.app_context():
        while fired_entries(later) == 0 and time.monotonic() < deadline:
            db.session.remove()
            time.sleep(0.1)
        time.sleep(0.6)  # a few more sweeps: nothing fires twice
        assert [fired_entries(d) for d in (running, stopped, later)] == [1, 1, 1]
        assert [reviews(d) for d in (running, stopped, later)] == [1, 1, 1]
        db.session.remove()
    third.extensions["motcua_jobs"].stop()
    with third.app_context():
        db.engine.dispose()

"""Exactly once on committed data: two sweepers racing for one leave that begins move its officer's steps once, and
two racing for the completed steps owed to the statistics write their holdings once. These need transactions that
really commit and connections of their own, so they run on a database of this module."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

import app.clock as platform_clock
from app.dossiers import lateness, leave, progress, services
from app.extensions import db
from app.models import AuditEvent, HumanTask, LatenessOwed, StepHolding, User
from tests.conftest import _create_database, _drop_database, make_app, prepare_database, user
from tests.samples import start_data, task_data, with_stored_uploads


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    url = _create_database("motcua_leave")
    yield url
    _drop_database(url)


@pytest.fixture()
def app(pg_url: str, tmp_path: Path) -> Iterator[Flask]:
    application = make_app(pg_url, tmp_path)
    prepare_database(application)
    yield application
    with application.app_context():
        db.engine.dispose()


def in_thread(app: Flask, work: Any, results: dict[str, Any], name: str) -> threading.Thread:
    def run() -> None:
        with app.app_context():
            try:
                results[name] = work()
                db.session.commit()
            except Exception as exc:  # reported by the test
                results[name] = exc
            finally:
                db.session.remove()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread


def claimed_examination(substitute: str) -> tuple[int, int]:
    """A khai sinh dossier whose examination hotich has claimed; a colleague to substitute. Committed."""
    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), user("congdan")),
                                      applicant=user("congdan"))
    [reception] = progress.open_tasks(dossier)
    services.complete_task(reception.id, user("tiepnhan"), task_data("khai-sinh", reception.form))
    [examination] = progress.open_tasks(dossier)
    services.claim_task(examination.id, user("hotich"))
    model = user("hotich")
    other = User(username=substitute, full_name="Người Thay", roles=list(model.roles), agency_id=model.agency_id)
    db.session.add(other)
    db.session.commit()
    return examination.id, other.id


def test_two_sweepers_racing_for_a_leave_that_begins_move_the_steps_once(app, clock, monkeypatch):
    with app.app_context():
        task_id, other_id = claimed_examination("hotich.thay")
        tomorrow = platform_clock.local_today() + timedelta(days=1)
        leave.record_leave(user("hotich"), user("hotich").id, tomorrow, tomorrow, other_id, "Nghỉ phép năm.")
        db.session.commit()
        db.session.remove()
    clock.advance(days=1)
    now = platform_clock.now_utc()

    inside, release = threading.Event(), threading.Event()
    real_apply = leave._apply

    def held_apply(*args: Any) -> Any:
        if threading.current_thread().name == "A":
            inside.set()
            assert release.wait(30)
        return real_apply(*args)

    monkeypatch.setattr(leave, "_apply", held_apply)
    results: dict[str, Any] = {}
    a = in_thread(app, lambda: leave.start_due_leaves(now, now, 500), results, "A")
    assert inside.wait(30)
    b = in_thread(app, lambda: leave.start_due_leaves(now, now, 500), results, "B")
    b.join(30)
    assert results["B"] == 0  # the leave A is applying is skipped, not waited on nor applied twice
    release.set()
    a.join(30)
    assert results["A"] == 1
    c = in_thread(app, lambda: leave.start_due_leaves(now, now, 500), results, "C")
    c.join(30)
    assert results["C"] == 0

    with app.app_context():
        task = db.session.get(HumanTask, task_id)
        assert task.claimed_by_id == other_id and task.state == "claimed"
        moved = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.dossier_id == task.dossier_id, AuditEvent.action == leave.ON_LEAVE))
        assert moved == 1
        db.session.remove()


def test_two_sweepers_racing_for_the_owed_steps_write_their_holdings_once(app, monkeypatch):
    with app.app_context():
        task_id, _ = claimed_examination("hotich.ke")
        services.complete_task(task_id, user("hotich"), task_data("khai-sinh", "tham-dinh.schema.json"))
        db.session.commit()
        assert db.session.get(LatenessOwed, task_id) is not None  # listed by the completion's own statement
        db.session.remove()

    inside, release = threading.Event(), threading.Event()
    real_record = lateness.record_steps

    def held_record(tasks: Any) -> Any:
        if threading.current_thread().name == "A":
            inside.set()
            assert release.wait(30)
        return real_record(tasks)

    monkeypatch.setattr(lateness, "record_steps", held_record)
    results: dict[str, Any] = {}
    now = platform_clock.now_utc()
    a = in_thread(app, lambda: lateness.record_owed(now, now, 500), results, "A")
    assert inside.wait(30)
    b = in_thread(app, lambda: lateness.record_owed(now, now, 500), results, "B")
    b.join(30)
    release.set()
    a.join(30)
    assert results["A"] >= 1 and not isinstance(results["B"], Exception)

    with app.app_context():
        assert db.session.get(LatenessOwed, task_id) is None
        holders = list(db.session.scalars(select(StepHolding.officer_id).where(StepHolding.task_id == task_id)))
        assert holders.count(user("hotich").id) == 1  # written once
        db.session.remove()

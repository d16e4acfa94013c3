"""A step's writes go through statements built once (app.dossiers.rows), not the ORM's unit of work; the objects
they leave in the session are as the unit of work would have left them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, inspect, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from app.dossiers import progress, rows, services
from app.dossiers.workflow_runs import load_run, save_run
from app.extensions import db
from app.models import AuditEvent, Dossier, HumanTask, WorkflowInstance
from tests.conftest import user
from tests.samples import start_data, task_data, with_stored_uploads

OFFICERS = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich", "tra_ket_qua": "traketqua"}


@contextmanager
def flushed_by_the_unit_of_work() -> Iterator[list[str]]:
    """The objects the ORM's flushes wrote (class names), while the block runs."""
    written: list[str] = []

    def before_flush(session: Session, context: Any, instances: Any) -> None:
        written.extend(f"new {type(o).__name__}" for o in session.new)
        written.extend(f"changed {type(o).__name__}" for o in session.dirty if session.is_modified(o))

    event.listen(db.session(), "before_flush", before_flush)
    try:
        yield written
    finally:
        event.remove(db.session(), "before_flush", before_flush)


def _submit() -> Dossier:
    applicant = user("congdan")
    return services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), applicant),
                                   applicant=applicant)


def _ready(dossier_id: int) -> HumanTask | None:
    return db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier_id, HumanTask.state == "ready"))


def test_the_khai_sinh_lifecycle_leaves_nothing_to_the_unit_of_work(db_session: Any) -> None:
    _submit()  # what a process reads once (the version's BPMN, the calendar) is read: a step reads it in no flush
    citizen = user("congdan")
    data = with_stored_uploads(start_data("khai-sinh"), citizen)
    db_session.flush()
    with flushed_by_the_unit_of_work() as written:
        dossier = services.submit_dossier("1.001193", data, applicant=citizen)
    assert written == []
    dossier_id, steps = dossier.id, 0
    while (task := _ready(dossier_id)) is not None:
        officer = user(OFFICERS[task.role])
        services.claim_task(task.id, officer)
        with flushed_by_the_unit_of_work() as written:
            services.complete_task(task.id, officer, task_data("khai-sinh", task.form))
        # The receipt issued at reception is numbered by a sub-query inside its INSERT (app.documents), which the
        # step writer cannot bind: the unit of work writes that one row, in one statement.
        expected = ["new IssuedDocument"] if task.spec_name == "Task_TiepNhan" else []
        assert written == expected, f"step {task.spec_name}: {written}"
        steps += 1
    assert steps == 4
    db_session.expire_all()
    finished = db_session.get(Dossier, dossier_id)
    assert finished.status == 10 and finished.finished_at is not None and finished.returned_at is not None
    assert db_session.scalar(select(WorkflowInstance.completed).where(WorkflowInstance.dossier_id == dossier_id))


@pytest.mark.parametrize("with_update", [False, True], ids=["inserts alone", "with an update: one statement"])
def test_rows_written_with_a_prebuilt_insert_are_those_the_unit_of_work_writes(db_session: Any,
                                                                                 with_update: bool) -> None:
    dossier = _submit()
    db_session.flush()
    unset = AuditEvent(dossier_id=dossier.id, action="test", task_title="unset")  # note_params never set: NULL
    json_null = AuditEvent(dossier_id=dossier.id, action="test", task_title="null", note_params=None)
    given = AuditEvent(dossier_id=dossier.id, action="test", task_title="given", note_params={"a": 1})
    db_session.add_all([unset, json_null, given])
    if with_update:
        dossier.summary = "Tóm tắt mới"
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        rows.write_step((AuditEvent,), dossier)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert len(seen) == 1
    assert not inspect(dossier).modified
    for event_row in (unset, json_null, given):
        state = inspect(event_row)
        assert state.persistent and not state.modified and not state.expired_attributes
        assert event_row.id is not None
    assert unset.id < json_null.id < given.id  # in the order added
    assert (unset.outcome, unset.note, unset.actor_name, unset.at is not None) == ("", "", "", True)
    stored = dict(db_session.execute(text(
        "SELECT task_title, CASE WHEN note_params IS NULL THEN 'sql null' ELSE jsonb_typeof(note_params) END "
        "FROM audit_event WHERE action = 'test'")).all())
    assert stored == {"unset": "sql null", "null": "null", "given": "object"}
    summary = db_session.scalar(text("SELECT summary FROM dossier WHERE id = :id"), {"id": dossier.id})
    assert (summary == "Tóm tắt mới") is with_update


def test_changed_columns_are_written_by_one_prebuilt_update(db_session: Any) -> None:
    dossier = _submit()
    db_session.flush()
    dossier.summary = "Tóm tắt mới"
    rows.update_changed(dossier)
    assert not inspect(dossier).modified and dossier not in db_session.dirty
    assert db_session.scalar(text("SELECT summary FROM dossier WHERE id = :id"), {"id": dossier.id}) == "Tóm tắt mới"


def test_a_workflow_written_since_it_was_read_is_not_overwritten(db_session: Any) -> None:
    dossier = _submit()
    db_session.flush()
    instance = db_session.scalar(select(WorkflowInstance).where(WorkflowInstance.dossier_id == dossier.id))
    run = load_run(instance, progress.bundle_for(dossier.procedure_version))
    version = instance.version
    db_session.execute(update(WorkflowInstance).where(WorkflowInstance.id == instance.id)
                       .values(version=WorkflowInstance.version + 1).execution_options(synchronize_session=False))
    save_run(instance, run, False)
    flag_modified(instance, "document")  # the run did not move: its document is written all the same
    with pytest.raises(StaleDataError):
        rows.write_step((), instance)
    assert instance.version == version
    db_session.connection().execute(update(WorkflowInstance).where(WorkflowInstance.id == instance.id)
                                    .values(version=version))  # the other writer is gone (no autoflush)
    flag_modified(instance, "document")
    rows.write_step((), instance)
    assert instance.version == version + 1 and not inspect(instance).modified
    assert db_session.scalar(select(WorkflowInstance.version).where(WorkflowInstance.id == instance.id)
                             .execution_options(populate_existing=True)) == version + 1


def test_the_answer_after_a_step_reads_its_open_tasks_from_the_step(db_session: Any) -> None:
    dossier = _submit()
    task = _ready(dossier.id)
    assert task is not None
    officer = user(OFFICERS[task.role])
    services.claim_task(task.id, officer)
    services.complete_task(task.id, officer, task_data("khai-sinh", task.form))
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        answered = [t.id for t in services.open_tasks(dossier)]
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert seen == []
    assert answered == list(db_session.scalars(
        select(HumanTask.id).where(HumanTask.dossier_id == dossier.id, HumanTask.state.in_(("ready", "claimed")))
        .order_by(HumanTask.id)))
    assert answered and task.id not in answered

"""A dossier's workflow kept alive between steps through the service layer, on PostgreSQL.

A step takes the kept run only when the row it reads has the very version this process committed; a row another
process saved meanwhile is read from the database; a rolled-back step leaves nothing behind.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import event, select, text

from app.dossiers import service_calls, services
from app.dossiers.progress import bundle_for
from app.dossiers.workflow_runs import WorkflowFinished, live_runs, load_run
from app.eforms import validate
from app.engine.live import LiveRuns
from app.engine.runtime import is_compacted, task_data_in
from app.extensions import db
from app.models import AuditEvent, Dossier, HumanTask, ServiceCall, WorkflowInstance
from tests.conftest import login, user
from tests.samples import start_data, task_data, with_stored_uploads

OFFICERS = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich", "tra_ket_qua": "traketqua"}


def submitted(db_session: Any) -> int:
    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), user("congdan")),
                                      applicant=user("congdan"))
    db_session.commit()
    return int(dossier.id)


def ready(dossier_id: int) -> HumanTask | None:
    """The dossier's open task (ready, or claimed by its officer)."""
    return db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier_id,
                                                     HumanTask.state.in_(("ready", "claimed"))))


def step(db_session: Any, dossier_id: int, commit: bool = True) -> str | None:
    """Claim and complete the dossier's open task as its officer, each a request of its own; its title."""
    task = ready(dossier_id)
    if task is None:
        return None
    task_id, form, title, officer = task.id, task.form, task.title, OFFICERS[task.role]
    if task.state == "ready":
        services.claim_task(task_id, user(officer))
        db_session.commit()
    db_session.expire_all()  # a new request reads every row again
    services.complete_task(task_id, user(officer), task_data("khai-sinh", form))
    if commit:
        db_session.commit()
    else:
        db_session.rollback()
    db_session.expire_all()
    return str(title)


def row(dossier_id: int) -> WorkflowInstance:
    return db.session.scalar(select(WorkflowInstance).where(WorkflowInstance.dossier_id == dossier_id))


def kept(dossier_id: int) -> bool:
    instance = row(dossier_id)
    runs = live_runs()
    key = (instance.id, instance.version)
    run = runs.take(key)
    if run is None:
        return False
    runs.put(key, run)
    return True


def test_each_step_takes_the_run_its_own_commit_kept(db_session: Any) -> None:
    runs = live_runs()
    dossier_id = submitted(db_session)
    assert kept(dossier_id)  # kept after the submission's commit, under the version it wrote
    hits, misses = runs.hits, runs.misses
    titles = []
    while (title := step(db_session, dossier_id)) is not None:
        titles.append(title)
        # Kept while the workflow runs; a finished one is stored compact and never kept.
        assert kept(dossier_id) is not row(dossier_id).completed
    assert runs.misses == misses + 1  # no step reloaded the document (the one miss: the check after the last)
    assert runs.hits - hits == 2 * len(titles) - 1  # each step, and each check here but the last
    assert row(dossier_id).completed and titles[-1] == "Trả kết quả"
    assert db.session.get(Dossier, dossier_id).status == 10


def document_reads(db_session: Any, dossier_id: int) -> int:
    """How many statements read a workflow document while the dossier's next step is taken."""
    reads: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "workflow_instance.document" in statement:
            reads.append(statement)

    engine = db_session.get_bind().engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert step(db_session, dossier_id) is not None
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return len(reads)


def test_a_step_on_the_kept_run_never_reads_the_document(db_session: Any) -> None:
    dossier_id = submitted(db_session)
    assert document_reads(db_session, dossier_id) == 0
    live_runs().clear()  # as if another process had taken the step before
    assert document_reads(db_session, dossier_id) == 1


def test_a_row_saved_elsewhere_is_read_from_the_database(db_session: Any) -> None:
    runs = live_runs()
    dossier_id = submitted(db_session)
    step(db_session, dossier_id)
    instance = row(dossier_id)
    kept_key = (instance.id, instance.version)
    assert kept(dossier_id)
    # Another process saves the workflow: same tasks, one more value for the step now open, version + 1.
    document = instance.document
    open_task = ready(dossier_id).engine_task_id
    entry = document["tasks"][open_task]
    entry["delta"]["updates"]["ghi_chu_noi_khac"] = "ghi ở tiến trình khác"
    db.session.execute(text("UPDATE workflow_instance SET document = CAST(:doc AS json), version = version + 1 "
                            "WHERE id = :id"), {"doc": json.dumps(document), "id": instance.id})
    db_session.commit()
    db_session.expire_all()
    misses = runs.misses
    step(db_session, dossier_id)
    assert runs.misses == misses + 1  # the row was read
    assert runs.take(kept_key) is None  # and the run kept under the old version is gone
    # What the other process wrote went on into the next step, as only a load of the row could know.
    after = row(dossier_id).document
    nxt = ready(dossier_id).engine_task_id
    assert task_data_in(after, nxt)["ghi_chu_noi_khac"] == "ghi ở tiến trình khác"


def test_a_reload_sees_the_document_exactly_as_the_kept_run_wrote_it(db_session: Any) -> None:
    """Key order: the row is stored as written (json, not jsonb), so the run this process kept and a reload of its
    row by any other process see the same data in the same order."""
    dossier_id = submitted(db_session)
    instance = row(dossier_id)
    run = live_runs().take((instance.id, instance.version))
    assert run is not None
    stored = db.session.scalar(text("SELECT document::text FROM workflow_instance WHERE id = :id"),
                               {"id": instance.id})
    assert json.dumps(json.loads(stored)) == json.dumps(run.document())
    # The submission's system fields, in the order the platform wrote them (a jsonb column puts shorter keys first).
    system = task_data_in(json.loads(stored), ready(dossier_id).engine_task_id)["thong_tin_ho_so"]
    assert list(system) == ["ma_ho_so", "le_phi", "kenh", "ma_thu_tuc", "ten_thu_tuc"]


def test_a_rolled_back_step_leaves_no_run_behind(db_session: Any) -> None:
    runs = live_runs()
    dossier_id = submitted(db_session)
    before = row(dossier_id)
    before_key, before_document = (before.id, before.version), before.document
    step(db_session, dossier_id, commit=False)
    assert runs.take(before_key) is None  # taken by the step, and discarded with it
    assert runs.take((before_key[0], before_key[1] + 1)) is None  # nor kept as the version it never committed
    instance = row(dossier_id)
    assert (instance.id, instance.version) == before_key and instance.document == before_document
    assert not kept(dossier_id)
    misses = runs.misses
    assert step(db_session, dossier_id) == "Tiếp nhận hồ sơ"  # the same step again, from the row
    assert runs.misses == misses + 1
    assert kept(dossier_id)


def test_keeping_can_be_turned_off(app: Any, db_session: Any) -> None:
    previous = app.extensions.get("motcua_live_runs")
    app.extensions["motcua_live_runs"] = LiveRuns(0, 0)
    try:
        dossier_id = submitted(db_session)
        assert step(db_session, dossier_id) is not None
        assert len(live_runs()) == 0 and not kept(dossier_id)
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.dossier_id == dossier_id)) is not None
    finally:
        if previous is None:
            app.extensions.pop("motcua_live_runs", None)
        else:
            app.extensions["motcua_live_runs"] = previous


def finished(db_session: Any) -> tuple[int, int]:
    """A khai sinh dossier taken to its end; its id and the size of its full document before the last step."""
    dossier_id = submitted(db_session)
    size = 0
    while ready(dossier_id) is not None:
        size = len(json.dumps(row(dossier_id).document))
        step(db_session, dossier_id)
    return dossier_id, size


def test_a_finished_workflow_is_stored_compact_and_its_dossier_still_shows(client: Any, db_session: Any) -> None:
    dossier_id, full_size = finished(db_session)
    instance = row(dossier_id)
    assert instance.completed and is_compacted(instance.document)
    assert len(json.dumps(instance.document)) < full_size / 2
    assert [s["title"] for s in instance.document["steps"] if s["kind"] == "user"][-1] == "Trả kết quả"
    assert live_runs().take((instance.id, instance.version)) is None  # a compacted run is never kept
    with pytest.raises(WorkflowFinished):
        load_run(instance, bundle_for(db.session.get(Dossier, dossier_id).procedure_version))
    code = db.session.get(Dossier, dossier_id).code
    login(client, "congdan")
    page = client.get(f"/ho-so/{code}")
    assert page.status_code == 200
    text_ = page.get_data(as_text=True)
    assert 'id="history"' in text_ and "Trả kết quả" in text_
    history = services.history(db.session.get(Dossier, dossier_id))
    assert [e.action for e in history].count("completed") == 4


def test_a_late_service_answer_for_a_finished_dossier_is_cancelled_with_a_note(db_session: Any) -> None:
    dossier_id, _ = finished(db_session)
    call = ServiceCall(dossier_id=dossier_id, engine_task_id="gone", spec_name="tra_cuu", title="Tra cứu muộn",
                       operation="population.lookup", params={}, result_variable="ket_qua", state="waiting",
                       attempts=1, rounds=1)
    db.session.add(call)
    db_session.commit()
    answer = service_calls.Answer({"ok": True})
    assert service_calls.feed(call.id, answer.move, answer.settle) == "cancelled"
    db_session.commit()
    db_session.expire_all()
    assert db.session.get(ServiceCall, call.id).state == "cancelled"
    late = db.session.scalars(select(AuditEvent).where(AuditEvent.dossier_id == dossier_id,
                                                       AuditEvent.action == "service_late")).all()
    assert len(late) == 1 and late[0].task_title == "Tra cứu muộn"
    assert is_compacted(row(dossier_id).document)  # left as it was


def test_a_deployed_form_s_validator_is_built_once_per_process(db_session: Any) -> None:
    submitted(db_session)
    step(db_session, submitted(db_session))  # each form used once: their validators exist now
    before = validate.builds
    second = submitted(db_session)
    assert validate.builds == before  # the second submission built no validator
    step(db_session, second)
    assert validate.builds == before  # nor its first step's completion
    with pytest.raises(services.Invalid):  # a cached validator still refuses what is wrong
        services.submit_dossier("1.001193", {"me": "not an object"}, applicant=user("congdan"))
    assert validate.builds == before


def test_a_claim_writes_its_history_entry_only_when_it_takes_the_task(db_session: Any) -> None:
    dossier_id = submitted(db_session)
    task = ready(dossier_id)
    assert task is not None

    def claims() -> list[AuditEvent]:
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.dossier_id == dossier_id,
                                                                AuditEvent.action == "claimed")))

    services.claim_task(task.id, user("tiepnhan"))
    db_session.commit()
    [entry] = claims()
    assert (entry.actor_id, entry.actor_name, entry.task_title) == (
        user("tiepnhan").id, user("tiepnhan").full_name, task.title)
    assert entry.step_due_at == task.due_at and entry.note == "" and entry.note_params is None
    # Taken by someone else meanwhile: the claim is refused and writes nothing.
    db.session.execute(text("UPDATE human_task SET claimed_by_id = :other WHERE id = :id"),
                       {"other": user("hotich").id, "id": task.id})
    db_session.commit()
    db_session.expire_all()
    with pytest.raises(services.Conflict):
        services.claim_task(task.id, user("tiepnhan"))
    db_session.rollback()
    assert len(claims()) == 1

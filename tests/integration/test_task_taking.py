"""Taking a task: the claim is one statement and the completion takes its lock in the statement that loads the
step, each with the rule of who may take a task written in SQL (services.TAKEABLE) beside the same rule as a
predicate (services._may_take). These tests hold the two readings together, check that a completion refused after
its lock leaves nothing behind, and run the same use cases on SQLite, where the statements are separate."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import exists, select

from app.dossiers import services
from app.dossiers.attachments import reference, store_upload
from app.extensions import db
from app.models import Attachment, AuditEvent, Dossier, HumanTask, User
from app.models.user import CITIZEN_ROLE
from tests.conftest import user
from tests.samples import PDF_BYTES, start_data, task_data, with_stored_uploads

OFFICERS = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich", "tra_ket_qua": "traketqua"}


def _submit() -> Dossier:
    applicant = user("congdan")
    return services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), applicant),
                                   applicant=applicant)


def _open_task(dossier_id: int) -> HumanTask:
    task = db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier_id,
                                                     HumanTask.state.in_(("ready", "claimed"))))
    assert task is not None
    return task


def _colleague(username: str) -> User:
    """Another officer of the same agency with the same roles."""
    model = user(username)
    colleague = User(username=f"{username}.2", full_name="Đồng nghiệp", roles=list(model.roles),
                     agency_id=model.agency_id)
    db.session.add(colleague)
    db.session.flush()
    return colleague


def _history(dossier_id: int, action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.dossier_id == dossier_id,
                                                            AuditEvent.action == action)))


def test_the_sql_rule_and_the_predicate_agree_for_every_user_and_task(db_session: Any) -> None:
    dossier = _submit()
    db_session.flush()
    reception = _open_task(dossier.id)
    # A step for the applicant (a supplement, say), of this dossier; and an officer's step of another agency.
    own = HumanTask(dossier_id=dossier.id, agency_id=dossier.agency_id, engine_task_id="t-own", spec_name="bo_sung",
                    title="Bổ sung", lane="", role=CITIZEN_ROLE, state="ready")
    other = next(u for u in db.session.scalars(select(User)) if u.agency_id not in (None, dossier.agency_id))
    foreign = HumanTask(dossier_id=dossier.id, agency_id=other.agency_id, engine_task_id="t-foreign",
                        spec_name="x", title="X", lane="", role="tiep_nhan", state="ready")
    db.session.add_all([own, foreign])
    db_session.flush()
    people = list(db.session.scalars(select(User)))
    people.append(User(username="nobody", full_name="Không vai trò", roles=None, agency_id=dossier.agency_id))
    agreed = 0
    for person in people:
        for task in (reception, own, foreign):
            in_sql = db.session.scalar(select(exists().where(HumanTask.id == task.id, services.TAKEABLE)),
                                       services._taker(person))
            assert in_sql == services._may_take(person, task), (person.username, task.role, task.agency_id)
            agreed += in_sql
    # Not vacuous: some people may take some of these tasks (the desk its reception, the applicant the own step,
    # the other agency's desk the foreign one), and most may not.
    assert 3 <= agreed < len(people) * 3 // 2


def test_a_claim_is_one_statement_that_says_why_it_took_nothing(db_session: Any) -> None:
    dossier = _submit()
    db_session.commit()
    task_id = _open_task(dossier.id).id
    with pytest.raises(services.NotFound):  # the police's desk: same role, another agency
        services.claim_task(task_id, user("ca.tiepnhan"))
    db_session.rollback()
    with pytest.raises(services.NotFound):  # a citizen may not take an officer's step
        services.claim_task(task_id, user("congdan"))
    db_session.rollback()
    assert _history(dossier.id, "claimed") == []
    taken = services.claim_task(task_id, user("tiepnhan"))
    db_session.commit()
    assert (taken.state, taken.claimed_by_id) == ("claimed", user("tiepnhan").id)
    again = services.claim_task(task_id, user("tiepnhan"))  # already theirs: no change, no second entry
    db_session.commit()
    assert again.state == "claimed"
    assert len(_history(dossier.id, "claimed")) == 1


def test_a_completion_refused_after_its_lock_leaves_nothing(db_session: Any) -> None:
    dossier = _submit()
    db_session.commit()
    task = _open_task(dossier.id)
    task_id = task.id
    services.claim_task(task_id, user("tiepnhan"))
    db_session.commit()
    db_session.expire_all()
    with pytest.raises(services.Invalid):  # the lock was taken, then the form refused: the caller rolls back
        services.complete_task(task_id, user("tiepnhan"), {"quyet_dinh_tiep_nhan": "co_le"})
    db_session.rollback()
    db_session.expire_all()
    task = db.session.get(HumanTask, task_id)
    assert (task.state, task.completed_by_id, task.data) == ("claimed", None, None)
    assert _history(dossier.id, "completed") == []
    with pytest.raises(services.Conflict) as taken:  # claimed by the desk's officer: her colleague cannot
        services.complete_task(task_id, _colleague("tiepnhan"), task_data("khai-sinh", task.form))
    db_session.rollback()
    assert taken.value.code == "task_taken"
    with pytest.raises(services.NotFound):
        services.complete_task(task_id, user("ca.tiepnhan"), task_data("khai-sinh", task.form))
    db_session.rollback()
    services.complete_task(task_id, user("tiepnhan"), task_data("khai-sinh", task.form))
    db_session.commit()
    with pytest.raises(services.Conflict) as closed:
        services.complete_task(task_id, user("tiepnhan"), task_data("khai-sinh", task.form))
    db_session.rollback()
    assert closed.value.code == "task_closed"


def test_fresh_uploads_are_linked_in_one_statement_and_still_checked(db_session: Any) -> None:
    citizen = user("congdan")
    data = start_data("khai-sinh", files_as=reference(store_upload(PDF_BYTES, "gcs.pdf", "application/pdf",
                                                                   "giay_chung_sinh", citizen)))
    db_session.commit()
    dossier = services.submit_dossier("1.001193", data, applicant=citizen)
    db_session.commit()
    linked = list(db.session.scalars(select(Attachment).where(Attachment.dossier_id == dossier.id)))
    assert linked and all(a.field_path for a in linked)
    # Someone else's fresh upload is not linked by the one statement, and the general path refuses it.
    stranger = User(username="congdan.2", full_name="Trần Thị Bình", roles=[CITIZEN_ROLE])
    db.session.add(stranger)
    db.session.flush()
    theirs = start_data("khai-sinh", files_as=reference(store_upload(PDF_BYTES, "x.pdf", "application/pdf", "",
                                                                     stranger)))
    db_session.commit()
    with pytest.raises(services.Invalid) as refused:
        services.submit_dossier("1.001193", theirs, applicant=citizen)
    db_session.rollback()
    assert refused.value.code == "attachment_invalid"




def test_sqlite_takes_tasks_with_the_same_rules(sqlite_app: Any) -> None:
    dossier = _submit()
    db.session.commit()
    dossier_id = dossier.id
    with pytest.raises(services.NotFound):
        services.claim_task(_open_task(dossier_id).id, user("ca.tiepnhan"))
    db.session.rollback()
    steps = 0
    while (task := db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier_id,
                                                             HumanTask.state == "ready"))) is not None:
        task_id, form, officer = task.id, task.form, OFFICERS[task.role]
        services.claim_task(task_id, user(officer))
        db.session.commit()
        with pytest.raises(services.Conflict):  # taken: another officer of the same step cannot complete it
            services.complete_task(task_id, _colleague(officer), task_data("khai-sinh", form))
        db.session.rollback()
        services.complete_task(task_id, user(officer), task_data("khai-sinh", form))
        db.session.commit()
        steps += 1
    assert steps == 4
    assert db.session.get(Dossier, dossier_id).status == 10
    assert len(_history(dossier_id, "claimed")) == 4

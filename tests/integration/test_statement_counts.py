"""How many SQL statements the dossier use cases send: a submission, a claim and a completion of the khai sinh
lifecycle, each as one request would run it (a fresh session, the user already read). Counts, not timings:
bench/service_layer.py measured them; the bounds keep a lazy load or a stray flush from creeping back in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select

from app.dossiers import services
from app.dossiers.attachments import reference, store_upload
from app.extensions import db
from app.models import HumanTask
from tests.conftest import user
from tests.samples import PDF_BYTES, start_data, task_data

OFFICERS = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich", "tra_ket_qua": "traketqua"}
# Measured, commits included: submit 8 (7 once the process has read the agency's calendar), claim 1, complete 3–4;
# 26 in all. Before a step's workflow document, history entries, new tasks and dossier changes were written in one
# statement (app.dossiers.rows): submit 10, claim 1, complete 6–7; 38. Before the claim became one statement
# (the rule of who may take a task in SQL), the completion's lock taken in the statement that loads the step, and
# the applicant's fresh uploads linked in one statement: submit 11, claim 2, complete 6–8; 47. Before the portal
# rows were written in one statement with the dossier's lock or version update: submit 12, claim 2, complete 7–9,
# 52. Before the
# outbox was written at commit, the calendar kept per process, the history entries batched, the claim made one
# statement and the reception step known when it is the one completed: submit 12, claim 3, complete 8–17, 74.
# Before the eager loads: 104.
# The receipt recorded at reception (app.documents, numbered by a sub-query in its own INSERT): one more, 27.
# The security audit log (app.audit): two statements per transaction that records events (the chain's head taken,
# then its rows and new head in one statement), a submission and each completion: submit 10, complete 5–6; 37.
# Agencies as tenants: the agency's own calendar days read once per submission (the agencies the procedure is
# also published for come with the procedure, joined): submit 11. Reception looks once per transaction for the
# components answered supplement requests brought (app.dossiers.components), and so does the portal snapshot of the
# finished dossier, with its reception step: complete 5–10; 45.
# The personal document store (app.dossiers.docstore): the components received and the result handed back each
# stored by one INSERT … SELECT; it and the supplements' read leave the step's own rows to its statements (no
# autoflush): submit 10, complete 5–8; 42.
SUBMIT_MAX, CLAIM_MAX, COMPLETE_MAX, LIFECYCLE_MAX = 10, 1, 8, 42


@contextmanager
def counted() -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


CONTENT_READS: list[str] = []  # the version's manifest, forms and task table read (this module's tests)


def as_request(work: Callable[[], Any]) -> tuple[Any, list[str]]:
    """Run `work` as a request would: nothing of earlier requests in the session's identity map, and its
    commit, which writes what it left pending and the portal outbox rows it owes."""
    db.session.expunge_all()
    db.session.info.pop("motcua_calendars", None)
    with counted() as seen:
        result = work()
        db.session.commit()
    # A version's BPMN text is read once per process, when its specs are first parsed, and its manifest, forms and
    # task table once per process when first used (app.models.procedure.keep_content): not per request. The
    # test's savepoints (standing for the request's transaction) are not the request's statements.
    CONTENT_READS.extend(s for s in seen if "SELECT procedure_version.manifest" in s)
    return result, [s for s in seen if "procedure_version.bpmn_files" not in s and "SAVEPOINT" not in s
                    and "SELECT procedure_version.manifest" not in s]


def test_the_khai_sinh_lifecycle_sends_a_bounded_number_of_statements(db_session):
    CONTENT_READS.clear()
    citizen = user("congdan")
    data = start_data("khai-sinh", files_as=reference(store_upload(PDF_BYTES, "gcs.pdf", "application/pdf",
                                                                   "giay_chung_sinh", citizen)))
    db_session.flush()
    dossier, submit = as_request(lambda: services.submit_dossier("1.001193", data, applicant=citizen))
    dossier_id = dossier.id
    assert len(submit) <= SUBMIT_MAX, "\n".join(s[:100] for s in submit)
    claims, completes = [], []
    while True:
        row = db_session.execute(select(HumanTask.id, HumanTask.role, HumanTask.form).where(
            HumanTask.dossier_id == dossier_id, HumanTask.state == "ready")).first()
        if row is None:
            break
        officer = user(OFFICERS[row.role])
        _, claim = as_request(lambda: services.claim_task(row.id, officer))
        _, complete = as_request(lambda: services.complete_task(row.id, officer, task_data("khai-sinh", row.form)))
        claims.append(len(claim))
        completes.append(len(complete))
        assert len(claim) <= CLAIM_MAX, claim
        assert len(complete) <= COMPLETE_MAX, "\n".join(s[:120] for s in complete)
    assert len(completes) == 4  # the whole lifecycle ran: reception, appraisal, signature, result
    assert db_session.get(type(dossier), dossier_id).status == 10
    assert len(submit) + sum(claims) + sum(completes) <= LIFECYCLE_MAX
    assert len(CONTENT_READS) <= 1, CONTENT_READS  # read once by this process, then kept: not once per request


def test_what_reception_marks_reaches_the_portal_in_the_same_transaction(db_session):
    """The reception step is read once per transaction and dossier, and afresh once a step is completed: the
    snapshot written when the dossier is received lists the components the officer just marked received."""
    from app.models import PortalOutbox

    citizen = user("congdan")
    data = start_data("khai-sinh", files_as=reference(store_upload(PDF_BYTES, "gcs.pdf", "application/pdf",
                                                                   "giay_chung_sinh", citizen)))
    dossier = services.submit_dossier("1.001193", data, applicant=citizen)
    task = db_session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id, HumanTask.state == "ready"))
    officer = user(OFFICERS[task.role])
    services.claim_task(task.id, officer)
    services.complete_task(task.id, officer, task_data("khai-sinh", task.form))  # same transaction
    db_session.commit()  # the outbox rows are written as the transaction commits
    snapshots = [row.payload for row in db_session.scalars(
        select(PortalOutbox).where(PortalOutbox.dossier_id == dossier.id, PortalOutbox.kind == "dossier")
        .order_by(PortalOutbox.id))]
    submitted, received = snapshots[0], snapshots[-1]
    assert received["trang_thai"] != 1
    assert "GTTT" not in {c["ma"] for c in submitted["thanh_phan"]}  # given only at the counter, marked there
    assert {"TK", "GCS", "GTTT"} <= {c["ma"] for c in received["thanh_phan"]}

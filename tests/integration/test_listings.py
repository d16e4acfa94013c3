"""Lists a page at a time (app/dossiers/listings.py), on PostgreSQL and on SQLite: every sort and filter returns
the right rows across pages with ties (no duplicates, no gaps), the inbox's visibility rule is the one the task
page applies, the incidents lists find what the use cases' one-row rules say waits for a person and the badge
counts them, pruning the portal outbox
keeps what is unsent, and on PostgreSQL the inbox is answered from an index in a bounded number of statements."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text

from app.dossiers import access, listings, portal_sync, service_calls, services, stalls
from app.dossiers.access import may_operate, may_refund
from app.dossiers.clock import is_stalled, now_utc, stalled_since
from app.dossiers.errors import NotFound
from app.dossiers.listings import ListQuery
from app.dossiers.retention import outbox_cutoff, prune_sent_outbox
from app.dossiers.services import submit_dossier
from app.extensions import db
from app.models import (
    Agency,
    AuditEvent,
    Dossier,
    HumanTask,
    Payment,
    PortalOutbox,
    Procedure,
    Refund,
    ServiceCall,
    User,
)
from app.models.dossier import folded, inbox_keys
from app.models.integration import WorkflowIncident
from tests.conftest import _create_database, _drop_database, login, make_app
from tests.samples import start_data, with_stored_uploads

NOW = datetime.now(UTC).replace(microsecond=0)
_seq = itertools.count(1)


def _user(username: str) -> User:
    found = db.session.scalar(select(User).where(User.username == username))
    assert found is not None
    return found


def _agency(code: str) -> Agency:
    found = db.session.scalar(select(Agency).where(Agency.code == code))
    assert found is not None
    return found


def _version(code: str) -> int:
    proc = db.session.scalar(select(Procedure).where(Procedure.code == code))
    assert proc is not None and proc.current_version_id is not None
    return proc.current_version_id


def dossier(agency: Agency, *, version: int, status: int = 4, applicant: User | None = None,
            name: str = "Nguyễn Văn An", due: datetime | None = None, submitted: datetime | None = None) -> Dossier:
    seq = next(_seq)
    d = Dossier(code=f"{agency.code}-261201-{seq:04d}", procedure_version_id=version, agency_id=agency.id,
                status=status, applicant_user_id=applicant.id if applicant else None, applicant_name=name,
                form_data={}, summary="", due_at=due or NOW + timedelta(days=5), submitted_at=submitted or NOW)
    db.session.add(d)
    db.session.flush()
    return d


def task(d: Dossier, role: str, *, state: str = "ready", due: datetime | None = None,
         claimed_by: User | None = None) -> HumanTask:
    t = HumanTask(dossier_id=d.id, agency_id=d.agency_id, engine_task_id=str(uuid.uuid4()), spec_name="Step",
                  title="Thẩm định", role=role, state=state, due_at=due,
                  claimed_by_id=claimed_by.id if claimed_by else None, **inbox_keys(d))
    db.session.add(t)
    db.session.flush()
    return t


def every_page(fetch: Callable[[ListQuery], listings.Page[Any]], query: ListQuery) -> list[Any]:
    """All rows, page after page, checking the pages' bookkeeping on the way."""
    rows: list[Any] = []
    page = 1
    while True:
        got = fetch(ListQuery(**{**query.__dict__, "page": page}))
        assert got.page == page
        assert len(got.items) <= query.size
        rows.extend(got.items)
        if not got.has_next:
            break
        assert len(got.items) == query.size
        page += 1
    assert got.total == len(rows)  # small lists: the total is exact
    return rows


def _ts(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# ---------------------------------------------------------------- scenarios shared by both databases


def build_inbox() -> dict[str, Any]:
    """60 tasks of the specialist role at agency 1 with tied deadlines (and some without), others elsewhere."""
    a1, a2 = _agency("000.00.01.H26"), _agency("000.00.02.H26")
    hotich, chutich, citizen = _user("hotich"), _user("chutich"), _user("congdan")
    ks, tt = _version("1.001193"), _version("1.004222")
    step_dues = [NOW - timedelta(days=2), NOW + timedelta(hours=1), NOW + timedelta(days=3), None]
    dossier_dues = [NOW - timedelta(days=1), NOW + timedelta(hours=2), NOW + timedelta(days=30)]
    names = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Hoàng Chi"]
    mine: list[HumanTask] = []
    for i in range(60):
        d = dossier(a1, version=ks if i % 2 else tt, status=(4, 2, 5)[i % 3], name=names[i % 3],
                    due=dossier_dues[i % 3], submitted=NOW - timedelta(days=i % 4))
        mine.append(task(d, "chuyen_vien", due=step_dues[i % 4],
                         state="claimed" if i % 10 == 0 else "ready", claimed_by=hotich if i % 10 == 0 else None))
    hidden = [
        task(dossier(a2, version=ks), "chuyen_vien"),  # another agency, same role
        task(dossier(a1, version=ks), "lanh_dao_ky"),  # a role hotich does not have
        task(dossier(a1, version=ks), "chuyen_vien", state="claimed", claimed_by=chutich),  # someone else's
        task(dossier(a1, version=ks), "chuyen_vien", state="completed"),  # done
        task(dossier(a1, version=ks, applicant=citizen), "cong_dan"),  # the citizen's, not the agency's
    ]
    own = task(dossier(a2, version=ks, applicant=citizen), "cong_dan")
    return {"mine": mine, "hidden": hidden, "own": own, "hotich": hotich, "citizen": citizen}


def check_inbox_sorts_and_pages(data: dict[str, Any]) -> None:
    hotich = data["hotich"]
    tasks: list[HumanTask] = data["mine"]
    by_id = {t.id: t for t in tasks}

    def key(sort: str) -> Callable[[HumanTask], Any]:
        def k(t: HumanTask) -> Any:
            d = db.session.get(Dossier, t.dossier_id)
            assert d is not None
            due, d_due = _as_utc(t.due_at), _as_utc(d.due_at)
            return {
                "due": (due is None, _ts(due), _ts(d_due), t.id),
                "-due": (due is None, -_ts(due), -_ts(d_due), -t.id),
                "received": (_ts(_as_utc(d.submitted_at)), t.id),
                "-received": (-_ts(_as_utc(d.submitted_at)), -t.id),
                "code": (d.code, t.id),
                "-code": tuple(-ord(c) for c in d.code) + (-t.id,),
            }[sort]
        return k

    for sort in listings.INBOX_SORTS:
        got = [t.id for t in every_page(lambda q: listings.inbox(hotich, q), ListQuery(size=25, sort=sort))]
        assert len(got) == len(set(got)) == len(tasks), sort  # no duplicates, no gaps
        assert got == [t.id for t in sorted(tasks, key=key(sort))], sort
        assert set(got) <= set(by_id)


def check_inbox_filters(data: dict[str, Any]) -> None:
    hotich = data["hotich"]
    tasks: list[HumanTask] = data["mine"]

    def dossier_of(t: HumanTask) -> Dossier:
        d = db.session.get(Dossier, t.dossier_id)
        assert d is not None
        return d

    def expect(pred: Callable[[HumanTask, Dossier], bool]) -> set[int]:
        return {t.id for t in tasks if pred(t, dossier_of(t))}

    def got(**filters: Any) -> set[int]:
        rows = every_page(lambda q: listings.inbox(hotich, q), ListQuery(size=25, sort="due", **filters))
        ids = [t.id for t in rows]
        assert len(ids) == len(set(ids))
        return set(ids)

    tt = _version("1.004222")
    assert got(procedure="1.004222") == expect(lambda t, d: d.procedure_version_id == tt) != set()
    assert got(status=5) == expect(lambda t, d: d.status == 5) != set()
    assert got(officer="me") == expect(lambda t, d: t.claimed_by_id == hotich.id) != set()
    assert got(officer="free") == expect(lambda t, d: t.claimed_by_id is None) != set()
    for window in listings.DUE_WINDOWS:
        start, end = listings.due_bounds(window)

        def inside(t: HumanTask, d: Dossier, start: Any = start, end: Any = end) -> bool:
            due = _as_utc(t.due_at) or _as_utc(d.due_at)
            assert due is not None
            return (start is None or due >= start) and (end is None or due < end)

        assert got(due=window) == expect(inside), window
    assert got(due="overdue") != set()
    assert got(q="trần thị") == expect(lambda t, d: d.applicant_name == "Trần Thị Bình") != set()
    code = dossier_of(tasks[7]).code
    assert got(q=code.lower()) == {tasks[7].id}
    assert got(q=code[:-1]) == expect(lambda t, d: d.code.startswith(code[:-1]))
    assert got(q="100%_") == set()  # LIKE wildcards are text here
    for odd in ("O'Brien", "a\\'--", "%", "_", "/", "'); DROP TABLE dossier; --"):  # written into the SQL as literals
        assert got(q=odd) == set(), odd
    assert got(q="TRAN THI") == got(q="trần thị")  # accents and case ignored


def _may_take(user: User, task_id: int) -> bool:
    """The rule a task's own page applies (services.get_task): own agency and role, or the citizen's own task."""
    try:
        services.get_task(task_id, user)
    except NotFound:
        return False
    return True


def check_inbox_visibility(data: dict[str, Any]) -> None:
    """The inbox's SQL visibility rule lists exactly the open tasks the task page lets the user take (unclaimed,
    or claimed by the user)."""
    open_tasks = db.session.scalars(select(HumanTask).where(HumanTask.state.in_(("ready", "claimed")))).all()
    for username in ("hotich", "chutich", "ca.cutru", "tiepnhan", "congdan", "thietke"):
        user = _user(username)
        listed = {t.id for t in every_page(lambda q, u=user: listings.inbox(u, q), ListQuery(size=25))}
        expected = {t.id for t in open_tasks
                    if t.claimed_by_id in (None, user.id) and _may_take(user, t.id)}
        assert listed == expected, username
    hotich, citizen = data["hotich"], data["citizen"]
    seen = {t.id for t in every_page(lambda q: listings.inbox(hotich, q), ListQuery(size=100))}
    assert seen == {t.id for t in data["mine"]}
    assert not seen & {t.id for t in data["hidden"]}
    # The citizen sees the tasks of his own dossiers, at any agency, and nobody else's.
    assert {t.id for t in listings.inbox(citizen, ListQuery()).items} == {data["hidden"][4].id, data["own"].id}


def build_dossiers() -> dict[str, Any]:
    a1 = _agency("000.00.01.H26")
    citizen = _user("congdan")
    ks, tt = _version("1.001193"), _version("1.004222")
    rows = [dossier(a1, version=ks if i % 3 else tt, status=(4, 10, 5, 3, 2)[i % 5], applicant=citizen,
                    name=("Nguyễn Văn An", "Lê Thị Hoa")[i % 2], due=NOW + timedelta(days=(i % 4) - 1),
                    submitted=NOW - timedelta(days=i % 3)) for i in range(55)]
    other = dossier(a1, version=ks, applicant=_user("hotich"))  # somebody else's
    return {"rows": rows, "citizen": citizen, "other": other}


def check_dossier_lists(data: dict[str, Any]) -> None:
    citizen, rows = data["citizen"], data["rows"]

    def key(sort: str) -> Callable[[Dossier], Any]:
        return lambda d: {"received": (_ts(_as_utc(d.submitted_at)), d.id),
                          "-received": (-_ts(_as_utc(d.submitted_at)), -d.id),
                          "due": (_ts(_as_utc(d.due_at)), d.id), "-due": (-_ts(_as_utc(d.due_at)), -d.id),
                          "code": (d.code, d.id), "-code": tuple(-ord(c) for c in d.code) + (-d.id,)}[sort]

    for sort in listings.DOSSIER_SORTS:
        got = [d.id for d in every_page(lambda q: listings.my_dossiers(citizen, q), ListQuery(size=25, sort=sort))]
        assert got == [d.id for d in sorted(rows, key=key(sort))], sort
    got_ids = {d.id for d in every_page(lambda q: listings.my_dossiers(citizen, q),
                                        ListQuery(size=25, sort="due", status=10))}
    assert got_ids == {d.id for d in rows if d.status == 10} != set()
    got_ids = {d.id for d in every_page(lambda q: listings.my_dossiers(citizen, q),
                                        ListQuery(size=25, sort="due", procedure="1.004222", q="lê thị"))}
    tt = _version("1.004222")
    assert got_ids == {d.id for d in rows if d.procedure_version_id == tt and d.applicant_name == "Lê Thị Hoa"}
    assert got_ids
    start, end = listings.due_bounds("today")
    got_ids = {d.id for d in every_page(lambda q: listings.my_dossiers(citizen, q), ListQuery(size=25, due="today"))}
    assert got_ids == {d.id for d in rows if start <= _as_utc(d.due_at) < end}  # type: ignore[operator]

    # The designer's running dossiers of khai sinh: open ones only, across pages.
    proc = db.session.scalar(select(Procedure).where(Procedure.code == "1.001193"))
    assert proc is not None
    ks = _version("1.001193")
    got_list = [d.id for d in every_page(lambda q: listings.procedure_dossiers(proc, q), ListQuery(size=25,
                                                                                                  sort="code"))]
    running = sorted((d for d in [*rows, data["other"]] if d.procedure_version_id == ks and d.status not in (3, 7, 10)),
                     key=lambda d: (d.code, d.id))
    assert got_list == [d.id for d in running]
    assert all(c > 0 for _, c in listings.procedure_index(ListQuery(size=25)).items if _.code == "1.001193")

    # History, a page at a time, in order.
    d = rows[0]
    for i in range(120):
        db.session.add(AuditEvent(dossier_id=d.id, at=NOW - timedelta(minutes=i % 7), action="status",
                                  actor_name="x", note=str(i)))
    db.session.flush()
    events = every_page(lambda q: listings.history(d, None, q), ListQuery(size=50))
    assert len(events) == 120 == len({e.id for e in events})
    assert [e.id for e in events] == [e.id for e in sorted(events, key=lambda e: (_ts(_as_utc(e.at)), e.id))]


def check_prune() -> None:
    d = dossier(_agency("000.00.01.H26"), version=_version("1.001193"))
    old, recent = NOW - timedelta(days=40), NOW - timedelta(days=5)
    rows = {
        "sent_old": PortalOutbox(dossier_id=d.id, kind="dossier", payload={}, created_at=old, sent_at=old),
        "sent_recent": PortalOutbox(dossier_id=d.id, kind="dossier", payload={}, created_at=recent, sent_at=recent),
        "unsent_old": PortalOutbox(dossier_id=d.id, kind="dossier", payload={}, created_at=old - timedelta(days=9)),
        "refused_old": PortalOutbox(dossier_id=d.id, kind="step", payload={}, created_at=old, last_error="E"),
    }
    db.session.add_all(rows.values())
    more = [PortalOutbox(dossier_id=d.id, kind="step", payload={}, created_at=old, sent_at=old) for _ in range(5)]
    db.session.add_all(more)
    db.session.flush()
    ids = {name: row.id for name, row in rows.items()}
    cutoff = outbox_cutoff(30, NOW)
    assert prune_sent_outbox(cutoff, limit=4) == 4  # batches
    assert prune_sent_outbox(cutoff, limit=4) == 2
    assert prune_sent_outbox(cutoff, limit=4) == 0
    left = set(db.session.scalars(select(PortalOutbox.id).where(PortalOutbox.dossier_id == d.id)))
    assert left == {ids["sent_recent"], ids["unsent_old"], ids["refused_old"]}


# ---------------------------------------------------------------- PostgreSQL


def test_inbox_sorts_and_pages(db_session: Any) -> None:
    check_inbox_sorts_and_pages(build_inbox())


def test_inbox_filters(db_session: Any) -> None:
    check_inbox_filters(build_inbox())


def test_inbox_visibility_unchanged(db_session: Any) -> None:
    check_inbox_visibility(build_inbox())


def test_dossier_lists(db_session: Any) -> None:
    check_dossier_lists(build_dossiers())


def test_prune_sent_outbox(db_session: Any) -> None:
    check_prune()


def test_prune_command(app: Any, db_session: Any) -> None:
    d = dossier(_agency("000.00.01.H26"), version=_version("1.001193"))
    old = NOW - timedelta(days=10)
    sent = PortalOutbox(dossier_id=d.id, kind="dossier", payload={}, created_at=old, sent_at=old)
    unsent = PortalOutbox(dossier_id=d.id, kind="dossier", payload={}, created_at=old)
    db.session.add_all([sent, unsent])
    db.session.commit()
    sent_id, unsent_id = sent.id, unsent.id
    result = app.test_cli_runner().invoke(args=["portal", "prune", "--days", "7"])
    assert result.exit_code == 0, result.output
    assert "Đã xóa" in result.output
    left = set(db.session.scalars(select(PortalOutbox.id).where(PortalOutbox.dossier_id == d.id)))
    assert sent_id not in left and unsent_id in left


def test_incident_badge_counts_the_incidents_page(app: Any, db_session: Any, client: Any) -> None:
    a1, a2 = _agency("000.00.01.H26"), _agency("000.00.02.H26")
    ks = _version("1.001193")
    stale = NOW - timedelta(hours=2)
    for agency in (a1, a2):
        for i in range(3):
            d = dossier(agency, version=ks)
            db.session.add(ServiceCall(dossier_id=d.id, engine_task_id=str(uuid.uuid4()), spec_name="S", title="T",
                                       operation="population.lookup", params={}, result_variable="r",
                                       state=("failed", "pending", "done")[i], updated_at=stale, created_at=stale))
            db.session.add(WorkflowIncident(dossier_id=d.id, code="c", message="m",
                                            state=("open", "open", "resolved")[i]))
            db.session.add(PortalOutbox(dossier_id=d.id, kind="dossier", payload={"phien_ban": 1},
                                        created_at=stale if i < 2 else NOW))
            payment = Payment(dossier_id=d.id, transaction_id=uuid.uuid4().hex, amount=8000, state="paid")
            db.session.add(payment)
            db.session.flush()
            db.session.add(Refund(payment_id=payment.id, request_key=uuid.uuid4().hex, amount=0, reason="r",
                                  state="pending", requested_at=stale if i < 2 else NOW))
    db.session.flush()
    for username in ("hotich", "tiepnhan", "ca.tiepnhan", "thietke", "congdan"):
        user = _user(username)
        expected = expected_incidents(user)
        pages = listings.incidents(user, ListQuery(size=100))
        assert {kind: {_row_id(r) for r in page.items} for kind, page in pages.items()} == expected, username
        assert listings.incident_count(user) == sum(len(ids) for ids in expected.values()), username
        assert sum(p.total for p in pages.values()) == listings.incident_count(user)
    assert listings.incident_count(_user("tiepnhan")) == 2 + 2 + 2 + 2  # calls, workflow, sync, refunds
    assert listings.incident_count(_user("hotich")) == 2 + 2 + 2  # no refunds: not the one-stop desk

    db.session.commit()
    login(client, "tiepnhan")
    page = client.get("/can-bo/").get_data(as_text=True)
    assert "8 sự cố đang chờ xử lý" in page
    incidents_page = client.get("/can-bo/su-co").get_data(as_text=True)
    assert incidents_page.count('id="incident-') == 2 and incidents_page.count('id="refund-') == 2
    assert len(re.findall(r'id="sync-\d', incidents_page)) == 2 and incidents_page.count('id="workflow-incident-') == 2
    only = client.get("/can-bo/su-co?loai=refunds").get_data(as_text=True)
    assert only.count('id="refund-') == 2 and 'id="incident-' not in only


def _row_id(row: Any) -> int:
    return row[1].id if isinstance(row, tuple) else int(row.id)


def expected_incidents(user: User) -> dict[str, set[int]]:
    """What waits for `user`, by the Python rules the use cases apply to one row (access.may_operate and
    may_refund, service_calls.is_stalled, portal_sync.head and is_refused, clock.is_stalled): the incidents
    lists' SQL must find exactly these."""
    calls = {c.id for c in db.session.scalars(select(ServiceCall))
             if (c.state == "failed" or service_calls.is_stalled(c)) and may_operate(user, c.dossier)}
    workflow = {i.id for i in db.session.scalars(select(WorkflowIncident))
                if i.state == "open" and may_operate(user, i.dossier)}
    sync = set()
    for dossier_id in portal_sync.unsent_dossiers():
        first = portal_sync.head(dossier_id)
        d = db.session.get(Dossier, dossier_id)
        if first is not None and d is not None and may_operate(user, d) and (
                portal_sync.is_refused(first) or is_stalled(first.created_at)):
            sync.add(first.id)
    refunds = {r.id for r in db.session.scalars(select(Refund))
               if r.state == "pending" and is_stalled(r.requested_at) and may_refund(user, r.payment.dossier)}
    return {"calls": calls, "workflow": workflow, "sync": sync, "refunds": refunds}


def _service_call(d: Dossier, state: str, updated: datetime, next_at: datetime | None) -> ServiceCall:
    """A payment service call of `d` in `state`, last changed at `updated`, its next attempt at `next_at`."""
    call = ServiceCall(dossier_id=d.id, engine_task_id=str(uuid.uuid4()), spec_name="S", title="T",
                       operation="payment.collect", params={}, result_variable="r", state=state,
                       updated_at=updated, created_at=updated, next_attempt_at=next_at)
    db.session.add(call)
    db.session.flush()
    return call


class Statements:
    """Every SQL statement the app runs (with its parameters), counted by an event listener."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.parameters: list[Any] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        self.statements.append(statement)
        self.parameters.append(parameters)


@pytest.fixture()
def statements(app: Any) -> Iterator[Statements]:
    counter = Statements()
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", counter)
        yield counter
        event.remove(db.engine, "before_cursor_execute", counter)


def test_inbox_page_statements_are_bounded(app: Any, db_session: Any, client: Any, statements: Statements) -> None:
    """However many tasks and whatever the page size, an inbox page costs the same few statements (it used to be
    one per task, plus four incident lists)."""
    data = build_inbox()
    db.session.commit()
    login(client, "hotich")
    client.get("/can-bo/")  # the session's first request after login records it
    counts = {}
    for size in (25, 50):  # both less than the 60 tasks: a page and a capped count each
        statements.statements.clear()
        response = client.get(f"/can-bo/?so_dong={size}")
        assert response.status_code == 200
        assert response.get_data(as_text=True).count('href="/cong-viec/') == min(size, len(data["mine"]))
        counts[size] = len(statements.statements)
    # The session with its user and agency, the page of tasks with its count, the badge, the procedure filter.
    assert counts[25] == counts[50] <= 4, counts
    statements.statements.clear()
    listings.inbox(data["hotich"], ListQuery(size=100))
    listings.incident_count(data["hotich"])
    assert len(statements.statements) <= 3, statements.statements  # page (+ capped count) + badge
    for filtered in (ListQuery(size=25, q="nguyễn"), ListQuery(size=25, sort="code", page=2),
                     ListQuery(size=50, status=5, due="week")):
        statements.statements.clear()
        listings.inbox(data["hotich"], filtered)
        assert len(statements.statements) == 1, filtered  # page and count in one statement


def test_inbox_uses_the_open_task_index(app: Any, db_session: Any, statements: Statements) -> None:
    """With a realistic table (many completed tasks, a few thousand open) and fresh statistics, the inbox query
    reads human_task through an index in the order asked, never by a sequential scan, nor dossier."""
    db_session.execute(text("""
        INSERT INTO dossier (code, procedure_version_id, agency_id, status, channel, applicant_name,
                             applicant_id_number, applicant_phone, applicant_email, applicant_address, summary,
                             form_data, fee_amount, submitted_at, due_at, portal_version)
        SELECT '000.00.01.H26-250101-' || lpad(g::text, 4, '0'), :version, a.id, CASE WHEN g % 5 = 0 THEN 4 ELSE 10 END,
               2, 'Nguyễn Văn ' || g, '', '', '', '', '', '{}'::jsonb, 0, now() - g * interval '1 hour',
               now() + (g % 9) * interval '1 day', 0
        FROM generate_series(1, 9000) g, agency a WHERE a.code = '000.00.01.H26'"""), {"version": _version("1.001193")})
    db_session.execute(text("""
        INSERT INTO human_task (dossier_id, agency_id, engine_task_id, spec_name, title, lane, role, state,
                                created_at, due_at, dossier_code, dossier_submitted_at, applicant_folded)
        SELECT d.id, d.agency_id, gen_random_uuid()::text, 'S', 'T', '',
               (ARRAY['chuyen_vien', 'tiep_nhan', 'lanh_dao_ky'])[1 + k],
               CASE WHEN d.status = 4 AND k = 0 THEN 'ready' ELSE 'completed' END, now(),
               now() + (d.id % 11) * :step, d.code, d.submitted_at,
               replace(lower(d.applicant_name), 'ễ', 'e')
        FROM dossier d, generate_series(0, 2) k WHERE d.code LIKE '000.00.01.H26-250101-%'"""),
        # Spread over what is left of this week, whatever the day (the `due="week"` query must find them all).
        {"step": (listings.due_bounds("week")[1] - now_utc()) / 12})
    db_session.execute(text("ANALYZE human_task"))
    db_session.execute(text("ANALYZE dossier"))
    hotich = _user("hotich")
    for query, index in ((ListQuery(), "ix_human_task_open"), (ListQuery(q="nguyen"), None),
                         (ListQuery(q="nguyễn", due="week"), None),
                         (ListQuery(sort="code", page=3), "ix_human_task_open_code"),
                         (ListQuery(sort="-received", page=2), "ix_human_task_open_received")):
        statements.statements.clear()
        statements.parameters.clear()
        page = listings.inbox(hotich, query)
        assert len(page.items) == 25 and page.total == 1000 and page.capped  # 1,800 open: "1000+"
        ran = list(zip(statements.statements, statements.parameters, strict=True))
        assert len(ran) == 1  # the page with its dossiers, and the capped count
        plan = "\n".join(row[0] for row in db_session.connection().exec_driver_sql("EXPLAIN " + ran[0][0],
                                                                                    ran[0][1]))
        assert "Seq Scan on human_task" not in plan, plan
        assert "Seq Scan on dossier" not in plan, plan
        if index is not None:  # the tasks are read in the order asked from the matching open-task index
            assert index + " " in plan, plan


def test_list_pages_render_with_controls(db_session: Any, client: Any) -> None:
    build_inbox()
    build_dossiers()
    db.session.commit()
    login(client, "hotich")
    page = client.get("/can-bo/?so_dong=25").get_data(as_text=True)
    assert 'aria-current="page"' in page and 'rel="next"' in page and '<label for="filters-q">' in page
    second = client.get("/can-bo/?trang=2&so_dong=25&sap_xep=code").get_data(as_text=True)
    assert 'rel="prev"' in second and "trang=1" not in second  # page 1 is the URL without trang
    assert client.get("/can-bo/?q=kh%C3%B4ng-c%C3%B3").get_data(as_text=True).count("Không có công việc nào khớp") == 1
    login(client, "congdan")
    mine = client.get("/ho-so-cua-toi?sap_xep=code&trang=2").get_data(as_text=True)
    assert 'id="my-dossiers"' in mine and 'rel="prev"' in mine
    login(client, "thietke")
    assert 'id="running"' in client.get("/thiet-ke/thu-tuc/1.001193?han=today").get_data(as_text=True)
    index = client.get("/thiet-ke/?q=khai").get_data(as_text=True)
    assert "1.001193" in index and "1.004222" not in index


# ---------------------------------------------------------------- SQLite (the embedded default)




def test_sqlite_inbox(sqlite_app: Any) -> None:
    data = build_inbox()
    check_inbox_sorts_and_pages(data)
    check_inbox_filters(data)
    check_inbox_visibility(data)


def test_sqlite_dossier_lists_and_prune(sqlite_app: Any) -> None:
    check_dossier_lists(build_dossiers())
    check_prune()
    hotich = _user("hotich")  # the outbox rows left unsent by check_prune wait for a person: one dossier
    assert listings.incident_count(hotich) == 1
    assert {k: len(ids) for k, ids in expected_incidents(hotich).items()} == {"calls": 0, "workflow": 0, "sync": 1,
                                                                              "refunds": 0}


def test_a_submitted_dossiers_task_carries_its_inbox_keys(app: Any, db_session: Any) -> None:
    """The task the workflow opens on submission copies the dossier's code, submission time and folded name
    (progress.apply_step), so the inbox finds it by an accent-free part of the name and sorts it by code."""
    applicant = _user("congdan")
    data = with_stored_uploads(start_data("khai-sinh"), applicant)
    d = submit_dossier("1.001193", data, applicant=applicant)
    db.session.flush()
    opened = db.session.scalars(select(HumanTask).where(HumanTask.dossier_id == d.id,
                                                        HumanTask.state.in_(("ready", "claimed")))).all()
    assert opened
    for t in opened:
        assert (t.dossier_code, t.dossier_submitted_at, t.applicant_folded) == (
            d.code, d.submitted_at, folded(d.applicant_name))
    assert folded("  Đặng   Thị Ngọc Ánh ") == "dang thi ngoc anh"
    officer = next(u for u in db.session.scalars(select(User).where(User.agency_id == d.agency_id))
                   if any(u.has_role(t.role) for t in opened))
    found = listings.inbox(officer, ListQuery(q=folded(d.applicant_name).upper(), size=100)).items
    assert {t.id for t in opened} <= {t.id for t in found}


def test_access_rules_in_python_and_in_sql_agree(db_session: Any) -> None:
    """may_operate/operable and may_refund/refundable read one Scope each; on the same dossiers and users (an
    administrator, officers and designers with and without an agency, the one-stop desk, a citizen) the Python
    predicate and the SQL condition select the same dossiers."""
    a1, a2 = _agency("000.00.01.H26"), _agency("000.00.02.H26")
    ks = _version("1.001193")
    dossiers = [dossier(a, version=ks) for a in (a1, a2, a1, a2)]
    extra = [User(username=f"u{i}-{uuid.uuid4().hex[:6]}", full_name="X", roles=roles, agency_id=agency)
             for i, (roles, agency) in enumerate([(["quan_tri"], None), (["thiet_ke"], a1.id),
                                                  (["chuyen_vien"], None), (["tiep_nhan"], None),
                                                  (["cong_dan"], a1.id)])]
    db.session.add_all(extra)
    db.session.flush()
    users = [*extra, *(_user(u) for u in ("tiepnhan", "hotich", "ca.tiepnhan", "thietke", "congdan"))]
    ids = [d.id for d in dossiers]
    seen_any = {"operate": False, "refund": False}
    for user in users:
        for name, predicate, condition in (("operate", may_operate, access.operable),
                                           ("refund", may_refund, access.refundable)):
            in_sql = set(db.session.scalars(select(Dossier.id).where(Dossier.id.in_(ids), condition(user))))
            in_python = {d.id for d in dossiers if predicate(user, d)}
            assert in_sql == in_python, (user.username, name)
            seen_any[name] |= 0 < len(in_python) < len(ids)
    assert seen_any == {"operate": True, "refund": True}  # the fixtures tell agencies apart


def test_api_lists_are_paginated_like_the_pages(client: Any, db_session: Any, token: Any) -> None:
    """/api/v1/tasks and /api/v1/incidents answer a page with its paging, take the pages' filters and orders
    (validated: 422 on an unknown order), and without parameters give the first page in the default order."""
    data = build_inbox()
    db.session.commit()
    headers = token("hotich")
    first = client.get("/api/v1/tasks", headers=headers).get_json()
    assert first["paging"] == {"page": 1, "size": 25, "has_next": True, "total": 60, "total_capped": False}
    expected = [t.id for t in listings.inbox(data["hotich"], ListQuery()).items]
    assert [t["id"] for t in first["items"]] == expected
    by_code = []
    for page in (1, 2, 3):
        answer = client.get(f"/api/v1/tasks?sort=-code&size=25&page={page}", headers=headers).get_json()
        assert answer["paging"]["page"] == page and answer["paging"]["has_next"] == (page < 3)
        by_code += [t["dossier_code"] for t in answer["items"]]
    assert by_code == sorted(by_code, reverse=True) and len(by_code) == 60
    searched = client.get("/api/v1/tasks?q=tran%20thi&officer=free&size=100", headers=headers).get_json()
    assert searched["items"] and searched["paging"]["total"] == len(searched["items"])
    assert {t["id"] for t in searched["items"]} == {t.id for t in data["mine"] if t.claimed_by_id is None
                                                    and db.session.get(Dossier, t.dossier_id).applicant_name
                                                    == "Trần Thị Bình"}
    refused = client.get("/api/v1/tasks?sort=urgent", headers=headers)
    assert refused.status_code == 422 and "/sort" in refused.get_json()["error"]["details"]
    assert client.get("/api/v1/tasks?size=500", headers=headers).status_code == 422

    d = dossier(_agency("000.00.01.H26"), version=_version("1.001193"))
    for _ in range(3):
        db.session.add(WorkflowIncident(dossier_id=d.id, code="c", message="m", state="open"))
    db.session.commit()
    answer = client.get("/api/v1/incidents?kind=workflow&size=2", headers=headers).get_json()
    assert len(answer["workflow"]) == 2 and answer["items"] == [] and answer["paging"]["calls"] is None
    assert answer["paging"]["workflow"] == {"page": 1, "size": 2, "has_next": True, "total": 3,
                                            "total_capped": False}
    everything = client.get("/api/v1/incidents", headers=headers).get_json()
    assert len(everything["workflow"]) == 3 and everything["paging"]["workflow"]["size"] == 25


def test_migration_0010_fills_the_open_tasks_of_older_dossiers(tmp_path: Path) -> None:
    """Tasks opened before the inbox keys existed get them from their dossiers (open ones only: completed tasks
    are never listed), folded as the app folds; the migration goes down again."""
    from flask_migrate import downgrade, upgrade

    url = _create_database("motcua_mig")
    application = make_app(url, tmp_path)
    migrations = str(Path(__file__).resolve().parents[2] / "migrations")
    try:
        with application.app_context():
            upgrade(directory=migrations, revision="0009_lists")
            conn = db.session.connection()
            conn.execute(text("INSERT INTO agency (code, name, level, address) VALUES ('A1', 'A', 'xa', '')"))
            conn.execute(text("""
                INSERT INTO procedure (code, slug, name, agency_id) SELECT '1.1', 'p', 'P', id FROM agency"""))
            conn.execute(text("""
                INSERT INTO procedure_version (procedure_id, version, content_hash, process_id, manifest, bpmn_files,
                                               forms, tasks, deployed_at, deployed_by, source_note)
                SELECT id, 1, 'h', 'p', '{}', '{}', '{}', '{}', now(), 't', '' FROM procedure"""))
            for i, state in enumerate(("ready", "claimed", "completed")):
                conn.execute(text("""
                    INSERT INTO dossier (code, procedure_version_id, agency_id, status, channel, applicant_name,
                                         applicant_id_number, applicant_phone, applicant_email, applicant_address,
                                         summary, form_data, fee_amount, submitted_at, due_at, portal_version)
                    SELECT :code, v.id, a.id, 4, 2, :name, '', '', '', '', '', '{}', 0,
                           now() - :i * interval '1 day', now(), 0
                    FROM procedure_version v, agency a"""), {"code": f"A1-261201-000{i}", "name": "Đặng Thị Ánh",
                                                             "i": i})
                conn.execute(text("""
                    INSERT INTO human_task (dossier_id, agency_id, engine_task_id, spec_name, title, lane, role,
                                            state, created_at)
                    SELECT id, agency_id, :engine, 'S', 'T', '', 'chuyen_vien', :state, now()
                    FROM dossier WHERE code = :code"""), {"engine": str(uuid.uuid4()), "state": state,
                                                          "code": f"A1-261201-000{i}"})
            db.session.commit()
            upgrade(directory=migrations)
            rows = db.session.execute(text("""
                SELECT t.state, t.dossier_code, t.dossier_submitted_at = d.submitted_at, t.applicant_folded
                FROM human_task t JOIN dossier d ON d.id = t.dossier_id ORDER BY t.id""")).all()
            assert [tuple(r) for r in rows] == [
                ("ready", "A1-261201-0000", True, folded("Đặng Thị Ánh")),
                ("claimed", "A1-261201-0001", True, "dang thi anh"),
                ("completed", None, None, None),
            ]
            db.session.commit()
            downgrade(directory=migrations, revision="0009_lists")
            columns = db.session.execute(text("""
                SELECT column_name FROM information_schema.columns WHERE table_name = 'human_task'""")).scalars()
            assert "dossier_code" not in set(columns)
            db.session.remove()
            db.engine.dispose()
    finally:
        _drop_database(url)


def test_incident_lists_follow_the_one_row_rules_at_their_edges(db_session: Any) -> None:
    """Rows on each side of every rule (stalled or not by updated_at or next_attempt_at, waiting with or without a
    payment made, a refused or late head of the outbox or one behind a fresh head, refunds early or late, closed
    ones): the lists' SQL finds exactly what the one-row rules say waits for a person."""
    a1 = _agency("000.00.01.H26")
    ks = _version("1.001193")
    stale, fresh = NOW - timedelta(hours=2), NOW
    call_cases = [("failed", fresh, None), ("pending", stale, None), ("pending", fresh, None),
                  ("pending", stale, fresh + timedelta(minutes=5)), ("pending", fresh, stale),
                  ("waiting", stale, None), ("waiting", stale, None), ("waiting", fresh, None), ("done", stale, None)]
    for i, (state, updated, next_at) in enumerate(call_cases):
        d = dossier(a1, version=ks)
        call = _service_call(d, state, updated, next_at)
        if state == "waiting" and i != 6:  # the second stale waiting call has no payment made
            db.session.add(Payment(dossier_id=d.id, transaction_id=uuid.uuid4().hex, amount=8000, state="paid",
                                   service_call_id=call.id))
    outbox_cases = [[("", stale)], [("E", fresh)], [("", fresh), ("", stale)], [("", fresh)]]
    for rows in outbox_cases:
        d = dossier(a1, version=ks)
        for error, created in rows:
            db.session.add(PortalOutbox(dossier_id=d.id, kind="step", payload={}, created_at=created,
                                        last_error=error))
            db.session.flush()
    for state, requested in (("pending", stale), ("pending", fresh), ("done", stale)):
        d = dossier(a1, version=ks)
        payment = Payment(dossier_id=d.id, transaction_id=uuid.uuid4().hex, amount=8000, state="paid")
        db.session.add(payment)
        db.session.flush()
        db.session.add(Refund(payment_id=payment.id, request_key=uuid.uuid4().hex, amount=0, reason="r",
                              state=state, requested_at=requested))
    db.session.flush()
    for username in ("tiepnhan", "hotich", "ca.tiepnhan"):
        user = _user(username)
        expected = expected_incidents(user)
        pages = listings.incidents(user, ListQuery(size=100))
        assert {kind: {_row_id(r) for r in page.items} for kind, page in pages.items()} == expected, username
    counts = {kind: len(ids) for kind, ids in expected_incidents(_user("tiepnhan")).items()}
    # failed, pending stale (by updated_at, and by a past next attempt), waiting stale with a payment made;
    # the refused head and the late one (not the late row behind a fresh head); the late pending refund.
    assert counts == {"calls": 4, "workflow": 0, "sync": 2, "refunds": 1}


def test_a_service_call_is_stalled_by_one_rule_on_each_side_of_the_cut_off(db_session: Any,
                                                                           statements: Statements) -> None:
    """Pending and waiting calls a minute before and after the stall cut-off, by their last change or by their
    next attempt (a scheduled attempt counts for a waiting call too): the incident list and is_stalled agree
    with each other and with the rule, row by row."""
    a1 = _agency("000.00.01.H26")
    ks = _version("1.001193")
    cutoff = stalled_since()
    before, after = cutoff - timedelta(minutes=1), cutoff + timedelta(minutes=1)
    far = cutoff + timedelta(days=1)
    # (state, updated_at, next_attempt_at, a payment made, stalled)
    cases = [("pending", before, None, False, True), ("pending", after, None, False, False),
             ("pending", before, after, False, False), ("pending", after, before, False, True),
             ("waiting", before, None, True, True), ("waiting", after, None, True, False),
             ("waiting", before, None, False, False), ("waiting", before, far, True, False),
             ("waiting", after, before, True, True), ("done", before, None, True, False),
             ("failed", after, None, False, False)]
    ids = {}
    for i, (state, updated, next_at, paid, _) in enumerate(cases):
        d = dossier(a1, version=ks)
        call = _service_call(d, state, updated, next_at)
        if paid:
            db.session.add(Payment(dossier_id=d.id, transaction_id=uuid.uuid4().hex, amount=8000, state="paid",
                                   service_call_id=call.id))
        ids[i] = call.id
    db.session.flush()
    listed = {_row_id(r) for r in listings.incidents(_user("tiepnhan"), ListQuery(size=100))["calls"].items}
    for i, (state, _, _, _, stalled) in enumerate(cases):
        call = db.session.get(ServiceCall, ids[i])
        assert service_calls.is_stalled(call) is stalled, cases[i]
        assert (ids[i] in listed) is (stalled or state == "failed"), cases[i]
    # A list of calls (as the API shows a dossier's or the incidents') is judged by the same rule in one query.
    calls = [db.session.get(ServiceCall, ids[i]) for i in range(len(cases))]
    before_count = len(statements.statements)
    among = stalls.stalled_among(calls)
    assert len(statements.statements) - before_count == 1
    assert among == {ids[i] for i, case in enumerate(cases) if case[-1]}

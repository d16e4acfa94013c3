"""The platform's lists, one page at a time: the officer's inbox, the incidents, a procedure's running dossiers,
the designer's procedures, a citizen's own dossiers and a dossier's history.

Every list is paginated (a bounded offset: deeper pages ask for a narrower filter), sorted on a key that ends
with the primary key (no duplicates or gaps across pages, whatever the ties), filtered in SQL, counted only up
to COUNT_CAP, and loads in one statement what its page shows. Each query is written so that an index of
migrations 0009_lists and 0010_lists2 (or older) answers it without reading closed dossiers or sent outbox rows.
Who may see what, the stall cut-off and the time come from the core's one definition of each (app.dossiers.access
and .clock); the inbox's visibility rule is tested against the task page's (services.get_task).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import aliased, contains_eager, defer, joinedload, selectinload

from app.dossiers.access import Scope, history_entries, operable, refundable
from app.dossiers.calendar import DEFAULT_WARN_WITHIN
from app.dossiers.clock import local_tz, now_utc, stalled_since
from app.dossiers.stalls import stalled_call
from app.extensions import db
from app.models import (
    AuditEvent,
    Dossier,
    HumanTask,
    Payment,
    PortalOutbox,
    Procedure,
    ProcedureVersion,
    Refund,
    ServiceCall,
    User,
)
from app.models.dossier import FINAL_STATUSES, STATUSES, folded
from app.models.integration import WorkflowIncident
from app.models.user import CITIZEN_ROLE

T = TypeVar("T")

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = 25
MAX_OFFSET = 2500  # rows skipped at most: beyond, a narrower filter finds the row faster than paging
COUNT_CAP = 1000  # totals are counted up to here and shown as "1000+" beyond
# By the local calendar: overdue, due today, due this week; by the remaining legal time (calendar.classify_in_progress,
# what the inbox shows on each task): "soon" due within 24 h (sắp hết hạn), "in_time" more than 24 h left (trong hạn).
DUE_WINDOWS = ("overdue", "today", "week", "soon", "in_time")
OFFICER_FILTERS = ("me", "free")
INCIDENT_KINDS = ("calls", "workflow", "sync", "refunds")
# Literal SQL values (not bound parameters) so that the planner matches the partial indexes' predicates.
_OPEN_TASK_STATES: list[Any] = [literal_column("'ready'"), literal_column("'claimed'")]
_FINAL: list[Any] = [literal_column(str(s)) for s in sorted(FINAL_STATUSES)]


@dataclass(frozen=True)
class ListQuery:
    """What a list is asked for, read from a page's query string (names as in the URLs)."""

    page: int = 1
    size: int = DEFAULT_PAGE_SIZE
    sort: str = ""
    procedure: str = ""  # procedure code
    status: int | None = None
    due: str = ""  # one of DUE_WINDOWS
    officer: str = ""  # inbox: one of OFFICER_FILTERS
    q: str = ""  # dossier code (prefix) or applicant name (part)
    kind: str = ""  # incidents: one of INCIDENT_KINDS, "" for all

    @classmethod
    def from_args(cls, args: Mapping[str, str], sorts: Sequence[str] = ()) -> ListQuery:
        def number(name: str, default: int) -> int:
            try:
                return int(args.get(name, "") or default)
            except ValueError:
                return default

        size = number("so_dong", DEFAULT_PAGE_SIZE)
        status = number("trang_thai", 0)
        sort = args.get("sap_xep", "")
        return cls(
            page=max(1, min(number("trang", 1), MAX_OFFSET // DEFAULT_PAGE_SIZE + 1)),
            size=size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE,
            sort=sort if sort in sorts else (sorts[0] if sorts else ""),
            procedure=args.get("thu_tuc", "").strip()[:64],
            status=status if status in STATUSES else None,
            due=args.get("han", "") if args.get("han", "") in DUE_WINDOWS else "",
            officer=args.get("can_bo", "") if args.get("can_bo", "") in OFFICER_FILTERS else "",
            q=args.get("q", "").strip()[:100],
            kind=args.get("loai", "") if args.get("loai", "") in INCIDENT_KINDS else "",
        )

    @property
    def offset(self) -> int:
        return min((self.page - 1) * self.size, MAX_OFFSET)

    @property
    def filtered(self) -> bool:
        return bool(self.procedure or self.status or self.due or self.officer or self.q)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list. `total` is exact up to COUNT_CAP; `capped` says there are more than that."""

    items: list[T]
    page: int
    size: int
    has_next: bool
    total: int
    capped: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def total_label(self) -> str:
        return f"{COUNT_CAP}+" if self.capped else str(self.total)

    @property
    def first_index(self) -> int:
        return (self.page - 1) * self.size + 1 if self.items else 0


def page_of(rows: Sequence[T], query: ListQuery, total: int) -> Page[T]:
    """The page `query` asks for from `rows` (read with a limit of one more than the page's size) and the total."""
    items = list(rows[:query.size])
    page = query.offset // query.size + 1
    # The offset bound stops paging: the last reachable page says so through has_next=False.
    has_next = len(rows) > query.size and query.offset + query.size <= MAX_OFFSET
    return Page(items=items, page=page, size=query.size, has_next=has_next,
                total=min(total, COUNT_CAP), capped=total > COUNT_CAP)


def _capped_total(stmt: Select[Any]) -> Any:
    """SQL: COUNT(*) of at most COUNT_CAP + 1 rows of `stmt`: cheap on an index, enough to say "1000+"."""
    inner = stmt.with_only_columns(literal(1).label("one")).order_by(None).limit(COUNT_CAP + 1).subquery()
    return select(func.count()).select_from(inner).scalar_subquery()


def _capped_count(stmt: Select[Any]) -> int:
    return int(db.session.scalar(select(_capped_total(stmt))) or 0)


# ---------------------------------------------------------------- shared filters


def due_bounds(window: str, now: datetime | None = None) -> tuple[datetime | None, datetime | None]:
    """[start, end) of a due window in UTC, by the local calendar: overdue (before now), due today, due this
    week (today to Sunday night)."""
    now = now or now_utc()
    local = now.astimezone(local_tz())
    today = datetime.combine(local.date(), time(0), tzinfo=local.tzinfo)
    if window == "overdue":
        return None, now
    if window == "today":
        return today.astimezone(UTC), (today + timedelta(days=1)).astimezone(UTC)
    if window == "week":
        return today.astimezone(UTC), (today + timedelta(days=7 - local.weekday())).astimezone(UTC)
    # classify_in_progress: «sắp hết hạn» when the due instant is at most 24 h away, itself included.
    warned = now + DEFAULT_WARN_WITHIN + timedelta(microseconds=1)
    if window == "soon":
        return now, warned
    if window == "in_time":
        return warned, None
    return None, None


def _due_filter(column: Any, window: str) -> ColumnElement[bool]:
    start, end = due_bounds(window)
    conditions = []
    if start is not None:
        conditions.append(column >= start)
    if end is not None:
        conditions.append(column < end)
    return and_(true(), *conditions)


def _text_filter(q: str) -> ColumnElement[bool]:
    """A dossier code starting with `q`, or an applicant's name containing it (case-insensitive)."""
    return or_(Dossier.code.startswith(q.upper(), autoescape=True),
               Dossier.code.startswith(q, autoescape=True),
               func.lower(Dossier.applicant_name).contains(q.lower(), autoescape=True))


def _procedure_filter(code: str) -> ColumnElement[bool]:
    versions = (select(ProcedureVersion.id).join(Procedure, Procedure.id == ProcedureVersion.procedure_id)
                .where(Procedure.code == code))
    return Dossier.procedure_version_id.in_(versions)


def _dossier_filters(query: ListQuery, *, due: bool = True) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.procedure:
        conditions.append(_procedure_filter(query.procedure))
    if query.status:
        conditions.append(Dossier.status == query.status)
    if query.due and due:
        conditions.append(_due_filter(Dossier.due_at, query.due))
    if query.q:
        conditions.append(_text_filter(query.q))
    return conditions


def _dossier_order(sort: str) -> list[Any]:
    """Dossier lists: received (submitted) date, due date or code; "-" first for descending; id breaks ties."""
    desc = sort.startswith("-")
    key = {"received": Dossier.submitted_at, "due": Dossier.due_at, "code": Dossier.code}[sort.lstrip("-")]
    return [key.desc(), Dossier.id.desc()] if desc else [key.asc(), Dossier.id.asc()]


def procedure_choices() -> list[tuple[str, str]]:
    """(code, name) of every procedure, for a list's procedure filter."""
    return [(c, n) for c, n in db.session.execute(select(Procedure.code, Procedure.name).order_by(Procedure.code))]


# ---------------------------------------------------------------- the inbox

INBOX_SORTS = ("due", "-due", "received", "-received", "code", "-code")


def _sorted(column: Any, desc: bool) -> Any:
    # NULLS LAST either way: only the step's deadline may be missing, and a task without one comes last.
    return (column.desc() if desc else column.asc()).nulls_last()


def _inbox_order(sort: str) -> list[Any]:
    """The default is the step's deadline (tasks without one last), then the dossier's, then the task; the others
    are the dossier's received date or code as the task carries them (HumanTask.dossier_*), then the task."""
    desc = sort.startswith("-")
    if sort.lstrip("-") == "due":
        return [_sorted(column, desc) for column in (HumanTask.due_at, Dossier.due_at, HumanTask.id)]
    # Never null on an open task: the plain order, which the index gives read forwards or backwards.
    key = {"received": HumanTask.dossier_submitted_at, "code": HumanTask.dossier_code}[sort.lstrip("-")]
    return [key.desc(), HumanTask.id.desc()] if desc else [key.asc(), HumanTask.id.asc()]


def _like(column: Any, text: str, *, prefix: bool) -> ColumnElement[bool]:
    """`column` starting with (`prefix`) or containing `text`, wildcards taken as text. The pattern is written into
    the statement as a literal: a prepared statement's generic plan cannot tell a selective search from a broad
    one, and picks a plan several times slower for the inbox's search."""
    escaped = text.replace("/", "//").replace("%", "/%").replace("_", "/_")
    pattern = f"{escaped}%" if prefix else f"%{escaped}%"
    return column.like(bindparam(None, pattern, type_=String(), literal_execute=True), escape="/")


def _task_text_filter(q: str, *, indexed: bool = True) -> ColumnElement[bool]:
    """_text_filter on the task's copies of its dossier's fields; the name is compared without accents. Not
    `indexed`, the same test is written so that no index answers it (the trigram index would otherwise be
    preferred to the few rows a branch finds another way)."""
    code: Any = HumanTask.dossier_code if indexed else func.coalesce(HumanTask.dossier_code, "")
    name: Any = HumanTask.applicant_folded if indexed else func.coalesce(HumanTask.applicant_folded, "")
    return or_(_like(code, q.upper(), prefix=True), _like(code, q, prefix=True),
               _like(name, folded(q), prefix=False))


_OWN = aliased(Dossier, name="own_dossier")  # built once: an alias costs more to build than the query it serves


def _task_due_filter(window: str) -> ColumnElement[bool]:
    """The step's deadline in the window, or for a step without one, its dossier's: a correlated subquery that
    COALESCE evaluates for those tasks only (an EXISTS could be hashed into a scan of every dossier)."""
    dossier_due = select(_OWN.due_at).where(_OWN.id == HumanTask.dossier_id).scalar_subquery()
    return _due_filter(func.coalesce(HumanTask.due_at, dossier_due), window)


def _inbox_branches(user: User, query: ListQuery, *, sort: str = "") -> list[Select[Any]]:
    """The visibility rule `(agency AND role) OR (the citizen's own task)` as separate queries, one per role
    of the user's agency and one for the user's own dossiers, each answered by an index in the order asked
    (ix_human_task_open, _open_code or _open_received for an agency role, ix_dossier_applicant_submitted for one's
    own dossiers) instead of one OR that no index serves. A citizen's task is never an agency's (the role rule of
    services.get_task). An agency's branch reads the dossiers only for a filter on the procedure or status, or
    to order by the dossier's deadline after the step's (`sort` "due")."""
    on_dossier: list[ColumnElement[bool]] = []
    if query.procedure:
        on_dossier.append(_procedure_filter(query.procedure))
    if query.status:
        on_dossier.append(Dossier.status == query.status)
    common: list[ColumnElement[bool]] = [HumanTask.state.in_(_OPEN_TASK_STATES)]
    if query.officer == "me":
        common.append(HumanTask.claimed_by_id == user.id)
    elif query.officer == "free":
        common.append(HumanTask.claimed_by_id.is_(None))
    else:
        common.append(or_(HumanTask.claimed_by_id.is_(None), HumanTask.claimed_by_id == user.id))
    if query.due:
        common.append(_task_due_filter(query.due))
    joined = select(HumanTask.id).join(Dossier, Dossier.id == HumanTask.dossier_id).where(*common, *on_dossier)
    agency_base = joined if on_dossier or sort.lstrip("-") == "due" else select(HumanTask.id).where(*common)
    searched, own_searched = [], []
    if query.q:  # an agency's tasks are searched by the trigram index, one's own found from one's dossiers
        searched, own_searched = [_task_text_filter(query.q)], [_task_text_filter(query.q, indexed=False)]
    branches = []
    if user.agency_id is not None:
        for role in sorted({r for r in user.roles or [] if r != CITIZEN_ROLE}):
            branches.append(agency_base.where(HumanTask.agency_id == user.agency_id, HumanTask.role == role,
                                              *searched))
    branches.append(joined.where(HumanTask.role == CITIZEN_ROLE, Dossier.applicant_user_id == user.id,
                                 *own_searched))
    return branches


def inbox(user: User, query: ListQuery) -> Page[HumanTask]:
    """Open tasks the user may take (unclaimed, or claimed by the user), one page, with their dossiers, and their
    number counted up to COUNT_CAP: ONE statement.

    Every order and filter is answered from the open tasks: each branch keeps only its first offset + size + 1
    rows, read in the order asked from its index, so a page reads about as many index entries as it shows (more
    under a filter, never more than the branch's open tasks) however many tasks the agency has; the count reads
    at most COUNT_CAP + 1 entries per branch. Dossiers are read for the page's rows only.
    """
    sort = query.sort or "due"
    order = _inbox_order(sort)
    wanted = query.offset + query.size + 1
    tops = [select(b.order_by(*order).limit(wanted).subquery().c.id) for b in _inbox_branches(user, query, sort=sort)]
    ids = tops[0] if len(tops) == 1 else union_all(*tops)
    counted = [select(b.limit(COUNT_CAP + 1).subquery().c.id) for b in _inbox_branches(user, query)]
    every = counted[0] if len(counted) == 1 else union_all(*counted)
    total = select(func.count()).select_from(every.subquery()).scalar_subquery()
    found = db.session.execute(
        select(HumanTask, total.label("total")).join(HumanTask.dossier)
        .options(contains_eager(HumanTask.dossier).defer(Dossier.form_data), defer(HumanTask.data))
        .where(HumanTask.id.in_(ids))
        .order_by(*order).offset(query.offset).limit(query.size + 1)
    ).all()
    return page_of([task for task, _ in found], query, int(found[0][1]) if found else 0)


# ---------------------------------------------------------------- incidents


def _calls(user: User, query: ListQuery) -> Select[Any]:
    """Service calls waiting for a person: failed, or stalled (app.dossiers.stalls, the one rule)."""
    return (select(ServiceCall).join(Dossier, Dossier.id == ServiceCall.dossier_id)
            .where(or_(ServiceCall.state == "failed", stalled_call()), operable(user),
                   *_dossier_filters(query)))


def _workflow(user: User, query: ListQuery) -> Select[Any]:
    return (select(WorkflowIncident).join(Dossier, Dossier.id == WorkflowIncident.dossier_id)
            .where(WorkflowIncident.state == "open", operable(user), *_dossier_filters(query)))


def _sync(user: User, query: ListQuery) -> Any:
    """Dossiers whose portal sync waits for a person: the first unsent row (portal_sync.head) was refused
    (portal_sync.is_refused) or has waited past the stall cut-off. Only unsent rows are read (the partial index
    ix_portal_outbox_unsent)."""
    heads = (select(func.min(PortalOutbox.id)).where(PortalOutbox.sent_at.is_(None))
             .group_by(PortalOutbox.dossier_id))
    refused = and_(PortalOutbox.last_error != "", PortalOutbox.next_attempt_at.is_(None))
    return (select(Dossier, PortalOutbox).join(Dossier, Dossier.id == PortalOutbox.dossier_id)
            .where(PortalOutbox.id.in_(heads), PortalOutbox.sent_at.is_(None),
                   or_(refused, PortalOutbox.created_at < stalled_since()), operable(user),
                   *_dossier_filters(query)))


def _refunds(user: User, query: ListQuery) -> Select[Any]:
    """Refunds asked for and not carried out before the stall cut-off, on dossiers the user may refund."""
    return (select(Refund).join(Payment, Payment.id == Refund.payment_id)
            .join(Dossier, Dossier.id == Payment.dossier_id)
            .where(Refund.state == "pending", Refund.requested_at < stalled_since(), refundable(user),
                   *_dossier_filters(query)))


INCIDENT_SORTS = ("oldest", "newest", "code")


def _incident_order(kind: str, sort: str) -> list[Any]:
    key, pk = {"calls": (ServiceCall.updated_at, ServiceCall.id),
               "workflow": (WorkflowIncident.created_at, WorkflowIncident.id),
               "sync": (PortalOutbox.created_at, PortalOutbox.id),
               "refunds": (Refund.requested_at, Refund.id)}[kind]
    if sort == "code":
        return [Dossier.code.asc(), pk.asc()]
    return [key.desc(), pk.desc()] if sort == "newest" else [key.asc(), pk.asc()]


def incident_count(user: User) -> int:
    """How many incidents of every kind wait for this user (each kind counted up to COUNT_CAP): ONE statement,
    for the inbox's badge."""
    everything = ListQuery()
    parts = [_capped_total(stmt) for stmt in (_calls(user, everything), _workflow(user, everything),
                                              _sync(user, everything), _refunds(user, everything))]
    return int(db.session.scalar(select(parts[0] + parts[1] + parts[2] + parts[3])) or 0)


def _total_column(stmt: Select[Any]) -> Any:
    """_capped_count as a column of the page's own statement (one round trip for the page and its count)."""
    return _capped_total(stmt).label("total")


def incidents(user: User, query: ListQuery, pages: Mapping[str, int] | None = None) -> dict[str, Page[Any]]:
    """Each kind of incident as its own page (`pages` gives each kind's page number), with what the page shows
    and the kind's capped count loaded in the same statement: the dossier, and for refunds the payment."""
    pages = pages or {}
    kinds = (query.kind,) if query.kind else INCIDENT_KINDS
    out: dict[str, Page[Any]] = {}
    for kind in kinds:
        q = replace(query, page=max(1, min(pages.get(kind, query.page), MAX_OFFSET // query.size + 1)))
        order = _incident_order(kind, query.sort or "oldest")
        if kind == "calls":
            stmt = _calls(user, q)
            loaded = stmt.options(contains_eager(ServiceCall.dossier).defer(Dossier.form_data))
        elif kind == "workflow":
            stmt = _workflow(user, q)
            loaded = stmt.options(contains_eager(WorkflowIncident.dossier).defer(Dossier.form_data))
        elif kind == "sync":
            stmt = _sync(user, q)
            loaded = stmt.options(defer(Dossier.form_data))
        else:
            stmt = _refunds(user, q)
            loaded = stmt.options(contains_eager(Refund.payment).contains_eager(Payment.dossier)
                                  .defer(Dossier.form_data))
        found = db.session.execute(loaded.add_columns(_total_column(stmt)).order_by(*order)
                                   .offset(q.offset).limit(q.size + 1)).all()
        # A sync problem is its (dossier, outbox row); the other kinds are their row.
        rows = [(r[0], r[1]) if kind == "sync" else r[0] for r in found]
        out[kind] = page_of(rows, q, int(found[0][-1]) if found else 0)
    return out


# ---------------------------------------------------------------- dossier lists

DOSSIER_SORTS = ("-received", "received", "due", "-due", "code", "-code")


def _list_options() -> list[Any]:
    """What a dossier list shows: the dossier without its form data, and its version's name and number."""
    return [defer(Dossier.form_data),
            selectinload(Dossier.procedure_version).load_only(
                ProcedureVersion.id, ProcedureVersion.procedure_id, ProcedureVersion.version,
                ProcedureVersion.manifest)]


def _dossier_page(stmt: Select[Any], query: ListQuery) -> Page[Dossier]:
    rows = db.session.scalars(stmt.options(*_list_options()).order_by(*_dossier_order(query.sort or "-received"))
                              .offset(query.offset).limit(query.size + 1)).all()
    total = _capped_count(stmt) if len(rows) > query.size or query.page > 1 else len(rows)
    return page_of(rows, query, total)


def my_dossiers(user: User, query: ListQuery) -> Page[Dossier]:
    """The applicant's own dossiers, newest first by default (ix_dossier_applicant_submitted)."""
    stmt = select(Dossier).where(Dossier.applicant_user_id == user.id, *_dossier_filters(query))
    return _dossier_page(stmt, query)


def procedure_dossiers(procedure: Procedure, query: ListQuery) -> Page[Dossier]:
    """A procedure's running (not final) dossiers on any of its versions: read from the partial index on open
    dossiers (ix_dossier_open_version_submitted), never from the closed ones."""
    versions = list(db.session.scalars(select(ProcedureVersion.id)
                                       .where(ProcedureVersion.procedure_id == procedure.id)))
    stmt = select(Dossier).where(Dossier.procedure_version_id.in_(versions), Dossier.status.not_in(_FINAL),
                                 *_dossier_filters(replace(query, procedure="")))
    return _dossier_page(stmt, query)


def procedure_index(query: ListQuery, scope: Scope | None = None) -> Page[tuple[Procedure, int]]:
    """The designer's procedures (those of the agencies `scope` lets them design), each with its number of dossiers
    counted up to COUNT_CAP (shown "1000+"): three statements whatever the number of dossiers (procedures, their
    versions, the capped counts)."""
    stmt = select(Procedure)
    if scope is not None:
        stmt = stmt.where(scope.condition(Procedure.agency_id))
    if query.q:
        stmt = stmt.where(or_(Procedure.code.startswith(query.q, autoescape=True),
                              func.lower(Procedure.name).contains(query.q.lower(), autoescape=True)))
    order: list[Any] = [Procedure.name.asc(), Procedure.id.asc()] if query.sort == "name" else [Procedure.code.asc(),
                                                                                      Procedure.id.asc()]
    procedures = db.session.scalars(
        stmt.options(joinedload(Procedure.current_version).load_only(ProcedureVersion.id, ProcedureVersion.version))
        .order_by(*order).offset(query.offset).limit(query.size + 1)).all()
    shown = procedures[:query.size]
    versions: dict[int, list[int]] = {}
    for version_id, procedure_id in db.session.execute(
            select(ProcedureVersion.id, ProcedureVersion.procedure_id)
            .where(ProcedureVersion.procedure_id.in_([p.id for p in shown]))):
        versions.setdefault(procedure_id, []).append(version_id)
    counts: dict[int, int] = {}
    parts = [select(literal(pid).label("pid"), func.count().label("n")).select_from(
        select(Dossier.id).where(Dossier.procedure_version_id.in_(ids)).limit(COUNT_CAP + 1).subquery())
        for pid, ids in versions.items()]
    if parts:
        counts = {int(pid): int(n) for pid, n in db.session.execute(parts[0] if len(parts) == 1
                                                                    else union_all(*parts))}
    rows = [(p, counts.get(p.id, 0)) for p in procedures]
    total = len(rows) if len(rows) <= query.size and query.page == 1 else _capped_count(stmt)
    return page_of(rows, query, total)


def count_label(count: int) -> str:
    return f"{COUNT_CAP}+" if count > COUNT_CAP else str(count)


# ---------------------------------------------------------------- a dossier's history

HISTORY_PAGE_SIZE = 50


def history(dossier: Dossier, viewer: User | None, query: ListQuery) -> Page[AuditEvent]:
    """The dossier's history in order, a page at a time; for a viewer who is not an officer or designer (the
    applicant), without the platform's internal entries (access.history_entries, as services.history)."""
    stmt = history_entries(dossier, viewer)
    query = replace(query, size=max(query.size, HISTORY_PAGE_SIZE))
    rows = db.session.scalars(stmt.order_by(AuditEvent.at, AuditEvent.id).offset(query.offset)
                              .limit(query.size + 1)).all()
    total = _capped_count(stmt) if len(rows) > query.size or query.page > 1 else len(rows)
    return page_of(rows, query, total)

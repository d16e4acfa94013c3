"""The security audit log (app.models.audit): write an action into its agency's hash chain, verify the chains,
and read what a citizen may see of who looked at their data.

`record()` stages an event in the caller's transaction and never commits; the transaction writes its events as it
commits (`write_staged`, a before-commit listener connected last), so an action and its audit rows are committed or
rolled back together. Writers of one chain are serialized by the update of the chain's head row, which comes first
(PostgreSQL: the row lock, held until the commit that follows; SQLite: the database's single writer), so a
concurrent writer waits and then links to the rows committed before it; (chain, seq) is unique besides. Taking the
chain last and only for the commit keeps the wait short and free of lock-order cycles with the action's own locks.

Who and why come from the caller; what the caller does not say (the address and page of a web request) comes
from the context provider the web layer installs (`app.extensions[CONTEXT_KEY]`), so nothing here knows HTTP.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, Select, and_, event, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.clock import now_utc
from app.extensions import db
from app.models import Agency, Dossier, User
from app.models.audit import PLATFORM_CHAIN, AuditChain, AuditLog

CONTEXT_KEY = "motcua_audit_context"  # app.extensions: () -> {"ip": …, "where": …} of the current request
GENESIS = "0" * 64
_STAGED = "motcua_audit_staged"  # Session.info: the transaction's events, written as it commits

# Action codes.
LOGIN, LOGIN_FAILED, LOGOUT, PASSWORD_CHANGED = "login", "login_failed", "logout", "password_changed"
LOOKUP = "registry_lookup"
VIEW = "view"  # personal data read: a dossier, a task page, an attachment, a document
TASK_COMPLETED = "task_completed"
SUBMITTED = "dossier_submitted"
DEPLOYED = "version_deployed"
RETIRED = "version_retired"
MOVED = "dossiers_moved"
LEAVE_ENTERED, LEAVE_CANCELLED = "leave_entered", "leave_cancelled"
DRAFT_DEPLOYED = "draft_deployed"
DESK = "desk_action"  # a desk action on a dossier (supplement, refusal, stop, resume, return, hand-over …)
TOKEN_ISSUED = "token_issued"  # noqa: S105 - an action code: an API token issued (client credentials, command)
CONFIGURED = "configuration_changed"  # the administration area: agencies, officers, calendars, publications, clients

# What was read when personal data was viewed (AuditLog.object_kind of a VIEW row).
VIEW_KINDS = ("dossier", "receipt", "task", "attachment", "document", "control_sheet", "api_dossier", "api_task")

# What a citizen is shown about themselves (app.web.portal «Ai đã xem dữ liệu của tôi»).
SEEN_BY_OTHERS = (LOOKUP, VIEW)

# The fields a row's hash covers, in this order (the serialization sorts keys anyway: order here is for readers).
HASHED = ("chain", "seq", "at", "actor_id", "actor_name", "actor_agency", "actor_role", "ip", "action",
          "object_kind", "object_ref", "reason", "subject", "dossier_id", "detail")


def _moment(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(values: Mapping[str, Any]) -> bytes:
    """The row's fields as one canonical JSON text: sorted keys, no spaces, UTF-8, times in UTC to the µs."""
    doc = {name: (_moment(values[name]) if name == "at" else values.get(name)) for name in HASHED}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def row_hash(values: Mapping[str, Any], prev_hash: str) -> str:
    """SHA-256 over the previous row's hash and this row's canonical serialization."""
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(values)).hexdigest()


def _context() -> Mapping[str, str]:
    provider: Callable[[], Mapping[str, str]] | None = current_app.extensions.get(CONTEXT_KEY)
    return provider() if provider is not None else {}


def chain_of(agency: Agency | None) -> str:
    return agency.code if agency is not None else PLATFORM_CHAIN


def _advance(session: Session, chain: str, n: int) -> tuple[int, str]:
    """Take the chain's head for `n` rows, created by the chain's first event: the sequence number before them and
    the hash they follow. One upsert, which waits for another writer of the same chain (its row lock, held until
    the commit that follows) and holds the chain until this transaction commits."""
    dialect = session.get_bind().dialect.name
    maker = pg_insert if dialect == "postgresql" else sqlite_insert
    upsert = maker(AuditChain).values(chain=chain, seq=n, hash=GENESIS)
    upsert = upsert.on_conflict_do_update(index_elements=["chain"], set_={"seq": AuditChain.seq + n})
    head = session.execute(upsert.returning(AuditChain.seq, AuditChain.hash)).one()
    return int(head.seq) - n, str(head.hash or GENESIS)


def _write_chain(session: Session, chain: str, rows: list[dict[str, Any]]) -> None:
    """Link `rows` (in the order recorded) after the chain's head and write them with the new head hash: on
    PostgreSQL the rows and the head in one statement."""
    seq, prev = _advance(session, chain, len(rows))
    for values in rows:
        seq += 1
        values["seq"], values["prev_hash"] = seq, prev
        values["hash"] = prev = row_hash(values, prev)
    table = AuditLog.__table__
    move_head = (update(AuditChain).where(AuditChain.chain == chain).values(hash=prev)
                 .execution_options(synchronize_session=False))
    if session.get_bind().dialect.name == "postgresql":
        session.execute(move_head.add_cte(insert(table).values(rows).cte("written")))
    else:
        session.execute(insert(table), rows)
        session.execute(move_head)


@event.listens_for(Session, "after_soft_rollback")
def _forget_staged(session: Session, previous_transaction: Any) -> None:
    session.info.pop(_STAGED, None)


def write_staged(session: Session) -> None:
    """The transaction's audit events, written as it commits (see listen()): per chain, in a fixed order of
    chains, so two transactions never wait for each other's chains crosswise; the chain's lock is the last one
    a transaction takes and it is held only for the commit."""
    staged: list[dict[str, Any]] = session.info.pop(_STAGED, None) or []
    if not staged:
        return
    by_chain: dict[str, list[dict[str, Any]]] = {}
    for values in staged:
        by_chain.setdefault(values["chain"], []).append(values)
    with session.no_autoflush:
        for chain in sorted(by_chain):
            _write_chain(session, chain, by_chain[chain])


def listen() -> None:
    """Write staged events at commit, after every other before-commit writer of the platform has run (they are
    connected as their modules are imported; this is called by app.subscriptions.register, once they all are)."""
    if not event.contains(Session, "before_commit", write_staged):
        event.listen(Session, "before_commit", write_staged)


def record(action: str, *, actor: User | None = None, agency: Agency | None = None, object_kind: str = "",
           object_ref: Any = "", reason: str = "", subject: str | None = None, dossier_id: int | None = None,
           detail: Mapping[str, Any] | None = None) -> None:
    """Record one action for the chain of `agency` (default: the actor's agency; none: the platform's), with
    who, what, on what and why as they are now; `reason` defaults to the request's page. It is written in the
    caller's transaction as it commits (write_staged), and forgotten if it rolls back. Never commits."""
    with db.session.no_autoflush:  # nothing the caller left pending is written early because of this
        # The actor's agency by id (usually in the session already): an actor object read by another session will do.
        own = db.session.get(Agency, actor.agency_id) if actor is not None and actor.agency_id else None
        if agency is None:
            agency = own
        actor_agency = own if actor is not None else agency
        values: dict[str, Any] = {
            "chain": chain_of(agency), "at": now_utc(),
            "actor_id": actor.id if actor is not None else None,
            "actor_name": (actor.full_name if actor is not None else "")[:255],
            "actor_agency": (actor_agency.name if actor_agency is not None else "")[:255],
            "actor_role": ",".join(actor.roles or [])[:255] if actor is not None else "",
        }
    context = _context()
    values.update({
        "ip": str(context.get("ip") or "")[:64], "action": action[:40], "object_kind": object_kind[:40],
        "object_ref": str(object_ref)[:255], "reason": (reason or str(context.get("where") or ""))[:500],
        "subject": subject[:40] if subject else None, "dossier_id": dossier_id,
        "detail": dict(detail) if detail else None,
    })
    if reason and context.get("where"):  # a reason given: the page it was given on is kept beside it
        values["detail"] = {**(values["detail"] or {}), "page": str(context["where"])[:500]}
    db.session.info.setdefault(_STAGED, []).append(values)


def record_for_dossier(action: str, dossier: Dossier, *, actor: User | None, reason: str = "",
                       object_kind: str = "dossier", object_ref: Any = None,
                       detail: Mapping[str, Any] | None = None) -> None:
    """An action on a dossier: in its agency's chain, about its applicant."""
    with db.session.no_autoflush:
        agency = dossier.agency
    record(action, actor=actor, agency=agency, object_kind=object_kind,
           object_ref=dossier.code if object_ref is None else object_ref, reason=reason,
           subject=dossier.applicant_id_number or None, dossier_id=dossier.id, detail=detail)


# ---------------------------------------------------------------- verification


@dataclass
class ChainReport:
    chain: str
    rows: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    # The first break: the row (id, seq) where it shows, its kind and what was found.
    broken_id: int | None = None
    broken_seq: int | None = None
    kind: str = ""
    message: str = ""

    @property
    def ok(self) -> bool:
        return not self.kind


def _rows(chain: str, up_to: int | None) -> Iterator[Any]:
    """The chain's rows as stored (plain rows, not the session's objects, which may hold what was written), up to
    the head read before them: rows another transaction commits meanwhile come after it and are left for next time."""
    table = AuditLog.__table__
    query = select(table).where(table.c.chain == chain).order_by(table.c.seq)
    if up_to is not None:
        query = query.where(table.c.seq <= up_to)
    yield from db.session.execute(query.execution_options(yield_per=1000))


def verify_chain(chain: str) -> ChainReport:
    """Walk one chain in sequence order; the first row that does not hold, and why:

    - `changed`: its hash is not the hash of its fields and its previous hash (a field was edited);
    - `gap`: its sequence number is not the next one (rows before it were deleted);
    - `link`: its previous hash is not the hash of the row before it (that row was deleted or replaced);
    - `reordered`: it was stored before the row it follows (rows were swapped);
    - `head`: the chain's head names a later row or another hash than the last one (rows at the end deleted).
    """
    report = ChainReport(chain)
    head = db.session.execute(select(AuditChain.seq, AuditChain.hash).where(AuditChain.chain == chain)).first()
    prev_hash, prev_id, expected = GENESIS, 0, 1

    def broke(row: Any, kind: str, message: str) -> ChainReport:
        report.kind, report.message = kind, message
        if row is not None:
            report.broken_id, report.broken_seq = row.id, row.seq
        return report

    for row in _rows(chain, head.seq if head is not None else None):
        values = {name: getattr(row, name) for name in HASHED}
        if row.seq != expected:
            return broke(row, "gap", f"expected sequence {expected}, found {row.seq}: "
                                     f"{row.seq - expected} row(s) missing before it")
        if row.prev_hash != prev_hash:
            return broke(row, "link", "its previous hash does not match the row before it "
                                      "(that row was deleted, replaced or moved)")
        if row_hash(values, row.prev_hash) != row.hash:
            return broke(row, "changed", "its hash does not match its fields (the row was changed)")
        if row.id <= prev_id:
            return broke(row, "reordered", f"stored before the row it follows (id {row.id} after id {prev_id})")
        prev_hash, prev_id, expected = row.hash, row.id, expected + 1
        report.rows += 1
    report.head_seq, report.head_hash = expected - 1, prev_hash
    if head is None and report.rows:
        return broke(None, "head", "the chain has rows but no head: its head was deleted")
    if head is not None and (head.seq != expected - 1 or head.hash != prev_hash):
        return broke(None, "head", f"the chain's head is at sequence {head.seq}, the last row at {expected - 1}: "
                                   "rows at its end were deleted or changed")
    if head is not None:
        # Rows after the head: committed since it was read (their head moved with them), or added behind its back.
        last = db.session.scalar(select(func.max(AuditLog.seq)).where(AuditLog.chain == chain))
        now = db.session.scalar(select(AuditChain.seq).where(AuditChain.chain == chain))
        if last is not None and last > head.seq and (now is None or now < last):
            return broke(None, "head", f"rows up to sequence {last} lie beyond the chain's head ({now}): "
                                       "they were added outside the platform")
    return report


def chains(agency_code: str | None = None) -> list[str]:
    """The chains to verify: one agency's, or every chain there is (heads and rows alike)."""
    if agency_code is not None:
        return [agency_code]
    names = set(db.session.scalars(select(AuditChain.chain))) | set(db.session.scalars(
        select(AuditLog.chain).distinct()))
    return sorted(names)


def verify(agency_code: str | None = None) -> list[ChainReport]:
    return [verify_chain(chain) for chain in chains(agency_code)]


# ---------------------------------------------------------------- what a citizen sees


@dataclass
class Seen:
    """One look at a citizen's data, as they are shown it."""

    at: datetime
    action: str
    kind: str  # a look-up's operation, or what was viewed (VIEW_KINDS)
    actor_name: str
    actor_agency: str
    own: bool  # they did it themselves (the form's prefill)
    reason: str
    dossier_code: str | None
    detail: dict[str, Any] = field(default_factory=dict)


def seen_query(user: User) -> Select[Any]:
    """Registry look-ups about `user` (by their personal ID, whoever asked: their own prefill too) and other people's
    views of their dossiers, newest first. A look-up about someone else made for their dossier (a parent's) is that
    person's to see, not theirs."""
    own_dossiers = select(Dossier.id).where(Dossier.applicant_user_id == user.id)
    others_views = and_(AuditLog.action == VIEW, AuditLog.dossier_id.in_(own_dossiers),
                        or_(AuditLog.actor_id.is_(None), AuditLog.actor_id != user.id))
    about: ColumnElement[bool] = others_views
    if user.personal_id:
        about = or_(and_(AuditLog.action == LOOKUP, AuditLog.subject == user.personal_id), others_views)
    return select(AuditLog).where(about).order_by(AuditLog.at.desc(), AuditLog.id.desc())


def seen_by_others(user: User, limit: int = 100, offset: int = 0) -> tuple[list[Seen], bool]:
    """A page of `seen_query(user)` and whether there is more."""
    rows: list[AuditLog] = list(db.session.scalars(seen_query(user).limit(limit + 1).offset(offset)))
    codes: dict[int, str] = {}
    ids = {r.dossier_id for r in rows if r.dossier_id is not None}
    if ids:
        found = db.session.execute(select(Dossier.id, Dossier.code).where(Dossier.id.in_(ids)))
        codes = {int(row.id): str(row.code) for row in found}
    seen = [Seen(at=r.at, action=r.action, kind=r.object_kind, actor_name=r.actor_name, actor_agency=r.actor_agency,
                 own=r.actor_id == user.id, reason=r.reason,
                 dossier_code=codes.get(r.dossier_id) if r.dossier_id is not None else None,
                 detail=dict(r.detail or {})) for r in rows[:limit]]
    return seen, len(rows) > limit

"""National portal (Cổng DVCQG) sync through an outbox: nothing is lost, nothing overtakes.

Every status change of a dossier writes, in the transaction that made it, a full snapshot of the dossier
(kind "dossier", carrying ``phien_ban`` = the dossier's new ``portal_version``); every finished step writes
one process step (kind "step"). The rows are taken when recorded and written together as the transaction
commits (one version update or row lock and one insert per dossier). A job per dossier then sends the
dossier's unsent rows strictly in id order, one at a time, stamping ``sent_at`` after each accepted one:

- a transient failure (portal down, timeout, busy) records the error on that row, stops (the rows behind
  it wait: the portal must never see version 5 before version 4), and schedules a retry with the pauses
  of SERVICE_CALL_DELAYS, then forever at the last pause (an update is never dropped);
- a permanent refusal (the portal rejects the payload, or our token) records the error, stops the
  dossier's queue and writes an audit event ``portal_sync_failed``: an operator fixes the cause and runs
  ``flask portal resend``, which also catches up after a lost job or a long outage;
- without a portal connector configured nothing is sent (and no job is queued); the rows wait for the
  configuration and a resend.

A row's state is read from its columns: unsent and ``next_attempt_at`` set → retrying (a retry job is
scheduled for that time); unsent, an error and no ``next_attempt_at`` → refused (the queue is stopped).
A sending job that is lost (Redis restarted, its worker killed) is made again by the sweeper from these
columns (`due_heads`), so a row retrying never holds the dossier's later rows back for good.
A PostgreSQL advisory lock per dossier keeps two jobs from sending at once, so a duplicated job sends
nothing twice; since that lock dies with its connection, each send also holds the row by a lease written in it
(`claim`), which nobody else can take before the send can have ended. The portal also treats a repeated
``ma_buoc`` or ``phien_ban`` as a retry.

The rows are written by hooks on the dossier's events (app.subscriptions); the sending job is
app.jobs.portal.sync_dossier, which commits between the phases kept here.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, event, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.dossiers import events
from app.dossiers.clock import now_utc, retry_delays
from app.dossiers.components import received_components
from app.dossiers.fees import decider, fee_lines
from app.dossiers.locks import lock
from app.engine.decisions import DecisionError
from app.extensions import db
from app.models import AuditEvent, Dossier, PortalOutbox, User
from app.models.user import N_
from connectors.base import ConnectorError
from connectors.portal import portal_time

log = logging.getLogger(__name__)

PUSH_DOSSIER = "portal.push_dossier"
PUSH_STEP = "portal.push_step"
_STAGED = "motcua_portal_rows"  # session.info: {dossier id: (dossier, [(kind, payload)])} owed by this transaction
_DEFAULT_DELAY = 60.0  # when SERVICE_CALL_DELAYS is empty
_SLACK = timedelta(seconds=1)  # a retry time this close counts as due (clocks of workers differ a little)


def registry() -> Any | None:
    """The connector registry if it can reach the portal, else None."""
    registry = current_app.extensions.get("motcua_connectors")
    if registry is None:
        return None
    ids = registry.ids()
    return registry if PUSH_DOSSIER in ids and PUSH_STEP in ids else None


def configured() -> bool:
    return registry() is not None


# ---------------------------------------------------------------- recording (in the caller's transaction)


def _date(value: datetime | None) -> str | None:
    return portal_time(value) if value is not None else None


def _text(value: str | None) -> str | None:
    return value or None


def snapshot(dossier: Dossier, version: int) -> dict[str, Any]:
    """The dossier as the portal's DOSSIER_SCHEMA describes it, at this moment, as version ``version``."""
    manifest = dossier.procedure_version.manifest
    data = dossier.form_data or {}
    online = dossier.channel == 2
    # Exactly what the dossier holds, as on the receipt: uploads, the e-form, components marked received.
    # Digitized: everything of an online dossier, and a component of a walk-in one the desk scanned and uploaded.
    components = [{"ten": item["name"], "ma": item["code"], "url": None,
                   "so_hoa": True if online or item["uploaded"] else None,
                   "tai_su_dung": True if item["reused_from"] else None} for item in received_components(dossier)]
    # The lines of the one fee computation (app/dossiers/fees.py), adding up to the dossier's fee.
    try:
        lines = fee_lines(manifest, dossier.channel, data, decider(dossier.procedure_version))
    except DecisionError:  # it answered at submission: the amount charged stands (below)
        lines = []
    fees: list[dict[str, Any]] = [{"ten": line.name, "so_tien": line.amount} for line in lines]
    if sum(line.amount for line in lines) != dossier.fee_amount:
        fees = [{"ten": f"Phí, lệ phí: {manifest['name']}", "so_tien": int(dossier.fee_amount)}] if (
            dossier.fee_amount > 0) else []
    return {
        "ma_ho_so": dossier.code,
        "ma_thu_tuc": manifest["code"],
        "ten_thu_tuc": manifest.get("name"),
        "linh_vuc": manifest.get("field") or None,
        "kenh": dossier.channel if dossier.channel in (1, 2, 3) else None,
        "chu_ho_so": {
            "ho_ten": _text(dossier.applicant_name),
            "so_dinh_danh": _text(dossier.applicant_id_number),
            "email": _text(dossier.applicant_email),
            "so_dien_thoai": _text(dossier.applicant_phone),
        },
        "trich_yeu": _text(dossier.summary),
        "ngay_nop": portal_time(dossier.submitted_at),
        "ngay_tiep_nhan": _date(dossier.received_at),
        "ngay_hen_tra": _date(dossier.appointment),  # an apology's new date once one was promised
        "ngay_tra": _date(dossier.returned_at),
        "ngay_ket_thuc": _date(dossier.finished_at),
        "ngay_tu_choi": _date(dossier.finished_at) if dossier.status == 3 else None,
        "trang_thai": dossier.status,
        "don_vi_xu_ly": dossier.agency.name if dossier.agency is not None else None,
        "thanh_phan": components,
        "le_phi": fees or None,
        "phien_ban": version,
    }


def _ensure_id(dossier: Dossier) -> int:
    if dossier.id is None:
        db.session.add(dossier)
        db.session.flush()
    return dossier.id


def _stage(dossier: Dossier, kind: str, payload: dict[str, Any]) -> None:
    """Keep a row for the end of the transaction (`_write_staged`), in the order recorded."""
    staged: dict[int, tuple[Dossier, list[tuple[str, dict[str, Any]]]]] = db.session.info.setdefault(_STAGED, {})
    staged.setdefault(_ensure_id(dossier), (dossier, []))[1].append((kind, payload))


def record_dossier(dossier: Dossier) -> None:
    """Queue a snapshot of the dossier for the national portal (called on every status change): taken now,
    written with its version when the transaction commits."""
    _stage(dossier, "dossier", snapshot(dossier, 0))


def record_step(dossier: Dossier, title: str, actor: User | None, started_at: datetime | None,
                finished_at: datetime, due_at: datetime | None) -> None:
    """Queue one finished process step of the dossier for the national portal (written at commit)."""
    step = {
        # Stable across retries (it is stored), unique per step: the portal deduplicates on it.
        "ma_buoc": f"{dossier.code}-{uuid.uuid4().hex[:12]}",
        "can_bo": actor.full_name if actor is not None else None,
        "chuc_danh": None,
        "phong_ban": None,
        "thoi_diem": portal_time(finished_at),
        "noi_dung": (title or "").strip() or "Xử lý hồ sơ",
        "trang_thai": dossier.status,
        "bat_dau": _date(started_at),
        "han_xu_ly": _date(due_at),
    }
    _stage(dossier, "step", {"ma_ho_so": dossier.code, "buoc": step})


# PostgreSQL: a dossier's rows in one statement with its lock or version update (a CTE): the versions and the
# ids are those the separate statements gave, the payloads get their version number in the database.
_WRITE_WITH_VERSIONS = """
WITH d AS (UPDATE dossier SET portal_version = portal_version + :n WHERE id = :dossier_id RETURNING portal_version)
"""
_WRITE_WITH_LOCK = """
WITH d AS (SELECT portal_version FROM dossier WHERE id = :dossier_id FOR UPDATE)
"""
_INSERT_ROWS = """
INSERT INTO portal_outbox (dossier_id, kind, payload, created_at, attempts, last_error)
SELECT :dossier_id, r.kind,
       CASE WHEN r.nth IS NULL THEN r.payload
            ELSE jsonb_set(r.payload, '{phien_ban}', to_jsonb(d.portal_version - :n + r.nth)) END,
       :now, 0, ''
FROM d CROSS JOIN ROWS FROM (jsonb_to_recordset(:rows) AS (kind text, payload jsonb, nth int))
     WITH ORDINALITY AS r(kind, payload, nth, ord)
ORDER BY r.ord
RETURNING id, (payload ->> 'phien_ban')::int
"""


def _write_in_one_statement(session: Session, dossier: Dossier, dossier_id: int,
                            recorded: list[tuple[str, dict[str, Any]]], now: datetime) -> list[int]:
    """Lock or version the dossier and insert its rows, in one statement; the ids of the rows, in order."""
    n, items = 0, []
    for kind, payload in recorded:
        if kind == "dossier":
            n += 1
        items.append({"kind": kind, "payload": payload, "nth": n if kind == "dossier" else None})
    statement = text((_WRITE_WITH_VERSIONS if n else _WRITE_WITH_LOCK) + _INSERT_ROWS).bindparams(
        bindparam("rows", type_=JSONB), bindparam("now", type_=PortalOutbox.created_at.type))
    written = session.execute(statement, {"n": n, "dossier_id": dossier_id, "rows": items, "now": now}).all()
    if len(written) != len(recorded):
        raise LookupError(f"dossier {dossier_id} is gone: its portal rows were not written")
    if n:
        last = max(version for _, version in written if version is not None)
        set_committed_value(dossier, "portal_version", last)
        for number, payload in enumerate((p for k, p in recorded if k == "dossier"), start=last - n + 1):
            payload["phien_ban"] = number
    return [row_id for row_id, _ in written]


@event.listens_for(Session, "before_commit")
def _write_staged(session: Session) -> None:
    """The transaction's outbox rows, per dossier in the order recorded, written once as it commits: the
    dossier's row is locked (by the version update when it has snapshots: the atomic increment gives them
    consecutive versions, and two transactions changing the same dossier never share one; the later one's
    rows also get the higher ids), its rows inserted together — on PostgreSQL in the same statement —, and one
    sending job owed for them."""
    staged: dict[int, tuple[Dossier, list[tuple[str, dict[str, Any]]]]] = session.info.pop(_STAGED, None) or {}
    if not staged:
        return
    last_ids: dict[int, int] = {}
    now = now_utc()
    session.flush()  # what the transaction changed is written first, as it was before the outbox rows
    one_statement = session.get_bind().dialect.name == "postgresql"
    rows: dict[int, list[PortalOutbox]] = {}
    for dossier_id, (dossier, recorded) in sorted(staged.items(), key=lambda item: item[0]):  # one lock order
        if one_statement:
            last_ids[dossier_id] = _write_in_one_statement(session, dossier, dossier_id, recorded, now)[-1]
            continue
        snapshots = [payload for kind, payload in recorded if kind == "dossier"]
        if snapshots:
            last = session.execute(
                update(Dossier).where(Dossier.id == dossier_id)
                .values(portal_version=Dossier.portal_version + len(snapshots))
                .returning(Dossier.portal_version)
                .execution_options(synchronize_session=False)
            ).scalar_one()
            set_committed_value(dossier, "portal_version", last)
            for number, payload in enumerate(snapshots, start=last - len(snapshots) + 1):
                payload["phien_ban"] = number
        else:
            lock(Dossier, dossier_id)
        rows[dossier_id] = [PortalOutbox(dossier_id=dossier_id, kind=kind, payload=payload, created_at=now,
                                         attempts=0, last_error="") for kind, payload in recorded]
        session.add_all(rows[dossier_id])
    if rows:
        session.flush()
        last_ids.update({dossier_id: written[-1].id for dossier_id, written in rows.items()})
    if configured():  # otherwise the job would do nothing: the rows wait for `flask portal resend`
        for dossier_id, last_id in last_ids.items():
            events.publish(events.portal_update_owed, dossier_id=dossier_id, job_id=f"portal-{dossier_id}-{last_id}")


@event.listens_for(Session, "after_soft_rollback")
def _forget_staged(session: Session, previous_transaction: Any) -> None:
    session.info.pop(_STAGED, None)


# ---------------------------------------------------------------- phases of the sending job


def is_refused(row: PortalOutbox) -> bool:
    return row.sent_at is None and bool(row.last_error) and row.next_attempt_at is None


def head(dossier_id: int) -> PortalOutbox | None:
    """The dossier's first unsent row (read afresh)."""
    return db.session.scalars(
        select(PortalOutbox).where(PortalOutbox.dossier_id == dossier_id, PortalOutbox.sent_at.is_(None))
        .order_by(PortalOutbox.id).limit(1).execution_options(populate_existing=True)
    ).first()


def waits_for_retry(row: PortalOutbox, retry_row: int, retry_attempt: int) -> bool:
    """A scheduled retry owns the row's next attempt, and this job (retry_row, retry_attempt) is not it."""
    mine = row.id == retry_row and row.attempts == retry_attempt
    return row.next_attempt_at is not None and row.next_attempt_at > now_utc() + _SLACK and not mine


def send_lease() -> timedelta:
    """How long a sending job holds a row: past the longest send (SERVICE_CALL_LEASE, kept above the connector's
    timeout × attempts plus their pauses)."""
    return timedelta(seconds=float(current_app.config.get("SERVICE_CALL_LEASE", 120)))


def claim(row_id: int) -> datetime | None:
    """Take the row for one send, or say until when another job holds it.

    The per-dossier advisory lock keeps two jobs apart only while its connection lives: a terminated backend or a
    PostgreSQL restart drops it with no word to the job still sending, and a second job would then send the same
    row and the rows behind it before the first one's late retry arrived (the portal saw version 1 after 5).
    The lease lives in the row, is taken by one conditional UPDATE (so of two jobs one gets it), and runs out only
    after the holder's send can have ended. Returns None when this job now holds the row."""
    now = now_utc()
    taken = db.session.execute(
        update(PortalOutbox)
        .where(PortalOutbox.id == row_id, PortalOutbox.sent_at.is_(None),
               (PortalOutbox.lease_until.is_(None)) | (PortalOutbox.lease_until <= now))
        .values(lease_until=now + send_lease())
        .execution_options(synchronize_session=False))
    if taken.rowcount == 1:  # type: ignore[attr-defined]
        return None
    held: datetime | None = db.session.scalar(select(PortalOutbox.lease_until).where(PortalOutbox.id == row_id))
    return held if held is not None else now  # sent meanwhile: look again at once


def send(registry: Any, kind: str, payload: dict[str, Any]) -> None:
    """Send one row (no transaction should be open: the portal may take its time)."""
    if kind == "dossier":
        registry.call(PUSH_DOSSIER, {"payload": payload})
    else:
        registry.call(PUSH_STEP, {"ma_ho_so": payload["ma_ho_so"], "buoc": payload["buoc"]})


def mark_sent(row_id: int) -> None:
    row = db.session.get(PortalOutbox, row_id, populate_existing=True)
    assert row is not None
    row.attempts += 1
    row.sent_at, row.next_attempt_at, row.lease_until = now_utc(), None, None


def record_failure(dossier_id: int, row_id: int, exc: ConnectorError) -> tuple[PortalOutbox, float | None]:
    """Record a failed send: the row and the pause before its retry, or None when the portal refused it (the
    dossier's queue stops, an audit event says so)."""
    row = db.session.get(PortalOutbox, row_id, populate_existing=True)
    assert row is not None
    row.attempts += 1
    row.last_error = f"{exc.code}: {exc.message}"
    row.lease_until = None
    what = N_("hồ sơ") if row.kind == "dossier" else N_("bước xử lý")
    if exc.transient:
        delays = retry_delays() or [_DEFAULT_DELAY]
        delay = delays[min(row.attempts, len(delays)) - 1]
        row.next_attempt_at = now_utc() + timedelta(seconds=delay)
        if row.attempts > len(delays):
            log.warning("portal sync of dossier %s still failing after %d attempts (%s); retrying every %ss",
                        dossier_id, row.attempts, exc.code, delay)
        else:
            log.info("portal sync of dossier %s failed (%s); next attempt in %ss", dossier_id, exc.code, delay)
        return row, delay
    row.next_attempt_at = None
    db.session.add(AuditEvent(
        dossier_id=dossier_id, actor_id=None, actor_name="", action="portal_sync_failed",
        task_title="Đồng bộ Cổng Dịch vụ công quốc gia", at=now_utc(),
        note=N_("Cổng Dịch vụ công quốc gia từ chối %(what_msg)s (bản ghi đồng bộ số %(id)s): %(error)s "
                "[%(code)s]. Các cập nhật sau của hồ sơ tạm dừng; khắc phục rồi chạy «flask portal resend»."),
        note_params={"what_msg": what, "id": row.id, "error": exc.message, "code": exc.code},
    ))
    log.warning("portal sync of dossier %s stopped: outbox row %s refused (%s)", dossier_id, row_id, exc.code)
    return row, None


# ---------------------------------------------------------------- for operators


def pending_summary() -> dict[str, Any]:
    """What is still owed to the portal: unsent rows, dossiers concerned, rows refused / retrying, oldest."""
    unsent = PortalOutbox.sent_at.is_(None)
    count, dossiers, oldest = db.session.execute(
        select(func.count(PortalOutbox.id), func.count(func.distinct(PortalOutbox.dossier_id)),
               func.min(PortalOutbox.created_at)).where(unsent)
    ).one()
    refused = db.session.scalar(select(func.count(PortalOutbox.id)).where(
        unsent, PortalOutbox.last_error != "", PortalOutbox.next_attempt_at.is_(None)))
    retrying = db.session.scalar(select(func.count(PortalOutbox.id)).where(
        unsent, PortalOutbox.next_attempt_at.is_not(None)))
    return {"unsent": int(count or 0), "dossiers": int(dossiers or 0), "refused": int(refused or 0),
            "retrying": int(retrying or 0), "oldest": oldest}


def due_heads(cutoff: datetime, limit: int) -> list[PortalOutbox]:
    """Each dossier's first unsent row whose sending job should have run before `cutoff` and did not (it was
    lost): never tried and written before it, or retrying with its retry due before it. A refused row waits
    for a person (`resend`); nothing is due without a portal connector."""
    if not configured():
        return []
    heads = (select(func.min(PortalOutbox.id)).where(PortalOutbox.sent_at.is_(None))
             .group_by(PortalOutbox.dossier_id).scalar_subquery())
    return list(db.session.scalars(
        select(PortalOutbox).where(
            PortalOutbox.id.in_(heads),
            (PortalOutbox.next_attempt_at.is_not(None)) | (PortalOutbox.last_error == ""),
            func.coalesce(PortalOutbox.next_attempt_at, PortalOutbox.created_at) < cutoff)
        .order_by(PortalOutbox.id).limit(limit)))


def unsent_dossiers() -> list[int]:
    return list(db.session.scalars(select(PortalOutbox.dossier_id).where(PortalOutbox.sent_at.is_(None))
                                   .group_by(PortalOutbox.dossier_id).order_by(func.min(PortalOutbox.id))))


def resend(enqueue: bool = True, dossier_ids: list[int] | None = None, actor: User | None = None) -> list[int]:
    """Catch up: every dossier with unsent rows (or just those given) gets its queue restarted (a refused
    row is tried again, a scheduled retry is made due now) and, with ``enqueue``, a sync job after commit.
    The caller commits. Returns the dossier ids concerned."""
    unsent = unsent_dossiers()
    ids = unsent if dossier_ids is None else [i for i in unsent if i in dossier_ids]
    now = now_utc()
    for dossier_id in ids:
        first = head(dossier_id)
        if first is not None and (first.next_attempt_at is not None or is_refused(first)):
            if is_refused(first):
                db.session.add(AuditEvent(
                    dossier_id=dossier_id, actor_id=actor.id if actor else None,
                    actor_name=actor.full_name if actor else "", action="portal_sync_resend",
                    task_title="Đồng bộ Cổng Dịch vụ công quốc gia", at=now,
                    note=N_("Gửi lại bản ghi đồng bộ số %(id)s lên Cổng Dịch vụ công quốc gia."),
                    note_params={"id": first.id}))
            first.next_attempt_at = now
        if enqueue:
            events.publish(events.portal_update_owed, dossier_id=dossier_id,
                           job_id=f"portal-{dossier_id}-resend-{uuid.uuid4().hex[:8]}")
    db.session.flush()
    return ids

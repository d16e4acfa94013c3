"""The national-portal sending job (see app.dossiers.portal_sync for the outbox and its rules)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from app.dossiers import portal_sync
from app.dossiers.clock import now_utc
from app.dossiers.locks import exclusive
from app.extensions import db
from app.jobs.queue import QUEUE_CONNECTORS, enqueue_after_commit
from connectors.base import ConnectorError

BUSY_DELAY = 2.0  # seconds before a job that found another one sending for the dossier looks again


def queue_sync(dossier_id: int, job_id: str, *args: int, delay: float = 0.0) -> None:
    enqueue_after_commit(db.session, QUEUE_CONNECTORS, sync_dossier, dossier_id, *args,
                         job_id=job_id, delay=delay, retry=False)


def sweep(now: datetime, cutoff: datetime, limit: int) -> int:
    """The sweeper's source: a sending job for each dossier whose next row is owed and whose job was lost —
    a scheduled retry under that retry's own job id, so a copy still waiting in the queue is not doubled."""
    heads = portal_sync.due_heads(cutoff, limit)
    for row in heads:
        if row.next_attempt_at is not None:
            queue_sync(row.dossier_id, f"portal-{row.dossier_id}-{row.id}-r{row.attempts}", row.id, row.attempts)
        else:
            queue_sync(row.dossier_id, f"portal-{row.dossier_id}-sweep-{row.id}")
    return len(heads)


def sync_dossier(dossier_id: int, retry_row: int = 0, retry_attempt: int = 0) -> str:
    """Send the dossier's unsent outbox rows in order. Returns what happened (for logs and tests):

    ``idle`` nothing to send · ``sent:N`` all sent · ``retry`` a transient failure, retry scheduled ·
    ``refused`` the portal refused a row (queue stopped) · ``blocked`` the queue is stopped, nothing tried ·
    ``waiting`` a scheduled retry owns the next attempt · ``busy`` another job is sending (looks again later) ·
    ``held`` another job's lease holds the next row (looks again when it runs out) ·
    ``not_configured`` no portal connector.

    (retry_row, retry_attempt) mark the job a failure scheduled: it may try before ``next_attempt_at``.
    """
    registry = portal_sync.registry()
    if registry is None:
        return "not_configured"
    with exclusive("portal", dossier_id) as mine:
        if not mine:
            queue_sync(dossier_id, f"portal-{dossier_id}-busy-{uuid.uuid4().hex[:8]}", retry_row, retry_attempt,
                       delay=BUSY_DELAY)
            db.session.commit()
            return "busy"
        return _drain(registry, dossier_id, retry_row, retry_attempt)


def _drain(registry: Any, dossier_id: int, retry_row: int, retry_attempt: int) -> str:
    sent = 0
    while True:
        row = portal_sync.head(dossier_id)
        if row is None:
            db.session.commit()
            return f"sent:{sent}" if sent else "idle"
        if portal_sync.is_refused(row):
            db.session.commit()
            return "blocked"
        if portal_sync.waits_for_retry(row, retry_row, retry_attempt):
            db.session.commit()
            return "waiting"
        row_id, kind, payload = row.id, row.kind, row.payload
        held_until = portal_sync.claim(row_id)
        db.session.commit()  # no transaction stays open while the portal answers
        if held_until is not None:  # another job holds the row (this one's lock outlived the other's connection)
            wait = max(BUSY_DELAY, (held_until - now_utc()).total_seconds())
            queue_sync(dossier_id, f"portal-{dossier_id}-{row_id}-held-{int(held_until.timestamp())}", retry_row,
                       retry_attempt, delay=wait)
            db.session.commit()
            return "held"
        try:
            portal_sync.send(registry, kind, payload)
        except ConnectorError as exc:
            db.session.rollback()
            failed, delay = portal_sync.record_failure(dossier_id, row_id, exc)
            if delay is not None:
                queue_sync(dossier_id, f"portal-{dossier_id}-{failed.id}-r{failed.attempts}", failed.id,
                           failed.attempts, delay=delay)
            db.session.commit()
            return "retry" if delay is not None else "refused"
        portal_sync.mark_sent(row_id)
        db.session.commit()
        sent += 1

"""How long the platform keeps what it no longer needs: sent portal-outbox rows (the portal holds them) and the
stored answers of API requests sent with an Idempotency-Key once their retries are no longer honoured."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from app.dossiers.clock import now_utc
from app.extensions import db
from app.models import IdempotentRequest, PortalOutbox

PRUNE_BATCH = 10_000


def outbox_cutoff(keep_days: int, now: datetime | None = None) -> datetime:
    return (now or now_utc()) - timedelta(days=keep_days)


def prune_sent_outbox(cutoff: datetime, limit: int = PRUNE_BATCH) -> int:
    """Delete up to `limit` outbox rows sent before `cutoff` (never an unsent one: those are still owed) and
    return how many went. Found through ix_portal_outbox_sent_at. The caller commits, batch after batch."""
    return _delete_batch(PortalOutbox, PortalOutbox.sent_at,
                         (PortalOutbox.sent_at.is_not(None), PortalOutbox.sent_at < cutoff), limit)


def idempotency_cutoff(keep_hours: float, now: datetime | None = None) -> datetime:
    return (now or now_utc()) - timedelta(hours=keep_hours)


def prune_idempotency_keys(cutoff: datetime, limit: int = PRUNE_BATCH) -> int:
    """Delete up to `limit` stored idempotency keys made before `cutoff` (found through
    ix_idempotency_key_created_at) and return how many went. The caller commits, batch after batch."""
    return _delete_batch(IdempotentRequest, IdempotentRequest.created_at,
                         (IdempotentRequest.created_at < cutoff,), limit)


def _delete_batch(model: Any, oldest_first: Any, where: tuple[Any, ...], limit: int) -> int:
    """Delete the `limit` oldest rows of `model` matching `where` (by `oldest_first`, through its index); how many."""
    doomed = select(model.id).where(*where).order_by(oldest_first).limit(limit)
    result = db.session.execute(delete(model).where(model.id.in_(doomed))
                                .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]

"""What an API request sent with an ``Idempotency-Key`` answered, kept so that its retry gets the same answer.

One row per (user, key), written in the transaction that made the request's effect (app/web/api/idempotency.py),
so a row exists exactly when the effect was committed. Rows older than ``IDEMPOTENCY_KEY_HOURS`` are deleted
by ``flask api prune``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import JsonDoc, UtcDateTime, utcnow


class IdempotentRequest(db.Model):  # type: ignore[name-defined]
    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_key_user_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    # SHA-256 of the method, path, query and body: the same key with another request is refused, not replayed.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    headers: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)  # Content-Type, Location
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)

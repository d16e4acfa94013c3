"""What the administration area changed: who, what, before and after (app.administration.changes writes them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import JsonDoc, UtcDateTime, utcnow


class AdminChange(db.Model):  # type: ignore[name-defined]
    __tablename__ = "admin_change"
    __table_args__ = (Index("ix_admin_change_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    actor_name: Mapped[str] = mapped_column(String(255))
    entity: Mapped[str] = mapped_column(String(40))  # agency | department | officer | calendar_day | publication
    entity_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(40))  # created | updated | deleted | moved | roles | loaded …
    before: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc, nullable=True)

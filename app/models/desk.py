"""The desk's own record: supplement requests (Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ).

A request lives from the officer's request to the applicant's answer (online or at the desk), or to its own
deadline: `deadline_at` is a due time the sweeper reads (app.dossiers.desk.expire_supplements), so an unanswered
request ends its dossier even when no job survived a restart. The other desk actions (return, refuse, stop,
withdraw, release, reassign, delegate) are history entries (AuditEvent) and need no table of their own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.dossier import Dossier
from app.models.types import JsonDoc, UtcDateTime, utcnow

OPEN_SUPPLEMENT_SQL = "state = 'open'"


class SupplementRequest(db.Model):  # type: ignore[name-defined]
    __tablename__ = "supplement_request"
    __table_args__ = (
        # What the sweeper looks for: open requests past their deadline, earliest first.
        Index("ix_supplement_request_open_deadline", "deadline_at",
              postgresql_where=text(OPEN_SUPPLEMENT_SQL), sqlite_where=text(OPEN_SUPPLEMENT_SQL)),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="open")  # open | answered | expired | cancelled
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(Text, default="")
    # What is missing: [{"code": component code or "", "name": …, "note": …}], as the officer listed it.
    components: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc, default=list)
    deadline_at: Mapped[datetime] = mapped_column(UtcDateTime)  # the applicant's deadline to supplement
    status_before: Mapped[int] = mapped_column(SmallInteger)  # the status the dossier resumes with
    due_before: Mapped[datetime] = mapped_column(UtcDateTime)  # the appointment date when the clock paused
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    answered_channel: Mapped[str] = mapped_column(String(16), default="")  # online | desk
    # What was handed in: [{"code", "name", "reference" (an attachment "<token>/<filename>") or None}]
    received: Mapped[list[dict[str, Any]] | None] = mapped_column(JsonDoc, nullable=True)
    answer_note: Mapped[str] = mapped_column(Text, default="")

    dossier: Mapped[Dossier] = relationship()

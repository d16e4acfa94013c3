"""The applicant's rating of how their dossier was handled (đánh giá mức độ hài lòng, QĐ 766/QĐ-TTg): once per
dossier, after the result is handed back, online or at the desk (a kiosk page an officer opens for the applicant).
Each criterion is answered on the regulation's three-step scale; the statistics read it by agency and period."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import JsonDoc, UtcDateTime, utcnow


class DossierRating(db.Model):  # type: ignore[name-defined]
    __tablename__ = "dossier_rating"
    __table_args__ = (
        # Ratings the indicators' daily aggregate does not hold yet (app.dossiers.indicators).
        Index("ix_dossier_rating_uncounted", "dossier_id", postgresql_where=text("NOT counted"),
              sqlite_where=text("NOT counted")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"), unique=True)  # once per dossier
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # "online" (the applicant's page or the API) | "desk" (kiosk)
    answers: Mapped[dict[str, Any]] = mapped_column(JsonDoc)  # criterion → 1 không hài lòng, 2 hài lòng, 3 rất
    comment: Mapped[str] = mapped_column(Text, default="")
    rated_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)  # the applicant online
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)  # the desk officer
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    # True once the indicators' daily aggregate holds the rating (app.dossiers.indicators.refresh).
    counted: Mapped[bool] = mapped_column(default=False, server_default="false")

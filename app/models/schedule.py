"""The schedule of a periodic procedure (a process whose start event is a timer): when its next dossier starts.

One row per procedure, armed at deployment (app.procedures.schedules) from the deployed version's timer start
event, and taken by the scheduler (app.dossiers.periodic) with FOR UPDATE SKIP LOCKED when `next_due_at` has
come: the dossier it starts and the row's advance (`last_occurrence_at`, `next_due_at`) are committed together,
so each occurrence starts at most one dossier, whoever sweeps and however often.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UtcDateTime, utcnow


class ProcedureSchedule(db.Model):  # type: ignore[name-defined]
    __tablename__ = "procedure_schedule"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedure.id"), unique=True)
    # The version whose timer start event the schedule follows (the current one when it was armed).
    procedure_version_id: Mapped[int] = mapped_column(ForeignKey("procedure_version.id"))
    timer_kind: Mapped[str] = mapped_column(String(16))  # timeDate | timeDuration | timeCycle
    timer_value: Mapped[str] = mapped_column(Text)  # as written in the diagram
    anchor_at: Mapped[datetime] = mapped_column(UtcDateTime)  # the version's deployment: relative values count from it
    # When the scheduler next has something to do (None: the series is over).
    next_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True, index=True)
    # The last occurrence dealt with (started, or passed over because no version could start it).
    last_occurrence_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_dossier_id: Mapped[int | None] = mapped_column(ForeignKey("dossier.id"), nullable=True)
    started: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # dossiers started
    missed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # occurrences left out
    armed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

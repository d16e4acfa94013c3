"""The officer's desk over time: leave periods (lịch nghỉ phép) and who held each finished step, how late.

`OfficerLeave`: an officer away from `starts_at` to `ends_at`, with an optional substitute. While it runs, the
officer's claimed steps are with the substitute (or back in their role's pool) and no step is given to the officer
automatically. `applied_at` is stamped when the steps were moved (at once for a leave that has begun, otherwise by
the sweeper when it begins: app.dossiers.leave.start_due_leaves); the partial index is what the sweeper reads.

`StepHolding`: one row per holding of a finished step — who held it (claimed it, had it handed over, completed it)
from when to when, the step's due time, when it was done, and the WORKING time of this holding past the due time.
It is the statistics' table (app.dossiers.lateness.late_steps groups it in SQL); app.dossiers.lateness computes the
same holdings for one dossier on its pages. `LatenessOwed` lists the completed steps whose holdings are not written
yet: a database trigger (migration 0016l_leave_lateness) adds a step when it is completed, inside the completion's
own statement, and the sweeper writes its holdings and takes it off the list.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import UtcDateTime, utcnow
from app.models.user import User

LEAVE_PENDING_SQL = "applied_at IS NULL"


class OfficerLeave(db.Model):  # type: ignore[name-defined]
    __tablename__ = "officer_leave"
    __table_args__ = (
        Index("ix_officer_leave_officer_period", "officer_id", "starts_at", "ends_at"),
        # The sweeper's question: leaves not yet applied, by when they begin.
        Index("ix_officer_leave_pending", "starts_at",
              postgresql_where=text(LEAVE_PENDING_SQL), sqlite_where=text(LEAVE_PENDING_SQL)),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)  # exclusive: back at work from this moment
    substitute_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)  # the officer's steps moved

    officer: Mapped[User] = relationship(foreign_keys=[officer_id])
    substitute: Mapped[User | None] = relationship(foreign_keys=[substitute_id])


class StepHolding(db.Model):  # type: ignore[name-defined]
    __tablename__ = "step_holding"
    __table_args__ = (
        Index("ix_step_holding_done", "done_at"),
        Index("ix_step_holding_agency_done", "agency_id", "done_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("human_task.id"), index=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedure.id"))
    spec_name: Mapped[str] = mapped_column(String(255))
    step_title: Mapped[str] = mapped_column(String(500))
    lane: Mapped[str] = mapped_column(String(255), default="")
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)  # NULL: in the pool
    officer_name: Mapped[str] = mapped_column(String(255), default="")
    held_from: Mapped[datetime] = mapped_column(UtcDateTime)
    held_until: Mapped[datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    done_at: Mapped[datetime] = mapped_column(UtcDateTime)
    late_seconds: Mapped[int] = mapped_column(Integer, default=0)  # working time of this holding past due_at
    step_late: Mapped[bool] = mapped_column(Boolean, default=False)  # the step was done after its due time


class LatenessOwed(db.Model):  # type: ignore[name-defined]
    __tablename__ = "lateness_owed"

    task_id: Mapped[int] = mapped_column(ForeignKey("human_task.id"), primary_key=True)

"""Platform deadlines (app.dossiers.watch): one row per notice the platform owes about a deadline — a warning to
the officers of a step due soon, an escalation to the heads of department when a step or a dossier is overdue.

A notice is about one thing (a step, or a dossier) at one due time, and exists once: the unique indexes below
make its INSERT the decision (INSERT … ON CONFLICT DO NOTHING), so two sweeps racing for the same deadline, or a
sweep after a restart, never notify twice. The row also carries the delivery: whom it is for (user ids, read when
it was made) and which of them have had their email, so a lost or repeated delivery job sends nothing twice.
The head's page reads it to show what was escalated; the inbox reads the warning from human_task.warned_due_at,
which the sweep sets with the row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.dossier import Dossier, HumanTask
from app.models.types import JsonDoc, UtcDateTime, utcnow

WARNING = "warning"  # a step is due within the warning window: its holder (or those who may take it)
STEP_OVERDUE = "step_overdue"  # a step is past its deadline: the heads of department
DOSSIER_OVERDUE = "dossier_overdue"  # a dossier is past its appointment while not finished: the heads
NOTICE_KINDS = (WARNING, STEP_OVERDUE, DOSSIER_OVERDUE)
UNSENT_SQL = "sent_at IS NULL"


class DeadlineNotice(db.Model):  # type: ignore[name-defined]
    __tablename__ = "deadline_notice"
    __table_args__ = (
        # Once per step and due time (a step whose deadline moves, after a pause, is a new deadline) …
        Index("ux_deadline_notice_task", "kind", "human_task_id", "due_at", unique=True,
              postgresql_where=text("human_task_id IS NOT NULL"), sqlite_where=text("human_task_id IS NOT NULL")),
        # … and once per dossier and appointment (an apology's new date that passes too is escalated again).
        Index("ux_deadline_notice_dossier", "kind", "dossier_id", "due_at", unique=True,
              postgresql_where=text("human_task_id IS NULL"), sqlite_where=text("human_task_id IS NULL")),
        # The deliveries still owed (the sweeper re-enqueues those whose job was lost).
        Index("ix_deadline_notice_unsent", "id", postgresql_where=text(UNSENT_SQL), sqlite_where=text(UNSENT_SQL)),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # one of NOTICE_KINDS
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"), index=True)
    human_task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id"), nullable=True, index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)  # the deadline the notice is about
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    recipients: Mapped[list[int]] = mapped_column(JsonDoc, default=list)  # user ids, as known when made
    emailed: Mapped[list[int]] = mapped_column(JsonDoc, default=list)  # recipients whose email went out
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)  # every delivery settled
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    dossier: Mapped[Dossier] = relationship()
    task: Mapped[HumanTask | None] = relationship()

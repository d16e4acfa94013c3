"""Arming a periodic procedure's schedule when a version with a timer start event is deployed.

The schedule row (app.models.schedule) follows the procedure's current version: deploying a version with a timer
start event (re)arms it from that version's timer, counted from its deployment; deploying one without a timer
start ends it (the procedure is submitted by citizens from now on). The occurrence last started is kept, so a new
version whose series shares an occurrence with the old one (a cycle with a fixed start) does not start it again.
The scheduler itself is app.dossiers.periodic. Nothing here commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from app.clock import now_utc
from app.engine.schedule import ScheduleError, due, start_schedule
from app.extensions import db
from app.models import ProcedureVersion
from app.models.schedule import ProcedureSchedule


def start_timer(version: ProcedureVersion) -> tuple[str, str] | None:
    """The (kind, value) of the version's timer start event, from its task table; None: a citizen procedure."""
    for info in (version.tasks or {}).values():
        if isinstance(info, dict) and info.get("kind") == "start" and isinstance(info.get("timer"), list):
            kind, value = info["timer"]
            return str(kind), str(value)
    return None


def arm(version: ProcedureVersion, at: datetime | None = None) -> ProcedureSchedule | None:
    """(Re)arm the schedule of `version`'s procedure from `version` (which has just become current)."""
    at = at or now_utc()
    row = db.session.scalar(select(ProcedureSchedule).where(ProcedureSchedule.procedure_id == version.procedure_id)
                            .with_for_update())
    timer = start_timer(version)
    if timer is None:
        if row is not None:
            row.next_due_at = None
        return row
    try:
        series = start_schedule(timer[0], timer[1], at)
    except ScheduleError:  # refused at upload; a version deployed before the rule cannot be scheduled
        return row
    if row is None:
        row = ProcedureSchedule(procedure_id=version.procedure_id)
        db.session.add(row)
    row.procedure_version_id = version.id
    row.timer_kind, row.timer_value, row.anchor_at, row.armed_at = timer[0], timer[1], at, at
    row.next_due_at = due(series, at, row.last_occurrence_at, at).next
    db.session.flush()
    return row

"""The indicators' daily aggregate (app.dossiers.indicators): per local day, agency and procedure, what the dossiers
in a final status (3, 7, 10), the settled online payments and the ratings it holds contribute to QĐ 766's counters.

Only rows whose contribution can never change are folded in, each once (their `counted` flag, set in the same
statement): so the aggregate plus a live count of what it does not hold yet is always exactly the live SQL.
The columns that give what is open at a moment (`opened`, `closed`, `due_passed`, `due_passed_closed`) are
dated so that a running sum up to that day answers it (see indicators.summary).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db

# The counting columns, in the order the refresh writes them.
DAY_COLUMNS = ("received_online", "received_in_person", "digitized", "received_reused", "opened", "closed",
               "due_passed", "due_passed_closed", "finished_before", "finished_on_time", "finished_late", "refused",
               "withdrawn", "paid_online", "rated", "rated_satisfied")


class IndicatorDay(db.Model):  # type: ignore[name-defined]
    __tablename__ = "indicator_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), primary_key=True)
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedure.id"), primary_key=True)
    received_online: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    received_in_person: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    digitized: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    received_reused: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # with a stored document
    opened: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # received that day
    closed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # received, and closed by that day
    due_passed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # received and past due by then
    due_passed_closed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # … and closed by then
    finished_before: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    finished_on_time: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    finished_late: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    refused: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    withdrawn: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    paid_online: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rated: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rated_satisfied: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

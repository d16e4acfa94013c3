"""Agencies (cơ quan) that receive dossiers, and their calendar overrides."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import JsonDoc


class Agency(db.Model):  # type: ignore[name-defined]
    __tablename__ = "agency"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # QCVN 102:2016 identifier, e.g. 000.00.01.H29; it prefixes every dossier code of the agency.
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    level: Mapped[str] = mapped_column(String(8), default="xa")  # bo | tinh | xa
    address: Mapped[str] = mapped_column(String(255), default="")
    # [["07:00","11:30"],["13:30","17:00"]]; None = the national default office hours.
    office_hours: Mapped[list[list[str]] | None] = mapped_column(JsonDoc, nullable=True)
    # Incremented by database triggers on every change of the agency's calendar rows or the nation-wide ones
    # (migration 0011_speed2): a process keeps calendars under it (app.dossiers.deadlines.calendar_for).
    calendar_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The hierarchy (migration 0022t): a commune's agency under its province's, a province's under a ministry or none.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"), nullable=True, index=True)
    # The administrative unit it serves, by the national code of units (vietnam-provinces): "01" Hà Nội, "00004"
    # phường Ba Đình; several agencies share a unit (its People's Committee, its police, its insurance office).
    unit_code: Mapped[str | None] = mapped_column(String(10), nullable=True, index=True)
    # "ubnd" = the unit's People's Committee (what `flask agencies load` creates and finds again); others are free.
    kind: Mapped[str] = mapped_column(String(20), default="", server_default="")
    # True when the identifier was derived by the loader (app.administration.units) and not yet confirmed by an
    # administrator from the province's QCVN 102 list.
    code_provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")

    parent: Mapped[Agency | None] = relationship(remote_side=[id])


class Department(db.Model):  # type: ignore[name-defined]
    """A department (phòng, bộ phận) of an agency: where an officer sits and holds their roles."""

    __tablename__ = "department"
    __table_args__ = (UniqueConstraint("agency_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    name: Mapped[str] = mapped_column(String(255))

    agency: Mapped[Agency] = relationship()


class CalendarDay(db.Model):  # type: ignore[name-defined]
    """An agency's deviation from the national calendar: an extra working day or an extra day off."""

    __tablename__ = "calendar_day"
    __table_args__ = (UniqueConstraint("agency_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # NULL agency = applies to every agency (a government-wide swap of days).
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"), nullable=True)
    day: Mapped[date] = mapped_column(Date)
    working: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(255), default="")

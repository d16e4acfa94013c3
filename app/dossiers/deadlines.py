"""When a dossier is due, and what it is called: the agency's working calendar, the appointment counted from
receipt in the procedure's unit, the rule in words, the dossier code from a per-agency, per-day counter."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any

from flask import current_app
from flask_babel import gettext, ngettext
from sqlalchemy import Engine, bindparam, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app import formats
from app.dossiers import fees
from app.dossiers.calendar import UNIT_WORKING_DAYS, CalendarOverride, OfficeHours, WorkingCalendar
from app.dossiers.clock import local_tz
from app.dossiers.errors import Invalid
from app.extensions import db
from app.identifiers import IdentifierError, format_dossier_code
from app.models import Agency, CalendarDay, DossierCounter

Overrides = tuple[tuple[date, bool, str], ...]
_OVERRIDES = "motcua_calendar_rows"  # app.extensions: {agency id: (calendar_version, its calendar rows)}
_OVERRIDES_LOCK = threading.Lock()


def _kept_overrides() -> dict[int, tuple[int, Overrides]] | None:
    """Per app and process: an agency's calendar rows as of its calendar_version, which triggers set anew (from a
    sequence, never twice the same) on every change of its rows or the nation-wide ones, so a request whose
    agency row was read anyway reads no calendar rows. PostgreSQL only (elsewhere a version can repeat)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if db.engine.dialect.name != "postgresql":
        return None
    kept: dict[int, tuple[int, Overrides]] = app.extensions.setdefault(_OVERRIDES, {})
    return kept


def forget_calendars() -> None:
    """After a change of calendar rows or office hours in this session (the administration area), the rest of the
    session reads calendars afresh."""
    db.session.info.pop("motcua_calendars", None)


def calendar_for(agency: Agency) -> WorkingCalendar:
    """The agency's calendar; read once per session (a request), its rows once per process and calendar version,
    built once per process for equal inputs."""
    cache: dict[int, WorkingCalendar] = db.session.info.setdefault("motcua_calendars", {})
    if agency.id in cache:
        return cache[agency.id]
    version = agency.calendar_version
    everything = _kept_overrides()
    with _OVERRIDES_LOCK:
        kept = everything.get(agency.id) if everything is not None else None
    if kept is not None and kept[0] == version:
        overrides = kept[1]
    else:
        rows = db.session.scalars(
            select(CalendarDay).where(or_(CalendarDay.agency_id.is_(None), CalendarDay.agency_id == agency.id))
        ).all()
        # An agency's own row wins over a nation-wide one for the same day.
        by_day = {r.day: r for r in sorted(rows, key=lambda r: r.agency_id is not None)}
        overrides = tuple(sorted((r.day, r.working, r.note) for r in by_day.values()))
        if everything is not None and version is not None:
            with _OVERRIDES_LOCK:
                everything[agency.id] = (version, overrides)
    periods = tuple((a, b) for a, b in agency.office_hours) if agency.office_hours else None
    cache[agency.id] = _calendar(overrides, periods, current_app.config["TIMEZONE"])
    return cache[agency.id]


@lru_cache(maxsize=128)
def _calendar(overrides: Overrides, periods: tuple[tuple[str, str], ...] | None,
              tz: str) -> WorkingCalendar:
    """Building the holiday table costs milliseconds; the same calendar serves every request that shares it."""
    hours = OfficeHours()
    if periods:
        hours = OfficeHours(periods=tuple((time.fromisoformat(a), time.fromisoformat(b)) for a, b in periods))
    return WorkingCalendar([CalendarOverride(day=d, working=w, note=n) for d, w, n in overrides],
                           office_hours=hours, tz=tz)


def next_dossier_code(agency: Agency, at: datetime) -> str:
    """`<agency>-<YYMMDD>-<NNNN>`: the next number of a per-agency, per-day counter (UPSERT … RETURNING)."""
    if not agency.code:
        raise Invalid(gettext("Cơ quan «%(agency)s» chưa có mã định danh nên chưa thể tiếp nhận hồ sơ.",
                              agency=agency.name),
                      code="agency_without_identifier")
    day = at.astimezone(local_tz()).date()
    seq = _take_number(agency.id, day)
    try:
        return format_dossier_code(agency.code, day, seq)
    except IdentifierError as exc:
        raise Invalid(exc.message, code=exc.code) from exc


def _take_number(agency_id: int, day: date) -> int:
    """The counter's next value, in a transaction of its own where that is possible.

    DOMAIN.md: the sequence must never be duplicated, and it may have gaps. The UPSERT locks the
    (agency, day) row; taken in the caller's transaction, that lock would be held until the caller commits,
    so every submission to one agency on one day would wait for the one before it to finish all its work.
    On PostgreSQL the number is therefore taken on a connection of its own and committed at once: the row
    is locked for one statement, numbers stay unique and increasing, and a submission that later fails
    leaves a gap, which the rule allows. Nothing else is locked on that connection, so it cannot deadlock
    with the caller's transaction (which never touches the counter); it needs a second pooled connection
    for that one statement.

    A session bound to one connection (its owner runs the transaction, as the tests' rolled-back
    transaction does) and SQLite (one writer at a time: a second connection would wait for the caller's
    own lock) take the number inside the caller's transaction, as before.
    """
    bind = db.session.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    params = {"agency_id": agency_id, "day": day}
    if postgresql and isinstance(bind, Engine):
        # One statement committed by itself (autocommit): no BEGIN and COMMIT round trips around it.
        with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            return int(conn.execute(_counter_upsert(True), params).scalar_one())
    return int(db.session.execute(_counter_upsert(postgresql), params).scalar_one())


@cache
def _counter_upsert(postgresql: bool) -> Any:
    """The counter's UPSERT … RETURNING, built once per dialect (parameters: agency_id, day)."""
    return (
        (pg_insert if postgresql else sqlite_insert)(DossierCounter)
        .values(agency_id=bindparam("agency_id"), day=bindparam("day"), last_value=1)
        .on_conflict_do_update(
            index_elements=["agency_id", "day"], set_={"last_value": DossierCounter.last_value + 1}
        )
        .returning(DossierCounter.last_value)
    )


def processing_amount(manifest: Mapping[str, Any], channel: int) -> Decimal:
    pt = manifest["processing_time"]
    raw = pt.get("online_amount", pt["amount"]) if channel == 2 else pt["amount"]
    return Decimal(str(raw))


def fee_for(manifest: Mapping[str, Any], channel: int, data: Any = None,
            decide_with: fees.Decider | None = None) -> int:
    """The dossier's fee: the one computation (app/dossiers/fees.py) the receipt, payment and portal all show;
    `decide_with` evaluates the manifest's fee decision table, if it has one."""
    return fees.fee_total(manifest, channel, data, decide_with)


def appointment(manifest: Mapping[str, Any], agency: Agency, received_at: datetime, channel: int) -> datetime:
    """The appointment date for the result, counted in the procedure's unit from the given receipt time."""
    pt = manifest["processing_time"]
    cutoff = time.fromisoformat(pt["cutoff"]) if pt.get("cutoff") else None
    return calendar_for(agency).due_date(received_at, processing_amount(manifest, channel), pt["unit"], cutoff)


@dataclass(frozen=True)
class ProcessingRule:
    """The processing time as the citizen reads it, written from the data `appointment` computes with."""

    text: str  # the rule in words
    due: datetime  # the appointment for a dossier received at the given moment
    example: str  # that appointment in words


def processing_rule(manifest: Mapping[str, Any], agency: Agency, channel: int, at: datetime) -> ProcessingRule:
    """The rule behind `appointment`, in words, with what it gives for a dossier received at `at`: shown on the
    procedure page and the receipt, so what they promise is what is computed (no hand-written note)."""
    pt = manifest["processing_time"]
    amount = processing_amount(manifest, channel)
    whole = amount == amount.to_integral_value()
    shown = int(amount) if whole else str(amount).replace(".", ",")
    count = int(amount) if whole else 2  # the plural form of a fraction
    if amount == 0:
        time_text = gettext("Trả kết quả trong ngày tiếp nhận hồ sơ")
    elif pt["unit"] == UNIT_WORKING_DAYS:
        time_text = ngettext("%(amount)s ngày làm việc kể từ khi tiếp nhận hồ sơ",
                             "%(amount)s ngày làm việc kể từ khi tiếp nhận hồ sơ", count, amount=shown)
    else:
        time_text = ngettext("%(amount)s ngày kể từ khi tiếp nhận hồ sơ", "%(amount)s ngày kể từ khi tiếp nhận hồ sơ",
                             count, amount=shown)
    calendar = calendar_for(agency)
    threshold = pt.get("cutoff") or calendar.office_hours.closing.strftime("%H:%M")
    if amount == 0:
        later = gettext("hồ sơ tiếp nhận sau %(time)s hoặc vào ngày nghỉ được trả kết quả trong ngày làm việc "
                        "tiếp theo", time=threshold)
    else:
        # The same rule as the calendar's: counting starts at the next working day, which is day zero.
        later = gettext("hồ sơ tiếp nhận sau %(time)s hoặc vào ngày nghỉ được tính từ ngày làm việc tiếp theo",
                        time=threshold)
    due = appointment(manifest, agency, at, channel)
    tz = local_tz()
    example = gettext("Tiếp nhận lúc %(at)s → hẹn trả kết quả %(due)s.", at=formats.local_datetime(at, tz),
                      due=formats.local_datetime(due, tz))
    return ProcessingRule(text=f"{time_text}; {later}.", due=due, example=example)

"""The progress counters of QĐ 766/QĐ-TTg's indicators (../shared/DOMAIN.md), per agency and procedure, for a period
[start, end), computed by one SQL statement over the dossier projection:

- received in the period: online (channel 2) / in person (every other channel); carried over: received before the
  period and still open at its start;
- handled in the period (finished with a result, statuses 9 and 10): before / on / after the statutory date, by
  local date (`Dossier.finished_verdict`, set once when it finishes); the on-time rate is (before + on) / handled;
- refused (status 3) and withdrawn (status 7) in the period;
- open at the period's end: within / past the statutory date; of them, paused (statuses 5, 6, 8) when the period
  ends now;
- digitized (số hóa): received in the period with every component it held at reception digitized (recorded then:
  `Dossier.components_held` / `components_digitized`; everything of an online dossier, the components of a walk-in
  one the desk scanned and uploaded) — the share of received dossiers is `digitization_rate`;
- reused (tái sử dụng): received in the period with a component taken from the applicant's document store
  (kho giấy tờ, app.dossiers.docstore: `Dossier.reused_documents` set);
- paid online: dossiers whose first settled online payment falls in the period (counted once, however many times
  they paid); ratings given in the period, and of them those satisfied overall.

`progress` is the definition: one SQL statement over the dossier projection (and one each over payments and
ratings). At a province's volume it reads every dossier; `summary` gives exactly the same counters from a daily
aggregate (`indicator_day`, app.models.indicator) of the rows whose contribution can never change again (dossiers
in a final status, settled payments, ratings), plus `progress` over the rows the aggregate does not hold yet, in
one statement. `refresh` folds those rows in, each once (the sweeper runs it); one statement sees a refresh
entirely or not at all, so the summary is never stale: a dossier finished a moment ago is counted.

Worked examples: tests/integration/test_indicators.py.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, or_, select, text, union_all
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import True_

from app.clock import local_tz
from app.extensions import db
from app.models import Dossier, DossierRating, IndicatorDay, Payment, Procedure, ProcedureVersion
from app.models.dossier import PAUSING_STATUSES

ONLINE = 2


@dataclass
class Counters:
    agency_id: int
    procedure_code: str
    received_online: int = 0
    received_in_person: int = 0
    carried_over: int = 0
    finished_before: int = 0
    finished_on_time: int = 0
    finished_late: int = 0
    refused: int = 0
    withdrawn: int = 0
    open_in_time: int = 0
    open_overdue: int = 0
    paused: int = 0
    digitized: int = 0  # received in the period with every component digitized at reception
    received_reused: int = 0  # received in the period with a component taken from the applicant's document store
    paid_online: int = 0  # dossiers whose fee was first paid online in the period
    rated: int = 0  # ratings given in the period
    rated_satisfied: int = 0  # of them, overall «hài lòng» or «rất hài lòng»

    @property
    def satisfaction_rate(self) -> float | None:
        return self.rated_satisfied / self.rated if self.rated else None

    @property
    def received(self) -> int:
        return self.received_online + self.received_in_person

    @property
    def digitization_rate(self) -> float | None:
        return self.digitized / self.received if self.received else None

    @property
    def finished(self) -> int:
        return self.finished_before + self.finished_on_time + self.finished_late

    @property
    def on_time_rate(self) -> float | None:
        """(before + on time) / handled; None when nothing was handled."""
        return (self.finished_before + self.finished_on_time) / self.finished if self.finished else None

    def as_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out.update(finished=self.finished, on_time_rate=self.on_time_rate, satisfaction_rate=self.satisfaction_rate,
                   received=self.received, digitization_rate=self.digitization_rate)
        return out

    def add(self, other: Counters) -> None:
        for f in fields(self)[2:]:
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self)[2:])


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


SETTLED = ("paid", "refunded")


def _first_settled() -> Any:
    """The payment is its dossier's first settled one (the earliest paid_at, then the lowest id)."""
    earlier = aliased(Payment)
    return ~exists().where(earlier.dossier_id == Payment.dossier_id, earlier.state.in_(SETTLED),
                           or_(earlier.paid_at < Payment.paid_at,
                               and_(earlier.paid_at == Payment.paid_at, earlier.id < Payment.id)))


COUNTERS = ("received_online", "received_in_person", "carried_over", "finished_before", "finished_on_time",
            "finished_late", "refused", "withdrawn", "open_in_time", "open_overdue", "paused", "digitized",
            "received_reused", "paid_online", "rated", "rated_satisfied")


def _shaped(agency: Any, code: Any, counters: dict[str, Any]) -> list[Any]:
    """The columns of one part of the statement: agency, procedure code and every counter (0 where the part has
    none), so that the parts can be put together with UNION ALL."""
    return [agency.label("agency_id"), code.label("code"),
            *[counters.get(name, literal(0)).label(name) for name in COUNTERS]]


def _parts(start: datetime, end: datetime, agency_ids: list[int] | None, uncounted: bool) -> list[Any]:
    """The three parts of the definition, each grouped by agency and procedure: the dossiers, their first settled
    online payments, their ratings. `uncounted`: only the rows the daily aggregate does not hold yet."""
    d = Dossier
    in_period = lambda column: and_(column >= start, column < end)  # noqa: E731
    still_open_at = lambda moment: and_(  # noqa: E731
        d.received_at < moment,
        or_(d.finished_at.is_(None), d.finished_at >= moment),
        or_(d.withdrawn_at.is_(None), d.withdrawn_at >= moment))
    handled = and_(in_period(d.finished_at), d.status.in_((9, 10)))
    code = Procedure.code

    def by_procedure(counters: dict[str, Any]) -> Any:
        base = (select(*_shaped(d.agency_id, code, counters))
                .join(ProcedureVersion, ProcedureVersion.id == d.procedure_version_id)
                .join(Procedure, Procedure.id == ProcedureVersion.procedure_id).group_by(d.agency_id, code))
        return base if agency_ids is None else base.where(d.agency_id.in_(agency_ids))

    dossiers = by_procedure({
        "received_online": _count(and_(in_period(d.received_at), d.channel == ONLINE)),
        "received_in_person": _count(and_(in_period(d.received_at), d.channel != ONLINE)),
        "carried_over": _count(still_open_at(start)),
        "finished_before": _count(and_(handled, d.finished_verdict == "truoc_han")),
        "finished_on_time": _count(and_(handled, d.finished_verdict == "dung_han")),
        "finished_late": _count(and_(handled, d.finished_verdict == "qua_han")),
        "refused": _count(and_(in_period(d.finished_at), d.status == 3)),
        "withdrawn": _count(in_period(d.withdrawn_at)),
        "open_in_time": _count(and_(still_open_at(end), d.due_at >= end)),
        "open_overdue": _count(and_(still_open_at(end), d.due_at < end)),
        "paused": _count(and_(still_open_at(end), d.status.in_(tuple(PAUSING_STATUSES)))),
        "digitized": _count(and_(in_period(d.received_at), d.components_held > 0,
                                 d.components_digitized == d.components_held)),
        "received_reused": _count(and_(in_period(d.received_at), d.reused_documents.is_not(None))),
    }).where(or_(d.received_at < end, d.submitted_at < end))
    paid = (by_procedure({"paid_online": func.count()})
            .join(Payment, Payment.dossier_id == d.id)
            .where(Payment.state.in_(SETTLED), in_period(Payment.paid_at), _first_settled()))
    overall = DossierRating.answers["tong_the"].as_integer()
    rated = (by_procedure({"rated": func.count(), "rated_satisfied": _count(overall >= 2)})
             .join(DossierRating, DossierRating.dossier_id == d.id).where(in_period(DossierRating.created_at)))
    if uncounted:
        dossiers, paid, rated = dossiers.where(~d.counted), paid.where(~Payment.counted), rated.where(
            ~DossierRating.counted)
    return [dossiers, paid, rated]


def _run(parts: list[Any]) -> list[Counters]:
    """The parts summed per agency and procedure, in ONE statement (one snapshot of the database: a refresh that
    commits meanwhile is seen entirely or not at all); the rows that have anything."""
    every = union_all(*parts).subquery()
    stmt = (select(every.c.agency_id, every.c.code, *[func.sum(every.c[name]).label(name) for name in COUNTERS])
            .group_by(every.c.agency_id, every.c.code).order_by(every.c.agency_id, every.c.code))
    rows = [Counters(agency_id=int(agency_id), procedure_code=str(code),
                     **{name: int(value or 0) for name, value in zip(COUNTERS, values, strict=True)})
            for agency_id, code, *values in db.session.execute(stmt)]
    return [c for c in rows if not c.empty]


def progress(start: datetime, end: datetime, agency_ids: list[int] | None = None) -> list[Counters]:
    """The counters for [start, end), one row per agency and procedure that has anything in the period."""
    return _run(_parts(start, end, agency_ids, uncounted=False))


# ---------------------------------------------------------------- the daily aggregate

_LOCK = (zlib.crc32(b"indicator_day") & 0x7FFFFFFF, 1)  # one refresh at a time
REFRESH_BATCH = 5_000  # per kind and pass: a pass stays short while a history is folded for the first time
ANALYZE_AFTER = 2_000


def bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """The local days [first, last] as the moments [start, end) progress counts between."""
    zone = local_tz()
    return datetime.combine(first, time.min, zone), datetime.combine(last + timedelta(days=1), time.min, zone)


def _aggregated() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _day_sql(column: str) -> str:
    return f"(({column}) AT TIME ZONE :zone)::date"


# One row per dossier and day it counts on: (day, received_online, received_in_person, digitized, received_reused,
# opened, closed, due_passed, due_passed_closed, finished_before, finished_on_time, finished_late, refused,
# withdrawn). A day that does not apply is NULL and the row is left out. GREATEST and LEAST skip NULLs.
_DOSSIER_DAYS = f"""
    (VALUES
      (CASE WHEN f.received_at IS NOT NULL THEN {_day_sql('f.received_at')} END,
       (f.channel = 2)::int, (f.channel <> 2)::int,
       (COALESCE(f.components_held, 0) > 0 AND f.components_digitized = f.components_held)::int,
       (f.reused_documents IS NOT NULL)::int, 1, 0, 0, 0, 0, 0, 0, 0, 0),
      (CASE WHEN f.received_at IS NOT NULL AND f.closed_at IS NOT NULL
            THEN {_day_sql('GREATEST(f.received_at, f.closed_at)')} END, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0),
      (CASE WHEN f.received_at IS NOT NULL THEN {_day_sql('GREATEST(f.received_at, f.due_at)')} END,
       0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0),
      (CASE WHEN f.received_at IS NOT NULL AND f.closed_at IS NOT NULL
            THEN {_day_sql('GREATEST(f.received_at, f.due_at, f.closed_at)')} END, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0,
       0),
      (CASE WHEN f.finished_at IS NOT NULL AND (f.status = 3 OR (f.status IN (9, 10) AND f.finished_verdict IN
            ('truoc_han', 'dung_han', 'qua_han'))) THEN {_day_sql('f.finished_at')} END, 0, 0, 0, 0, 0, 0, 0, 0,
       (f.status IN (9, 10) AND f.finished_verdict = 'truoc_han')::int,
       (f.status IN (9, 10) AND f.finished_verdict = 'dung_han')::int,
       (f.status IN (9, 10) AND f.finished_verdict = 'qua_han')::int, (f.status = 3)::int, 0),
      (CASE WHEN f.withdrawn_at IS NOT NULL THEN {_day_sql('f.withdrawn_at')} END, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
       1)
    ) AS e(day, received_online, received_in_person, digitized, received_reused, opened, closed, due_passed,
           due_passed_closed, finished_before, finished_on_time, finished_late, refused, withdrawn)"""

_DOSSIER_COLUMNS = ("received_online", "received_in_person", "digitized", "received_reused", "opened", "closed",
                    "due_passed", "due_passed_closed", "finished_before", "finished_on_time", "finished_late",
                    "refused", "withdrawn")


def _upsert(columns: Iterable[str], select_sql: str) -> str:
    """The rows `moved` (a CTE before it) added to the aggregate; the statement answers how many were moved."""
    names = list(columns)
    return (f", added AS (INSERT INTO indicator_day (day, agency_id, procedure_id, {', '.join(names)}) {select_sql} "  # noqa: S608
            f"ON CONFLICT (day, agency_id, procedure_id) DO UPDATE SET "
            + ", ".join(f"{n} = indicator_day.{n} + EXCLUDED.{n}" for n in names)
            + " RETURNING 1) SELECT count(*) FROM moved")


_FOLD_DOSSIERS = _upsert(_DOSSIER_COLUMNS, f"""
    SELECT e.day, f.agency_id, f.procedure_id, {', '.join(f'sum(e.{n})' for n in _DOSSIER_COLUMNS)}
    FROM (
      SELECT m.*, v.procedure_id, LEAST(m.finished_at, m.withdrawn_at) AS closed_at
      FROM moved m JOIN procedure_version v ON v.id = m.procedure_version_id
    ) f CROSS JOIN LATERAL {_DOSSIER_DAYS}
    WHERE e.day IS NOT NULL
    GROUP BY e.day, f.agency_id, f.procedure_id""")  # noqa: S608

FOLD_DOSSIERS = f"""
    WITH moved AS (
      UPDATE dossier SET counted = true
      WHERE id IN (SELECT id FROM dossier WHERE NOT counted AND status IN (3, 7, 10)
                   ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED)
      RETURNING id, agency_id, procedure_version_id, status, channel, received_at, due_at, finished_at, withdrawn_at,
                finished_verdict, components_held, components_digitized, reused_documents
    ) {_FOLD_DOSSIERS}"""  # noqa: S608

FOLD_PAYMENTS = "WITH moved AS (" + """
      UPDATE payment SET counted = true
      WHERE id IN (SELECT id FROM payment WHERE NOT counted AND state IN ('paid', 'refunded') AND paid_at IS NOT NULL
                   ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED)
      RETURNING id, dossier_id, paid_at
    ) """ + _upsert(("paid_online",), f"""
    SELECT {_day_sql('m.paid_at')}, d.agency_id, v.procedure_id, count(*)
    FROM moved m JOIN dossier d ON d.id = m.dossier_id JOIN procedure_version v ON v.id = d.procedure_version_id
    WHERE NOT EXISTS (SELECT 1 FROM payment q WHERE q.dossier_id = m.dossier_id AND q.state IN ('paid', 'refunded')
                      AND (q.paid_at < m.paid_at OR (q.paid_at = m.paid_at AND q.id < m.id)))
    GROUP BY 1, 2, 3""")  # noqa: S608

FOLD_RATINGS = "WITH moved AS (" + """
      UPDATE dossier_rating SET counted = true
      WHERE id IN (SELECT id FROM dossier_rating WHERE NOT counted ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED)
      RETURNING id, dossier_id, created_at, answers
    ) """ + _upsert(("rated", "rated_satisfied"), f"""
    SELECT {_day_sql('m.created_at')}, d.agency_id, v.procedure_id, count(*),
           sum(CASE WHEN (m.answers ->> 'tong_the')::int >= 2 THEN 1 ELSE 0 END)
    FROM moved m JOIN dossier d ON d.id = m.dossier_id JOIN procedure_version v ON v.id = d.procedure_version_id
    GROUP BY 1, 2, 3""")  # noqa: S608


def refresh(limit: int = REFRESH_BATCH) -> int:
    """Fold up to `limit` rows of each kind the aggregate does not hold yet (dossiers now in a final status, settled
    payments, ratings) into it, each once; how many were folded. In the caller's transaction (the
    caller commits); 0 when another refresh is under way (the next pass folds them). A reader never waits for it:
    it reads the aggregate and the rest in one statement, before the refresh commits or after. Nothing on SQLite,
    where the summary is the live count."""
    if not _aggregated():
        return 0
    if not db.session.execute(text("SELECT pg_try_advisory_xact_lock(:a, :b)"),
                              {"a": _LOCK[0], "b": _LOCK[1]}).scalar():
        return 0
    params = {"limit": limit, "zone": str(local_tz())}
    folded = [int(db.session.execute(text(statement), params).scalar() or 0)
              for statement in (FOLD_DOSSIERS, FOLD_PAYMENTS, FOLD_RATINGS)]
    if max(folded) >= ANALYZE_AFTER:
        # Catching up (the first fold of a history): the planner must learn that few rows are left uncounted, or it
        # reads whole tables instead of the partial indexes until autovacuum analyzes them.
        db.session.execute(text("ANALYZE dossier, payment, dossier_rating, indicator_day"))
    return sum(folded)


def sweep_source(now: datetime, cutoff: datetime, limit: int) -> int:
    """The sweeper's source (app.subscriptions.SWEEPS): a refresh per pass; nothing to enqueue."""
    refresh(max(limit, REFRESH_BATCH))
    return 0


def summary(first: date, last: date, agency_ids: list[int] | None = None) -> list[Counters]:
    """The same counters as `progress` over the local days [first, last], read from the daily aggregate plus a live
    count of what it does not hold yet, in one statement: equal to progress at any moment
    (tests/integration/test_indicators.py)."""
    start, end = bounds(first, last)
    if not _aggregated():
        return progress(start, end, agency_ids)
    a = IndicatorDay
    inside = and_(a.day >= first, a.day <= last)

    def within(column: Any) -> Any:
        return func.coalesce(func.sum(case((inside, column), else_=0)), 0)

    def before(day: date, column: Any) -> Any:
        return func.coalesce(func.sum(case((a.day < day, column), else_=0)), 0)

    following = last + timedelta(days=1)
    open_at_end = before(following, a.opened - a.closed)
    overdue_at_end = before(following, a.due_passed - a.due_passed_closed)
    held = (select(*_shaped(a.agency_id, Procedure.code, {
        "received_online": within(a.received_online), "received_in_person": within(a.received_in_person),
        "carried_over": before(first, a.opened - a.closed), "finished_before": within(a.finished_before),
        "finished_on_time": within(a.finished_on_time), "finished_late": within(a.finished_late),
        "refused": within(a.refused), "withdrawn": within(a.withdrawn),
        "open_in_time": open_at_end - overdue_at_end, "open_overdue": overdue_at_end,
        "digitized": within(a.digitized), "received_reused": within(a.received_reused),
        "paid_online": within(a.paid_online), "rated": within(a.rated),
        "rated_satisfied": within(a.rated_satisfied)}))
        .join(Procedure, Procedure.id == a.procedure_id).where(a.day <= last).group_by(a.agency_id, Procedure.code))
    if agency_ids is not None:
        held = held.where(a.agency_id.in_(agency_ids))
    return _run([held, *_parts(start, end, agency_ids, uncounted=True)])


def total(rows: Iterable[Counters], agency_id: int = 0, procedure_code: str = "") -> Counters:
    """The sum of several rows (an agency's procedures, a province's agencies): counts add up, rates follow."""
    out = Counters(agency_id=agency_id, procedure_code=procedure_code)
    for row in rows:
        out.add(row)
    return out


def fields_of(codes: Iterable[str]) -> dict[str, str]:
    """Each procedure's field (lĩnh vực: its current version's manifest `field`), "" when it declares none."""
    wanted = set(codes)
    if not wanted:
        return {}
    rows = db.session.execute(select(Procedure.code, ProcedureVersion.manifest["field"].as_string())
                              .join(ProcedureVersion, ProcedureVersion.id == Procedure.current_version_id)
                              .where(Procedure.code.in_(wanted)))
    return {str(code): str(field or "") for code, field in rows}


def late_dossiers(first: date, last: date, agency_id: int, visible: Any, procedure_code: str | None = None,
                  offset: int = 0, limit: int = 200) -> tuple[list[Dossier], int, int]:
    """The late dossiers behind the counters of [first, last]: handled after their statutory date in the period
    (finished_late) and open past it at the period's end (open_overdue), latest due first; only those `visible`
    (SQL on Dossier: access.viewable) lets the viewer see, `limit` of them from `offset`; how many the viewer may
    see in all, and how many not."""
    start, end = bounds(first, last)
    d = Dossier
    finished_late = and_(d.finished_verdict == "qua_han", d.status.in_((9, 10)), d.finished_at >= start,
                         d.finished_at < end)
    open_overdue = and_(d.received_at < end, d.due_at < end, or_(d.finished_at.is_(None), d.finished_at >= end),
                        or_(d.withdrawn_at.is_(None), d.withdrawn_at >= end))
    # Open past its date at the end: still open now (not in the aggregate yet), or handled late after the end.
    overdue_then = and_(open_overdue, or_(~d.counted, and_(d.finished_verdict == "qua_han", d.finished_at >= end)))
    base = select(d).where(d.agency_id == agency_id, or_(finished_late, overdue_then))
    if procedure_code is not None:
        base = base.join(ProcedureVersion, ProcedureVersion.id == d.procedure_version_id).join(
            Procedure, Procedure.id == ProcedureVersion.procedure_id).where(Procedure.code == procedure_code)
    rows = db.session.scalars(base.where(visible).order_by(d.due_at.desc(), d.id.desc())
                              .offset(offset).limit(limit)).all()

    def count(stmt: Any) -> int:
        return int(db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)

    shown = count(base.where(visible))
    # Everyone's late dossiers are the viewer's (no hidden count to take), else those not visible: not ~visible,
    # which a NULL applicant makes NULL.
    return list(rows), shown, 0 if isinstance(visible, True_) else count(base) - shown

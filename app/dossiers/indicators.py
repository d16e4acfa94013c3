"""The progress counters of QĐ 766/QĐ-TTg's indicators (../shared/DOMAIN.md), per agency and procedure, for a period
[start, end), computed by one SQL statement over the dossier projection:

- received in the period: online (channel 2) / in person (every other channel); carried over: received before the
  period and still open at its start;
- handled in the period (finished with a result, statuses 9 and 10): before / on / after the statutory date, by
  local date (`Dossier.finished_verdict`, set once when it finishes); the on-time rate is (before + on) / handled;
- refused (status 3) and withdrawn (status 7) in the period;
- open at the period's end: within / past the statutory date; of them, paused (statuses 5, 6, 8) when the period
  ends now;
- digitization: received in the period with a component reused from the applicant's document store (kho giấy tờ,
  app.dossiers.docstore).

Worked examples: tests/integration/test_indicators.py.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select

from app.extensions import db
from app.models import Dossier, DossierRating, Payment, Procedure, ProcedureVersion
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
    paid_online: int = 0  # dossiers whose fee was paid online in the period
    received_reused: int = 0  # received in the period with a component taken from the applicant's document store
    rated: int = 0  # ratings given in the period
    rated_satisfied: int = 0  # of them, overall «hài lòng» or «rất hài lòng»

    @property
    def satisfaction_rate(self) -> float | None:
        return self.rated_satisfied / self.rated if self.rated else None

    @property
    def finished(self) -> int:
        return self.finished_before + self.finished_on_time + self.finished_late

    @property
    def on_time_rate(self) -> float | None:
        """(before + on time) / handled; None when nothing was handled."""
        return (self.finished_before + self.finished_on_time) / self.finished if self.finished else None

    def as_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out.update(finished=self.finished, on_time_rate=self.on_time_rate, satisfaction_rate=self.satisfaction_rate)
        return out


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def progress(start: datetime, end: datetime, agency_ids: list[int] | None = None) -> list[Counters]:
    """The counters for [start, end), one row per agency and procedure that has anything in the period."""
    d = Dossier
    in_period = lambda column: and_(column >= start, column < end)  # noqa: E731
    still_open_at = lambda moment: and_(  # noqa: E731
        d.received_at < moment,
        or_(d.finished_at.is_(None), d.finished_at >= moment),
        or_(d.withdrawn_at.is_(None), d.withdrawn_at >= moment))
    handled = and_(in_period(d.finished_at), d.status.in_((9, 10)))
    columns = [
        _count(and_(in_period(d.received_at), d.channel == ONLINE)).label("received_online"),
        _count(and_(in_period(d.received_at), d.channel != ONLINE)).label("received_in_person"),
        _count(still_open_at(start)).label("carried_over"),
        _count(and_(handled, d.finished_verdict == "truoc_han")).label("finished_before"),
        _count(and_(handled, d.finished_verdict == "dung_han")).label("finished_on_time"),
        _count(and_(handled, d.finished_verdict == "qua_han")).label("finished_late"),
        _count(and_(in_period(d.finished_at), d.status == 3)).label("refused"),
        _count(in_period(d.withdrawn_at)).label("withdrawn"),
        _count(and_(still_open_at(end), d.due_at >= end)).label("open_in_time"),
        _count(and_(still_open_at(end), d.due_at < end)).label("open_overdue"),
        _count(and_(still_open_at(end), d.status.in_(tuple(PAUSING_STATUSES)))).label("paused"),
        _count(and_(in_period(d.received_at), d.reused_documents.is_not(None))).label("received_reused"),
    ]
    code = Procedure.code
    stmt = (select(d.agency_id, code.label("code"), *columns)
            .join(ProcedureVersion, ProcedureVersion.id == d.procedure_version_id)
            .join(Procedure, Procedure.id == ProcedureVersion.procedure_id)
            .where(or_(d.received_at < end, d.submitted_at < end))
            .group_by(d.agency_id, code).order_by(d.agency_id, code))
    if agency_ids is not None:
        stmt = stmt.where(d.agency_id.in_(agency_ids))
    found: dict[tuple[int, str], Counters] = {}
    for row in db.session.execute(stmt):
        values = dict(row._mapping)
        key = (int(values.pop("agency_id")), str(values.pop("code")))
        found[key] = Counters(agency_id=key[0], procedure_code=key[1], **{k: int(v) for k, v in values.items()})

    def by_procedure(*extra: Any) -> Any:
        base = (select(d.agency_id, code.label("code"), *extra)
                .join(ProcedureVersion, ProcedureVersion.id == d.procedure_version_id)
                .join(Procedure, Procedure.id == ProcedureVersion.procedure_id))
        return base if agency_ids is None else base.where(d.agency_id.in_(agency_ids))

    paid = (by_procedure(func.count(func.distinct(Payment.dossier_id)).label("n"))
            .join(Payment, Payment.dossier_id == d.id)
            .where(Payment.state.in_(("paid", "refunded")), in_period(Payment.paid_at)).group_by(d.agency_id, code))
    for agency_id, procedure_code, n in db.session.execute(paid):
        _row(found, agency_id, procedure_code).paid_online = int(n)
    overall = DossierRating.answers["tong_the"].as_integer()
    rated = (by_procedure(func.count().label("n"), _count(overall >= 2).label("ok"))
             .join(DossierRating, DossierRating.dossier_id == d.id)
             .where(in_period(DossierRating.created_at)).group_by(d.agency_id, code))
    for agency_id, procedure_code, n, ok in db.session.execute(rated):
        counters = _row(found, agency_id, procedure_code)
        counters.rated, counters.rated_satisfied = int(n), int(ok)
    return [c for _, c in sorted(found.items()) if any(getattr(c, f.name) for f in fields(c)[2:])]


def _row(found: dict[tuple[int, str], Counters], agency_id: int, procedure_code: str) -> Counters:
    key = (int(agency_id), str(procedure_code))
    if key not in found:
        found[key] = Counters(agency_id=key[0], procedure_code=key[1])
    return found[key]

"""Who is away: the officers whose leave (OfficerLeave) covers a moment. The desk asks it before giving a step to
someone (a return re-opens a step with the officer who did it; a delegation or reassignment names a receiver), the
department's page shows it. Reading only; the leave itself is entered and applied in app.dossiers.leave."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from app.extensions import db
from app.models import OfficerLeave


def leaves_at(officer_ids: Iterable[int], at: datetime) -> dict[int, OfficerLeave]:
    """The leave running at `at` for each of these officers who is away then."""
    ids = sorted(set(officer_ids))
    if not ids:
        return {}
    found = db.session.scalars(select(OfficerLeave).where(OfficerLeave.officer_id.in_(ids),
                                                          OfficerLeave.starts_at <= at, OfficerLeave.ends_at > at)
                               .order_by(OfficerLeave.starts_at))
    return {leave.officer_id: leave for leave in found}


def is_away(officer_id: int, at: datetime) -> bool:
    return officer_id in leaves_at([officer_id], at)

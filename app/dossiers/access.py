"""Who may see and act on a dossier: the rules the use cases check (not only the templates)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, true

from app.models import Dossier, User
from app.models.user import ADMIN_ROLE


def may_view(user: User | None, dossier: Dossier) -> bool:
    if user is None:
        return False
    if dossier.applicant_user_id is not None and dossier.applicant_user_id == user.id:
        return True
    return bool(user.is_officer and user.agency_id == dossier.agency_id) or user.has_role(ADMIN_ROLE)


def may_operate(user: User, dossier: Dossier) -> bool:
    """Operators act on their own agency's dossiers only; a platform administrator on every agency's.

    A designer or officer without an agency sees no incident: an action taken from one (a registry look-up
    made again) runs in that person's name, so it must be someone the dossier's agency answers for.
    """
    if user.has_role(ADMIN_ROLE):
        return True
    return (user.agency_id is not None and user.agency_id == dossier.agency_id
            and (user.is_officer or user.is_designer))


def visible_to(user: User) -> Any:
    """The SQL condition on Dossier matching `may_operate`'s agency rule, to filter lists in the query."""
    if user.has_role(ADMIN_ROLE):
        return true()
    if user.agency_id is None:
        return false()
    return Dossier.agency_id == user.agency_id

"""Who may see and act on a dossier: the rules the use cases check (not only the templates).

A rule that lists filter on is written once, as a `Scope` (the agencies whose dossiers it lets a user act on),
and read two ways from that one definition: `allows(dossier)` for a use case holding a dossier, `condition()`
as SQL on Dossier for a list (app.dossiers.listings) — the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import gettext
from sqlalchemy import ColumnElement, Select, exists, false, select, true

from app.extensions import db
from app.models import Agency, AuditEvent, Dossier, HumanTask, User
from app.models.dossier import INTERNAL_ACTIONS
from app.models.user import ADMIN_ROLE

REFUND_ROLE = "tiep_nhan"  # the one-stop desk
HEAD_ROLE = "lanh_dao_phong"  # head of department: sees the load of the agency's officers, reassigns their tasks
LEADER_ROLES = (HEAD_ROLE, "lanh_dao_ky")  # the agency's leaders: its heads of department and the signing leader


@dataclass(frozen=True)
class Scope:
    """The agencies whose dossiers a rule lets a user act on: every agency, one agency, or none."""

    everywhere: bool = False
    agency_id: int | None = None

    def allows(self, dossier: Dossier) -> bool:
        return self.allows_agency(dossier.agency_id)

    def allows_agency(self, agency_id: int | None) -> bool:
        return self.everywhere or (self.agency_id is not None and agency_id == self.agency_id)

    def condition(self, column: Any = None) -> ColumnElement[bool]:
        """The same rule as SQL on an agency column (Dossier.agency_id unless another is given)."""
        if self.everywhere:
            return true()
        if self.agency_id is None:
            return false()
        return (Dossier.agency_id if column is None else column) == self.agency_id


def may_view(user: User | None, dossier: Dossier) -> bool:
    """The applicant, the officers of an agency working the dossier (its own; another agency holding one of its
    steps: an inter-agency procedure's pool, a step sent to that agency), and administrators."""
    if user is None:
        return False
    if dossier.applicant_user_id is not None and dossier.applicant_user_id == user.id:
        return True
    if user.has_role(ADMIN_ROLE):
        return True
    if not user.is_officer or user.agency_id is None:
        return False
    return user.agency_id == dossier.agency_id or works_on(user.agency_id, dossier)


def viewable(user: User | None) -> ColumnElement[bool]:
    """`may_view` as SQL on Dossier, for a list of dossiers (the dashboard's late dossiers): the same rule."""
    if user is None:
        return false()
    mine = Dossier.applicant_user_id == user.id
    if user.has_role(ADMIN_ROLE):
        return true()
    if not user.is_officer or user.agency_id is None:
        return mine
    held = exists().where(HumanTask.dossier_id == Dossier.id, HumanTask.agency_id == user.agency_id)
    return mine | (Dossier.agency_id == user.agency_id) | held


def viewable_at(user: User | None, agency_id: int) -> ColumnElement[bool]:
    """`viewable` for a list of one agency's dossiers: everything for an administrator or an officer of that agency
    (their own agency's dossiers), else the whole rule. The same answer, without asking the tasks of each row."""
    if user is not None and (user.has_role(ADMIN_ROLE) or (user.is_officer and user.agency_id == agency_id)):
        return true()
    return viewable(user)


def leader_agencies(user: User) -> list[int] | None:
    """The agencies whose indicators a user sees on the leaders' dashboard: every agency (None) for an
    administrator; for a leader of an agency (head of department, signing leader), that agency and every agency
    under it (a province's People's Committee: the province's agencies and communes); nobody else any."""
    if user.has_role(ADMIN_ROLE):
        return None
    if user.agency_id is None or not any(user.has_role(r) for r in LEADER_ROLES):
        return []
    children: dict[int | None, list[int]] = {}
    for agency_id, parent_id in db.session.execute(select(Agency.id, Agency.parent_id)):
        children.setdefault(parent_id, []).append(agency_id)
    seen, todo = [], [user.agency_id]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.append(current)
            todo.extend(children.get(current, []))
    return sorted(seen)


def works_on(agency_id: int, dossier: Dossier) -> bool:
    """Whether the agency holds, or held, a step of the dossier."""
    return db.session.scalar(select(exists().where(HumanTask.dossier_id == dossier.id,
                                                   HumanTask.agency_id == agency_id))) is True


def operating_scope(user: User) -> Scope:
    """Operators act on their own agency's dossiers only; a platform administrator on every agency's.

    A designer or officer without an agency sees no incident: an action taken from one (a registry look-up
    made again) runs in that person's name, so it must be someone the dossier's agency answers for.
    """
    if user.has_role(ADMIN_ROLE):
        return Scope(everywhere=True)
    if user.agency_id is not None and (user.is_officer or user.is_designer):
        return Scope(agency_id=user.agency_id)
    return Scope()


def design_scope(user: User) -> Scope:
    """Whose procedures a designer designs, deploys and watches: their own agency's; a designer of no agency (the
    platform's own) and an administrator, every agency's."""
    if user.has_role(ADMIN_ROLE):
        return Scope(everywhere=True)
    if not user.is_designer:
        return Scope()
    return Scope(everywhere=True) if user.agency_id is None else Scope(agency_id=user.agency_id)


def refund_scope(user: User) -> Scope:
    """Refunds are for the one-stop desk of the dossier's agency (or an administrator)."""
    if user.has_role(ADMIN_ROLE):
        return Scope(everywhere=True)
    if user.agency_id is not None and user.has_role(REFUND_ROLE):
        return Scope(agency_id=user.agency_id)
    return Scope()


def desk_scope(user: User) -> Scope:
    """The desk's actions on a dossier (supplement, return, refusal, stop): the officers of its agency (each action
    then asks for a role that holds the dossier now), or an administrator."""
    if user.has_role(ADMIN_ROLE):
        return Scope(everywhere=True)
    if user.agency_id is not None and user.is_officer:
        return Scope(agency_id=user.agency_id)
    return Scope()


def head_scope(user: User) -> Scope:
    """Reassigning another officer's task, and seeing every officer's load: the head of department of the task's
    agency (the platform models no department below the agency), or an administrator."""
    if user.has_role(ADMIN_ROLE):
        return Scope(everywhere=True)
    if user.agency_id is not None and user.has_role(HEAD_ROLE):
        return Scope(agency_id=user.agency_id)
    return Scope()


def may_operate(user: User, dossier: Dossier) -> bool:
    return operating_scope(user).allows(dossier)


def operable(user: User) -> ColumnElement[bool]:
    """`may_operate` as SQL on Dossier."""
    return operating_scope(user).condition()


def may_refund(user: User, dossier: Dossier) -> bool:
    return refund_scope(user).allows(dossier)


def refundable(user: User) -> ColumnElement[bool]:
    """`may_refund` as SQL on Dossier."""
    return refund_scope(user).condition()


def history_entries(dossier: Dossier, viewer: User | None) -> Select[Any]:
    """SQL: the dossier's history entries `viewer` may see; for one who is not an officer or designer (the
    applicant), without the platform's internal entries (automatic look-ups, incidents, portal sync)."""
    stmt = select(AuditEvent).where(AuditEvent.dossier_id == dossier.id)
    if viewer is not None and not (viewer.is_officer or viewer.is_designer):
        stmt = stmt.where(AuditEvent.action.not_in(INTERNAL_ACTIONS))
    return stmt


def assurance_problem(manifest: dict[str, Any], user: User | None) -> str | None:
    """Why `user` may not submit a procedure whose manifest asks a minimum level of assurance (`min_loa`: the level
    of the national electronic identity, 1 or 2), or None when they may. The level is the one the identity
    provider asserted for this login (a password login or a platform API token asserts none)."""
    required = manifest.get("min_loa")
    if not required or user is None:
        return None
    level = user.loa
    if level is None:
        return gettext("Thủ tục này yêu cầu đăng nhập bằng tài khoản định danh điện tử mức %(required)s (VNeID); "
                       "vui lòng đăng xuất rồi đăng nhập bằng VNeID.", required=required)
    if level < int(required):
        return gettext("Thủ tục này yêu cầu tài khoản định danh điện tử mức %(required)s; tài khoản của bạn đang ở "
                       "mức %(level)s. Vui lòng nâng mức định danh trên ứng dụng VNeID rồi đăng nhập lại.",
                       required=required, level=level)
    return None

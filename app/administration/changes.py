"""The one place the administration area records what it changed.

Every change of the administration area (agencies, departments, officers and their roles, calendars,
publications, the load of administrative units) goes through :func:`record_change`, in the caller's
transaction: the record is committed with the change or not at all. Each record also goes into the platform's
hash-chained audit log (app.audit) as a configuration change, in the same transaction; nothing else writes them.
"""

from __future__ import annotations

from typing import Any

from app import audit
from app.extensions import db
from app.models import AdminChange, User


def record_change(actor: User | None, entity: str, entity_id: int | None, action: str,
                  before: dict[str, Any] | None, after: dict[str, Any] | None) -> AdminChange:
    """Who (`actor`, None for a command run on the server), what (`entity` #`entity_id`, `action`), and the
    entity's state before and after (None where it did not exist)."""
    change = AdminChange(actor_id=actor.id if actor is not None else None,
                         actor_name=actor.full_name if actor is not None else "flask",
                         entity=entity, entity_id=entity_id, action=action, before=before, after=after)
    db.session.add(change)
    audit.record(audit.CONFIGURED, actor=actor, object_kind=entity, object_ref=entity_id if entity_id else "",
                 detail={"action": action, "before": before, "after": after})
    return change

"""Moving running dossiers from one version of their procedure to another, for designers (app.engine.migration
does the workflow's part).

`plan(source, target)` is the dry run: per running dossier of `source`, where it would stand on `target` (its
steps there) or why it cannot move; nothing is written. `move_dossier(dossier_id, target, user)` moves one dossier
in the caller's transaction, under the dossier's row lock: the workflow document (saved under its optimistic
version), the dossier's version, its open human tasks (ids kept; title, lane, role and form from the new version;
tasks the workflow no longer waits on cancelled, new ones opened) and its service calls all change together, with a
history entry "moved from vN to vM". A dossier that cannot move is left exactly as it was. The caller commits each
dossier on its own (app.web.version_moves), so one dossier's failure never undoes another's move.

A dossier stopped on an engine error (an open workflow incident) is repaired the same way: on the new version its
failed tasks run again, and when they succeed its open incidents are resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from app.dossiers.clock import now_utc
from app.dossiers.errors import Conflict, Invalid
from app.dossiers.locks import locked
from app.dossiers.progress import OPEN_TASK_STATES, apply_step, bundle_for, open_tasks
from app.dossiers.workflow_runs import live_runs, save_run
from app.engine.migration import Landing, Obstacle, move
from app.engine.runtime import is_compacted
from app.extensions import db
from app.models import AuditEvent, Dossier, HumanTask, ProcedureVersion, User, WorkflowInstance
from app.models.dossier import FINAL_STATUSES
from app.models.integration import WorkflowIncident
from app.models.user import N_

HELD = "held"  # a step held while its dossier's clock is paused (app.dossiers.desk.HELD)


@dataclass
class MovePlan:
    """One dossier in a dry run or a move."""

    dossier_id: int
    code: str
    status: str
    steps: list[str]  # where it stands now (its open steps' titles)
    landing: list[str] = field(default_factory=list)  # where it stands on the target version
    obstacles: list[Obstacle] = field(default_factory=list)
    incident: bool = False  # stopped on an engine error (an open workflow incident)
    repaired: bool = False  # … and its failed tasks ran again successfully on the target version
    moved: bool = False  # the move was made (not a dry run)

    @property
    def movable(self) -> bool:
        return not self.obstacles

    def as_json(self) -> dict[str, Any]:
        return {"dossier": self.code, "status": self.status, "steps": self.steps, "landing": self.landing,
                "movable": self.movable, "incident": self.incident, "repaired": self.repaired, "moved": self.moved,
                "obstacles": [{"code": o.code, "message": o.message, "step": o.step} for o in self.obstacles]}


def check_pair(source: ProcedureVersion, target: ProcedureVersion) -> None:
    """Dossiers move between two versions of one procedure, onto a version that is not retired."""
    if source.procedure_id != target.procedure_id or source.id == target.id:
        raise Invalid(gettext("Chỉ chuyển được hồ sơ sang một phiên bản khác của cùng thủ tục."),
                      code="versions_invalid", details={"to": gettext("Chọn một phiên bản khác của thủ tục này.")})
    if target.retired_at is not None:
        raise Conflict(gettext("Phiên bản %(version)s đã ngừng áp dụng; không chuyển hồ sơ sang phiên bản này.",
                               version=target.version), code="version_retired")


def running_ids(source: ProcedureVersion) -> list[int]:
    """The dossiers of `source` whose workflow still runs, oldest first."""
    return list(db.session.scalars(
        select(Dossier.id).join(WorkflowInstance, WorkflowInstance.dossier_id == Dossier.id)
        .where(Dossier.procedure_version_id == source.id, WorkflowInstance.completed.is_(False),
               Dossier.status.not_in(FINAL_STATUSES))
        .order_by(Dossier.id)))


def _open_incident_ids(dossier: Dossier) -> list[int]:
    return list(db.session.scalars(select(WorkflowIncident.id).where(
        WorkflowIncident.dossier_id == dossier.id, WorkflowIncident.state == "open")))


def _try(dossier: Dossier, source: ProcedureVersion, target: ProcedureVersion) -> tuple[MovePlan, Landing | None]:
    steps = [t.title for t in open_tasks(dossier)]
    item = MovePlan(dossier.id, dossier.code, dossier.status_label, steps, incident=bool(_open_incident_ids(dossier)))
    if dossier.procedure_version_id != source.id:
        item.obstacles.append(Obstacle("not_on_version", gettext(
            "Hồ sơ không còn ở phiên bản %(version)s.", version=source.version)))
        return item, None
    instance = dossier.workflow
    if instance is None or instance.completed or is_compacted(instance.document) \
            or dossier.status in FINAL_STATUSES:
        item.obstacles.append(Obstacle("finished", gettext("Quy trình của hồ sơ đã kết thúc.")))
        return item, None
    held = db.session.scalar(select(HumanTask.id).where(HumanTask.dossier_id == dossier.id,
                                                        HumanTask.state == HELD).limit(1))
    if held is not None:
        # Its steps are held while its clock is paused (app.dossiers.desk); they are not open tasks, so the move
        # could not carry them over. It moves once processing resumes.
        item.obstacles.append(Obstacle("paused", gettext(
            "Hồ sơ đang tạm dừng (chờ bổ sung hoặc dừng xử lý); chuyển phiên bản sau khi hồ sơ được xử lý tiếp.")))
        return item, None
    landing = move(instance.document, bundle_for(source), bundle_for(target))
    item.obstacles = list(landing.obstacles)
    item.landing = [t.title for t in landing.steps] + landing.services
    item.repaired = landing.repaired and landing.movable
    return item, landing


def plan(source: ProcedureVersion, target: ProcedureVersion) -> list[MovePlan]:
    """The dry run: every running dossier of `source`, where it would land on `target` or why it cannot move."""
    check_pair(source, target)
    found = []
    for dossier_id in running_ids(source):
        dossier = db.session.get(Dossier, dossier_id)
        assert dossier is not None
        found.append(_try(dossier, source, target)[0])
    return found


def move_dossier(dossier_id: int, source: ProcedureVersion, target: ProcedureVersion, user: User) -> MovePlan:
    """Move one dossier (see the module's note); the caller commits, or rolls back if this raises."""
    check_pair(source, target)
    dossier = locked(Dossier, dossier_id)
    if dossier is None:
        raise Invalid(gettext("Không tìm thấy hồ sơ."), code="dossier_not_found")
    workflow = db.session.scalar(select(WorkflowInstance).where(WorkflowInstance.dossier_id == dossier.id))
    if workflow is not None:
        db.session.expire(workflow)  # read afresh under the lock: its document and its version
    item, landing = _try(dossier, source, target)
    if landing is None or not landing.movable or landing.run is None or landing.step is None:
        return item
    instance = dossier.workflow
    dossier.procedure_version_id = target.id
    dossier.procedure_version = target
    step = landing.step
    apply_step(dossier, target, step, user)
    described = {ready.id: ready for ready in step.ready}
    for task in db.session.scalars(select(HumanTask).where(HumanTask.dossier_id == dossier.id,
                                                           HumanTask.state.in_(OPEN_TASK_STATES))):
        ready = described.get(task.engine_task_id)
        if ready is None:
            continue
        info = target.tasks.get(ready.spec_name, {})
        task.spec_name, task.title, task.lane = ready.spec_name, ready.title[:500], ready.lane or ""
        task.role, task.form = info.get("role") or task.role, info.get("form")
    save_run(instance, landing.run, step.completed)
    live_runs().discard(instance.id)
    at = now_utc()
    db.session.add(AuditEvent(dossier_id=dossier.id, actor_id=user.id, actor_name=user.full_name,
                              action="migrated", task_title="", at=at, outcome="",
                              note=N_("Chuyển hồ sơ từ phiên bản v%(old)s sang phiên bản v%(new)s của quy trình."),
                              note_params={"old": source.version, "new": target.version}))
    if landing.repaired:
        for incident in db.session.scalars(select(WorkflowIncident).where(
                WorkflowIncident.dossier_id == dossier.id, WorkflowIncident.state == "open")):
            incident.state, incident.resolved_at, incident.resolved_by_id = "resolved", at, user.id
    try:
        db.session.flush()
    except StaleDataError as exc:
        raise Conflict(gettext("Hồ sơ vừa được cập nhật bởi người khác; vui lòng thử lại."),
                       code="stale_workflow") from exc
    item.moved = True
    item.steps = [t.title for t in open_tasks(dossier)]
    return item

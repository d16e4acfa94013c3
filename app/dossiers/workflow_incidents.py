"""Engine errors that stopped a dossier's workflow: incidents operators see and retry.

An engine error met after the person's own input was valid (a gateway condition naming data nobody
provides, a loop that ran too many rounds, a task the engine could not run) must neither reach that person
as a server error nor leave the dossier silently stuck. Their step is saved, the workflow is saved in its
error state, and an incident is recorded here. Operators of the dossier's agency see it with the other
incidents and retry it: the failed engine tasks run again (with values they supply, if the data was the
cause), and the workflow moves on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from app.dossiers.access import may_operate
from app.dossiers.clock import now_utc
from app.dossiers.errors import Conflict, NotFound
from app.dossiers.progress import apply_step, bundle_for
from app.dossiers.workflow_runs import WorkflowFinished, load_run, save_run
from app.engine.runtime import EngineError
from app.extensions import db
from app.models import AuditEvent, Dossier, User
from app.models.integration import WorkflowIncident
from app.models.user import N_

log = logging.getLogger(__name__)
_REPORTED = "motcua_workflow_incidents"  # session.info key: incidents recorded in this request


def record(dossier: Dossier, error: EngineError, actor: User | None) -> WorkflowIncident:
    """Record (or update, for the same failed task) an open incident for an engine error; the caller commits.
    (The hook on `engine_fault`.)"""
    task = error.task
    engine_task_id = task.id if task else ""
    incident = db.session.scalar(
        select(WorkflowIncident).where(WorkflowIncident.dossier_id == dossier.id, WorkflowIncident.state == "open",
                                       WorkflowIncident.engine_task_id == engine_task_id).limit(1))
    if incident is None:
        incident = WorkflowIncident(dossier_id=dossier.id, engine_task_id=engine_task_id, attempts=1,
                                    spec_name=(task.spec_name if task else "")[:255],
                                    task_title=(task.title if task else "")[:500], state="open")
        db.session.add(incident)
    else:
        incident.attempts += 1
    incident.code, incident.message, incident.detail = error.code[:80], error.message, error.detail[:4000]
    title = task.title if task else ""
    db.session.add(AuditEvent(dossier_id=dossier.id, actor_id=None, actor_name="", action="incident",
                              task_title=title[:255], note=N_("Sự cố quy trình: %(error)s"),
                              note_params={"error": error.message[:2000]}, at=now_utc()))
    db.session.flush()
    db.session.info.setdefault(_REPORTED, []).append(incident.id)
    log.warning("workflow incident %s on dossier %s: %s (%s)", incident.id, dossier.code, error.code, error.detail)
    return incident


def notice(dossier: Dossier) -> str | None:
    """What to tell the person whose step was saved when the workflow then hit an error (in this request)."""
    reported = set(db.session.info.get(_REPORTED, []))
    if not reported:  # nothing went wrong in this request: nothing to read
        return None
    for incident in open_for(dossier):
        if incident.id in reported:
            return gettext("Bước xử lý của bạn đã được lưu, nhưng quy trình gặp lỗi ở bước tiếp theo và chưa thể "
                           "chuyển tiếp: %(reason)s Lỗi đã được báo cho người vận hành để khắc phục; bạn không cần "
                           "làm lại.", reason=incident.message)
    return None


def open_for(dossier: Dossier) -> list[WorkflowIncident]:
    return list(db.session.scalars(
        select(WorkflowIncident).where(WorkflowIncident.dossier_id == dossier.id, WorkflowIncident.state == "open")
        .order_by(WorkflowIncident.id)))


def get_incident(incident_id: int, user: User) -> WorkflowIncident:
    incident = db.session.get(WorkflowIncident, incident_id)
    if incident is None or not may_operate(user, incident.dossier):
        raise NotFound(gettext("Không tìm thấy sự cố quy trình số %(id)s.", id=incident_id), code="incident_not_found")
    return incident


def retry(incident_id: int, user: User, repair: Mapping[str, Any] | None = None) -> WorkflowIncident:
    """Run the dossier's failed engine tasks again (with `repair` values set in their data, if given).

    Succeeded: every open workflow incident of the dossier is resolved (the retry re-ran all its failed
    tasks). Failed again: the incident stays open with the new error and one more attempt. The caller commits.
    """
    incident = get_incident(incident_id, user)
    if incident.state != "open":
        raise Conflict(gettext("Sự cố này đã được xử lý."), code="incident_closed")
    dossier = incident.dossier
    version = dossier.procedure_version
    instance = dossier.workflow
    db.session.add(AuditEvent(dossier_id=dossier.id, actor_id=user.id, actor_name=user.full_name,
                              action="incident_retry", task_title=incident.task_title[:255],
                              note=N_("Chạy lại bước «%(step)s» (lần %(round)s)."),
                              note_params={"step": incident.task_title, "round": incident.attempts + 1},
                              at=now_utc()))
    try:
        run = load_run(instance, bundle_for(version))
    except WorkflowFinished:
        # The workflow finished since (another retry, another branch): nothing is left to run again.
        incident.state, incident.resolved_at, incident.resolved_by_id = "resolved", now_utc(), user.id
        _flush()
        return incident
    try:
        step = run.retry(repair)
    except EngineError as exc:
        if exc.step is not None:
            apply_step(dossier, version, exc.step, user)
            save_run(instance, run, exc.step.completed)
        incident.attempts += 1
        incident.code, incident.message, incident.detail = exc.code[:80], exc.message, exc.detail[:4000]
        _flush()
        return incident
    apply_step(dossier, version, step, user)
    save_run(instance, run, step.completed)
    now = now_utc()
    for other in open_for(dossier):
        other.state, other.resolved_at, other.resolved_by_id = "resolved", now, user.id
    _flush()
    return incident


def _flush() -> None:
    try:
        db.session.flush()
    except StaleDataError as exc:
        raise Conflict(gettext("Hồ sơ vừa được cập nhật bởi người khác; vui lòng thử lại."),
                       code="stale_workflow") from exc

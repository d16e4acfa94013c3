"""Messages delivered to a dossier's workflow from outside it: another agency's system answering an inter-agency
handoff, a national service's callback, correlated by the dossier's code.

Messages between the pools of one procedure (a collaboration: app.engine.runtime.specs_of) need none of this: the
engine delivers them inside the dossier's own workflow. A message from outside names what the diagram waits for
(its bpmn:message name, declared in procedure.json `messages`) and carries a JSON payload that the catching step
stores in its message variable. Delivered under the workflow's row lock, in the caller's transaction; a message
nothing waits for is refused (a replay, a dossier elsewhere), so it is never applied twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext
from sqlalchemy import select

from app.clock import now_utc
from app.dossiers.errors import Conflict, Forbidden, NotFound
from app.dossiers.locks import locked
from app.dossiers.progress import apply_step, bundle_for, report_engine_fault
from app.dossiers.timers import PAUSED_STATUSES
from app.dossiers.workflow_runs import load_run, save_run
from app.eforms.schema import resolve_pointer
from app.engine.runtime import EngineError, MessageNotAwaited, StepResult
from app.extensions import db
from app.models import AuditEvent, Dossier, MessageKey, User, WorkflowInstance
from app.models.user import ADMIN_ROLE, N_


def declared(manifest: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """procedure.json `messages`, each as `{"description", "key"}` (a plain string is the description alone)."""
    out: dict[str, dict[str, Any]] = {}
    for name, spec in (manifest.get("messages") or {}).items():
        out[name] = {"description": spec, "key": None} if isinstance(spec, str) else {
            "description": spec.get("description", ""), "key": spec.get("key")}
    return out


def record_keys(*, dossier: Dossier, **_: Any) -> None:
    """At submission: the dossier's value of each declared correlation key (a start-form field), so a message
    naming that value finds it (`deliver_by_key`)."""
    for name, spec in declared(dossier.procedure_version.manifest).items():
        value = resolve_pointer(dossier.form_data, spec["key"]) if spec["key"] else None
        if value not in (None, "") and isinstance(value, str | int):
            db.session.add(MessageKey(dossier_id=dossier.id, name=name, value=str(value)[:500]))


def deliver_by_key(name: str, key: str, payload: Any, user: User) -> list[Dossier]:
    """A message correlated by a declared key's value instead of a dossier code: delivered to every dossier with
    that value that waits for it now (a key is usually one dossier's; a person's ID may be several's). NotFound
    when no dossier has the value; Conflict when none of them waits for the message."""
    codes = list(db.session.scalars(
        select(Dossier.code).join(MessageKey, MessageKey.dossier_id == Dossier.id)
        .where(MessageKey.name == name, MessageKey.value == key).order_by(Dossier.id)))
    if not codes:
        raise NotFound(gettext("Không có hồ sơ nào có khóa «%(key)s» cho thông điệp «%(name)s».",
                               key=key[:100], name=name[:100]), code="message_key_unknown")
    delivered = []
    refusals: list[Conflict] = []
    for code in codes:
        try:
            delivered.append(deliver(code, name, payload, user))
        except Conflict as exc:
            refusals.append(exc)
    if not delivered:
        raise refusals[0]
    return delivered


def _may_deliver(user: User, dossier: Dossier) -> bool:
    """Officers of an agency that works the dossier (its own, or one of its procedure's pools), administrators."""
    if user.has_role(ADMIN_ROLE):
        return True
    if not user.is_officer or user.agency_id is None:
        return False
    agencies = {dossier.agency_id} | {info.get("agency_id") for info in dossier.procedure_version.tasks.values()
                                      if isinstance(info, dict)}
    return user.agency_id in agencies


def deliver(code: str, name: str, payload: Any, user: User) -> Dossier:
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    if dossier is None:
        raise NotFound(gettext("Không tìm thấy hồ sơ %(code)s.", code=code[:40]))
    if not _may_deliver(user, dossier):
        raise Forbidden(gettext("Bạn không thuộc cơ quan xử lý hồ sơ %(code)s nên không gửi thông điệp cho hồ sơ "
                                "này được.", code=code))
    if dossier.status in PAUSED_STATUSES:
        raise Conflict(gettext("Hồ sơ %(code)s đang tạm dừng; thông điệp chỉ được nhận sau khi hồ sơ tiếp tục.",
                               code=code), code="dossier_paused")
    instance = locked(WorkflowInstance, dossier.workflow.id)
    if instance is None or instance.completed:
        raise Conflict(gettext("Quy trình của hồ sơ %(code)s đã kết thúc; không còn bước nào chờ thông điệp.",
                               code=code), code="message_not_awaited")
    version = dossier.procedure_version
    run = load_run(instance, bundle_for(version))
    fault: EngineError | None = None
    try:
        step: StepResult = run.deliver_message(name, payload)
    except MessageNotAwaited as exc:
        waiting = run.waiting_messages()
        raise Conflict(gettext("Hồ sơ %(code)s không chờ thông điệp «%(name)s» lúc này (đang chờ: %(waiting)s); "
                               "có thể thông điệp đã được nhận rồi.", code=code, name=name[:100],
                               waiting=", ".join(waiting) or gettext("không có")),
                       code="message_not_awaited", details={"waiting": waiting}) from exc
    except EngineError as exc:
        if exc.step is None:
            raise Conflict(exc.message, code="engine_error") from exc
        step, fault = exc.step, exc
    db.session.add(AuditEvent(
        dossier_id=dossier.id, actor_id=user.id, actor_name=user.full_name, action="message_received",
        task_title="", status_to=None, note=N_("Đã nhận thông điệp «%(message)s» từ bên ngoài."),
        note_params={"message": name[:100]}, outcome="", at=now_utc()))
    apply_step(dossier, version, step, user, run=run)
    save_run(instance, run, step.completed)
    db.session.flush()
    if fault is not None:
        report_engine_fault(dossier, fault, user)
    return dossier


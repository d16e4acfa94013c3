"""The desk: what an officer (or the applicant) may do to any dossier, whatever its diagram models.

The law prescribes these actions for every procedure (../shared/DOMAIN.md), so no designer has to draw them:

- request a supplement (status 5): the clock pauses; the applicant is told what is missing (the status change's
  notification carries the list, the reason and the deadline), answers online from the dossier page or at the desk,
  and the dossier resumes with its appointment date moved by the paused WORKING time (progress.set_status, with the
  agency's WorkingCalendar). A request unanswered past its own deadline ends the dossier: the deadline is a column
  (SupplementRequest.deadline_at) the sweeper reads (`expire_supplements`, registered in app.subscriptions.SWEEPS);
- return a waiting step to an earlier one with a reason (SpiffWorkflow's reset, see WorkflowRun.return_to);
- refuse with a reason: before reception the dossier is not received (status 3); after it, the refusal is the
  result handed back (status 10, REFUSED_AFTER_RECEIPT). The workflow is cancelled (SpiffWorkflow's cancel);
- stop processing (status 8, clock paused) and resume it; the applicant withdraws (status 7, workflow cancelled);
- release, reassign (head of department) and delegate a task; the department's load, with who is on leave. Nothing
  is given to an officer on leave (app.dossiers.absences): not by delegation or reassignment, nor by a return.

While the clock is paused (5, 8) the dossier's open tasks are `held`: out of every inbox and not completable
(a completion racing the hold waits on the task row, then finds it no longer open), and its BPMN timers wait. They
come back, with their step deadlines moved like the dossier's, when it resumes; the timers that count the dossier's
time move too (app.dossiers.timers `shift_for_pause` says which, and by how much).

Every action writes its history entry (AuditEvent) with the reason and publishes its signal (app.dossiers.events:
supplement_requested, supplement_received, dossier_returned, dossier_refused, processing_stopped,
processing_resumed, dossier_withdrawn, task_handed_over) carrying what its document needs. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask_babel import gettext
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError

from app.dossiers import events, timers
from app.dossiers.absences import is_away, leaves_at
from app.dossiers.access import desk_scope, head_scope
from app.dossiers.calendar import QUA_HAN, classify_in_progress
from app.dossiers.clock import now_utc
from app.dossiers.components import supplement_answered
from app.dossiers.deadlines import calendar_for
from app.dossiers.errors import Conflict, Forbidden, Invalid, NotFound
from app.dossiers.progress import OPEN_TASK_STATES, apply_step, bundle_for, set_status, status_property
from app.dossiers.workflow_runs import WorkflowFinished, load_run, save_run
from app.engine.runtime import EngineError, ReadyTask, TaskNotReady
from app.extensions import db
from app.models import Attachment, AuditEvent, Dossier, HumanTask, SupplementRequest, User
from app.models.dossier import FINAL_STATUSES
from app.models.user import ADMIN_ROLE, CITIZEN_ROLE, N_

REFUSED_AT_RECEPTION = 3  # Không được tiếp nhận
REFUSED_AFTER_RECEIPT = 10  # the refusal letter is the result handed back (Đã trả kết quả)
SUPPLEMENT_FROM = frozenset({1, 2, 4})  # a supplement is asked for at reception or while processing
STOP_FROM = frozenset({2, 4})
WITHDRAW_UNTIL = frozenset({1, 2, 4, 5, 6, 8})  # before the result is ready
HELD = "held"
FRONT_DESK = "tiep_nhan"  # the one-stop desk: records a supplement brought in person
REASON_MAX = 2000


# ---------------------------------------------------------------- reading and rules


def _reason(reason: str | None, *, required: bool = True) -> str:
    text = (reason or "").strip()[:REASON_MAX]
    if required and not text:
        message = gettext("Vui lòng nêu lý do.")
        raise Invalid(message, code="reason_missing", details={"/ly_do": message})
    return text


def _locked_dossier(code: str, *, hold: bool = False) -> Dossier:
    """The dossier by its code, its row locked for this transaction (desk actions on one dossier run one at a
    time) and read afresh. With `hold`, its open steps are held first: a step's completion locks the task row
    before the dossier's, so taking them in the same order cannot deadlock with it."""
    if hold:
        found = db.session.scalar(select(Dossier.id).where(Dossier.code == code.strip().upper()))
        if found is not None:
            _hold_tasks(found)
    dossier = db.session.scalar(
        select(Dossier).where(Dossier.code == code.strip().upper())
        .options(joinedload(Dossier.procedure_version), joinedload(Dossier.agency))
        .with_for_update(of=Dossier).execution_options(populate_existing=True))
    if dossier is None:
        raise NotFound(gettext("Không tìm thấy hồ sơ có mã «%(code)s».", code=code[:80]), code="dossier_not_found")
    if hold:  # again: a step a completion created while this waited for its lock is held too
        _hold_tasks(dossier.id)
    return dossier


def _tasks(dossier: Dossier, states: Iterable[str]) -> list[HumanTask]:
    return list(db.session.scalars(select(HumanTask).where(HumanTask.dossier_id == dossier.id,
                                                           HumanTask.state.in_(list(states)))
                                   .order_by(HumanTask.id)).all())


def holds(user: User, dossier: Dossier, *, front_desk: bool = False) -> bool:
    """Whether `user` acts for the agency on this dossier now: an officer of its agency in the role of one of its
    open (or held) steps, its head of department, or an administrator; with `front_desk`, also its one-stop desk
    (which takes in what the applicant brings)."""
    if not desk_scope(user).allows(dossier):
        return False
    if user.has_role(ADMIN_ROLE) or head_scope(user).allows(dossier) or (front_desk and user.has_role(FRONT_DESK)):
        return True
    return any(user.has_role(t.role) for t in _tasks(dossier, (*OPEN_TASK_STATES, HELD)) if t.role != CITIZEN_ROLE)


def _officer(user: User, dossier: Dossier, *, front_desk: bool = False) -> None:
    if not desk_scope(user).allows(dossier):
        raise Forbidden(gettext("Bạn không xử lý hồ sơ này nên không thể thực hiện thao tác này."),
                        code="desk_forbidden")
    if dossier.status in FINAL_STATUSES:
        raise Conflict(gettext("Hồ sơ ở trạng thái «%(status)s» nên không thể thực hiện thao tác này.",
                               status=dossier.status_label), code="status_conflict")
    if not holds(user, dossier, front_desk=front_desk):
        raise Forbidden(gettext("Bạn không xử lý hồ sơ này nên không thể thực hiện thao tác này."),
                        code="desk_forbidden")


def _entry(dossier: Dossier, actor: User | None, action: str, *, note: str = "", params: dict[str, Any] | None = None,
           task_title: str = "", outcome: str = "", at: datetime | None = None) -> AuditEvent:
    event = AuditEvent(dossier_id=dossier.id, actor_id=actor.id if actor else None,
                       actor_name=actor.full_name if actor else "", action=action, task_title=task_title[:500],
                       outcome=outcome[:255], note=note, at=at or now_utc())
    if params is not None:
        event.note_params = params
    db.session.add(event)
    return event


def _status_entry(dossier: Dossier) -> AuditEvent:
    """The history entry set_status just added for this dossier (the signal's `event`)."""
    db.session.flush()
    entry = db.session.scalar(select(AuditEvent).where(AuditEvent.dossier_id == dossier.id,
                                                       AuditEvent.status_to.is_not(None))
                              .order_by(AuditEvent.id.desc()).limit(1))
    assert entry is not None
    return entry


def _hold_tasks(dossier_id: int) -> None:
    """Take the dossier's open steps out of every inbox while its clock is paused."""
    db.session.execute(update(HumanTask).where(HumanTask.dossier_id == dossier_id,
                                               HumanTask.state.in_(OPEN_TASK_STATES))
                       .values(state=HELD).execution_options(synchronize_session="fetch"))


def _unhold(dossier: Dossier, paused_from: datetime | None, at: datetime) -> None:
    """Give the held steps back (to whoever had claimed them), their step deadlines moved by the paused working
    time as the dossier's is."""
    calendar = calendar_for(dossier.agency)
    for task in _tasks(dossier, (HELD,)):
        task.state = "claimed" if task.claimed_by_id is not None else "ready"
        if task.due_at is not None and paused_from is not None and at > paused_from:
            task.due_at = calendar.shift_for_pause(task.due_at, paused_from, at)
    if paused_from is not None:  # and its workflow's timers that count its time (app.dossiers.timers)
        timers.shift_for_pause(dossier, paused_from, at)


def _cancel_workflow(dossier: Dossier, actor: User | None) -> None:
    """End the dossier's workflow: SpiffWorkflow's cancel, every open or held step and waiting service call
    cancelled. A workflow that already finished has nothing left to cancel."""
    for task in _tasks(dossier, (HELD,)):
        task.state = "cancelled"
    instance = dossier.workflow
    if instance is None or instance.completed:
        return
    version = dossier.procedure_version
    try:
        run = load_run(instance, bundle_for(version))
    except WorkflowFinished:
        return
    step = run.cancel()
    apply_step(dossier, version, step, actor)
    save_run(instance, run, True)


def _flush() -> None:
    try:
        db.session.flush()
    except StaleDataError as exc:
        raise Conflict(gettext("Hồ sơ vừa được cập nhật bởi người khác; vui lòng tải lại."),
                       code="stale_workflow") from exc


def open_supplement(dossier: Dossier) -> SupplementRequest | None:
    """The dossier's supplement request still waiting for the applicant, if any."""
    return db.session.scalar(select(SupplementRequest).where(SupplementRequest.dossier_id == dossier.id,
                                                             SupplementRequest.state == "open")
                             .order_by(SupplementRequest.id.desc()).limit(1))


def supplements_of(dossier: Dossier) -> list[SupplementRequest]:
    return list(db.session.scalars(select(SupplementRequest).where(SupplementRequest.dossier_id == dossier.id)
                                   .order_by(SupplementRequest.id)).all())


def _components_text(components: Sequence[Mapping[str, Any]]) -> str:
    return "; ".join(f"{c['name']}{' (' + c['note'] + ')' if c.get('note') else ''}" for c in components)


def _status_before_pause(dossier: Dossier) -> int:
    """The status the dossier had before its current one (its history says)."""
    before = db.session.scalar(select(AuditEvent.status_from).where(
        AuditEvent.dossier_id == dossier.id, AuditEvent.status_to == dossier.status)
        .order_by(AuditEvent.id.desc()).limit(1))
    return int(before) if before else 4


# ---------------------------------------------------------------- supplement (status 5)


def _components(dossier: Dossier, components: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The missing components as listed: a component of the procedure by its code (its name taken from the
    manifest unless given), or any other document by its name; each with an optional note."""
    declared = {c.get("code"): c for c in dossier.procedure_version.manifest.get("components", [])}
    out: list[dict[str, str]] = []
    for index, item in enumerate(components):
        code = str(item.get("code") or "").strip()[:40]
        name = str(item.get("name") or "").strip()[:500]
        if code and code not in declared:
            message = gettext("Thủ tục không có thành phần hồ sơ mã «%(code)s».", code=code)
            raise Invalid(message, code="component_unknown", details={f"/thanh_phan/{index}/code": message})
        if code and not name:
            name = str(declared[code].get("name") or code)
        if not name:
            continue
        out.append({"code": code, "name": name, "note": str(item.get("note") or "").strip()[:500]})
    if not out:
        message = gettext("Vui lòng nêu ít nhất một thành phần hồ sơ cần bổ sung.")
        raise Invalid(message, code="components_missing", details={"/thanh_phan": message})
    return out


def request_supplement(code: str, user: User, *, reason: str, components: Sequence[Mapping[str, Any]],
                       deadline: date) -> SupplementRequest:
    """Ask the applicant for what is missing, by `deadline` (a local date: the request ends at that day's closing
    time). The dossier goes to status 5, its clock pauses and its open steps are held."""
    dossier = _locked_dossier(code, hold=True)
    _officer(user, dossier)
    reason = _reason(reason)
    if dossier.status not in SUPPLEMENT_FROM:
        raise Conflict(gettext("Hồ sơ ở trạng thái «%(status)s» nên không thể yêu cầu bổ sung.",
                               status=dossier.status_label), code="status_conflict")
    listed = _components(dossier, components)
    now = now_utc()
    calendar = calendar_for(dossier.agency)
    deadline_at = calendar.closing_of(deadline)
    if deadline_at <= now:
        message = gettext("Hạn bổ sung phải sau thời điểm hiện tại.")
        raise Invalid(message, code="deadline_past", details={"/han_bo_sung": message})
    request = SupplementRequest(dossier_id=dossier.id, state="open", requested_by_id=user.id, requested_at=now,
                                reason=reason, components=listed, deadline_at=deadline_at,
                                status_before=dossier.status, due_before=dossier.due_at, answered_channel="",
                                answer_note="")
    db.session.add(request)
    set_status(dossier, 5, user, N_("Cần bổ sung: %(components)s. Lý do: %(reason)s. Hạn bổ sung: %(deadline_at)s."),
               note_params={"components": _components_text(listed), "reason": reason,
                            "deadline_at": deadline_at.isoformat()})
    event = _status_entry(dossier)
    events.publish(events.supplement_requested, dossier=dossier, request=request, actor=user, reason=reason,
                   components=listed, deadline_at=deadline_at, due_at=dossier.due_at, event=event)
    _flush()
    return request


def _attachments(references: Mapping[str, str], user: User, dossier: Dossier) -> dict[str, Attachment]:
    """Uploaded files named by their references ("<token>/<filename>", POST /api/v1/attachments), by key: the
    uploader's own, not yet part of another dossier."""
    out: dict[str, Attachment] = {}
    for key, ref in references.items():
        token = str(ref).split("/", 1)[0]
        found = db.session.scalar(select(Attachment).where(Attachment.token == token))
        if found is None or found.uploaded_by_id != user.id or found.dossier_id not in (None, dossier.id):
            message = gettext("Không tìm thấy tệp đã tải lên.")
            raise Invalid(message, code="attachment_unknown", details={f"/tep/{key}": message})
        out[key] = found
    return out


def answer_supplement(code: str, user: User, *, files: Mapping[str, Attachment | str] | None = None,
                      note: str = "", at_desk: bool = False) -> SupplementRequest:
    """The supplement comes in: uploaded by the applicant (files by component index "0", "1", … as listed in the
    request, or by component code), or recorded at the desk by an officer (`at_desk`, scanned copies optional).
    The dossier resumes the status it had, its appointment date moved by the paused working time."""
    dossier = _locked_dossier(code)
    if at_desk:
        _officer(user, dossier, front_desk=True)
    elif dossier.applicant_user_id is None or dossier.applicant_user_id != user.id:
        raise Forbidden(gettext("Chỉ người nộp hồ sơ được bổ sung trực tuyến."), code="not_applicant")
    request = open_supplement(dossier)
    if request is None or dossier.status != 5:
        raise Conflict(gettext("Hồ sơ không có yêu cầu bổ sung đang chờ."), code="no_supplement")
    given = dict(files or {})
    refs = _attachments({k: v for k, v in given.items() if isinstance(v, str)}, user, dossier)
    uploads = {k: v for k, v in given.items() if isinstance(v, Attachment)} | refs
    received: list[dict[str, Any]] = []
    for index, component in enumerate(request.components):
        attachment = uploads.get(str(index)) or (uploads.get(component["code"]) if component.get("code") else None)
        if attachment is not None:
            attachment.dossier_id = dossier.id
        received.append({"code": component.get("code", ""), "name": component["name"],
                         "reference": f"{attachment.token}/{attachment.filename}" if attachment else None})
    if not at_desk and not any(r["reference"] for r in received):
        message = gettext("Vui lòng tải lên ít nhất một giấy tờ được yêu cầu bổ sung.")
        raise Invalid(message, code="files_missing", details={"/tep": message})
    now = now_utc()
    paused_from = dossier.paused_at
    old_due = dossier.due_at
    request.state, request.answered_at, request.answered_by_id = "answered", now, user.id
    request.answered_channel = "desk" if at_desk else "online"
    request.received, request.answer_note = received, _reason(note, required=False)
    supplement_answered(dossier)
    set_status(dossier, request.status_before, user,
               N_("Đã nhận hồ sơ bổ sung (%(channel_msg)s). Hạn trả kết quả mới: %(due_at)s."),
               note_params={"channel_msg": N_("tại bộ phận một cửa") if at_desk else N_("trực tuyến"),
                            "due_at": ""})
    event = _status_entry(dossier)
    # The new appointment is known once set_status has moved it by the paused working time.
    # The date the applicant is held to: an apology's promise when one was made, else the statutory date.
    event.note_params = {**(event.note_params or {}), "due_at": dossier.appointment.isoformat()}
    _unhold(dossier, paused_from, now)
    events.publish(events.supplement_received, dossier=dossier, request=request, actor=user,
                   channel=request.answered_channel, received=received, old_due_at=old_due,
                   new_due_at=dossier.due_at, event=event)
    _flush()
    return request


def expire_supplements(now: datetime, cutoff: datetime, limit: int) -> int:
    """Sweeper source: supplement requests unanswered past their deadline end their dossiers (refused for missing
    supplement). Each request is taken under a row lock others skip, so two sweepers never end one twice."""
    due = list(db.session.scalars(
        select(SupplementRequest).where(SupplementRequest.state == "open", SupplementRequest.deadline_at <= now)
        .order_by(SupplementRequest.deadline_at).limit(limit)
        .with_for_update(skip_locked=True, of=SupplementRequest)).all())
    ended = 0
    for request in due:
        dossier = _locked_dossier(db.session.get_one(Dossier, request.dossier_id).code)
        request.state = "expired"
        if dossier.status != 5:
            continue
        _end(dossier, None, N_("Quá hạn bổ sung hồ sơ mà không nhận được giấy tờ bổ sung."), supplement=request,
             params={})
        ended += 1
    return ended


# ---------------------------------------------------------------- refusal, stop, withdrawal


def _end(dossier: Dossier, actor: User | None, reason: str, *, supplement: SupplementRequest | None = None,
         params: dict[str, Any] | None = None) -> AuditEvent:
    """Refuse the dossier: its workflow cancelled, status 3 before reception, else REFUSED_AFTER_RECEIPT."""
    at_reception = dossier.received_at is None
    open_request = supplement or open_supplement(dossier)
    if open_request is not None and open_request.state == "open":
        open_request.state = "cancelled"
    _cancel_workflow(dossier, actor)
    if dossier.status in (5, 8):
        dossier.paused_at = None  # the clock stops for good: nothing is owed any more
    status = REFUSED_AT_RECEPTION if at_reception else REFUSED_AFTER_RECEIPT
    if params is None:  # typed by the officer
        set_status(dossier, status, actor, reason)
    else:
        set_status(dossier, status, actor, reason, note_params=params)
    event = _status_entry(dossier)
    missing = list(supplement.components) if supplement is not None else []
    events.publish(events.dossier_refused, dossier=dossier, actor=actor, reason=event.note_text,
                   at_reception=at_reception, supplement=supplement, missing_components=missing, event=event)
    return event


def refuse(code: str, user: User, reason: str) -> Dossier:
    """Refuse the dossier with a reason: not received (status 3) before reception, refused while processing
    after it."""
    dossier = _locked_dossier(code)
    _officer(user, dossier)
    reason = _reason(reason)
    if dossier.status in FINAL_STATUSES or dossier.status == 9:
        raise Conflict(gettext("Hồ sơ ở trạng thái «%(status)s» nên không thể từ chối.",
                               status=dossier.status_label), code="status_conflict")
    _end(dossier, user, reason)
    _flush()
    return dossier


def stop(code: str, user: User, reason: str) -> Dossier:
    """Stop processing (status 8): the clock pauses, the open steps are held until `resume`."""
    dossier = _locked_dossier(code, hold=True)
    _officer(user, dossier)
    reason = _reason(reason)
    if dossier.status not in STOP_FROM:
        raise Conflict(gettext("Hồ sơ ở trạng thái «%(status)s» nên không thể dừng xử lý.",
                               status=dossier.status_label), code="status_conflict")
    set_status(dossier, 8, user, reason)
    event = _status_entry(dossier)
    events.publish(events.processing_stopped, dossier=dossier, actor=user, reason=reason, due_at=dossier.due_at,
                   event=event)
    _flush()
    return dossier


def resume(code: str, user: User, reason: str = "") -> Dossier:
    """Resume a stopped dossier: the status it had, the appointment date moved by the paused working time."""
    dossier = _locked_dossier(code)
    _officer(user, dossier)
    if dossier.status != 8:
        raise Conflict(gettext("Hồ sơ không ở trạng thái dừng xử lý."), code="status_conflict")
    reason = _reason(reason, required=False)
    now, paused_from, old_due = now_utc(), dossier.paused_at, dossier.due_at
    set_status(dossier, _status_before_pause(dossier), user,
               N_("Tiếp tục xử lý. Hạn trả kết quả mới: %(due_at)s. %(reason)s"),
               note_params={"due_at": "", "reason": reason})
    event = _status_entry(dossier)
    # The date the applicant is held to: an apology's promise when one was made, else the statutory date.
    event.note_params = {**(event.note_params or {}), "due_at": dossier.appointment.isoformat()}
    _unhold(dossier, paused_from, now)
    events.publish(events.processing_resumed, dossier=dossier, actor=user, reason=reason, old_due_at=old_due,
                   new_due_at=dossier.due_at, event=event)
    _flush()
    return dossier


def withdraw(code: str, user: User, reason: str = "") -> Dossier:
    """The applicant withdraws the dossier (status 7) before its result is ready; its workflow is cancelled."""
    dossier = _locked_dossier(code)
    if dossier.applicant_user_id is None or dossier.applicant_user_id != user.id:
        raise Forbidden(gettext("Chỉ người nộp hồ sơ được rút hồ sơ."), code="not_applicant")
    if dossier.status not in WITHDRAW_UNTIL:
        raise Conflict(gettext("Hồ sơ ở trạng thái «%(status)s» nên không thể rút.", status=dossier.status_label),
                       code="status_conflict")
    reason = _reason(reason, required=False)
    request = open_supplement(dossier)
    if request is not None:
        request.state = "cancelled"
    _cancel_workflow(dossier, user)
    dossier.paused_at = None
    set_status(dossier, 7, user, reason)
    event = _status_entry(dossier)
    events.publish(events.dossier_withdrawn, dossier=dossier, actor=user, reason=reason, event=event)
    _flush()
    return dossier


# ---------------------------------------------------------------- return to an earlier step


def _task(task_id: int, *, lock: bool = True) -> HumanTask:
    stmt = select(HumanTask).where(HumanTask.id == task_id).options(joinedload(HumanTask.dossier))
    if lock:
        stmt = stmt.with_for_update(of=HumanTask).execution_options(populate_existing=True)
    task = db.session.scalar(stmt)
    if task is None:
        raise NotFound(gettext("Không tìm thấy công việc số %(id)s.", id=task_id), code="task_not_found")
    return task


def _may_work(user: User, task: HumanTask) -> bool:
    """The officer may take this step (its agency and role), or heads its department, or administers."""
    if task.role == CITIZEN_ROLE:
        return False
    if user.has_role(ADMIN_ROLE):
        return True
    return user.agency_id == task.agency_id and (user.has_role(task.role) or user.has_role("lanh_dao_phong"))


def _workable(task_id: int, user: User) -> HumanTask:
    task = _task(task_id)
    if not _may_work(user, task):
        raise NotFound(gettext("Không tìm thấy công việc số %(id)s.", id=task_id), code="task_not_found")
    if task.state not in OPEN_TASK_STATES:
        raise Conflict(gettext("Công việc này đã hoàn thành hoặc không còn hiệu lực."), code="task_closed")
    return task


def return_targets(task: HumanTask) -> list[ReadyTask]:
    """The earlier steps this waiting step may be sent back to, nearest first. A reception step (one that would put
    the dossier back to «Mới đăng ký») is not offered once the dossier is received: ask for a supplement instead."""
    dossier = task.dossier
    if task.state not in OPEN_TASK_STATES or dossier.workflow is None or dossier.workflow.completed:
        return []
    try:
        run = load_run(dossier.workflow, bundle_for(dossier.procedure_version))
        earlier = run.earlier_user_steps(task.engine_task_id)
    except TaskNotReady:
        return []
    received = dossier.received_at is not None
    return [t for t in earlier if not (received and status_property(t.properties) == 1)]


def return_task(task_id: int, user: User, reason: str, to_step: str | None = None) -> HumanTask:
    """Send the waiting step back to an earlier step (`to_step`: its spec name; the nearest by default) with a
    reason. The earlier step is back in the inbox of the officer who did it (if still able to), showing the
    reason; the step returned from is cancelled."""
    task = _workable(task_id, user)
    if task.state == "claimed" and task.claimed_by_id != user.id and not user.has_role("lanh_dao_phong") \
            and not user.has_role(ADMIN_ROLE):
        raise Conflict(gettext("Công việc này đang do người khác xử lý."), code="task_taken")
    reason = _reason(reason)
    dossier = _locked_dossier(task.dossier.code)
    version, instance = dossier.procedure_version, dossier.workflow
    try:
        run = load_run(instance, bundle_for(version))
        earlier = [t for t in run.earlier_user_steps(task.engine_task_id)
                   if not (dossier.received_at is not None and status_property(t.properties) == 1)]
    except TaskNotReady as exc:
        raise Conflict(gettext("Công việc không còn chờ xử lý trong quy trình."), code="task_closed") from exc
    target = next((t for t in earlier if to_step is None or t.spec_name == to_step), None)
    if target is None:
        message = gettext("Không có bước trước để trả lại.") if to_step is None else \
            gettext("Bước «%(step)s» không phải là một bước trước của công việc này.", step=to_step)
        raise Invalid(message, code="no_earlier_step", details={"/buoc": message})
    now = now_utc()
    event = _entry(dossier, user, "returned", note=reason, task_title=task.title, outcome=_return_outcome(target.title),
                   at=now)
    db.session.flush()  # the return comes before the re-opened step in the history
    try:
        step = run.return_to(task.engine_task_id, target.id)
    except TaskNotReady as exc:
        raise Conflict(gettext("Công việc không còn chờ xử lý trong quy trình."), code="task_closed") from exc
    except EngineError as exc:
        raise Invalid(gettext("Quy trình không thể chuyển bước: %(reason)s", reason=exc.message),
                      code="workflow_error", details={"": exc.message}) from exc
    apply_step(dossier, version, step, user)
    save_run(instance, run, step.completed)
    # The step returned from ends here, by this officer (the control sheet's row for it: who, when, the return and
    # its reason); it stays cancelled, so nothing counts it as a completion.
    task.completed_at, task.completed_by_id = now, user.id
    _flush()
    reopened = db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id,
                                                         HumanTask.engine_task_id == target.id,
                                                         HumanTask.state.in_(OPEN_TASK_STATES)))
    if reopened is None:
        raise Conflict(gettext("Công việc không còn chờ xử lý trong quy trình."), code="task_closed")
    previous = db.session.scalar(select(HumanTask.completed_by_id).where(
        HumanTask.dossier_id == dossier.id, HumanTask.spec_name == target.spec_name, HumanTask.state == "completed")
        .order_by(HumanTask.completed_at.desc(), HumanTask.id.desc()).limit(1))
    officer = db.session.get(User, previous) if previous else None
    if officer is not None and officer.active and officer.agency_id == reopened.agency_id \
            and officer.has_role(reopened.role) and not is_away(officer.id, now):  # not to someone on leave
        reopened.state, reopened.claimed_by_id, reopened.claimed_at = "claimed", officer.id, now
    _flush()
    events.publish(events.dossier_returned, dossier=dossier, actor=user, from_step=task.title, to_step=target.title,
                   reason=reason, task=reopened, event=event)
    return reopened


def _return_outcome(title: str) -> str:
    """The decision a desk return records, as the history shows a diagram's return (the flow's name): in the
    diagram's language, Vietnamese."""
    return f"Trả lại «{title}»"


def desk_return(task: HumanTask) -> dict[str, Any] | None:
    """For a step re-opened by a desk return: who sent it back, from which step, when and why (the task page and
    the API show it); None for any other step."""
    latest = db.session.scalar(select(AuditEvent).where(AuditEvent.dossier_id == task.dossier_id,
                                                        AuditEvent.at <= task.created_at,
                                                        AuditEvent.action.in_(("returned", "completed")))
                               .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(1))
    if latest is None or latest.action != "returned" or latest.outcome != _return_outcome(task.title)[:255] \
            or latest.note_params:
        return None
    return {"task": latest.task_title, "by": latest.actor_label, "at": latest.at,
            "outcome": gettext("Trả lại"), "reason": latest.note or None}


# ---------------------------------------------------------------- who holds a task


def _colleague(task: HumanTask, user_id: int) -> User:
    person = db.session.get(User, user_id)
    if person is None or not person.active or person.agency_id != task.agency_id or not person.has_role(task.role):
        message = gettext("Người nhận phải là cán bộ của cơ quan có vai trò xử lý bước này.")
        raise Invalid(message, code="assignee_invalid", details={"/nguoi_nhan": message})
    if is_away(person.id, now_utc()):
        message = gettext("%(name)s đang nghỉ phép; vui lòng giao cho người khác.", name=person.full_name)
        raise Invalid(message, code="assignee_on_leave", details={"/nguoi_nhan": message})
    return person


def _hand_over(task: HumanTask, actor: User, kind: str, to: User | None, reason: str) -> HumanTask:
    before = db.session.get(User, task.claimed_by_id) if task.claimed_by_id else None
    now = now_utc()
    params: dict[str, Any]
    if to is None:
        task.state, task.claimed_by_id, task.claimed_at = "ready", None, None
        note, params = (N_("Trả công việc về nhóm. %(reason)s"), {"reason": reason})
    else:
        task.state, task.claimed_by_id, task.claimed_at = "claimed", to.id, now
        note = N_("Giao cho %(to)s. %(reason)s") if kind == "reassigned" else N_("Ủy quyền cho %(to)s. %(reason)s")
        params = {"to": to.full_name, "reason": reason, "to_id": to.id}
    params["task_id"] = task.id  # which step changed hands (app.dossiers.lateness splits its holding here)
    event = _entry(task.dossier, actor, kind, note=note, params=params, task_title=task.title, at=now)
    event.step_due_at = task.due_at
    _flush()
    events.publish(events.task_handed_over, task=task, actor=actor, kind=kind, from_user=before, to_user=to,
                   reason=reason, event=event)
    return task


def release_task(task_id: int, user: User, reason: str = "") -> HumanTask:
    """Give a claimed step back to its role's common inbox (its holder, or the head of department)."""
    task = _workable(task_id, user)
    if task.state != "claimed":
        raise Conflict(gettext("Công việc này chưa có ai nhận."), code="task_not_claimed")
    if task.claimed_by_id != user.id and not head_scope(user).allows(task.dossier):
        raise Forbidden(gettext("Chỉ người đang xử lý hoặc lãnh đạo phòng được trả công việc."), code="desk_forbidden")
    return _hand_over(task, user, "released", None, _reason(reason, required=False))


def release_lost(officer: User, actor: User, reason: str) -> list[HumanTask]:
    """After an administrator's change (another agency, a role taken away), the steps `officer` holds and may no
    longer take go back to their role's common inbox, each recorded on its dossier; the others stay held."""
    held = db.session.scalars(select(HumanTask).where(HumanTask.claimed_by_id == officer.id,
                                                      HumanTask.state == "claimed")
                              .options(joinedload(HumanTask.dossier)).order_by(HumanTask.id)).all()
    lost = [t for t in held if not (officer.agency_id == t.agency_id and officer.has_role(t.role))]
    for task in lost:
        _hand_over(task, actor, "released", None, reason)
    return lost


def delegate_task(task_id: int, user: User, to_user_id: int, reason: str = "") -> HumanTask:
    """The holder of a step (or anyone who may take it while it waits) hands it to a colleague with the role."""
    task = _workable(task_id, user)
    if not user.has_role(task.role) or (task.state == "claimed" and task.claimed_by_id != user.id):
        raise Forbidden(gettext("Chỉ người đang xử lý được ủy quyền công việc này."), code="desk_forbidden")
    return _hand_over(task, user, "delegated", _colleague(task, to_user_id), _reason(reason, required=False))


def reassign_task(task_id: int, user: User, to_user_id: int, reason: str = "") -> HumanTask:
    """The head of department gives a step of the agency to an officer with its role, whoever held it."""
    task = _task(task_id)
    if not head_scope(user).allows(task.dossier):
        raise Forbidden(gettext("Chỉ lãnh đạo phòng được phân công lại công việc."), code="desk_forbidden")
    if task.state not in OPEN_TASK_STATES:
        raise Conflict(gettext("Công việc này đã hoàn thành hoặc không còn hiệu lực."), code="task_closed")
    return _hand_over(task, user, "reassigned", _colleague(task, to_user_id), _reason(reason, required=False))


@dataclass(frozen=True)
class OfficerLoad:
    officer: User
    claimed: int  # open steps the officer holds
    overdue: int  # of which past their deadline (the step's, else the dossier's)
    on_leave: Any = None  # the OfficerLeave running now, if the officer is away


@dataclass(frozen=True)
class DepartmentLoad:
    officers: list[OfficerLoad]
    waiting: dict[str, int]  # open steps nobody holds, by role
    tasks: list[HumanTask]  # every open step of the agency, most urgent first


def department_load(user: User) -> DepartmentLoad:
    """The head of department's view: open steps per officer of the agency, those nobody holds by role, and the
    steps themselves (to reassign)."""
    if user.agency_id is None or not (head_scope(user).everywhere or head_scope(user).agency_id == user.agency_id):
        raise Forbidden(gettext("Chỉ lãnh đạo phòng xem được tải công việc của cơ quan."), code="desk_forbidden")
    now = now_utc()
    tasks = list(db.session.scalars(
        select(HumanTask).join(Dossier, Dossier.id == HumanTask.dossier_id)
        .where(HumanTask.agency_id == user.agency_id, HumanTask.state.in_(OPEN_TASK_STATES),
               HumanTask.role != CITIZEN_ROLE)
        .options(joinedload(HumanTask.dossier))
        .order_by(func.coalesce(HumanTask.due_at, Dossier.due_at), HumanTask.id).limit(500)).all())
    officers = list(db.session.scalars(select(User).where(User.agency_id == user.agency_id, User.active.is_(True))
                                       .order_by(User.full_name)).all())
    loads = []
    away = leaves_at((o.id for o in officers), now)
    for officer in (o for o in officers if o.is_officer):
        mine = [t for t in tasks if t.claimed_by_id == officer.id]
        late = sum(1 for t in mine if classify_in_progress(t.due_at or t.dossier.due_at, now) == QUA_HAN)
        loads.append(OfficerLoad(officer, len(mine), late, away.get(officer.id)))
    waiting: dict[str, int] = {}
    for t in tasks:
        if t.claimed_by_id is None:
            waiting[t.role] = waiting.get(t.role, 0) + 1
    return DepartmentLoad(loads, waiting, tasks)


def colleagues_for(task: HumanTask) -> list[User]:
    """Who a step may be handed to: the active officers of its agency with its role, but those on leave."""
    people = [p for p in db.session.scalars(select(User).where(User.agency_id == task.agency_id,
                                                                 User.active.is_(True)).order_by(User.full_name))
              if p.has_role(task.role)]
    away = leaves_at((p.id for p in people), now_utc())
    return [p for p in people if p.id not in away]


def paused_dossiers(user: User, limit: int = 50) -> list[Dossier]:
    """The agency's dossiers whose clock is paused by the desk (5, 8): no step of theirs is in any inbox."""
    if not desk_scope(user).everywhere and user.agency_id is None:
        return []
    stmt = select(Dossier).where(Dossier.status.in_((5, 8))).order_by(Dossier.due_at).limit(limit)
    if not desk_scope(user).everywhere:
        stmt = stmt.where(Dossier.agency_id == user.agency_id)
    return list(db.session.scalars(stmt).all())


"""Dossier use cases: submit, claim, complete a step, look up. Authorization is checked here.

Each use case runs in the caller's transaction: load the workflow document, run the engine until it
waits, write the document and the projections (through app.dossiers.progress, which publishes what
happened), and leave follow-up jobs to be enqueued after commit. The caller commits; any exception
means nothing happened.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from flask import current_app
from flask_babel import gettext
from sqlalchemy import and_, bindparam, exists, insert, literal, null, or_, select, type_coerce, update
from sqlalchemy.orm import aliased, joinedload, selectinload
from sqlalchemy.orm.attributes import flag_modified, set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from app.dossiers import events
from app.dossiers.access import assurance_problem, history_entries
from app.dossiers.access import may_view as may_view
from app.dossiers.attachments import claim_references
from app.dossiers.clock import local_tz
from app.dossiers.clock import now_utc as now_utc
from app.dossiers.components import dossier_created, reception_problems, step_completed
from app.dossiers.deadlines import ProcessingRule as ProcessingRule
from app.dossiers.deadlines import appointment, fee_for, next_dossier_code
from app.dossiers.deadlines import processing_rule as processing_rule
from app.dossiers.docstore import mark_taken
from app.dossiers.docstore import resolve as resolve_store_choices
from app.dossiers.errors import Conflict, Forbidden, Invalid, NotFound
from app.dossiers.fees import decider
from app.dossiers.lookups import checked_result
from app.dossiers.progress import OPEN_TASK_STATES as OPEN_TASK_STATES
from app.dossiers.progress import apply_step, bundle_for, report_engine_fault, set_status, status_property
from app.dossiers.progress import open_tasks as open_tasks
from app.dossiers.rows import insert_new, write_step
from app.dossiers.workflow_runs import load_run, note_saved, save_run
from app.eforms.schema import display_scalar, options_of, path_to_pointer, resolve_pointer
from app.eforms.validate import validate_data
from app.engine.decisions import DecisionError
from app.engine.flows import flow_labels, returns_to
from app.engine.runtime import EngineError, StepResult, TaskNotReady, WorkflowRun, task_data_in
from app.extensions import db
from app.identifiers import IdentifierError, parse_dossier_code
from app.models import (
    Agency,
    AuditEvent,
    Dossier,
    HumanTask,
    Procedure,
    ProcedureVersion,
    RegistryLookup,
    ServiceCall,
    User,
    WorkflowInstance,
)
from app.models.user import CITIZEN_ROLE, N_

STEP_ROWS = (WorkflowInstance, AuditEvent, HumanTask)  # what a step adds: app.dossiers.rows writes them
PREFILL_LINK_WINDOW = timedelta(hours=4)  # a form filled in longer ago than this is not tied to its look-up


def _text(value: Any, limit: int) -> str:
    return "" if value is None or isinstance(value, dict | list) else str(value)[:limit]



def _engine_failure(exc: EngineError) -> Invalid:
    """An engine error that changed nothing (the person's input was not taken): a clear 422, never a 500."""
    return Invalid(gettext("Quy trình không thể chuyển bước: %(reason)s", reason=exc.message), code="workflow_error",
                   details={"": exc.message})




def find_procedure(code: str) -> tuple[Procedure, ProcedureVersion]:
    """The procedure with its current version, its agency and those it is also published for (usually none or a
    few), in one statement: a submission uses them all."""
    procedure = db.session.scalars(
        select(Procedure).where(Procedure.code == code)
        .options(joinedload(Procedure.current_version), joinedload(Procedure.agency),
                 joinedload(Procedure.published_to))).unique().first()
    if procedure is None or procedure.current_version is None:
        raise NotFound(gettext("Không tìm thấy thủ tục có mã «%(code)s».", code=code), code="procedure_not_found")
    return procedure, procedure.current_version


def validation_details(version: ProcedureVersion, form: str | None, data: Any) -> dict[str, str]:
    """The errors of `data` against the version's form `form` (no form: an empty object's schema). A deployed
    version never changes under its content hash, so its form's validator is built once per process."""
    schema = form_schema(version, form)
    cap = int(current_app.config["FORM_MAX_ITEMS"])
    errors = validate_data(schema, data, max_items=cap, cache_key=f"{version.content_hash}:{form or ''}")
    return {path_to_pointer(path): message for path, message in errors.items()}


def form_schema(version: ProcedureVersion, form: str | None) -> dict[str, Any]:
    """The version's form `form`; a step without a form takes an empty object."""
    schema: dict[str, Any] = version.forms.get(form or "", {"type": "object", "properties": {}})
    return schema


WALK_IN_ROLE = "tiep_nhan"  # the one-stop desk files walk-in dossiers
# Dossier.channel of an agency-internal dossier started by a periodic procedure's schedule (app.dossiers.periodic):
# not a KenhThucHien value (1 in person, 2 online, 3 by post), since no applicant submitted it through any channel.
SCHEDULED_CHANNEL = 9


def is_periodic(version: ProcedureVersion) -> bool:
    """Whether the version's process starts with a timer (app.dossiers.periodic): its start entry names the timer."""
    return any(isinstance(info, dict) and info.get("kind") == "start" and info.get("timer")
               for info in (version.tasks or {}).values())


def listed_procedures() -> list[Procedure]:
    """The citizens' catalogue, by code: procedures with a current version (a retired one leaves none), except
    those a schedule starts (nobody applies for them). One per procedure, whatever agencies it is published for."""
    return [p for p in db.session.scalars(
        select(Procedure).where(Procedure.current_version_id.is_not(None)).order_by(Procedure.code)
        .options(joinedload(Procedure.current_version), joinedload(Procedure.agency),
                 selectinload(Procedure.published_to))
    ).unique() if p.current_version is not None and not is_periodic(p.current_version)]


def offering_agencies(procedure: Procedure) -> list[Agency]:
    """The agencies a procedure is filed with: the one that owns it, then those it is also published for."""
    return [procedure.agency, *(a for a in procedure.published_to if a.id != procedure.agency_id)]


def chosen_agency(procedure: Procedure, agency_code: str | None, filed_by: User | None = None) -> Agency:
    """The agency a new dossier goes to. A procedure of one agency needs no choice; one published for several
    needs the applicant's (the portal's select, the API's `co_quan`), or at a walk-in desk is the desk's own."""
    offered = offering_agencies(procedure)
    if not agency_code and filed_by is not None:
        agency_code = next((a.code for a in offered if a.id == filed_by.agency_id), None)
    if not agency_code:
        if len(offered) == 1:
            return offered[0]
        raise Invalid(gettext("Chọn cơ quan tiếp nhận hồ sơ."), code="agency_required",
                      details={"co_quan": gettext("Chọn cơ quan tiếp nhận hồ sơ.")})
    found = next((a for a in offered if a.code == agency_code.strip().upper()), None)
    if found is None:
        raise Invalid(gettext("Thủ tục này không được thực hiện tại cơ quan «%(agency)s».", agency=agency_code),
                      code="agency_not_offered",
                      details={"co_quan": gettext("Chọn một cơ quan trong danh sách.")})
    return found


def submit_dossier(procedure_code: str, data: Any, *, applicant: User | None, channel: int = 2,
                   at: datetime | None = None, filed_by: User | None = None, received: bool = False,
                   agency_code: str | None = None) -> Dossier:
    """A new dossier, received `at` (now unless given: tests and back-dated intake pass the moment in).

    `filed_by`: walk-in intake, an officer of the procedure's one-stop desk files it for an applicant who came in
    person (channel 1) on the same eForm, with the paper components scanned and uploaded by the officer (digitized
    copies); the applicant has no account here (`applicant` None)."""
    procedure, version = find_procedure(procedure_code)
    manifest = version.manifest
    agency = chosen_agency(procedure, agency_code, filed_by)
    if filed_by is not None and not (filed_by.agency_id == agency.id and filed_by.has_role(WALK_IN_ROLE)):
        raise Forbidden(gettext("Chỉ bộ phận một cửa của cơ quan giải quyết được tiếp nhận hồ sơ trực tiếp."),
                        code="walk_in_forbidden")
    if (channel == SCHEDULED_CHANNEL) != is_periodic(version):
        # A periodic procedure (a timer start event) is started by its agency's schedule only, and the schedule
        # starts nothing else.
        raise Forbidden(gettext("Thủ tục này do cơ quan thực hiện định kỳ theo lịch; không nộp hồ sơ được."),
                        code="procedure_scheduled")
    # The applicant's own online submission needs the identity level the procedure asks; walk-in intake does not
    # (the desk checked the person's papers).
    loa_refusal = assurance_problem(manifest, applicant) if filed_by is None else None
    if loa_refusal:
        raise Forbidden(loa_refusal, code="loa_too_low")
    schema = version.forms[manifest["start_form"]]
    if not isinstance(data, dict):
        raise Invalid(gettext("Dữ liệu tờ khai phải là một đối tượng JSON."),
                      details={"": gettext("Phải là một đối tượng JSON.")})
    # Documents chosen from the applicant's store become their stored files' references (checked: the applicant's
    # own, of a kind the field takes, neither revoked nor expired) before the form is validated.
    data, taken = resolve_store_choices(version, data, applicant)
    errors = validation_details(version, manifest["start_form"], data)
    if errors:
        raise Invalid(gettext("Tờ khai có thông tin chưa hợp lệ."), details=errors)
    try:
        fee_amount = fee_for(manifest, channel, data, decider(version))
    except DecisionError as exc:
        raise Invalid(gettext("Không tính được lệ phí của hồ sơ: %(reason)s", reason=exc.message),
                      code="fee_undecided", details={"": exc.message}) from exc
    submitted = at or now_utc()
    due = appointment(manifest, agency, submitted, channel)
    applicant_map = manifest.get("applicant", {})
    dossier = Dossier(
        code=next_dossier_code(agency, submitted),
        procedure_version_id=version.id,
        procedure_version=version,
        agency_id=agency.id,
        agency=agency,
        status=1,
        channel=channel,
        applicant_user_id=applicant.id if applicant else None,
        applicant_name=_text(resolve_pointer(data, applicant_map.get("name")), 255)
        or (applicant.full_name if applicant else "") or (agency.name if channel == SCHEDULED_CHANNEL else ""),
        applicant_id_number=_text(resolve_pointer(data, applicant_map.get("id_number")), 20),
        applicant_phone=_text(resolve_pointer(data, applicant_map.get("phone")), 20),
        applicant_email=_text(resolve_pointer(data, applicant_map.get("email")), 255),
        applicant_address=_text(resolve_pointer(data, applicant_map.get("address")), 500),
        summary=_summary(manifest, data),
        form_data=data,
        fee_amount=fee_amount,
        submitted_at=submitted,
        due_at=due,
    )
    db.session.add(dossier)
    insert_new((Dossier,))  # its id is needed now
    dossier_created(dossier)
    if claim_references(schema, data, applicant or filed_by, dossier, may_view):
        flag_modified(dossier, "form_data")  # a file reused from another dossier now names this one's copy
    if taken:
        mark_taken(dossier, taken)  # the copies name the store rows they came from: what the officer is shown
    if applicant is not None:
        # The look-ups that prefilled this form happened before the dossier existed: they belong to it now.
        db.session.execute(_link_lookups(), {"applicant_id": applicant.id, "procedure_code": manifest["code"],
                                              "since": submitted - PREFILL_LINK_WINDOW,
                                              "linked_dossier_id": dossier.id})
    submitter = applicant or filed_by
    submitted_event = AuditEvent(dossier_id=dossier.id, actor_id=submitter.id if submitter else None,
                                 actor_name=(filed_by.full_name if filed_by is not None and applicant is None
                                             else dossier.applicant_name or "Người nộp"), action="submitted",
                                 status_to=1, at=submitted,
                                 note=N_("Nộp hồ sơ trực tuyến.") if channel == 2
                                 else N_("Hồ sơ được khởi tạo theo lịch định kỳ.") if channel == SCHEDULED_CHANNEL
                                 else N_("Nộp hồ sơ trực tiếp."),
                                 note_params={})
    db.session.add(submitted_event)
    events.publish(events.dossier_submitted, dossier=dossier, event=submitted_event, actor=submitter)
    if received:  # received at once (a dossier the schedule starts: app.dossiers.periodic), before its first steps
        set_status(dossier, 2, filed_by)
    system = {"ma_ho_so": dossier.code, "le_phi": dossier.fee_amount, "kenh": channel,
              "ma_thu_tuc": manifest["code"], "ten_thu_tuc": manifest["name"]}
    fault: EngineError | None = None
    try:
        run, step = WorkflowRun.start(bundle_for(version), {**data, "thong_tin_ho_so": system})
    except EngineError as exc:
        if exc.step is None:
            raise _engine_failure(exc) from exc
        run, step, fault = WorkflowRun.of(exc), exc.step, exc
    db.session.add(save_run(WorkflowInstance(dossier_id=dossier.id), run, step.completed))
    apply_step(dossier, version, step, submitter, created=True)
    write_step(STEP_ROWS, dossier)  # the workflow, history entries and tasks (the form, if a file reference changed)
    note_saved()
    db.session.flush()
    if fault is not None:
        report_engine_fault(dossier, fault, applicant)
    return dossier


@cache
def _link_lookups() -> Any:
    """submit_dossier's UPDATE of the applicant's recent look-ups for this procedure, built once."""
    return (update(RegistryLookup)
            .where(RegistryLookup.user_id == bindparam("applicant_id"), RegistryLookup.dossier_id.is_(None),
                   RegistryLookup.purpose.contains(bindparam("procedure_code", type_=RegistryLookup.purpose.type)),
                   RegistryLookup.at >= bindparam("since", type_=RegistryLookup.at.type))
            .values(dossier_id=bindparam("linked_dossier_id")).execution_options(synchronize_session=False))


def _summary(manifest: Mapping[str, Any], data: Any) -> str:
    subject = _text(resolve_pointer(data, manifest.get("summary")), 200)
    return f"{manifest['name']}{' — ' + subject if subject else ''}"[:500]


# ---------------------------------------------------------------- officers' tasks


def _may_take(user: User, task: HumanTask) -> bool:
    if task.role == CITIZEN_ROLE:  # only then is the dossier read
        return task.dossier.applicant_user_id is not None and task.dossier.applicant_user_id == user.id
    return user.agency_id == task.agency_id and user.has_role(task.role)


# `_may_take` as SQL on HumanTask, for statements that take a task as they find it: the same rule, its person
# given as the parameters `_taker` makes (statements using it are built once, then run with parameters).
TAKEABLE = or_(
    and_(HumanTask.role == CITIZEN_ROLE, exists().where(Dossier.id == HumanTask.dossier_id,
                                                         Dossier.applicant_user_id == bindparam("taker_id"))),
    and_(HumanTask.agency_id == bindparam("taker_agency_id"),
         HumanTask.role.in_(bindparam("taker_roles", expanding=True))),
)


def _taker(user: User) -> dict[str, Any]:
    """The parameters of TAKEABLE for `user` (a citizen takes only their own dossier's steps)."""
    return {"taker_id": user.id, "taker_agency_id": user.agency_id,
            "taker_roles": [role for role in user.roles or [] if role != CITIZEN_ROLE]}


# What completing a step reads besides the task: its dossier, the dossier's procedure version, agency, workflow
# document and open work (tasks, service calls), loaded with the task in one statement instead of six.
WITH_DOSSIER = (
    joinedload(HumanTask.dossier).joinedload(Dossier.procedure_version),
    joinedload(HumanTask.dossier).joinedload(Dossier.agency),
    joinedload(HumanTask.dossier).joinedload(Dossier.workflow),
    joinedload(HumanTask.dossier).joinedload(Dossier.open_tasks_loaded),
    joinedload(HumanTask.dossier).joinedload(Dossier.open_calls_loaded),
)
# What a task's page shows: the dossier, its version and agency (the workflow only if look-up results are shown).
FOR_PAGE = (
    joinedload(HumanTask.dossier).joinedload(Dossier.procedure_version),
    joinedload(HumanTask.dossier).joinedload(Dossier.agency),
)
JUST_DOSSIER = (joinedload(HumanTask.dossier),)  # who may take a citizen's task, and what a task's answer shows


def get_task(task_id: int, user: User, *, options: tuple[Any, ...] = JUST_DOSSIER) -> HumanTask:
    """The task, with its dossier, if `user` may take it; `options`: what else to load with it in the same
    statement (WITH_DOSSIER: everything a step's completion reads; FOR_PAGE: what its page shows)."""
    task = db.session.get(HumanTask, task_id, options=options)
    if task is None:
        raise NotFound(gettext("Không tìm thấy công việc số %(id)s.", id=task_id), code="task_not_found")
    if not _may_take(user, task):
        # Same answer as a missing task: do not reveal other agencies' work.
        raise NotFound(gettext("Không tìm thấy công việc số %(id)s.", id=task_id), code="task_not_found")
    return task


def _mirror(task: HumanTask, **values: Any) -> None:
    """Reflect a conditional UPDATE we just ran on the loaded object, without re-reading or re-writing it."""
    for key, value in values.items():
        set_committed_value(task, key, value)


_CLAIM_ENTRY = ("dossier_id", "at", "actor_id", "actor_name", "action", "outcome", "task_title", "status_from",
                "status_to", "step_due_at", "note")


@cache
def _claim(postgresql: bool) -> Any:
    """The claim's conditional UPDATE, built once: on PostgreSQL also who may take the task (TAKEABLE), its history
    entry if it took it, and the task as it now is with its dossier, in one statement."""
    claim = (update(HumanTask).where(HumanTask.id == bindparam("task_id"), HumanTask.state == "ready")
             .values(state="claimed", claimed_by_id=bindparam("user_id"), claimed_at=bindparam("now")))
    if postgresql:
        claimed = claim.where(TAKEABLE).returning(*HumanTask.__table__.c).cte("claimed")
        entry = {"dossier_id": claimed.c.dossier_id, "at": bindparam("now"), "actor_id": bindparam("user_id"),
                 "actor_name": bindparam("user_name"), "action": literal("claimed"), "outcome": literal(""),
                 "task_title": claimed.c.title, "status_from": null(), "status_to": null(),
                 "step_due_at": claimed.c.due_at, "note": literal("")}
        columns = [getattr(AuditEvent, key) for key in _CLAIM_ENTRY]
        row = [type_coerce(entry[key], column.type) for key, column in zip(_CLAIM_ENTRY, columns, strict=True)]
        logged = insert(AuditEvent).from_select(list(_CLAIM_ENTRY), select(*row).select_from(claimed)).cte("logged")
        taken = aliased(HumanTask, claimed)  # with its dossier, which the answer names (not its form data)
        return select(taken).options(joinedload(taken.dossier).defer(Dossier.form_data)).add_cte(logged)
    return claim.execution_options(synchronize_session=False)


def claim_task(task_id: int, user: User) -> HumanTask:
    now = now_utc()
    params = {"task_id": task_id, "user_id": user.id, "now": now}
    if db.session.get_bind().dialect.name == "postgresql":
        taken = db.session.scalars(_claim(True), {**params, **_taker(user), "user_name": user.full_name},
                                   execution_options={"populate_existing": True}).first()
        return taken if taken is not None else _not_claimed(task_id, user)  # nothing taken: say why
    task = get_task(task_id, user)
    if task.state != "ready" or db.session.execute(_claim(False), params).rowcount != 1:  # type: ignore[attr-defined]
        return _not_claimed(task_id, user, task)
    db.session.add(AuditEvent(dossier_id=task.dossier_id, at=now, actor_id=user.id, actor_name=user.full_name,
                              action="claimed", outcome="", task_title=task.title, step_due_at=task.due_at, note=""))
    _mirror(task, state="claimed", claimed_by_id=user.id, claimed_at=now)
    return task


def _not_claimed(task_id: int, user: User, task: HumanTask | None = None) -> HumanTask:
    """Why a claim took nothing: the task is unknown to this user (404), already theirs (taken again: no
    change), or someone else's or closed (409)."""
    task = task or get_task(task_id, user)
    db.session.refresh(task, ["state", "claimed_by_id", "claimed_at"])
    if task.state == "claimed" and task.claimed_by_id == user.id:
        return task
    raise Conflict(gettext("Công việc này đã được người khác nhận hoặc đã hoàn thành."), code="task_taken")


def _not_completable(task_id: int, user: User, task: HumanTask | None = None) -> None:
    """Why a completion took nothing: the task is unknown to this user (404), closed, or someone else's (409)."""
    task = task or get_task(task_id, user)
    db.session.refresh(task, ["state", "claimed_by_id"])
    if task.state not in OPEN_TASK_STATES:
        raise Conflict(gettext("Công việc này đã hoàn thành hoặc không còn hiệu lực."), code="task_closed")
    if task.state == "claimed" and task.claimed_by_id != user.id:
        raise Conflict(gettext("Công việc này đang do người khác xử lý."), code="task_taken")
    raise Conflict(gettext("Công việc này vừa được người khác hoàn thành."), code="task_taken")


def task_form_schema(task: HumanTask) -> dict[str, Any]:
    return form_schema(task.dossier.procedure_version, task.form)


def lookup_results(task: HumanTask, calls: list[ServiceCall]) -> list[dict[str, Any]]:
    """What the dossier's answered look-ups (among `calls`) brought back that the procedure declares it needs
    (the manifest's `lookup_results`), as this task sees it: per call its title, the declared fields labelled
    and set against the applicant's declaration, and a verdict. Nothing undeclared from a registry's answer."""
    declared = task.dossier.procedure_version.manifest.get("lookup_results") or {}
    done = [c for c in calls if c.state == "done" and isinstance(declared.get(c.result_variable), dict)]
    if not done or task.state not in OPEN_TASK_STATES:
        return []
    data = task_data_in(task.dossier.workflow.document, task.engine_task_id)  # read, not restored
    return [{"title": c.title, "variable": c.result_variable,
             **checked_result(declared[c.result_variable], data[c.result_variable], data)}
            for c in done if isinstance(data.get(c.result_variable), dict)]


@cache
def _take(postgresql: bool) -> Any:
    """The completion's conditional UPDATE, built once; on PostgreSQL with who may take the task (TAKEABLE) and
    the loading of everything the step reads, in one statement."""
    take = (update(HumanTask)
            .where(HumanTask.id == bindparam("task_id"), HumanTask.state.in_(OPEN_TASK_STATES))
            .where(or_(HumanTask.claimed_by_id.is_(None), HumanTask.claimed_by_id == bindparam("user_id")))
            .values(state="completed", completed_by_id=bindparam("user_id"), completed_at=bindparam("now"),
                    data=bindparam("data", type_=HumanTask.data.type), claimed_by_id=bindparam("user_id")))
    if postgresql:
        taken = take.where(TAKEABLE).returning(HumanTask.id).cte("taken")
        return select(HumanTask).join(taken, taken.c.id == HumanTask.id).options(*WITH_DOSSIER)
    return take.execution_options(synchronize_session=False)


def complete_task(task_id: int, user: User, data: Any) -> HumanTask:
    now = now_utc()
    done = {"state": "completed", "completed_by_id": user.id, "completed_at": now, "data": data,
            "claimed_by_id": user.id}
    params = {"task_id": task_id, "user_id": user.id, "now": now, "data": data}
    # The conditional UPDATE is the lock: a second officer completing the same task waits on this row, then
    # finds it no longer open and gets a 409, before any engine work is saved. It is taken first, together with
    # the loading of everything the step reads (one statement on PostgreSQL); input refused below leaves the
    # transaction to be rolled back by the caller, as any exception here does.
    task: HumanTask | None
    if db.session.get_bind().dialect.name == "postgresql":
        task = db.session.scalars(_take(True), {**params, **_taker(user)}).unique().first()
        if task is None:
            _not_completable(task_id, user)
    else:
        task = get_task(task_id, user, options=WITH_DOSSIER)
        if task.state not in OPEN_TASK_STATES or (task.state == "claimed" and task.claimed_by_id != user.id):
            _not_completable(task_id, user, task)
        if db.session.execute(_take(False), params).rowcount != 1:  # type: ignore[attr-defined]
            _not_completable(task_id, user, task)
    assert task is not None
    _mirror(task, **done)  # the statement read the row as it was before the UPDATE
    if not isinstance(data, dict):
        raise Invalid(gettext("Dữ liệu biểu mẫu phải là một đối tượng JSON."),
                      details={"": gettext("Phải là một đối tượng JSON.")})
    errors = validation_details(task.dossier.procedure_version, task.form, data)
    if errors:
        raise Invalid(gettext("Biểu mẫu có thông tin chưa hợp lệ."), details=errors)
    step_completed(task.dossier, task)

    dossier = task.dossier
    if claim_references(task_form_schema(task), data, user, dossier, may_view):
        flag_modified(task, "data")  # a file reused from another dossier now names this one's copy
    version = dossier.procedure_version
    instance = dossier.workflow
    fault: EngineError | None = None
    try:
        run = load_run(instance, bundle_for(version))  # WorkflowFinished (a TaskNotReady) if it has finished
        props = version.tasks.get(task.spec_name, {}).get("properties", {})
        step = run.complete(task.engine_task_id, data)
    except TaskNotReady as exc:
        raise Conflict(gettext("Công việc không còn chờ xử lý trong quy trình."), code="task_closed") from exc
    except EngineError as exc:
        if exc.step is None:
            raise _engine_failure(exc) from exc
        step, fault = exc.step, exc  # the person's step was taken: keep it, report the rest
    _check_reception(task, props, data, step)
    db.session.add(_completion_event(task, user, data, step, now))
    events.publish(events.step_recorded, dossier=dossier, title=task.title, actor=user,
                   started_at=task.claimed_at or task.created_at, finished_at=now, due_at=task.due_at)
    if str(props.get("receivesDossier", "")).lower() == "true" and dossier.status == 1:
        set_status(dossier, 2, user, task_title=task.title)
    apply_step(dossier, version, step, user, loaded=True, run=run)
    try:
        save_run(instance, run, step.completed)
        # The workflow under its version counter (the optimistic lock), the history entries, the new tasks and the
        # dossier's status and dates: one statement on PostgreSQL.
        write_step(STEP_ROWS, instance, dossier)
        note_saved()
        db.session.flush()  # whatever else the step changed (a cancelled task, a flagged form)
    except StaleDataError as exc:
        raise Conflict(gettext("Hồ sơ vừa được cập nhật bởi người khác; vui lòng tải lại."),
                       code="stale_workflow") from exc
    if fault is not None:
        report_engine_fault(dossier, fault, user)
    return task


# ---------------------------------------------------------------- decisions, returns and re-opened steps


def _ui_hints(version: ProcedureVersion, task: HumanTask) -> Mapping[str, Any]:
    info = version.tasks.get(task.spec_name, {})
    ui = version.forms.get(info.get("ui_form") or (task.form or "").replace(".schema.json", ".ui.json"))
    return ui if isinstance(ui, dict) else {}


def _hinted(ui: Mapping[str, Any], key: str) -> list[str]:
    """The field names a form's UI hints declare for a role (`ui:reason`, `ui:decision`): one name or a list."""
    raw = ui.get(key)
    names = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    return [n for n in names if isinstance(n, str)]


def declared_reason(version: ProcedureVersion, task: HumanTask, data: Mapping[str, Any] | None) -> str:
    """The reason the person gave: the first filled field among those the form declares with `ui:reason`."""
    for name in _hinted(_ui_hints(version, task), "ui:reason"):
        value = (data or {}).get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def declared_decision(version: ProcedureVersion, task: HumanTask, data: Mapping[str, Any] | None) -> str:
    """The label of the choice made in the field the form declares with `ui:decision` (its option title)."""
    ui = _ui_hints(version, task)
    properties = (version.forms.get(task.form or "") or {}).get("properties") or {}
    for name in _hinted(ui, "ui:decision"):
        if name not in (data or {}) or not isinstance(properties.get(name), dict):
            continue
        value, node = (data or {})[name], properties[name]
        for option, title in options_of(node, ui.get(name) if isinstance(ui.get(name), dict) else None) or []:
            if option == value:
                return title
        if isinstance(value, bool):
            return f"{node.get('title') or name}: {display_scalar(value)}"
    return ""


def _outcome(version: ProcedureVersion, task: HumanTask, data: Mapping[str, Any] | None,
             reopened: list[str]) -> str:
    """What the step decided: the names of the flows taken back to the re-opened steps, else the declared
    decision; a return with neither is simply «Trả lại»."""
    labels: list[str] = []
    for spec_name in reopened:
        for label in flow_labels(version.content_hash, lambda: version.bpmn_files, task.spec_name, spec_name):
            if label not in labels:
                labels.append(label)
    return ", ".join(labels) or declared_decision(version, task, data) or ("Trả lại" if reopened else "")


def _returns(version: ProcedureVersion, source: str, target: str) -> bool:
    """Whether completing step `source` and coming to step `target` goes back in the process (a flow that loops
    back in the diagram), as opposed to going on to a step that merely was done before."""
    return returns_to(version.content_hash, lambda: version.bpmn_files, source, target)


def _completion_event(task: HumanTask, user: User, data: Mapping[str, Any], step: StepResult,
                      at: datetime) -> AuditEvent:
    """The history row of a completed step. A step whose outcome sends the workflow back to an earlier step
    of the process (a leader returns the dossier) is recorded as `returned`, with the decision taken and the
    reason given, instead of a plain completion. Going on to a step done before is a plain completion."""
    version = task.dossier.procedure_version
    reopened = [r.spec_name for r in step.ready if _returns(version, task.spec_name, r.spec_name)]
    late = task.due_at is not None and at > task.due_at
    reason = declared_reason(version, task, data)  # as the officer typed it
    note, params = reason, None
    if late:  # the platform's remark, in the reader's language
        note, params = ((N_("%(reason)s Trễ hạn bước xử lý."), {"reason": reason}) if reason
                        else (N_("Trễ hạn bước xử lý."), {}))
    event = AuditEvent(dossier_id=task.dossier_id, actor_id=user.id, actor_name=user.full_name,
                       action="returned" if reopened else "completed", task_title=task.title,
                       outcome=_outcome(version, task, data, reopened)[:255], step_due_at=task.due_at, at=at,
                       note=note)
    if params is not None:  # else left out: NULL, and the INSERT has the columns of the step's other entries
        event.note_params = params
    return event


def _check_reception(task: HumanTask, props: Mapping[str, Any], data: Mapping[str, Any], step: StepResult) -> None:
    """The step that receives the dossier cannot receive it while a required component is missing; refusing it
    (the workflow ends, or reaches an end event that refuses the dossier, status 3) needs no component."""
    if str(props.get("receivesDossier", "")).lower() != "true":
        return
    if step.completed or any(status_property(end.properties) == 3 for end in step.end_events):
        return
    problems = reception_problems(task.dossier, data)
    if problems:
        raise Invalid(gettext("Hồ sơ chưa đủ thành phần bắt buộc nên chưa thể tiếp nhận.") + " "
                      + " ".join(problems.values()),
                      code="components_missing", details=problems)


def reopened_from(task: HumanTask) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """For a step a return sent the dossier back to: what its form starts from (the values submitted for it
    last time, less its decision and reason) and the return (who, which step, when, the decision, the
    reason). (None, None) for any other step, including one reached forward again after a return (the
    leader's second review): that is a new decision, not a return."""
    earlier = list(db.session.scalars(
        select(HumanTask).where(HumanTask.dossier_id == task.dossier_id, HumanTask.state == "completed",
                                HumanTask.id != task.id, HumanTask.completed_at <= task.created_at)
        .order_by(HumanTask.completed_at.desc(), HumanTask.id.desc())).all())
    if not earlier:
        return None, None
    cause = earlier[0]  # the completion whose outcome created this task, in the same transaction
    version = task.dossier.procedure_version
    if not _returns(version, cause.spec_name, task.spec_name):
        return None, None
    previous = next((t for t in earlier if t.spec_name == task.spec_name), None)
    by = db.session.get(User, cause.completed_by_id) if cause.completed_by_id else None
    returned = {"task": cause.title, "by": by.full_name if by else "",
                "at": cause.completed_at,
                "outcome": _outcome(version, cause, cause.data, [task.spec_name]),
                "reason": declared_reason(version, cause, cause.data) or None}
    return _carried_over(version, task, previous.data if previous is not None else None), returned


def _carried_over(version: ProcedureVersion, task: HumanTask, data: Any) -> dict[str, Any] | None:
    """What a re-opened step's form starts from: the values submitted for it last time, except its decision
    and reason (`ui:decision`, `ui:reason`), which answered the previous round and are taken afresh."""
    if not isinstance(data, dict):
        return None
    ui = _ui_hints(version, task)
    fresh = set(_hinted(ui, "ui:decision")) | set(_hinted(ui, "ui:reason"))
    return {name: value for name, value in data.items() if name not in fresh}


# ---------------------------------------------------------------- lookups


def get_dossier(code: str) -> Dossier:
    """The dossier a typed or linked code names: surrounding spaces and letter case do not matter."""
    try:
        parse_dossier_code(code)
    except IdentifierError as exc:
        raise NotFound(gettext("Mã hồ sơ «%(code)s» không đúng định dạng.", code=code[:80]),
                       code="dossier_code_invalid") from exc
    code = code.strip().upper()  # codes are stored as the regulation writes them (see format_dossier_code)
    # with its version (its content is kept per process) and agency, which every view of a dossier reads
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code).options(
        joinedload(Dossier.procedure_version), joinedload(Dossier.agency)))
    if dossier is None:
        raise NotFound(gettext("Không tìm thấy hồ sơ có mã «%(code)s».", code=code), code="dossier_not_found")
    return dossier


def view_dossier(code: str, user: User | None) -> Dossier:
    dossier = get_dossier(code)
    if not may_view(user, dossier):
        raise Forbidden(gettext("Bạn không có quyền xem chi tiết hồ sơ này."), code="dossier_forbidden")
    return dossier


def history(dossier: Dossier, viewer: User | None = None, *, actions: tuple[str, ...] = ()) -> list[AuditEvent]:
    """The dossier's history; for a viewer who is not an officer (the applicant), without the platform's
    internal entries (access.history_entries); only entries of `actions` when given (filtered in SQL)."""
    stmt = history_entries(dossier, viewer)
    if actions:
        stmt = stmt.where(AuditEvent.action.in_(actions))
    return list(db.session.scalars(stmt.order_by(AuditEvent.at, AuditEvent.id)).all())


def public_status(code: str) -> dict[str, Any]:
    """What anyone with the code may see: no personal data beyond a masked name."""
    dossier = get_dossier(code)
    return public_view(dossier, open_tasks(dossier))


def public_view(dossier: Dossier, waiting: list[HumanTask]) -> dict[str, Any]:
    tz = local_tz()
    steps = [t.title for t in waiting]
    return {
        "code": dossier.code,
        # The version's manifest names its procedure (deploy files a version under its manifest's code): nothing
        # more to read than the version a step already loaded.
        "procedure": {"code": dossier.procedure_version.manifest["code"],
                      "name": dossier.procedure_version.manifest["name"]},
        "agency": dossier.agency.name,
        "status": dossier.status,
        "status_label": dossier.status_label,
        "applicant": mask_name(dossier.applicant_name),
        "submitted_at": dossier.submitted_at.astimezone(tz).isoformat(),
        "received_at": dossier.received_at.astimezone(tz).isoformat() if dossier.received_at else None,
        "due_at": dossier.appointment.astimezone(tz).isoformat(),  # an apology's new date, once one moved it
        "finished_at": dossier.finished_at.astimezone(tz).isoformat() if dossier.finished_at else None,
        "returned_at": dossier.returned_at.astimezone(tz).isoformat() if dossier.returned_at else None,
        "current_steps": steps,
    }


def mask_name(name: str) -> str:
    """«Nguyễn Văn An» → «N. V. A.»: initials only, enough to recognise one's own dossier, not to find a
    person (the given name and the length of each word would narrow a guess; codes can be enumerated)."""
    return " ".join(word[0] + "." for word in name.split())

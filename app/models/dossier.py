"""The dossier aggregate: the dossier projection, its ONE workflow document, and the projections the
inbox, history and statistics read (human tasks, audit events). No table holds a row per engine task."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext, lazy_gettext
from flask_babel.speaklater import LazyString
from sqlalchemy import (
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import formats
from app.clock import local_tz
from app.extensions import db
from app.models.agency import Agency
from app.models.procedure import ProcedureVersion
from app.models.types import JsonDoc, JsonDocOrNull, JsonText, UtcDateTime, utcnow
from app.models.user import N_

# TrangThaiHoSo as synced to the national portal (DOMAIN.md). The only statuses a dossier can take.
# Labels are translated when read, in the reader's language (Vietnamese for jobs: emails, SMS).
STATUSES: dict[int, LazyString] = {
    1: lazy_gettext("Mới đăng ký"),
    2: lazy_gettext("Được tiếp nhận"),
    3: lazy_gettext("Không được tiếp nhận"),
    4: lazy_gettext("Đang xử lý"),
    5: lazy_gettext("Yêu cầu bổ sung giấy tờ"),
    6: lazy_gettext("Yêu cầu thực hiện nghĩa vụ tài chính"),
    7: lazy_gettext("Công dân yêu cầu rút hồ sơ"),
    8: lazy_gettext("Dừng xử lý"),
    9: lazy_gettext("Đã xử lý xong"),
    10: lazy_gettext("Đã trả kết quả"),
}
PAUSING_STATUSES = frozenset({5, 6, 8})
# History entries about the platform's machinery (automatic steps, incidents, portal sync, refund retries):
# officers see them; the applicant sees what happened to the dossier (statuses, steps, payments), not how.
INTERNAL_ACTIONS = frozenset({"service_done", "service_error", "service_late", "incident", "incident_retry",
                              "portal_sync_failed", "portal_sync_resend", "refund_retry", "refund_failed",
                              "timer_fired", "escalated", "migrated", "timer_moved"})
FINAL_STATUSES = frozenset({3, 7, 10})
# The same rule as SQL, for the partial indexes on open dossiers (kept in step with FINAL_STATUSES).
OPEN_DOSSIER_SQL = "status NOT IN (3, 7, 10)"
LATE_SQL = "finished_verdict = 'qua_han'"
# Open human tasks (services.OPEN_TASK_STATES), for the inbox's partial index.
OPEN_TASK_SQL = "state IN ('ready', 'claimed')"
OPEN_TASK_STATES = ("ready", "claimed")  # a human task someone still has to do
OPEN_CALL_STATES = ("pending", "waiting", "failed")  # a service call not yet answered or given up
TIMER_DUE_SQL = "next_due_at IS NOT NULL"  # workflows with an armed timer (partial index of the timer host)


class DossierCounter(db.Model):  # type: ignore[name-defined]
    """Per-agency, per-day sequence behind dossier codes; incremented atomically with UPSERT … RETURNING."""

    __tablename__ = "dossier_counter"

    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class Dossier(db.Model):  # type: ignore[name-defined]
    __tablename__ = "dossier"
    __table_args__ = (
        Index("ix_dossier_agency_status_due", "agency_id", "status", "due_at"),
        # "My dossiers": one applicant's, newest first (app/dossiers/listings.py).
        Index("ix_dossier_applicant_submitted", "applicant_user_id", "submitted_at", "id"),
        # A procedure's running dossiers (the designer's list): open ones only, a small part of all dossiers.
        Index("ix_dossier_open_version_submitted", "procedure_version_id", "submitted_at", "id",
              postgresql_where=text(OPEN_DOSSIER_SQL), sqlite_where=text(OPEN_DOSSIER_SQL)),
        # The indicators count live what their daily aggregate does not hold yet (app.dossiers.indicators).
        Index("ix_dossier_uncounted", "agency_id", postgresql_where=text("NOT counted"),
              sqlite_where=text("NOT counted")),
        # The dashboard's late dossiers finished in a period (app.dossiers.indicators.late_dossiers).
        Index("ix_dossier_finished_late", "agency_id", "finished_at", postgresql_where=text(LATE_SQL),
              sqlite_where=text(LATE_SQL)),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    procedure_version_id: Mapped[int] = mapped_column(ForeignKey("procedure_version.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    status: Mapped[int] = mapped_column(SmallInteger, default=1)
    channel: Mapped[int] = mapped_column(SmallInteger, default=2)  # KenhThucHien: 1 in person, 2 online, 3 post
    applicant_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    applicant_name: Mapped[str] = mapped_column(String(255), default="")
    applicant_id_number: Mapped[str] = mapped_column(String(20), default="")
    applicant_phone: Mapped[str] = mapped_column(String(20), default="")
    applicant_email: Mapped[str] = mapped_column(String(255), default="")
    applicant_address: Mapped[str] = mapped_column(String(500), default="")
    summary: Mapped[str] = mapped_column(String(500), default="")
    form_data: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    # The fee due for this dossier's channel, in đồng (payment itself comes with the payment connector).
    fee_amount: Mapped[int] = mapped_column(Integer, default=0)
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    received_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    returned_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # For the statistics, set once when they happen: how a handled dossier finished against its statutory date
    # (truoc_han / dung_han / qua_han, compared by local date: app.dossiers.calendar.classify_finished), and when
    # the applicant withdrew it (status 7).
    finished_verdict: Mapped[str | None] = mapped_column(String(16), nullable=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # The appointment promised to the applicant once an apology (Phiếu xin lỗi và hẹn lại ngày trả kết quả,
    # app.dossiers.watch) moved it; NULL: due_at. due_at stays the statutory deadline lateness is judged by.
    appointment_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # What the applicant is told of once the result is ready (status 9), as procedure.json `results` declares it
    # (app.dossiers.results_summary): [{title, agency, fields: [{label, value}]}]. Read only by the pages showing it.
    results: Mapped[list[dict[str, Any]] | None] = mapped_column(JsonDoc, nullable=True, deferred=True)
    # The start-form files taken from the applicant's personal document store, by field path: {document_id, origin,
    # title, dossier_code} of where each came from, as the server resolved it (app.dossiers.docstore); the receipt,
    # the API and the national portal (tai_su_dung) read it with the dossier. NULL: nothing taken.
    reused_documents: Mapped[dict[str, Any] | None] = mapped_column(JsonDocOrNull, nullable=True)
    # Set while the clock is paused (statuses 5, 6, 8); on resume the due date moves by the paused working time.
    paused_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # phien_ban of the last dossier snapshot put in the national-portal outbox (0: none yet).
    portal_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Digitization (số hóa, QĐ 766), set once at reception: the components the dossier held then
    # (app.dossiers.components.received_components) and how many of them were digitized (everything of an online
    # dossier, a walk-in one's components the desk scanned and uploaded). NULL: not received, or before 0023d.
    components_held: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    components_digitized: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    # True once the indicators' daily aggregate holds the dossier (app.dossiers.indicators.refresh): only dossiers in
    # a final status (3, 7, 10), whose dates never change again, are folded into it; the rest are counted live.
    counted: Mapped[bool] = mapped_column(default=False, server_default="false")

    procedure_version: Mapped[ProcedureVersion] = relationship()
    agency: Mapped[Agency] = relationship()
    workflow: Mapped[WorkflowInstance] = relationship(back_populates="dossier", uselist=False)
    # Read-only views of the dossier's open work, for a use case to load together with the dossier in one statement
    # (app.dossiers.services.WITH_DOSSIER); what they hold is the state when they were loaded.
    open_tasks_loaded: Mapped[list[HumanTask]] = relationship(
        primaryjoin=f"and_(HumanTask.dossier_id == Dossier.id, HumanTask.state.in_({list(OPEN_TASK_STATES)}))",
        order_by="HumanTask.id", viewonly=True)
    open_calls_loaded: Mapped[list[Any]] = relationship(  # ServiceCall (app.models.integration)
        "ServiceCall",
        primaryjoin=f"and_(ServiceCall.dossier_id == Dossier.id, ServiceCall.state.in_({list(OPEN_CALL_STATES)}))",
        order_by="ServiceCall.id", viewonly=True)

    @property
    def status_label(self) -> str:
        return str(STATUSES.get(self.status, self.status))

    @property
    def appointment(self) -> datetime:
        """When the result is promised to the applicant: the apology's new date if one moved it, else due_at."""
        return self.appointment_at or self.due_at


class WorkflowInstance(db.Model):  # type: ignore[name-defined]
    """The ONE serialized SpiffWorkflow document of a dossier, with an optimistic-lock version."""

    __tablename__ = "workflow_instance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"), unique=True)
    # Read only when used: a step on the run its process kept never parses it (app.dossiers.workflow_runs). Kept as
    # written (JsonText): a kept run and a reload of its row see the same key order and the same numbers.
    document: Mapped[dict[str, Any]] = mapped_column(JsonText, deferred=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    completed: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    # When the earliest armed BPMN timer of the workflow is due (NULL: nothing waits on time), kept by every save
    # (app.dossiers.workflow_runs); the timer host fires what is due (app.dossiers.timers).
    next_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    dossier: Mapped[Dossier] = relationship(back_populates="workflow")

    __table_args__ = (
        Index("ix_workflow_instance_next_due", "next_due_at",
              postgresql_where=text(TIMER_DUE_SQL), sqlite_where=text(TIMER_DUE_SQL)),
    )
    __mapper_args__ = {"version_id_col": version}


class HumanTask(db.Model):  # type: ignore[name-defined]
    """Inbox projection of a READY user task of a dossier's workflow."""

    __tablename__ = "human_task"
    __table_args__ = (
        # The inbox reads open tasks only (a small part of the table): by agency and role, most urgent first.
        Index("ix_human_task_open", "agency_id", "role", "due_at", "id",
              postgresql_where=text(OPEN_TASK_SQL), sqlite_where=text(OPEN_TASK_SQL)),
        # The inbox's other orders, read in order from the open tasks alone (no dossier row per task).
        Index("ix_human_task_open_code", "agency_id", "role", "dossier_code", "id",
              postgresql_where=text(OPEN_TASK_SQL), sqlite_where=text(OPEN_TASK_SQL)),
        Index("ix_human_task_open_received", "agency_id", "role", "dossier_submitted_at", "id",
              postgresql_where=text(OPEN_TASK_SQL), sqlite_where=text(OPEN_TASK_SQL)),
        # Its search: a dossier code's start or a part of the folded applicant name, by trigrams (PostgreSQL's
        # pg_trgm); elsewhere the search reads the branch's open tasks.
        Index("ix_human_task_open_search", "dossier_code", "applicant_folded", postgresql_using="gin",
              postgresql_ops={"dossier_code": "gin_trgm_ops", "applicant_folded": "gin_trgm_ops"},
              postgresql_where=text(OPEN_TASK_SQL)).ddl_if(dialect="postgresql"),
        # One open task per engine task. Not unique over the history: a return to an earlier step (the engine's
        # reset, app.dossiers.desk) makes that step's engine task ready again under the same id.
        Index("ix_human_task_open_engine_task", "engine_task_id", unique=True,
              postgresql_where=text(OPEN_TASK_SQL), sqlite_where=text(OPEN_TASK_SQL)),
        Index("ix_human_task_engine_task", "engine_task_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    engine_task_id: Mapped[str] = mapped_column(String(36))
    spec_name: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(500))
    lane: Mapped[str] = mapped_column(String(255), default="")
    role: Mapped[str] = mapped_column(String(40))
    form: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # ready | claimed | completed | cancelled | held (the dossier's clock is paused: status 5 or 8, app.dossiers.desk)
    state: Mapped[str] = mapped_column(String(16), default="ready")
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)  # step deadline (allottedTime)
    # The step deadline its officers were warned of as near (app.dossiers.watch; the DeadlineNotice row is the
    # record): the inbox shows the warning from the task row it reads anyway. Equal to due_at: warned for it.
    warned_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    data: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc, nullable=True)  # what the officer submitted
    # Copies of the dossier's fields that never change after submission, so that the inbox sorts and searches
    # the open tasks without reading a dossier per task (inbox_keys(dossier) gives them; migration 0010 filled
    # the open tasks of older dossiers, completed ones may have none).
    dossier_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dossier_submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    applicant_folded: Mapped[str | None] = mapped_column(String(255), nullable=True)  # folded(applicant_name)

    dossier: Mapped[Dossier] = relationship()


def folded(text: str) -> str:
    """Lower case without Vietnamese accents (đ → d), spaces collapsed: what an accent-insensitive search
    compares ("nguyen van" finds "Nguyễn Văn")."""
    bare = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return " ".join("".join(ch for ch in bare if not unicodedata.combining(ch)).lower().split())


def inbox_keys(dossier: Dossier) -> dict[str, Any]:
    """The dossier's fields a task carries for the inbox (HumanTask.dossier_code and the others)."""
    return {"dossier_code": dossier.code, "dossier_submitted_at": dossier.submitted_at,
            "applicant_folded": folded(dossier.applicant_name or "")[:255]}


class AuditEvent(db.Model):  # type: ignore[name-defined]
    """Who did what to a dossier, when: the dossier history and the control sheet read this."""

    __tablename__ = "audit_event"
    __table_args__ = (
        # The status changes whose notification is still owed (app.jobs.tasks.sweep_notifications).
        Index("ix_audit_event_unnotified", "id", postgresql_where=text("status_to IS NOT NULL AND notified_at IS NULL"),
              sqlite_where=text("status_to IS NOT NULL AND notified_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    actor_name: Mapped[str] = mapped_column(String(255), default="")
    action: Mapped[str] = mapped_column(String(40))  # submitted, claimed, completed, returned, status, ...
    # The decision a step was completed with, as the diagram names it (e.g. "Trả lại" on the flow taken back).
    outcome: Mapped[str] = mapped_column(String(255), default="", server_default="")
    task_title: Mapped[str] = mapped_column(String(500), default="")
    status_from: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    status_to: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    step_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # A note the platform writes is a message (its Vietnamese msgid, marked with N_) and its parameters, put
    # into the reader's language when shown (render_note); a note a person typed has no parameters (NULL).
    note: Mapped[str] = mapped_column(Text, default="")
    note_params: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc, nullable=True)
    # A status change (status_to set) owes the applicant a notification until this is stamped: delivered on
    # every channel, or given up for good. What is owed is found here even when its job was lost.
    notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    @property
    def note_text(self) -> str:
        return render_note(self.note, self.note_params)

    @property
    def actor_label(self) -> str:
        """Who did it: the person's name, or the platform itself (stored without a name) in the reader's
        language. Rows written before the platform stopped storing its own name say it in Vietnamese."""
        if self.actor_id is None and self.actor_name in ("", SYSTEM_ACTOR):
            return gettext(SYSTEM_ACTOR)
        return self.actor_name


SYSTEM_ACTOR = N_("Hệ thống")


def render_note(note: str, params: dict[str, Any] | None) -> str:
    """A history note in the reader's language (Vietnamese outside a request: emails, SMS, commands).
    Parameters are formatted here: `…amount` as money, `…_at` as a local time, `…_msg` as a message of its own;
    other parameters (numbers, step titles, reasons and errors as given) are shown as they are."""
    if params is None:
        return note  # typed by a person, or written before notes were stored as messages
    values: dict[str, Any] = {}
    for key, value in params.items():
        if key.endswith("amount") and isinstance(value, int):
            values[key] = formats.vnd(value)
        elif key.endswith("_at") and isinstance(value, str):
            values[key] = formats.local_datetime(value, _zone())
        elif key.endswith("_msg") and isinstance(value, str):
            values[key] = gettext(value)
        else:
            values[key] = value
    return gettext(note, **values) if values else gettext(note)


def _zone() -> ZoneInfo:
    return local_tz()


class Attachment(db.Model):  # type: ignore[name-defined]
    """A file uploaded with an eForm, stored outside the web root under its SHA-256."""

    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)  # random public handle put into form data
    dossier_id: Mapped[int | None] = mapped_column(ForeignKey("dossier.id"), nullable=True, index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    field_path: Mapped[str] = mapped_column(String(255), default="")
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Taken from the applicant's personal document store (app.dossiers.docstore): the row the server resolved and
    # checked, never something the form said; the officer sees the file as a verified earlier result or copy.
    reused_from_id: Mapped[int | None] = mapped_column(ForeignKey("personal_document.id", use_alter=True),
                                                       nullable=True)


class Notification(db.Model):  # type: ignore[name-defined]
    """A message to the applicant about their dossier, composed by a background job.

    Delivery (email/SMS through the notify connector) stamps sent_at; until then the message is
    shown on the dossier's page, so nothing the applicant should know depends on delivery.
    """

    __tablename__ = "notification"
    __table_args__ = (UniqueConstraint("dossier_id", "audit_event_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"), index=True)
    audit_event_id: Mapped[int] = mapped_column(ForeignKey("audit_event.id"))
    channel: Mapped[str] = mapped_column(String(16), default="email")
    recipient: Mapped[str] = mapped_column(String(255), default="")
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    sms_sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)  # the short SMS version
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # deliveries that failed transiently
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)  # the next try, if one is owed


class RegistryLookup(db.Model):  # type: ignore[name-defined]
    """Every look-up in a national registry: who asked, when, for which dossier, why, and what came back."""

    __tablename__ = "registry_lookup"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True, index=True)
    dossier_id: Mapped[int | None] = mapped_column(ForeignKey("dossier.id"), nullable=True, index=True)
    operation: Mapped[str] = mapped_column(String(80))
    subject: Mapped[str] = mapped_column(String(40))  # the personal ID or tax code looked up
    purpose: Mapped[str] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(40))  # ok | not_found | unavailable | error code


class MessageKey(db.Model):  # type: ignore[name-defined]
    """A dossier's value of a declared correlation key (procedure.json `messages`: `{"key": <start-form pointer>}`),
    recorded at submission, so a message naming that key's value (POST /api/v1/messages) finds its dossier."""

    __tablename__ = "message_key"
    __table_args__ = (UniqueConstraint("dossier_id", "name"), Index("ix_message_key_name_value", "name", "value"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"))
    name: Mapped[str] = mapped_column(String(200))  # the message's name
    value: Mapped[str] = mapped_column(String(500))

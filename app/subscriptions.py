"""Who reacts to what happens to a dossier: every hook, in ONE place, connected by create_app.

The dossier core publishes events (app.dossiers.events) and never calls its reactions directly. This
module connects them, for one app, in the order written here; nothing is connected by importing a module.
It also teaches the app's connector registry the operations the platform carries out itself.

Hooks run in the publisher's transaction: they write rows and enqueue after-commit jobs, never commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flask import Flask
from flask_babel import force_locale

from app import audit, documents
from app.dossiers import (
    attachments,
    desk,
    docstore,
    events,
    indicators,
    lateness,
    leave,
    messages,
    payments,
    periodic,
    portal_sync,
    timers,
    workflow_incidents,
)
from app.dossiers.services import SCHEDULED_CHANNEL
from app.extensions import db
from app.jobs import payments as payment_jobs
from app.jobs import portal as portal_jobs
from app.jobs import service_calls as service_call_jobs
from app.jobs import sweeper
from app.jobs import tasks as notification_jobs
from app.jobs import timers as timer_jobs
from app.jobs import watch as watch_jobs
from app.jobs.queue import QUEUE_NOTIFICATIONS, IdOf, enqueue_after_commit
from app.jobs.tasks import notify_status_change
from app.models import procedure as procedure_models
from connectors.registry import Registry

Hook = Callable[..., None]
_CONNECTED = "motcua_hooks"  # app.extensions key: the receivers connected for this app


# ---------------------------------------------------------------- the hooks


def _internal(dossier: Any) -> bool:
    """An agency-internal dossier a periodic procedure's schedule started (app.dossiers.periodic): no applicant,
    not an administrative procedure's dossier for the national portal, its statistics or a receipt."""
    return bool(dossier.channel == SCHEDULED_CHANNEL)


def record_portal_snapshot(*, dossier: Any, **_: Any) -> None:
    """The national portal gets the dossier as it now is (outbox, sent by app.jobs.portal)."""
    if not _internal(dossier):
        portal_sync.record_dossier(dossier)


def record_portal_step(*, dossier: Any, title: str, actor: Any, started_at: Any, finished_at: Any, due_at: Any,
                       **_: Any) -> None:
    if _internal(dossier):
        return
    portal_sync.record_step(dossier, title, actor, started_at, finished_at, due_at)


def refund_if_refused(*, dossier: Any, new: int, **_: Any) -> None:
    """A dossier not received gives back the fee it paid online."""
    payments.on_status(dossier, new)


def notify_applicant(*, dossier: Any, event: Any, **_: Any) -> None:
    """The applicant hears of the submission and of every status change (email, SMS), after commit."""
    enqueue_after_commit(db.session, QUEUE_NOTIFICATIONS, notify_status_change, dossier.id, IdOf(event),
                         job_id=(f"notify-{dossier.id}-", IdOf(event)), retry=False)  # it keeps its own retries


def schedule_service_calls(*, calls: Sequence[Any], **_: Any) -> None:
    for call in calls:
        service_call_jobs.schedule(call, 1)


def record_workflow_incident(*, dossier: Any, error: Any, actor: Any, **_: Any) -> None:
    workflow_incidents.record(dossier, error, actor)


def send_to_portal(*, dossier_id: int, job_id: str, **_: Any) -> None:
    portal_jobs.queue_sync(dossier_id, job_id)


def recheck_payment_later(*, payment: Any, **_: Any) -> None:
    """A payment whose callback may never come is asked about on a schedule (PAYMENT_RECHECK)."""
    delays = payments.recheck_delays()
    if delays:
        payment_jobs.schedule_recheck(payment, 1, delays[0])


def carry_out_refund(*, refund: Any, job_id: str, **_: Any) -> None:
    payment_jobs.schedule_refund(refund, job_id)


def issue_receipt(*, dossier: Any, new: int, actor: Any, **_: Any) -> None:
    """A received dossier gets its receipt and appointment (Giấy tiếp nhận hồ sơ và hẹn trả kết quả), recorded
    as issued by the officer who received it."""
    if new == 2 and not _internal(dossier):
        documents.issue(dossier, "receipt", actor)


def issue_document(*, dossier: Any, kind: str, actor: Any, context: Mapping[str, Any] | None = None,
                   **_: Any) -> None:
    documents.issue(dossier, kind, actor, **(context or {}))


def issue_supplement_request(*, dossier: Any, actor: Any, reason: str, components: list[Mapping[str, Any]],
                             deadline_at: Any, **_: Any) -> None:
    """The desk asked for a supplement: the applicant gets the regulation's form (Phiếu yêu cầu bổ sung, hoàn
    thiện hồ sơ) listing what is missing and by when."""
    documents.issue(dossier, "supplement", actor, reason=reason,
                    components=[c.get("name") or c.get("code") for c in components], deadline=deadline_at)


def _reason(event: Any, fallback: str) -> str:
    """The reason written in the history entry, in Vietnamese whoever reads on (documents are in the
    regulation's language)."""
    with force_locale("vi"):
        return (event.note_text if event is not None else "") or fallback


def issue_refusal(*, dossier: Any, actor: Any, reason: str, at_reception: bool, event: Any = None,
                  **_: Any) -> None:
    """A dossier refused after reception (by the desk, or swept when its supplement never came) gets the refusal
    form (Phiếu từ chối tiếp nhận, giải quyết hồ sơ) with the reason; one refused at reception gets it from its
    status change, below, whether the desk or the diagram refused it."""
    if not at_reception:
        documents.issue(dossier, "refusal", actor, reason=_reason(event, reason))


def issue_refusal_at_reception(*, dossier: Any, new: int, actor: Any, event: Any = None, **_: Any) -> None:
    if new == 3:
        documents.issue(dossier, "refusal", actor, reason=_reason(event, "Hồ sơ không đủ điều kiện tiếp nhận."))


def issue_apology(*, dossier: Any, actor: Any, reason: str, old_due_at: Any, new_due_at: Any, **_: Any) -> None:
    """A late dossier's apology (Phiếu xin lỗi và hẹn lại ngày trả kết quả) with its old and new dates."""
    documents.issue(dossier, "apology", actor, reason=reason, old_due=old_due_at, new_due=new_due_at)


def notify_apology(*, dossier: Any, event: Any, **_: Any) -> None:
    """The applicant gets the apology and the new date by email and SMS, after commit."""
    enqueue_after_commit(db.session, QUEUE_NOTIFICATIONS, watch_jobs.notify_apology, dossier.id, IdOf(event),
                         job_id=(f"notify-{dossier.id}-", IdOf(event)), retry=False)


# The security audit log (app.audit): what happened to a dossier, in its agency's chain, in the same transaction.


def audit_lookup(*, lookup: Any, dossier: Any = None, actor: Any = None, **_: Any) -> None:
    """A registry was asked about someone: the person looked up sees it on their page (by personal ID)."""
    audit.record(audit.LOOKUP, actor=actor, agency=dossier.agency if dossier is not None else None,
                 object_kind=lookup.operation, object_ref=lookup.subject, reason=lookup.purpose,
                 subject=lookup.subject or None, dossier_id=dossier.id if dossier is not None else None,
                 detail={"outcome": lookup.outcome})


def audit_step(*, dossier: Any, title: str, actor: Any, **_: Any) -> None:
    audit.record_for_dossier(audit.TASK_COMPLETED, dossier, actor=actor, detail={"step": title})


def audit_submission(*, dossier: Any, actor: Any = None, **_: Any) -> None:
    audit.record_for_dossier(audit.SUBMITTED, dossier, actor=actor)


def audit_desk(action: str) -> Hook:
    """A desk action on a dossier (or on one of its tasks), with the reason the officer gave."""

    def hook(*, actor: Any = None, dossier: Any = None, task: Any = None, reason: Any = "", kind: str = "",
             **_: Any) -> None:
        target = dossier if dossier is not None else task.dossier
        audit.record_for_dossier(audit.DESK, target, actor=actor, reason=str(reason or "")[:500],
                                 detail={"desk": action, **({"kind": kind} if kind else {}),
                                         **({"step": task.title} if task is not None else {})})

    hook.__name__ = f"audit_{action}"
    return hook


HOOKS: Mapping[Any, tuple[Hook, ...]] = {
    events.dossier_submitted: (record_portal_snapshot, notify_applicant, messages.record_keys, audit_submission),
    events.status_changed: (docstore.record, record_portal_snapshot, refund_if_refused, notify_applicant,
                            issue_receipt, issue_refusal_at_reception),
    events.step_recorded: (record_portal_step, audit_step),
    events.service_calls_requested: (schedule_service_calls,),
    events.engine_fault: (record_workflow_incident,),
    events.portal_update_owed: (send_to_portal,),
    events.payment_opened: (recheck_payment_later,),
    events.refund_requested: (carry_out_refund,),
    # The desk's actions: the status change each makes is published as status_changed (portal, notification,
    # refund) above; these carry what the regulation's documents need (app.documents).
    events.supplement_requested: (issue_supplement_request, audit_desk("supplement_requested")),
    events.supplement_received: (docstore.record_supplement, audit_desk("supplement_received")),
    events.dossier_returned: (audit_desk("returned"),),
    events.dossier_refused: (issue_refusal, audit_desk("refused")),
    events.processing_stopped: (audit_desk("stopped"),),
    events.processing_resumed: (audit_desk("resumed"),),
    events.dossier_withdrawn: (audit_desk("withdrawn"),),
    events.task_handed_over: (audit_desk("handed_over"),),
    events.document_owed: (issue_document,),
    events.dossier_apologised: (issue_apology, notify_apology, audit_desk("apologised")),
    events.registry_looked_up: (audit_lookup,),
}

# What the sweeper (app.jobs.sweeper) looks for in the database, by name: the work each kind of side effect still
# owes whose job never ran (lost after commit, with Redis or with its worker); each re-enqueues it, idempotently.
SWEEPS: Mapping[str, sweeper.Source] = {
    "notifications": notification_jobs.sweep,  # status changes not yet notified
    "service_calls": service_call_jobs.sweep,  # attempts due, or whose lease ran out
    "payments": payment_jobs.sweep,  # re-queries due; paid payments not handed to their task; pending refunds
    "portal": portal_jobs.sweep,  # outbox rows owed, retries due
    "supplements": desk.expire_supplements,  # supplement requests unanswered past their deadline end their dossier
    "timers": timer_jobs.sweep,  # BPMN timers due (not a lost job: the timer host's own clock tick)
    "periodic": periodic.start_due,  # periodic procedures (a timer start event): one dossier per occurrence come
    "leaves": leave.start_due_leaves,  # leaves that have begun move their officers' claimed steps, once each
    "lateness": lateness.record_owed,  # completed steps' holdings written for the statistics (step_holding)
    # Platform deadlines: warnings of steps due soon, escalations of overdue steps and dossiers (each made once),
    # their deliveries and apology messages owed
    "deadlines": watch_jobs.sweep,
    # The indicators' daily aggregate: dossiers closed, payments settled and ratings given since the last pass
    "indicators": indicators.sweep_source,
}

# Operations the platform carries out itself (declared in connectors.registry.PLATFORM_OPERATIONS).
PLATFORM_OPERATIONS: Mapping[str, Callable[..., Any]] = {"payment.collect": payments.collect}


# ---------------------------------------------------------------- wiring


def add_platform_operations(registry: Registry) -> Registry:
    """Teach a connector registry the platform's own operations (create_app's, or one a test builds)."""
    for operation_id, func in PLATFORM_OPERATIONS.items():
        if operation_id in registry.ids() and registry.get(operation_id).func is func:
            continue  # already taught (an app registered again)
        registry.add_operation(operation_id, func)
    return registry


def _in_order(hooks: tuple[Hook, ...]) -> Callable[..., None]:
    def receive(sender: Any, **data: Any) -> None:
        for hook in hooks:
            hook(**data)

    return receive


def register(app: Flask) -> None:
    """Connect every hook for `app` (signals sent by another app do not reach them) and add the platform's
    operations to its connector registry."""
    if _CONNECTED in app.extensions:
        return
    receivers = {signal: _in_order(hooks) for signal, hooks in HOOKS.items()}
    for signal, receiver in receivers.items():
        signal.connect(receiver, sender=app, weak=False)
    app.extensions[_CONNECTED] = receivers
    attachments.track_files_with_transactions()  # uploaded files follow their rows' commit or rollback
    audit.listen()  # audit events written at commit, after the other before-commit writers (app.audit)
    procedure_models.keep_content()  # versions' content read once per process
    add_platform_operations(app.extensions["motcua_connectors"])
    app.extensions[sweeper.SOURCES_KEY] = SWEEPS
    app.extensions[timers.CALENDARS_KEY] = timers.calendar_of  # working_days() in timer values
    sweeper.start(app)  # embedded mode: from the job thread, now and every SWEEP_INTERVAL (workers: `flask worker`)


def unregister(app: Flask) -> None:
    """Disconnect `app`'s hooks (tests show what they, and only they, do)."""
    for signal, receiver in app.extensions.pop(_CONNECTED, {}).items():
        signal.disconnect(receiver, sender=app)

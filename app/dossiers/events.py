"""What happens to a dossier, as signals (blinker, the library Flask's own signals use).

The module that made something happen publishes it here and knows nothing of who listens; the listeners
(portal snapshot, refunds, notifications, service-call and refund jobs, workflow incidents) are connected
in ONE place, `app.subscriptions.register(app)`, called by create_app. Signals are sent with the current
app as sender and hooks are connected for that app only, so an app without a hook simply does not do
that work: nothing happens because a module was imported.

Every hook runs inside the publisher's transaction: it may write rows and enqueue after-commit jobs,
never commit.
"""

from __future__ import annotations

from typing import Any

from blinker import Namespace
from flask import current_app

_signals = Namespace()

# submit_dossier created a dossier. dossier=Dossier, event=AuditEvent (its "submitted" entry, flushed),
# actor: User | None (the applicant, or the officer who filed it)
dossier_submitted = _signals.signal("dossier-submitted")
# A dossier's status changed. dossier, old: int, new: int, actor: User | None, event=AuditEvent (flushed)
status_changed = _signals.signal("status-changed")
# An officer finished a step. dossier, title, actor, started_at, finished_at, due_at
step_recorded = _signals.signal("step-recorded")
# Service calls wait to be made (new, or a new round after an incident). calls=list[ServiceCall] (flushed)
service_calls_requested = _signals.signal("service-calls-requested")
# The engine failed after the person's step was taken. dossier, error=EngineError, actor
engine_fault = _signals.signal("engine-fault")
# The national portal is owed the dossier's unsent outbox rows. dossier_id, job_id
portal_update_owed = _signals.signal("portal-update-owed")
# A payment was opened at the payment platform. payment=Payment
payment_opened = _signals.signal("payment-opened")
# A refund was asked for. refund=Refund (flushed), job_id
refund_requested = _signals.signal("refund-requested")
# A document must be issued (app.documents.issue): for code of this package, which may not import it.
# dossier, kind: str ("supplement", "refusal", "apology", …), actor: User | None, context: dict (its fields)
document_owed = _signals.signal("document-owed")


# The desk (app.dossiers.desk): actions every procedure has. Each carries what the regulation's document needs
# (app.documents: supplement, refusal) and `event`, its history entry (AuditEvent, flushed). Datetimes are UTC.
# An officer asked for a supplement (status 5, clock paused). dossier, request=SupplementRequest, actor, reason,
# components=[{"code", "name", "note"}], deadline_at (the applicant's deadline), due_at (appointment when paused)
supplement_requested = _signals.signal("supplement-requested")
# The supplement came in (online or at the desk); the dossier resumes. dossier, request, actor, channel
# ("online" | "desk"), received=[{"code", "name", "reference"}], old_due_at, new_due_at (moved by the paused time)
supplement_received = _signals.signal("supplement-received")
# A step was sent back to an earlier one. dossier, actor, from_step (title), to_step (title), reason, task
# (the re-opened HumanTask, flushed)
dossier_returned = _signals.signal("dossier-returned")
# The dossier was refused: at reception (status 3) or while processing, or because a supplement request went
# unanswered past its deadline (actor None, supplement=that SupplementRequest). dossier, actor, reason,
# at_reception: bool, supplement: SupplementRequest | None, missing_components=[{"code", "name", "note"}]
dossier_refused = _signals.signal("dossier-refused")
# Processing stopped (status 8, clock paused). dossier, actor, reason, due_at (appointment when paused)
processing_stopped = _signals.signal("processing-stopped")
# Processing resumed after a stop. dossier, actor, reason, old_due_at, new_due_at
processing_resumed = _signals.signal("processing-resumed")
# The applicant withdrew the dossier (status 7). dossier, actor, reason
dossier_withdrawn = _signals.signal("dossier-withdrawn")
# A task changed hands. task=HumanTask, actor (None: the sweeper), kind ("released" | "reassigned" | "delegated" |
# "on_leave": its holder is away, app.dossiers.leave), from_user,
# to_user (User | None), reason
task_handed_over = _signals.signal("task-handed-over")
# The applicant was given an apology with a new date (app.dossiers.watch): the dossier's appointment moved, its
# statutory deadline did not. dossier, actor, reason, old_due_at, new_due_at, event (its "apology" entry, flushed)
dossier_apologised = _signals.signal("dossier-apologised")
# A national registry was asked about someone (population, business, social insurance). lookup=RegistryLookup (its
# record: operation, subject, purpose, outcome), dossier: Dossier | None (none: a form's prefill), actor: User | None
registry_looked_up = _signals.signal("registry-looked-up")

ALL = (dossier_submitted, status_changed, step_recorded, service_calls_requested, engine_fault,
       portal_update_owed, payment_opened, refund_requested, supplement_requested, supplement_received,
       dossier_returned, dossier_refused, processing_stopped, processing_resumed, dossier_withdrawn,
       task_handed_over, document_owed, dossier_apologised, registry_looked_up)


def publish(signal: Any, **data: Any) -> None:
    """Send `signal` from the current app to the hooks connected for it."""
    signal.send(current_app._get_current_object(), **data)  # type: ignore[attr-defined]

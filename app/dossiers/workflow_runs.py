"""A dossier's workflow for one step: the run this process kept alive when the row read is the very version it
committed last, else a load of the row's document (app.engine.live says why this is safe).

Two calls, where a step reads and where it writes the workflow: `load_run(instance, bundle)` and
`save_run(instance, run, completed)`. A saved run is kept again only after its transaction commits, under the row
version that commit wrote (noted after each flush, when the version is known); any rollback, savepoints
included, forgets it. The session events below are the one place that happens.

A finished workflow is saved in its compact form (`compact_document`) and never kept: a closed dossier's row
stays small, and loading it raises WorkflowFinished (nothing in it waits any more).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from app.engine.live import Key, LiveRuns
from app.engine.runtime import SpecBundle, TaskNotReady, WorkflowRun, is_compacted
from app.extensions import db
from app.models import WorkflowInstance

_EXTENSION = "motcua_live_runs"  # app.extensions: this process's kept runs, for this app
_STAGED = "motcua_saved_runs"  # session.info: the runs saved in the transaction under way


class WorkflowFinished(TaskNotReady):
    """The dossier's workflow finished and was compacted: nothing in it waits for a person or a service."""


@dataclass
class _Saved:
    instance: WorkflowInstance
    run: WorkflowRun
    document: dict[str, Any]
    live: LiveRuns
    key: Key | None = None


def live_runs() -> LiveRuns:
    """The app's kept runs (WORKFLOW_CACHE_SIZE runs, WORKFLOW_CACHE_TASKS tasks together at most)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    runs = app.extensions.get(_EXTENSION)
    if runs is None:
        runs = app.extensions.setdefault(
            _EXTENSION, LiveRuns(int(app.config["WORKFLOW_CACHE_SIZE"]), int(app.config["WORKFLOW_CACHE_TASKS"])))
    return runs


def load_run(instance: WorkflowInstance, bundle: SpecBundle) -> WorkflowRun:
    """The workflow as the row just read holds it: the kept run of exactly that row version, or its document.

    WorkflowFinished for a compacted (finished) workflow: it no longer runs."""
    if instance.id is not None and instance.version is not None:
        run = live_runs().take((instance.id, instance.version))
        if run is not None:  # never a finished one: those are not kept
            return run
    if is_compacted(instance.document):
        raise WorkflowFinished(f"workflow {instance.id} finished")
    return WorkflowRun.load(instance.document, bundle)


def save_run(instance: WorkflowInstance, run: WorkflowRun, completed: bool) -> WorkflowInstance:
    """Write the run's document into the row; the run is kept for the next step once this transaction commits.

    A workflow that finished is written in its compact form and not kept (nothing will run it again). The row's
    `next_due_at` is set to when its earliest armed timer is due (read from the run, nothing evaluated). The row is
    written by the next flush, or by a writer that then calls `note_saved` (app.dossiers.rows, for a step)."""
    staged: dict[int, _Saved] = db.session.info.setdefault(_STAGED, {})
    if completed and run.is_completed():
        instance.document = run.compact_document()
        instance.completed = True
        instance.next_due_at = None
        staged.pop(id(instance), None)  # an earlier save of this transaction must not be kept either
        if instance.id is not None:
            live_runs().discard(instance.id)
        return instance
    document = run.document()
    instance.document = document
    instance.completed = completed
    instance.next_due_at = run.next_due_at()
    staged[id(instance)] = _Saved(instance, run, document, live_runs())
    return instance


def note_saved() -> None:
    """The rows of the runs saved in this transaction were written other than by a flush: note their versions."""
    _note_versions(db.session(), None)


@event.listens_for(Session, "after_flush_postexec")
def _note_versions(session: Session, flush_context: Any) -> None:
    """The row version each saved run's document now has; none if the row holds something else or is unsaved."""
    for saved in (session.info.get(_STAGED) or {}).values():
        state = inspect(saved.instance)
        values = state.dict
        saved.key = None
        if (state.persistent and not state.modified and values.get("document") is saved.document
                and values.get("id") is not None and values.get("version") is not None):
            saved.key = (values["id"], values["version"])


@event.listens_for(Session, "after_commit")
def _keep(session: Session) -> None:
    for saved in (session.info.pop(_STAGED, None) or {}).values():
        if saved.key is not None:
            saved.live.put(saved.key, saved.run)


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous_transaction: Any) -> None:
    session.info.pop(_STAGED, None)


@event.listens_for(Session, "after_transaction_end")
def _end(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost transaction: committed (kept above) or abandoned
        session.info.pop(_STAGED, None)

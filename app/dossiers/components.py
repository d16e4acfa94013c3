"""A dossier's components (thành phần hồ sơ), as the manifest declares them.

Each component has a code, a name and whether it is required; one that comes as an upload in the start form
names its field (`field`), and the start form itself may be one (`eform`). The step that receives the dossier
(`receivesDossier`) has a checklist of the codes the officer marks as received, named by the manifest's
`components_field`. Reception is refused while a required component is missing, and the receipt lists exactly
what the dossier holds: the files uploaded and the components marked received.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from flask_babel import gettext
from sqlalchemy import select

from app.eforms.schema import pointer_to_path, resolve_pointer
from app.extensions import db
from app.models import Dossier, HumanTask, SupplementRequest


def _given(dossier: Dossier, component: Mapping[str, Any], supplemented: Callable[[], set[str]]) -> bool:
    """The applicant gave it: the start form itself, an upload in its field, or a file sent in answer to a
    supplement request for it (online or scanned at the desk; `supplemented`: read once per question asked)."""
    if component.get("eform"):
        return True
    field = component.get("field")
    if bool(field) and resolve_pointer(dossier.form_data or {}, field) not in (None, "", []):
        return True
    return bool(field) and component.get("code") in supplemented()


def _supplemented(dossier: Dossier) -> set[str]:
    """The component codes answered supplement requests of the dossier brought a file for, read once per
    transaction: only answering a request changes them, and that says so (supplement_answered)."""
    memo = _read_in_this_transaction(_SUPPLEMENTED)
    if dossier.id not in memo:
        # Without an autoflush (a step's own rows are written by its statements, app.dossiers.rows): an answer given
        # in this transaction was flushed when it was given (supplement_answered).
        with db.session.no_autoflush:
            answered = db.session.scalars(select(SupplementRequest.received).where(
                SupplementRequest.dossier_id == dossier.id, SupplementRequest.state == "answered")).all()
        memo[dossier.id] = {str(item.get("code")) for received in answered for item in (received or [])
                            if isinstance(item, Mapping) and item.get("reference") and item.get("code")}
    found: set[str] = memo[dossier.id]
    return found


def supplement_answered(dossier: Dossier) -> None:
    """A supplement request of the dossier was answered in this transaction: written now, and what it brought read
    afresh when next asked."""
    db.session.flush()
    _read_in_this_transaction(_SUPPLEMENTED).pop(dossier.id, None)


def _ticked(manifest: Mapping[str, Any], data: Mapping[str, Any] | None) -> list[str]:
    value = resolve_pointer(data or {}, manifest.get("components_field"))
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def reception_problems(dossier: Dossier, data: Mapping[str, Any]) -> dict[str, str]:
    """What keeps the receiving officer's form from receiving the dossier: required components not marked
    received or not in the dossier, and, for an online dossier, uploads marked received that were never given.
    Keyed by the JSON pointer of the checklist (or "" without one)."""
    manifest = dossier.procedure_version.manifest
    pointer = manifest.get("components_field") or ""
    ticked = set(_ticked(manifest, data))
    supplemented = partial(_supplemented, dossier)
    unticked, absent, phantom = [], [], []
    for component in manifest.get("components") or []:
        name, code = component["name"], component["code"]
        uploaded = _given(dossier, component, supplemented) or not component.get("field")
        if component.get("required"):
            if pointer and code not in ticked:
                unticked.append(name)
            elif not uploaded:
                absent.append(name)
        elif code in ticked and not uploaded and dossier.channel == 2:
            phantom.append(name)
    messages = []
    if unticked:
        messages.append(gettext("Chưa đánh dấu đã nhận thành phần hồ sơ bắt buộc: %(names)s.",
                                names="; ".join(unticked)))
    if absent:
        messages.append(gettext("Hồ sơ chưa có tệp của thành phần bắt buộc: %(names)s.", names="; ".join(absent)))
    if phantom:
        messages.append(gettext("Hồ sơ nộp trực tuyến không có tệp của thành phần: %(names)s. Bỏ đánh dấu thành "
                                "phần này.", names="; ".join(phantom)))
    return {pointer: " ".join(messages)} if messages else {}


_RECEPTION = "motcua_reception"  # session.info: (transaction, {dossier id: its reception step as read in it})
_SUPPLEMENTED = "motcua_supplemented"  # session.info: (transaction, {dossier id: codes its answered requests brought})


def _read_in_this_transaction(key: str = _RECEPTION) -> dict[int, Any]:
    """What was read in the session's current transaction under `key`: a dossier's reception step (its snapshots
    and the answer that shows it ask several times; only completing a step changes it, and that says so:
    step_completed), or what its supplements brought (supplement_answered)."""
    current = db.session().get_transaction()
    held = db.session.info.get(key)
    if held is None or held[0] is not current:
        held = (current, {})
        db.session.info[key] = held
    memo: dict[int, Any] = held[1]
    return memo


def step_completed(dossier: Dossier, task: HumanTask | None = None) -> None:
    """A step of the dossier was completed in this transaction: its reception step is read afresh, unless the
    completed step (`task`, completed just now) receives the dossier: then it is the last one, nothing to read."""
    memo = _read_in_this_transaction()
    memo.pop(dossier.id, None)
    if task is not None and task.state == "completed" and task.spec_name in _receiving(dossier):
        memo[dossier.id] = task


def _receiving(dossier: Dossier) -> list[str]:
    """The names of the procedure's steps that receive the dossier."""
    return [name for name, info in (dossier.procedure_version.tasks or {}).items()
            if str((info.get("properties") or {}).get("receivesDossier", "")).lower() == "true"]


def dossier_created(dossier: Dossier) -> None:
    """The dossier was created in this transaction: no step of it has received it, no supplement was asked."""
    _read_in_this_transaction()[dossier.id] = None
    _read_in_this_transaction(_SUPPLEMENTED)[dossier.id] = set()


def _reception(dossier: Dossier) -> HumanTask | None:
    """The last completed step that received the dossier (its form holds the checklist)."""
    receiving = _receiving(dossier)
    if not receiving:
        return None
    memo = _read_in_this_transaction()
    if dossier.id not in memo:
        # Without an autoflush: a task is completed by a statement (services.complete_task), never by a pending
        # change, so what the step has pending (new tasks, history) cannot change the answer; it is written with
        # the step's other rows instead of by the unit of work here.
        with db.session.no_autoflush:
            memo[dossier.id] = db.session.scalar(
                select(HumanTask).where(HumanTask.dossier_id == dossier.id, HumanTask.state == "completed",
                                        HumanTask.spec_name.in_(receiving))
                .order_by(HumanTask.completed_at.desc(), HumanTask.id.desc()).limit(1))
    return memo[dossier.id]


def received_components(dossier: Dossier) -> list[dict[str, Any]]:
    """The components the dossier holds, in the manifest's order: given with the form (uploaded, or the form
    itself) or marked received at reception. Nothing the applicant never gave."""
    manifest = dossier.procedure_version.manifest
    reception = _reception(dossier) if manifest.get("components_field") else None
    ticked = set(_ticked(manifest, reception.data)) if reception is not None else set()
    supplemented = partial(_supplemented, dossier)
    reused = dossier.reused_documents or {}  # taken from the applicant's store (app.dossiers.docstore)
    out = []
    for component in manifest.get("components") or []:
        given, marked = _given(dossier, component, supplemented), component["code"] in ticked
        if given or marked:
            field = component.get("field")
            origin = reused.get(pointer_to_path(field)) if field and given else None
            out.append({"code": component["code"], "name": component["name"], "copies": component.get("copies"),
                        "uploaded": bool(field) and given, "received": marked, "reused_from": origin})
    return out


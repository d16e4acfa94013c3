"""The electronic result (kết quả điện tử): the files an officer attaches at a step, in the file fields its form
declares with the UI hint `ui:result` (checked at upload: app.procedures.declarations), which the applicant downloads
once the result is handed back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from app.dossiers.attachments import reference_token
from app.extensions import db
from app.models import Agency, Attachment, Dossier, HumanTask

RESULT_HINT = "ui:result"  # a step form's UI hint: its file fields that carry the electronic result
RESULT_READY = 10  # the applicant downloads the result once it is handed back (Đã trả kết quả)


def result_fields(dossier: Dossier, task: HumanTask) -> list[str]:
    """The file fields the step's form declares as the electronic result (`ui:result`: a name or a list)."""
    version = dossier.procedure_version
    info = version.tasks.get(task.spec_name, {})
    ui = version.forms.get(info.get("ui_form") or (task.form or "").replace(".schema.json", ".ui.json"))
    raw = ui.get(RESULT_HINT) if isinstance(ui, Mapping) else None
    names = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    return [n for n in names if isinstance(n, str)]


def electronic_results(dossier: Dossier, *, for_applicant: bool) -> list[Attachment]:
    """The files an officer attached as the dossier's electronic result, in the fields the step forms declare
    (`ui:result`), from the completed steps, oldest first. The applicant sees them once the result is handed
    back (status 10); the agency's officers as soon as they are attached."""
    if for_applicant and dossier.status != RESULT_READY:
        return []
    tokens: list[str] = []
    for task in db.session.scalars(select(HumanTask).where(
            HumanTask.dossier_id == dossier.id, HumanTask.state == "completed").order_by(HumanTask.completed_at)):
        for name in result_fields(dossier, task):
            token = reference_token((task.data or {}).get(name))
            if token is not None and token not in tokens:
                tokens.append(token)
    if not tokens:
        return []
    found = {a.token: a for a in db.session.scalars(select(Attachment).where(
        Attachment.token.in_(tokens), Attachment.dossier_id == dossier.id))}
    return [found[t] for t in tokens if t in found]


def declared_results(dossier: Dossier) -> list[dict[str, Any]]:
    """The results procedure.json `results` declares, as computed when the result was ready (app.dossiers.progress),
    each under the name of the agency that produced it (an inter-agency procedure's pool → its agency's name)."""
    shown = dossier.results or []
    if not shown:
        return []
    pools = dossier.procedure_version.manifest.get("participants") or {}
    names = {a.code: a.name for a in db.session.scalars(select(Agency).where(Agency.code.in_(list(pools.values()))))}
    shown_as = []
    for result in shown:
        pool = str(result.get("agency") or "")
        shown_as.append({**result, "agency": names.get(str(pools.get(pool) or ""), pool)})
    return shown_as

"""Answers a procedure publishes (procedure.json `publication`): the platform's own feedback procedure (phản ánh,
kiến nghị) answers a question, and the answers the applicant agreed to make public and the officer chose to publish
are listed on a public page — the question and the answer, never who asked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from app.eforms.schema import resolve_pointer
from app.extensions import db
from app.models import Agency, Dossier, HumanTask, ProcedureVersion

ANSWERED = 10


def _choice_title(schema: Mapping[str, Any], pointer: str | None, value: Any) -> str:
    """An enum value as its form shows it (x-enum-titles), else as it is."""
    node: Any = schema
    for part in (pointer or "").strip("/").split("/") if pointer else []:
        node = (node.get("properties") or {}).get(part) if isinstance(node, Mapping) else None
    if isinstance(node, Mapping) and value in (node.get("enum") or []):
        titles = node.get("x-enum-titles") or []
        index = list(node["enum"]).index(value)
        if index < len(titles):
            return str(titles[index])
    return "" if value is None else str(value)


def published_answers(limit: int = 50) -> list[dict[str, Any]]:
    """The latest published answers, newest first: kind, question, answer, when, by which agency."""
    versions = [v for v in db.session.scalars(select(ProcedureVersion)) if v.manifest.get("publication")]
    if not versions:
        return []
    by_id = {v.id: v for v in versions}
    rows = db.session.execute(
        select(Dossier, HumanTask, Agency.name).join(HumanTask, HumanTask.dossier_id == Dossier.id)
        .join(Agency, Agency.id == Dossier.agency_id)
        .where(Dossier.procedure_version_id.in_(list(by_id)), Dossier.status == ANSWERED,
               HumanTask.state == "completed")
        .order_by(Dossier.finished_at.desc(), Dossier.id.desc(), HumanTask.id.desc())).all()
    shown: list[dict[str, Any]] = []
    seen: set[int] = set()
    for dossier, task, agency_name in rows:
        version = by_id[dossier.procedure_version_id]
        spec = version.manifest["publication"]
        if dossier.id in seen or task.spec_name != spec["step"]:
            continue
        seen.add(dossier.id)
        data = task.data or {}
        consent = resolve_pointer(dossier.form_data or {}, spec.get("consent")) if spec.get("consent") else True
        published = data.get(spec["publish"], True) if spec.get("publish") else True
        answer = data.get(spec["answer"])
        if consent is not True or published is not True or not answer:
            continue
        start = version.forms.get(version.manifest["start_form"], {})
        shown.append({
            "kind": _choice_title(start, spec.get("kind"), resolve_pointer(dossier.form_data or {}, spec.get("kind")))
            if spec.get("kind") else "",
            "question": str(resolve_pointer(dossier.form_data or {}, spec["question"]) or ""),
            "answer": str(answer), "answered_at": dossier.finished_at or task.completed_at, "agency": agency_name,
            "procedure": version.manifest.get("name", ""),
        })
        if len(shown) >= limit:
            break
    return shown

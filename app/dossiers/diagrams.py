"""Diagrams for people: a deployed version's BPMN as drawn in the studio, and a dossier's progress in its diagram
for the officers who work it (the completed path, the step(s) it waits on), as JSON a page's script draws.

The applicant is shown no diagram: the portal's dossier page keeps its plain list of steps. Where the dossier stands
is read from its stored workflow document (app.engine.diagram), never by running the workflow.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext

from app.dossiers.access import may_view
from app.dossiers.errors import Forbidden, NotFound
from app.engine.diagram import STEP_KINDS, Diagram, DiagramMissing, diagram_of, main_file, progress_of
from app.models import Dossier, ProcedureVersion, User
from app.models.user import ADMIN_ROLE


def version_bpmn(version: ProcedureVersion) -> tuple[str, str]:
    """The name and XML text of the version's main BPMN file (the one defining its process)."""
    files = version.bpmn_files or {}
    try:
        name = main_file(files, version.process_id)
    except DiagramMissing as exc:
        raise NotFound(gettext("Phiên bản này không có tệp sơ đồ BPMN."), code="diagram_missing") from exc
    return name, files[name]


def version_diagram(version: ProcedureVersion) -> Diagram:
    try:
        return diagram_of(version.content_hash, lambda: version.bpmn_files or {}, version.process_id)
    except DiagramMissing as exc:
        raise NotFound(gettext("Phiên bản này không có tệp sơ đồ BPMN."), code="diagram_missing") from exc


def may_see_progress(user: User | None, dossier: Dossier) -> bool:
    """Officers who may see the dossier (its agency's, or an administrator): the diagram is their working view."""
    return user is not None and bool(user.is_officer or user.has_role(ADMIN_ROLE)) and may_view(user, dossier)


def dossier_progress(dossier: Dossier, user: User | None) -> dict[str, Any]:
    """Where the dossier stands in its version's diagram, for its script: element ids to mark (completed,
    current, failed, the flows taken) and the same as named steps, for the text list beside the drawing."""
    if not may_see_progress(user, dossier):
        raise Forbidden(gettext("Bạn không có quyền xem sơ đồ xử lý của hồ sơ này."), code="diagram_forbidden")
    diagram = version_diagram(dossier.procedure_version)
    workflow = dossier.workflow
    progress = progress_of(workflow.document if workflow is not None else {}, diagram)

    def named(ids: list[str], every: bool = False) -> list[dict[str, str]]:
        """The steps among `ids` a reader follows (named tasks and events); `every`: all of them, by id if unnamed
        (where the workflow stopped on an error matters even at a gateway)."""
        elements = [diagram.elements[i] for i in ids]
        return [{"id": e.id, "name": e.name or e.id, "kind": e.kind} for e in elements
                if every or (e.name and e.kind in STEP_KINDS)]

    return {
        "file": diagram.filename,
        "completed": progress.completed,
        "current": progress.current,
        "failed": progress.failed,
        "flows": progress.flows,
        "finished": progress.finished,
        "steps": {"completed": named(progress.completed), "current": named(progress.current),
                  "failed": named(progress.failed, every=True)},
    }

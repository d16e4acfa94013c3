"""What the web layer writes into the security audit log (app.audit): the request's address and page for every
event written while it runs, and the reads of personal data (a dossier, a task page, a file, a document), which
change nothing else and so commit their audit row themselves."""

from __future__ import annotations

from typing import Any

from flask import Flask, has_request_context, request
from flask_login import current_user

from app import audit
from app.extensions import db
from app.models import Dossier, User


def request_context() -> dict[str, str]:
    """Where an event written during this request comes from: the client's address (as ProxyFix gives it) and the
    method and path it asked for."""
    if not has_request_context():
        return {}
    return {"ip": request.remote_addr or "", "where": f"{request.method} {request.path}"[:500]}


def install(app: Flask) -> None:
    app.extensions[audit.CONTEXT_KEY] = request_context


def _person(user: User | None) -> User | None:
    if user is not None:
        return user
    if current_user and current_user.is_authenticated:
        person: User = current_user._get_current_object()
        return person
    return None


def viewed(dossier: Dossier, kind: str, *, user: User | None = None, ref: Any = None,
           detail: dict[str, Any] | None = None) -> None:
    """`user` (default: the logged-in person) read `dossier`'s personal data through `kind` of page or answer
    (app.audit.VIEW_KINDS): one audit row in the dossier's agency's chain, its reason the page asked for,
    committed now, since the read itself writes nothing."""
    audit.record_for_dossier(audit.VIEW, dossier, actor=_person(user), object_kind=kind, object_ref=ref,
                             detail=detail)
    db.session.commit()


def deployed(result: Any, *, user: User | None = None, draft_id: int | None = None) -> None:
    """A procedure version was deployed (an upload, the API or a draft), in the procedure's agency's chain; the
    caller commits."""
    proc, version = result.procedure, result.version
    audit.record(audit.DRAFT_DEPLOYED if draft_id is not None else audit.DEPLOYED, actor=_person(user),
                 agency=proc.agency, object_kind="procedure_version", object_ref=f"{proc.code}@{version.version}",
                 detail={"content_hash": version.content_hash, "created": bool(result.created),
                         **({"draft": draft_id} if draft_id is not None else {})})


def retired(proc: Any, version: Any, *, user: User | None = None) -> None:
    """A version was retired (no new dossier starts on it); the caller commits."""
    current = proc.current_version
    audit.record(audit.RETIRED, actor=_person(user), agency=proc.agency, object_kind="procedure_version",
                 object_ref=f"{proc.code}@{version.version}",
                 detail={"current": current.version if current is not None else None})

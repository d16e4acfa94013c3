"""What the portal, the inbox and the API share about issued documents and a dossier's files: who sees which, and
how a PDF or an uploaded file is served."""

from __future__ import annotations

from pathlib import Path

from flask import Response, send_file

from app import documents
from app.dossiers.access import may_operate
from app.dossiers.attachments import served_as
from app.models import Attachment, Dossier, IssuedDocument, User
from app.models.user import ADMIN_ROLE


def agency_side(user: User, dossier: Dossier) -> bool:
    """An officer of the dossier's agency (or an administrator): sees every document, the control sheet too;
    anyone else entitled to the dossier (its applicant) sees the documents addressed to the applicant."""
    return bool(user.is_officer or user.has_role(ADMIN_ROLE)) and may_operate(user, dossier)


def visible_documents(user: User, dossier: Dossier) -> list[IssuedDocument]:
    return documents.documents_of(dossier, for_applicant=not agency_side(user, dossier))


# A served file is not a page of this site: no script, no styles or requests of its own, no plugins. Chromium's
# and Firefox's PDF viewers do not run in a sandboxed document, so an inline PDF gets the same without it.
FILE_CSP = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
PDF_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; object-src 'self'"


def _file_headers(response: Response, name: str, inline: bool, csp: str) -> Response:
    # RFC 6266; the name is ASCII letters, digits, "_", "-" and one ".", so it needs no escaping.
    response.headers["Content-Disposition"] = (
        f"{'inline' if inline else 'attachment'}; filename=\"{name}\"; filename*=UTF-8''{name}")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = csp
    response.headers["Cache-Control"] = "private, no-store"
    return response


def pdf_response(data: bytes, name: str) -> Response:
    """A PDF the platform made, inline, under an ASCII name (no escaping needed), never cached by proxies."""
    return _file_headers(Response(data, mimetype="application/pdf"), name, True, PDF_CSP)


def attachment_response(att: Attachment, path: Path, *, stream: bool = True) -> Response:
    """A dossier's file: a verified PDF or image inline, anything else as a download, always under a name and
    type the platform chose (app.dossiers.attachments.served_as), never cached by proxies. `stream=False` reads
    it into the answer (the API checks its answers, which a streamed file cannot be read for)."""
    mimetype, name, inline = served_as(att)
    response = (send_file(path, mimetype=mimetype, as_attachment=False, max_age=0) if stream
                else Response(path.read_bytes(), mimetype=mimetype))
    return _file_headers(response, name, inline, PDF_CSP if inline and mimetype == "application/pdf" else FILE_CSP)

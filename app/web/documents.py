"""What the portal, the inbox and the API share about issued documents: who sees which, and how a PDF is served."""

from __future__ import annotations

from flask import Response

from app import documents
from app.dossiers.access import may_operate
from app.models import Dossier, IssuedDocument, User
from app.models.user import ADMIN_ROLE


def agency_side(user: User, dossier: Dossier) -> bool:
    """An officer of the dossier's agency (or an administrator): sees every document, the control sheet too;
    anyone else entitled to the dossier (its applicant) sees the documents addressed to the applicant."""
    return bool(user.is_officer or user.has_role(ADMIN_ROLE)) and may_operate(user, dossier)


def visible_documents(user: User, dossier: Dossier) -> list[IssuedDocument]:
    return documents.documents_of(dossier, for_applicant=not agency_side(user, dossier))


def pdf_response(data: bytes, name: str) -> Response:
    """A PDF the platform made, inline, under an ASCII name (no escaping needed), never cached by proxies."""
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f"inline; filename=\"{name}\"; filename*=UTF-8''{name}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = ("default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
                                                   "object-src 'self'")
    response.headers["Cache-Control"] = "private, no-store"
    return response

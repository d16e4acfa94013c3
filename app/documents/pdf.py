"""A document's PDF: its template (app/templates/documents/) filled with its recorded content, rendered by
WeasyPrint, with the dossier's QR code (segno) drawn as vector graphics. Pure: the same content gives the same
bytes (no creation date, a PDF identifier derived from the content), so a document downloaded twice is one file."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import Any

import segno
from flask import render_template
from flask_babel import force_locale
from weasyprint import HTML
from weasyprint.urls import URLFetcher

from app.documents.content import KINDS, control_content
from app.dossiers.clock import local_tz, now_utc
from app.models import Dossier, IssuedDocument
from app.models.document import DOCUMENT_SYMBOLS


def qr_svg(url: str) -> str:
    """The QR code of `url` as an SVG data URI (error correction M: a printed, folded receipt still scans)."""
    return segno.make(url, error="m", micro=False).svg_data_uri(scale=4, border=2)


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(local_tz()) if value else None


def _time(value: str | None) -> str:
    """«08 giờ 30 phút, ngày 02 tháng 12 năm 2026», as the forms write a moment."""
    moment = _moment(value)
    if moment is None:
        return ""
    return f"{moment:%H} giờ {moment:%M} phút, ngày {moment:%d} tháng {moment:%m} năm {moment:%Y}"


def _day(value: str | date | None) -> str:
    """«ngày 02 tháng 12 năm 2026»."""
    moment: date | None = _moment(value) if isinstance(value, str) else value
    if moment is None:
        return ""
    return f"ngày {moment:%d} tháng {moment:%m} năm {moment:%Y}"


def _short(value: str | None) -> str:
    """«08:30 02/12/2026», for the control sheet's narrow cells."""
    moment = _moment(value)
    return f"{moment:%H:%M %d/%m/%Y}" if moment is not None else ""


def _vnd(amount: int | None) -> str:
    return f"{amount or 0:,}".replace(",", ".") + " đồng"


def render_content(kind: str, content: dict[str, Any], *, number: str, issued_by: str) -> bytes:
    """The PDF of a document of `kind` saying `content` (a recorded IssuedDocument.content)."""
    spec = KINDS[kind]
    with force_locale("vi"):
        html = render_template(f"documents/{kind}.html", c=content, kind=spec, number=number, issued_by=issued_by,
                               qr=qr_svg(content["status_url"]), time=_time, day=_day, short=_short, vnd=_vnd)
    # The identifier a PDF carries, from what it says: two renderings of one document are the same bytes.
    identifier = hashlib.sha256(json.dumps([kind, number, content], sort_keys=True).encode()).hexdigest()[:32]
    # Nothing is fetched: the QR code is a data URI, and no text a person typed can point the renderer elsewhere.
    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    pdf: bytes = HTML(string=html, url_fetcher=fetcher).write_pdf(pdf_identifier=identifier.encode())
    return pdf


def render(document: IssuedDocument) -> bytes:
    """An issued document's PDF, from what was recorded when it was issued."""
    return render_content(document.kind, document.content, number=document.number,
                          issued_by=document.issued_by_name)


def control_sheet(dossier: Dossier) -> bytes:
    """The control sheet as the dossier stands now (not recorded): for the officers following it."""
    content = control_content(dossier, now_utc())
    return render_content("control", content, number="", issued_by="")


def filename(dossier_code: str, kind: str, sequence: int | None = None) -> str:
    """An ASCII file name: the kind's symbol, the dossier code, the sequence (PKS_000.00.01.H26-261130-0001.pdf)."""
    suffix = f"_{sequence}" if sequence and sequence > 1 else ""
    return f"{DOCUMENT_SYMBOLS[kind]}_{dossier_code}{suffix}.pdf"

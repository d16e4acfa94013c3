"""The documents the platform issues about a dossier (receipt, supplement request, refusal, apology, control
sheet): one row per issued document, holding what it says as issued.

A row keeps the document's content (its fields, as read when it was issued), not its PDF: the PDF is rendered
from that content whenever it is downloaded (app.documents), byte for byte the same each time. So a receipt
downloaded a year later says what it said at the desk, even after the dossier's appointment moved or its
applicant's address was corrected, and issuing one inside the reception's transaction costs one small INSERT,
not a PDF rendering."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import JsonDoc, UtcDateTime, utcnow

# The kinds of document, in the order of the regulation's forms (Thông tư 01/2018/TT-VPCP, mẫu 01–05), each with
# the symbol in its number.
DOCUMENT_SYMBOLS = {"receipt": "GTN", "supplement": "PYCBS", "refusal": "PTC", "apology": "PXL", "control": "PKS"}


class IssuedDocument(db.Model):  # type: ignore[name-defined]
    __tablename__ = "issued_document"
    __table_args__ = (UniqueConstraint("dossier_id", "kind", "sequence"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # one of DOCUMENT_KINDS
    # The n-th document of this kind for the dossier (a second supplement request is 2), from 1.
    sequence: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    issued_by_name: Mapped[str] = mapped_column(String(255), default="")
    # What the document says: plain JSON values (text, ISO dates, lists), read by its template.
    content: Mapped[dict[str, Any]] = mapped_column(JsonDoc)

    @property
    def number(self) -> str:
        """The number printed on it: "<sequence>/<kind's symbol>" (01/PYCBS); the dossier code says whose."""
        return f"{self.sequence:02d}/{DOCUMENT_SYMBOLS[self.kind]}"

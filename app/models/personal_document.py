"""The citizen's personal document store (kho dữ liệu cá nhân, Nghị định 45/2020 and 107/2021): the electronic results
of their finished dossiers and the components digitized when their dossiers were received. Each row points at the
stored file (an attachment of the source dossier) and says what kind of paper it is, so a later form that asks for
that kind offers it instead of a new upload; the new dossier's copy of the file names the row it came from
(`Attachment.reused_from_id`), which is how the officer knows it is a verified earlier result or digitized copy."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UtcDateTime, utcnow

ORIGIN_RESULT = "result"  # the electronic result of a dossier handed back (status 10)
ORIGIN_COMPONENT = "component"  # a component digitized when the dossier was received (status 2)


class PersonalDocument(db.Model):  # type: ignore[name-defined]
    __tablename__ = "personal_document"
    __table_args__ = (Index("ix_personal_document_owner_kind", "owner_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)  # the source dossier's applicant
    origin: Mapped[str] = mapped_column(String(16))  # ORIGIN_RESULT | ORIGIN_COMPONENT
    kind: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the manifest's document kind, if declared
    title: Mapped[str] = mapped_column(String(500))  # the component's or result's name, as the manifest says it
    component_code: Mapped[str | None] = mapped_column(String(40), nullable=True)  # the component's code (origin 2)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"), index=True)  # the source dossier
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))  # who received it or issued the result
    attachment_id: Mapped[int] = mapped_column(ForeignKey("attachment.id"), unique=True)  # the stored file
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)  # handed back / received
    valid_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)  # a result valid for a time
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)  # thu hồi by its agency
    revoked_reason: Mapped[str] = mapped_column(Text, default="")
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)

"""Procedures (thủ tục hành chính) and their immutable deployed versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.agency import Agency
from app.models.types import JsonDoc, UtcDateTime, utcnow


class Procedure(db.Model):  # type: ignore[name-defined]
    __tablename__ = "procedure"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)  # mã TTHC, e.g. 1.001193
    slug: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(500))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    # The version new dossiers start on; older dossiers stay on theirs.
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("procedure_version.id", use_alter=True, name="fk_procedure_current_version"), nullable=True
    )

    agency: Mapped[Agency] = relationship()
    current_version: Mapped[ProcedureVersion | None] = relationship(foreign_keys=[current_version_id])


class ProcedureVersion(db.Model):  # type: ignore[name-defined]
    """Everything needed to run one version, frozen: manifest, BPMN files and forms, by content hash."""

    __tablename__ = "procedure_version"
    __table_args__ = (
        UniqueConstraint("procedure_id", "version"),
        UniqueConstraint("procedure_id", "content_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedure.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    process_id: Mapped[str] = mapped_column(String(255))
    manifest: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    # {file name: XML text}; deferred: only a process that has not parsed this version yet reads it.
    bpmn_files: Mapped[dict[str, str]] = mapped_column(JsonDoc, deferred=True)
    # {file name: JSON schema or UI hints}
    forms: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    # {spec name: {title, lane, role, form, ui_form, properties}} from analysis at deploy time
    tasks: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    deployed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    deployed_by: Mapped[str] = mapped_column(String(80), default="")
    source_note: Mapped[str] = mapped_column(Text, default="")

    procedure: Mapped[Procedure] = relationship(foreign_keys=[procedure_id])

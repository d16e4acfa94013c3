"""A procedure package being edited in the studio's modeller: its files as text, saved by a designer, deployed
into a version when it passes the upload checker (app.procedures.drafts).

`files` maps package paths to text, as a version's download lays them out: "procedure.json", "<name>.bpmn",
"forms/<name>". `revision` grows with every save: a save that names an older revision than the stored one is
refused, so two designers (or two tabs) never overwrite each other's work without knowing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import JsonText, UtcDateTime, utcnow


class ProcedureDraft(db.Model):  # type: ignore[name-defined]
    __tablename__ = "procedure_draft"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), index=True)  # the procedure's code as the manifest last said
    name: Mapped[str] = mapped_column(String(500))
    slug: Mapped[str] = mapped_column(String(100))
    files: Mapped[dict[str, str]] = mapped_column(JsonText)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    # The version it was opened from (None: a new procedure), and the one its deployment made.
    base_version_id: Mapped[int | None] = mapped_column(ForeignKey("procedure_version.id"), nullable=True)
    deployed_version_id: Mapped[int | None] = mapped_column(ForeignKey("procedure_version.id"), nullable=True)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(80))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    deployed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

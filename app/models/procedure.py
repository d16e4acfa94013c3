"""Procedures (thủ tục hành chính) and their immutable deployed versions."""

from __future__ import annotations

import threading
import weakref
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import InstanceState, Mapped, mapped_column, relationship
from sqlalchemy.orm.attributes import set_committed_value

from app.extensions import db
from app.models.agency import Agency
from app.models.types import JsonDoc, JsonText, UtcDateTime, utcnow


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
    # Further agencies the procedure is published for (ProcedurePublication); `agency` is the one that owns it.
    published_to: Mapped[list[Agency]] = relationship(secondary="procedure_publication", order_by="Agency.code")
    current_version: Mapped[ProcedureVersion | None] = relationship(foreign_keys=[current_version_id])


class ProcedurePublication(db.Model):  # type: ignore[name-defined]
    """A procedure offered by another agency than its owner: a citizen filing it chooses among them."""

    __tablename__ = "procedure_publication"

    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedure.id"), primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), primary_key=True)


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
    # The version's content, deferred (one SELECT loads the three together) and kept per process once read: see
    # keep_content below. Never changed in place: a version is frozen once deployed.
    manifest: Mapped[dict[str, Any]] = mapped_column(JsonDoc, deferred=True, deferred_group="content")
    # {file name: XML text}; deferred: only a process that has not parsed this version yet reads it.
    bpmn_files: Mapped[dict[str, str]] = mapped_column(JsonDoc, deferred=True)
    # {file name: JSON schema or UI hints}
    forms: Mapped[dict[str, Any]] = mapped_column(JsonDoc, deferred=True, deferred_group="content")
    # {spec name: {title, lane, role, form, ui_form, properties}} from analysis at deploy time
    tasks: Mapped[dict[str, Any]] = mapped_column(JsonDoc, deferred=True, deferred_group="content")
    deployed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    deployed_by: Mapped[str] = mapped_column(String(80), default="")
    # Retired: no new dossier starts on it (app.procedures.versions.retire); its running dossiers go on.
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    retired_by: Mapped[str] = mapped_column(String(80), default="", server_default="")
    # The package's files exactly as deployed ({"text": {path: text}, "base64": {path: data}}; paths are
    # "procedure.json", the BPMN names and "forms/<name>"), so that its download hashes the same. NULL for versions
    # deployed before it was kept: their download is rebuilt from the stored content (see app.procedures.versions).
    source_files: Mapped[dict[str, Any] | None] = mapped_column(JsonText, deferred=True, nullable=True)
    source_note: Mapped[str] = mapped_column(Text, default="")

    procedure: Mapped[Procedure] = relationship(foreign_keys=[procedure_id])


# ---------------------------------------------------------------- a version's content, read once per process

CONTENT = ("manifest", "forms", "tasks")
# Per database (its engine), per (version id, content hash): the three documents as first read. A deployed
# version never changes, so every session of the process may share them (read-only); keyed by the hash as
# well as the id, a database re-created under the same ids (tests) cannot be served another's content.
_kept: weakref.WeakKeyDictionary[Engine, dict[tuple[int, str], tuple[Any, ...]]] = weakref.WeakKeyDictionary()
_kept_lock = threading.Lock()


def _engine_of(state: InstanceState[Any]) -> Engine | None:
    session = state.session
    if session is None:
        return None
    bind = session.get_bind(mapper=state.mapper)
    return bind if isinstance(bind, Engine) else getattr(bind, "engine", None)


def _key(state: InstanceState[Any]) -> tuple[int, str] | None:
    found = state.dict.get("id"), state.dict.get("content_hash")
    return None if None in found else found  # type: ignore[return-value]


def _serve(state: InstanceState[Any], *_: Any) -> None:
    """A version was read (or re-read): give it the content kept for it, or keep what the query brought."""
    key, engine = _key(state), _engine_of(state)
    if key is None or engine is None:
        return
    kept = _kept.get(engine, {}).get(key)
    if kept is None:
        if all(name in state.dict for name in CONTENT):  # a query (undefer, load_only) or a deferred load read it
            with _kept_lock:
                _kept.setdefault(engine, {}).setdefault(key, tuple(state.dict[name] for name in CONTENT))
        return
    version = state.obj()
    for name, value in zip(CONTENT, kept, strict=True):
        if name not in state.dict:
            set_committed_value(version, name, value)  # as if the row had been read with it: no deferred load


def keep_content() -> None:
    """Serve every version's manifest, forms and task table from this process's memory once read: a completion,
    a dossier page or a submission then moves and parses none of them (connected by app.subscriptions)."""
    for name in ("load", "refresh"):  # read by a query; re-read, or its deferred content loaded
        if not event.contains(ProcedureVersion, name, _serve):
            event.listen(ProcedureVersion, name, _serve, raw=True)

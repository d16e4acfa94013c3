"""The security audit log: who did what, to what, why and when, chained by hash per agency.

Kept apart from a dossier's history (AuditEvent, what applicants and officers read as the dossier's story): this
log records every action on the platform (logins, registry look-ups, views of personal data, task completions,
deployments, configuration changes) and is append-only. Each row carries the hash of the row before it in its
chain and its own hash over a canonical serialization of its fields and that previous hash (app.audit), so a
changed, deleted or reordered row breaks the chain where it happened (`flask audit verify`).

A chain is one agency's (its QCVN 102 code) or the platform's (actions that concern no agency). Its head row
(AuditChain) holds the last sequence number and hash: a committing transaction takes it (one upsert) before it
writes its events, which serializes writers per chain (PostgreSQL row lock; SQLite's single writer), so two
concurrent writers can never fork a chain. A database trigger (migration 0022a) refuses UPDATE and DELETE of a row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import JsonDoc, UtcDateTime

PLATFORM_CHAIN = "platform"


class AuditChain(db.Model):  # type: ignore[name-defined]
    """The head of one chain: its last sequence number and hash."""

    __tablename__ = "audit_chain"

    chain: Mapped[str] = mapped_column(String(40), primary_key=True)  # agency code, or "platform"
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64), default="")


class AuditLog(db.Model):  # type: ignore[name-defined]
    """One action, as written once and never changed."""

    __tablename__ = "audit_log"
    __table_args__ = (
        UniqueConstraint("chain", "seq"),
        # A citizen's page: the look-ups about them, the views of their dossiers.
        Index("ix_audit_log_subject", "subject"),
        Index("ix_audit_log_dossier", "dossier_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    chain: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Who: as they were at that moment (a later change of name, agency or role does not rewrite history).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    actor_name: Mapped[str] = mapped_column(String(255), default="")
    actor_agency: Mapped[str] = mapped_column(String(255), default="")  # the agency's name
    actor_role: Mapped[str] = mapped_column(String(255), default="")  # role codes, comma-separated
    ip: Mapped[str] = mapped_column(String(64), default="")
    # What, on what, why.
    action: Mapped[str] = mapped_column(String(40))
    object_kind: Mapped[str] = mapped_column(String(40), default="")
    object_ref: Mapped[str] = mapped_column(String(255), default="")  # id or code
    reason: Mapped[str] = mapped_column(String(500), default="")  # the page / endpoint, or a reason given
    # Whose data: the personal ID or tax code a look-up was about; the dossier a view or step concerned.
    subject: Mapped[str | None] = mapped_column(String(40), nullable=True)
    dossier_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # no FK: the log outlives retention
    detail: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

"""National portal (Cổng DVCQG) sync through an outbox: filled in by the portal-sync work."""

from __future__ import annotations

from datetime import datetime

from app.models import Dossier, User


def record_dossier(dossier: Dossier) -> None:
    """Queue a snapshot of the dossier for the national portal (called on every status change)."""


def record_step(dossier: Dossier, title: str, actor: User | None, started_at: datetime | None,
                finished_at: datetime, due_at: datetime | None) -> None:
    """Queue one finished process step of the dossier for the national portal."""

"""Column types shared by the models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects.postgresql import JSON as PG_JSON
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

from app.clock import now_utc

# JSONB on PostgreSQL (indexable, compact), plain JSON text elsewhere (SQLite in embedded mode).
JsonDoc = JSON().with_variant(JSONB(), "postgresql")
# The same, where SQL asks whether the column is set: Python's None is SQL NULL, never a JSON null.
JsonDocOrNull = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
# A document kept exactly as written (json, not jsonb, on PostgreSQL): key order and numbers come back as they were
# saved, and the database neither parses it into a tree on every write nor prints it back on every read. For what
# nothing queries inside: the workflow documents.
JsonText = JSON().with_variant(PG_JSON(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# The column defaults read the platform's one clock.
utcnow = now_utc

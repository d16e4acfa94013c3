"""The one lock helper of the dossier core.

`exclusive(kind, key)` is a cross-process lock for work done OUTSIDE a transaction (a job calling a national
system): a PostgreSQL advisory lock held on a connection of its own, so no transaction stays open while the
outside system answers. SQLite (embedded mode) runs one job at a time: there it is always granted.

`locked(model, id)` is the row lock for work done INSIDE the caller's transaction (SELECT … FOR UPDATE, the
row read afresh): two transactions settling the same payment are seen one after the other. `lock(model, id)`
takes the same lock without reading the row into the session (an object with unsaved changes keeps them).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import select, text

from app.extensions import db

M = TypeVar("M")


@contextmanager
def exclusive(kind: str, key: int) -> Iterator[bool]:
    """Yields True if this process now holds the lock (`kind`, `key`), False if another one does."""
    if db.engine.dialect.name != "postgresql":
        yield True
        return
    namespace = zlib.crc32(kind.encode()) & 0x7FFFFFFF
    with db.engine.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:a, :b)"), {"a": namespace, "b": key}).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:a, :b)"), {"a": namespace, "b": key})
                conn.commit()


def locked(model: type[M], row_id: Any) -> M | None:
    """The row with this id, locked until the caller's transaction ends and read afresh (not from the session)."""
    query: Any = select(model).where(model.id == row_id)  # type: ignore[attr-defined]
    row: M | None = db.session.scalar(query.with_for_update().execution_options(populate_existing=True))
    return row


def lock(model: type[Any], row_id: Any) -> None:
    """Lock the row until the caller's transaction ends, leaving the session's copy as it is."""
    db.session.execute(select(model.id).where(model.id == row_id).with_for_update())

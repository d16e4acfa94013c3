"""The one lock helper of the dossier core.

`exclusive(kind, key)` is a cross-process lock for work done OUTSIDE a transaction (a job calling a national
system): a PostgreSQL advisory lock held on a connection of its own, so no transaction stays open while the
outside system answers. On SQLite (embedded mode) there is no such lock, and one job thread is not the only
sender: `flask portal resend` sends from its own process while the web process's job thread may send the same
dossier, and tests or tools run jobs from other threads. There the lock is a byte of a lock file beside the
database (``<database>.locks``, an fcntl record lock at an offset made of (kind, key): other processes) plus a
set of the keys this process holds (record locks do not exclude the threads of one process). A transaction
(BEGIN IMMEDIATE) would do too, but it would stop every writer of the database while the outside system answers.

`locked(model, id)` is the row lock for work done INSIDE the caller's transaction (SELECT … FOR UPDATE, the
row read afresh): two transactions settling the same payment are seen one after the other. `lock(model, id)`
takes the same lock without reading the row into the session (an object with unsaved changes keeps them).
"""

from __future__ import annotations

import fcntl
import os
import threading
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
    namespace = zlib.crc32(kind.encode()) & 0x7FFFFFFF
    if db.engine.dialect.name != "postgresql":
        with _local_exclusive(namespace, key) as got:
            yield got
        return
    with db.engine.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:a, :b)"), {"a": namespace, "b": key}).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:a, :b)"), {"a": namespace, "b": key})
                conn.commit()


_held: set[tuple[str, int, int]] = set()  # (lock file, namespace, key) held by a thread of this process
_held_guard = threading.Lock()
_lock_files: dict[str, tuple[int, int]] = {}  # lock file → (pid, descriptor): one descriptor per process, kept


def _lock_file_descriptor(path: str) -> int:
    """The process's one descriptor of the lock file. It is never closed: closing any descriptor of a file
    drops every record lock the process holds on it."""
    pid = os.getpid()
    known = _lock_files.get(path)
    if known is None or known[0] != pid:  # first use, or a forked child (record locks are not inherited)
        _lock_files[path] = (pid, os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
    return _lock_files[path][1]


@contextmanager
def _local_exclusive(namespace: int, key: int) -> Iterator[bool]:
    database = db.engine.url.database
    path = f"{database}.locks" if database and database != ":memory:" else ""
    token = (path, namespace, key)
    with _held_guard:
        if token in _held:
            yield False
            return
        _held.add(token)
    locked_byte = False
    try:
        if path:
            fd = _lock_file_descriptor(path)
            offset = (namespace << 32) | (key & 0xFFFFFFFF)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
                locked_byte = True
            except OSError:  # another process holds it
                yield False
                return
        try:
            yield True
        finally:
            if locked_byte:
                fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)
    finally:
        with _held_guard:
            _held.discard(token)


def locked(model: type[M], row_id: Any) -> M | None:
    """The row with this id, locked until the caller's transaction ends and read afresh (not from the session)."""
    query: Any = select(model).where(model.id == row_id)  # type: ignore[attr-defined]
    row: M | None = db.session.scalar(query.with_for_update().execution_options(populate_existing=True))
    return row


def lock(model: type[Any], row_id: Any) -> None:
    """Lock the row until the caller's transaction ends, leaving the session's copy as it is."""
    db.session.execute(select(model.id).where(model.id == row_id).with_for_update())

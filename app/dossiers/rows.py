"""The new rows a step adds (human tasks, history entries), written with one prebuilt INSERT per table.

The ORM's unit of work is general and, for the few plain rows a step adds, most of its cost: ordering the
objects, building their statements, fetching their ids back one state at a time. `insert_new(classes)`
takes the objects of those classes still pending in the session and writes them in one INSERT … RETURNING id per
table, built once (functools.cache) and run with the rows as parameters (executemany, one round trip); the objects
then become persistent with exactly the values written, as if the ORM had inserted them and read them back, so
anything reading them later in the transaction sees no difference. Objects the session flushed meanwhile (an
autoflush) are simply no longer pending: nothing is written twice.

Defaults are the columns' own (a scalar, or the clock's `now_utc` for a timestamp); an attribute never set is
written as SQL NULL, as the ORM leaves it out of its INSERT — for a JSON column too, where a None that was set is
JSON null, as the ORM writes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import JSON, Column, bindparam, insert, inspect, update
from sqlalchemy.orm import ColumnProperty, make_transient, make_transient_to_detached
from sqlalchemy.types import TypeEngine

from app.extensions import db

_UNSET = object()


def _binding(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    """The column's type, except that a JSON column binds None as SQL NULL (JSON.NULL stays JSON null)."""
    if not isinstance(type_, JSON):
        return type_
    bound: TypeEngine[Any] = JSON(none_as_null=True)
    for dialect, variant in getattr(type_, "_variant_mapping", {}).items():
        bound = bound.with_variant(type(variant)(none_as_null=True), dialect)
    return bound


@cache
def _insert(cls: type) -> tuple[Any, tuple[Column[Any], ...]]:
    """The table's INSERT of every column but the key, returning the new ids in the order of the rows given."""
    table = cls.__table__  # type: ignore[attr-defined]
    columns = tuple(c for c in table.c if not c.primary_key)
    statement = (insert(table).values({c.key: bindparam(c.key, type_=_binding(c.type)) for c in columns})
                 .returning(table.c.id, sort_by_parameter_order=True))
    return statement, columns


def _default(column: Column[Any]) -> Any:
    default: Any = column.default
    if default is None:
        return None
    return default.arg(None) if default.is_callable else default.arg  # a callable one takes the (absent) context


def insert_new(classes: Iterable[type]) -> None:
    """Write the session's pending objects of `classes` with one INSERT per class, in the order they were added,
    and make them persistent."""
    session = db.session
    wanted = tuple(classes)
    pending = [obj for obj in session.new if isinstance(obj, wanted)]
    if not pending:
        return
    pending.sort(key=lambda obj: inspect(obj).insert_order)
    for cls in wanted:
        objects = [obj for obj in pending if type(obj) is cls]
        if not objects:
            continue
        statement, columns = _insert(cls)
        rows, kept = [], []
        for obj in objects:
            given = obj.__dict__
            row, values = {}, {}
            for column in columns:
                value = given.get(column.key, _UNSET)
                if value is _UNSET:
                    row[column.key] = values[column.key] = _default(column)
                elif value is None and isinstance(column.type, JSON):
                    row[column.key], values[column.key] = JSON.NULL, None
                else:
                    row[column.key] = values[column.key] = value
            rows.append(row)
            kept.append(values)
        # On the connection, not the session: no autoflush (these are the rows it would write). One row is a plain
        # execution, cheaper than the batched form of several.
        ids = session.connection().execute(statement, rows[0] if len(rows) == 1 else rows).scalars().all()
        for obj, row_id, values in zip(objects, ids, kept, strict=True):
            session.expunge(obj)
            obj.__dict__.update(values, id=row_id)  # transient: plain values, no history to keep
            make_transient_to_detached(obj)  # its values are those of the row: loaded, unchanged
            session.add(obj)


@cache
def _update(cls: Any, keys: tuple[str, ...]) -> Any:
    """The table's UPDATE of these columns of one row (`row_id`), built once per set of columns."""
    table = cls.__table__
    return (update(table).where(table.c.id == bindparam("row_id"))
            .values({key: bindparam(key, type_=table.c[key].type) for key in keys}))


def update_changed(obj: Any) -> None:
    """Write the columns of `obj` changed since it was loaded with one prebuilt UPDATE, as the unit of work would
    (same columns, same values), and leave it unchanged in the session. An object whose changes are not plain
    columns of its table (a relationship, a version counter, its key) is left to the unit of work."""
    session = db.session
    state = inspect(obj)
    if not state.persistent or not state.modified:
        return
    mapper, table = state.mapper, obj.__table__
    if mapper.version_id_col is not None:
        return
    changed = {}
    for key in state.committed_state:
        prop = mapper.attrs.get(key)
        if not isinstance(prop, ColumnProperty) or key not in table.c or prop.columns[0] is not table.c[key]:
            return
        if table.c[key].primary_key:
            return
        if state.attrs[key].history.has_changes():
            changed[key] = state.dict[key]
    if changed:
        statement = _update(obj.__class__, tuple(sorted(changed)))
        session.connection().execute(statement, {**changed, "row_id": state.identity[0]})
    # Unchanged from now on, as after a flush: out of the session and back in as loaded with these values.
    make_transient(obj)
    make_transient_to_detached(obj)
    session.add(obj)

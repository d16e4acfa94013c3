"""The rows a step writes (its history entries, new tasks, the dossier's changed columns), with statements built once.

The ORM's unit of work is general and, for the few plain rows a step writes, most of its cost: ordering the objects,
building their statements, fetching their ids back one state at a time. `write_step(classes, changed)` takes the
objects of those classes still pending in the session and the changed columns of one persistent object, and writes
them: on PostgreSQL in ONE statement (data-modifying CTEs: a multi-row INSERT … RETURNING id per table and the
UPDATE, built once per shape with functools.cache), elsewhere with one INSERT per table (executemany) and one
UPDATE. The objects are then persistent and unchanged with exactly the values written, as if the ORM had written
them and read them back, so anything reading them later in the transaction sees no difference. Objects the session
flushed meanwhile (an autoflush) are simply no longer pending: nothing is written twice.

Defaults are the columns' own (a scalar, or the clock's `now_utc` for a timestamp); an attribute never set is
written as SQL NULL, as the ORM leaves it out of its INSERT — for a JSON column too, where a None that was set is
JSON null, as the ORM writes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import JSON, Column, bindparam, insert, inspect, literal, select, union_all, update
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


@dataclass
class _Inserts:
    cls: Any
    objects: list[Any]
    rows: list[dict[str, Any]]  # as bound (JSON.NULL for a None that was set)
    values: list[dict[str, Any]]  # as the objects hold them afterwards


@dataclass
class _Update:
    obj: Any
    changed: dict[str, Any]


def _pending(classes: Iterable[type]) -> list[_Inserts]:
    session = db.session
    wanted = tuple(classes)
    pending = sorted((obj for obj in session.new if isinstance(obj, wanted)), key=lambda o: inspect(o).insert_order)
    groups = []
    for cls in wanted:
        objects = [obj for obj in pending if type(obj) is cls]
        if not objects:
            continue
        _, columns = _insert(cls)
        group = _Inserts(cls, objects, [], [])
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
            group.rows.append(row)
            group.values.append(values)
        groups.append(group)
    return groups


def _inserted(group: _Inserts, ids: list[int]) -> None:
    session = db.session
    for obj, row_id, values in zip(group.objects, ids, group.values, strict=True):
        session.expunge(obj)
        obj.__dict__.update(values, id=row_id)  # transient: plain values, no history to keep
        make_transient_to_detached(obj)  # its values are those of the row: loaded, unchanged
        session.add(obj)


def _changes(obj: Any) -> _Update | None:
    """What the unit of work would write of `obj`; None when it is not only plain columns of its table (a
    relationship, a version counter, its key): then it is left to the unit of work."""
    state = inspect(obj)
    if not state.persistent or not state.modified:
        return None
    mapper, table = state.mapper, obj.__table__
    if mapper.version_id_col is not None:
        return None
    changed = {}
    for key in state.committed_state:
        prop = mapper.attrs.get(key)
        if not isinstance(prop, ColumnProperty) or key not in table.c or prop.columns[0] is not table.c[key]:
            return None
        if table.c[key].primary_key:
            return None
        if state.attrs[key].history.has_changes():
            changed[key] = state.dict[key]
    return _Update(obj, changed)


def _updated(change: _Update) -> None:
    """Unchanged from now on, as after a flush: out of the session and back in as loaded with these values."""
    session = db.session
    make_transient(change.obj)
    make_transient_to_detached(change.obj)
    session.add(change.obj)


@cache
def _update(cls: Any, keys: tuple[str, ...]) -> Any:
    """The table's UPDATE of these columns of one row (`row_id`), built once per set of columns."""
    table = cls.__table__
    return (update(table).where(table.c.id == bindparam("row_id"))
            .values({key: bindparam(key, type_=table.c[key].type) for key in keys}))


@cache
def _together(inserts: tuple[tuple[Any, int], ...], change: tuple[Any, tuple[str, ...]] | None) -> Any:
    """PostgreSQL: the INSERTs of (class, row count) and the UPDATE of (class, columns) as one statement, data-
    modifying CTEs whose ids come back tagged by their place (the UPDATE's last); built once per shape."""
    tagged = []
    for place, (cls, count) in enumerate(inserts):
        _, columns = _insert(cls)
        table = cls.__table__
        written = (insert(table).values([{c.key: bindparam(f"i{place}_{n}_{c.key}", type_=_binding(c.type))
                                          for c in columns} for n in range(count)])
                   .returning(table.c.id).cte(f"i{place}"))
        tagged.append(select(literal(place).label("place"), written.c.id))
    if change is not None:
        cls, keys = change
        table = cls.__table__
        written = (update(table).where(table.c.id == bindparam("u_row_id"))
                   .values({key: bindparam(f"u_{key}", type_=table.c[key].type) for key in keys})
                   .returning(table.c.id).cte("u"))
        tagged.append(select(literal(len(inserts)).label("place"), written.c.id))
    return union_all(*tagged)


def write_step(classes: Iterable[type], changed: Any = None) -> None:
    """Write the session's pending objects of `classes` (in the order they were added) and the changed columns
    of `changed`, and make them persistent and unchanged, as a flush would. On PostgreSQL in one statement, on
    SQLite with one statement per table."""
    session = db.session
    groups = _pending(classes)
    change = _changes(changed) if changed is not None else None
    if change is not None and not change.changed:
        _updated(change)
        change = None
    if not groups and change is None:
        return
    connection = session.connection()  # not session.execute: no autoflush (these are the rows it would write)
    if connection.dialect.name != "postgresql" or len(groups) + (change is not None) == 1:
        for group in groups:
            statement, _ = _insert(group.cls)
            # One row is a plain execution, cheaper than the batched form of several.
            rows = group.rows[0] if len(group.rows) == 1 else group.rows
            _inserted(group, list(connection.execute(statement, rows).scalars().all()))
        if change is not None:
            statement = _update(change.obj.__class__, tuple(sorted(change.changed)))
            connection.execute(statement, {**change.changed, "row_id": inspect(change.obj).identity[0]})
            _updated(change)
        return
    shape = tuple((group.cls, len(group.rows)) for group in groups)
    keys = tuple(sorted(change.changed)) if change is not None else ()
    params: dict[str, Any] = {}
    for place, group in enumerate(groups):
        for n, row in enumerate(group.rows):
            params.update({f"i{place}_{n}_{key}": value for key, value in row.items()})
    if change is not None:
        params.update({f"u_{key}": value for key, value in change.changed.items()})
        params["u_row_id"] = inspect(change.obj).identity[0]
    written: dict[int, list[int]] = {}
    for place, row_id in connection.execute(
            _together(shape, (change.obj.__class__, keys) if change is not None else None), params):
        written.setdefault(place, []).append(row_id)
    for place, group in enumerate(groups):
        _inserted(group, sorted(written[place]))  # a multi-row VALUES takes its ids from the sequence in row order
    if change is not None:
        if len(written.get(len(groups), [])) != 1:
            raise LookupError(f"{change.obj.__class__.__name__} {inspect(change.obj).identity} is gone")
        _updated(change)


def insert_new(classes: Iterable[type]) -> None:
    """Write the session's pending objects of `classes` with one INSERT per class, in the order they were added,
    and make them persistent."""
    write_step(classes)


def update_changed(obj: Any) -> None:
    """Write the columns of `obj` changed since it was loaded with one prebuilt UPDATE, as the unit of work would
    (same columns, same values), and leave it unchanged in the session. An object whose changes are not plain
    columns of its table is left to the unit of work."""
    write_step((), obj)

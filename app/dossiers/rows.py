"""The rows a step writes (its workflow document, history entries, new tasks, the dossier's changed columns), with
statements built once.

The ORM's unit of work is general and, for the few plain rows a step writes, most of its cost: ordering the objects,
building their statements, fetching their ids back one state at a time. `write_step(classes, *changed)` takes the
objects of those classes still pending in the session and the changed columns of the objects `changed`, and writes
them: on PostgreSQL in ONE statement (data-modifying CTEs, one per new row and one per changed object, built once
per shape with functools.cache), elsewhere with one INSERT per table (executemany) and one UPDATE per object. A row
with a version counter (version_id_col: the workflow document) is written as the unit of work writes it: UPDATE …
WHERE version = the one read, the counter moved on, StaleDataError when another transaction wrote it meanwhile. The
objects are then persistent and unchanged with exactly the values written, as if the ORM had written them and read
them back, so anything reading them later in the transaction sees no difference. Objects the session flushed
meanwhile (an autoflush) are no longer pending: nothing is written twice.

Defaults are the columns' own (a scalar, or the clock's `now_utc` for a timestamp, also for onupdate); an attribute
never set is written as SQL NULL, as the ORM leaves it out of its INSERT — for a JSON column too, where a None that
was set is JSON null, as the ORM writes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import JSON, Column, bindparam, insert, inspect, literal, select, union_all, update
from sqlalchemy.orm import ColumnProperty, make_transient, make_transient_to_detached
from sqlalchemy.orm.exc import StaleDataError
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
    """The table's INSERT of every column but the key, returning the new ids in the order of the rows given
    (executemany)."""
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
    version_key: str | None = None  # the mapper's version counter (version_id_col): the optimistic lock
    old_version: int | None = None

    @property
    def shape(self) -> tuple[Any, tuple[str, ...], bool]:
        return self.obj.__class__, tuple(sorted(self.changed)), self.version_key is not None

    def params(self, prefix: str = "") -> dict[str, Any]:
        out = {f"{prefix}{key}": value for key, value in self.changed.items()}
        out[f"{prefix}row_id"] = inspect(self.obj).identity[0]
        if self.version_key is not None:
            out[f"{prefix}old_version"] = self.old_version
            out[f"{prefix}new_version"] = self.old_version + 1  # type: ignore[operator]
        return out


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
        version: Any = inspect(cls).version_id_col
        group = _Inserts(cls, objects, [], [])
        for obj in objects:
            given = obj.__dict__
            row, values = {}, {}
            for column in columns:
                value = given.get(column.key, _UNSET)
                if value is _UNSET or (value is None and column is version):
                    value = 1 if column is version else _default(column)  # a version counter starts at 1
                    row[column.key] = values[column.key] = value
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
    """What the unit of work would write of `obj`: its changed columns, those set on update (onupdate), and its
    version counter moved on. None when it holds more than plain columns of its table (a relationship, its key, a
    version counter set by hand, an unloaded one): then it is left to the unit of work."""
    state = inspect(obj)
    if not state.persistent or not state.modified:
        return None
    mapper, table = state.mapper, obj.__table__
    change = _Update(obj, {})
    if mapper.version_id_col is not None:
        change.version_key = mapper.get_property_by_column(mapper.version_id_col).key
        change.old_version = state.dict.get(change.version_key)
        if change.old_version is None or change.version_key in state.committed_state:
            return None
    for key in state.committed_state:
        prop = mapper.attrs.get(key)
        if not isinstance(prop, ColumnProperty) or key not in table.c or prop.columns[0] is not table.c[key]:
            return None
        if table.c[key].primary_key:
            return None
        if state.attrs[key].history.has_changes():
            change.changed[key] = state.dict[key]
    if change.changed:
        for column in table.c:
            if column.onupdate is not None and column.key not in change.changed:
                onupdate: Any = column.onupdate
                change.changed[column.key] = onupdate.arg(None) if onupdate.is_callable else onupdate.arg
    return change


def _updated(change: _Update) -> None:
    """Unchanged from now on, as after a flush: out of the session and back in as loaded with these values."""
    session = db.session
    obj = change.obj
    make_transient(obj)
    obj.__dict__.update(change.changed)
    if change.version_key is not None and change.changed:
        obj.__dict__[change.version_key] = change.old_version + 1  # type: ignore[operator]
    make_transient_to_detached(obj)
    session.add(obj)


def _stale(change: _Update) -> StaleDataError:
    return StaleDataError(f"{change.obj.__class__.__name__} {inspect(change.obj).identity}: version "
                          f"{change.old_version} was written by another transaction")


@cache
def _update(cls: Any, keys: tuple[str, ...], versioned: bool, prefix: str = "") -> Any:
    """The table's UPDATE of these columns of one row (`row_id`), under its version counter if `versioned`
    (`old_version` → `new_version`); built once per set of columns."""
    table = cls.__table__
    statement = update(table).where(table.c.id == bindparam(f"{prefix}row_id"))
    values = {key: bindparam(f"{prefix}{key}", type_=table.c[key].type) for key in keys}
    if versioned:
        version: Any = inspect(cls).version_id_col
        statement = statement.where(version == bindparam(f"{prefix}old_version"))
        values[version.key] = bindparam(f"{prefix}new_version")
    return statement.values(values)


@cache
def _together(inserts: tuple[tuple[Any, int], ...], updates: tuple[tuple[Any, tuple[str, ...], bool], ...]) -> Any:
    """PostgreSQL: the INSERTs of (class, row count) and the UPDATEs of (class, columns, versioned) as one statement,
    data-modifying CTEs (one per row: a multi-row VALUES would make the statement uncacheable, compiled every time)
    whose ids come back tagged by place and row (the UPDATEs after the INSERTs); built once per shape."""
    tagged = []
    for place, (cls, count) in enumerate(inserts):
        _, columns = _insert(cls)
        table = cls.__table__
        for n in range(count):
            written = (insert(table).values({c.key: bindparam(f"i{place}_{n}_{c.key}", type_=_binding(c.type))
                                             for c in columns})
                       .returning(table.c.id).cte(f"i{place}_{n}"))
            tagged.append(select(literal(place).label("place"), literal(n).label("n"), written.c.id))
    for place, (cls, keys, versioned) in enumerate(updates, start=len(inserts)):
        written = _update(cls, keys, versioned, f"u{place}_").returning(cls.__table__.c.id).cte(f"u{place}")
        tagged.append(select(literal(place).label("place"), literal(0).label("n"), written.c.id))
    return union_all(*tagged)


def write_step(classes: Iterable[type], *changed: Any) -> None:
    """Write the session's pending objects of `classes` (in the order they were added) and the changed columns
    of the objects `changed`, and make them persistent and unchanged, as a flush would (StaleDataError when an
    object's version counter shows another transaction wrote its row since it was read). On PostgreSQL in one
    statement, elsewhere with one statement per table and object."""
    session = db.session
    groups = _pending(classes)
    changes = []
    for obj in changed:
        change = _changes(obj)
        if change is None:
            continue  # nothing changed, or not for this writer: the unit of work writes it
        if change.changed:
            changes.append(change)
        else:
            _updated(change)
    if not groups and not changes:
        return
    connection = session.connection()  # not session.execute: no autoflush (these are the rows it would write)
    if connection.dialect.name != "postgresql" or len(groups) + len(changes) == 1:
        for group in groups:
            statement, _ = _insert(group.cls)
            # One row is a plain execution, cheaper than the batched form of several.
            rows = group.rows[0] if len(group.rows) == 1 else group.rows
            _inserted(group, list(connection.execute(statement, rows).scalars().all()))
        for change in changes:
            if connection.execute(_update(*change.shape), change.params()).rowcount != 1:
                raise _stale(change)
            _updated(change)
        return
    params: dict[str, Any] = {}
    for place, group in enumerate(groups):
        for n, row in enumerate(group.rows):
            params.update({f"i{place}_{n}_{key}": value for key, value in row.items()})
    for place, change in enumerate(changes, start=len(groups)):
        params.update(change.params(f"u{place}_"))
    statement = _together(tuple((group.cls, len(group.rows)) for group in groups),
                          tuple(change.shape for change in changes))
    written = {(place, n): row_id for place, n, row_id in connection.execute(statement, params)}
    for place, change in enumerate(changes, start=len(groups)):
        if (place, 0) not in written:
            raise _stale(change)
    for place, group in enumerate(groups):
        _inserted(group, [written[place, n] for n in range(len(group.rows))])
    for change in changes:
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

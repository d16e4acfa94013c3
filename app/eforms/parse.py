"""Flat HTML form fields back into nested JSON, typed by the schema.

What the browser posts is not what the person meant in three ways this module corrects:
- every text box is posted, filled or not: an empty string means "not given" (the key is left out), and an
  optional group nobody touched (only blanks, unticked boxes, untouched defaults) is left out entirely, so
  its inner required fields do not fire; a required group is kept (possibly {}) so that they do;
- an unticked checkbox is not posted at all: it is False;
- numbers arrive as text: an unparseable one is kept as the raw string so validation reports it in
  Vietnamese instead of the value silently disappearing.
Repeatable groups keep trailing blank items only while an add/remove button is being answered, so the
item count the person sees survives the round trip.

An index or an item count in a POST is only a number someone typed: a group never grows past its schema's
maxItems (or the platform's cap when it declares none), and an add/remove press is answered only when it
names an item or a group that exists and has room (`check_action`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from flask_babel import gettext, lazy_gettext, ngettext

from app.eforms.schema import (
    DEFAULT_MAX_ITEMS,
    MISSING,
    Field,
    child_path,
    describe_root,
    join_path,
    split_path,
)

__all__ = ["check_action", "form_actions", "parse_form"]

# A werkzeug MultiDict, or a plain mapping of name → list of strings (or → one string).
FormLike = Any

INVALID_ACTION = lazy_gettext("Thao tác thêm hoặc xóa mục không hợp lệ; vui lòng dùng các nút trên biểu mẫu.")
_TRUE = frozenset({"true", "on", "1", "yes", "co", "có"})
_DATETIME_LOCAL = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2}(?:\.\d+)?)?")
_ACTION_PATH = re.compile(r"[^.\[\]\s]+(?:\[\d+\]|\.[^.\[\]\s]+)*")


class _Reader:
    def __init__(self, form: FormLike, prefix: str) -> None:
        self.form = form
        self.prefix = prefix
        self.keys = [str(k) for k in form]

    def getlist(self, path: str) -> list[str]:
        name = self.prefix + path
        if hasattr(self.form, "getlist"):
            values = list(self.form.getlist(name))
        else:
            raw = self.form.get(name)
            values = list(raw) if isinstance(raw, list | tuple) else ([] if raw is None else [raw])
        return [v for v in values if isinstance(v, str)]

    def first(self, path: str) -> str | None:
        for value in self.getlist(path):
            if value.strip():
                return value
        return None

    def indices(self, path: str, limit: int) -> set[int]:
        """Item indices posted for a group, below `limit` (a longer digit string cannot be one of them)."""
        pattern = re.compile(re.escape(self.prefix + path) + rf"\[(\d{{1,{len(str(limit))}}})\]")
        return {i for key in self.keys if (m := pattern.match(key)) and (i := int(m.group(1))) < limit}


def _clean_text(raw: str) -> str:
    # NFC: a Vietnamese name typed on some systems arrives decomposed and would not match the registry's.
    return unicodedata.normalize("NFC", raw.replace("\r\n", "\n").replace("\r", "\n")).strip()


def _to_number(text: str, integer: bool) -> Any:
    candidate = text.replace(" ", "")
    if "," in candidate and "." not in candidate:
        candidate = candidate.replace(",", ".")  # Vietnamese decimal comma
    try:
        return int(candidate)
    except ValueError:
        pass
    try:
        number = float(candidate)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text
    if number.is_integer() and integer:
        return int(number)
    return number


def _to_datetime(text: str) -> str:
    """datetime-local posts `2026-11-23T08:00`; RFC 3339 (format date-time) needs seconds and an offset."""
    match = _DATETIME_LOCAL.fullmatch(text)
    if not match:
        return text
    day, minutes, seconds = match.groups()
    return f"{day}T{minutes}{seconds or ':00'}+07:00"


def _convert(f: Field, raw: str) -> Any:
    text = _clean_text(raw)
    if f.kind in ("integer", "number"):
        return _to_number(text, f.kind == "integer")
    if f.kind == "boolean":
        return {"true": True, "false": False}.get(text.lower(), text)
    if f.kind == "string" and f.node.get("format") == "date-time":
        return _to_datetime(text)
    return text


class _Parser:
    def __init__(self, reader: _Reader, keep_all: bool, max_items: int) -> None:
        self.reader = reader
        self.keep_all = keep_all
        self.max_items = max_items
        self.files: list[str] = []

    def field(self, f: Field, path: str, required: bool) -> tuple[Any, bool]:
        """(value or MISSING, whether the person entered anything in it)."""
        if f.kind == "object":
            return self.object(f, path, required)
        if f.kind == "array":
            return self.array(f, path, required)
        if f.kind == "multi":
            item = f.item()
            chosen = [_convert(item, v) for v in self.reader.getlist(path) if v.strip()]
            if not chosen:
                return MISSING, False
            return chosen, chosen != f.default
        if f.kind == "file":
            self.files.append(path)
        if f.kind == "boolean" and f.widget not in ("radio", "select") and not f.hidden:
            ticked = any(v.strip().lower() in _TRUE for v in self.reader.getlist(path))
            return ticked, ticked != (f.default is True)
        raw = self.reader.first(path)
        if raw is None:
            return MISSING, False
        value = _convert(f, raw)
        if value == "":
            return MISSING, False
        return value, not f.hidden and value != f.default

    def object(self, f: Field, path: str, required: bool) -> tuple[Any, bool]:
        out: dict[str, Any] = {}
        touched = False
        for name, sub, sub_required in f.children():
            value, sub_touched = self.field(sub, child_path(path, name), sub_required)
            touched = touched or sub_touched
            if value is not MISSING:
                out[name] = value
        if not (touched or required or self.keep_all or path == ""):
            return MISSING, False
        return out, touched

    def array(self, f: Field, path: str, required: bool) -> tuple[Any, bool]:
        item = f.item()
        limit = f.item_limit(self.max_items)
        count = 0
        for raw in self.reader.getlist(path + ".__count__"):
            text = raw.strip()
            if text.isdigit() and len(text) <= len(str(limit)):
                count = int(text)
        indices = self.reader.indices(path, limit)
        size = min(max(count, max(indices) + 1 if indices else 0), limit)
        items: list[Any] = []
        touched: list[bool] = []
        for i in range(size):
            value, item_touched = self.field(item, child_path(path, i), True)
            items.append(None if value is MISSING else value)
            touched.append(item_touched)
        if not self.keep_all:
            while items and len(items) > f.min_items and not touched[-1]:
                items.pop()
                touched.pop()
            if not any(touched) and not required:
                return MISSING, False
        if not items:
            return MISSING, False
        return items, any(touched)


def parse_form(schema: Mapping[str, Any], form: FormLike, *, prefix: str = "",
               ui: Mapping[str, Any] | None = None,
               max_items: int = DEFAULT_MAX_ITEMS) -> tuple[dict[str, Any], list[str]]:
    """(nested data, paths of the file fields on the form).

    File inputs are not part of `form`: for each returned path the caller reads the upload named
    `prefix + path`, stores it and puts its reference string at that path. A file already attached is
    posted back by a hidden input of the same name and is read here like any text value. Pass the form's
    `ui` hints when they change how a field is read (`ui:widget` file, hidden, radio). `max_items` bounds a
    repeatable group whose schema has no maxItems.
    """
    root = describe_root(schema, ui)
    parser = _Parser(_Reader(form, prefix), keep_all=bool(form_actions(form, prefix=prefix)), max_items=max_items)
    data, _ = parser.object(root, "", True)
    return dict(data), parser.files


def form_actions(form: FormLike, *, prefix: str = "") -> dict[str, str]:
    """{"add": "con"} or {"remove": "con[1]"} when an add/remove button of a repeatable group was pressed.

    The caller answers by changing the item count and re-rendering, without validating or saving.
    """
    reader = _Reader(form, "")
    for button, action in (("__add__", "add"), ("__remove__", "remove")):
        for raw in reader.getlist(button):
            value = raw.strip()
            if not value.startswith(prefix):
                continue  # a button of another form on the same page
            path = value[len(prefix):]
            if _ACTION_PATH.fullmatch(path):
                return {action: path}
    return {}


def check_action(schema: Mapping[str, Any], data: Any, action: Mapping[str, str], *,
                 ui: Mapping[str, Any] | None = None, max_items: int = DEFAULT_MAX_ITEMS) -> tuple[str, str] | None:
    """None when an add/remove press (from `form_actions`) may be answered on the parsed `data`; otherwise
    (field path, Vietnamese message) to show instead.

    "add" must name a repeatable group that has room for one more item; "remove" an item that exists. Every
    index on the way must name an existing item, so answering the press never builds a list.
    """
    if not action:
        return None
    kind, path = next(iter(action.items()))
    parts = split_path(path)
    if not parts or join_path(parts) != path or kind not in ("add", "remove"):
        return "", str(INVALID_ACTION)
    f: Field | None = describe_root(schema, ui)
    value: Any = data
    for part in parts:
        if f is None:
            return "", str(INVALID_ACTION)
        if isinstance(part, str):
            if f.kind != "object":
                return "", str(INVALID_ACTION)
            f = f.child(part)
            value = value.get(part, MISSING) if isinstance(value, Mapping) else MISSING
        else:
            if f.kind != "array" or part >= f.item_limit(max_items):
                return "", str(INVALID_ACTION)
            if not isinstance(value, list) or part >= len(value):
                return "", str(INVALID_ACTION)
            f, value = f.item(), value[part]
    if f is None:
        return "", str(INVALID_ACTION)
    if kind == "remove":
        return None if isinstance(parts[-1], int) else ("", str(INVALID_ACTION))
    if f.kind != "array":
        return "", str(INVALID_ACTION)
    limit = f.item_limit(max_items)
    if len(value if isinstance(value, list) else []) >= limit:
        return path, ngettext("%(field)s: tối đa %(num)s mục.", "%(field)s: tối đa %(num)s mục.", limit,
                              field=f.title or f.item().title or gettext("Danh sách"))
    return None

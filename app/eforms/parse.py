"""Flat HTML form fields back into nested JSON, typed by the schema.

Unparseable numbers are kept as the raw string, so validation reports them in Vietnamese instead of the
value silently disappearing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from app.eforms.render import is_file
from app.eforms.schema import field_type

# A werkzeug MultiDict or anything with get(), getlist() and keys().
FormLike = Any


def _scalar(node: Mapping[str, Any], raw: str) -> Any:
    kind = field_type(node)
    text = raw.strip()
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            return text
    if kind == "number":
        try:
            number = float(text.replace(",", "."))
        except ValueError:
            return text
        return int(number) if number.is_integer() and "." not in text and "," not in text else number
    return raw.strip() if kind == "string" else raw


def parse_form(schema: Mapping[str, Any], form: FormLike, *, prefix: str = "") -> tuple[dict[str, Any], list[str]]:
    """(data, file-field paths present in the schema)."""
    files: list[str] = []
    keys = list(form.keys())

    def obj(node: Mapping[str, Any], ui_path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        required = set(node.get("required") or [])
        for name, child in (node.get("properties") or {}).items():
            if not isinstance(child, Mapping):
                continue
            path = f"{ui_path}.{name}" if ui_path else name
            value = field(child, path)
            if value is None:
                continue
            if isinstance(value, dict) and not value and name not in required:
                continue
            out[name] = value
        return out

    def field(node: Mapping[str, Any], path: str) -> Any:
        kind = field_type(node)
        if kind == "object":
            return obj(node, path)
        if kind == "array":
            items = node.get("items") if isinstance(node.get("items"), Mapping) else {}
            assert isinstance(items, Mapping)
            if field_type(items) == "object":
                pattern = re.compile(re.escape(path) + r"\[(\d+)\]")
                indices = sorted({int(m.group(1)) for k in keys if (m := pattern.match(k))})
                values = [obj(items, f"{path}[{i}]") for i in indices]
                return [v for v in values if v] or None
            chosen = [_scalar(items, v) for v in form.getlist(path) if v != ""]
            return chosen or None
        if kind == "boolean":
            return form.get(path) in ("true", "on", "1")
        if is_file(node, {}):
            files.append(path)
        raw = form.get(path)
        if raw is None or str(raw).strip() == "":
            return None
        return _scalar(node, str(raw))

    return obj(schema, prefix), files


def form_actions(form: FormLike) -> dict[str, str]:
    """A press of "add item" / "remove item" in a repeatable group: re-render, do not validate."""
    if form.get("__add__"):
        return {"add": str(form.get("__add__"))}
    if form.get("__remove__"):
        return {"remove": str(form.get("__remove__"))}
    return {}

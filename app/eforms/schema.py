"""Form schema checks and the field-path convention shared by rendering, parsing and validation.

A field path is dotted for objects and `[i]` for array items (`con[0].ho_ten`); the API speaks JSON
pointers (`/con/0/ho_ten`). Both name the same field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

SUPPORTED_TYPES = {"string", "number", "integer", "boolean", "object", "array"}
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def path_to_pointer(path: str) -> str:
    if not path:
        return ""
    parts = [name if name else index for name, index in _PART.findall(path)]
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def pointer_to_path(pointer: str) -> str:
    out = ""
    for raw in pointer.lstrip("/").split("/") if pointer else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _pointer(parts: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def field_type(node: Mapping[str, Any]) -> str | None:
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None and ("enum" in node or "oneOf" in node or "const" in node):
        return "string"
    return kind if isinstance(kind, str) else None


def _walk(node: Any, pointer: str) -> Iterator[tuple[str, str]]:
    if not isinstance(node, Mapping):
        return
    kind = field_type(node)
    if kind is not None and kind not in SUPPORTED_TYPES:
        yield pointer + "/type", f"Kiểu dữ liệu «{kind}» chưa được hỗ trợ trong biểu mẫu."
    for name, child in (node.get("properties") or {}).items():
        yield from _walk(child, f"{pointer}/properties/{name}")
    if kind == "array":
        items = node.get("items")
        if not isinstance(items, Mapping):
            yield pointer + "/items", "Trường danh sách phải khai báo «items» là một lược đồ."
        else:
            yield from _walk(items, pointer + "/items")


def check_form_schema(schema: Any) -> list[tuple[str, str]]:
    """[(JSON pointer, Vietnamese message)]; empty when the form can be rendered and validated."""
    if not isinstance(schema, Mapping):
        return [("", "Biểu mẫu phải là một đối tượng JSON Schema.")]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return [(_pointer(exc.absolute_path), f"Lược đồ JSON Schema không hợp lệ: {exc.message}")]
    problems: list[tuple[str, str]] = []
    if field_type(schema) != "object" or not isinstance(schema.get("properties"), Mapping):
        problems.append(("", "Biểu mẫu phải có «type»: «object» và danh sách «properties»."))
    problems += list(_walk(schema, ""))
    return problems

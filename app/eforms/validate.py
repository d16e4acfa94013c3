"""Server-side validation of form data with one Vietnamese message per field."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from app.eforms.schema import pointer_to_path

_TYPES = {"string": "chuỗi ký tự", "integer": "số nguyên", "number": "số", "boolean": "có/không",
          "object": "nhóm thông tin", "array": "danh sách", "null": "rỗng"}
_FORMATS = {"date": "Ngày không hợp lệ (định dạng YYYY-MM-DD).", "email": "Địa chỉ email không hợp lệ.",
            "date-time": "Thời điểm không hợp lệ.", "time": "Giờ không hợp lệ.", "uri": "Địa chỉ web không hợp lệ."}


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Draft202012Validator:
    import json

    return Draft202012Validator(json.loads(schema_json), format_checker=FormatChecker())


def _title(node: Any, fallback: str) -> str:
    if isinstance(node, Mapping) and node.get("title"):
        return str(node["title"])
    return fallback


def _message(err: ValidationError) -> tuple[list[Any], str]:
    path = list(err.absolute_path)
    node = err.schema if isinstance(err.schema, Mapping) else {}
    name = _title(node, str(path[-1]) if path else "trường này")
    kind, expected = err.validator, err.validator_value
    if kind == "required":
        missing = err.message.split("'")[1] if "'" in err.message else ""
        child = (node.get("properties") or {}).get(missing, {})
        return path + [missing], f"Vui lòng nhập {_title(child, missing)}."
    if kind == "type":
        wanted = expected if isinstance(expected, str) else next(iter(expected), "")
        return path, f"{name}: phải là {_TYPES.get(wanted, wanted)}."
    if kind == "minLength":
        return path, f"{name}: cần ít nhất {expected} ký tự." if expected > 1 else f"Vui lòng nhập {name}."
    if kind == "maxLength":
        return path, f"{name}: tối đa {expected} ký tự."
    if kind in ("minimum", "exclusiveMinimum"):
        return path, f"{name}: phải {'lớn hơn hoặc bằng' if kind == 'minimum' else 'lớn hơn'} {expected}."
    if kind in ("maximum", "exclusiveMaximum"):
        return path, f"{name}: phải {'nhỏ hơn hoặc bằng' if kind == 'maximum' else 'nhỏ hơn'} {expected}."
    if kind == "pattern":
        custom = node.get("x-pattern-message") or node.get("errorMessage")
        return path, str(custom) if custom else f"{name}: không đúng định dạng."
    if kind == "format":
        return path, f"{name}: {_FORMATS.get(str(expected), 'không đúng định dạng.')}"
    if kind in ("enum", "const", "oneOf", "anyOf"):
        return path, f"{name}: giá trị không nằm trong danh sách cho phép."
    if kind == "minItems":
        return path, f"{name}: cần ít nhất {expected} mục."
    if kind == "maxItems":
        return path, f"{name}: tối đa {expected} mục."
    if kind == "additionalProperties":
        return path, "Có trường không thuộc biểu mẫu."
    return path, f"{name}: giá trị không hợp lệ."


def _path(parts: list[Any]) -> str:
    return pointer_to_path("".join("/" + str(p) for p in parts)) if parts else ""


def validate_data(schema: Mapping[str, Any], data: Any) -> dict[str, str]:
    """{field path: message}; "" for the root. The first (shallowest) message of a field wins."""
    import json

    validator = _validator(json.dumps(schema, sort_keys=True))
    errors: dict[str, str] = {}
    for err in sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), str(e.absolute_path))):
        if err.validator in ("if", "then", "allOf") and err.context:
            continue
        parts, message = _message(err)
        errors.setdefault(_path(parts), message)
    return errors

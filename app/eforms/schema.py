"""The shape of an eForm: which JSON Schema constructs the renderer, the parser and the validator understand.

Rendering, parsing and validation must agree on one reading of a schema (which node is a checkbox group,
which is a repeatable group, which is a file), otherwise a form could render a field the parser never reads
back. `describe` is that single reading; `check_form_schema` runs it over a whole form at deploy time so
that an unsupported construct is refused with its JSON pointer instead of breaking a citizen's page.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext
from jsonschema import Draft202012Validator, FormatChecker

from app.eforms.regex import pattern_problem

__all__ = [
    "DEFAULT_MAX_ITEMS",
    "MAX_ITEMS_CEILING",
    "MISSING",
    "Field",
    "FormSchemaError",
    "check_form_schema",
    "child_path",
    "describe",
    "describe_root",
    "display_scalar",
    "form_defaults",
    "field_id",
    "join_path",
    "options_of",
    "path_to_pointer",
    "pointer_to_path",
    "resolve_ref",
    "split_path",
]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCALAR_KINDS = frozenset({"string", "integer", "number", "boolean", "file"})
MAX_DEPTH = 12
# A repeatable group without its own maxItems holds at most this many items (the platform setting
# FORM_MAX_ITEMS overrides it); no form may declare more than the ceiling. Whatever a request says, no list
# is built longer than these: an index or an item count is only a number in a POST.
DEFAULT_MAX_ITEMS = 100
MAX_ITEMS_CEILING = 1000


class _Missing:
    """Marks "no value posted", which differs from None, "" and False."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


class FormSchemaError(Exception):
    """A form schema uses something this package cannot render; `pointer` locates it in the schema file."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(f"{pointer or '/'}: {message}")
        self.pointer = pointer
        self.message = message


# ---------------------------------------------------------------- paths

_PATH_TOKEN = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")


def split_path(path: str) -> list[str | int]:
    """`con[0].ho_ten` → ["con", 0, "ho_ten"]."""
    parts: list[str | int] = []
    for match in _PATH_TOKEN.finditer(path):
        index, name = match.groups()
        parts.append(int(index) if index is not None else name)
    return parts


def join_path(parts: Iterable[str | int]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def child_path(path: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{path}[{name}]"
    return f"{path}.{name}" if path else name


def path_to_pointer(path: str) -> str:
    """`con[0].ho_ten` → `/con/0/ho_ten` (RFC 6901 escaping); the root path "" is the root pointer ""."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in split_path(path))


def pointer_to_path(pointer: str) -> str:
    """`/con/0/ho_ten` → `con[0].ho_ten`; an all-digit segment is read as an array index."""
    if not pointer or pointer == "/":
        return ""
    parts: list[str | int] = []
    for raw in pointer.lstrip("/").split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        parts.append(int(token) if token.isdigit() else token)
    return join_path(parts)


def resolve_pointer(data: Any, pointer: str | None) -> Any:
    """The value a JSON pointer names in the data, or None when any step is missing."""
    if not pointer:
        return None
    node = data
    for raw in pointer.lstrip("/").split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def field_id(path: str, prefix: str = "") -> str:
    """The HTML id of a field: "f-" + the (prefixed) path, every character other than A-Z, a-z, 0-9 and "_"
    replaced by "-" (`con[0].ho_ten` → `f-con-0--ho_ten`); page templates build error links the same way."""
    return "f-" + re.sub(r"[^A-Za-z0-9_]", "-", prefix + path)


def _pointer(*parts: str | int) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


# ---------------------------------------------------------------- reading a schema node


def resolve_ref(node: Mapping[str, Any], root: Mapping[str, Any], pointer: str = "") -> Mapping[str, Any]:
    """Follow local `$ref`s; keywords next to a `$ref` (title, description …) win over the target's."""
    seen = 0
    while "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str) or (not ref.startswith("#/") and ref != "#"):
            raise FormSchemaError(pointer + "/$ref", gettext("Chỉ hỗ trợ $ref nội bộ dạng “#/$defs/…”, không phải "
                                                             "“%(ref)s”.",
                                                             ref=ref))
        target: Any = root
        for raw in ref[2:].split("/") if ref != "#" else []:
            token = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(target, Mapping) and token in target:
                target = target[token]
            elif isinstance(target, list) and token.isdigit() and int(token) < len(target):
                target = target[int(token)]
            else:
                raise FormSchemaError(pointer + "/$ref", gettext("Không tìm thấy đích của $ref “%(ref)s”.", ref=ref))
        if not isinstance(target, Mapping):
            raise FormSchemaError(pointer + "/$ref",
                                  gettext("Đích của $ref “%(ref)s” không phải một lược đồ.", ref=ref))
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        seen += 1
        if seen > MAX_DEPTH:
            raise FormSchemaError(pointer + "/$ref", gettext("Chuỗi $ref lặp vòng."))
    return node


def options_of(node: Mapping[str, Any], ui: Mapping[str, Any] | None = None) -> list[tuple[Any, str]] | None:
    """Labelled choices of an enum-like node: `enum` (+ enumNames) or `oneOf`/`anyOf` of `const` + `title`."""
    if isinstance(node.get("enum"), list):
        values = list(node["enum"])
        names = ((ui or {}).get("ui:enumNames") or node.get("x-enumNames") or node.get("x-enum-titles")
                 or node.get("enumNames"))
        labels = [str(n) for n in names] if isinstance(names, list) and len(names) == len(values) else None
        return [(v, labels[i] if labels else display_scalar(v)) for i, v in enumerate(values)]
    for key in ("oneOf", "anyOf"):
        alternatives = node.get(key)
        if isinstance(alternatives, list) and alternatives and all(
            isinstance(a, Mapping) and "const" in a for a in alternatives
        ):
            return [(a["const"], str(a.get("title", display_scalar(a["const"])))) for a in alternatives]
    return None


def display_scalar(value: Any) -> str:
    if value is True:
        return gettext("Có")
    if value is False:
        return gettext("Không")
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _declared_types(node: Mapping[str, Any], options: list[tuple[Any, str]] | None) -> set[str]:
    declared = node.get("type")
    if isinstance(declared, str):
        types = {declared}
    elif isinstance(declared, list):
        types = {t for t in declared if isinstance(t, str)}
    else:
        types = set()
        values = [v for v, _ in options] if options else ([node["const"]] if "const" in node else [])
        if values:
            if all(isinstance(v, bool) for v in values):
                types = {"boolean"}
            elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                types = {"integer"}
            elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                types = {"number"}
            elif all(isinstance(v, str) for v in values):
                types = {"string"}
        elif "properties" in node:
            types = {"object"}
        elif "items" in node:
            types = {"array"}
        elif any(k in node for k in ("format", "pattern", "minLength", "maxLength", "contentMediaType")):
            types = {"string"}
    if types != {"null"}:
        types.discard("null")
    if types == {"integer", "number"}:
        types = {"number"}
    return types


@dataclass(frozen=True)
class Field:
    """One node of a form, resolved and classified.

    kind is one of: object, array (repeatable group), multi (checkbox group of choices), file, string,
    integer, number, boolean.
    """

    kind: str
    node: Mapping[str, Any]
    ui: Mapping[str, Any]
    pointer: str
    root: Mapping[str, Any] = field(repr=False, compare=False)
    options: list[tuple[Any, str]] | None = None
    depth: int = 0

    @property
    def title(self) -> str:
        return str(self.ui.get("ui:title") or self.node.get("title") or "")

    @property
    def description(self) -> str:
        return str(self.ui.get("ui:description") or self.node.get("description") or "")

    @property
    def widget(self) -> str | None:
        widget = self.ui.get("ui:widget")
        return str(widget) if widget else None

    @property
    def default(self) -> Any:
        return self.node.get("default", MISSING)

    @property
    def hidden(self) -> bool:
        return self.widget == "hidden"

    def required_names(self) -> set[str]:
        names = self.node.get("required")
        return {n for n in names if isinstance(n, str)} if isinstance(names, list) else set()

    def children(self) -> list[tuple[str, Field, bool]]:
        """(name, field, required) in display order (`ui:order`, `*` standing for the rest)."""
        props = self.node.get("properties")
        if not isinstance(props, Mapping):
            return []
        required = self.required_names()
        out = []
        for name in ordered(list(props), self.ui.get("ui:order")):
            sub_ui = self.ui.get(name)
            out.append((name, describe(props[name], sub_ui if isinstance(sub_ui, Mapping) else {}, self.root,
                                       f"{self.pointer}/properties/{_pointer(name)[1:]}", self.depth + 1),
                        name in required))
        return out

    def item(self) -> Field:
        items_ui = self.ui.get("items")
        return describe(self.node.get("items", {}), items_ui if isinstance(items_ui, Mapping) else {}, self.root,
                        f"{self.pointer}/items", self.depth + 1)

    @property
    def min_items(self) -> int:
        value = self.node.get("minItems", 0)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    @property
    def max_items(self) -> int | None:
        value = self.node.get("maxItems")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def item_limit(self, cap: int = DEFAULT_MAX_ITEMS) -> int:
        """How many items this repeatable group may hold: its own maxItems, else the platform's cap (never
        below its minItems, so the form can still be filled in)."""
        declared = self.max_items
        limit = declared if declared is not None else max(cap, self.min_items)
        return max(0, min(limit, MAX_ITEMS_CEILING))

    def child(self, name: str) -> Field | None:
        """The field `name` of an object, or None when the schema does not declare it."""
        for child_name, sub, _ in self.children():
            if child_name == name:
                return sub
        return None


def ordered(names: Sequence[str], order: Any) -> list[str]:
    if not isinstance(order, list) or not order:
        return list(names)
    listed = [n for n in order if n in names or n == "*"]
    rest = [n for n in names if n not in listed]
    if "*" not in listed:
        return listed + rest
    star = listed.index("*")
    return listed[:star] + rest + listed[star + 1:]


def describe(node: Any, ui: Mapping[str, Any] | None, root: Mapping[str, Any], pointer: str = "",
             depth: int = 0) -> Field:
    """Classify one schema node for rendering; raises FormSchemaError for what cannot be rendered."""
    if depth > MAX_DEPTH:
        raise FormSchemaError(pointer, gettext("Biểu mẫu lồng nhau quá sâu (hoặc $ref đệ quy)."))
    if not isinstance(node, Mapping):
        raise FormSchemaError(pointer, gettext("Mỗi trường phải là một lược đồ dạng đối tượng JSON."))
    ui = ui or {}
    node = resolve_ref(node, root, pointer)
    options = options_of(node, ui)
    types = _declared_types(node, options)
    name = node.get("title") or pointer.rsplit("/", 1)[-1] or gettext("biểu mẫu")
    if not types:
        raise FormSchemaError(pointer, gettext("Trường “%(name)s” không khai báo kiểu (type).", name=name))
    if len(types) > 1:
        raise FormSchemaError(pointer + "/type", gettext("Trường “%(name)s” khai báo nhiều kiểu (%(items)s); trình "
                                                         "hiển thị chỉ hỗ trợ một kiểu (có thể kèm null).",
                                                         name=name, items=', '.join(sorted(types))))
    kind = types.pop()
    widget = ui.get("ui:widget")
    if kind == "object":
        props = node.get("properties")
        if not isinstance(props, Mapping) or not props:
            raise FormSchemaError(pointer, gettext("Nhóm “%(name)s” phải khai báo các trường con trong “properties”.",
                                                   name=name))
        return Field("object", node, ui, pointer, root, None, depth)
    if kind == "array":
        if "prefixItems" in node or not isinstance(node.get("items"), Mapping):
            raise FormSchemaError(pointer, gettext("Danh sách “%(name)s” phải khai báo “items” là một lược đồ.",
                                                   name=name))
        array = Field("array", node, ui, pointer, root, None, depth)
        item = array.item()
        if item.options is not None and item.kind in {"string", "integer", "number"}:
            return Field("multi", node, ui, pointer, root, item.options, depth)
        if item.kind in {"array", "multi"}:
            raise FormSchemaError(pointer + "/items", gettext("Danh sách “%(name)s” không được chứa danh sách lồng "
                                                              "trực tiếp.",
                                                              name=name))
        return array
    if kind == "string":
        if widget == "file" or "contentMediaType" in node:
            return Field("file", node, ui, pointer, root, None, depth)
        return Field("string", node, ui, pointer, root, options, depth)
    if kind in {"integer", "number", "boolean"}:
        return Field(kind, node, ui, pointer, root, options, depth)
    raise FormSchemaError(pointer + "/type", gettext("Trường “%(name)s” dùng kiểu “%(kind)s” mà biểu mẫu chưa hỗ trợ.",
                                                     name=name, kind=kind))


def form_defaults(schema: Any, ui: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The data a form starts with: every field's `default`, nested as the form nests them (groups without
    any default are left out)."""

    def of(f: Field) -> dict[str, Any]:
        out: dict[str, Any] = copy.deepcopy(f.default) if isinstance(f.default, dict) else {}
        for name, sub, _ in f.children():
            if sub.kind == "object":
                inner = of(sub)
                if inner:
                    out[name] = inner
            elif sub.default is not MISSING:
                out[name] = copy.deepcopy(sub.default)
        return out

    return of(describe_root(schema, ui))


def describe_root(schema: Any, ui: Mapping[str, Any] | None = None) -> Field:
    if not isinstance(schema, Mapping):
        raise FormSchemaError("", gettext("Biểu mẫu phải là một đối tượng JSON Schema."))
    root = describe(schema, ui or {}, schema, "")
    if root.kind != "object":
        raise FormSchemaError("/type", gettext("Gốc của biểu mẫu phải có kiểu “object”."))
    return root


# ---------------------------------------------------------------- checking a form at deploy time

_SIMPLE_TYPES = "string, number, integer, boolean, object, array, null"


# The meta-schema declares `pattern` values and `patternProperties` names `format: regex`: here that means a
# regular expression the platform runs (RE2, linear time, bounded length), not one Python's `re` compiles.
_META_FORMATS = FormatChecker()
_META_FORMATS.checks("regex")(lambda instance: pattern_problem(instance) is None)


def _meta_message(error: Any) -> str:
    keyword = error.absolute_path[-1] if error.absolute_path else ""
    if keyword == "type":
        return gettext("Kiểu %(instance)s không hợp lệ; dùng một trong: %(types)s.",
                       instance=repr(error.instance), types=_SIMPLE_TYPES)
    if error.validator == "format" and error.validator_value == "regex":
        return pattern_problem(error.instance) or gettext("Biểu thức chính quy %(instance)s không hợp lệ.",
                                                          instance=repr(error.instance))
    if keyword == "pattern":
        return gettext("Biểu thức chính quy %(instance)s không hợp lệ.", instance=repr(error.instance))
    if keyword == "required":
        return gettext("“required” phải là danh sách tên trường (không trùng lặp).")
    if error.validator == "minimum" and error.validator_value == 0:
        return gettext("“%(keyword)s” phải là số nguyên không âm.", keyword=keyword)
    if error.validator == "type" and isinstance(error.validator_value, str):
        wanted = {"object": gettext("một đối tượng"), "array": gettext("một danh sách"),
                  "string": gettext("một chuỗi"), "integer": gettext("một số nguyên"), "number": gettext("một số"),
                  "boolean": gettext("true hoặc false")}
        return gettext("Giá trị của “%(keyword)s” phải là %(kind)s.",
                       keyword=keyword, kind=wanted.get(error.validator_value, error.validator_value))
    return gettext("Không đúng chuẩn JSON Schema 2020-12: %(message)s", message=error.message)


def check_form_schema(schema: Any) -> list[tuple[str, str]]:
    """Every problem of a form schema as (JSON pointer, Vietnamese message); empty when it can be deployed."""
    if not isinstance(schema, Mapping):
        return [("", gettext("Biểu mẫu phải là một đối tượng JSON Schema."))]
    problems: list[tuple[str, str]] = []
    dialect = schema.get("$schema")
    if dialect is not None and str(dialect).rstrip("#") != DIALECT:
        problems.append(("/$schema", gettext("Biểu mẫu phải dùng JSON Schema 2020-12 (%(DIALECT)s), không phải "
                                             "“%(dialect)s”.",
                                             DIALECT=DIALECT, dialect=dialect)))
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA, format_checker=_META_FORMATS)
    for error in sorted(meta.iter_errors(schema), key=lambda e: list(map(str, e.absolute_path))):
        problems.append((_pointer(*error.absolute_path), _meta_message(error)))
    if problems:
        return _dedupe(problems)
    if schema.get("type") != "object":
        problems.append(("/type", gettext("Gốc của biểu mẫu phải có “type”: “object”.")))
    if not isinstance(schema.get("properties"), Mapping) or not schema.get("properties"):
        problems.append(("/properties", gettext("Biểu mẫu phải khai báo ít nhất một trường trong “properties”.")))
    if problems:
        return problems
    try:
        root = describe(schema, {}, schema, "")
    except FormSchemaError as exc:
        return [(exc.pointer, exc.message)]
    _check_field(root, problems)
    return _dedupe(problems)


def _check_field(f: Field, problems: list[tuple[str, str]]) -> None:
    if f.kind == "object":
        props = f.node.get("properties", {})
        for name in sorted(f.required_names() - set(props)):
            problems.append((f.pointer + "/required", gettext("Trường bắt buộc “%(name)s” không có trong "
                                                              "“properties”.",
                                                              name=name)))
        for name in props:
            sub_ui = f.ui.get(name)
            try:
                sub = describe(props[name], sub_ui if isinstance(sub_ui, Mapping) else {}, f.root,
                               f"{f.pointer}/properties/{_pointer(name)[1:]}", f.depth + 1)
            except FormSchemaError as exc:
                problems.append((exc.pointer, exc.message))
                continue
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                problems.append((sub.pointer, gettext("Tên trường “%(name)s” chỉ được gồm chữ cái không dấu, chữ số "
                                                      "và “_”.",
                                                      name=name)))
            _check_field(sub, problems)
    elif f.kind in ("array", "multi"):
        if f.max_items is not None and f.max_items > MAX_ITEMS_CEILING:
            problems.append((f.pointer + "/maxItems",
                             gettext("“maxItems” tối đa là %(MAX_ITEMS_CEILING)s; biểu mẫu không nhận danh sách dài "
                                     "hơn.",
                                     MAX_ITEMS_CEILING=MAX_ITEMS_CEILING)))
        try:
            _check_field(f.item(), problems)
        except FormSchemaError as exc:
            problems.append((exc.pointer, exc.message))


def _dedupe(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    out = []
    for problem in problems:
        if problem not in seen:
            seen.add(problem)
            out.append(problem)
    return out

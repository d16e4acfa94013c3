"""Server-side validation of form data, one Vietnamese message per field, named by the field's title.

jsonschema decides what is wrong; this module only says it in Vietnamese and puts it where the person
will look: a missing field's message goes on that field (not on its parent object, where JSON Schema
reports it), and a form's own wording (`x-pattern-message`, `errorMessage`) wins over the generic one.

A form is closed by default: a property that no schema for that object declares (in `properties`,
`patternProperties`, or a condition or definition that applies there) is refused by name, at every level,
so nothing a person or a client adds beyond the form is stored with the dossier or handed to the workflow.
A schema that says otherwise (`additionalProperties` or `unevaluatedProperties`, true or a schema) is
respected; an explicit `false` is left to jsonschema. Likewise a list whose schema declares no maxItems holds
at most the platform's cap (`max_items`), as the web form's parser already ensures.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask_babel import gettext, lazy_gettext, ngettext
from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError, best_match

from app.eforms import regex
from app.eforms.schema import (
    DEFAULT_MAX_ITEMS,
    FormSchemaError,
    describe,
    display_scalar,
    join_path,
    options_of,
    resolve_ref,
    split_path,
)
from app.engine.cache import HashCache

__all__ = ["validate_data"]

# Messages are in the reader's language (flask_babel; Vietnamese outside a request).
_TYPES = {"string": lazy_gettext("chuỗi ký tự"), "integer": lazy_gettext("số nguyên"), "number": lazy_gettext("số"),
          "boolean": lazy_gettext("giá trị có/không"), "object": lazy_gettext("nhóm thông tin"),
          "array": lazy_gettext("danh sách"), "null": lazy_gettext("để trống")}
_FORMATS = {
    "date": lazy_gettext("Ngày không hợp lệ (định dạng YYYY-MM-DD)."),
    "date-time": lazy_gettext("Ngày giờ không hợp lệ (định dạng YYYY-MM-DDTHH:MM:SS+07:00)."),
    "time": lazy_gettext("Giờ không hợp lệ (định dạng HH:MM:SS)."),
    "email": lazy_gettext("Địa chỉ email không hợp lệ."),
    "idn-email": lazy_gettext("Địa chỉ email không hợp lệ."),
    "uri": lazy_gettext("Địa chỉ web không hợp lệ."),
    "ipv4": lazy_gettext("Địa chỉ IPv4 không hợp lệ."),
    "uuid": lazy_gettext("Mã UUID không hợp lệ."),
}
_COMPARISONS = {"minimum": lazy_gettext("%(field)s: phải lớn hơn hoặc bằng %(limit)s."),
                "exclusiveMinimum": lazy_gettext("%(field)s: phải lớn hơn %(limit)s."),
                "maximum": lazy_gettext("%(field)s: phải nhỏ hơn hoặc bằng %(limit)s."),
                "exclusiveMaximum": lazy_gettext("%(field)s: phải nhỏ hơn %(limit)s.")}
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
_DIGITS = re.compile(r"\^(?:\[0-9\]|\\d)\{(\d+)(?:,(\d+))?\}\$")

FORMAT_CHECKER = FormatChecker()


@FORMAT_CHECKER.checks("email")
def _is_email(instance: object) -> bool:
    """Stricter than jsonschema's own check (which only looks for "@"): a domain with a dot, no spaces."""
    return not isinstance(instance, str) or bool(_EMAIL.fullmatch(instance))


@FORMAT_CHECKER.checks("regex")
def _is_regex(instance: object) -> bool:
    """A regular expression the platform can run (RE2, as for the form's own patterns)."""
    return regex.pattern_problem(instance) is None


# ------------------------------------------------- the form's regular expressions run by RE2, never by `re`
# jsonschema's own `pattern`, `patternProperties`, `additionalProperties` and `unevaluatedProperties` call
# Python's backtracking `re`; these are the same keywords with every match of a schema's pattern through
# `regex.search` (linear time). Everything else is jsonschema's.

def _pattern(validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]) -> Any:
    if validator.is_type(instance, "string") and not regex.search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator: Any, patterns: Mapping[str, Any], instance: Any,
                        schema: Mapping[str, Any]) -> Any:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if regex.search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional(instance: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    return [key for key in instance if key not in properties and not any(regex.search(p, key) for p in patterns)]


def _additional_properties(validator: Any, additional: Any, instance: Any, schema: Mapping[str, Any]) -> Any:
    if not validator.is_type(instance, "object"):
        return
    extras = _additional(instance, schema)
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        yield ValidationError(f"Additional properties are not allowed ({', '.join(map(repr, sorted(extras)))})")


def _evaluated_keys(validator: Any, instance: Mapping[str, Any], schema: Any) -> set[str]:
    """The keys the schema evaluates, as jsonschema's `find_evaluated_property_keys_by_schema` finds them."""
    if validator.is_type(schema, "boolean"):
        return set()
    keys: set[str] = set()
    for keyword in ("$ref", "$dynamicRef"):
        if (ref := schema.get(keyword)) is not None:
            resolved = validator._resolver.lookup(ref)
            keys |= _evaluated_keys(validator.evolve(schema=resolved.contents, _resolver=resolved.resolver),
                                    instance, resolved.contents)
    properties = schema.get("properties")
    if validator.is_type(properties, "object"):
        keys |= properties.keys() & instance.keys()
    for keyword in ("additionalProperties", "unevaluatedProperties"):
        if (subschema := schema.get(keyword)) is not None:
            keys |= {key for key, value in instance.items() if _is_valid(validator.descend(value, subschema))}
    for pattern in schema.get("patternProperties", {}):
        keys |= {key for key in instance if regex.search(pattern, key)}
    for name, subschema in schema.get("dependentSchemas", {}).items():
        if name in instance:
            keys |= _evaluated_keys(validator, instance, subschema)
    for keyword in ("allOf", "oneOf", "anyOf"):
        for subschema in schema.get(keyword, []):
            if _is_valid(validator.descend(instance, subschema)):
                keys |= _evaluated_keys(validator, instance, subschema)
    if "if" in schema:
        if validator.evolve(schema=schema["if"]).is_valid(instance):
            keys |= _evaluated_keys(validator, instance, schema["if"])
            if "then" in schema:
                keys |= _evaluated_keys(validator, instance, schema["then"])
        elif "else" in schema:
            keys |= _evaluated_keys(validator, instance, schema["else"])
    return keys


def _is_valid(errors: Any) -> bool:
    return next(errors, None) is None


def _unevaluated_properties(validator: Any, unevaluated: Any, instance: Any, schema: Mapping[str, Any]) -> Any:
    if not validator.is_type(instance, "object"):
        return
    evaluated = _evaluated_keys(validator, instance, schema)
    refused = [key for key in instance if key not in evaluated
               and not _is_valid(validator.descend(instance[key], unevaluated, path=key, schema_path=key))]
    if refused:
        yield ValidationError(f"Unevaluated properties are not valid ({', '.join(map(repr, sorted(refused)))})")


FormValidator = validators.extend(Draft202012Validator, {
    "pattern": _pattern, "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties, "unevaluatedProperties": _unevaluated_properties,
})


def _number(value: Any) -> str:
    text = display_scalar(value)
    return text.replace(".", ",") if isinstance(value, float) and not value.is_integer() else text


def _node_at(root: Mapping[str, Any], parts: list[Any]) -> Mapping[str, Any] | None:
    node: Any = root
    try:
        for part in parts:
            node = resolve_ref(node, root)
            node = (node.get("items") if isinstance(part, int) else (node.get("properties") or {}).get(part))
            if not isinstance(node, Mapping):
                return None
        return resolve_ref(node, root)
    except FormSchemaError:
        return None


def _title(root: Mapping[str, Any], parts: list[Any], fallback: Mapping[str, Any] | None = None) -> str:
    node = _node_at(root, parts)
    for candidate in (node, fallback):
        if isinstance(candidate, Mapping) and candidate.get("title"):
            return str(candidate["title"])
    if parts and isinstance(parts[-1], int):
        return _title(root, parts[:-1])
    if parts:
        return str(parts[-1])
    return gettext("Tờ khai")


def _custom(node: Mapping[str, Any], keyword: str) -> str | None:
    """The form's own message for a keyword: `x-pattern-message`, or ajv-errors style `errorMessage`
    (one string for every keyword of the field, or a mapping keyword → message)."""
    if keyword == "pattern" and node.get("x-pattern-message"):
        return str(node["x-pattern-message"])
    custom = node.get("errorMessage")
    if isinstance(custom, str) and custom and keyword != "required":
        return custom
    if isinstance(custom, Mapping) and isinstance(custom.get(keyword), str):
        return str(custom[keyword])
    return None


def _missing(root: Mapping[str, Any], node: Mapping[str, Any], parts: list[Any], name: str) -> tuple[str, str]:
    """(path, message) for a required property that is absent."""
    custom = node.get("errorMessage")
    if isinstance(custom, Mapping):
        by_name = custom.get("required")
        if isinstance(by_name, Mapping) and isinstance(by_name.get(name), str):
            return join_path([*parts, name]), str(by_name[name])
        if isinstance(by_name, str):
            return join_path([*parts, name]), by_name
    child = _node_at(root, [*parts, name])
    if child is None:
        properties = node.get("properties")
        child = properties.get(name) if isinstance(properties, Mapping) else None
    return join_path([*parts, name]), _please(_verb(child, root), _title(root, [*parts, name], child))


def _verb(node: Any, root: Mapping[str, Any]) -> str:
    """"nhập" (type in), "chọn" (choose) or "đính kèm" (attach), by how the field is filled in."""
    if not isinstance(node, Mapping):
        return "nhập"
    try:
        kind = describe(node, {}, root).kind
    except FormSchemaError:
        return "nhập"
    if kind == "file":
        return "đính kèm"
    if kind in ("multi", "boolean") or options_of(resolve_ref(node, root)) is not None:
        return "chọn"
    return "nhập"


def _please(verb: str, title: str) -> str:
    """"Vui lòng nhập «title»." and its kin, by _verb."""
    if verb == "chọn":
        return gettext("Vui lòng chọn %(field)s.", field=title)
    if verb == "đính kèm":
        return gettext("Vui lòng đính kèm %(field)s.", field=title)
    return gettext("Vui lòng nhập %(field)s.", field=title)


def _pattern_message(title: str, pattern: Any) -> str:
    match = _DIGITS.fullmatch(pattern) if isinstance(pattern, str) else None
    if match and match.group(2):
        return gettext("%(field)s: phải gồm từ %(low)s đến %(high)s chữ số.", field=title, low=match.group(1),
                       high=match.group(2))
    if match:
        return gettext("%(field)s: phải gồm đúng %(n)s chữ số.", field=title, n=match.group(1))
    return gettext("%(field)s: không đúng định dạng.", field=title)


def _translate(error: ValidationError, root: Mapping[str, Any]) -> list[tuple[str, str]]:
    parts = list(error.absolute_path)
    path = join_path(parts)
    node = error.schema if isinstance(error.schema, Mapping) else {}
    keyword, expected, instance = error.validator, error.validator_value, error.instance
    title = _title(root, parts, node)

    if keyword == "required":
        present = instance if isinstance(instance, Mapping) else {}
        return [_missing(root, node, parts, n) for n in expected if isinstance(n, str) and n not in present]
    if keyword == "dependentRequired" and isinstance(instance, Mapping):
        return [_missing(root, node, parts, dep) for name, deps in expected.items() if name in instance
                for dep in deps if dep not in instance]

    custom = _custom(node, str(keyword))
    if custom:
        return [(path, custom)]
    if keyword == "type":
        if instance is None:
            return [(path, _please(_verb(node, root), title))]
        wanted = [expected] if isinstance(expected, str) else list(expected)
        kinds = gettext(" hoặc ").join(str(_TYPES.get(t, t)) for t in wanted)
        return [(path, gettext("%(field)s: phải là %(kinds)s.", field=title, kinds=kinds))]
    if keyword == "format":
        return [(path, f"{title}: {_FORMATS.get(str(expected)) or gettext('không đúng định dạng.')}")]
    if keyword == "pattern":
        return [(path, _pattern_message(title, expected))]
    if keyword == "minLength":
        if expected <= 1:
            return [(path, _please("nhập", title))]
        return [(path, ngettext("%(field)s: cần ít nhất %(num)s ký tự.", "%(field)s: cần ít nhất %(num)s ký tự.",
                                expected, field=title))]
    if keyword == "maxLength":
        return [(path, ngettext("%(field)s: tối đa %(num)s ký tự.", "%(field)s: tối đa %(num)s ký tự.", expected,
                                field=title))]
    if keyword in _COMPARISONS:
        return [(path, str(_COMPARISONS[str(keyword)]) % {"field": title, "limit": _number(expected)})]
    if keyword == "multipleOf":
        return [(path, gettext("%(field)s: phải là bội số của %(n)s.", field=title, n=_number(expected)))]
    if keyword == "enum":
        return [(path, gettext("%(field)s: vui lòng chọn một giá trị trong danh sách.", field=title))]
    if keyword in ("oneOf", "anyOf"):
        if options_of(node) is not None:
            return [(path, gettext("%(field)s: vui lòng chọn một giá trị trong danh sách.", field=title))]
        if error.context:
            deepest = best_match(error.context)
            if deepest is not None:
                return _translate(deepest, root)
        return [(path, gettext("%(field)s: giá trị không hợp lệ.", field=title))]
    if keyword == "const":
        if expected is True:
            return [(path, gettext("Vui lòng đánh dấu %(field)s.", field=title))]
        label = next((text for value, text in options_of(node) or [] if value == expected), display_scalar(expected))
        return [(path, gettext("%(field)s: phải là “%(value)s”.", field=title, value=label))]
    if keyword == "minItems":
        return [(path, ngettext("%(field)s: cần ít nhất %(num)s mục.", "%(field)s: cần ít nhất %(num)s mục.", expected,
                                field=title))]
    if keyword == "maxItems":
        return [(path, ngettext("%(field)s: tối đa %(num)s mục.", "%(field)s: tối đa %(num)s mục.", expected,
                                field=title))]
    if keyword == "uniqueItems":
        return [(path, gettext("%(field)s: có mục bị trùng lặp.", field=title))]
    if keyword in ("additionalProperties", "unevaluatedProperties") and isinstance(instance, Mapping):
        properties = node.get("properties")
        declared: Mapping[str, Any] = properties if isinstance(properties, Mapping) else {}
        patterns = [p for p in (node.get("patternProperties") or {}) if isinstance(p, str)]
        extra = sorted(k for k in instance if k not in declared and not any(regex.search(p, k) for p in patterns))
        names = f" ({', '.join(extra)})" if extra else ""
        return [(path, gettext("%(field)s: có trường không thuộc biểu mẫu%(names)s.", field=title, names=names))]
    if keyword is None:  # a `false` schema: the property must not be there at all
        return [(path, gettext("%(field)s: có giá trị không được phép.", field=title))]
    return [(path, gettext("%(field)s: giá trị không hợp lệ.", field=title))]


def _position(root: Mapping[str, Any], parts: list[Any]) -> tuple[int, ...]:
    """Where a field comes in the form, so messages are listed in the order a person reads the form."""
    out: list[int] = []
    node: Any = root
    for part in parts:
        if isinstance(part, int):
            out.append(part)
            node = node.get("items") if isinstance(node, Mapping) else None
        else:
            properties = node.get("properties") if isinstance(node, Mapping) else None
            names = list(properties) if isinstance(properties, Mapping) else []
            out.append(names.index(part) if part in names else len(names))
            node = properties.get(part) if isinstance(properties, Mapping) else None
        if isinstance(node, Mapping):
            try:
                node = resolve_ref(node, root)
            except FormSchemaError:
                node = None
    return tuple(out)


_IN_PLACE = ("allOf", "anyOf", "oneOf")  # subschemas that apply to the same instance (`not` declares nothing)
_CONDITIONAL = ("if", "then", "else")
_WALK_DEPTH = 64


def _facets(node: Any, root: Mapping[str, Any], depth: int = 0) -> list[Mapping[str, Any]]:
    """The schema node and every subschema applying to the same instance ($ref, allOf/anyOf/oneOf,
    if/then/else, dependentSchemas)."""
    if not isinstance(node, Mapping) or depth > _WALK_DEPTH:
        return []
    try:
        node = resolve_ref(node, root)
    except FormSchemaError:
        return [node]
    out = [node]
    subs: list[Any] = []
    for key in _IN_PLACE:
        if isinstance(node.get(key), list):
            subs.extend(node[key])
    subs.extend(node.get(key) for key in _CONDITIONAL)
    if isinstance(node.get("dependentSchemas"), Mapping):
        subs.extend(node["dependentSchemas"].values())
    for sub in subs:
        out.extend(_facets(sub, root, depth + 1))
    return out


def _is_object_schema(node: Mapping[str, Any]) -> bool:
    declared = node.get("type")
    return declared == "object" or (isinstance(declared, list) and "object" in declared) or "properties" in node


def _beyond_schema(node: Any, data: Any, parts: list[Any], root: Mapping[str, Any], max_items: int,
                   out: list[tuple[str, str]]) -> None:
    """(path, message) for every property of `data` that its object's schema does not declare, and every list
    longer than the platform's cap where the schema sets no maxItems."""
    if len(parts) > _WALK_DEPTH:
        return
    facets = _facets(node, root)
    if isinstance(data, Mapping):
        closed = any(_is_object_schema(f) for f in facets) and not any(
            "additionalProperties" in f or "unevaluatedProperties" in f for f in facets)
        for key, value in data.items():
            subs: list[Any] = []
            for f in facets:
                properties, patterns = f.get("properties"), f.get("patternProperties")
                if isinstance(properties, Mapping) and key in properties:
                    subs.append(properties[key])
                if isinstance(patterns, Mapping):
                    subs.extend(sub for pattern, sub in patterns.items() if _matches(pattern, key))
            if not subs:
                subs = [f["additionalProperties"] for f in facets if isinstance(f.get("additionalProperties"), Mapping)]
            if not subs and closed:
                name = str(key) if len(str(key)) <= 60 else str(key)[:60] + "…"
                out.append((join_path([*parts, key]),
                            gettext("Trường «%(name)s» không có trong %(form)s; vui lòng bỏ trường này.", name=name,
                                    form=_title(root, parts))))
            for sub in subs:
                _beyond_schema(sub, value, [*parts, key], root, max_items, out)
    elif isinstance(data, list):
        is_list = any(f.get("type") == "array" or "items" in f or "prefixItems" in f for f in facets)
        if is_list and not any("maxItems" in f for f in facets):
            least = max((f["minItems"] for f in facets if isinstance(f.get("minItems"), int)), default=0)
            limit = max(max_items, least)
            if len(data) > limit:
                message = ngettext("%(field)s: tối đa %(num)s mục.", "%(field)s: tối đa %(num)s mục.", limit,
                                   field=_title(root, parts))
                out.append((join_path(parts), message))
                return
        for i, value in enumerate(data):
            for f in facets:
                prefix = f.get("prefixItems")
                if isinstance(prefix, list) and i < len(prefix):
                    _beyond_schema(prefix[i], value, [*parts, i], root, max_items, out)
                elif isinstance(f.get("items"), Mapping):
                    _beyond_schema(f["items"], value, [*parts, i], root, max_items, out)


def _matches(pattern: Any, key: Any) -> bool:
    return isinstance(pattern, str) and regex.search(pattern, str(key))


_VALIDATORS: HashCache[Any] = HashCache(256)
# How many validators were built (a fresh one per call without a key); read by tests to see the cache work.
builds = 0


def _validator(schema: Mapping[str, Any], cache_key: str | None) -> Any:
    """The schema's validator; with `cache_key` (a deployed version's content hash and the form's name: the
    schema never changes under it) one per key and process, shared by its threads (validators are immutable).

    Without a key a fresh one: building costs ~4 µs while hashing a form's content to find it again costs ~40.
    """
    def build() -> Any:
        global builds
        builds += 1
        return FormValidator(schema, format_checker=FORMAT_CHECKER)

    return build() if cache_key is None else _VALIDATORS.get_or_build(cache_key, build)


def validate_data(schema: Mapping[str, Any], data: Any, *, max_items: int = DEFAULT_MAX_ITEMS,
                  cache_key: str | None = None) -> dict[str, str]:
    """{field path: Vietnamese message}; "" is the form itself. Only the first message of a field is kept.

    Formats are checked (date, date-time, email …), so "2026-02-30" or "an@" do not pass, a property the
    form does not declare is refused by name, and a list without its own maxItems holds at most `max_items`.
    `cache_key` names the schema's content for good (see `_validator`).
    """
    validator = _validator(schema, cache_key)
    found: list[tuple[str, str]] = []
    for error in validator.iter_errors(data):
        found.extend(_translate(error, schema))
    _beyond_schema(schema, data, [], schema, max_items, found)
    ordered = sorted(enumerate(found), key=lambda e: (_position(schema, split_path(e[1][0])), e[0]))
    messages: dict[str, str] = {}
    for _, (path, message) in ordered:
        messages.setdefault(path, message)
    return messages

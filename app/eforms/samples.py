"""Plausible sample data for a form, so a designer sees a form filled in as a citizen or an officer would fill it.

The value of a field is the first of these that satisfies everything its schema says (checked by the platform's
own validator, with every `$ref`, `allOf` and condition that applies there): its `default`, its `examples`, its
`const` or first choice, a value that its name or title suggests (a name, an address, a Vietnamese mobile number,
a 12-digit personal ID …), a value of its `format`, a string generated from its `pattern` (by `rstr`), and last a
value of its type within its bounds (minLength/maxLength, minimum/maximum, multipleOf). Objects get every field
(optional ones too) except those that only a condition that does not hold asks for (the reason of a refusal when
the sample accepts); a repeatable group gets its minItems items, at least one; a checkbox group ticks its choices.
`oneOf`/`anyOf` take their first branch; `if/then/else` is decided on the sample as it is built.

A pure function: no application, no database, no randomness between calls (patterns are generated from a seed
derived from the field's path). What it cannot make valid is returned as it is, with the validator's messages.
"""

from __future__ import annotations

import copy
import math
import random
import re
import unicodedata
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import rstr
from flask_babel import gettext
from jsonschema.exceptions import SchemaError

from app.clock import local_today
from app.eforms import regex
from app.eforms.schema import MAX_DEPTH, MISSING, FormSchemaError, child_path, resolve_ref, split_path
from app.eforms.validate import FORMAT_CHECKER, FormValidator, validate_data

__all__ = ["Sample", "sample_data"]

_DEPTH = MAX_DEPTH + 4  # a recursive $ref stops here (the form renderer refuses it earlier)
_ROUNDS = 4  # conditions re-decided on the object built so far, at most this many times
_PATTERN_TRIES = 24
_REPEAT_SPAN = 6  # `+`, `*` and `{n,}` repeat at most this many times more than their minimum

BIRTH_DATE = date(1990, 5, 15)
PERSONAL_ID = "001090012345"  # Hà Nội (001), a man born in the 1900s (0), in 1990 (90): consistent with BIRTH_DATE
NAME = "Nguyễn Văn An"
PHONE = "0912345678"
TAX_CODE = "0100109106"  # a valid check digit
EMAIL = "nguyenvanan@example.vn"
ADDRESS = "Số 12 phố Hàng Bạc, phường Hoàn Kiếm, thành phố Hà Nội"
TEXT = "Nội dung mẫu để xem trước biểu mẫu."


@dataclass(frozen=True)
class Sample:
    """`data` for the form; `problems` ({field path: message}, "" the form itself) says where it is not valid."""

    data: dict[str, Any]
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.problems


def _fold(text: str) -> str:
    """«Số điện thoại» → «so dien thoai»: names and titles compared without accents, case or punctuation."""
    text = text.replace("đ", "d").replace("Đ", "D")
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


# What a field's name or title (folded) suggests, first match wins; each value is still checked against the schema.
_SUGGESTIONS: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(r"\b(dien thoai|so dt|sdt|phone|mobile)\b"), PHONE),
    (re.compile(r"\b(dinh danh|can cuoc|cccd|cmnd|personal id)\b"), "{id}"),
    (re.compile(r"\b(ma so thue|mst|tax)\b"), TAX_CODE),
    (re.compile(r"\b(email|thu dien tu)\b"), EMAIL),
    (re.compile(r"\b(ho ten|ho va ten|ho chu dem va ten|full name|nguoi nhan)\b"), "{name}"),
    (re.compile(r"\bdan toc\b"), "Kinh"),
    (re.compile(r"\bquoc tich\b"), "Việt Nam"),
    (re.compile(r"\bton giao\b"), "Không"),
    (re.compile(r"\b(que quan)\b"), "Xã Yên Thường, thành phố Hà Nội"),
    (re.compile(r"\b(noi sinh)\b"), "Bệnh viện Phụ sản Hà Nội"),
    (re.compile(r"\b(dia chi|noi cu tru|noi o|thuong tru|tam tru|address)\b"), ADDRESS),
    (re.compile(r"\b(noi dang ky|co quan)\b"), "Ủy ban nhân dân phường Hoàn Kiếm, thành phố Hà Nội"),
    (re.compile(r"\b(so dang ky|so van ban|so quyet dinh)\b"), "123/2026"),
    (re.compile(r"\b(quyen so)\b"), "01/2026"),
]
# Whose field it is, by the group it is in (folded name): (full name, personal ID consistent with the birth date and
# sex, birth date or None for a child born a week before `today`).
_PEOPLE: list[tuple[re.Pattern[str], str, str, date | None]] = [
    (re.compile(r"^(me|mother|vo|wife|nguoi me)$"), "Trần Thị Bình", "001192034567", date(1992, 8, 20)),
    (re.compile(r"^(tre|con|child|nguoi duoc khai sinh)$"), "Nguyễn Minh Khang", PERSONAL_ID, None),
]
_BIRTH = re.compile(r"\b(sinh|birth)\b")
_YEAR = re.compile(r"\b(nam|year)\b")
_MEDIA_EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png", "application/zip": "zip",
                     "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx"}


class _Xeger(rstr.Rstr):
    """rstr's generator with `+`, `*` and `{n,}` repeating a few times (rstr's own limit is 100, a module global),
    so that a generated string also fits the field's maxLength."""

    def _handle_repeat(self, start_range: int, end_range: int, value: str) -> str:
        return super()._handle_repeat(start_range, min(end_range, start_range + _REPEAT_SPAN), value)


class _Maker:
    def __init__(self, root: Mapping[str, Any], ui: Mapping[str, Any], seed: int, today: date) -> None:
        self.root = root
        self.ui = ui
        self.seed = seed
        self.today = today
        self.validator = FormValidator(root, format_checker=FORMAT_CHECKER)

    # ------------------------------------------------------------ schemas

    def flatten(self, nodes: list[Any], depth: int = 0) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
        """(facets, conditions): every subschema that applies to the value (through $ref, allOf, the first branch of
        a oneOf/anyOf that is not a list of choices), and the nodes whose if/then/else is still to be decided."""
        facets: list[Mapping[str, Any]] = []
        conditions: list[Mapping[str, Any]] = []
        for node in nodes:
            if not isinstance(node, Mapping) or depth > _DEPTH:
                continue
            node = resolve_ref(node, self.root)
            facets.append(node)
            subs: list[Any] = list(node.get("allOf") or []) if isinstance(node.get("allOf"), list) else []
            for key in ("oneOf", "anyOf"):
                branches = node.get(key)
                if isinstance(branches, list) and branches and not _choices(branches):
                    subs.append(branches[0])
            if "if" in node and isinstance(node.get("if"), Mapping | bool):
                conditions.append(node)
            more, later = self.flatten(subs, depth + 1)
            facets += more
            conditions += later
        return facets, conditions

    def decide(self, conditions: list[Mapping[str, Any]], value: Any) -> tuple[list[Any], list[Any]]:
        """(the branches that apply to `value`, those that do not)."""
        applied: list[Any] = []
        idle: list[Any] = []
        for node in conditions:
            holds = self.fits(value, [node["if"]])
            then, otherwise = node.get("then"), node.get("else")
            for branch, on in ((then, holds), (otherwise, not holds)):
                if isinstance(branch, Mapping):
                    (applied if on else idle).append(branch)
        return applied, idle

    def fits(self, value: Any, facets: list[Any]) -> bool:
        try:
            return bool(self.validator.evolve(schema={"allOf": list(facets)}).is_valid(value))
        except (SchemaError, FormSchemaError, RecursionError, ValueError, TypeError, LookupError):
            return False

    # ------------------------------------------------------------ values

    def value(self, nodes: list[Any], path: str, ui: Mapping[str, Any], depth: int = 0) -> Any:
        if depth > _DEPTH:
            return MISSING
        facets, conditions = self.flatten(nodes)
        if not facets:
            return MISSING
        made: Any = MISSING
        seen: list[Any] = []
        for _ in range(_ROUNDS):
            made = self.once(facets, path, ui, depth)
            applied, _idle = self.decide(conditions, made)
            fresh = [b for b in applied if not any(b is s for s in seen)]
            if not fresh:
                break
            seen += fresh
            more, later = self.flatten(fresh)
            facets = facets + more
            conditions = conditions + [c for c in later if not any(c is k for k in conditions)]
        return made

    def once(self, facets: list[Mapping[str, Any]], path: str, ui: Mapping[str, Any], depth: int) -> Any:
        kind = _kind(facets)
        if kind == "object":
            return self.object(facets, path, ui, depth)
        if kind == "array":
            return self.array(facets, path, ui, depth)
        candidates = self.candidates(facets, kind, path, ui)
        for candidate in candidates:
            if self.fits(candidate, facets):
                return candidate
        return candidates[0] if candidates else MISSING

    def object(self, facets: list[Mapping[str, Any]], path: str, ui: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties: dict[str, list[Any]] = {}
        required: set[str] = set()
        for facet in facets:
            for name, sub in (facet.get("properties") or {}).items() if isinstance(facet.get("properties"),
                                                                                  Mapping) else ():
                properties.setdefault(name, []).append(sub)
            if isinstance(facet.get("required"), list):
                required |= {n for n in facet["required"] if isinstance(n, str)}
        # Fields a condition speaks of wait for the conditions to be decided on the rest (`settle`): a refusal's
        # reason is left out when the sample accepts.
        _, conditions = self.flatten(list(facets))
        conditional = {name for c in conditions for b in (c.get("then"), c.get("else")) if isinstance(b, Mapping)
                       for name in _named(b)}
        data: dict[str, Any] = {}
        for name, subs in properties.items():
            if name in conditional and name not in required:
                continue
            made = self.value(subs, child_path(path, name), _sub_ui(ui, name), depth + 1)
            if made is not MISSING:
                data[name] = made
        return self.settle(data, facets, path, ui, depth)

    def settle(self, data: dict[str, Any], facets: list[Mapping[str, Any]], path: str, ui: Mapping[str, Any],
               depth: int) -> dict[str, Any]:
        """Decide the object's own conditions on the data built: drop what a condition that no longer holds asked
        for, fill what one that holds requires."""
        _, conditions = self.flatten(list(facets))
        if not conditions:
            return data
        for _ in range(_ROUNDS):
            applied, idle = self.decide(conditions, data)
            asked = {name for branch in applied for name in _named(branch)}
            needed = {n for b in applied for n in (b.get("required") or []) if isinstance(n, str)}
            changed = False
            for name in {n for b in idle for n in _named(b)} - asked:
                if name in data and not _needed(facets, name):
                    del data[name]
                    changed = True
            for name in sorted(asked):
                subs = [p for f in [*facets, *applied] if (p := (f.get("properties") or {}).get(name)) is not None]
                if not subs and name not in needed:
                    continue
                current = data.get(name, MISSING)
                if current is not MISSING and self.fits(current, subs):
                    continue
                made = self.value(subs or [{}], child_path(path, name), _sub_ui(ui, name), depth + 1)
                if made is not MISSING and made != current:
                    data[name] = made
                    changed = True
            if not changed:
                break
        return data

    def array(self, facets: list[Mapping[str, Any]], path: str, ui: Mapping[str, Any], depth: int) -> list[Any]:
        least = max((f["minItems"] for f in facets if _int(f.get("minItems"))), default=0)
        most = min((f["maxItems"] for f in facets if _int(f.get("maxItems"))), default=None)
        items = [f["items"] for f in facets if isinstance(f.get("items"), Mapping)]
        item_facets, _ = self.flatten(items)
        choices = _options(item_facets)
        if choices is not None:  # a checkbox group: tick every choice it allows
            picked = [v for v in choices if self.fits(v, items)]
            count = len(picked) if most is None else min(len(picked), most)
            return picked[:max(count, least)]
        count = max(least, 1)
        if most is not None:
            count = min(count, most)
        item_ui = _sub_ui(ui, "items")
        out = []
        for i in range(count):
            made = self.value(items or [{}], child_path(path, i), item_ui, depth + 1)
            if made is not MISSING:
                out.append(made)
        return out

    # ------------------------------------------------------------ scalars

    def candidates(self, facets: list[Mapping[str, Any]], kind: str | None, path: str,
                   ui: Mapping[str, Any]) -> list[Any]:
        out = _ordered(facets)
        choices = _options(facets)
        if choices is not None:
            out += choices
        if kind == "string" and _is_file(facets, ui):
            out.append(self.file(facets, path))
        elif kind == "string":
            out += self.strings(facets, path, ui)
        elif kind in ("integer", "number"):
            out += self.numbers(facets, kind, path, ui)
        elif kind == "boolean":
            out += [True, False]
        elif kind == "null":
            out.append(None)
        return out

    def words(self, path: str, facets: list[Mapping[str, Any]], ui: Mapping[str, Any]) -> str:
        name = path.rsplit(".", 1)[-1].split("[", 1)[0]
        title = str(ui.get("ui:title") or next((f["title"] for f in facets if f.get("title")), ""))
        return f" {_fold(name.replace('_', ' '))} | {_fold(title)} "

    def person(self, path: str) -> tuple[str, str, date]:
        """(name, personal ID, birth date) of the person a field belongs to, by its enclosing groups."""
        for part in reversed(split_path(path)[:-1]):
            if isinstance(part, str):
                for pattern, name, number, born in _PEOPLE:
                    if pattern.fullmatch(_fold(part.replace("_", " "))):
                        return name, number, born or self.today - timedelta(days=7)
        return NAME, PERSONAL_ID, BIRTH_DATE

    def strings(self, facets: list[Mapping[str, Any]], path: str, ui: Mapping[str, Any]) -> list[Any]:
        words = self.words(path, facets, ui)
        name, number, born = self.person(path)
        out: list[Any] = [str(value).format(name=name, id=number) for pattern, value in _SUGGESTIONS
                          if pattern.search(words)]
        fmt = next((str(f["format"]) for f in facets if f.get("format")), None)
        when = born if _BIRTH.search(words) else self.today
        by_format = {"date": when.isoformat(), "date-time": f"{when.isoformat()}T09:30:00+07:00", "time": "09:30:00",
                     "email": EMAIL, "idn-email": EMAIL, "uri": "https://example.vn/", "iri": "https://example.vn/",
                     "uri-reference": "https://example.vn/", "hostname": "example.vn", "ipv4": "192.0.2.10",
                     "ipv6": "2001:db8::10", "uuid": "3f2a6c1e-8d4b-4f7a-9c2e-5b1d0a7e6f34", "duration": "P7D",
                     "regex": "^[0-9]+$"}
        if fmt in by_format:
            out.insert(0, by_format[fmt])
        patterns = [str(f["pattern"]) for f in facets if isinstance(f.get("pattern"), str)]
        if patterns:
            out += self.from_patterns(facets, patterns, path)
        low = max((f["minLength"] for f in facets if _int(f.get("minLength"))), default=0)
        high = min((f["maxLength"] for f in facets if _int(f.get("maxLength"))), default=None)
        out.append(_fit(TEXT if (high is None or high >= 20) else "Mẫu", low, high))
        return out

    def from_patterns(self, facets: list[Mapping[str, Any]], patterns: list[str], path: str) -> list[str]:
        generator = _Xeger(random.Random(self.seed ^ zlib.crc32(path.encode())))
        found: list[str] = []
        for pattern in patterns:
            for _ in range(_PATTERN_TRIES):
                try:
                    text = generator.xeger(pattern)
                except (re.error, ValueError, IndexError, KeyError, RecursionError, OverflowError):
                    break  # a construct rstr does not generate: the validator's message will say what is wrong
                if all(regex.search(p, text) for p in patterns) and self.fits(text, facets):
                    found.append(text)
                    return found
        return found

    def numbers(self, facets: list[Mapping[str, Any]], kind: str, path: str, ui: Mapping[str, Any]) -> list[Any]:
        integer = kind == "integer"
        low, high = _bounds(facets, integer)
        step = next((f["multipleOf"] for f in facets if _number(f.get("multipleOf")) and f["multipleOf"] > 0), None)
        wishes: list[float] = []
        if _YEAR.search(self.words(path, facets, ui)):
            wishes.append(self.person(path)[2].year if _BIRTH.search(self.words(path, facets, ui)) else self.today.year)
        wishes += [1, 0]
        if low is not None:
            wishes.append(low)
        if high is not None:
            wishes.append(high)
        out: list[Any] = []
        for wish in wishes:
            value = wish if low is None else max(wish, low)
            value = value if high is None else min(value, high)
            if step:
                value = math.ceil(value / step - 1e-9) * step
                if high is not None and value > high:
                    value = math.floor(high / step + 1e-9) * step
                value = round(value, 10)
            if integer:
                value = math.ceil(value)
            elif float(value).is_integer():
                value = int(value)
            out.append(value)
        return out

    def file(self, facets: list[Mapping[str, Any]], path: str) -> str:
        """An attachment reference (`<token>/<file name>`) that points at no stored file."""
        media = next((str(f["contentMediaType"]) for f in facets if f.get("contentMediaType")), "application/pdf")
        extension = _MEDIA_EXTENSIONS.get(media.split(",")[0].strip(), "pdf")
        name = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "tep"
        return f"mau/{name}.{extension}"


def _sub_ui(ui: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    sub = ui.get(key)
    return sub if isinstance(sub, Mapping) else {}


def _choices(branches: list[Any]) -> bool:
    return all(isinstance(b, Mapping) and "const" in b for b in branches)


def _options(facets: list[Mapping[str, Any]]) -> list[Any] | None:
    for f in facets:
        if isinstance(f.get("enum"), list) and f["enum"]:
            return copy.deepcopy(list(f["enum"]))
        for key in ("oneOf", "anyOf"):
            branches = f.get(key)
            if isinstance(branches, list) and branches and _choices(branches):
                return [copy.deepcopy(b["const"]) for b in branches]
    return None


def _ordered(facets: list[Mapping[str, Any]]) -> list[Any]:
    """default, then examples, then const, across the facets in order."""
    out: list[Any] = []
    out += [copy.deepcopy(f["default"]) for f in facets if "default" in f]
    for f in facets:
        if isinstance(f.get("examples"), list):
            out += copy.deepcopy(f["examples"])
    out += [copy.deepcopy(f["const"]) for f in facets if "const" in f]
    return out


def _kind(facets: list[Mapping[str, Any]]) -> str | None:
    for f in facets:
        declared = f.get("type")
        if isinstance(declared, str):
            return declared
        if isinstance(declared, list):
            kinds = [t for t in declared if t != "null"]
            return kinds[0] if kinds else "null"
    for f in facets:
        if "properties" in f or "required" in f:
            return "object"
        if "items" in f or "minItems" in f:
            return "array"
        if any(k in f for k in ("format", "pattern", "minLength", "maxLength", "contentMediaType")):
            return "string"
        if any(k in f for k in ("minimum", "maximum", "multipleOf", "exclusiveMinimum", "exclusiveMaximum")):
            return "number"
    values = _options(facets) or [f["const"] for f in facets if "const" in f]
    if values:
        first = values[0]
        if isinstance(first, bool):
            return "boolean"
        if isinstance(first, int):
            return "integer"
        if isinstance(first, float):
            return "number"
        if isinstance(first, str):
            return "string"
    return None


def _is_file(facets: list[Mapping[str, Any]], ui: Mapping[str, Any]) -> bool:
    return ui.get("ui:widget") == "file" or any("contentMediaType" in f for f in facets)


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bounds(facets: list[Mapping[str, Any]], integer: bool) -> tuple[float | None, float | None]:
    lows = [f["minimum"] for f in facets if _number(f.get("minimum"))]
    highs = [f["maximum"] for f in facets if _number(f.get("maximum"))]
    nudge = 1 if integer else 0.01
    lows += [f["exclusiveMinimum"] + nudge for f in facets if _number(f.get("exclusiveMinimum"))]
    highs += [f["exclusiveMaximum"] - nudge for f in facets if _number(f.get("exclusiveMaximum"))]
    return (max(lows) if lows else None), (min(highs) if highs else None)


def _fit(text: str, low: int, high: int | None) -> str:
    while len(text) < low:
        text += " " + TEXT
    if high is not None:
        text = text[:high].rstrip() or text[:high]
    return text if len(text) >= low else text + "x" * (low - len(text))


def _named(branch: Mapping[str, Any]) -> set[str]:
    names = set(branch.get("properties") or {}) if isinstance(branch.get("properties"), Mapping) else set()
    if isinstance(branch.get("required"), list):
        names |= {n for n in branch["required"] if isinstance(n, str)}
    return names


def _needed(facets: list[Mapping[str, Any]], name: str) -> bool:
    return any(isinstance(f.get("required"), list) and name in f["required"] for f in facets)


def sample_data(schema: Mapping[str, Any], ui: Mapping[str, Any] | None = None, *, seed: int = 0,
                today: date | None = None) -> Sample:
    """Sample data for the form `schema` (+ its UI hints), and the validator's messages where it is not valid.

    The same schema, seed and day (`today`, the platform's local date unless given) give the same data. Never
    raises for a schema it cannot read or satisfy: what could be built is returned, and `problems` says what is
    wrong (a schema the renderer would refuse, such as an external `$ref`, is one message on the form itself).
    """
    ui = ui if isinstance(ui, Mapping) else {}
    if not isinstance(schema, Mapping):
        return Sample({}, {"": gettext("Biểu mẫu phải là một đối tượng JSON Schema.")})
    maker = _Maker(schema, ui, seed, today or local_today())
    try:
        made = maker.value([schema], "", ui)
    except (FormSchemaError, SchemaError, RecursionError, re.error, ValueError, TypeError) as exc:
        return Sample({}, {"": str(getattr(exc, "message", None) or exc)})
    data = made if isinstance(made, dict) else {}
    try:
        problems = validate_data(schema, data)
    except (FormSchemaError, SchemaError, RecursionError, ValueError, TypeError) as exc:
        problems = {"": str(getattr(exc, "message", None) or exc)}
    return Sample(data, problems)

"""JSON Schema → accessible HTML that works without JavaScript.

Every field has a visible label, its help text, data source and error linked by aria-describedby; an
invalid field is marked aria-invalid and keeps what the person typed (a number or date input that the
browser would blank out for an unparseable value falls back to a text input). Repeatable groups add and
remove items with ordinary submit buttons, so the form needs no script. Everything that comes from a
schema, UI hints or data is escaped by markupsafe.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

from flask_babel import gettext
from markupsafe import Markup, escape

from app.eforms.schema import (
    MISSING,
    Field,
    child_path,
    describe_root,
    display_scalar,
    field_id,
    join_path,
    split_path,
)
from app.formats import DATE_FORMAT, DATETIME_FORMAT

__all__ = ["file_label", "render_form", "render_values"]

FileUrl = Callable[[str], str | None]
# Documents a file field may take from the person's store instead of an upload, by field path: (id, label) each.
StoreOffers = Mapping[str, list[tuple[str, str]]]
STORE_CHOICE = ".__kho__"  # suffix of the name of a file field's "choose from my documents" radio group
STORE_KEY = "kho_giay_to"  # a file field's value {"kho_giay_to": id} (app.dossiers.docstore): a chosen document
VIETNAM = timezone(timedelta(hours=7))
_VOID = frozenset({"input"})
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_INPUT_TYPES = {"date": "date", "date-time": "datetime-local", "email": "email", "time": "time", "uri": "url"}
_DIGITS_ONLY = re.compile(r"\^?(?:(?:\d|\[0-9\]|\\d)(?:\{\d+(?:,\d*)?\}|[+*?])?)+\$?")


def _h(tag: str, attrs: Mapping[str, Any] | None = None, *children: Any) -> Markup:
    """One element; attribute values and string children are escaped, Markup children are kept."""
    parts = [tag]
    for key, value in (attrs or {}).items():
        if value is None or value is False:
            continue
        parts.append(key if value is True else f'{key}="{escape(str(value))}"')
    opening = "<" + " ".join(parts) + ">"
    if tag in _VOID:
        return Markup(opening)  # noqa: S704 - tag and keys are literals of this module, values escaped above
    inner = Markup("").join(escape(c) for c in children if c is not None and c != "")
    return Markup(opening) + inner + Markup(f"</{tag}>")  # noqa: S704 - as above


def file_label(reference: str) -> str:
    """The file name of an attachment reference `<token>/<file name>`."""
    return reference.split("/", 1)[1] if "/" in reference else reference


def _file_link(url: str, name: str) -> Markup:
    """An attachment opens in a new tab: the platform serves PDFs and images inline, anything else as a
    download, so the form or the dossier page stays where it was."""
    return _h("a", {"href": url, "target": "_blank", "rel": "noopener", "class": "file-link"}, name,
              _h("span", {"class": "visually-hidden"}, " " + gettext("(mở trong thẻ mới)")))


def _lower_first(text: str) -> str:
    """"Giấy tờ" → "giấy tờ" for "Thêm giấy tờ", but leave acronyms ("CCCD") alone."""
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def _is_digits_pattern(pattern: Any) -> bool:
    return isinstance(pattern, str) and bool(pattern) and bool(_DIGITS_ONLY.fullmatch(pattern))


def _anchored(pattern: Any) -> bool:
    """HTML anchors `pattern` at both ends; JSON Schema does not, so only a pattern anchored by its author
    means the same to the browser and to the server."""
    return isinstance(pattern, str) and pattern.startswith("^") and pattern.endswith("$") and not pattern.endswith(
        "\\$")


def _is_iso_date(value: str) -> bool:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _local_datetime(value: str) -> str | None:
    """An RFC 3339 timestamp as the `YYYY-MM-DDTHH:MM` a datetime-local input shows, in Vietnam time."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(VIETNAM)
    return moment.strftime("%Y-%m-%dT%H:%M:%S" if moment.second else "%Y-%m-%dT%H:%M")


def _text(value: Any) -> str:
    if value is MISSING or value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return display_scalar(value)


def _option_value(value: Any) -> str:
    return _text(value)


class _Renderer:
    def __init__(self, errors: Mapping[str, str], prefix: str, sources: Mapping[str, str],
                 file_url: FileUrl | None, inert: bool = False, stored: StoreOffers | None = None) -> None:
        self.inert = inert  # a preview: the add / remove buttons are shown but do nothing
        self.stored = stored or {}
        self.errors = dict(errors)
        self.prefix = prefix
        self.sources = sources
        self.file_url = file_url
        self.shown: set[str] = set()  # paths with a place on the page for their error message
        self.any_required = False
        self.any_group = False

    # ------------------------------------------------------------ shared pieces

    def fid(self, path: str) -> str:
        return field_id(path, self.prefix)

    def name(self, path: str) -> str:
        return self.prefix + path

    def marker(self, required: bool) -> Markup:
        if not required:
            return Markup("")
        self.any_required = True
        return _h("span", {"class": "form-required"}, _h("span", {"aria-hidden": "true"}, " *"),
                  _h("span", {"class": "visually-hidden"}, " " + gettext("(bắt buộc)")))

    def notes(self, f: Field, path: str) -> tuple[list[str], Markup]:
        """(ids for aria-describedby, the help / source / error paragraphs)."""
        self.shown.add(path)
        fid = self.fid(path)
        ids: list[str] = []
        parts: list[Markup] = []
        if f.description:
            ids.append(f"{fid}-help")
            parts.append(_h("p", {"class": "form-help", "id": f"{fid}-help"}, f.description))
        if f.ui.get("ui:help"):
            ids.append(f"{fid}-hint")
            parts.append(_h("p", {"class": "form-help", "id": f"{fid}-hint"}, str(f.ui["ui:help"])))
        if path in self.sources:
            ids.append(f"{fid}-source")
            parts.append(_h("p", {"class": "form-help form-source", "id": f"{fid}-source"},
                            gettext("Lấy từ %(source)s", source=self.sources[path])))
        if path in self.errors:
            ids.append(f"{fid}-error")
            parts.append(_h("p", {"class": "form-error", "id": f"{fid}-error", "role": "alert"}, self.errors[path]))
        return ids, Markup("").join(parts)

    def aria(self, ids: list[str], path: str) -> dict[str, Any]:
        return {"aria-describedby": " ".join(ids) or None, "aria-invalid": "true" if path in self.errors else None}

    def wrapper_class(self, path: str, extra: str = "") -> str:
        classes = ["form-field", extra] + (["form-field-invalid"] if path in self.errors else [])
        return " ".join(c for c in classes if c)

    # ------------------------------------------------------------ fields

    def object_body(self, f: Field, path: str, data: Any) -> Markup:
        data = data if isinstance(data, Mapping) else {}
        fresh = not data  # defaults only fill a group nobody has filled in yet, never a cleared field
        out = []
        for name, sub, required in f.children():
            value = data.get(name, MISSING)
            if value is MISSING and fresh and sub.kind != "object":
                value = sub.default
            out.append(self.field(sub, child_path(path, name), value, required))
        return Markup("").join(out)

    def field(self, f: Field, path: str, value: Any, required: bool, label: str | None = None) -> Markup:
        if f.hidden:
            return _h("input", {"type": "hidden", "name": self.name(path), "value": _text(value)})
        if f.kind == "object":
            return self.fieldset(f, path, value, required)
        if f.kind == "array":
            return self.group(f, path, value, required)
        if f.kind == "multi":
            return self.choices(f, path, value, required, multiple=True)
        if f.kind == "boolean" and f.widget not in ("radio", "select"):
            return self.checkbox(f, path, value, required)
        if f.kind == "boolean" or f.options is not None:
            if f.widget == "radio" or f.kind == "boolean":
                return self.choices(f, path, value, required, multiple=False)
            return self.select(f, path, value, required, label)
        if f.kind == "file":
            return self.file(f, path, value, required, label)
        return self.text(f, path, value, required, label)

    def label(self, f: Field, path: str, required: bool, label: str | None) -> Markup:
        title = label or f.title or (str(split_path(path)[-1]) if path else "")
        return _h("label", {"for": self.fid(path)}, title, self.marker(required))

    def text(self, f: Field, path: str, value: Any, required: bool, label: str | None) -> Markup:
        ids, notes = self.notes(f, path)
        node = f.node
        current = _text(value)
        attrs: dict[str, Any] = {"id": self.fid(path), "name": self.name(path)}
        if f.kind in ("integer", "number"):
            attrs.update(self.number_attrs(f, current))
        else:
            fmt = node.get("format")
            kind = _INPUT_TYPES.get(str(fmt), "text")
            if f.widget in ("email", "tel", "password", "url"):
                kind = f.widget
            if kind == "date" and current and not _is_iso_date(current):
                kind = "text"  # a browser blanks a date input holding an invalid date; keep what was typed
            if kind == "datetime-local" and current:
                local = _local_datetime(current)
                kind, current = ("datetime-local", local) if local else ("text", current)
            attrs["type"] = kind
            if isinstance(node.get("minLength"), int):
                attrs["minlength"] = node["minLength"]
            if isinstance(node.get("maxLength"), int):
                attrs["maxlength"] = node["maxLength"]
            pattern = node.get("pattern")
            if _anchored(pattern):
                attrs["pattern"] = pattern
            if _is_digits_pattern(pattern):
                attrs["inputmode"] = "numeric"
            long_text = isinstance(node.get("maxLength"), int) and node["maxLength"] > 200 and not node.get("format")
            if f.widget == "textarea" or long_text:
                attrs.pop("type")
                attrs.pop("pattern", None)
                attrs["rows"] = f.ui.get("ui:rows", 4)
        if f.ui.get("ui:placeholder"):
            attrs["placeholder"] = str(f.ui["ui:placeholder"])
        if f.ui.get("ui:autocomplete"):
            attrs["autocomplete"] = str(f.ui["ui:autocomplete"])
        elif attrs.get("type") == "email":
            attrs["autocomplete"] = "email"
        if node.get("readOnly") is True or f.ui.get("ui:readonly") is True:
            attrs["readonly"] = True
        attrs["required"] = required
        attrs.update(self.aria(ids, path))
        if "type" in attrs:
            attrs["value"] = current
            control = _h("input", attrs)
        else:
            # The HTML parser drops one newline right after <textarea>; add one so a leading newline survives.
            control = _h("textarea", attrs, ("\n" + current) if current.startswith("\n") else current)
        return _h("div", {"class": self.wrapper_class(path)}, self.label(f, path, required, label), notes, control)

    @staticmethod
    def number_attrs(f: Field, current: str) -> dict[str, Any]:
        node, integer = f.node, f.kind == "integer"
        numeric = not current or (bool(_NUMBER.fullmatch(current)) and math.isfinite(float(current)))
        if not numeric:  # a number input would show nothing for "mười"; the person must see what they typed
            return {"type": "text", "inputmode": "numeric" if integer else "decimal"}
        attrs: dict[str, Any] = {"type": "number", "inputmode": "numeric" if integer else "decimal"}
        for key, attr in (("minimum", "min"), ("maximum", "max")):
            if isinstance(node.get(key), int | float) and not isinstance(node.get(key), bool):
                attrs[attr] = display_scalar(node[key])
        if integer:
            if isinstance(node.get("exclusiveMinimum"), int | float) and not isinstance(node["exclusiveMinimum"], bool):
                attrs["min"] = display_scalar(int(node["exclusiveMinimum"]) + 1)
            if isinstance(node.get("exclusiveMaximum"), int | float) and not isinstance(node["exclusiveMaximum"], bool):
                attrs["max"] = display_scalar(-int(-node["exclusiveMaximum"]) - 1)
        step = node.get("multipleOf")
        attrs["step"] = display_scalar(step) if isinstance(step, int | float) and not isinstance(step, bool) else (
            "1" if integer else "any")
        return attrs

    def select(self, f: Field, path: str, value: Any, required: bool, label: str | None) -> Markup:
        ids, notes = self.notes(f, path)
        current = _text(value)
        options = []
        if not (required and current):
            options.append(_h("option", {"value": ""}, gettext("— Chọn —")))
        for option, text in f.options or []:
            options.append(_h("option", {"value": _option_value(option), "selected": _option_value(option) == current},
                              text))
        attrs = {"id": self.fid(path), "name": self.name(path), "required": required, **self.aria(ids, path)}
        return _h("div", {"class": self.wrapper_class(path)}, self.label(f, path, required, label), notes,
                  _h("select", attrs, *options))

    def choices(self, f: Field, path: str, value: Any, required: bool, *, multiple: bool) -> Markup:
        """A radio group (one choice) or a checkbox group (several) in a fieldset whose legend is the title.

        No element carries the field's own id: each option is `<id>-<value>`, which is what a person or a
        test clicks; the fieldset is `<id>-group`.
        """
        ids, notes = self.notes(f, path)
        options = f.options or []
        if f.kind == "boolean" and not options:
            options = [(True, gettext("Có")), (False, gettext("Không"))]
        chosen = {_option_value(v) for v in value} if multiple and isinstance(value, list) else {_text(value)}
        invalid = "true" if path in self.errors else None
        items = []
        for option, text in options:
            key = _option_value(option)
            option_id = f"{self.fid(path)}-{re.sub(r'[^A-Za-z0-9_]', '-', key)}"
            control = _h("input", {"type": "checkbox" if multiple else "radio", "id": option_id,
                                   "name": self.name(path), "value": key, "checked": key in chosen,
                                   # a required attribute on every checkbox would demand all of them
                                   "required": required and not multiple, "aria-invalid": invalid})
            items.append(_h("div", {"class": "form-option"}, control, " ", _h("label", {"for": option_id}, text)))
        legend = _h("legend", None, f.title or str(split_path(path)[-1]), self.marker(required))
        return _h("fieldset", {"class": self.wrapper_class(path, "form-choices"), "id": f"{self.fid(path)}-group",
                               "aria-describedby": " ".join(ids) or None}, legend, notes, *items)

    def checkbox(self, f: Field, path: str, value: Any, required: bool) -> Markup:
        # `required` in JSON Schema only means "present", which an unchecked box satisfies (False); a box that
        # must be ticked is one whose schema says const: true.
        must_tick = f.node.get("const") is True or f.node.get("enum") == [True]
        ids, notes = self.notes(f, path)
        attrs = {"type": "checkbox", "id": self.fid(path), "name": self.name(path), "value": "true",
                 "checked": value is True, "required": must_tick, **self.aria(ids, path)}
        line = _h("div", {"class": "form-option"}, _h("input", attrs), " ",
                  _h("label", {"for": self.fid(path)}, f.title or str(split_path(path)[-1]), self.marker(must_tick)))
        return _h("div", {"class": self.wrapper_class(path, "form-check")}, line, notes)

    def file(self, f: Field, path: str, value: Any, required: bool, label: str | None) -> Markup:
        ids, notes = self.notes(f, path)
        fid = self.fid(path)
        current = Markup("")
        has_file = isinstance(value, str) and bool(value)
        if has_file:
            name = file_label(value)
            url = self.file_url(value) if self.file_url else None
            shown = _file_link(url, name) if url else _h("strong", None, name)
            current = _h("p", {"class": "form-help form-file-current", "id": f"{fid}-current"},
                         gettext("Đã đính kèm:"), " ", shown, ". ", gettext("Chọn tệp khác nếu muốn thay thế.")) + _h(
                "input", {"type": "hidden", "name": self.name(path), "value": value})
            ids = [*ids, f"{fid}-current"]
        accept = f.node.get("contentMediaType") or (f.ui.get("ui:options") or {}).get("accept")
        offered = self.stored.get(path) or []
        attrs = {"type": "file", "id": fid, "name": self.name(path), "accept": accept,
                 "required": required and not has_file and not offered, **self.aria(ids, path)}
        store = self.store_choice(path, value, offered) if offered else Markup("")
        return _h("div", {"class": self.wrapper_class(path, "form-file")}, self.label(f, path, required, label),
                  notes, current, _h("input", attrs), store)

    def store_choice(self, path: str, value: Any, offered: list[tuple[str, str]]) -> Markup:
        """«Chọn từ kho giấy tờ của tôi»: radio buttons next to the upload, one per stored document of the kind the
        field asks (the server checks the choice again), and "upload a file instead", chosen by default."""
        fid, name = self.fid(path) + "-kho", self.name(path) + STORE_CHOICE
        chosen = str(value.get(STORE_KEY)) if isinstance(value, Mapping) and STORE_KEY in value else ""
        if chosen not in {doc_id for doc_id, _ in offered}:
            chosen = ""  # refused (not theirs, another kind, revoked, expired: said next to the field) or none
        options = [_h("div", {"class": "form-option"},
                      _h("input", {"type": "radio", "id": f"{fid}-0", "name": name, "value": "",
                                   "checked": chosen == "", "disabled": self.inert}), " ",
                      _h("label", {"for": f"{fid}-0"}, gettext("Không dùng, tôi tải tệp lên")))]
        for i, (doc_id, text) in enumerate(offered, start=1):
            options.append(_h("div", {"class": "form-option"},
                              _h("input", {"type": "radio", "id": f"{fid}-{i}", "name": name, "value": doc_id,
                                           "checked": chosen == doc_id, "disabled": self.inert}), " ",
                              _h("label", {"for": f"{fid}-{i}"}, text)))
        return _h("fieldset", {"class": "form-store-choice", "id": fid},
                  _h("legend", None, gettext("Hoặc chọn từ kho giấy tờ của tôi")), *options)

    def fieldset(self, f: Field, path: str, value: Any, required: bool) -> Markup:
        ids, notes = self.notes(f, path)
        legend = _h("legend", None, f.title or str(split_path(path)[-1]), self.marker(required))
        attrs = {"class": "form-fieldset", "id": self.fid(path), "aria-describedby": " ".join(ids) or None}
        return _h("fieldset", attrs, legend, notes, self.object_body(f, path, value))

    def group(self, f: Field, path: str, value: Any, required: bool) -> Markup:
        """A repeatable group; "add" and "remove" are submit buttons the caller answers by re-rendering."""
        self.any_group = True
        ids, notes = self.notes(f, path)
        item = f.item()
        values = value if isinstance(value, list) else []
        count = max(len(values), f.min_items, 1)
        item_title = item.title or f.title or gettext("Mục")
        parts: list[Markup] = [_h("input", {"type": "hidden", "name": self.name(path) + ".__count__", "value": count})]
        for i in range(count):
            item_path = child_path(path, i)
            item_value = values[i] if i < len(values) else MISSING
            heading = gettext("%(item)s thứ %(n)s", item=item_title, n=i + 1)
            remove = Markup("")
            if i >= f.min_items:
                remove = _h("button", {"type": "submit", "class": "secondary form-remove", "name": "__remove__",
                                       "value": self.name(item_path), "formnovalidate": True, "disabled": self.inert},
                            gettext("Xóa %(item)s", item=_lower_first(heading)))
            if item.kind == "object":
                if item_value is MISSING:
                    item_value = {}
                ids_i, notes_i = self.notes(item, item_path)
                parts.append(_h("fieldset", {"class": "form-group-item", "id": self.fid(item_path),
                                             "aria-describedby": " ".join(ids_i) or None},
                                _h("legend", None, heading), notes_i, self.object_body(item, item_path, item_value),
                                remove))
            else:
                if item_value is MISSING and not values:
                    item_value = item.default
                parts.append(_h("div", {"class": "form-group-item"},
                                self.field(item, item_path, item_value, False, label=heading), remove))
        if f.max_items is None or count < f.max_items:
            parts.append(_h("button", {"type": "submit", "class": "secondary form-add", "name": "__add__",
                                       "value": self.name(path), "formnovalidate": True, "disabled": self.inert},
                            gettext("Thêm %(item)s", item=_lower_first(item_title))))
        legend = _h("legend", None, f.title or item_title, self.marker(required))
        return _h("fieldset", {"class": "form-group", "id": self.fid(path), "aria-describedby": " ".join(ids) or None},
                  legend, notes, *parts)


def _placed(errors: Mapping[str, str], shown: set[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Move an error whose field is not on the page (a checkbox-group item, a hidden field) to the nearest
    shown ancestor; what has none (the root) is returned separately for the top of the form."""
    placed: dict[str, str] = {}
    loose: dict[str, str] = {}
    for path, message in errors.items():
        parts = split_path(path)
        target = None
        while parts:
            candidate = join_path(parts)
            if candidate in shown:
                target = candidate
                break
            parts = parts[:-1]
        if target is None:
            loose[path] = message
        else:
            placed.setdefault(target, message)
    return placed, loose


def render_form(schema: Mapping[str, Any], ui: Mapping[str, Any] | None = None, data: Mapping[str, Any] | None = None,
                errors: Mapping[str, str] | None = None, *, prefix: str = "", readonly: bool = False,
                prefill_sources: Mapping[str, str] | None = None, file_url: FileUrl | None = None,
                inert: bool = False, stored: StoreOffers | None = None) -> Markup:
    """The inner HTML of a form's fields; the caller writes <form>, the CSRF token and the submit button.

    `errors` and `prefill_sources` are keyed by field path (`nguoi_yeu_cau.ho_ten`, `con[0].ho_ten`); HTML
    names are `prefix + path`. `file_url(reference)` may turn an attachment into a link. `inert` (a preview):
    every button the fields bring is disabled, so nothing submits the form. `stored`: documents of the person's
    store a file field may take instead of an upload (by field path), offered next to it.
    """
    if readonly:
        return render_values(schema, ui, data, prefill_sources=prefill_sources, file_url=file_url)
    root = describe_root(schema, ui)
    errors = dict(errors or {})
    renderer = _Renderer(errors, prefix, prefill_sources or {}, file_url, inert, stored)
    body = renderer.object_body(root, "", data or {})
    placed, loose = _placed(errors, renderer.shown)
    if any(path not in renderer.shown for path in errors) and placed:
        renderer = _Renderer(placed, prefix, prefill_sources or {}, file_url, inert, stored)
        body = renderer.object_body(root, "", data or {})
    head: list[Markup] = []
    if loose:
        head.append(_h("div", {"class": "form-error-summary", "id": field_id("", prefix) + "error", "role": "alert"},
                       *[_h("p", {"class": "form-error"}, message) for message in loose.values()]))
    if renderer.any_required:
        head.append(_h("p", {"class": "form-help form-required-note"}, gettext("Các trường có dấu"), " ",
                       _h("span", {"class": "form-required"}, "*"), " ", gettext("là bắt buộc.")))
    if renderer.any_group:
        # Enter in a text box "clicks" the first submit button of the form; without this one that would be
        # an "add item" button. It carries no name, like the caller's own submit button.
        head.append(_h("button", {"type": "submit", "class": "form-default-submit", "hidden": True,
                                  "tabindex": "-1", "aria-hidden": "true", "disabled": inert}, gettext("Gửi")))
    return Markup("").join(head) + body


# ---------------------------------------------------------------- read-only


class _Values:
    def __init__(self, sources: Mapping[str, str], file_url: FileUrl | None) -> None:
        self.sources = sources
        self.file_url = file_url

    def block(self, f: Field, path: str, data: Any) -> Markup:
        data = data if isinstance(data, Mapping) else {}
        rows: list[Markup] = []
        for name, sub, _ in f.children():
            if sub.hidden:
                continue
            sub_path = child_path(path, name)
            shown = self.value(sub, sub_path, data.get(name, MISSING))
            if sub_path in self.sources:
                shown += _h("small", {"class": "form-help form-source"}, " ("
                            + gettext("lấy từ %(source)s", source=self.sources[sub_path]) + ")")
            rows.append(_h("dt", None, sub.title or name) + _h("dd", None, shown))
        return _h("dl", {"class": "values form-values"}, *rows)

    def value(self, f: Field, path: str, value: Any) -> Markup:
        empty = _h("span", {"class": "muted form-empty"}, gettext("Không có"))
        if f.kind == "object":
            return self.block(f, path, value) if isinstance(value, Mapping) and value else empty
        if f.kind == "array":
            if not isinstance(value, list) or not value:
                return empty
            item = f.item()
            return _h("ol", {"class": "form-values-list"},
                      *[_h("li", None, self.value(item, child_path(path, i), v)) for i, v in enumerate(value)])
        if f.kind == "multi":
            if not isinstance(value, list) or not value:
                return empty
            labels = {_option_value(v): text for v, text in f.options or []}
            return escape(", ".join(labels.get(_option_value(v), _text(v)) for v in value))
        if f.kind == "boolean" and isinstance(value, bool):
            labels = {_option_value(v): text for v, text in f.options or []}
            return escape(labels.get(_option_value(value), gettext("Có") if value else gettext("Không")))
        if value is MISSING or value is None or value == "":
            return empty
        if f.kind == "file" and isinstance(value, str):
            url = self.file_url(value) if self.file_url else None
            return _file_link(url, file_label(value)) if url else escape(file_label(value))
        if f.options is not None:
            labels = {_option_value(v): text for v, text in f.options}
            return escape(labels.get(_option_value(value), _text(value)))
        text = _text(value)
        fmt = f.node.get("format")
        if fmt == "date" and _is_iso_date(text):
            return escape(date.fromisoformat(text).strftime(DATE_FORMAT))
        if fmt == "date-time":
            local = _local_datetime(text)
            if local:
                return escape(datetime.fromisoformat(local).strftime(DATETIME_FORMAT))  # one format: app/formats.py
        if isinstance(value, float):
            text = text.replace(".", ",")
        return escape(text)


def render_values(schema: Mapping[str, Any], ui: Mapping[str, Any] | None, data: Any, *,
                  prefill_sources: Mapping[str, str] | None = None, file_url: FileUrl | None = None) -> Markup:
    """Submitted data as a definition list labelled with the form's titles (officers viewing a dossier):
    choices by their labels, dates as DD/MM/YYYY, attachments by file name."""
    root = describe_root(schema, ui)
    return _Values(prefill_sources or {}, file_url).block(root, "", data)

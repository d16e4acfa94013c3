"""JSON Schema → accessible HTML that works without JavaScript.

Each field gets a label, its help text and its error linked by aria-describedby; an invalid field is
marked aria-invalid and keeps what the person typed. Repeatable groups add and remove items with
ordinary submit buttons, so no script is needed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from markupsafe import Markup, escape

from app.eforms.schema import field_type

Ui = Mapping[str, Any]
FileUrl = Callable[[str], str | None]


def field_id(path: str) -> str:
    return "f-" + re.sub(r"[^A-Za-z0-9_]", "-", path)


def options_of(node: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(value, label) pairs from enum, or from oneOf/anyOf of const+title."""
    for key in ("oneOf", "anyOf"):
        choices = node.get(key)
        if isinstance(choices, list) and all(isinstance(c, Mapping) and "const" in c for c in choices):
            return [(str(c["const"]), str(c.get("title", c["const"]))) for c in choices]
    if isinstance(node.get("enum"), list):
        labels = node.get("x-enum-titles") or []
        return [(str(v), str(labels[i]) if i < len(labels) else str(v)) for i, v in enumerate(node["enum"])]
    return []


def is_file(node: Mapping[str, Any], ui: Ui) -> bool:
    return field_type(node) == "string" and (bool(node.get("contentMediaType")) or ui.get("ui:widget") == "file")


def file_label(reference: str) -> str:
    return reference.split("/", 1)[1] if "/" in reference else reference


def _ordered(node: Mapping[str, Any], ui: Ui) -> list[str]:
    names = list((node.get("properties") or {}).keys())
    order = [n for n in ui.get("ui:order", []) if n in names]
    return order + [n for n in names if n not in order]


class _Renderer:
    def __init__(self, errors: Mapping[str, str], prefill: Mapping[str, str]) -> None:
        self.errors = errors
        self.prefill = prefill

    def object_fields(self, node: Mapping[str, Any], ui: Ui, data: Any, path: str) -> str:
        data = data if isinstance(data, Mapping) else {}
        required = set(node.get("required") or [])
        out = []
        for name in _ordered(node, ui):
            child = node["properties"][name]
            if not isinstance(child, Mapping):
                continue
            child_path = f"{path}.{name}" if path else name
            out.append(self.field(child, ui.get(name) or {}, data.get(name), child_path, name in required))
        return "".join(out)

    def _described(self, path: str, node: Mapping[str, Any], ui: Ui) -> tuple[str, str, str]:
        """(aria attributes, help html, error html) for a field."""
        fid = field_id(path)
        ids, parts = [], []
        help_text = ui.get("ui:help") or node.get("description")
        if help_text:
            ids.append(f"{fid}-help")
            parts.append(f'<span class="form-help" id="{fid}-help">{escape(help_text)}</span>')
        if path in self.prefill:
            ids.append(f"{fid}-source")
            parts.append(f'<span class="form-help form-source" id="{fid}-source">Lấy từ '
                         f"{escape(self.prefill[path])}</span>")
        error = ""
        if path in self.errors:
            ids.append(f"{fid}-error")
            error = f'<span class="form-error" id="{fid}-error" role="alert">{escape(self.errors[path])}</span>'
        attrs = f' aria-describedby="{" ".join(ids)}"' if ids else ""
        if error:
            attrs += ' aria-invalid="true"'
        return attrs, "".join(parts), error

    @staticmethod
    def _label(node: Mapping[str, Any], path: str, required: bool, target: str | None = None) -> str:
        title = escape(node.get("title") or path.rsplit(".", 1)[-1])
        mark = ('<span class="form-required" aria-hidden="true">*</span>'
                '<span class="visually-hidden" hidden> (bắt buộc)</span>') if required else ""
        return f'<label for="{target or field_id(path)}">{title}{mark}</label>'

    def field(self, node: Mapping[str, Any], ui: Ui, value: Any, path: str, required: bool) -> str:
        kind = field_type(node)
        if ui.get("ui:widget") == "hidden":
            return f'<input type="hidden" name="{escape(path)}" value="{escape(_text(value, node))}">'
        if kind == "object":
            legend = escape(node.get("title") or path.rsplit(".", 1)[-1])
            _, help_html, error = self._described(path, node, ui)
            return (f'<fieldset class="form-object" id="{field_id(path)}"><legend>{legend}</legend>{help_html}{error}'
                    f"{self.object_fields(node, ui, value, path)}</fieldset>")
        if kind == "array":
            return self.array(node, ui, value, path, required)
        attrs, help_html, error = self._described(path, node, ui)
        fid, name = field_id(path), escape(path)
        req = " required" if required else ""
        if kind == "boolean":
            checked = " checked" if (value if value is not None else node.get("default")) is True else ""
            return (f'<div class="form-field form-check"><span><input type="checkbox" id="{fid}" name="{name}" '
                    f'value="true"{checked}{attrs}> {self._label(node, path, False)}</span>{help_html}{error}</div>')
        options = options_of(node)
        current = _text(value, node)
        if options and ui.get("ui:widget") == "radio":
            radios = "".join(
                f'<label><input type="radio" id="{fid}-{escape(v)}" name="{name}" value="{escape(v)}"'
                f'{" checked" if v == current else ""}{req}{attrs}> {escape(label)}</label> '
                for v, label in options)
            legend = escape(node.get("title") or path)
            return (f'<fieldset class="form-field form-radio" id="{fid}"><legend>{legend}'
                    f'{"<span class=form-required>*</span>" if required else ""}</legend>'
                    f"{radios}{help_html}{error}</fieldset>")
        if options:
            opts = '<option value="">— Chọn —</option>' + "".join(
                f'<option value="{escape(v)}"{" selected" if v == current else ""}>{escape(label)}</option>'
                for v, label in options)
            control = f'<select id="{fid}" name="{name}"{req}{attrs}>{opts}</select>'
        elif is_file(node, ui):
            accept = escape(node.get("contentMediaType") or "")
            keep = ""
            if isinstance(value, str) and value:
                keep = (f'<input type="hidden" name="{name}" value="{escape(value)}">'
                        f'<span class="form-help">Đã tải lên: {escape(file_label(value))}</span>')
            control = (f'<input type="file" id="{fid}" name="{name}" accept="{accept}"'
                       f'{req if not keep else ""}{attrs}>{keep}')
        elif kind == "string" and (ui.get("ui:widget") == "textarea" or int(node.get("maxLength") or 0) > 200):
            control = f'<textarea id="{fid}" name="{name}"{_limits(node)}{req}{attrs}>{escape(current)}</textarea>'
        else:
            control = (f'<input type="{_input_type(node, kind)}" id="{fid}" name="{name}" '
                       f'value="{escape(current)}"{_limits(node)}{req}{attrs}'
                       f'{_placeholder(ui)}>')
        return (f'<div class="form-field">{self._label(node, path, required)}{control}'
                f"{help_html}{error}</div>")

    def array(self, node: Mapping[str, Any], ui: Ui, value: Any, path: str, required: bool) -> str:
        items = node.get("items") if isinstance(node.get("items"), Mapping) else {}
        assert isinstance(items, Mapping)
        attrs, help_html, error = self._described(path, node, ui)
        title = escape(node.get("title") or path)
        values = value if isinstance(value, list) else []
        if field_type(items) != "object":  # multiple choice from a list
            chosen = {str(v) for v in values}
            boxes = "".join(
                f'<label><input type="checkbox" id="{field_id(path)}-{escape(v)}" name="{escape(path)}" '
                f'value="{escape(v)}"{" checked" if v in chosen else ""}{attrs}> {escape(label)}</label> '
                for v, label in options_of(items))
            return (f'<fieldset class="form-field form-checks" id="{field_id(path)}"><legend>{title}</legend>'
                    f"{boxes}{help_html}{error}</fieldset>")
        minimum = int(node.get("minItems") or 0)
        count = max(len(values), minimum, 1 if required or not values else 0, 1)
        item_title = escape(items.get("title") or node.get("title") or "Mục")
        item_ui = ui.get("items") or {}
        parts = []
        for i in range(count):
            item_path = f"{path}[{i}]"
            remove = ""
            if i >= minimum:
                remove = (f'<button type="submit" class="secondary" name="__remove__" value="{escape(item_path)}" '
                          f'formnovalidate>Xóa {item_title.lower()} thứ {i + 1}</button>')
            inner = self.object_fields(items, item_ui, values[i] if i < len(values) else {}, item_path)
            parts.append(f'<fieldset class="form-item" id="{field_id(item_path)}"><legend>{item_title} thứ {i + 1}'
                         f"</legend>{inner}{remove}</fieldset>")
        maximum = node.get("maxItems")
        add = ""
        if maximum is None or count < int(maximum):
            add = (f'<button type="submit" class="secondary" name="__add__" value="{escape(path)}" formnovalidate>'
                   f"Thêm {item_title.lower()}</button>")
        return (f'<fieldset class="form-group" id="{field_id(path)}"><legend>{title}</legend>{help_html}{error}'
                f"{''.join(parts)}{add}</fieldset>")


def _text(value: Any, node: Mapping[str, Any]) -> str:
    if value is None:
        value = node.get("default")
    return "" if value is None or isinstance(value, dict | list) else str(value)


def _input_type(node: Mapping[str, Any], kind: str | None) -> str:
    if kind in ("integer", "number"):
        return "number"
    return {"date": "date", "date-time": "datetime-local", "email": "email", "time": "time",
            "uri": "url"}.get(str(node.get("format")), "tel" if _digits_only(node) else "text")


def _digits_only(node: Mapping[str, Any]) -> bool:
    return bool(re.fullmatch(r"\^?(0|\[0-9\]|\\d)(\[0-9\]|\\d)?(\{\d+(,\d*)?\})?\$?", str(node.get("pattern", ""))))


def _limits(node: Mapping[str, Any]) -> str:
    out = []
    kind = field_type(node)
    if kind in ("integer", "number"):
        for key, attr in (("minimum", "min"), ("maximum", "max")):
            if key in node:
                out.append(f' {attr}="{escape(node[key])}"')
        out.append(' step="1"' if kind == "integer" else ' step="any"')
    else:
        if "minLength" in node:
            out.append(f' minlength="{escape(node["minLength"])}"')
        if "maxLength" in node:
            out.append(f' maxlength="{escape(node["maxLength"])}"')
        if "pattern" in node:
            out.append(f' pattern="{escape(str(node["pattern"]).strip("^$"))}"')
            if _digits_only(node):
                out.append(' inputmode="numeric"')
    return "".join(out)


def _placeholder(ui: Ui) -> str:
    return f' placeholder="{escape(ui["ui:placeholder"])}"' if ui.get("ui:placeholder") else ""


def render_form(schema: Mapping[str, Any], ui: Mapping[str, Any] | None = None, data: Mapping[str, Any] | None = None,
                errors: Mapping[str, str] | None = None, *, prefix: str = "", readonly: bool = False,
                prefill_sources: Mapping[str, str] | None = None, file_url: FileUrl | None = None) -> Markup:
    """The inner HTML of the form's fields; the caller writes <form>, the CSRF token and the buttons."""
    if readonly:
        return render_values(schema, ui, data, file_url=file_url)
    renderer = _Renderer(errors or {}, prefill_sources or {})
    return Markup(renderer.object_fields(schema, ui or {}, data or {}, prefix))  # noqa: S704 - every value escaped


def render_values(schema: Mapping[str, Any], ui: Mapping[str, Any] | None, data: Any,
                  *, file_url: FileUrl | None = None) -> Markup:
    """Submitted data as a definition list, labelled with the form's titles (for officers and receipts)."""

    def show(node: Mapping[str, Any], ui_node: Ui, value: Any) -> str:
        kind = field_type(node)
        if kind == "object":
            return block(node, ui_node, value)
        if kind == "array":
            items = node.get("items") if isinstance(node.get("items"), Mapping) else {}
            assert isinstance(items, Mapping)
            values = value if isinstance(value, list) else []
            if field_type(items) == "object":
                return "".join(f"<div class=form-item>{block(items, ui_node.get('items') or {}, v)}</div>"
                               for v in values) or "—"
            labels = dict(options_of(items))
            return escape(", ".join(labels.get(str(v), str(v)) for v in values)) or "—"
        if kind == "boolean":
            return "Có" if value is True else "Không"
        if value is None or value == "":
            return "—"
        if is_file(node, ui_node):
            url = file_url(str(value)) if file_url else None
            label = escape(file_label(str(value)))
            return f'<a href="{escape(url)}">{label}</a>' if url else label
        labels = dict(options_of(node))
        return str(escape(labels.get(str(value), str(value))))

    def block(node: Mapping[str, Any], ui_node: Ui, value: Any) -> str:
        value = value if isinstance(value, Mapping) else {}
        rows = []
        for name in _ordered(node, ui_node):
            child = node["properties"][name]
            if not isinstance(child, Mapping):
                continue
            title = escape(child.get("title") or name)
            rows.append(f"<dt>{title}</dt><dd>{show(child, ui_node.get(name) or {}, value.get(name))}</dd>")
        return f'<dl class="values">{"".join(rows)}</dl>'

    return Markup(block(schema, ui or {}, data))  # noqa: S704 - every value escaped

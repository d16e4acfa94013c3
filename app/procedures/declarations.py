"""Cross-checks of what a package declares for the officers' screens, at upload.

- `lookup_results` (manifest): each entry names a service task's result variable, and each field's `compare`
  a field of one of the package's forms;
- `components_field` (manifest): the checklist, in the form of the step that receives the dossier, of the
  component codes the manifest declares;
- `ui:reason` / `ui:decision` (a form's UI hints): fields of that form;
- `ui:result` (a form's UI hints): its file fields that carry the electronic result the applicant downloads;
- `result_documents` (manifest): each key a `ui:result` field of one of the package's forms (what goes into the
  applicant's personal document store, app.dossiers.docstore).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask_babel import gettext, lazy_gettext

from app.engine.analysis import BpmnAnalysis, Problem

MANIFEST = "procedure.json"
UI_ROLES = {"ui:reason": lazy_gettext("lý do"), "ui:decision": lazy_gettext("quyết định"),
            "ui:result": lazy_gettext("kết quả điện tử")}


def _field(schema: Any, pointer: str) -> Mapping[str, Any] | None:
    """The schema node of the field a JSON pointer names in data valid against `schema` (through properties
    and array items), or None."""
    node = schema
    for raw in pointer.lstrip("/").split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping):
            return None
        if node.get("type") == "array" or "items" in node:
            if part.isdigit() and isinstance(node.get("items"), Mapping):
                node = node["items"]
                continue
            return None
        properties = node.get("properties")
        if not isinstance(properties, Mapping) or part not in properties:
            return None
        node = properties[part]
    return node if isinstance(node, Mapping) else None


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _lookup_problems(manifest: Mapping[str, Any], analysis: BpmnAnalysis | None,
                     forms: Mapping[str, Any], failed: set[str]) -> Iterable[Problem]:
    declared = manifest.get("lookup_results") or {}
    if not isinstance(declared, Mapping):
        return
    results = sorted({t.result_variable for t in analysis.service_tasks}) if analysis is not None else None
    schemas = [s for n, s in forms.items() if n.endswith(".schema.json")]
    for variable, entry in declared.items():
        where = f"/lookup_results/{_escape(variable)}"
        if results is not None and variable not in results:
            yield Problem(MANIFEST, None, where, "lookup_result_unknown",
                          gettext("Mục lookup_results «%(variable)s» không phải kết quả (resultVariable) của tác vụ "
                                  "dịch vụ nào trong sơ đồ. Các kết quả có: %(results)s.",
                                  variable=variable, results=', '.join(results) or gettext("(không có)")))
        for index, spec in enumerate((entry or {}).get("fields") or [] if isinstance(entry, Mapping) else []):
            pointer = spec.get("compare") if isinstance(spec, Mapping) else None
            if isinstance(pointer, str) and not any(_field(s, pointer) is not None for s in schemas) and not any(
                    name.endswith(".schema.json") for name in failed):
                yield Problem(MANIFEST, None, f"{where}/fields/{index}/compare", "lookup_compare_unknown",
                              gettext("Trường đối chiếu «%(pointer)s» của «%(key)s» không có trong biểu mẫu nào của "
                                      "gói: ghi JSON pointer của trường người dân kê khai, ví dụ /me/ho_ten.",
                                      pointer=pointer, key=spec.get('key')))


def _components_problems(manifest: Mapping[str, Any], analysis: BpmnAnalysis,
                         forms: Mapping[str, Any]) -> Iterable[Problem]:
    pointer = manifest.get("components_field")
    if not isinstance(pointer, str):
        return
    receiving = [t for t in analysis.user_tasks
                 if str(t.properties.get("receivesDossier", "")).lower() == "true" and t.form in forms]
    if any(str(t.properties.get("receivesDossier", "")).lower() == "true" and t.form not in forms
           for t in analysis.user_tasks):
        return  # a receiving step's form missing or failing its own check (reported): its checklist is unknown
    if not receiving:
        yield Problem(MANIFEST, None, "/components_field", "components_field_unused",
                      gettext("Có components_field nhưng sơ đồ không có bước tiếp nhận hồ sơ (thuộc tính "
                              "receivesDossier) dùng biểu mẫu trong gói."))
        return
    codes = [c.get("code") for c in manifest.get("components") or [] if isinstance(c, Mapping)]
    for task in receiving:
        node = _field(forms[task.form or ""], pointer)
        items = node.get("items") if node is not None else None
        if node is None or node.get("type") != "array" or not isinstance(items, Mapping):
            yield Problem(MANIFEST, None, "/components_field", "components_field_unknown",
                          gettext("components_field «%(pointer)s» phải là một danh sách (array) trong biểu mẫu "
                                  "«%(form)s» của bước «%(title)s».",
                                  pointer=pointer, form=task.form, title=task.title))
            continue
        unknown = [str(v) for v in items.get("enum") or [] if v not in codes]
        if unknown:
            yield Problem(task.form or MANIFEST, None, pointer + "/items/enum", "components_field_codes",
                          gettext("Danh sách thành phần đã nhận có mã %(items)s không khai báo trong mục components "
                                  "của procedure.json.",
                                  items=', '.join(unknown)))


def _ui_hint_problems(forms: Mapping[str, Any], failed: set[str]) -> Iterable[Problem]:
    for name, ui in sorted(forms.items()):
        if not name.endswith(".ui.json") or not isinstance(ui, Mapping):
            continue
        schema_name = name.removesuffix(".ui.json") + ".schema.json"
        if schema_name in failed:
            continue  # the schema's own problem is reported; its fields are not known
        schema = forms.get(schema_name)
        if schema is None:
            continue  # a schema missing from the package is reported where a step names it; no guess about its fields
        properties = schema.get("properties") if isinstance(schema, Mapping) else None
        for key, role in UI_ROLES.items():
            raw = ui.get(key)
            if raw is None:
                continue
            fields = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else [None]
            for field in fields:
                if not isinstance(field, str) or not isinstance(properties, Mapping) or field not in properties:
                    yield Problem(name, None, f"/{key}", "ui_hint_unknown_field",
                                  gettext("«%(key)s» phải là tên một trường của biểu mẫu (hoặc danh sách tên trường) "
                                          "làm %(role)s; biểu mẫu không có trường «%(field)s».",
                                          key=key, role=role, field=field))
                elif key == "ui:result" and not (isinstance(properties[field], Mapping)
                                                 and properties[field].get("contentMediaType")):
                    yield Problem(name, None, f"/{key}", "ui_result_not_a_file",
                                  gettext("«ui:result» phải là trường tệp (có contentMediaType, ví dụ "
                                          "\"application/pdf\"): trường «%(field)s» không phải trường tệp.",
                                          field=field))


def _result_document_problems(manifest: Mapping[str, Any], forms: Mapping[str, Any],
                               failed: set[str]) -> Iterable[Problem]:
    declared = manifest.get("result_documents") or {}
    if not isinstance(declared, Mapping) or any(name.endswith(".ui.json") for name in failed):
        return
    results: set[str] = set()
    for name, ui in forms.items():
        raw = ui.get("ui:result") if name.endswith(".ui.json") and isinstance(ui, Mapping) else None
        results.update([raw] if isinstance(raw, str) else [r for r in raw if isinstance(r, str)]
                       if isinstance(raw, list) else [])
    for field in declared:
        if field not in results:
            yield Problem(MANIFEST, None, f"/result_documents/{_escape(field)}", "result_document_unknown",
                          gettext("Mục result_documents «%(field)s» phải là trường kết quả điện tử («ui:result») của "
                                  "một biểu mẫu trong gói. Các trường kết quả có: %(fields)s.", field=field,
                                  fields=", ".join(sorted(results)) or gettext("(không có)")))


def declaration_problems(manifest: Mapping[str, Any] | None, analysis: BpmnAnalysis | None,
                         forms: Mapping[str, Any], unreadable: Iterable[str] = ()) -> list[Problem]:
    """What the manifest and the UI hints declare, against the diagram and the forms.

    A declaration is not judged against an input that failed its own check (a diagram the engine did not
    build, a form that is not valid JSON or not a valid schema): that input's problem is already reported,
    and judging against it would only add false ones. `unreadable`: the forms that failed.
    """
    failed = set(unreadable)
    readable = {name: form for name, form in forms.items() if name not in failed}
    if analysis is not None and not analysis.engine_read:
        analysis = None
    problems = list(_ui_hint_problems(readable, failed))
    if manifest is not None:
        problems += _lookup_problems(manifest, analysis, readable, failed)
        problems += _result_document_problems(manifest, readable, failed)
        if analysis is not None:
            problems += _components_problems(manifest, analysis, readable)
    return problems

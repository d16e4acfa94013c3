"""Converting another modeller's export into what the platform reads, where the mapping is unambiguous.

The checker (app.engine.foreign) names every extension of Camunda, Signavio or Bizagi the platform ignores. A few
of them say exactly what the platform's own setting would be, given the rest of the package:

- isExecutable="false" (or absent) on the one process that could run (the only one with steps, or with user
  tasks; or the one procedure.json's process_id names) → isExecutable="true";
- camunda:formKey / camunda:formRef / zeebe:formDefinition of a user task naming a form whose `<name>.schema.json`
  is in the package → spiffworkflow:property formJsonSchemaFilename;
- camunda:property / zeebe:property named like one of the platform's properties (dossierStatus, allottedTime…)
  → the same spiffworkflow:property;
- camunda:candidateGroups / zeebe:assignmentDefinition candidateGroups holding exactly one group that is a
  platform role code, on tasks of a lane procedure.json does not map → that lane mapped to that role.

Nothing else is converted: an assignee names a person (or an expression) and the platform gives steps to roles,
so no mapping exists; Java delegates, data mappings and listeners need a person to decide what the platform
should do instead. `convert_package` is a pure function: it returns a new package and the list of what it
changed (with the line in the file as uploaded), and the studio shows that list before anyone downloads the
result. Nothing is ever changed silently.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext
from lxml import etree

from app.engine import foreign
from app.engine.xmlsafe import XmlError, parse_xml
from app.procedures.package import MANIFEST, PackageFiles, manifest_schema

_log = logging.getLogger(__name__)
_EXTENSIONS = f"{{{foreign.BPMN_NS}}}extensionElements"
_DOCUMENTATION = f"{{{foreign.BPMN_NS}}}documentation"
_SPIFF = foreign.SPIFF_NS
_FORM_ATTRIBUTES = ("formKey", "formRef", "formRefBinding", "formRefVersion")


@dataclass(frozen=True)
class Change:
    """One thing the conversion changed: where (file, line as uploaded), which problem it answers, and what."""

    file: str
    line: int | None
    code: str
    message: str


@dataclass
class Conversion:
    package: PackageFiles
    changes: list[Change] = field(default_factory=list)


def role_codes() -> tuple[str, ...]:
    """The roles a lane may map to (the manifest schema's list, the one the check enforces)."""
    lanes = manifest_schema()["properties"]["lanes"]["additionalProperties"]
    return tuple(str(role) for role in lanes["enum"])


def convert_package(pkg: PackageFiles) -> Conversion:
    """The package with every unambiguous mapping applied, and the list of changes (empty: nothing to convert).

    Never raises: it runs on every check of an upload, and a conversion that fails is simply not offered."""
    try:
        return _convert(pkg)
    except Exception:
        _log.exception("conversion of a package failed")
        return Conversion(pkg, [])


def _convert(pkg: PackageFiles) -> Conversion:
    manifest = _manifest(pkg)
    roots: dict[str, etree._Element] = {}
    for name, data in sorted(pkg.bpmn.items()):
        if not name.lower().endswith(".bpmn"):
            continue
        try:
            root = parse_xml(data, name)
        except XmlError:
            continue  # the check reports it; nothing to convert in a file that cannot be read
        if foreign.is_bpmn(root):
            roots[name] = root
    work = _Work(roots, manifest)
    work.executable()
    work.forms(set(pkg.forms))
    work.properties()
    work.lanes()
    if not work.changes:
        return Conversion(pkg, [])
    bpmn = dict(pkg.bpmn)
    for name in sorted(work.changed_files):
        root = roots[name]
        if work.added_spiff.get(name):
            _declare_spiff(root)
        bpmn[name] = etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")
    manifest_bytes = pkg.manifest
    if work.manifest_changed and manifest is not None:
        manifest_bytes = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    converted = PackageFiles(slug=pkg.slug, bpmn=bpmn, forms=dict(pkg.forms), manifest=manifest_bytes,
                             ignored=list(pkg.ignored))
    changes = sorted(work.changes, key=lambda c: (c.file == MANIFEST, c.file, c.line or 0))
    return Conversion(converted, changes)


def package_zip(pkg: PackageFiles) -> bytes:
    """A package as a zip in the repository layout (bpmn/<slug>/, forms/<slug>/), the same bytes for the same files."""
    slug = pkg.slug or "thu-tuc"
    members = [(f"bpmn/{slug}/{MANIFEST}", pkg.manifest)] if pkg.manifest is not None else []
    members += [(f"bpmn/{slug}/{name}", data) for name, data in sorted(pkg.bpmn.items())]
    members += [(f"forms/{slug}/{name}", data) for name, data in sorted(pkg.forms.items())]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, data in members:
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data or b"")
    return buffer.getvalue()


def _manifest(pkg: PackageFiles) -> dict[str, Any] | None:
    if pkg.manifest is None:
        return None
    try:
        loaded = json.loads(pkg.manifest.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _manual(process: etree._Element) -> Iterator[etree._Element]:
    for element in process.iter(*(f"{{{foreign.BPMN_NS}}}{tag}" for tag in ("userTask", "manualTask", "task"))):
        if element.get("id"):
            yield element


def _foreign_attribute(element: etree._Element, local: str) -> str | None:
    """The qualified name of a Camunda-family attribute `local` on the element, if it carries one."""
    for namespace in foreign.CAMUNDA_NAMESPACES:
        name = f"{{{namespace}}}{local}"
        if element.get(name) is not None:
            return name
    return None


def _foreign_extensions(element: etree._Element, local: str, namespaces: tuple[str, ...]) -> list[etree._Element]:
    return [child for ext in element.iterchildren(_EXTENSIONS) for child in ext.iterchildren()
            if isinstance(child.tag, str) and etree.QName(child).localname == local
            and etree.QName(child).namespace in namespaces]


_ALL_FOREIGN = (*foreign.CAMUNDA_NAMESPACES, foreign.ZEEBE_NS)


class _Work:
    def __init__(self, roots: dict[str, etree._Element], manifest: dict[str, Any] | None) -> None:
        self.roots = roots
        self.manifest = manifest
        self.processes = foreign.processes(roots)
        self.changes: list[Change] = []
        self.changed_files: set[str] = set()
        self.added_spiff: dict[str, bool] = {}
        self.manifest_changed = False

    def _file_of(self, element: etree._Element) -> str:
        root = element.getroottree().getroot()
        return next(name for name, r in self.roots.items() if r is root)

    def _change(self, element: etree._Element, code: str, message: str, line: int | None = None) -> None:
        file = self._file_of(element)
        self.changed_files.add(file)
        self.changes.append(Change(file, line if line is not None else element.sourceline, code, message))

    # ------------------------------------------------------------------ isExecutable

    def executable(self) -> None:
        if not self.processes:
            return
        wanted = (self.manifest or {}).get("process_id")
        target: etree._Element | None = None
        why = ""
        if isinstance(wanted, str) and wanted:
            named = next((p for _, p in self.processes if p.get("id") == wanted), None)
            if named is not None and named.get("isExecutable") != "true":
                target, why = named, gettext("quy trình mà process_id trong procedure.json chỉ định")
        elif not any(p.get("isExecutable") == "true" for _, p in self.processes):
            candidates = foreign.runnable_candidates(self.roots)
            if candidates.only is not None:
                target = candidates.only[1]
                why = (gettext("quy trình duy nhất có tác vụ người dùng") if candidates.with_user_tasks
                       else gettext("quy trình duy nhất có các bước"))
        if target is None:
            return
        before = (f'isExecutable="{target.get("isExecutable")}"' if target.get("isExecutable") is not None
                  else gettext("(không khai báo isExecutable)"))
        target.set("isExecutable", "true")
        self._change(target, "no_executable_process", gettext(
            "Quy trình %(process)s: %(before)s → isExecutable=\"true\" (%(why)s).",
            process=foreign.label(target), before=before, why=why))

    # ------------------------------------------------------------------ forms

    def forms(self, available: set[str]) -> None:
        for _, process in self.processes:
            for task in _manual(process):
                if foreign.FORM_PROPERTY in foreign.spiff_properties(task):
                    continue
                self._form(task, available)

    def _form(self, task: etree._Element, available: set[str]) -> None:
        key_attribute = _foreign_attribute(task, "formKey") or _foreign_attribute(task, "formRef")
        definitions = _foreign_extensions(task, "formDefinition", (foreign.ZEEBE_NS,))
        if key_attribute is not None:
            value = str(task.get(key_attribute))
            written = f'{_prefixed(task, key_attribute)}="{value}"'
        elif definitions:
            definition = definitions[0]
            value = str(definition.get("formId") or definition.get("formKey") or
                        definition.get("externalReference") or "")
            written = " ".join([_prefixed(definition, definition.tag)] + [
                f'{k}="{v}"' for k, v in definition.attrib.items() if "}" not in k])
        else:
            return
        form = foreign.form_file(value)
        if not value or form not in available:
            return  # the form is not in the package: the report says what to add
        line = task.sourceline
        if key_attribute is not None:
            for local in _FORM_ATTRIBUTES:
                name = _foreign_attribute(task, local)
                if name is not None:
                    del task.attrib[name]
        for definition in definitions:
            _remove(definition)
        self._spiff_property(task, foreign.FORM_PROPERTY, form)
        self._change(task, "foreign_form", gettext(
            "Tác vụ %(task)s: %(written)s → spiffworkflow:property formJsonSchemaFilename=\"%(form)s\".",
            task=foreign.label(task), written=written, form=form), line)

    # ------------------------------------------------------------------ properties

    def properties(self) -> None:
        for _, process in self.processes:
            for element in process.iter(f"{{{foreign.BPMN_NS}}}*"):
                for container in _foreign_extensions(element, "properties", _ALL_FOREIGN):
                    self._move_properties(element, container)

    def _move_properties(self, element: etree._Element, container: etree._Element) -> None:
        own = foreign.spiff_properties(element)
        for prop in list(container):
            if not isinstance(prop.tag, str) or etree.QName(prop).localname != "property":
                continue
            name, value = prop.get("name"), prop.get("value")
            if name not in foreign.PLATFORM_PROPERTIES or value is None or name in own:
                continue  # not the platform's, or already set here: which one would win is for the designer
            line = prop.sourceline
            written = f'<{_prefixed(prop, prop.tag)} name="{name}" value="{value}"/>'
            _remove(prop)
            self._spiff_property(element, name, value)
            own[name] = value
            self._change(element, "foreign_properties", gettext(
                "%(element)s: %(written)s → <spiffworkflow:property name=\"%(name)s\" value=\"%(value)s\"/>.",
                element=foreign.element_title(element), written=written, name=name, value=value), line)
        if not [child for child in container if isinstance(child.tag, str)]:
            _remove(container)

    # ------------------------------------------------------------------ lanes

    def lanes(self) -> None:
        manifest = self.manifest
        if manifest is None:
            return
        mapped = manifest.get("lanes", {})
        if not isinstance(mapped, dict):
            return
        roles = set(role_codes())
        # lane name → [(task, role or None when its groups are not one role, how to remove the groups)]
        proposals: dict[str, list[tuple[etree._Element, str | None, str, Any]]] = {}
        for _, process in self.processes:
            lane_of = foreign.lanes_of(process.getroottree().getroot())
            for task in _manual(process):
                lane = lane_of.get(str(task.get("id")))
                found = self._groups(task)
                if lane is None or found is None or lane in mapped:
                    continue
                value, written, remove = found
                group = foreign.groups(value)
                role = group[0] if len(group) == 1 and group[0] in roles else None
                proposals.setdefault(lane, []).append((task, role, written, remove))
        for lane, tasks in proposals.items():
            wanted = {role for _, role, _, _ in tasks}
            if len(wanted) != 1 or None in wanted:
                continue  # tasks of one lane asking for different groups, or a group that is no role
            role = str(next(iter(wanted)))
            mapped[lane] = role
            manifest["lanes"] = mapped
            self.manifest_changed = True
            names = ", ".join(foreign.label(task) for task, _, _, _ in tasks)
            self.changes.append(Change(MANIFEST, None, "foreign_candidate_groups", gettext(
                "procedure.json, mục lanes: thêm \"%(lane)s\": \"%(role)s\" (làn chứa %(tasks)s, giao cho nhóm "
                "«%(role)s» theo candidateGroups).", lane=lane, role=role, tasks=names)))
            for task, _, written, remove in tasks:
                line = task.sourceline
                remove()
                self._change(task, "foreign_candidate_groups", gettext(
                    "Tác vụ %(task)s: xóa %(written)s (người thực hiện là vai trò «%(role)s» của làn «%(lane)s»).",
                    task=foreign.label(task), written=written, role=role, lane=lane), line)

    def _groups(self, task: etree._Element) -> tuple[str, str, Any] | None:
        """(candidateGroups value, as written, a function removing it) of a task, if it has one."""
        attribute = _foreign_attribute(task, "candidateGroups")
        if attribute is not None:
            value = str(task.get(attribute))

            def drop_attribute() -> None:
                del task.attrib[attribute]

            return value, f'{_prefixed(task, attribute)}="{value}"', drop_attribute
        for assignment in _foreign_extensions(task, "assignmentDefinition", (foreign.ZEEBE_NS,)):
            value = assignment.get("candidateGroups")
            if value:
                def drop_element(assignment: etree._Element = assignment) -> None:
                    del assignment.attrib["candidateGroups"]
                    if not assignment.attrib:
                        _remove(assignment)

                return value, f'{_prefixed(assignment, assignment.tag)} candidateGroups="{value}"', drop_element
        return None

    # ------------------------------------------------------------------ writing spiffworkflow properties

    def _spiff_property(self, element: etree._Element, name: str, value: str) -> None:
        extensions = element.find(_EXTENSIONS)
        if extensions is None:
            extensions = etree.Element(_EXTENSIONS)
            documentation = list(element.iterchildren(_DOCUMENTATION))
            _insert(element, extensions, element.index(documentation[-1]) + 1 if documentation else 0)
        properties = extensions.find(f"{{{_SPIFF}}}properties")
        if properties is None:
            properties = etree.Element(f"{{{_SPIFF}}}properties", nsmap={"spiffworkflow": _SPIFF})
            _insert(extensions, properties, len(extensions))
        _insert(properties, etree.Element(f"{{{_SPIFF}}}property", name=name, value=value), len(properties))
        self.added_spiff[self._file_of(element)] = True


def _prefixed(element: etree._Element, name: str) -> str:
    """A qualified name as the file writes it (its prefix where one is declared)."""
    qname = etree.QName(name)
    if qname.namespace is None:
        return qname.localname
    prefix = next((p for p, uri in (element.nsmap or {}).items() if uri == qname.namespace and p), None)
    return f"{prefix}:{qname.localname}" if prefix else qname.localname


def _indent(element: etree._Element) -> str:
    """The whitespace before an element's start tag on its line."""
    previous = element.getprevious()
    parent = element.getparent()
    before = previous.tail if previous is not None else (parent.text if parent is not None else "")
    before = before or ""
    return before.rsplit("\n", 1)[-1] if "\n" in before else ""


def _insert(parent: etree._Element, child: etree._Element, index: int) -> None:
    """Insert `child` at `index` on a line of its own, indented one step deeper than `parent`."""
    inner = _indent(parent) + "  "
    children = [c for c in parent]
    if not children:
        parent.text = "\n" + inner
        child.tail = "\n" + _indent(parent)
        parent.append(child)
        return
    if index == 0:
        child.tail = parent.text or ("\n" + inner)
        parent.text = "\n" + inner
    else:
        previous = children[index - 1]
        child.tail = previous.tail
        previous.tail = "\n" + inner
    parent.insert(index, child)


def _remove(element: etree._Element) -> None:
    """Remove an element and its line (its tail's whitespace goes to whatever came before it)."""
    parent = element.getparent()
    if parent is None:
        return
    previous = element.getprevious()
    if previous is not None:
        previous.tail = element.tail
    else:
        parent.text = element.tail
    parent.remove(element)


def _declare_spiff(root: etree._Element) -> None:
    """Declare the spiffworkflow prefix once on the root rather than on each element that uses it."""
    nsmap: Mapping[str | None, str] = root.nsmap or {}
    if _SPIFF in nsmap.values() or "spiffworkflow" in nsmap:
        return
    prefixes = sorted({p for element in root.iter() if isinstance(element.tag, str)
                       for p in (element.nsmap or {}) if p})
    etree.cleanup_namespaces(root, top_nsmap={"spiffworkflow": _SPIFF}, keep_ns_prefixes=prefixes)

"""A procedure's deployed versions for designers: download a package, compare two versions, retire one.

- Download: the files exactly as deployed (kept in `ProcedureVersion.source_files` since migration 0017m), in the
  repository layout (bpmn/<slug>/procedure.json, bpmn/<slug>/*.bpmn, forms/<slug>/*.json), so that deploying the
  zip anywhere gives the same content hash. A version deployed before the files were kept is rebuilt from what
  is stored (the BPMN text as uploaded; the manifest and forms as JSON written anew): it deploys to the same
  behaviour, but its hash differs (`exact` says which case it is).
- Compare: diagram elements (by BPMN id, with their kind and name) added, removed or changed, and what changed
  in them (name, kind, properties, condition, script, flow ends, other); per form, fields (by JSON pointer)
  added, removed or changed; the manifest's fields (by pointer) changed.
- Retire: decided here — a retired version starts no new dossier, its running dossiers go on (and may be moved,
  app.dossiers.version_moves). Retiring the current version makes the newest version that is not retired the
  current one; with none left the procedure stops accepting dossiers (no current version: the catalogue and the
  submission refuse it) until a new version is deployed. Content identical to a retired version cannot revive
  it: deploying it again answers the retired version (deploy), so a designer deploys a changed package.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lxml import etree
from sqlalchemy import select

from app.clock import now_utc
from app.engine.xmlsafe import XmlError, parse_xml
from app.extensions import db
from app.models import Procedure, ProcedureVersion
from app.procedures.package import MANIFEST, PackageFiles

FORMS = "forms/"


# ---------------------------------------------------------------- finding versions


def find_procedure(code: str) -> Procedure | None:
    found: Procedure | None = db.session.scalar(select(Procedure).where(Procedure.code == code))
    return found


def find_version(procedure: Procedure, number: int) -> ProcedureVersion | None:
    found: ProcedureVersion | None = db.session.scalar(
        select(ProcedureVersion).where(ProcedureVersion.procedure_id == procedure.id,
                                       ProcedureVersion.version == number))
    return found


def versions_of(procedure: Procedure) -> list[ProcedureVersion]:
    return list(db.session.scalars(select(ProcedureVersion).where(ProcedureVersion.procedure_id == procedure.id)
                                   .order_by(ProcedureVersion.version.desc())))


# ---------------------------------------------------------------- download


def package_sources(pkg: PackageFiles) -> dict[str, Any]:
    """What `ProcedureVersion.source_files` keeps of a package: each file's bytes, as text when it is UTF-8."""
    files = {MANIFEST: pkg.manifest or b"", **pkg.bpmn, **{FORMS + k: v for k, v in pkg.forms.items()}}
    text: dict[str, str] = {}
    raw: dict[str, str] = {}
    for name, data in files.items():
        try:
            text[name] = data.decode("utf-8")
        except UnicodeDecodeError:
            raw[name] = base64.b64encode(data).decode("ascii")
    return {"text": text, "base64": raw}


def exact(version: ProcedureVersion) -> bool:
    """Whether the version's download is its files as deployed (same content hash), not a rebuild."""
    return version.source_files is not None


def package_files(version: ProcedureVersion) -> dict[str, bytes]:
    """The version's files by package path ("procedure.json", "<name>.bpmn", "forms/<name>")."""
    kept = version.source_files
    if kept is not None:
        out = {name: text.encode("utf-8") for name, text in (kept.get("text") or {}).items()}
        out.update({name: base64.b64decode(data) for name, data in (kept.get("base64") or {}).items()})
        return out
    out = {MANIFEST: _json_file(version.manifest)}
    out.update({name: text.encode("utf-8") for name, text in version.bpmn_files.items()})
    out.update({FORMS + name: _json_file(doc) for name, doc in version.forms.items()})
    return out


def _json_file(document: Any) -> bytes:
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def package_zip(version: ProcedureVersion, slug: str) -> bytes:
    """The version's package as a zip in the repository layout; the same version always gives the same bytes."""
    stamp = _zip_time(version.deployed_at)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(package_files(version).items()):
            path = f"forms/{slug}/{name[len(FORMS):]}" if name.startswith(FORMS) else f"bpmn/{slug}/{name}"
            info = zipfile.ZipInfo(path, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def _zip_time(at: datetime | None) -> tuple[int, int, int, int, int, int]:
    moment = at or datetime(1980, 1, 1)
    if moment.year < 1980:
        moment = datetime(1980, 1, 1)
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


# ---------------------------------------------------------------- retire


def retire(version: ProcedureVersion, by: str) -> Procedure:
    """Retire `version` (see the module's note for the current one); the caller commits. Idempotent."""
    procedure = db.session.scalar(select(Procedure).where(Procedure.id == version.procedure_id).with_for_update())
    assert procedure is not None
    if version.retired_at is None:
        version.retired_at = now_utc()
        version.retired_by = by[:80]
    if procedure.current_version_id == version.id:
        successor = db.session.scalar(
            select(ProcedureVersion.id).where(ProcedureVersion.procedure_id == procedure.id,
                                              ProcedureVersion.retired_at.is_(None),
                                              ProcedureVersion.id != version.id)
            .order_by(ProcedureVersion.version.desc()).limit(1))
        procedure.current_version_id = successor
        db.session.flush()
        db.session.expire(procedure, ["current_version"])
    return procedure


# ---------------------------------------------------------------- compare


@dataclass(frozen=True)
class Element:
    id: str
    kind: str  # the BPMN element's tag, e.g. userTask
    name: str
    facets: dict[str, str]  # what is compared: properties, condition, script, source, target, nodes, other


def diagram_elements(files: Mapping[str, str | bytes]) -> dict[str, Element]:
    """Every element with an id inside the processes of the BPMN files (lanes, nodes, flows; not the layout), and
    the decisions of the DMN files."""
    found: dict[str, Element] = {}
    for name, text in sorted(files.items()):
        data = text.encode("utf-8") if isinstance(text, str) else text
        try:
            root = parse_xml(data, name)
        except XmlError:
            continue
        for process in root.iter("{*}process"):
            found.update({e.id: e for e in _elements_in(process)})
        for decision in root.iter("{*}decision"):  # a DMN decision table: compared whole
            decision_id = decision.get("id")
            if decision_id:
                found[decision_id] = Element(decision_id, "decision", (decision.get("name") or "").strip(),
                                             {"other": etree.tostring(decision, method="c14n").decode()})
    return found


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _elements_in(process: Any) -> Iterator[Element]:
    for node in process.iter():
        element_id = node.get("id")
        if node is process or not element_id or not isinstance(node.tag, str):
            continue
        kind = _local(node.tag)
        facets: dict[str, str] = {}
        properties = {p.get("name") or "": p.get("value") or ""
                      for p in node.iterfind("./{*}extensionElements//{*}property")}
        if properties:
            facets["properties"] = json.dumps(properties, ensure_ascii=False, sort_keys=True)
        for tag, facet in (("conditionExpression", "condition"), ("script", "script")):
            child = node.find(f"./{{*}}{tag}")
            if child is not None:
                facets[facet] = (child.text or "").strip()
        for attribute, facet in (("sourceRef", "source"), ("targetRef", "target")):
            if node.get(attribute):
                facets[facet] = node.get(attribute) or ""
        other = [etree.tostring(child, method="c14n").decode().strip() for child in node
                 if isinstance(child.tag, str) and not child.get("id")  # an element with an id is compared alone
                 and _local(child.tag) not in ("incoming", "outgoing", "conditionExpression", "script",
                                                "documentation", "extensionElements", "flowNodeRef")]
        members = sorted((child.text or "").strip() for child in node.iterfind("./{*}flowNodeRef"))
        if members:
            facets["nodes"] = " ".join(members)  # a lane's elements
        extensions = node.find("./{*}extensionElements")
        if extensions is not None:
            other += [etree.tostring(child, method="c14n").decode().strip() for child in extensions
                      if isinstance(child.tag, str) and _local(child.tag) != "properties"]
        attributes = {k: v for k, v in node.attrib.items() if k not in ("id", "name", "sourceRef", "targetRef")}
        if attributes:
            other.append(json.dumps(attributes, sort_keys=True))
        if other:
            facets["other"] = "\n".join(other)
        yield Element(element_id, kind, (node.get("name") or "").strip(), facets)


def form_fields(schema: Any, prefix: str = "") -> dict[str, dict[str, Any]]:
    """A JSON schema's fields by JSON pointer, each with its own keywords (not its sub-fields) and `required`."""
    out: dict[str, dict[str, Any]] = {}
    if not isinstance(schema, Mapping):
        return out
    required = set(schema.get("required") or [])
    for key, sub in (schema.get("properties") or {}).items():
        pointer = f"{prefix}/{key}"
        own = {k: v for k, v in sub.items() if k not in ("properties", "items")} if isinstance(sub, Mapping) else {}
        own["required"] = key in required
        out[pointer] = own
        if isinstance(sub, Mapping):
            out.update(form_fields(sub, pointer))
            items = sub.get("items")
            if isinstance(items, Mapping):
                out.update(form_fields(items, pointer + "/*"))
    return out


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for key, sub in value.items():
            out.update(_leaves(sub, f"{prefix}/{key}"))
        return out
    return {prefix or "/": value}


def compare(old: ProcedureVersion, new: ProcedureVersion) -> dict[str, Any]:
    """What changed from `old` to `new` (JSON-ready; the studio's page and the API's answer show the same)."""
    before, after = diagram_elements(old.bpmn_files), diagram_elements(new.bpmn_files)

    def shown(e: Element) -> dict[str, Any]:
        return {"id": e.id, "type": e.kind, "name": e.name}

    changed = []
    for element_id in sorted(set(before) & set(after)):
        a, b = before[element_id], after[element_id]
        aspects = [aspect for aspect, differs in (("name", a.name != b.name), ("type", a.kind != b.kind)) if differs]
        aspects += sorted(k for k in set(a.facets) | set(b.facets) if a.facets.get(k) != b.facets.get(k))
        if aspects:
            changed.append({**shown(b), "old_name": a.name, "old_type": a.kind, "changes": aspects})
    diagram = {"added": [shown(after[i]) for i in sorted(set(after) - set(before))],
               "removed": [shown(before[i]) for i in sorted(set(before) - set(after))],
               "changed": changed}

    forms: list[dict[str, Any]] = []
    old_forms, new_forms = old.forms, new.forms
    for name in sorted(set(old_forms) | set(new_forms)):
        if name not in new_forms or name not in old_forms:
            forms.append({"form": name, "state": "removed" if name not in new_forms else "added",
                          "fields": {"added": [], "removed": [], "changed": []}})
            continue
        if old_forms[name] == new_forms[name]:
            continue
        a_fields, b_fields = form_fields(old_forms[name]), form_fields(new_forms[name])
        fields = {
            "added": [{"pointer": p, "title": str(b_fields[p].get("title") or "")}
                      for p in sorted(set(b_fields) - set(a_fields))],
            "removed": [{"pointer": p, "title": str(a_fields[p].get("title") or "")}
                        for p in sorted(set(a_fields) - set(b_fields))],
            "changed": [{"pointer": p, "title": str(b_fields[p].get("title") or ""),
                         "keywords": sorted(k for k in set(a_fields[p]) | set(b_fields[p])
                                            if a_fields[p].get(k) != b_fields[p].get(k))}
                        for p in sorted(set(a_fields) & set(b_fields)) if a_fields[p] != b_fields[p]],
        }
        forms.append({"form": name, "state": "changed", "fields": fields})

    a_manifest, b_manifest = _leaves(old.manifest), _leaves(new.manifest)
    manifest = [{"pointer": p, "old": a_manifest.get(p), "new": b_manifest.get(p)}
                for p in sorted(set(a_manifest) | set(b_manifest)) if a_manifest.get(p) != b_manifest.get(p)]
    return {"from": old.version, "to": new.version, "diagram": diagram, "forms": forms, "manifest": manifest}

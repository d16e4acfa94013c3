"""Reading a procedure package (folder, uploaded files or zip) and cross-validating its parts.

A package is BPMN (+ DMN) files, the manifest procedure.json and the JSON-schema forms. Every problem
names the file and a line (XML) or a JSON pointer (JSON), so a designer can go straight to it.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

from jsonschema import Draft202012Validator

from app.eforms.schema import check_form_schema
from app.engine.analysis import BpmnAnalysis, Problem, analyze_bpmn
from connectors import operation_catalog

MANIFEST = "procedure.json"
MAX_FILES = 200
MAX_PACKAGE_BYTES = 20 * 1024 * 1024
KNOWN_SUFFIXES = (".bpmn", ".dmn", ".schema.json", ".ui.json")


class PackageError(Exception):
    """The upload cannot even be read as a package (bad zip, too big, no files)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class PackageFiles:
    slug: str
    bpmn: dict[str, bytes] = field(default_factory=dict)
    forms: dict[str, bytes] = field(default_factory=dict)
    manifest: bytes | None = None
    ignored: list[str] = field(default_factory=list)

    def content_hash(self) -> str:
        """Hash of every file that defines behaviour; equal hash = same version."""
        digest = hashlib.sha256()
        parts = [(MANIFEST, self.manifest or b"")]
        parts += sorted(self.bpmn.items()) + sorted(("forms/" + k, v) for k, v in self.forms.items())
        for name, data in parts:
            digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        return digest.hexdigest()


@dataclass
class PackageReport:
    files: PackageFiles
    problems: list[Problem]
    analysis: BpmnAnalysis | None
    manifest: dict[str, Any] | None
    forms: dict[str, Any]

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems) and self.analysis is not None and (
            self.analysis.verdict == "deployable"
        )

    @property
    def verdict(self) -> str:
        if self.analysis is not None and self.analysis.verdict != "deployable":
            return self.analysis.verdict
        return "deployable" if self.ok else "invalid"


def _add(pkg: PackageFiles, name: str, data: bytes) -> None:
    base = PurePosixPath(name.replace("\\", "/")).name
    if not base or base.startswith("."):
        return
    if base == MANIFEST:
        pkg.manifest = data
    elif base.endswith((".bpmn", ".dmn")):
        pkg.bpmn[base] = data
    elif base.endswith((".schema.json", ".ui.json")):
        pkg.forms[base] = data
    else:
        pkg.ignored.append(base)


def load_directory(path: Path) -> PackageFiles:
    """bpmn/<slug>/ with its forms in forms/<slug>/ beside it (the repository layout), or one folder."""
    path = path.resolve()
    if path.is_file():
        if path.suffix == ".zip":
            return load_upload([(path.name, path.read_bytes())], slug=path.stem)
        pkg = PackageFiles(slug=path.stem)
        _add(pkg, path.name, path.read_bytes())
        return pkg
    pkg = PackageFiles(slug=path.name)
    folders = [path]
    sibling_forms = path.parent.parent / "forms" / path.name
    if sibling_forms.is_dir():
        folders.append(sibling_forms)
    for folder in folders:
        for file in sorted(folder.iterdir()):
            if file.is_file():
                _add(pkg, file.name, file.read_bytes())
    return pkg


def load_upload(files: Iterable[tuple[str, bytes]], slug: str | None = None) -> PackageFiles:
    """Files posted one by one, or a single zip holding them (any folder structure)."""
    pkg = PackageFiles(slug=slug or "")
    total = 0
    count = 0
    for name, data in files:
        if name.lower().endswith(".zip"):
            for inner, inner_data in _read_zip(data):
                _add(pkg, inner, inner_data)
                total += len(inner_data)
                count += 1
        else:
            _add(pkg, name, data)
            total += len(data)
            count += 1
        if total > MAX_PACKAGE_BYTES or count > MAX_FILES:
            raise PackageError("package_too_large", "Gói thủ tục quá lớn (tối đa 20 MB và 200 tệp).")
    if count == 0:
        raise PackageError("package_empty", "Chưa chọn tệp nào của gói thủ tục.")
    if not pkg.slug:
        pkg.slug = next(iter(sorted(pkg.bpmn)), "thu-tuc").rsplit(".", 1)[0]
    return pkg


def _read_zip(data: bytes) -> list[tuple[str, bytes]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise PackageError("zip_invalid", "Tệp nén không phải tệp ZIP hợp lệ.") from exc
    entries = [i for i in archive.infolist() if not i.is_dir()]
    if len(entries) > MAX_FILES or sum(i.file_size for i in entries) > MAX_PACKAGE_BYTES:
        raise PackageError("package_too_large", "Gói thủ tục quá lớn (tối đa 20 MB và 200 tệp).")
    out = []
    for info in entries:
        if PurePosixPath(info.filename).suffix.lower() in {".zip"}:
            continue  # no nested archives: a zip bomb's favourite trick
        with archive.open(info) as handle:
            blob = handle.read(MAX_PACKAGE_BYTES + 1)
        if len(blob) > info.file_size or len(blob) > MAX_PACKAGE_BYTES:
            raise PackageError("package_too_large", "Gói thủ tục quá lớn (tối đa 20 MB và 200 tệp).")
        out.append((info.filename, blob))
    return out


@cache
def _manifest_validator() -> Draft202012Validator:
    schema = json.loads((Path(__file__).parent / "manifest.schema.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema)


def _pointer(parts: Iterable[Any]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _load_json(name: str, data: bytes, problems: list[Problem]) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        problems.append(Problem(name, None, None, "json_encoding", "Tệp không được mã hóa UTF-8."))
    except json.JSONDecodeError as exc:
        problems.append(
            Problem(name, exc.lineno, None, "json_malformed",
                    f"JSON không hợp lệ ở dòng {exc.lineno}, cột {exc.colno}: {exc.msg}.")
        )
    return None


_MANIFEST_MESSAGES = {
    "required": "Thiếu trường bắt buộc",
    "pattern": "Giá trị không đúng định dạng",
    "enum": "Giá trị không thuộc danh sách cho phép",
    "type": "Kiểu dữ liệu không đúng",
}


def check_manifest(data: Any) -> list[Problem]:
    problems = []
    for err in sorted(_manifest_validator().iter_errors(data), key=lambda e: list(e.absolute_path)):
        pointer = _pointer(err.absolute_path)
        detail = err.message
        if err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else ""
            pointer = f"{pointer}/{missing}"
            detail = f"thiếu trường «{missing}»"
        label = _MANIFEST_MESSAGES.get(str(err.validator), "Giá trị không hợp lệ")
        problems.append(Problem(MANIFEST, None, pointer or "/", f"manifest_{err.validator}", f"{label}: {detail}."))
    return problems


def check_package(pkg: PackageFiles) -> PackageReport:
    """Validate every part and how the parts refer to each other. Never raises on bad content."""
    problems: list[Problem] = []
    manifest: dict[str, Any] | None = None
    if pkg.manifest is None:
        problems.append(Problem(MANIFEST, None, None, "manifest_missing", "Thiếu tệp mô tả thủ tục procedure.json."))
    else:
        loaded = _load_json(MANIFEST, pkg.manifest, problems)
        if loaded is not None:
            manifest_problems = check_manifest(loaded)
            problems += manifest_problems
            if isinstance(loaded, dict) and not manifest_problems:
                manifest = loaded

    forms: dict[str, Any] = {}
    for name, data in sorted(pkg.forms.items()):
        schema = _load_json(name, data, problems)
        if schema is None:
            continue
        if name.endswith(".schema.json"):
            for pointer, message in check_form_schema(schema):
                problems.append(Problem(name, None, pointer or "/", "form_schema_invalid", message))
        forms[name] = schema

    analysis: BpmnAnalysis | None = None
    if not pkg.bpmn:
        problems.append(Problem("process.bpmn", None, None, "bpmn_missing", "Gói thủ tục không có tệp BPMN nào."))
    else:
        analysis = analyze_bpmn(pkg.bpmn, process_id=(manifest or {}).get("process_id"))
        problems += analysis.problems

    if manifest is not None:
        start_form = manifest["start_form"]
        if start_form not in pkg.forms:
            problems.append(Problem(MANIFEST, None, "/start_form", "form_missing",
                                    f"Không tìm thấy biểu mẫu khởi tạo «{start_form}» trong gói."))
    if analysis is not None:
        lanes = (manifest or {}).get("lanes", {})
        for task in analysis.user_tasks:
            for attr, label in (("form", "biểu mẫu"), ("ui_form", "gợi ý giao diện")):
                form_name = getattr(task, attr)
                if form_name and form_name not in pkg.forms:
                    problems.append(Problem(
                        _file_of(analysis, task.spec_name), task_line(analysis, task.spec_name), None, "form_missing",
                        f"Tác vụ «{task.title}» dùng {label} «{form_name}» nhưng gói không có tệp này."))
            if task.form is None:
                problems.append(Problem(
                    _file_of(analysis, task.spec_name), task_line(analysis, task.spec_name), None, "form_unset",
                    f"Tác vụ người dùng «{task.title}» chưa khai báo biểu mẫu (formJsonSchemaFilename)."))
            if manifest is not None and (task.lane is None or task.lane not in lanes):
                problems.append(Problem(
                    _file_of(analysis, task.spec_name), task_line(analysis, task.spec_name), None, "lane_unmapped",
                    f"Tác vụ «{task.title}» thuộc làn «{task.lane or '(không có làn)'}» chưa được gán vai trò "
                    "trong procedure.json (mục lanes)."))
        problems += _service_task_problems(analysis)
    return PackageReport(files=pkg, problems=problems, analysis=analysis, manifest=manifest, forms=forms)


def _service_task_problems(analysis: BpmnAnalysis) -> list[Problem]:
    """A service task must name an operation that exists, with the parameters that operation takes."""
    catalog = operation_catalog()
    problems: list[Problem] = []
    for task in analysis.service_tasks:
        where = (_file_of(analysis, task.spec_name), task_line(analysis, task.spec_name), None)
        schema = catalog.get(task.operation)
        if schema is None:
            problems.append(Problem(*where, "operation_unknown",
                                    f"Tác vụ dịch vụ «{task.title}» gọi thao tác «{task.operation}» không có trong hệ "
                                    f"thống. Các thao tác có: {', '.join(sorted(catalog))}."))
            continue
        known = set(schema.get("properties") or {})
        given = set(task.parameters)
        unknown = sorted(given - known) if schema.get("additionalProperties") is False else []
        missing = sorted(set(schema.get("required") or []) - given)
        alternatives = [set(alt.get("required") or []) for alt in schema.get("oneOf") or []]
        if alternatives and not any(alt <= given for alt in alternatives):
            missing.append(" hoặc ".join(sorted("/".join(sorted(a)) for a in alternatives)))
        if unknown:
            problems.append(Problem(*where, "operation_params_unknown",
                                    f"Tác vụ dịch vụ «{task.title}»: thao tác «{task.operation}» không nhận tham số "
                                    f"{', '.join(unknown)} (nhận: {', '.join(sorted(known))})."))
        if missing:
            problems.append(Problem(*where, "operation_params_missing",
                                    f"Tác vụ dịch vụ «{task.title}»: thao tác «{task.operation}» cần tham số "
                                    f"{', '.join(missing)}."))
    return problems


def _file_of(analysis: BpmnAnalysis, spec_name: str) -> str:
    return getattr(analysis, "task_files", {}).get(spec_name, "process.bpmn")


def task_line(analysis: BpmnAnalysis, spec_name: str) -> int | None:
    line: int | None = getattr(analysis, "task_lines", {}).get(spec_name)
    return line


def task_table(analysis: BpmnAnalysis, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What the runtime needs per user task, frozen into the deployed version."""
    lanes = manifest.get("lanes", {})
    return {
        t.spec_name: {
            "title": t.title,
            "lane": t.lane,
            "role": lanes.get(t.lane or "", ""),
            "form": t.form,
            "ui_form": t.ui_form,
            "properties": t.properties,
        }
        for t in analysis.user_tasks
    }

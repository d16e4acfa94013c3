"""Reading a procedure package (folder, uploaded files or zip) and cross-validating its parts.

A package is BPMN (+ DMN) files, the manifest procedure.json and the JSON-schema forms. Every problem
names the file and a line (XML) or a JSON pointer (JSON), so a designer can go straight to it.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import io
import json
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

from flask_babel import get_locale, gettext, lazy_gettext
from jsonschema import Draft202012Validator
from lxml import etree

from app.eforms.schema import FormSchemaError, check_form_schema, resolve_ref
from app.engine.analysis import (
    BpmnAnalysis,
    Problem,
    analyze_bpmn,
    check_variables,
    expression_names,
    summarize,
)
from app.engine.decisions import CHANNEL_NAME, DEFAULT_DECISION_OUTPUT
from app.engine.environment import DATA_NAME
from app.engine.expressions import ExpressionError, check_expression
from app.engine.xmlsafe import XmlError, parse_xml
from app.procedures.declarations import declaration_problems
from app.procedures.search import tokens
from connectors import operation_catalog

MANIFEST = "procedure.json"
MAX_FILES = 200
MAX_PACKAGE_BYTES = 20 * 1024 * 1024
KNOWN_SUFFIXES = (".bpmn", ".dmn", ".schema.json", ".ui.json")
# Deepest nesting of arrays/objects accepted in a package's JSON files, checked on the raw text before any
# parser or validator recurses into it (a form group nests two levels: the object and its "properties").
MAX_JSON_DEPTH = 64
# A zip member that inflates more than this many times over is refused (beyond 1 MiB): packages are text
# that compresses 5-20 times, a zip bomb thousands of times.
MAX_COMPRESSION_RATIO = 100
_RATIO_FLOOR = 1024 * 1024
_TOO_LARGE = lazy_gettext("Gói thủ tục quá lớn (tối đa 20 MB và 200 tệp).")


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

    @property
    def reason(self) -> str:
        """One sentence for the top of the report: what decides the verdict, and how many errors are listed."""
        errors = sum(1 for p in self.problems if p.severity == "error")
        process_id = self.analysis.process_id if self.analysis else None
        user_tasks = len(self.analysis.user_tasks) if self.analysis else 0
        if self.analysis is not None and self.analysis.verdict != "deployable":
            return summarize(self.analysis.problems, process_id, user_tasks, total_errors=errors)[1]
        return summarize(self.problems, process_id, user_tasks, subject=gettext("Gói thủ tục"))[1]


# A procedure's folder name (stored with it): lower-case ASCII letters, digits and hyphens.
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?")
MAX_NAME_LENGTH = 200


def _shown(text: str) -> str:
    """A name as it can be shown back: control characters and unencodable ones replaced, and short."""
    clean = "".join("?" if ord(c) < 32 or c == "\x7f" else c for c in text)
    clean = clean.encode("utf-8", "replace").decode("utf-8")
    return clean if len(clean) <= 60 else clean[:57] + "…"


def slugify(text: str) -> str:
    """A valid slug from any name (accents dropped, other characters turned into hyphens)."""
    plain = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    plain = plain.encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:80].strip("-")
    return slug or "thu-tuc"


def _add(pkg: PackageFiles, name: str, data: bytes) -> None:
    base = PurePosixPath(name.replace("\\", "/")).name
    if not base or base.startswith("."):
        return
    try:
        base.encode("utf-8")
        usable = len(base) <= MAX_NAME_LENGTH and not any(ord(c) < 32 or c == "\x7f" for c in base)
    except UnicodeEncodeError:
        usable = False
    if not usable:
        raise PackageError("file_name_invalid", gettext("Tên tệp «%(base)s» không dùng được: tên tệp tối đa "
                                                        "%(max)s ký tự, không có ký tự điều khiển; hãy "
                                                        "đổi tên.",
                                                        base=_shown(base), max=MAX_NAME_LENGTH))
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
    if slug and not _SLUG.fullmatch(slug):
        raise PackageError("slug_invalid", gettext("Tên thư mục (slug) «%(slug)s» không hợp lệ: chỉ gồm chữ thường "
                                                   "không dấu, chữ số và dấu gạch ngang, tối đa 80 ký tự, ví dụ "
                                                   "khai-sinh.",
                                                   slug=_shown(slug)))
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
            raise PackageError("package_too_large", str(_TOO_LARGE))
    if count == 0:
        raise PackageError("package_empty", gettext("Chưa chọn tệp nào của gói thủ tục."))
    if not pkg.slug:
        pkg.slug = slugify(next(iter(sorted(pkg.bpmn)), "thu-tuc").rsplit(".", 1)[0])
    return pkg


def _read_zip(data: bytes) -> list[tuple[str, bytes]]:
    """The members of an uploaded zip, or a PackageError saying in the designer's words what is wrong with it.

    Hostile archives are expected: corrupt or truncated members, encrypted ones, members that inflate far
    beyond their compressed size or beyond what they declare. Memory is bounded by MAX_PACKAGE_BYTES in
    total, whatever the archive claims.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise PackageError("zip_invalid", gettext("Tệp nén không phải tệp ZIP hợp lệ (hoặc đã bị hỏng); hãy nén lại "
                                                  "gói thủ tục và tải lên lại.")) from exc
    if len(entries) > MAX_FILES or sum(i.file_size for i in entries) > MAX_PACKAGE_BYTES:
        raise PackageError("package_too_large", str(_TOO_LARGE))
    out = []
    total = 0
    for info in entries:
        name = info.filename
        if PurePosixPath(name).suffix.lower() in {".zip"}:
            continue  # no nested archives: a zip bomb's favourite trick
        if info.flag_bits & 0x1:
            raise PackageError("zip_encrypted", gettext("Tệp «%(name)s» trong tệp nén được đặt mật khẩu; hãy nén lại "
                                                        "gói thủ tục mà không đặt mật khẩu.",
                                                        name=name))
        if info.file_size > _RATIO_FLOOR and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
            raise PackageError("zip_bomb", gettext("Tệp «%(name)s» trong tệp nén bung ra lớn gấp hơn "
                                                   "%(ratio)s lần kích thước nén; hệ thống từ chối "
                                                   "để bảo vệ máy chủ.",
                                                   name=name, ratio=MAX_COMPRESSION_RATIO))
        budget = MAX_PACKAGE_BYTES - total
        try:
            with archive.open(info) as handle:
                blob = handle.read(budget + 1)
        except RuntimeError as exc:  # zipfile's "encrypted, password required" and the like
            raise PackageError("zip_encrypted", gettext("Tệp «%(name)s» trong tệp nén không đọc được (được đặt mật "
                                                        "khẩu?); hãy nén lại gói thủ tục mà không đặt mật khẩu.",
                                                        name=name)) from exc
        except (zipfile.BadZipFile, EOFError, zlib.error, OSError, ValueError, NotImplementedError) as exc:
            raise PackageError("zip_member_corrupt", gettext("Tệp «%(name)s» trong tệp nén bị hỏng (dữ liệu không "
                                                             "khớp mã kiểm tra hoặc bị cắt cụt); hãy nén lại gói thủ "
                                                             "tục và tải lên lại.",
                                                             name=name)) from exc
        if len(blob) > budget:
            raise PackageError("package_too_large", str(_TOO_LARGE))
        if len(blob) != info.file_size:
            raise PackageError("zip_member_corrupt", gettext("Tệp «%(name)s» trong tệp nén có kích thước khác với "
                                                             "kích thước khai báo; hãy nén lại gói thủ tục và tải "
                                                             "lên lại.",
                                                             name=name))
        total += len(blob)
        out.append((name, blob))
    return out


@cache
def manifest_schema() -> dict[str, Any]:
    """manifest.schema.json, read once (the package check validates against it, the API documents with it)."""
    schema: dict[str, Any] = json.loads((Path(__file__).parent / "manifest.schema.json").read_text(encoding="utf-8"))
    return schema


@cache
def _manifest_validator() -> Draft202012Validator:
    return Draft202012Validator(manifest_schema())


def _pointer(parts: Iterable[Any]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def json_too_deep(data: bytes, limit: int = MAX_JSON_DEPTH) -> int | None:
    """The line where JSON text nests arrays/objects deeper than `limit`, or None. Iterative, never recurses."""
    depth = 0
    text = _JSON_STRING.sub(lambda m: b"\n" * m.group(0).count(b"\n"), data)  # brackets in strings don't count
    for match in _JSON_BRACKET.finditer(text):
        if match.group(0) in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return text.count(b"\n", 0, match.start()) + 1
        else:
            depth -= 1
    return None


_JSON_SYNTAX = {
    "Expecting value": lazy_gettext("thiếu giá trị, hoặc giá trị viết sai (chuỗi phải đặt trong dấu nháy kép; true, "
                                    "false, null viết thường)"),
    "Expecting ':' delimiter": lazy_gettext("thiếu dấu hai chấm «:» sau tên trường"),
    "Expecting ',' delimiter": lazy_gettext("thiếu dấu phẩy «,» giữa hai phần tử"),
    "Expecting property name enclosed in double quotes": lazy_gettext("tên trường phải đặt trong dấu nháy kép, và "
                                                                      "không được có dấu phẩy thừa trước «}»"),
    "Unterminated string": lazy_gettext("chuỗi chưa được đóng bằng dấu nháy kép"),
    "Extra data": lazy_gettext("có nội dung thừa sau đối tượng JSON"),
    "Invalid control character": lazy_gettext("chuỗi có ký tự xuống dòng hoặc tab; hãy viết thành \\n hoặc \\t"),
    "Invalid \\escape": lazy_gettext("ký tự thoát «\\» không hợp lệ; hãy viết \\\\"),
}


def json_syntax_reason(message: str) -> str:
    """A JSON syntax error (the json module's ``msg``) in the reader's words: packages and request bodies."""
    return next((text for start, text in _JSON_SYNTAX.items() if message.startswith(start)),
                gettext("cú pháp JSON không hợp lệ"))


def _load_json(name: str, data: bytes, problems: list[Problem]) -> Any:
    deep = json_too_deep(data)
    if deep is not None:
        problems.append(Problem(name, deep, None, "json_too_deep",
                                gettext("JSON lồng nhau quá sâu (hơn %(levels)s cấp mảng/đối tượng, từ dòng "
                                        "%(deep)s); hãy làm phẳng cấu trúc, ví dụ tách nhóm trường lồng nhau thành "
                                        "các nhóm cùng cấp.",
                                        levels=MAX_JSON_DEPTH, deep=deep)))
        return None
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        problems.append(Problem(name, None, None, "json_encoding", gettext("Tệp không được mã hóa UTF-8.")))
    except json.JSONDecodeError as exc:
        problems.append(
            Problem(name, exc.lineno, None, "json_malformed",
                    gettext("JSON không hợp lệ ở dòng %(lineno)s, cột %(colno)s: %(reason)s.",
                            lineno=exc.lineno, colno=exc.colno, reason=json_syntax_reason(exc.msg)))
        )
    except (RecursionError, MemoryError, ValueError):
        problems.append(Problem(name, None, None, "json_malformed", gettext("JSON không đọc được (cấu trúc quá phức "
                                                                            "tạp).")))
    return None


_JSON_TYPES = {"string": lazy_gettext("chuỗi"), "number": lazy_gettext("số"), "integer": lazy_gettext("số nguyên"),
               "boolean": lazy_gettext("true hoặc false"), "object": lazy_gettext("đối tượng {…}"),
               "array": lazy_gettext("danh sách […]"), "null": "null"}


_LIMITS = {
    "minimum": lazy_gettext("%(what)s phải từ %(limit)s trở lên"),
    "maximum": lazy_gettext("%(what)s không được vượt quá %(limit)s"),
    "exclusiveMinimum": lazy_gettext("%(what)s phải lớn hơn %(limit)s"),
    "exclusiveMaximum": lazy_gettext("%(what)s phải nhỏ hơn %(limit)s"),
    "minLength": lazy_gettext("%(what)s phải có ít nhất %(limit)s ký tự"),
    "maxLength": lazy_gettext("%(what)s dài quá %(limit)s ký tự"),
    "minItems": lazy_gettext("%(what)s phải có ít nhất %(limit)s phần tử"),
    "maxItems": lazy_gettext("%(what)s có quá %(limit)s phần tử"),
    "minProperties": lazy_gettext("%(what)s phải có ít nhất %(limit)s mục"),
}


def _manifest_message(err: Any) -> tuple[str, str]:
    """(pointer, Vietnamese sentence) for one jsonschema error of the manifest; never jsonschema's English."""
    pointer = _pointer(err.absolute_path)
    schema = err.schema if isinstance(err.schema, Mapping) else {}
    title = schema.get("title")
    field_name = str(err.absolute_path[-1]) if err.absolute_path else "procedure.json"
    # The manifest schema's titles are Vietnamese; other readers get the field's own name.
    if title and str(get_locale() or "vi").startswith("vi"):
        what = f"«{title}» ({field_name})"
    else:
        what = gettext("Trường «%(name)s»", name=field_name)
    value = json.dumps(err.instance, ensure_ascii=False)[:80] if not isinstance(err.instance, Mapping | list) else ""
    expected = err.validator_value
    kind = str(err.validator)
    if kind == "required":
        properties = schema.get("properties") or {}
        missing = [str(name) for name in expected if isinstance(err.instance, Mapping) and name not in err.instance]
        # jsonschema reports each missing property on its own ("'name' is a required property")
        name = next((m for m in missing if err.message.startswith(repr(m))), missing[0] if missing else "")
        label = (properties.get(name) or {}).get("title") if isinstance(properties, Mapping) else None
        described = f"«{name}»" + (f" ({label})" if label and str(get_locale() or "vi").startswith("vi") else "")
        return f"{pointer}/{name}", gettext("Thiếu trường bắt buộc %(described)s; hãy thêm nó.", described=described)
    if kind == "additionalProperties" and isinstance(err.instance, Mapping):
        known = set(schema.get("properties") or {})
        extra = sorted(str(k) for k in err.instance if k not in known)
        name = extra[0] if extra else ""
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        if close:  # a misspelling: say which field was meant
            return (f"{pointer}/{name}", gettext("Trường «%(name)s» không có trong mô tả thủ tục; có phải ý bạn là "
                                                 "«%(suggestion)s»? Hãy sửa tên trường.",
                                                 name=name, suggestion=close[0]))
        return (f"{pointer}/{name}", gettext("Trường «%(name)s» không có trong mô tả thủ tục; hãy xóa hoặc sửa tên "
                                             "(các trường được dùng: %(items)s).",
                                             name=name, items=', '.join(sorted(known))))
    items = expected if isinstance(expected, list) else [expected]
    shown = value.strip(chr(34))
    if kind == "pattern":
        text = gettext("%(what)s có giá trị «%(value)s» không đúng định dạng quy định", what=what, value=shown)
    elif kind == "enum":
        text = gettext("%(what)s có giá trị «%(value)s» không hợp lệ; hãy chọn một trong: %(choices)s", what=what,
                       value=shown, choices=", ".join(str(v) for v in items))
    elif kind == "const":
        text = gettext("%(what)s phải là %(value)s", what=what, value=json.dumps(expected, ensure_ascii=False))
    elif kind == "type":
        kinds = gettext(" hoặc ").join(str(_JSON_TYPES.get(str(t), str(t))) for t in items)
        text = gettext("%(what)s phải là %(kinds)s", what=what, kinds=kinds)
    elif kind in _LIMITS:
        text = str(_LIMITS[kind]) % {"what": what, "limit": expected}
    elif kind == "uniqueItems":
        text = gettext("%(what)s có phần tử bị lặp lại", what=what)
    else:
        text = gettext("%(what)s có giá trị không hợp lệ", what=what)
    return pointer, text + "."


def check_manifest(data: Any) -> list[Problem]:
    problems = []
    for err in sorted(_manifest_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        pointer, message = _manifest_message(err)
        problems.append(Problem(MANIFEST, None, pointer or "/", f"manifest_{err.validator}", message))
    return problems


def check_package(pkg: PackageFiles) -> PackageReport:
    """Validate every part and how the parts refer to each other. Never raises on bad content."""
    problems: list[Problem] = []
    manifest: dict[str, Any] | None = None
    if pkg.manifest is None:
        problems.append(Problem(MANIFEST, None, None, "manifest_missing", gettext("Thiếu tệp mô tả thủ tục "
                                                                                  "procedure.json.")))
    else:
        loaded = _load_json(MANIFEST, pkg.manifest, problems)
        if loaded is not None:
            manifest_problems = check_manifest(loaded)
            problems += manifest_problems
            if isinstance(loaded, dict) and not manifest_problems:
                manifest = loaded

    forms: dict[str, Any] = {}
    # Forms that failed their own check: what depends on their fields (UI hints, variables, fees) is not
    # judged against them, since their problem is already reported and anything else would be a guess.
    unreadable: set[str] = set()
    for name, data in sorted(pkg.forms.items()):
        schema = _load_json(name, data, problems)
        if schema is None:
            unreadable.add(name)
            continue
        if name.endswith(".schema.json"):
            for pointer, message in check_form_schema(schema):
                problems.append(Problem(name, None, pointer or "/", "form_schema_invalid", message))
                unreadable.add(name)
        forms[name] = schema

    analysis: BpmnAnalysis | None = None
    if not pkg.bpmn:
        problems.append(Problem("process.bpmn", None, None, "bpmn_missing", gettext("Gói thủ tục không có tệp BPMN "
                                                                                    "nào.")))
    else:
        analysis = analyze_bpmn(pkg.bpmn, process_id=(manifest or {}).get("process_id"),
                                external_messages=((manifest or {}).get("messages") or {}).keys())
        problems += analysis.problems

    if manifest is not None:
        start_form = manifest["start_form"]
        if start_form not in pkg.forms:
            problems.append(Problem(MANIFEST, None, "/start_form", "form_missing",
                                    gettext("Không tìm thấy biểu mẫu khởi tạo «%(start_form)s» trong gói.",
                                            start_form=start_form)))
    if analysis is not None:
        lanes = (manifest or {}).get("lanes", {})
        for task in analysis.user_tasks:
            for attr, label in (("form", gettext("biểu mẫu")), ("ui_form", gettext("gợi ý giao diện"))):
                form_name = getattr(task, attr)
                if form_name and form_name not in pkg.forms:
                    problems.append(Problem(
                        _file_of(analysis, task.spec_name), task_line(analysis, task.spec_name), None, "form_missing",
                        gettext("Tác vụ «%(title)s» dùng %(label)s «%(form_name)s» nhưng gói không có tệp này.",
                                title=task.title, label=label, form_name=form_name)))
            if task.form is None:
                problems.append(Problem(
                    _file_of(analysis, task.spec_name), task_line(analysis, task.spec_name), None, "form_unset",
                    gettext("Tác vụ người dùng «%(title)s» chưa khai báo biểu mẫu (formJsonSchemaFilename).",
                            title=task.title)))
            where = (_file_of(analysis, task.spec_name), task_line(analysis, task.spec_name), None)
            if task.lane is None:
                drawn = [lane for lane in analysis.lanes if lane]
                advice = (gettext("Hãy kéo tác vụ vào làn của bộ phận thực hiện nó (sơ đồ có các làn: %(items)s).",
                                  items=', '.join(f'«{lane}»' for lane in drawn)) if drawn else
                          gettext("Sơ đồ chưa có làn (lane) nào: hãy vẽ một làn cho mỗi bộ phận (ví dụ «Bộ phận một "
                                  "cửa») và đặt tác vụ vào làn của bộ phận thực hiện nó."))
                problems.append(Problem(
                    *where, "task_outside_lanes",
                    gettext("Tác vụ «%(title)s» không nằm trong làn nào, nên hệ thống không biết ai thực hiện nó. "
                            "%(advice)s Mỗi làn được gán một vai trò trong procedure.json (mục lanes).",
                            title=task.title, advice=advice)))
            elif manifest is not None and task.lane not in lanes:
                problems.append(Problem(
                    *where, "lane_unmapped",
                    gettext("Làn «%(lane)s» (chứa tác vụ «%(title)s») chưa được gán vai trò trong procedure.json; "
                            "hãy thêm vào mục lanes, ví dụ \"%(lane)s\": \"chuyen_vien\".",
                            lane=task.lane, title=task.title)))
        problems += _service_task_problems(analysis)
        problems += _participant_problems(analysis, manifest)
        problems += _result_problems(analysis, manifest)
        problems += _variable_problems(analysis, manifest, forms, unreadable)
    if manifest is not None and manifest["start_form"] in forms and manifest["start_form"] not in unreadable:
        problems += _fee_problems(manifest, forms[manifest["start_form"]])
        problems += _message_key_problems(manifest, forms[manifest["start_form"]])
    if manifest is not None:
        problems += _search_word_problems(manifest)
        start = manifest["start_form"]
        problems += _fee_decision_problems(manifest, pkg, forms.get(start) if start not in unreadable else None)
    problems += declaration_problems(manifest, analysis, forms, unreadable)
    problems += _schedule_problems(analysis, manifest, forms)
    return PackageReport(files=pkg, problems=problems, analysis=analysis, manifest=manifest, forms=forms)


def _search_word_problems(manifest: Mapping[str, Any]) -> list[Problem]:
    """Everyday names (synonyms) that would never help a search: only question words, or one already given (the
    name or another synonym) once accents and case are ignored (app.procedures.search)."""
    problems = []
    seen = {tuple(t.term for t in tokens(str(manifest["name"])))}
    for i, synonym in enumerate(manifest.get("synonyms") or []):
        words = tuple(t.term for t in tokens(synonym))
        if not words:
            problems.append(Problem(MANIFEST, None, f"/synonyms/{i}", "synonym_only_question_words",
                                    gettext("Cách gọi «%(synonym)s» chỉ có những từ hỏi chung (cần, làm, gì, ở đâu…) "
                                            "nên không giúp tìm thấy thủ tục; hãy viết cụ thể hơn, ví dụ «làm giấy "
                                            "khai sinh cho con».", synonym=synonym), severity="warning"))
        elif words in seen:
            problems.append(Problem(MANIFEST, None, f"/synonyms/{i}", "synonym_repeated",
                                    gettext("Cách gọi «%(synonym)s» trùng với tên thủ tục hoặc một cách gọi khác "
                                            "(không kể dấu, chữ hoa và từ hỏi); hãy xóa nó.", synonym=synonym),
                                    severity="warning"))
        seen.add(words)
    return problems


def _message_key_problems(manifest: Mapping[str, Any], start_form: Any) -> list[Problem]:
    """A message's correlation key names a field of the start form (its value is recorded at submission)."""
    problems = []
    for name, spec in (manifest.get("messages") or {}).items():
        key = spec.get("key") if isinstance(spec, Mapping) else None
        if key and _form_node(start_form, key) is None:
            pointer = "/messages/" + name.replace("~", "~0").replace("/", "~1") + "/key"
            problems.append(Problem(MANIFEST, None, pointer, "message_key_unknown",
                                    gettext("Khóa «%(key)s» của thông điệp «%(name)s» không phải trường nào của biểu "
                                            "mẫu khởi tạo; khóa là con trỏ JSON tới một trường, ví dụ "
                                            "/nguoi_yeu_cau/so_dinh_danh.", key=key, name=name)))
    return problems


def _result_problems(analysis: BpmnAnalysis, manifest: Mapping[str, Any] | None) -> list[Problem]:
    """`results`: each value an expression the platform can evaluate, each agency a pool of the diagram."""
    problems = []
    pools = set(analysis.participants.values())
    declared = (manifest or {}).get("results") or []
    if declared and not any(str(t.properties.get("dossierStatus", "")).strip() == "9" for t in analysis.user_tasks):
        problems.append(Problem(MANIFEST, None, "/results", "results_without_result_step",
                                gettext("Kết quả (results) được tính khi bước trả kết quả (trạng thái 9) mở ra, nhưng "
                                        "sơ đồ không có bước nào đặt trạng thái 9: người nộp sẽ không thấy kết quả. "
                                        "Đặt dossierStatus = 9 cho bước trả kết quả.")))
    for i, result in enumerate(declared):
        agency = result.get("agency")
        if agency and agency not in pools:
            problems.append(Problem(MANIFEST, None, f"/results/{i}/agency", "participant_unknown",
                                    gettext("Kết quả «%(title)s» nêu cơ quan «%(name)s» nhưng sơ đồ không có bể "
                                            "(participant) nào tên như vậy.", title=result.get("title"), name=agency)))
        for j, item in enumerate(result.get("fields") or []):
            try:
                check_expression(str(item.get("value") or ""))
            except ExpressionError as exc:
                problems.append(Problem(MANIFEST, None, f"/results/{i}/fields/{j}/value", "result_value_invalid",
                                        gettext("Giá trị «%(label)s» của kết quả «%(title)s»: %(message)s",
                                                label=item.get("label"), title=result.get("title"),
                                                message=exc.message)))
    return problems


def _participant_problems(analysis: BpmnAnalysis, manifest: Mapping[str, Any] | None) -> list[Problem]:
    """`participants` names pools of the collaboration that runs (by their names as drawn)."""
    pools = (manifest or {}).get("participants") or {}
    drawn = sorted(set(analysis.participants.values()))
    return [Problem(MANIFEST, None, "/participants/" + name.replace("~", "~0").replace("/", "~1"),
                    "participant_unknown",
                    gettext("Mục participants nêu bể «%(name)s» nhưng sơ đồ không có bể (participant) nào tên như vậy "
                            "trong quy trình cộng tác được chạy. Các bể có: %(items)s.",
                            name=name, items=", ".join(f"«{d}»" for d in drawn) or gettext("(không có)")))
            for name in pools if name not in drawn]


def _schedule_problems(analysis: BpmnAnalysis | None, manifest: Mapping[str, Any] | None,
                       forms: Mapping[str, Any]) -> list[Problem]:
    """A periodic procedure (a timer start event) is started by the schedule with no applicant and no form filled
    in: its start form (the manifest's `start_form`, the dossier's initial data) must accept an empty object."""
    if analysis is None or analysis.start_timer is None or manifest is None:
        return []
    form = forms.get(str(manifest.get("start_form") or ""))
    required = form.get("required") if isinstance(form, Mapping) else None
    if not required:
        return []
    return [Problem(MANIFEST, None, "/start_form", "schedule_form_required",
                    gettext("Thủ tục định kỳ được hệ thống tự tạo hồ sơ theo lịch, không ai điền biểu mẫu khởi tạo; "
                            "biểu mẫu «%(start_form)s» không được có trường bắt buộc (%(items)s).",
                            start_form=manifest["start_form"],
                            items=", ".join(str(r) for r in required)))]


def _service_task_problems(analysis: BpmnAnalysis) -> list[Problem]:
    """A service task must name an operation that exists, with the parameters that operation takes."""
    catalog = operation_catalog()
    problems: list[Problem] = []
    for task in analysis.service_tasks:
        where = (_file_of(analysis, task.spec_name), task_line(analysis, task.spec_name), None)
        schema = catalog.get(task.operation)
        if schema is None:
            problems.append(Problem(*where, "operation_unknown",
                                    gettext("Tác vụ dịch vụ «%(title)s» gọi thao tác «%(operation)s» không có trong "
                                            "hệ thống. Các thao tác có: %(items)s.",
                                            title=task.title, operation=task.operation,
                                            items=', '.join(sorted(catalog)))))
            continue
        known = set(schema.get("properties") or {})
        given = set(task.parameters)
        unknown = sorted(given - known) if schema.get("additionalProperties") is False else []
        missing = sorted(set(schema.get("required") or []) - given)
        alternatives = [set(alt.get("required") or []) for alt in schema.get("oneOf") or []]
        if alternatives and not any(alt <= given for alt in alternatives):
            missing.append(gettext(" hoặc ").join(sorted("/".join(sorted(a)) for a in alternatives)))
        if unknown:
            problems.append(Problem(*where, "operation_params_unknown",
                                    gettext("Tác vụ dịch vụ «%(title)s»: thao tác «%(operation)s» không nhận tham số "
                                            "%(items)s (nhận: %(items2)s).",
                                            title=task.title, operation=task.operation, items=', '.join(unknown),
                                            items2=', '.join(sorted(known)))))
        if missing:
            problems.append(Problem(*where, "operation_params_missing",
                                    gettext("Tác vụ dịch vụ «%(title)s»: thao tác «%(operation)s» cần tham số "
                                            "%(items)s.",
                                            title=task.title, operation=task.operation, items=', '.join(missing))))
        problems += _payment_problems(task, where)
    return problems


# The amount a payment step charges is the dossier's fee, computed once from procedure.json (app/dossiers/fees.py).
FEE_EXPRESSION = "thong_tin_ho_so['le_phi']"


def _payment_problems(task: Any, where: tuple[str, int | None, None]) -> list[Problem]:
    """`payment.collect` charges the dossier's fee: a diagram computing another amount would charge what the
    receipt, the portal and the API do not show."""
    given = (task.parameters.get("so_tien") or {}).get("value")
    if task.operation != "payment.collect" or given is None:
        return []
    try:
        same = ast.dump(ast.parse(given.strip(), mode="eval")) == ast.dump(ast.parse(FEE_EXPRESSION, mode="eval"))
    except SyntaxError:
        same = False
    if same:
        return []
    return [Problem(*where, "fee_amount_elsewhere",
                    gettext("Tác vụ «%(title)s» tính số tiền thu bằng «%(given)s». Số tiền thu là lệ phí của hồ sơ, "
                            "tính một lần theo mục fee trong procedure.json: bỏ tham số so_tien hoặc đặt là "
                            "%(expression)s; phí theo số bản, số trang… khai báo trong fee.per.",
                            title=task.title, given=given[:200], expression=FEE_EXPRESSION))]


def _form_node(schema: Any, pointer: str) -> Mapping[str, Any] | None:
    """The schema of the form field a JSON pointer names (through properties and $ref), or None."""
    node: Any = schema
    try:
        for raw in pointer.lstrip("/").split("/"):
            if not isinstance(node, Mapping):
                return None
            node = resolve_ref(node, schema)
            properties = node.get("properties")
            name = raw.replace("~1", "/").replace("~0", "~")
            node = properties.get(name) if isinstance(properties, Mapping) else None
        return resolve_ref(node, schema) if isinstance(node, Mapping) else None
    except FormSchemaError:
        return None  # reported with the form itself


def _fee_problems(manifest: Mapping[str, Any], start_form: Any) -> list[Problem]:
    """Per-unit fees count what the applicant asks for in the start form: a whole number the form bounds."""
    problems = []
    for i, item in enumerate((manifest.get("fee") or {}).get("per") or []):
        pointer = f"/fee/per/{i}/field"
        node = _form_node(start_form, item["field"]) if isinstance(start_form, Mapping) else None
        if node is None:
            problems.append(Problem(MANIFEST, None, pointer, "fee_field_unknown",
                                    gettext("Phí «%(fee)s» tính theo trường «%(field)s» nhưng biểu mẫu khởi tạo "
                                            "%(form)s không có trường này.",
                                            fee=item['name'], field=item['field'], form=manifest['start_form'])))
        elif node.get("type") != "integer":
            problems.append(Problem(MANIFEST, None, pointer, "fee_field_not_integer",
                                    gettext("Phí «%(fee)s» tính theo trường «%(field)s»: trường này phải là số "
                                            "nguyên (\"type\": \"integer\") để đếm số bản, số trang…",
                                            fee=item['name'], field=item['field'])))
        elif not isinstance(node.get("maximum"), int):
            problems.append(Problem(MANIFEST, None, pointer, "fee_field_unbounded",
                                    gettext("Phí «%(fee)s» tính theo trường «%(field)s» chưa có giới hạn trên: đặt "
                                            "\"maximum\" cho trường trong biểu mẫu.",
                                            fee=item['name'], field=item['field']), severity="warning"))
    return problems


def _decisions(pkg: PackageFiles) -> dict[str, tuple[set[str], set[str]]]:
    """The package's DMN decisions: id → (output names, names its input and output expressions read)."""
    found: dict[str, tuple[set[str], set[str]]] = {}
    for name, data in sorted(pkg.bpmn.items()):
        if not name.lower().endswith(".dmn"):
            continue
        try:
            root = parse_xml(data, name)
        except XmlError:
            continue  # reported by the diagram's analysis
        for decision in root.iter("{*}decision"):
            outputs = {str(o.get("name")) for o in decision.iter("{*}output") if o.get("name")}
            reads: set[str] = set()
            for text in decision.iter("{*}text"):
                parent = text.getparent()
                kind = etree.QName(parent).localname if parent is not None else ""
                if kind in ("inputExpression", "outputEntry") and (text.text or "").strip():
                    try:
                        check_expression(text.text or "")
                        reads |= expression_names(text.text or "")[0]
                    except (ExpressionError, SyntaxError, ValueError, RecursionError, MemoryError):
                        continue  # the analysis reports the expression itself
            found.setdefault(str(decision.get("id") or ""), (outputs, reads))
    return found


def _fee_decision_problems(manifest: Mapping[str, Any], pkg: PackageFiles, start_form: Any) -> list[Problem]:
    """A fee decision (`fee.decision`) must be a decision of the package with the output it names, reading only what
    exists when the fee is computed: the start form's fields and the channel."""
    rule = (manifest.get("fee") or {}).get("decision")
    if not isinstance(rule, Mapping):
        return []
    decisions = _decisions(pkg)
    decision_id = str(rule["id"])
    if decision_id not in decisions:
        return [Problem(MANIFEST, None, "/fee/decision/id", "fee_decision_missing",
                        gettext("Lệ phí tính theo bảng quyết định «%(decision)s», nhưng không tệp .dmn nào của gói có "
                                "quyết định (decision) mang mã này%(known)s.", decision=decision_id,
                                known=gettext(" (có: %(items)s)", items=", ".join(sorted(decisions)))
                                if decisions else ""))]
    outputs, reads = decisions[decision_id]
    output = str(rule.get("output") or DEFAULT_DECISION_OUTPUT)
    problems = []
    if output not in outputs:
        problems.append(Problem(MANIFEST, None, "/fee/decision/output", "fee_decision_output_unknown",
                                gettext("Bảng quyết định «%(decision)s» không có cột kết quả «%(output)s» (có: "
                                        "%(items)s); hãy đặt fee.decision.output là tên cột cho số tiền lệ phí.",
                                        decision=decision_id, output=output, items=", ".join(sorted(outputs)))))
    if isinstance(start_form, Mapping):
        known = _fields(start_form) | {CHANNEL_NAME, DATA_NAME}
        for name in sorted(reads - known):
            problems.append(Problem(MANIFEST, None, "/fee/decision/id", "fee_decision_input_unknown",
                                    gettext("Bảng quyết định lệ phí «%(decision)s» đọc «%(name)s», nhưng biểu mẫu "
                                            "khởi tạo %(form)s không có trường này. Lệ phí được tính khi nộp hồ sơ, "
                                            "nên bảng chỉ đọc được các trường của biểu mẫu khởi tạo và %(channel)s "
                                            "(kênh nộp: 1 trực tiếp, 2 trực tuyến, 3 qua bưu chính).",
                                            decision=decision_id, name=name, form=manifest["start_form"],
                                            channel=CHANNEL_NAME)))
    return problems


def _fields(schema: Any) -> set[str]:
    """The names a form puts in the task data: its top-level properties."""
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    return {str(name) for name in properties} if isinstance(properties, Mapping) else set()


def _variable_problems(analysis: BpmnAnalysis, manifest: Mapping[str, Any] | None,
                       forms: Mapping[str, Any], unreadable: set[str]) -> list[Problem]:
    """Conditions, parameters and timers reading a name no step defines (see analysis.check_variables).

    Read from the XML, so it runs even when the engine refused the diagram. A form that is missing or failed
    its own check has unknown fields: the start form's skips the check, a task's the expressions after it.
    """
    if manifest is None:
        return []  # without the manifest the start form is unknown
    start_form = str(manifest.get("start_form") or "")
    known = {name for name in forms if name not in unreadable}
    start_fields = _fields(forms[start_form]) if start_form in known else None
    task_fields = {t.spec_name: _fields(forms.get(t.form or "")) for t in analysis.user_tasks}
    unknown_tasks = [t.spec_name for t in analysis.user_tasks if t.form and t.form not in known]
    return check_variables(analysis, task_fields, start_fields, start_form, unknown_tasks)


def _file_of(analysis: BpmnAnalysis, spec_name: str) -> str:
    return getattr(analysis, "task_files", {}).get(spec_name, "process.bpmn")


def task_line(analysis: BpmnAnalysis, spec_name: str) -> int | None:
    line: int | None = getattr(analysis, "task_lines", {}).get(spec_name)
    return line


def task_table(analysis: BpmnAnalysis, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What the runtime needs per user task, frozen into the deployed version.

    The start event has an entry too (`kind: "start"`), so the citizen's form page can show what the
    designer wrote for the applicant; user tasks carry the documentation shown to the officer doing them.
    """
    lanes = manifest.get("lanes", {})
    pools = manifest.get("participants") or {}
    table: dict[str, Any] = {
        t.spec_name: {
            "title": t.title,
            "lane": t.lane,
            "role": lanes.get(t.lane or "", ""),
            # An inter-agency procedure: the agency of the task's pool (None: the procedure's agency).
            "agency": pools.get(analysis.participants.get(t.process_id, "")),
            "form": t.form,
            "ui_form": t.ui_form,
            "properties": t.properties,
            "documentation": t.documentation,
        }
        for t in analysis.user_tasks
    }
    if analysis.start_event and analysis.start_event not in table:
        table[analysis.start_event] = {
            "kind": "start", "title": "", "lane": None, "role": "", "form": manifest.get("start_form"),
            "ui_form": None, "properties": {}, "documentation": analysis.start_documentation,
        }
        if analysis.start_timer is not None:  # a periodic procedure (app.engine.schedule)
            table[analysis.start_event]["timer"] = list(analysis.start_timer)
    return table


def start_info(tasks: Mapping[str, Any]) -> dict[str, Any]:
    """The start event's entry of a version's task table (empty for versions deployed before it existed)."""
    return next((dict(info) for info in tasks.values() if isinstance(info, Mapping) and info.get("kind") == "start"),
                {})

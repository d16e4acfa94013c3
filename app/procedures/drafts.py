"""Drafts: a procedure package edited in the studio's modeller, saved as it goes and deployed when it passes.

A draft starts from a deployed version (its files as deployed) or from the blank package (app/procedures/blank/:
a reception step and a result step in one lane, which deploys as it is). The modeller sends the whole package on
every check and save; `check` runs the very checker the upload runs (app.procedures.package.check_package) and
says, for each problem in a diagram, which element it is on, read from the problem's line in that file.
Deploying goes through app.procedures.deploy: a draft makes a version exactly as an upload of its files would.
Nothing here commits: the web request does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask_babel import gettext
from sqlalchemy import select

from app.clock import now_utc
from app.engine.xmlsafe import XmlError, parse_xml
from app.extensions import db
from app.models import Agency, Procedure, ProcedureDraft, ProcedureVersion
from app.procedures import versions
from app.procedures.deploy import DeployResult, deploy
from app.procedures.package import (
    MANIFEST,
    MAX_FILES,
    MAX_PACKAGE_BYTES,
    PackageError,
    PackageFiles,
    PackageReport,
    check_package,
    load_upload,
    slugify,
    task_table,
)

BLANK = Path(__file__).with_name("blank")
FORMS = versions.FORMS
DI = "http://www.omg.org/spec/BPMN/20100524/DI"
_CODE = re.compile(r"[0-9A-Za-z][0-9A-Za-z.\-]{0,63}")
_FORM_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,80}\.(schema|ui)\.json")


class DraftError(Exception):
    """What a designer asked of a draft cannot be done; `status` is the HTTP answer that fits."""

    def __init__(self, message: str, code: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


# ---------------------------------------------------------------- finding and creating


def find(draft_id: int) -> ProcedureDraft | None:
    return db.session.get(ProcedureDraft, draft_id) if 0 < draft_id < 2**31 else None


def open_drafts() -> list[ProcedureDraft]:
    """Drafts not deployed yet, latest work first."""
    return list(db.session.scalars(
        select(ProcedureDraft).where(ProcedureDraft.deployed_at.is_(None)).order_by(ProcedureDraft.updated_at.desc())
    ))


def agencies(agency_id: int | None = None) -> list[Agency]:
    """The agencies a designer may make procedures for: their own (`agency_id`), or every one (None)."""
    stmt = select(Agency).order_by(Agency.name)
    return list(db.session.scalars(stmt if agency_id is None else stmt.where(Agency.id == agency_id)))


def agency_of(draft: ProcedureDraft) -> int | None:
    """The agency the draft's manifest names (None: it names none the platform knows)."""
    code = str(_manifest(draft.files).get("agency") or "")
    found = db.session.scalar(select(Agency.id).where(Agency.code == code)) if code else None
    return int(found) if found is not None else None


def from_version(version: ProcedureVersion, by: str) -> ProcedureDraft:
    """A draft holding a deployed version's files, to change into the procedure's next version."""
    proc = version.procedure
    files = {name: data.decode("utf-8", "replace") for name, data in versions.package_files(version).items()}
    draft = ProcedureDraft(code=proc.code, name=proc.name, slug=proc.slug, files=files, revision=1,
                           base_version_id=version.id, created_by=by, updated_by=by)
    db.session.add(draft)
    db.session.flush()
    return draft


def blank(code: str, name: str, agency_code: str, by: str, *, agency_id: int | None = None) -> ProcedureDraft:
    """A new procedure from the blank package: reception and result steps in the one-stop desk's lane."""
    code, name = code.strip(), " ".join(name.split())
    if not _CODE.fullmatch(code):
        raise DraftError(gettext("Mã thủ tục «%(code)s» không hợp lệ: dùng chữ số, chữ cái, dấu chấm hoặc gạch "
                                 "ngang, ví dụ 1.001193.", code=code[:64]), "code_invalid")
    if not 2 <= len(name) <= 500:
        raise DraftError(gettext("Tên thủ tục cần từ 2 đến 500 ký tự."), "name_invalid")
    if db.session.scalar(select(Procedure.id).where(Procedure.code == code)) is not None:
        raise DraftError(gettext("Thủ tục %(code)s đã có trên hệ thống: hãy mở phiên bản hiện hành của nó để sửa "
                                 "thay vì tạo mới.", code=code), "procedure_exists", 409)
    agency = db.session.scalar(select(Agency).where(Agency.code == agency_code))
    if agency is None or (agency_id is not None and agency.id != agency_id):
        raise DraftError(gettext("Chưa chọn cơ quan thực hiện thủ tục."), "agency_unknown")
    slug = slugify(name)
    process_id = "thu_tuc_" + re.sub(r"[^0-9A-Za-z]+", "_", code).strip("_")
    manifest = {
        "code": code,
        "name": name,
        "level": "xa",
        "agency": agency.code,
        "service_level": "toan_trinh",
        "processing_time": {"amount": 3, "unit": "working_days"},
        "fee": {"in_person": 0, "online": 0},
        "start_form": "to-khai.schema.json",
        "process_id": process_id,
        "lanes": {"Bộ phận một cửa": "tiep_nhan"},
        "applicant": {"name": "/nguoi_yeu_cau/ho_ten", "id_number": "/nguoi_yeu_cau/so_dinh_danh",
                      "phone": "/nguoi_yeu_cau/dien_thoai", "email": "/nguoi_yeu_cau/email",
                      "address": "/nguoi_yeu_cau/dia_chi"},
    }
    files = {MANIFEST: _json_text(manifest)}
    for path in sorted(BLANK.iterdir()):
        text = path.read_text("utf-8")
        if path.suffix == ".bpmn":
            files[path.name] = text.replace("PROCESS_ID", process_id).replace("PROCEDURE_NAME", _xml_attr(name))
        else:
            files[FORMS + path.name] = text
    draft = ProcedureDraft(code=code, name=name, slug=slug, files=files, revision=1, created_by=by, updated_by=by)
    db.session.add(draft)
    db.session.flush()
    return draft


def _json_text(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _xml_attr(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# ---------------------------------------------------------------- the package a draft holds


def clean_files(files: Any) -> dict[str, str]:
    """The files a modeller sent, checked for shape and size (the upload's limits); DraftError if unusable."""
    if not isinstance(files, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise DraftError(gettext("Dữ liệu gửi lên không đúng dạng: cần một đối tượng JSON ánh xạ tên tệp sang nội "
                                 "dung tệp."), "files_invalid", 400)
    if len(files) > MAX_FILES or sum(len(v.encode("utf-8")) for v in files.values()) > MAX_PACKAGE_BYTES:
        raise DraftError(gettext("Gói thủ tục quá lớn (tối đa 20 MB và 200 tệp)."), "package_too_large", 413)
    cleaned: dict[str, str] = {}
    for name, text in files.items():
        if name.startswith(FORMS):
            if not _FORM_NAME.fullmatch(name[len(FORMS):]):
                raise DraftError(gettext("Tên biểu mẫu «%(name)s» không hợp lệ: chỉ gồm chữ thường không dấu, chữ "
                                         "số và gạch ngang, kết thúc bằng .schema.json hoặc .ui.json.",
                                         name=name[len(FORMS):][:100]), "file_name_invalid")
        elif name != MANIFEST and not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}\.(bpmn|dmn)", name):
            raise DraftError(gettext("Tệp «%(name)s» không thuộc gói thủ tục.", name=name[:100]), "file_name_invalid")
        cleaned[name] = text
    return cleaned


def package_of(files: Mapping[str, str], slug: str) -> PackageFiles:
    try:
        return load_upload([(name, text.encode("utf-8")) for name, text in sorted(files.items())], slug=slug)
    except PackageError as exc:
        raise DraftError(exc.message, exc.code) from exc


@dataclass
class Check:
    report: PackageReport
    # Per problem of the report, the diagram element it is on (None: the file as a whole, or not a diagram).
    elements: list[str | None]

    def as_json(self) -> dict[str, Any]:
        report = self.report
        return {
            "verdict": report.verdict,
            "ok": report.ok,
            "reason": report.reason if not report.ok else "",
            "problems": [
                {"file": p.file, "line": p.line, "pointer": p.pointer, "code": p.code, "message": p.message,
                 "severity": p.severity, "element": element}
                for p, element in zip(report.problems, self.elements, strict=True)
            ],
        }


def check(files: Mapping[str, str], slug: str) -> Check:
    """The upload checker's report on these files, each problem placed on its diagram element where it has one."""
    report = check_package(package_of(files, slug))
    lines = {name: _element_lines(name, text) for name, text in files.items() if name.endswith((".bpmn", ".dmn"))}
    return Check(report, [_element_at(lines.get(p.file), p.line) for p in report.problems])


def _element_lines(name: str, text: str) -> list[tuple[int, str]]:
    """(first line, id) of each element with an id in the processes of a BPMN file, in document order."""
    try:
        root = parse_xml(text.encode("utf-8"), name)
    except XmlError:
        return []
    drawn = {e.get("bpmnElement") for e in root.iter(f"{{{DI}}}BPMNShape", f"{{{DI}}}BPMNEdge")}
    found = []
    for element in root.iter():
        if not isinstance(element.tag, str) or element.tag.startswith(f"{{{DI}}}"):
            continue
        ident = element.get("id")
        # Only what the modeller draws can carry a mark: a timer's definition is marked on its event.
        if ident and element.sourceline and (not drawn - {None} or ident in drawn):
            found.append((int(element.sourceline), ident))
    return found


def _element_at(lines: list[tuple[int, str]] | None, line: int | None) -> str | None:
    """The element a problem's line belongs to: the last one that starts on or before it (ids sit on start tags;
    a problem inside an element, such as a property or a condition, is on the element that holds it)."""
    if not lines or line is None:
        return None
    best = None
    for start, ident in lines:
        if start > line:
            break
        best = ident
    return best


@dataclass
class PreviewParts:
    """What a form preview reads of a draft (app.web.previews.form_preview): its manifest as written, its forms
    parsed, its task table and agency when the package is sound enough to have them."""

    manifest: dict[str, Any]
    forms: dict[str, Any]
    tasks: dict[str, Any] | None
    agency: Agency | None


def preview_parts(draft: ProcedureDraft) -> PreviewParts:
    report = check_package(package_of(draft.files, draft.slug))
    manifest = report.manifest or _manifest(draft.files)
    tasks = None
    if report.analysis is not None and report.manifest is not None and report.analysis.verdict == "deployable":
        tasks = task_table(report.analysis, report.manifest)
    agency = db.session.scalar(select(Agency).where(Agency.code == str(manifest.get("agency") or "")))
    return PreviewParts(manifest, report.forms, tasks, agency)


# ---------------------------------------------------------------- saving and deploying


def save(draft: ProcedureDraft, files: Any, revision: Any, by: str) -> ProcedureDraft:
    """Store the modeller's files as the draft's next revision; refused when someone saved in between."""
    if draft.deployed_at is not None:
        raise DraftError(gettext("Bản nháp này đã được triển khai thành phiên bản; hãy mở phiên bản đó để sửa tiếp."),
                         "draft_deployed", 409)
    if revision != draft.revision:
        raise DraftError(gettext("%(who)s đã lưu bản nháp này sau khi bạn mở nó; tải lại trang để xem bản mới nhất "
                                 "(những thay đổi chưa lưu của bạn sẽ mất, hãy ghi lại trước).",
                                 who=draft.updated_by), "draft_stale", 409)
    cleaned = clean_files(files)
    manifest = _manifest(cleaned)
    draft.files = cleaned
    draft.code = str(manifest.get("code") or draft.code)[:64]
    draft.name = str(manifest.get("name") or draft.name)[:500]
    draft.revision += 1
    draft.updated_by = by
    draft.updated_at = now_utc()
    return draft


def _manifest(files: Mapping[str, str]) -> dict[str, Any]:
    try:
        loaded = json.loads(files.get(MANIFEST, ""))
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def deploy_draft(draft: ProcedureDraft, by: str, *, agency_id: int | None = None) -> DeployResult:
    """Deploy the draft's saved files (DeployRefused with the checker's report when they do not pass); `agency_id`:
    the designer's agency, whose procedures alone they may deploy (None: every agency's)."""
    if draft.deployed_at is not None:
        raise DraftError(gettext("Bản nháp này đã được triển khai."), "draft_deployed", 409)
    result = deploy(package_of(draft.files, draft.slug), deployed_by=by, agency_id=agency_id)
    draft.deployed_version_id = result.version.id
    draft.deployed_at = now_utc()
    return result


def discard(draft: ProcedureDraft) -> None:
    db.session.delete(draft)

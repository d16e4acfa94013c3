"""The studio's modeller: drafts of procedure packages edited in the browser (bpmn-js), checked live by the upload's
checker, saved, and deployed into versions (app.procedures.drafts).

The page (templates/studio/draft.html, static/modeller.js) loads the draft's files and the catalogue of what its
properties panel offers from `goi.json`, sends the whole package to `kiem-tra` after each change (nothing is stored)
and to `luu` to store it as the next revision. Those three answer JSON, errors included; deploying is a form post
that lands on the procedure's page, or back on the draft with the checker's verdict.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_login import current_user

from app import formats
from app.clock import local_tz
from app.dossiers.access import Scope, design_scope
from app.extensions import db
from app.models import ProcedureDraft
from app.models.dossier import STATUSES
from app.models.user import CITIZEN_ROLE, OFFICER_ROLES, role_label
from app.procedures import drafts
from app.procedures.deploy import DeployRefused
from app.web import audited, previews
from app.web.errors import answers_errors_as, api_error, error_response
from app.web.studio import _procedure_or_404, _version_or_404, designer_required
from connectors import operation_catalog

bp = Blueprint("drafts", __name__, url_prefix="/thiet-ke/ban-nhap")

# Operations the platform calls itself (guide §8): a diagram never models them, so the panel does not offer them.
PLATFORM_CALLS = frozenset({"payment.create_payment", "payment.query_payment", "payment.refund",
                            "portal.push_dossier", "portal.push_step"})


def _scope() -> Scope:
    return design_scope(current_user)


def _visible(draft: ProcedureDraft) -> bool:
    """A draft is its agency's designers' (the agency its manifest names), and always its author's."""
    scope = _scope()
    return scope.everywhere or draft.created_by == current_user.username or scope.allows_agency(drafts.agency_of(draft))


def _draft_or_404(draft_id: int) -> ProcedureDraft:
    draft = drafts.find(draft_id)
    if draft is None or not _visible(draft):
        abort(404)
    return draft


@bp.route("/")
@designer_required
def index() -> ResponseReturnValue:
    own = current_user.agency.code if current_user.agency is not None else ""
    return render_template("studio/drafts.html", drafts=[d for d in drafts.open_drafts() if _visible(d)],
                           agencies=drafts.agencies(_scope().agency_id), values={"agency": own})


@bp.route("/moi", methods=["POST"])
@designer_required
def create() -> ResponseReturnValue:
    values = {k: request.form.get(k, "") for k in ("code", "name", "agency")}
    try:
        draft = drafts.blank(values["code"], values["name"], values["agency"], current_user.username,
                             agency_id=_scope().agency_id)
    except drafts.DraftError as exc:
        db.session.rollback()
        return render_template("studio/drafts.html", drafts=[d for d in drafts.open_drafts() if _visible(d)],
                               agencies=drafts.agencies(_scope().agency_id), values=values,
                               error=exc.message), exc.status
    db.session.commit()
    return redirect(url_for("drafts.edit", draft_id=draft.id))


@bp.route("/tu-phien-ban/<code>/<int:number>", methods=["POST"])
@designer_required
def from_version(code: str, number: int) -> ResponseReturnValue:
    draft = drafts.from_version(_version_or_404(_procedure_or_404(code), number), current_user.username)
    db.session.commit()
    return redirect(url_for("drafts.edit", draft_id=draft.id))


@bp.route("/<int:draft_id>")
@designer_required
def edit(draft_id: int) -> ResponseReturnValue:
    draft = _draft_or_404(draft_id)
    if draft.deployed_at is not None:
        flash(gettext("Bản nháp này đã được triển khai thành phiên bản; hãy mở phiên bản đó để sửa tiếp."))
    return render_template("studio/draft.html", draft=draft,
                           preview_url=url_for("drafts.form_preview", draft_id=draft.id, form="__FORM__"))


@bp.route("/<int:draft_id>/bieu-mau/<form>")
@designer_required
def form_preview(draft_id: int, form: str) -> ResponseReturnValue:
    """A form of the draft as last saved, drawn as the version's preview draws it (app.web.previews)."""
    draft = _draft_or_404(draft_id)
    parts = drafts.preview_parts(draft)
    try:
        preview = previews.form_preview(parts.manifest, parts.forms, form, request.args.get("mau") != "0",
                                        view=request.args.get("xem"), tasks=parts.tasks, agency=parts.agency)
    except previews.UnknownForm:
        abort(404)
    return render_template("studio/form_preview.html", draft=draft, p=preview)


@bp.route("/<int:draft_id>/goi.json")
@designer_required
@answers_errors_as(api_error)
def package(draft_id: int) -> ResponseReturnValue:
    """The draft's files, and what the properties panel offers: operations with their parameter schemas, roles,
    statuses."""
    draft = _draft_or_404(draft_id)
    operations = {op: schema for op, schema in sorted(operation_catalog().items()) if op not in PLATFORM_CALLS}
    return jsonify(
        revision=draft.revision, files=draft.files, slug=draft.slug, code=draft.code,
        deployed=draft.deployed_at is not None,
        texts=panel_texts(),
        catalog={
            "operations": operations,
            "roles": [{"code": r, "label": gettext(role_label(r))} for r in (*OFFICER_ROLES, CITIZEN_ROLE)],
            "statuses": [{"code": s, "label": str(label)} for s, label in STATUSES.items()],
            "agencies": [{"code": a.code, "label": f"{a.name} ({a.code})"} for a in drafts.agencies()],  # pools
        },
    )


def panel_texts() -> dict[str, str]:
    """The modeller's words, in the reader's language ({name} marks what the script fills in)."""
    return {
        "loaded": gettext("Đã mở bản nháp (bản {revision})."),
        "unsaved": gettext("Có thay đổi chưa lưu."),
        "saving": gettext("Đang lưu…"),
        "saved": gettext("Đã lưu lúc {time} (bản {revision})."),
        "save_failed": gettext("Chưa lưu được: {message}"),
        "leave_warning": gettext("Bạn có thay đổi chưa lưu."),
        "checking": gettext("Đang kiểm tra…"),
        "check_ok": gettext("Có thể triển khai: không phát hiện lỗi."),
        "check_ok_warnings": gettext("Có thể triển khai, có {warnings} cảnh báo."),
        "check_errors": gettext("Chưa triển khai được: {errors} lỗi, {warnings} cảnh báo."),
        "check_failed": gettext("Không kiểm tra được: {message}"),
        "error": gettext("Lỗi:"),
        "warning": gettext("Cảnh báo:"),
        "show": gettext("Xem trên sơ đồ"),
        "problems_here": gettext("Lỗi tại phần tử này"),
        "panel_empty": gettext("Chọn một phần tử trên sơ đồ để xem và sửa thuộc tính mà hệ thống dùng."),
        "name": gettext("Tên"),
        "form": gettext("Biểu mẫu của bước"),
        "form_help": gettext("Chọn trong các biểu mẫu của gói (thư mục forms); gợi ý giao diện <tên>.ui.json đi "
                             "kèm nếu có."),
        "form_none": gettext("(chưa chọn)"),
        "form_missing": gettext("{name} (không có trong gói)"),
        "form_new": gettext("Tạo biểu mẫu mới cho bước này"),
        "form_preview": gettext("Xem trước biểu mẫu"),
        "new_form_title": gettext("Bước xử lý"),
        "new_form_field": gettext("Kết quả xử lý"),
        "status": gettext("Trạng thái hồ sơ khi tới bước này"),
        "status_end": gettext("Trạng thái hồ sơ khi kết thúc ở đây"),
        "status_none": gettext("(không đổi)"),
        "allotted": gettext("Thời hạn của bước (ngày làm việc)"),
        "allotted_help": gettext("Ví dụ 1, 0.5 hoặc 0.25; để trống nếu bước không có hạn riêng."),
        "receives": gettext("Bước này tiếp nhận hồ sơ (bắt đầu tính thời hạn giải quyết)"),
        "doc": gettext("Hướng dẫn cho người thực hiện"),
        "lane_none": gettext("Bước chưa nằm trong làn nào: kéo nó vào làn của bộ phận thực hiện."),
        "lane_unnamed": gettext("Làn chưa có tên: đặt tên làn (ví dụ «Chuyên viên xử lý») rồi gán vai trò."),
        "role": gettext("Vai trò thực hiện các bước trong làn «{lane}»"),
        "role_help": gettext("Ghi vào mục lanes của procedure.json, theo tên làn."),
        "role_none": gettext("(chưa gán)"),
        "pool_agency": gettext("Cơ quan thực hiện các bước trong bể «{pool}»"),
        "pool_agency_none": gettext("(cơ quan tiếp nhận của thủ tục)"),
        "pool_agency_help": gettext("Ghi vào mục participants của procedure.json, theo tên bể; dùng cho thủ tục "
                                    "liên thông nhiều cơ quan."),
        "pool_unnamed": gettext("Bể chưa có tên: đặt tên bể (ví dụ «Công an cấp xã») rồi chọn cơ quan."),
        "manifest_bad": gettext("procedure.json đang có lỗi cú pháp nên chưa gán được vai trò ở đây; hãy sửa tệp "
                                "này ở mục «Tệp của gói»."),
        "timers": gettext("Hẹn giờ của bước"),
        "timer_none": gettext("Chưa có hẹn giờ."),
        "timer_add": gettext("Thêm hẹn giờ cho bước này"),
        "timer_unset": gettext("chưa đặt thời gian"),
        "timer_kind": gettext("Loại hẹn giờ"),
        "timer_timeDuration": gettext("Sau một khoảng thời gian (ví dụ P2D, PT4H)"),
        "timer_timeDate": gettext("Vào một thời điểm (ví dụ working_days(2))"),
        "timer_timeCycle": gettext("Lặp lại (ví dụ R3/PT1H, chỉ cho hẹn giờ không ngắt)"),
        "timer_value": gettext("Thời gian"),
        "timer_help": gettext("Chuẩn ISO 8601, hoặc working_days(n) / working_hours(h) để tính theo giờ hành chính."),
        "interrupting": gettext("Khi đến hạn thì dừng bước đang làm (hẹn giờ ngắt)"),
        "operation": gettext("Thao tác gọi dịch vụ"),
        "operation_none": gettext("(chưa chọn)"),
        "result_var": gettext("Tên biến nhận kết quả"),
        "result_var_help": gettext("Các bước sau đọc kết quả qua tên này, ví dụ tra_cuu_me['ho_ten']."),
        "params": gettext("Tham số (mỗi giá trị là một biểu thức)"),
        "required": gettext("bắt buộc"),
        "type_int": gettext("số nguyên"),
        "type_str": gettext("chuỗi"),
        "condition": gettext("Điều kiện đi theo luồng này (biểu thức)"),
        "condition_help": gettext("Ví dụ quyet_dinh == 'tu_choi'; xem mục 9 của hướng dẫn."),
        "default_flow": gettext("Luồng mặc định: đi theo luồng này khi không luồng nào khác thỏa điều kiện."),
    }


def _files() -> Any:
    body = request.get_json(silent=False)
    return body.get("files") if isinstance(body, dict) else None


@bp.route("/<int:draft_id>/kiem-tra", methods=["POST"])
@designer_required
@answers_errors_as(api_error)
def check(draft_id: int) -> ResponseReturnValue:
    """The upload checker's report on the files sent (not stored), each problem placed on its element."""
    draft = _draft_or_404(draft_id)
    try:
        result = drafts.check(drafts.clean_files(_files()), draft.slug)
    except drafts.DraftError as exc:
        return error_response(exc.status, exc.code, exc.message)
    return jsonify(result.as_json())


@bp.route("/<int:draft_id>/luu", methods=["POST"])
@designer_required
@answers_errors_as(api_error)
def save(draft_id: int) -> ResponseReturnValue:
    draft = _draft_or_404(draft_id)
    body = request.get_json(silent=False)
    revision = body.get("revision") if isinstance(body, dict) else None
    try:
        drafts.save(draft, _files(), revision, current_user.username)
    except drafts.DraftError as exc:
        db.session.rollback()
        return error_response(exc.status, exc.code, exc.message)
    db.session.commit()
    return jsonify(revision=draft.revision, updated_at=draft.updated_at.isoformat(), updated_by=draft.updated_by,
                   updated_at_local=formats.local_datetime(draft.updated_at, local_tz()))


@bp.route("/<int:draft_id>/trien-khai", methods=["POST"])
@designer_required
def deploy(draft_id: int) -> ResponseReturnValue:
    draft = _draft_or_404(draft_id)
    try:
        result = drafts.deploy_draft(draft, current_user.username, agency_id=_scope().agency_id)
    except drafts.DraftError as exc:
        db.session.rollback()
        flash(exc.message)
        return redirect(url_for("drafts.edit", draft_id=draft_id))
    except DeployRefused as exc:
        db.session.rollback()
        errors = [p for p in exc.report.problems if p.severity == "error"]
        flash(gettext("Chưa triển khai: bản nháp đã lưu còn %(count)s lỗi. %(reason)s", count=len(errors),
                      reason=exc.report.reason))
        return redirect(url_for("drafts.edit", draft_id=draft_id))
    audited.deployed(result, draft_id=draft_id)
    db.session.commit()
    flash(gettext("Đã triển khai %(code)s phiên bản %(version)s từ bản nháp.", code=result.procedure.code,
                  version=result.version.version) if result.created else
          gettext("Bản nháp giống hệt phiên bản %(version)s đã có của %(code)s; không tạo phiên bản mới.",
                  code=result.procedure.code, version=result.version.version))
    return redirect(url_for("studio.procedure", code=result.procedure.code))


@bp.route("/<int:draft_id>/xoa", methods=["POST"])
@designer_required
def discard(draft_id: int) -> ResponseReturnValue:
    drafts.discard(_draft_or_404(draft_id))
    db.session.commit()
    flash(gettext("Đã xóa bản nháp."))
    return redirect(url_for("drafts.index"))


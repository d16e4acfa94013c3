"""Designers' studio: upload, check and deploy procedure packages; watch their dossiers; download, compare and retire
versions, and move running dossiers between them (app.procedures.versions, app.dossiers.version_moves)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy import select

from app.dossiers import diagrams, listings, version_moves
from app.dossiers.access import design_scope
from app.dossiers.errors import ServiceError
from app.extensions import db
from app.models import Procedure, ProcedureVersion
from app.models.dossier import FINAL_STATUSES, STATUSES
from app.procedures import versions
from app.procedures.convert import Conversion, convert_package, package_zip
from app.procedures.deploy import DeployRefused, deploy
from app.procedures.package import PackageError, PackageFiles, check_package, load_upload
from app.web import audited, previews
from app.web.diagrams import bpmn_response
from app.web.lists import list_query
from app.web.studio.guide import guide_html
from app.web.version_moves import move_all

bp = Blueprint("studio", __name__, url_prefix="/thiet-ke")


def designer_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_designer:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


@bp.route("/")
@designer_required
def index() -> ResponseReturnValue:
    query = list_query(PROCEDURE_SORTS)
    return render_template("studio/index.html", procedures=listings.procedure_index(query, design_scope(current_user)),
                           query=query,
                           sorts=PROCEDURE_SORTS, count_label=listings.count_label)


PROCEDURE_SORTS = ("code", "name")


@bp.route("/huong-dan")
@designer_required
def guide() -> ResponseReturnValue:
    """The designer's guide (docs/designer-guide.md): every field and property, and a worked example."""
    html = guide_html()
    if html is None:
        abort(404)
    return render_template("studio/guide.html", guide=html)


@bp.route("/thu-tuc/<code>")
@designer_required
def procedure(code: str) -> ResponseReturnValue:
    proc = _procedure_or_404(code)
    versions = db.session.scalars(
        select(ProcedureVersion).where(ProcedureVersion.procedure_id == proc.id)
        .order_by(ProcedureVersion.version.desc())
    ).all()
    query = list_query(listings.DOSSIER_SORTS)
    running = listings.procedure_dossiers(proc, query)
    statuses = [(s, label) for s, label in STATUSES.items() if s not in FINAL_STATUSES]
    return render_template("studio/procedure.html", proc=proc, versions=versions, dossiers=running, query=query,
                           sorts=listings.DOSSIER_SORTS, statuses=statuses)


@bp.route("/thu-tuc/<code>/phien-ban/<int:number>")
@designer_required
def version(code: str, number: int) -> ResponseReturnValue:
    """One deployed version: its diagram as deployed, drawn by the page's script from the XML below."""
    v = _version_or_404(_procedure_or_404(code), number)
    others = sorted(name for name in (v.bpmn_files or {}) if name.lower().endswith(".bpmn"))
    main, _ = diagrams.version_bpmn(v)
    return render_template("studio/version.html", proc=v.procedure, v=v, main=main,
                           others=[name for name in others if name != main],
                           forms=previews.form_list(v.manifest, v.forms, v.tasks))


@bp.route("/thu-tuc/<code>/phien-ban/<int:number>/bieu-mau/<form>")
@designer_required
def form_preview(code: str, number: int, form: str) -> ResponseReturnValue:
    """A form of the version as the citizen or the officer sees it (`?xem=cong-dan|can-bo`), with sample data
    (`?mau=0`: empty), by app.web.previews, which previews a draft the same way."""
    v = _version_or_404(_procedure_or_404(code), number)
    try:
        preview = previews.form_preview(v.manifest, v.forms, form, request.args.get("mau") != "0",
                                        view=request.args.get("xem"), tasks=v.tasks, agency=v.procedure.agency)
    except previews.UnknownForm:
        abort(404)
    return render_template("studio/form_preview.html", proc=v.procedure, v=v, p=preview)


@bp.route("/thu-tuc/<code>/phien-ban/<int:number>/so-do.bpmn")
@designer_required
def version_xml(code: str, number: int) -> ResponseReturnValue:
    return bpmn_response(*diagrams.version_bpmn(_version_or_404(_procedure_or_404(code), number)))


@bp.route("/tai-len", methods=["GET", "POST"])
@designer_required
def upload() -> ResponseReturnValue:
    if request.method == "GET":
        return render_template("studio/upload.html", report=None, error=None)
    files = [(f.filename or "", f.read()) for f in request.files.getlist("files") if f.filename]
    try:
        pkg = load_upload(files, slug=request.form.get("slug") or None)
    except PackageError as exc:
        return render_template("studio/upload.html", report=None, error=exc.message), 422
    if request.form.get("action") != "deploy":
        report = check_package(pkg)
        # What another modeller's export would become (app.procedures.convert): offered, never applied here.
        offer = convert_package(pkg)
        return render_template("studio/upload.html", report=report, error=None, offer=offer.changes,
                               carried=_carry(pkg) if offer.changes else None,
                               slug=pkg.slug), 200 if report.ok else 422
    try:
        result = deploy(pkg, deployed_by=current_user.username, agency_id=design_scope(current_user).agency_id)
        audited.deployed(result)
        db.session.commit()
    except DeployRefused as exc:
        db.session.rollback()
        return render_template("studio/upload.html", report=exc.report, error=None), 422
    if result.created:
        flash(gettext("Đã triển khai %(code)s phiên bản %(version)s.", code=result.procedure.code,
                      version=result.version.version))
    else:
        flash(gettext("Đã triển khai %(code)s phiên bản %(version)s (nội dung không đổi so với phiên bản đã có).",
                      code=result.procedure.code, version=result.version.version))
    return redirect(url_for("studio.procedure", code=result.procedure.code))


def _carry(pkg: PackageFiles) -> str | None:
    """The package as a form field (a zip, base64), so the next page can convert it without another upload; None
    when it would not fit in a request (the changes are then listed for the designer to make in the modeller)."""
    encoded = base64.b64encode(package_zip(pkg)).decode("ascii")
    return encoded if len(encoded) < int(current_app.config["MAX_CONTENT_LENGTH"]) - 64 * 1024 else None


def _carried() -> PackageFiles:
    """The package a conversion form carried back; PackageError when it is not one (the same checks as an upload)."""
    try:
        data = base64.b64decode(request.form.get("package", ""), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PackageError("zip_invalid", gettext("Không đọc được gói thủ tục gửi kèm; hãy tải gói lên lại.")) from exc
    return load_upload([("goi.zip", data)], slug=request.form.get("slug") or None)


@bp.route("/tai-len/chuyen-doi", methods=["POST"])
@designer_required
def convert() -> ResponseReturnValue:
    """«Áp dụng chuyển đổi»: the package converted (app.procedures.convert), its list of changes and its check; or,
    with action=download, the converted package as a zip. The upload itself is never changed or deployed here."""
    try:
        pkg = _carried()
    except PackageError as exc:
        return render_template("studio/upload.html", report=None, error=exc.message), 422
    if request.form.get("action") == "download":
        response = Response(package_zip(pkg), mimetype="application/zip")
        response.headers["Content-Disposition"] = f'attachment; filename="{pkg.slug}-chuyen-doi.zip"'
        return response
    conversion: Conversion = convert_package(pkg)
    report = check_package(conversion.package)
    return render_template("studio/upload.html", report=report, error=None, applied=conversion.changes,
                           converted=_carry(conversion.package), slug=pkg.slug), 200 if report.ok else 422


# ---------------------------------------------------------------- versions: download, compare, retire, move dossiers


def _procedure_or_404(code: str) -> Procedure:
    """The procedure, if the designer's agency designs it (another agency's is not shown to exist)."""
    proc = versions.find_procedure(code)
    if proc is None or not design_scope(current_user).allows_agency(proc.agency_id):
        abort(404)
    return proc


def _version_or_404(proc: Procedure, number: Any) -> ProcedureVersion:
    try:
        wanted = int(number)
    except (TypeError, ValueError):
        abort(404)
    found = versions.find_version(proc, wanted) if 0 < wanted < 2**31 else None
    if found is None:
        abort(404)
    return found


def package_download(proc: Procedure, version: ProcedureVersion) -> Response:
    """The version's package as a zip attachment; X-Content-Hash-Exact says whether it hashes as deployed."""
    data = versions.package_zip(version, proc.slug)
    response = Response(data, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{proc.slug}-v{version.version}.zip"'
    response.headers["X-Content-Hash"] = version.content_hash
    response.headers["X-Content-Hash-Exact"] = "true" if versions.exact(version) else "false"
    return response


@bp.route("/thu-tuc/<code>/phien-ban/<int:number>/tai-ve")
@designer_required
def download(code: str, number: int) -> ResponseReturnValue:
    proc = _procedure_or_404(code)
    return package_download(proc, _version_or_404(proc, number))


@bp.route("/thu-tuc/<code>/so-sanh")
@designer_required
def compare(code: str) -> ResponseReturnValue:
    proc = _procedure_or_404(code)
    all_versions = versions.versions_of(proc)
    if len(all_versions) < 2:
        flash(gettext("Thủ tục mới có một phiên bản; chưa có gì để so sánh."))
        return redirect(url_for("studio.procedure", code=code))
    old = _version_or_404(proc, request.args.get("tu", all_versions[1].version))
    new = _version_or_404(proc, request.args.get("den", all_versions[0].version))
    return render_template("studio/compare.html", proc=proc, versions=all_versions, old=old, new=new,
                           diff=versions.compare(old, new))


@bp.route("/thu-tuc/<code>/phien-ban/<int:number>/ngung", methods=["POST"])
@designer_required
def retire(code: str, number: int) -> ResponseReturnValue:
    proc = _procedure_or_404(code)
    version = _version_or_404(proc, number)
    proc = versions.retire(version, current_user.username)
    audited.retired(proc, version)
    db.session.commit()
    if proc.current_version is None:
        flash(gettext("Đã ngừng áp dụng phiên bản %(version)s. Thủ tục không còn phiên bản nào đang áp dụng nên tạm "
                      "ngừng nhận hồ sơ mới cho đến khi triển khai phiên bản mới.", version=number))
    else:
        flash(gettext("Đã ngừng áp dụng phiên bản %(version)s; hồ sơ mới dùng phiên bản %(current)s. Hồ sơ đang xử "
                      "lý vẫn tiếp tục theo phiên bản của mình.", version=number, current=proc.current_version.version))
    return redirect(url_for("studio.procedure", code=code))


@bp.route("/thu-tuc/<code>/chuyen-phien-ban", methods=["GET", "POST"])
@designer_required
def move(code: str) -> ResponseReturnValue:
    proc = _procedure_or_404(code)
    all_versions = versions.versions_of(proc)
    if len(all_versions) < 2:
        flash(gettext("Thủ tục mới có một phiên bản; chưa có phiên bản nào khác để chuyển hồ sơ sang."))
        return redirect(url_for("studio.procedure", code=code))
    values = request.form if request.method == "POST" else request.args
    source = _version_or_404(proc, values.get("tu", all_versions[1].version))
    target = _version_or_404(proc, values.get("den", all_versions[0].version))
    try:
        if request.method == "POST":
            items, done = move_all(source, target, current_user), True
        else:
            items, done = version_moves.plan(source, target), False
    except ServiceError as exc:
        db.session.rollback()
        flash(exc.message)
        return redirect(url_for("studio.procedure", code=code))
    return render_template("studio/move.html", proc=proc, versions=all_versions, source=source, target=target,
                           items=items, done=done, movable=sum(1 for i in items if i.movable))

"""Designers' studio: upload, check and deploy procedure packages; watch their dossiers."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlalchemy import select

from app.dossiers import listings
from app.extensions import db
from app.models import Procedure, ProcedureVersion
from app.models.dossier import FINAL_STATUSES, STATUSES
from app.procedures.deploy import DeployRefused, deploy
from app.procedures.package import PackageError, check_package, load_upload
from app.web.lists import list_query
from app.web.studio.guide import guide_html

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
    return render_template("studio/index.html", procedures=listings.procedure_index(query), query=query,
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
    proc = db.session.scalar(select(Procedure).where(Procedure.code == code))
    if proc is None:
        abort(404)
    versions = db.session.scalars(
        select(ProcedureVersion).where(ProcedureVersion.procedure_id == proc.id)
        .order_by(ProcedureVersion.version.desc())
    ).all()
    query = list_query(listings.DOSSIER_SORTS)
    running = listings.procedure_dossiers(proc, query)
    statuses = [(s, label) for s, label in STATUSES.items() if s not in FINAL_STATUSES]
    return render_template("studio/procedure.html", proc=proc, versions=versions, dossiers=running, query=query,
                           sorts=listings.DOSSIER_SORTS, statuses=statuses)


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
        return render_template("studio/upload.html", report=report, error=None), 200 if report.ok else 422
    try:
        result = deploy(pkg, deployed_by=current_user.username)
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

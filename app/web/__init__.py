"""HTTP layer: blueprints only. Business rules live in app.dossiers / app.procedures."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, has_request_context, request
from flask_babel import gettext, lazy_gettext, ngettext, refresh
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from app import formats
from app.accounts import user_for_session
from app.dossiers.errors import ServiceError
from app.extensions import babel, db, login_manager
from app.models import User
from app.models.dossier import STATUSES
from app.web import audited
from app.web.errors import error_response
from app.web.guards import InvalidText
from app.web.headers import apply_security_headers
from app.web.limits import install_rate_limits, retry_after_seconds
from app.web.sessions import SessionInterface, https_request

# The languages offered; the first is the source language of every message (it needs no catalogue).
LANGUAGES = ("vi", "en")


DATABASE_RETRY_AFTER = 5  # seconds a client waits before retrying when the database could not answer

def select_locale() -> str:
    if not has_request_context():  # a job or a command: the platform's language
        return LANGUAGES[0]
    lang = request.args.get("lang") or request.cookies.get("lang")
    return lang if lang in LANGUAGES else LANGUAGES[0]


def warn_missing_catalogues(app: Flask) -> None:
    """A language without its compiled catalogue (*.mo files are not in git) silently falls back to
    Vietnamese: say so at start-up."""
    with app.app_context():
        compiled = {str(locale) for locale in babel.list_translations()}
    for lang in LANGUAGES[1:]:
        if lang not in compiled:
            app.logger.warning("No compiled catalogue for language %r in %s: its pages will be in Vietnamese; "
                               "run `pybabel compile -d app/translations`.", lang,
                               ", ".join(app.extensions["babel"].translation_directories))


def duration(amount: int, unit: str) -> str:
    """A processing time in the reader's language, plural and all: "Same day", "1 working day", "15 working days"."""
    if not amount:
        return gettext("Trong ngày")
    if unit == "working_days":
        return ngettext("%(num)s ngày làm việc", "%(num)s ngày làm việc", amount)
    return ngettext("%(num)s ngày", "%(num)s ngày", amount)


def register_web(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    audited.install(app)  # the address and page of every audit event written during a request
    warn_missing_catalogues(app)

    @app.before_request
    def choose_language() -> None:
        refresh()  # each request chooses its own language, even in an app context that outlives it

    app.session_interface = SessionInterface()

    @login_manager.user_loader
    def load_user(session_ref: str) -> User | None:
        """Only a session still stored server-side loads its user: logout and password changes end them."""
        return user_for_session(session_ref, app.config["SESSION_MAX_AGE_DAYS"])

    login_manager.login_view = "auth.login"
    login_manager.login_message = lazy_gettext("Vui lòng đăng nhập để tiếp tục.")
    login_manager.localize_callback = str  # in the reader's language when it is shown

    from app.web.admin import bp as admin_bp
    from app.web.api import bp as api_bp
    from app.web.auth import bp as auth_bp
    from app.web.inbox import bp as inbox_bp
    from app.web.portal import bp as portal_bp
    from app.web.statistics import bp as statistics_bp
    from app.web.studio import bp as studio_bp
    from app.web.studio.drafts import bp as drafts_bp

    app.register_blueprint(portal_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(inbox_bp)
    app.register_blueprint(studio_bp)
    app.register_blueprint(drafts_bp)
    app.register_blueprint(statistics_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(admin_bp)
    from app.web.vendor import register_vendor

    register_vendor(app)  # the browser packages from npm (bpmn-js), served here
    from app.web.ops import register_ops

    register_ops(app)  # /healthz, /readyz, /metrics; request and connector metrics (app.monitoring)

    tz = ZoneInfo(app.config["TIMEZONE"])

    # One way to write a time, a day and an amount on every page (app/formats.py; emails and SMS use it too).
    @app.template_filter("localdt")
    def localdt(value: datetime | str | None) -> str:
        return formats.local_datetime(value, tz)

    @app.template_filter("localdate")
    def localdate(value: date | datetime | str | None) -> str:
        return formats.local_date(value, tz)

    app.add_template_filter(formats.vnd, "vnd")

    @app.context_processor
    def globals_for_templates() -> dict[str, Any]:
        return {"STATUSES": STATUSES, "lang": select_locale(), "duration": duration}

    @app.after_request
    def remember_language(response: Any) -> Any:
        if request.args.get("lang") in ("vi", "en"):
            response.set_cookie("lang", request.args["lang"], max_age=365 * 86400, samesite="Lax",
                                secure=https_request())
        return apply_security_headers(response)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Any:
        message = gettext("Phiên làm việc đã hết hạn hoặc biểu mẫu không hợp lệ; vui lòng tải lại trang.")
        return error_response(400, "csrf_failed", message)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge) -> Any:
        limit = request.max_content_length or app.config["MAX_CONTENT_LENGTH"]
        size = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{max(1, limit // 1024)} KB"
        return error_response(413, "payload_too_large", gettext("Dữ liệu gửi lên quá lớn (tối đa %(size)s).",
                                                                size=size))

    @app.errorhandler(RateLimitExceeded)
    def too_many(exc: RateLimitExceeded) -> Any:
        seconds = retry_after_seconds()
        message = gettext("Quá nhiều yêu cầu; vui lòng thử lại sau %(seconds)s giây.", seconds=seconds)
        return error_response(429, "too_many_requests", message, {"Retry-After": str(seconds)})

    @app.errorhandler(InvalidText)
    def invalid_text(exc: InvalidText) -> Any:
        return error_response(400, "invalid_text", gettext(
            "Dữ liệu gửi lên chứa ký tự không hợp lệ (ký tự NUL hoặc mã Unicode lẻ)."))

    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError) -> Any:
        """A use-case refusal that no view caught: its own status and message, never a 500."""
        db.session.rollback()
        return error_response(exc.status, exc.code, exc.message, details=exc.details)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        messages = {404: gettext("Không tìm thấy trang."), 405: gettext("Phương thức không được hỗ trợ."),
                    401: gettext("Cần đăng nhập."), 403: gettext("Không có quyền truy cập."),
                    400: gettext("Yêu cầu không hợp lệ.")}
        message = messages.get(exc.code or 500, exc.description or gettext("Lỗi."))
        return error_response(exc.code or 500, (exc.name or "error").lower().replace(" ", "_"), message)

    @app.errorhandler(OperationalError)
    def database_unavailable(exc: OperationalError) -> Any:
        """The database could not answer (restarting, connections terminated, a deadlock or lock timeout):
        nothing was saved, and the same request will work again in a moment. A 503 with Retry-After says so;
        a 500 would say the request itself is wrong."""
        app.logger.warning("Database unavailable on %s %s: %s", request.method, request.path,
                           str(exc.orig or exc).splitlines()[0][:300])
        try:
            db.session.rollback()
        except Exception:  # the connection is gone: the pool replaces it on the next checkout
            db.session.remove()
        return error_response(503, "service_unavailable", gettext(
            "Hệ thống đang tạm gián đoạn; yêu cầu chưa được ghi nhận, vui lòng thử lại sau ít giây."),
            {"Retry-After": str(DATABASE_RETRY_AFTER)})

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        """Last resort: logged in full for the operator, a plain 500 for the user (no internals shown)."""
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        return error_response(500, "internal_error",
                              gettext("Đã có lỗi hệ thống; vui lòng thử lại sau. Lỗi đã được ghi lại."))

    install_rate_limits(app)

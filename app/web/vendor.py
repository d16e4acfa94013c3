"""Browser packages installed from npm (package.json + package-lock.json, `npm ci` in the set-up commands), served
by the platform itself: nothing a page runs comes from a CDN.

Only what pages need is served: a package's built files (bpmn-js: the viewer and modeller bundles, their style
sheets and fonts under dist/; chart.js: the charts of the leaders' dashboard, its UMD bundle under dist/), by type,
with their right content type. The URL carries the installed version, so
a browser keeps a file for a year without asking again (`immutable`) and an upgrade changes every URL. A package
missing from node_modules is logged at start-up, and each request for one of its files answers 503 saying how to
install it (the page that wanted it says the diagram could not be loaded).
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, Flask, abort, current_app, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from werkzeug.security import safe_join

from app.web.errors import error_response

# package → the folder of it that is served
PACKAGES = {"bpmn-js": "dist", "chart.js": "dist"}
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".eot": "application/vnd.ms-fontobject",
    ".svg": "image/svg+xml",
}
CACHE_CONTROL = "public, max-age=31536000, immutable"
MISSING = "missing"  # the version in URLs made while a package is not installed
_VERSIONS = "motcua_vendor_versions"

bp = Blueprint("vendor", __name__, url_prefix="/tai-nguyen")


def _read_versions(app: Flask) -> dict[str, str]:
    found = {}
    for package in PACKAGES:
        manifest = Path(app.config["NODE_MODULES"]) / package / "package.json"
        try:
            found[package] = str(json.loads(manifest.read_text("utf-8"))["version"])
        except (OSError, ValueError, KeyError):
            app.logger.warning("The browser package %r is not installed in %s: pages cannot draw with it. "
                               "Run `npm ci` in %s (scripts/run.sh and scripts/test.sh do).", package,
                               app.config["NODE_MODULES"], Path(app.config["NODE_MODULES"]).parent)
    return found


def installed_versions() -> dict[str, str]:
    """The installed version of each served package, read once per process (missing ones are absent)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    versions = app.extensions.get(_VERSIONS)
    if versions is None:
        versions = app.extensions.setdefault(_VERSIONS, _read_versions(app))
    return dict(versions)


def vendor_url(package: str, filename: str) -> str:
    """The URL of one of a package's served files (for templates)."""
    return url_for("vendor.asset", package=package, version=installed_versions().get(package, MISSING),
                   filename=filename)


@bp.route("/<package>/<version>/<path:filename>")
def asset(package: str, version: str, filename: str) -> ResponseReturnValue:
    if package not in PACKAGES:
        abort(404)
    installed = installed_versions().get(package)
    if installed is None:
        current_app.logger.error("Asked for %s/%s, but %s is not installed in %s: run `npm ci`.", package, filename,
                                 package, current_app.config["NODE_MODULES"])
        return error_response(503, "asset_missing", gettext(
            "Thành phần hiển thị sơ đồ (%(package)s) chưa được cài đặt trên máy chủ; quản trị viên cần chạy "
            "«npm ci» trong thư mục của nền tảng.", package=package))
    content_type = CONTENT_TYPES.get(Path(filename).suffix.lower())
    if version != installed or content_type is None:
        abort(404)
    path = safe_join(str(Path(current_app.config["NODE_MODULES"]) / package / PACKAGES[package]), filename)
    if path is None or not Path(path).is_file():
        abort(404)
    response = send_file(path, mimetype=content_type, conditional=True, etag=True)
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


def register_vendor(app: Flask) -> None:
    app.register_blueprint(bp)
    app.add_template_global(vendor_url)
    with app.app_context():
        installed_versions()  # says at start-up what is missing

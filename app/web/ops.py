"""Operations endpoints, outside the pages and the API: `GET /healthz` (liveness), `GET /readyz` (readiness),
`GET /metrics` (Prometheus). What they check and count, and why, is in app.monitoring and docs/operations.md."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST

from app import monitoring
from app.web.headers import API_POLICY

bp = Blueprint("ops", __name__)


def _plain(response: Response) -> Response:
    """Machine answers: the API's policy (nothing to load, nothing to frame); never cached (set for every answer)."""
    response.headers["Content-Security-Policy"] = API_POLICY
    return response


@bp.get("/healthz")
def healthz() -> Any:
    """Liveness: the process answers requests. Touches nothing else, so a database outage never gets every web
    process restarted."""
    return _plain(jsonify(status="ok"))


@bp.get("/readyz")
def readyz() -> Any:
    """Readiness: 200 (ok or degraded) or 503 (a critical check failed), with every check's result."""
    status, body = monitoring.readiness(current_app._get_current_object())  # type: ignore[attr-defined]
    response = jsonify(body)
    response.status_code = status
    return _plain(response)


def _authorized() -> bool:
    token = str(current_app.config.get("METRICS_TOKEN") or "")
    if not token:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@bp.get("/metrics")
def metrics() -> Any:
    if not _authorized():
        response = jsonify(error="unauthorized", message="Bearer token required (METRICS_TOKEN).")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return _plain(response)
    body = monitoring.render_metrics(current_app._get_current_object())  # type: ignore[attr-defined]
    return _plain(Response(body, mimetype=None, content_type=CONTENT_TYPE_LATEST))


def register_ops(app: Flask) -> None:
    app.register_blueprint(bp)
    monitoring.install(app)

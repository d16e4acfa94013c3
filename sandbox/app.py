"""A stand-in for Vietnam's national services, spoken over real HTTP JSON.

Connectors, demos and end-to-end tests need something that behaves like the population database,
the business registry, the tax office, the social-insurance office, the payment platform, an SMS gateway,
the national portal and the national electronic identity (VNeID, an OpenID Connect provider) — bearer-token
auth, Vietnamese error bodies, 404 on a mismatch, 5xx and slowness on a bad day — without a network
contract with a ministry. One blueprint per national system; the seeded data comes from
:mod:`sandbox.seed`, so a seed fixes every record; :mod:`sandbox.faults` injects failures into
any of them and logs what they received.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from sandbox import business, faults, identity, payment, population, portal, sms, smtp, social_insurance, tax
from sandbox.common import DEFAULT_TOKEN, Refused, error
from sandbox.seed import generate

__all__ = ["create_sandbox_app"]

BLUEPRINTS = (faults.bp, population.bp, business.bp, tax.bp, social_insurance.bp, payment.bp, portal.bp, sms.bp,
              smtp.bp, identity.bp)
_HTTP_ERRORS = {404: ("khong_tim_thay", "Không tìm thấy tài nguyên được yêu cầu."),
                405: ("phuong_thuc_khong_hop_le", "Phương thức không được hỗ trợ cho đường dẫn này.")}


def create_sandbox_app(seed: int = 2026, config: dict[str, Any] | None = None) -> Flask:
    """Build the sandbox: seeded data, every national system's blueprint and the test hooks.

    ``config`` is merged into ``app.config``: ``SANDBOX_TOKEN`` is the bearer token clients must send,
    ``PAYMENT_SECRET`` the key payment callbacks are signed with.
    """
    app = Flask(__name__)
    app.config["SANDBOX_TOKEN"] = DEFAULT_TOKEN
    app.config.update(config or {})
    if isinstance(app.json, DefaultJSONProvider):
        app.json.ensure_ascii = False
        app.json.sort_keys = False
    app.extensions["sandbox"] = {"data": generate(seed)}

    @app.errorhandler(Refused)
    def _refused(exc: Refused) -> tuple[Response, int]:
        return error(exc.status, exc.code, exc.message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int]:
        code, message = _HTTP_ERRORS.get(exc.code or 500, ("loi_yeu_cau", "Yêu cầu không hợp lệ."))
        return error(exc.code or 500, code, message)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    return app

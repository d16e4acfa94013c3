"""MotCua application factory: config → extensions → jobs, connectors, subscriptions → blueprints → CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import Config


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=False)
    app.config.from_object(Config)
    if config:
        app.config.update(config)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )

    from app import extensions

    extensions.db.init_app(app)
    from app import models  # noqa: F401  (registers the tables on the metadata)

    extensions.migrate.init_app(
        app, extensions.db, directory=str(Path(__file__).resolve().parent.parent / "migrations")
    )
    if app.config.get("PROXY_FIX_HOPS"):
        hops = int(app.config["PROXY_FIX_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    from app.web.guards import install_guards

    install_guards(app)  # before CSRF and the blueprints: bounded ids, body limits, text checks
    extensions.csrf.init_app(app)
    extensions.login_manager.init_app(app)

    from app.jobs.queue import init_jobs

    init_jobs(app)

    from connectors import build_registry

    app.extensions["motcua_connectors"] = build_registry(app.config)
    app.extensions["motcua_prefill_registry"] = build_registry(
        {**app.config, "CONNECTOR_ATTEMPTS": 1, "CONNECTOR_TIMEOUT": app.config["PREFILL_TIMEOUT"]}
    )

    from app.subscriptions import register as register_subscriptions

    register_subscriptions(app)  # every reaction to a dossier's events, and the platform's own operations
    from app.web import register_web

    register_web(app)

    from app.cli import register_cli

    register_cli(app)
    return app

"""Test fixtures on real PostgreSQL and Redis.

A throwaway database is created per test run; Alembic migrations run once; the demo agencies, users
and the sample procedures are deployed once and committed; each test then runs inside a transaction
that is rolled back, so tests see the same starting data and never each other's.
Tests marked `live` get their own committed database behind a real HTTP server in a thread.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from sqlalchemy.orm import scoped_session, sessionmaker
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _create_database(prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:  # pragma: no cover - environment problem
        pytest.exit(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}\n"
                    "Start it (scripts/test.sh does) or set TEST_PG_ADMIN_URL.", returncode=3)
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}"


def _drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_app(database_url: str, tmp: Path, **extra: Any) -> Flask:
    from app import create_app

    config = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "TESTING": True,
        "WTF_CSRF_ENABLED": False,
        "REDIS_URL": "",
        "JOB_DISPATCH": "record",
        "UPLOAD_DIR": str(tmp / "uploads"),
        "SECRET_KEY": "test-secret",
        # Tests log in and submit far faster than people; tests/integration/test_limits.py turns limits on.
        "RATELIMIT_ENABLED": False,
        # The demo accounts log in with their passwords (production keeps passwords for the administrator only).
        "PASSWORD_LOGIN_ADMIN_ONLY": False,
    }
    config.update(extra)
    return create_app(config)


def prepare_database(app: Flask) -> None:
    """Migrations, demo data and the shipped procedures, committed."""
    from flask_migrate import upgrade

    from app.extensions import db
    from app.procedures.deploy import deploy
    from app.procedures.package import load_directory
    from app.seed import seed_demo

    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        seed_demo()
        for folder in sorted((ROOT / "bpmn").iterdir()):
            if (folder / "procedure.json").exists():
                deploy(load_directory(folder), deployed_by="tests")
        db.session.commit()
        db.session.remove()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url = _create_database("motcua_test")
    yield url
    _drop_database(url)


@pytest.fixture(scope="session")
def app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    # Every API answer the tests get is also checked against the model the OpenAPI document gives it (not in
    # make_app: the benches that use it measure the production path).
    application = make_app(database_url, tmp_path_factory.mktemp("app"), API_CHECK_RESPONSES=True)
    prepare_database(application)
    return application


@pytest.fixture()
def db_session(app: Flask) -> Iterator[Any]:
    """Everything a test does happens in one outer transaction that is rolled back."""
    from app.extensions import db

    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        bound = sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
        test_thread = threading.get_ident()

        def session_for_this_thread() -> Any:
            # Only the test's own thread works in its transaction: a thread another app left running (an embedded
            # job thread's sweep, say) also reads the module-wide `db.session`, and on the test's connection it
            # would end the test's savepoints under it. Any other thread gets an ordinary session of its own.
            return bound() if threading.get_ident() == test_thread else original.session_factory()

        db.session = scoped_session(session_for_this_thread)  # type: ignore[assignment]
        try:
            yield db.session
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture()
def client(app: Flask, db_session: Any) -> Any:
    return app.test_client()


@pytest.fixture()
def jobs(app: Flask) -> Any:
    dispatcher = app.extensions["motcua_jobs"]
    dispatcher.jobs.clear()
    return dispatcher


@pytest.fixture()
def sqlite_app(tmp_path: Path) -> Iterator[Flask]:
    """An app of its own on an SQLite file (the embedded default), migrated and seeded, inside its app context."""
    from app.extensions import db

    application = make_app(f"sqlite:///{tmp_path / 'embedded.db'}", tmp_path)
    prepare_database(application)
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The platform's clock (app/clock.py), moved by the test: tests.timer_support.MovedClock's set() and advance().
    A module may define its own `clock` fixture instead."""
    from app import clock as platform_clock
    from tests.timer_support import MovedClock

    moved = MovedClock()
    monkeypatch.setattr(platform_clock, "datetime", moved.datetime)
    yield moved


def user(username: str) -> Any:
    from sqlalchemy import select

    from app.extensions import db
    from app.models import User

    return db.session.scalar(select(User).where(User.username == username))


def colleague(username: str, suffix: str = "2", name: str = "Đồng Nghiệp") -> Any:
    """Another officer with `username`'s roles in the same agency (flushed, in the test's transaction)."""
    from app.extensions import db
    from app.models import User

    model = user(username)
    other = User(username=f"{username}.{suffix}", full_name=name, roles=list(model.roles), agency_id=model.agency_id)
    db.session.add(other)
    db.session.flush()
    return other


@pytest.fixture()
def token(db_session: Any) -> Any:
    """token("hotich") → headers with a fresh bearer token for that demo user."""
    from app.accounts import issue_token

    def make(username: str) -> dict[str, str]:
        value = issue_token(user(username), 1)
        db_session.commit()
        return {"Authorization": f"Bearer {value}"}

    return make


def login(client: Any, username: str, password: str = "demo123") -> None:
    response = client.post("/dang-nhap", data={"username": username, "password": password})
    assert response.status_code == 302, response.data[:500]


# ------------------------------------------------------------------ live server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = make_server("127.0.0.1", self.port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real HTTP server on its own committed database (browser, concurrency and job tests)."""
    url = _create_database("motcua_live")
    # No periodic sweep: its thread would share the database session a test patches in (db_session).
    application = make_app(url, tmp_path_factory.mktemp("live"), JOB_DISPATCH="auto", WTF_CSRF_ENABLED=True,
                           SWEEP_INTERVAL=0)
    prepare_database(application)
    server = LiveServer(application).start()
    yield server
    server.stop()
    from app.extensions import db

    with application.app_context():
        db.engine.dispose()
    _drop_database(url)


def bearer_for(live_server: LiveServer, username: str) -> dict[str, str]:
    """Headers with a fresh bearer token of a demo user of the live server (committed there)."""
    from app.accounts import issue_token
    from app.extensions import db

    with live_server.app.app_context():
        value = issue_token(user(username), 1)
        db.session.commit()
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture()
def live_token(live_server: LiveServer) -> Any:
    return lambda username: bearer_for(live_server, username)


# ------------------------------------------------------------------ demo national services


@pytest.fixture(scope="session")
def sandbox() -> Iterator[str]:
    """The demo national services on a free port, over real HTTP."""
    from sandbox import create_sandbox_app

    app = create_sandbox_app(seed=2026, config={"SANDBOX_TOKEN": "sandbox-test-token"})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture()
def national(app: Flask, monkeypatch: pytest.MonkeyPatch, sandbox: str) -> Iterator[Any]:
    """The app's connectors pointed at the demo services: one try per job attempt, short timeouts, no pauses.

    The national portal is left out (tests of the portal outbox add it), so jobs here are the dossier's own.
    """
    import requests

    from app.subscriptions import add_platform_operations
    from connectors import build_registry
    from connectors.payment import DEFAULT_PAYMENT_SECRET

    # The cards the office issued go too: dossier codes restart in each test database, and a card is kept per code.
    for hook in ("/_faults", "/_log", "/_payment/callback-faults", "/_bhxh/cards"):
        requests.delete(f"{sandbox}{hook}", timeout=5)
    settings: dict[str, Any] = {"CONNECTOR_ATTEMPTS": 1, "CONNECTOR_TIMEOUT": 5,
                                "PAYMENT_SECRET": DEFAULT_PAYMENT_SECRET}
    for provider in ("POPULATION", "BUSINESS", "TAX", "SOCIAL_INSURANCE", "PAYMENT", "SMS"):
        settings[f"{provider}_URL"], settings[f"{provider}_TOKEN"] = sandbox, "sandbox-test-token"
    built = add_platform_operations(build_registry(settings))
    monkeypatch.setitem(app.extensions, "motcua_connectors", built)
    monkeypatch.setitem(app.config, "SERVICE_CALL_DELAYS", "0,0")  # three attempts, no pause
    monkeypatch.setitem(app.config, "PAYMENT_RECHECK", "")  # re-queries only when a test runs them
    # Nothing listens here: the platform's server-to-server callbacks fail, as if lost; browsers bring results back.
    monkeypatch.setitem(app.config, "PUBLIC_URL", "http://127.0.0.1:9")
    yield built
    requests.delete(f"{sandbox}/_faults", timeout=5)
    requests.delete(f"{sandbox}/_payment/callback-faults", timeout=5)


@pytest.fixture()
def live_national(live_server: LiveServer, sandbox: str) -> Iterator[LiveServer]:
    """The live server's connectors pointed at the demo services, with callbacks coming back to it."""
    import requests

    from app.subscriptions import add_platform_operations
    from connectors import build_registry
    from connectors.payment import DEFAULT_PAYMENT_SECRET

    app = live_server.app
    saved = app.extensions["motcua_connectors"], dict(app.config)
    settings: dict[str, Any] = {"CONNECTOR_ATTEMPTS": 2, "CONNECTOR_TIMEOUT": 5,
                                "PAYMENT_SECRET": DEFAULT_PAYMENT_SECRET}
    for provider in ("POPULATION", "SOCIAL_INSURANCE", "PAYMENT", "SMS"):
        settings[f"{provider}_URL"], settings[f"{provider}_TOKEN"] = sandbox, "sandbox-test-token"
    app.extensions["motcua_connectors"] = add_platform_operations(build_registry(settings))
    app.config.update(PUBLIC_URL=live_server.url, PAYMENT_RECHECK="", SERVICE_CALL_DELAYS="1,1")
    for hook in ("/_payment/callback-faults", "/_bhxh/cards"):  # cards are kept per dossier code (see `national`)
        requests.delete(f"{sandbox}{hook}", timeout=5)
    yield live_server
    app.extensions["motcua_connectors"] = saved[0]
    app.config.clear()
    app.config.update(saved[1])
    requests.delete(f"{sandbox}/_payment/callback-faults", timeout=5)

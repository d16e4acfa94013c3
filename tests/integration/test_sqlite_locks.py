"""The per-dossier lock on SQLite (embedded mode): `flask portal resend` sends from its own process while the web
process's job thread may send the same dossier, so the lock must hold across threads and processes there too."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, make_app, prepare_database, user
from tests.hang import hang_guard
from tests.samples import PDF_BYTES, start_data, with_stored_uploads


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("sqlite")
    app = make_app(f"sqlite:///{tmp / 'motcua.db'}", tmp)
    prepare_database(app)
    return app


def test_two_threads_never_hold_one_dossiers_lock_together(sqlite_app):
    from app.dossiers.locks import exclusive

    inside, release = threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def first() -> None:
        with sqlite_app.app_context(), exclusive("portal", 7) as mine:
            seen["first"] = mine
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=first)
    thread.start()
    assert inside.wait(10)
    with sqlite_app.app_context():
        with exclusive("portal", 7) as mine:
            seen["second"] = mine
        with exclusive("portal", 8) as other_dossier, exclusive("service_call", 7) as other_kind:
            seen["others"] = other_dossier and other_kind
    release.set()
    thread.join(10)
    assert seen == {"first": True, "second": False, "others": True}
    with sqlite_app.app_context(), exclusive("portal", 7) as mine:
        assert mine  # released with the first


def test_another_process_holding_the_lock_is_seen(sqlite_app):
    from app.dossiers.locks import exclusive

    database, tmp = sqlite_app.config["SQLALCHEMY_DATABASE_URI"], str(Path(sqlite_app.config["UPLOAD_DIR"]).parent)
    holder = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from tests.conftest import make_app
        from pathlib import Path
        from app.dossiers.locks import exclusive
        app = make_app({database!r}, Path({tmp!r}))
        with app.app_context(), exclusive("portal", 7) as mine:
            print("held" if mine else "refused", flush=True)
            sys.stdin.readline()
    """)
    process = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, cwd=ROOT)
    try:
        with hang_guard(60, "the holding process never said it held the lock"):
            assert process.stdout is not None and process.stdout.readline().strip() == "held"
        with sqlite_app.app_context(), exclusive("portal", 7) as mine:
            assert mine is False
    finally:
        assert process.stdin is not None
        process.stdin.write("\n")
        process.stdin.close()
        process.wait(30)
    with sqlite_app.app_context(), exclusive("portal", 7) as mine:
        assert mine is True


class SlowPortal:
    """A portal connector that takes its time and remembers what it got."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.guard = threading.Lock()

    def ids(self) -> list[str]:
        return ["portal.push_dossier", "portal.push_step"]

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        time.sleep(0.2)
        what = params["payload"]["phien_ban"] if operation == "portal.push_dossier" else params["buoc"]["ma_buoc"]
        with self.guard:
            self.sent.append((operation, what))
        return {}


def test_a_resend_racing_the_job_thread_sends_each_update_once(sqlite_app, monkeypatch):
    """Two threads send the same dossier's outbox at once (the job thread and an inline resend)."""
    from app.dossiers import services
    from app.extensions import db
    from app.jobs.portal import sync_dossier

    portal = SlowPortal()
    monkeypatch.setitem(sqlite_app.extensions, "motcua_connectors", portal)
    with sqlite_app.app_context():
        citizen = user("congdan")
        dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), citizen),
                                          applicant=citizen)
        db.session.commit()
        dossier_id = dossier.id
        db.session.remove()
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def send() -> None:
        with sqlite_app.app_context():
            start.wait()
            outcomes.append(sync_dossier(dossier_id))
            db.session.remove()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(o.split(":")[0] for o in outcomes) == ["busy", "sent"], outcomes
    assert portal.sent and len(portal.sent) == len(set(portal.sent)), portal.sent


def test_idempotency_keys_on_sqlite(sqlite_app):
    """Embedded mode has no advisory locks: a key whose first request is running in this process is in flight."""
    from app.accounts import issue_token
    from app.extensions import db
    from app.web.api import idempotency

    with sqlite_app.app_context():
        officer = user("tiepnhan")
        headers = {"Authorization": f"Bearer {issue_token(officer, 1)}"}
        officer_id = officer.id
        db.session.commit()
    client = sqlite_app.test_client()
    key = '"sqlite-key-1"'
    with sqlite_app.app_context():
        first = client.post("/api/v1/attachments", headers={**headers, "Idempotency-Key": key},
                            content_type="multipart/form-data", data={"file": (io.BytesIO(PDF_BYTES), "a.pdf")})
        again = client.post("/api/v1/attachments", headers={**headers, "Idempotency-Key": key},
                            content_type="multipart/form-data", data={"file": (io.BytesIO(PDF_BYTES), "a.pdf")})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_data() == first.get_data()
    idempotency._in_flight.add((officer_id, "sqlite-key-2"))  # its first request is running in another thread
    try:
        busy = client.post("/api/v1/tasks/1/claim", headers={**headers, "Idempotency-Key": '"sqlite-key-2"'})
    finally:
        idempotency._in_flight.discard((officer_id, "sqlite-key-2"))
    assert busy.status_code == 409 and busy.get_json()["error"]["code"] == "idempotency_key_in_flight"
    assert idempotency._in_flight == set()

"""Uploaded files follow the transaction of their row: a request rolled back leaves no file behind, a committed one
always has its file, even when the process dies between the commit and the move into place."""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import uuid
from pathlib import Path

from sqlalchemy import select

from app.dossiers import attachments
from app.dossiers.attachments import blob_path, store_upload
from app.extensions import db
from app.models import Attachment
from tests.conftest import login, user
from tests.samples import PDF_BYTES


def unique_pdf() -> bytes:
    return PDF_BYTES + f"\n% {uuid.uuid4()}\n".encode()


def staged_files(app) -> list[Path]:
    staging = Path(app.config["UPLOAD_DIR"]) / attachments.STAGING
    return sorted(staging.glob("*.part")) if staging.is_dir() else []


def upload(client, headers, blob):
    return client.post("/api/v1/attachments", headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(blob), "giay.pdf")})


def test_a_rolled_back_upload_leaves_no_file(app, db_session):
    blob = unique_pdf()
    digest = hashlib.sha256(blob).hexdigest()
    store_upload(blob, "giay.pdf", "application/pdf", "", user("congdan"))
    assert staged_files(app)  # written (and fsync'd) before the commit, under a name of its own
    db_session.rollback()
    assert not blob_path(digest).exists()
    assert [p for p in staged_files(app) if p.name.startswith(digest)] == []


def test_a_request_that_fails_after_storing_leaves_no_file(app, client, token, monkeypatch):
    """The view stored the file, then failed before its commit (here: building the answer)."""
    blob = unique_pdf()

    def broken(attachment):
        raise RuntimeError("the answer could not be built")

    monkeypatch.setattr("app.web.api.reference", broken)
    response = upload(client, token("congdan"), blob)
    assert response.status_code == 500
    digest = hashlib.sha256(blob).hexdigest()
    assert not blob_path(digest).exists()
    assert [p for p in staged_files(app) if p.name.startswith(digest)] == []
    assert db.session.scalar(select(Attachment).where(Attachment.sha256 == digest)) is None


def test_a_committed_upload_has_its_file_in_place(app, client, token):
    blob = unique_pdf()
    response = upload(client, token("congdan"), blob)
    assert response.status_code == 201
    digest = response.get_json()["sha256"]
    assert blob_path(digest).read_bytes() == blob
    assert [p for p in staged_files(app) if p.name.startswith(digest)] == []
    # The same content again, rolled back: the committed blob stays.
    store_upload(blob, "lai.pdf", "application/pdf", "", user("congdan"))
    db.session.rollback()
    assert blob_path(digest).read_bytes() == blob


def test_a_commit_whose_move_never_happened_still_serves_its_file(app, client, token, monkeypatch):
    """The move after the commit failed (or the process died before it): the staged copy is found when read."""
    blob = unique_pdf()

    def gone(src, dst):
        raise OSError("the disk went away")

    real = os.replace
    monkeypatch.setattr(os, "replace", gone)
    response = upload(client, token("congdan"), blob)
    monkeypatch.setattr(os, "replace", real)
    assert response.status_code == 201
    digest = response.get_json()["sha256"]
    assert not blob_path(digest).exists()
    login(client, "congdan")
    served = client.get(f"/tep/{response.get_json()['reference'].split('/')[0]}")
    assert served.status_code == 200 and served.data == blob
    assert blob_path(digest).read_bytes() == blob


def test_settling_moves_committed_blobs_and_deletes_the_others(app, db_session):
    committed, abandoned = unique_pdf(), unique_pdf()
    row = store_upload(committed, "a.pdf", "application/pdf", "", user("congdan"))
    info = list(db_session.info.get("motcua_staged_files", []))
    db_session.info.pop("motcua_staged_files", None)  # as if the process died right after the commit
    db_session.commit()
    assert not blob_path(row.sha256).exists()
    staging = Path(app.config["UPLOAD_DIR"]) / attachments.STAGING
    orphan = staging / f"{hashlib.sha256(abandoned).hexdigest()}.0123456789abcdef.part"
    orphan.write_bytes(abandoned)  # a transaction killed before its commit: no row names it
    old = 2 * 3600
    for path in [orphan, *(staged for staged, _ in info)]:
        stat = path.stat()
        os.utime(path, (stat.st_atime - old, stat.st_mtime - old))
    result = app.test_cli_runner().invoke(args=["uploads", "settle", "--hours", "1"])
    assert result.exit_code == 0, result.output
    assert blob_path(row.sha256).read_bytes() == committed
    assert not orphan.exists()


def test_the_same_file_uploaded_by_two_requests_at_once_is_stored_for_both(live_server, live_token):
    """Two uploads of identical bytes at the same moment (a double click, a retry): each gets its attachment,
    and the one blob is in place. Both once wrote the same temporary name, and one of them answered 500."""
    import threading

    import requests

    headers = live_token("congdan")
    blob = PDF_BYTES + b"%" + secrets.token_hex(16).encode()  # a blob no earlier test stored
    start = threading.Barrier(4)
    answers: list[int] = []

    def upload() -> None:
        start.wait()
        answers.append(requests.post(f"{live_server.url}/api/v1/attachments", headers=headers, timeout=20,
                                     files={"file": ("gcs.pdf", blob, "application/pdf")}).status_code)

    threads = [threading.Thread(target=upload) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [201] * 4
    digest = hashlib.sha256(blob).hexdigest()
    root = Path(live_server.app.config["UPLOAD_DIR"])
    assert (root / digest[:2] / digest).read_bytes() == blob
    assert not list((root / ".staging").glob(f"{digest}.*"))  # every staged copy moved or gone

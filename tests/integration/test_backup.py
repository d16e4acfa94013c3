"""Backups: scripts/backup.sh and scripts/restore.sh, run for real on PostgreSQL (pg_dump, custom format) and on
SQLite (the online backup API). Dossiers with uploads are backed up, restored onto a copy (a new database and a new
files directory), and the copy holds the same dossiers, workflow documents and files, and carries on."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask, current_app
from sqlalchemy import select

from app.dossiers import services
from app.extensions import db
from app.models import Attachment, Dossier, HumanTask, WorkflowInstance
from tests.conftest import PG_ADMIN_URL, _create_database, _drop_database, make_app, prepare_database, user
from tests.samples import PDF_BYTES, start_data, task_data, with_stored_uploads

ROOT = Path(__file__).resolve().parents[2]
KHAI_SINH = "1.001193"


def run_script(name: str, *args: str, database_url: str, upload_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "UPLOAD_DIR": str(upload_dir)}
    return subprocess.run([str(ROOT / "scripts" / name), *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def open_task(dossier_id: int) -> HumanTask | None:
    return db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier_id,
                                                     HumanTask.state.in_(("ready", "claimed"))))


def complete_next(dossier_id: int, officer: str) -> None:
    task = open_task(dossier_id)
    assert task is not None
    task_id, form = task.id, task.form
    services.claim_task(task_id, user(officer))
    db.session.commit()
    services.complete_task(task_id, user(officer), task_data("khai-sinh", form))
    db.session.commit()


def make_dossiers() -> dict[str, Any]:
    """Three khai sinh dossiers with their birth certificates; one received and examined, one received."""
    applicant = user("congdan")
    codes = []
    for _ in range(3):
        data = with_stored_uploads(start_data("khai-sinh"), applicant)
        codes.append(services.submit_dossier(KHAI_SINH, data, applicant=applicant).code)
        db.session.commit()
    ids = {c: db.session.scalar(select(Dossier.id).where(Dossier.code == c)) for c in codes}
    complete_next(ids[codes[0]], "tiepnhan")
    complete_next(ids[codes[0]], "hotich")
    complete_next(ids[codes[1]], "tiepnhan")
    return snapshot()


def snapshot() -> dict[str, Any]:
    """What must come back: each dossier's status and data, its workflow document and version, its open task, and
    every attachment with its bytes."""
    out: dict[str, Any] = {}
    for d in db.session.scalars(select(Dossier).order_by(Dossier.code)):
        wf = db.session.scalar(select(WorkflowInstance).where(WorkflowInstance.dossier_id == d.id))
        task = open_task(d.id)
        files = {}
        for att in db.session.scalars(select(Attachment).where(Attachment.dossier_id == d.id)):
            path = Path(current_app.config["UPLOAD_DIR"]) / att.sha256[:2] / att.sha256
            files[att.token] = (att.filename, att.sha256, path.read_bytes())
        out[d.code] = {"status": d.status, "form_data": d.form_data, "document": wf.document, "version": wf.version,
                       "task": (task.spec_name, task.role) if task else None, "files": files}
    return out


@pytest.fixture()
def pg_source(tmp_path: Path) -> Iterator[tuple[Flask, str]]:
    url = _create_database("motcua_backup")
    app = make_app(url, tmp_path / "source")
    prepare_database(app)
    yield app, url
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    _drop_database(url)


@pytest.fixture()
def pg_target() -> Iterator[str]:
    url = _create_database("motcua_restored")  # a new, empty database: what restore.sh asks for
    yield url
    _drop_database(url)


def test_postgresql_backup_restores_onto_a_copy_that_carries_on(pg_source: Any, pg_target: str,
                                                                 tmp_path: Path) -> None:
    app, url = pg_source
    with app.app_context():
        before = make_dossiers()
        db.session.remove()
    assert sum(len(d["files"]) for d in before.values()) == 3

    made = run_script("backup.sh", str(tmp_path / "backups"), database_url=url,
                      upload_dir=tmp_path / "source" / "uploads")
    assert made.returncode == 0, made.stderr
    backup = Path(made.stdout.strip().splitlines()[-1])
    assert sorted(p.name for p in backup.iterdir()) == ["MANIFEST", "SHA256SUMS", "database.dump", "uploads.tar.gz"]
    assert "kind=postgresql" in (backup / "MANIFEST").read_text()
    assert (backup / "database.dump").read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format

    restored_dir = tmp_path / "restored"
    done = run_script("restore.sh", str(backup), database_url=pg_target, upload_dir=restored_dir / "uploads")
    assert done.returncode == 0, done.stderr
    distinct = {sha for d in before.values() for _, sha, _ in d["files"].values()}  # stored once by content
    assert f"{len(distinct)} tệp được kiểm tra" in done.stdout

    copy = make_app(pg_target, restored_dir)
    with copy.app_context():
        assert snapshot() == before
        # The restored copy carries on: the examined dossier is signed, the received one examined.
        first, second, third = sorted(before)
        ids = {c: db.session.scalar(select(Dossier.id).where(Dossier.code == c)) for c in before}
        complete_next(ids[first], "chutich")
        complete_next(ids[second], "hotich")
        complete_next(ids[third], "tiepnhan")
        assert open_task(ids[first]).role == "tra_ket_qua"
        complete_next(ids[first], "traketqua")
        assert db.session.get(Dossier, ids[first]).status == 10
        # New uploads land in the restored files directory and new dossiers get the next code.
        data = with_stored_uploads(start_data("khai-sinh"), user("congdan"))
        new = services.submit_dossier(KHAI_SINH, data, applicant=user("congdan"))
        db.session.commit()
        assert new.code not in before and new.code.rsplit("-", 1)[1] == "0004"
        db.session.remove()
        db.engine.dispose()


def test_restore_refuses_a_database_in_use_and_a_damaged_backup(pg_source: Any, tmp_path: Path) -> None:
    app, url = pg_source
    made = run_script("backup.sh", str(tmp_path / "b"), database_url=url, upload_dir=tmp_path / "source" / "uploads")
    assert made.returncode == 0, made.stderr
    backup = Path(made.stdout.strip().splitlines()[-1])
    # Never over a database that has tables (here: the source itself).
    refused = run_script("restore.sh", str(backup), database_url=url, upload_dir=tmp_path / "elsewhere")
    assert refused.returncode == 2 and "đã có" in refused.stderr
    # Nor from a backup whose contents changed after it was made.
    with (backup / "uploads.tar.gz").open("ab") as damaged:
        damaged.write(b"x")
    name = f"motcua_restored_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    target = url.rsplit("/", 1)[0] + "/" + name
    try:
        broken = run_script("restore.sh", str(backup), database_url=target, upload_dir=tmp_path / "new")
        assert broken.returncode == 2 and "SHA-256" in broken.stderr
        assert not (tmp_path / "new").exists()
    finally:
        _drop_database(target)


def test_sqlite_backup_while_the_platform_holds_it_open(tmp_path: Path) -> None:
    source_url = f"sqlite:///{tmp_path / 'motcua.db'}"
    app = make_app(source_url, tmp_path / "source")
    prepare_database(app)
    with app.app_context():
        before = make_dossiers()
        db.session.connection()  # the platform holds the database open while it is backed up
        made = run_script("backup.sh", str(tmp_path / "backups"), database_url=source_url,
                          upload_dir=tmp_path / "source" / "uploads")
        db.session.remove()
        db.engine.dispose()
    assert made.returncode == 0, made.stderr
    backup = Path(made.stdout.strip().splitlines()[-1])
    assert (backup / "database.sqlite3").exists() and "kind=sqlite" in (backup / "MANIFEST").read_text()

    target_url = f"sqlite:///{tmp_path / 'restored' / 'motcua.db'}"
    done = run_script("restore.sh", str(backup), database_url=target_url, upload_dir=tmp_path / "restored" / "uploads")
    assert done.returncode == 0, done.stderr
    again = run_script("restore.sh", str(backup), database_url=target_url, upload_dir=tmp_path / "other")
    assert again.returncode == 2  # the file exists now: never overwritten

    copy = make_app(target_url, tmp_path / "restored")
    with copy.app_context():
        assert snapshot() == before
        first = sorted(before)[0]
        complete_next(db.session.scalar(select(Dossier.id).where(Dossier.code == first)), "chutich")
        assert db.session.scalar(select(Dossier.status).where(Dossier.code == first)) == 9
        db.session.remove()
        db.engine.dispose()


def test_restore_finds_a_file_missing_from_the_archive(pg_source: Any, pg_target: str, tmp_path: Path) -> None:
    """A file the database refers to but the archive lacks (a files directory backed up from elsewhere, or lost) is
    reported, never silently accepted."""
    app, url = pg_source
    with app.app_context():
        applicant = user("congdan")
        data = with_stored_uploads(start_data("khai-sinh"), applicant)
        services.submit_dossier(KHAI_SINH, data, applicant=applicant)
        db.session.commit()
        [att] = db.session.scalars(select(Attachment)).all()
        stored = tmp_path / "source" / "uploads" / att.sha256[:2] / att.sha256
        assert stored.read_bytes() == PDF_BYTES
        stored.unlink()
        db.session.remove()
    made = run_script("backup.sh", str(tmp_path / "b"), database_url=url, upload_dir=tmp_path / "source" / "uploads")
    assert made.returncode == 0, made.stderr
    backup = Path(made.stdout.strip().splitlines()[-1])
    done = run_script("restore.sh", str(backup), database_url=pg_target, upload_dir=tmp_path / "r" / "uploads")
    assert done.returncode == 2 and "1 tệp" in done.stderr and att.sha256 in done.stderr

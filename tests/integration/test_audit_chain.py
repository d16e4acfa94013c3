"""The security audit log proves itself: rows chained by hash per agency, `flask audit verify` names the first row
that does not hold (changed, deleted, swapped), and concurrent writers keep one unbroken chain."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.exc import DBAPIError

from app import audit
from app.extensions import db
from app.models import Agency, AuditChain, AuditLog
from tests.conftest import user


def _write(n: int, agency: Any, who: str = "hotich") -> list[AuditLog]:
    actor = user(who)
    for i in range(n):
        audit.record(audit.VIEW, actor=actor, agency=agency, object_kind="dossier", object_ref=f"X-{i}",
                     reason=f"lần {i}", subject="001090000001", detail={"i": i})
    db.session.commit()  # written as the transaction commits (the test's savepoint)
    return list(db.session.scalars(select(AuditLog).where(AuditLog.chain == agency.code).order_by(AuditLog.seq)))


def _tamper(sql: str, params: dict[str, Any] | None = None) -> None:
    """Change the log as someone with the table owner's rights could: past the append-only trigger (disabled in
    the test's transaction only)."""
    db.session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
    db.session.execute(text(sql), params or {})
    db.session.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))


def _verify(app: Any, code: str) -> Any:
    return app.test_cli_runner().invoke(args=["audit", "verify", "--agency", code])


@pytest.fixture()
def agency(db_session: Any) -> Agency:
    return user("hotich").agency


def test_events_chain_and_verify(app, db_session, agency):
    before = db.session.scalar(select(AuditChain.seq).where(AuditChain.chain == agency.code)) or 0
    rows = _write(5, agency)[-5:]
    assert [r.seq for r in rows] == list(range(before + 1, before + 6))
    for prev, row in zip(rows, rows[1:], strict=False):
        assert row.prev_hash == prev.hash
        assert row.hash == audit.row_hash({n: getattr(row, n) for n in audit.HASHED}, row.prev_hash)
    head = db.session.get(AuditChain, agency.code)
    assert (head.seq, head.hash) == (rows[-1].seq, rows[-1].hash)
    assert rows[0].actor_name == user("hotich").full_name and rows[0].actor_agency == agency.name
    assert "ho_tich" in rows[0].actor_role or rows[0].actor_role  # the roles as they were
    result = _verify(app, agency.code)
    assert result.exit_code == 0, result.output
    assert f"{agency.code}: OK" in result.output and rows[-1].hash in result.output


def test_platform_chain_for_actions_without_agency(app, db_session):
    citizen = user("congdan")
    audit.record(audit.LOGIN, actor=citizen)
    db.session.commit()
    row = db.session.scalars(select(AuditLog).order_by(AuditLog.id.desc())).first()
    assert row.chain == "platform" and row.actor_id == citizen.id
    assert _verify(app, "platform").exit_code == 0


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET reason = 'khác' WHERE id = :id",
                                       "DELETE FROM audit_log WHERE id = :id"])
def test_the_database_refuses_to_change_or_delete_a_row(app, db_session, agency, statement):
    row = _write(1, agency)[-1]
    with pytest.raises(DBAPIError, match="append-only"), db.session.begin_nested():
        db.session.execute(text(statement), {"id": row.id})
    assert _verify(app, agency.code).exit_code == 0


def test_changed_field_breaks_at_that_row(app, db_session, agency):
    rows = _write(4, agency)
    target = rows[-3]
    _tamper("UPDATE audit_log SET actor_name = 'Người Khác' WHERE id = :id", {"id": target.id})
    result = _verify(app, agency.code)
    assert result.exit_code == 1
    assert f"id={target.id} (số thứ tự {target.seq}): changed" in result.output


def test_deleted_row_breaks_at_the_next_one(app, db_session, agency):
    rows = _write(4, agency)
    gone, after = rows[-3], rows[-2]
    _tamper("DELETE FROM audit_log WHERE id = :id", {"id": gone.id})
    result = _verify(app, agency.code)
    assert result.exit_code == 1
    assert f"id={after.id} (số thứ tự {after.seq}): gap" in result.output


def test_deleted_and_renumbered_row_breaks_on_the_previous_hash(app, db_session, agency):
    """Whoever closes the gap by renumbering the rows after it is caught by the next row's previous hash."""
    rows = _write(4, agency)
    gone, after = rows[-3], rows[-2]
    _tamper("DELETE FROM audit_log WHERE id = :id", {"id": gone.id})
    for r in rows[-2:]:
        _tamper("UPDATE audit_log SET seq = seq - 1 WHERE id = :id", {"id": r.id})
    result = _verify(app, agency.code)
    assert result.exit_code == 1
    assert f"id={after.id} (số thứ tự {after.seq - 1}): link" in result.output


def test_deleted_last_row_shows_at_the_head(app, db_session, agency):
    rows = _write(3, agency)
    _tamper("DELETE FROM audit_log WHERE id = :id", {"id": rows[-1].id})
    result = _verify(app, agency.code)
    assert result.exit_code == 1 and "đầu chuỗi: head" in result.output


def test_a_row_added_behind_the_heads_back_is_found(app, db_session, agency):
    rows = _write(2, agency)
    last = rows[-1]
    db.session.execute(text(
        "INSERT INTO audit_log (chain, seq, at, actor_name, actor_agency, actor_role, ip, action, object_kind, "
        "object_ref, reason, prev_hash, hash) SELECT chain, seq + 1, at, actor_name, actor_agency, actor_role, ip, "
        "action, object_kind, object_ref, reason, hash, hash FROM audit_log WHERE id = :id"), {"id": last.id})
    result = _verify(app, agency.code)
    assert result.exit_code == 1 and "đầu chuỗi: head" in result.output and "beyond" in result.output


def test_swapped_rows_break_at_the_first(app, db_session, agency):
    rows = _write(4, agency)
    a, b = rows[-3], rows[-2]
    # Swap their places in the chain (sequence numbers), through a free number as the unique index wants.
    _tamper("UPDATE audit_log SET seq = -1 WHERE id = :id", {"id": a.id})
    _tamper("UPDATE audit_log SET seq = :s WHERE id = :id", {"s": a.seq, "id": b.id})
    _tamper("UPDATE audit_log SET seq = :s WHERE id = :id", {"s": b.seq, "id": a.id})
    result = _verify(app, agency.code)
    assert result.exit_code == 1
    assert f"id={b.id} (số thứ tự {a.seq}):" in result.output


def test_swapped_contents_break_at_the_first(app, db_session, agency):
    """Two rows' contents exchanged whole (hashes and links included) keep their places but not their order."""
    rows = _write(4, agency)
    a, b = rows[-3], rows[-2]
    _tamper("UPDATE audit_log SET id = -1 WHERE id = :id", {"id": a.id})
    _tamper("UPDATE audit_log SET id = :new WHERE id = :id", {"new": a.id, "id": b.id})
    _tamper("UPDATE audit_log SET id = :new WHERE id = -1", {"new": b.id})
    result = _verify(app, agency.code)
    assert result.exit_code == 1
    assert f"id={a.id} (số thứ tự {b.seq}): reordered" in result.output


def test_events_of_a_rolled_back_transaction_are_not_written(app, db_session, agency):
    before = db.session.scalar(select(AuditChain.seq).where(AuditChain.chain == agency.code)) or 0
    audit.record(audit.VIEW, actor=user("hotich"), object_kind="dossier", object_ref="rolled-back")
    db.session.rollback()
    _write(1, agency)
    assert db.session.scalar(select(AuditChain.seq).where(AuditChain.chain == agency.code)) == before + 1
    assert db.session.scalar(select(AuditLog.id).where(AuditLog.object_ref == "rolled-back")) is None


def test_one_transaction_many_events_one_chain_order(app, db_session, agency):
    """Events of one transaction keep the order they were recorded in, across chains."""
    officer, citizen = user("hotich"), user("congdan")
    for i in range(3):
        audit.record(audit.VIEW, actor=officer, object_kind="dossier", object_ref=f"many-{i}")
        audit.record(audit.LOGIN, actor=citizen, object_ref=f"many-{i}")
    db.session.commit()
    mine = db.session.scalars(select(AuditLog).where(AuditLog.chain == agency.code,
                                                     AuditLog.object_ref.like("many-%")).order_by(AuditLog.seq))
    assert [r.object_ref for r in mine] == ["many-0", "many-1", "many-2"]
    assert audit.verify_chain(agency.code).ok and audit.verify_chain("platform").ok


def test_verify_every_chain(app, db_session, agency):
    _write(2, agency)
    audit.record(audit.LOGIN, actor=user("congdan"))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert f"{agency.code}: OK" in result.output and "platform: OK" in result.output


def test_concurrent_writers_keep_one_chain(app):
    """Two threads, each with its own session and transaction, write into one agency's chain at once."""
    chain_agency = Agency(code="TEST.AUDIT.CONCURRENT", name="Cơ quan thử ghi đồng thời")
    per_thread, start = 60, threading.Barrier(2)
    failures: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            with app.app_context():
                start.wait()
                for i in range(per_thread):
                    audit.record(audit.VIEW, agency=chain_agency, object_kind="test", object_ref=f"{k}-{i}")
                    if i % 3 == 2:
                        audit.record(audit.VIEW, agency=chain_agency, object_kind="test", object_ref=f"{k}-{i}b")
                    db.session.commit()
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures, failures
        with app.app_context():
            report = audit.verify_chain(chain_agency.code)
            assert report.ok, report
            assert report.rows == 2 * (per_thread + per_thread // 3)
            objects = db.session.scalars(select(AuditLog.object_ref).where(AuditLog.chain == chain_agency.code))
            assert len(set(objects)) == report.rows
            db.session.remove()
    finally:
        with app.app_context():
            db.session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
            db.session.execute(delete(AuditLog).where(AuditLog.chain == chain_agency.code))
            db.session.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
            db.session.execute(delete(AuditChain).where(AuditChain.chain == chain_agency.code))
            db.session.commit()
            db.session.remove()


def test_embedded_sqlite_chain_verifies_and_catches_a_change(sqlite_app):
    """The embedded mode (SQLite file): the same chain, the same verdicts."""
    officer = user("hotich")
    for i in range(3):
        audit.record(audit.VIEW, actor=officer, object_kind="dossier", object_ref=f"S-{i}")
        db.session.commit()
    assert _verify(sqlite_app, officer.agency.code).exit_code == 0
    row = db.session.scalars(select(AuditLog).where(AuditLog.object_ref == "S-1")).one()
    db.session.execute(text("DROP TRIGGER audit_log_no_update"))  # as the file's owner could
    db.session.execute(text("UPDATE audit_log SET reason = 'khác' WHERE id = :id"), {"id": row.id})
    db.session.commit()
    result = _verify(sqlite_app, officer.agency.code)
    assert result.exit_code == 1 and f"id={row.id} (số thứ tự {row.seq}): changed" in result.output

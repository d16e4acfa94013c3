"""The dossier core's structure holds: what happens is published as events and reaches the hooks
app.subscriptions connected for the app (and only those); no use case commits — the caller does;
payment.collect is declared once and bound to the one connector registry by the registration."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, select

from app import subscriptions
from app.dossiers import events, payments, service_calls, services
from app.dossiers.progress import set_status
from app.extensions import db
from app.models import Dossier, HumanTask, Payment, PortalOutbox, Refund
from connectors import build_registry, operation_catalog
from connectors.registry import PLATFORM_OPERATIONS
from tests.conftest import user
from tests.integration.test_payments import on_platform, run_jobs, submit_online
from tests.samples import start_data, task_data, with_stored_uploads

ROOT = Path(__file__).resolve().parents[2]
OFFICERS = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich", "tra_ket_qua": "traketqua"}


@contextmanager
def no_commit() -> Iterator[None]:
    """Fail if anything commits the session while the block runs (any path: Session.commit fires this)."""

    def refuse(session: object) -> None:
        raise AssertionError("a use case committed the caller's transaction")

    session = db.session()
    event.listen(session, "before_commit", refuse)
    try:
        yield
    finally:
        event.remove(session, "before_commit", refuse)


def outbox(dossier: Dossier) -> list[PortalOutbox]:
    return list(db.session.scalars(select(PortalOutbox).where(PortalOutbox.dossier_id == dossier.id)
                                   .order_by(PortalOutbox.id)))


def refunds(payment: Payment) -> list[Refund]:
    return list(db.session.scalars(select(Refund).where(Refund.payment_id == payment.id)))


# ---------------------------------------------------------------- events and their hooks


def test_a_status_change_is_published_with_what_changed(app, db_session):
    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), user("congdan")),
                                      applicant=user("congdan"))
    heard: list[tuple[int, int, str]] = []

    def listen(sender, *, dossier, old, new, actor, event):
        heard.append((old, new, event.action))

    with events.status_changed.connected_to(listen, sender=app):
        set_status(dossier, 2, user("tiepnhan"))
    assert heard == [(1, 2, "status")]


def test_the_registered_hooks_and_only_they_write_the_portal_snapshot_and_ask_for_the_refund(
        app, client, db_session, jobs, national, sandbox):
    dossier = submit_online(db_session, jobs)
    [payment] = payments.payments_of(dossier)
    client.get(on_platform(sandbox, payment))  # paid
    run_jobs(jobs)
    db.session.refresh(dossier)
    before = len(outbox(dossier))
    assert before > 0 and refunds(payment) == []

    subscriptions.unregister(app)
    try:
        set_status(dossier, 3, user("tiepnhan"))  # not received: with the hooks, the fee goes back
        db_session.flush()
        assert len(outbox(dossier)) == before and refunds(payment) == []  # nobody listened
    finally:
        db_session.rollback()
        subscriptions.register(app)
    db.session.refresh(dossier)
    set_status(dossier, 3, user("tiepnhan"))
    db_session.commit()
    assert len(outbox(dossier)) == before + 1 and outbox(dossier)[-1].payload["trang_thai"] == 3
    assert [r.request_key for r in refunds(payment)] == [f"HT-{payment.transaction_id}-tu-choi"]
    assert "app.jobs.payments.refund_job" in [j.func for j in jobs.jobs]


def test_hooks_are_connected_for_one_app_and_once(app):
    receivers = app.extensions["motcua_hooks"]
    assert set(receivers) == set(events.ALL) == set(subscriptions.HOOKS)
    subscriptions.register(app)  # a second call changes nothing
    assert app.extensions["motcua_hooks"] is receivers
    for signal in events.ALL:
        assert list(signal.receivers_for(app)) == [receivers[signal]]


# ---------------------------------------------------------------- the caller commits


def test_submit_claim_and_complete_never_commit(app, db_session, jobs):
    with no_commit():
        dossier = services.submit_dossier("1.001193",
                                          with_stored_uploads(start_data("khai-sinh"), user("congdan")),
                                          applicant=user("congdan"))
    code = dossier.code
    assert jobs.jobs == []
    db_session.rollback()  # nothing of it was committed
    assert db.session.scalar(select(Dossier).where(Dossier.code == code)) is None

    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), user("congdan")),
                                      applicant=user("congdan"))
    db_session.commit()
    assert "app.jobs.tasks.notify_status_change" in [j.func for j in jobs.jobs]
    jobs.jobs.clear()
    task = db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id, HumanTask.state == "ready"))
    officer = user(OFFICERS[task.role])
    with no_commit():
        services.claim_task(task.id, officer)
        services.complete_task(task.id, officer, task_data("khai-sinh", task.form))
    assert jobs.jobs == []
    db_session.rollback()
    db.session.refresh(task)
    assert task.state == "ready"


def test_new_payment_and_settle_never_commit(app, client, db_session, jobs, national, sandbox):
    dossier = submit_online(db_session, jobs)
    [first] = payments.payments_of(dossier)
    first.state = "cancelled"  # the payer cancelled: the next click starts a new payment
    db_session.commit()
    with no_commit():
        payment = payments.new_payment(dossier, user("congdan"))
        assert payment.id != first.id and not payment.pay_url
        payments.open_for_payer(payment)
        assert payment.pay_url.startswith(sandbox)
    transaction = payment.transaction_id
    db_session.rollback()
    assert db.session.scalar(select(Payment).where(Payment.transaction_id == transaction)) is None

    payment = payments.new_payment(dossier, user("congdan"))
    db_session.commit()
    payments.open_for_payer(payment)
    db_session.commit()
    with no_commit():
        assert payments.settle(payment, True, payment.created_at, "ipn") == "applied"
    db_session.rollback()
    db.session.refresh(payment)
    assert payment.state == "pending"


def test_the_dossier_core_never_commits_and_imports_at_module_level_only():
    for path in sorted((ROOT / "app" / "dossiers").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        assert "session.commit" not in source, path.name
        tree = ast.parse(source)
        nested = [node.lineno for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
                  for node in ast.walk(fn) if isinstance(node, ast.Import | ast.ImportFrom)]
        assert nested == [], f"{path.name}: imports inside functions at lines {nested}"
        private = [f"{node.module}.{alias.name}" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                   and (node.module or "").startswith("app.") for alias in node.names
                   if alias.name.startswith("_")]
        assert private == [], f"{path.name} imports private names: {private}"


# ---------------------------------------------------------------- one registry of operations


def test_payment_collect_is_declared_once_and_bound_by_the_registration(app):
    registry = app.extensions["motcua_connectors"]
    operation = registry.get("payment.collect")
    declared = PLATFORM_OPERATIONS["payment.collect"]
    assert operation.platform and operation.func is payments.collect
    assert operation.params_schema is declared.params_schema is operation_catalog()["payment.collect"]
    assert not hasattr(service_calls, "PLATFORM_OPERATIONS")  # no second dictionary in the core
    # A registry learns it only explicitly: built alone it does not carry it out; taught, it does.
    bare = build_registry({})
    assert "payment.collect" not in bare.ids()
    assert subscriptions.add_platform_operations(bare).get("payment.collect").func is payments.collect
    assert "payments" not in (ROOT / "app" / "__init__.py").read_text(encoding="utf-8")

"""The national-portal outbox: every status change and step reaches the sandbox portal, in order, once, even
through outages, duplicated jobs, an "already exists" answer and a refused payload."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import select, update

from app.dossiers import portal_sync, services
from app.dossiers.clock import now_utc
from app.dossiers.locks import exclusive
from app.extensions import db
from app.jobs import portal as portal_jobs
from app.models import AuditEvent, Dossier, HumanTask, PortalOutbox
from connectors import build_registry
from connectors.base import CircuitBreaker
from tests.conftest import user
from tests.samples import start_data, task_data, with_stored_uploads

SYNC = "app.jobs.portal.sync_dossier"
OFFICERS = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich", "tra_ket_qua": "traketqua"}


@pytest.fixture()
def registry(app, monkeypatch, sandbox):
    """The app's connectors pointed at the sandbox portal: one try per job, short timeouts, no pauses."""
    for hook in ("_faults", "_log", "_portal"):
        requests.delete(f"{sandbox}/{hook}", timeout=5)
    built = build_registry({"PORTAL_URL": sandbox, "PORTAL_TOKEN": "sandbox-test-token",
                            "CONNECTOR_ATTEMPTS": 1, "CONNECTOR_TIMEOUT": 0.5})
    # Outages here outlast the breaker's threshold; an open breaker would only add 30 s pauses to the tests.
    built.connectors["portal"].client.breaker = CircuitBreaker(threshold=1000)
    monkeypatch.setitem(app.extensions, "motcua_connectors", built)
    monkeypatch.setitem(app.config, "SERVICE_CALL_DELAYS", "0,0")
    yield built
    requests.delete(f"{sandbox}/_faults", timeout=5)
    requests.delete(f"{sandbox}/_portal", timeout=5)


def portal(sandbox) -> dict[str, Any]:
    result: dict[str, Any] = requests.get(f"{sandbox}/_portal", timeout=5).json()
    return result


def received(sandbox, code=None) -> list[dict[str, Any]]:
    return [r for r in portal(sandbox)["received"] if code is None or r["ma_ho_so"] == code]


def outage(sandbox, count):
    requests.post(f"{sandbox}/_faults", json={"path_prefix": "/dvcqg", "mode": "error", "status": 503,
                                              "count": count}, timeout=5).raise_for_status()


def submit(db_session) -> Dossier:
    citizen = user("congdan")
    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), citizen),
                                      applicant=citizen)
    db_session.commit()
    return dossier


def next_task(dossier) -> HumanTask | None:
    return db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id,
                                                     HumanTask.state == "ready").order_by(HumanTask.id))


def advance(db_session, dossier) -> str | None:
    """The officer of the next ready task claims and completes it; its title (None when nothing is left)."""
    task = next_task(dossier)
    if task is None:
        return None
    officer = user(OFFICERS[task.role])
    services.claim_task(task.id, officer)
    services.complete_task(task.id, officer, task_data("khai-sinh", task.form))
    db_session.commit()
    return task.title


def run_once(jobs) -> list[str]:
    """One round: the portal jobs queued now (what they queue stays queued)."""
    jobs.jobs = [j for j in jobs.jobs if j.func == SYNC]
    return jobs.run_all()


def run_jobs(jobs, rounds=20) -> list[str]:
    """Run the queued portal jobs, and those they queue, until none are left (other jobs are dropped)."""
    outcomes: list[str] = []
    for _ in range(rounds):
        mine = [j for j in jobs.jobs if j.func == SYNC]
        if not mine:
            break
        jobs.jobs = mine
        outcomes += jobs.run_all()
    return outcomes


def rows(dossier) -> list[PortalOutbox]:
    return list(db.session.scalars(select(PortalOutbox).where(PortalOutbox.dossier_id == dossier.id)
                                   .order_by(PortalOutbox.id).execution_options(populate_existing=True)))


def dossier_versions(dossier) -> list[int]:
    return [r.payload["phien_ban"] for r in rows(dossier) if r.kind == "dossier"]


def step_ids(dossier) -> list[str]:
    return [r.payload["buoc"]["ma_buoc"] for r in rows(dossier) if r.kind == "step"]


def test_a_whole_lifecycle_reaches_the_portal_in_order(app, db_session, jobs, registry, sandbox):
    dossier = submit(db_session)
    [first] = rows(dossier)
    assert first.kind == "dossier" and first.sent_at is None and dossier.portal_version == 1
    payload = first.payload
    assert payload["ma_ho_so"] == dossier.code and payload["phien_ban"] == 1 and payload["trang_thai"] == 1
    assert (payload["ma_thu_tuc"], payload["ten_thu_tuc"], payload["linh_vuc"]) == (
        "1.001193", "Đăng ký khai sinh", "Hộ tịch")
    assert payload["kenh"] == 2 and payload["chu_ho_so"]["so_dinh_danh"] == "001090012345"
    assert payload["ngay_nop"].isdigit() and len(payload["ngay_nop"]) == 14 and payload["ngay_tra"] is None
    # What the dossier holds before reception: the e-form and the birth certificate; neither the ID document
    # only shown at the desk nor the authorization letter nobody gave.
    assert [c["ma"] for c in payload["thanh_phan"]] == ["TK", "GCS"]
    assert all(c["so_hoa"] is True for c in payload["thanh_phan"])
    assert payload["le_phi"] == [{"ten": "Phí cấp bản sao trích lục khai sinh", "so_tien": 16000}]  # 2 copies
    [job] = [j for j in jobs.jobs if j.func == SYNC]
    assert job.job_id == f"portal-{dossier.id}-{first.id}" and job.args == (dossier.id,) and not job.retry
    assert received(sandbox) == []  # nothing leaves before a job runs

    titles = []
    while (title := advance(db_session, dossier)) is not None:
        titles.append(title)
    assert titles == ["Tiếp nhận hồ sơ", "Thẩm định, ghi sổ hộ tịch", "Ký giấy khai sinh", "Trả kết quả"]
    db.session.refresh(dossier)
    assert dossier.status == 10

    outcomes = run_jobs(jobs)
    assert outcomes[0].startswith("sent:") and set(outcomes[1:]) == {"idle"}
    assert all(r.sent_at is not None for r in rows(dossier))
    versions = dossier_versions(dossier)
    assert versions == list(range(1, dossier.portal_version + 1)) and len(versions) >= 3
    record = portal(sandbox)["dossiers"][dossier.code]
    assert record["versions"] == versions and record["out_of_order"] == []
    assert record["applied_version"] == versions[-1]
    current = record["current"]
    assert current["trang_thai"] == 10 and current["ngay_tra"] and current["ngay_ket_thuc"]
    assert current["ngay_tiep_nhan"] and current["ngay_hen_tra"]
    assert [c["ma"] for c in current["thanh_phan"]] == ["TK", "GCS", "GTTT"]  # as marked received at reception
    assert [s["noi_dung"] for s in record["steps"]] == titles
    assert [s["ma_buoc"] for s in record["steps"]] == step_ids(dossier)
    assert [s["can_bo"] for s in record["steps"]] == [user(OFFICERS[r]).full_name for r in
                                                      ("tiep_nhan", "chuyen_vien", "lanh_dao_ky", "tra_ket_qua")]
    # The wire order is the outbox order (an update is a create answered "already exists", then the update).
    sent_order = [r["phien_ban"] or r["ma_buoc"] for r in received(sandbox, dossier.code) if r["error_code"] == "0"]
    assert sent_order == [r.payload.get("phien_ban") or r.payload["buoc"]["ma_buoc"] for r in rows(dossier)]
    assert portal_sync.pending_summary()["unsent"] == 0


def test_b_portal_down_for_a_while_then_back_loses_nothing(app, db_session, jobs, registry, sandbox):
    outage(sandbox, 100)
    dossier = submit(db_session)
    advance(db_session, dossier)  # reception: a step and status changes while the portal is down
    assert len(rows(dossier)) >= 3
    outcomes = run_once(jobs)
    assert outcomes and set(outcomes) == {"retry"}
    assert received(sandbox) == []  # nothing got through
    head, *rest = rows(dossier)
    assert head.sent_at is None and head.attempts == len(outcomes) and head.last_error
    assert head.next_attempt_at is not None
    # Later rows were never tried before the first: the order holds through the outage.
    assert all(r.sent_at is None and r.attempts == 0 and r.next_attempt_at is None for r in rest)
    summary = portal_sync.pending_summary()
    assert summary["unsent"] == len(rows(dossier)) and summary["dossiers"] == 1 and summary["retrying"] == 1
    assert summary["oldest"] == head.created_at and summary["refused"] == 0

    # More happens while the portal is still down; the retries keep failing and keep the order.
    advance(db_session, dossier)
    assert set(run_once(jobs)) == {"retry"}
    assert all(r.sent_at is None for r in rows(dossier)) and received(sandbox) == []
    # Then the queued jobs are lost (a worker restart) just as the portal comes back.
    jobs.jobs.clear()
    requests.delete(f"{sandbox}/_faults", timeout=5)

    assert portal_sync.resend() == [dossier.id]
    db_session.commit()
    assert run_jobs(jobs)[0].startswith("sent:")
    assert all(r.sent_at is not None for r in rows(dossier))
    versions = dossier_versions(dossier)
    record = portal(sandbox)["dossiers"][dossier.code]
    assert record["versions"] == versions == list(range(1, len(versions) + 1))
    assert record["out_of_order"] == [] and record["current"]["trang_thai"] == dossier.status
    assert [s["ma_buoc"] for s in record["steps"]] == step_ids(dossier) and len(record["steps"]) == 2
    assert portal_sync.pending_summary() == {"unsent": 0, "dossiers": 0, "refused": 0, "retrying": 0,
                                             "oldest": None}


def test_b2_retries_continue_in_order_until_the_portal_answers(app, db_session, jobs, registry, sandbox):
    dossier = submit(db_session)
    advance(db_session, dossier)
    outage(sandbox, 3)
    outcomes = run_jobs(jobs)
    assert outcomes.count("retry") == 3 and any(o.startswith("sent:") for o in outcomes)
    head = rows(dossier)[0]
    assert head.attempts == 4 and head.sent_at is not None and head.next_attempt_at is None
    record = portal(sandbox)["dossiers"][dossier.code]
    assert record["versions"] == dossier_versions(dossier) and record["out_of_order"] == []
    # Every request before the first success failed; after it, each row went exactly once.
    ok = [r for r in received(sandbox, dossier.code) if r["error_code"] == "0"]
    assert len(ok) == len(rows(dossier))


def test_retry_delays_run_out_then_the_last_one_repeats(app, db_session, jobs, registry, sandbox, monkeypatch,
                                                         caplog):
    monkeypatch.setitem(app.config, "SERVICE_CALL_DELAYS", "10,60")
    dossier = submit(db_session)
    outage(sandbox, 3)
    delays = []
    for attempt in range(1, 4):
        [job] = [j for j in jobs.jobs if j.func == SYNC]
        jobs.jobs = []
        assert portal_jobs.sync_dossier(*job.args) == "retry"
        [retry] = jobs.jobs
        assert retry.args == (dossier.id, rows(dossier)[0].id, attempt)
        delays.append(retry.delay)
    assert delays == [10, 60, 60]
    assert "still failing after 3 attempts" in caplog.text
    # A fresh job (another status change) does not overtake the scheduled retry: it waits for it.
    assert portal_jobs.sync_dossier(dossier.id) == "waiting"
    # The scheduled retry goes, even before its time in this test.
    [retry] = jobs.jobs
    jobs.jobs = []
    assert portal_jobs.sync_dossier(*retry.args) == "sent:1"


def test_c_a_duplicated_job_sends_nothing_twice(app, db_session, jobs, registry, sandbox):
    dossier = submit(db_session)
    advance(db_session, dossier)
    queued = [j for j in jobs.jobs if j.func == SYNC]
    jobs.jobs = queued + queued  # every job delivered twice
    outcomes = run_jobs(jobs)
    assert sum(1 for o in outcomes if o.startswith("sent:")) == 1 and outcomes.count("idle") == len(outcomes) - 1
    assert portal_jobs.sync_dossier(dossier.id) == "idle"
    assert portal_jobs.sync_dossier(dossier.id) == "idle"
    accepted = [r["phien_ban"] or r["ma_buoc"] for r in received(sandbox, dossier.code) if r["error_code"] == "0"]
    assert accepted == [r.payload.get("phien_ban") or r.payload["buoc"]["ma_buoc"] for r in rows(dossier)]
    # Nothing else: version 1 is created, every later one goes straight to update.
    refused = [r for r in received(sandbox, dossier.code) if r["error_code"] != "0"]
    assert refused == []
    assert portal(sandbox)["dossiers"][dossier.code]["history"][-1]["duplicate"] is False


def test_a_job_finding_another_sending_comes_back_later(app, db_session, jobs, registry, sandbox):
    dossier = submit(db_session)
    jobs.jobs = []
    with exclusive("portal", dossier.id) as mine:
        assert mine
        assert portal_jobs.sync_dossier(dossier.id) == "busy"
    [again] = jobs.jobs
    assert again.func == SYNC and again.args[0] == dossier.id and 0 < again.delay <= 5
    assert received(sandbox) == []
    assert run_jobs(jobs) == ["sent:1"]


def test_a_sender_whose_lock_died_with_its_connection_still_holds_its_row(app, db_session, jobs, registry, sandbox):
    """Job A is sending version 1 when its advisory lock's connection dies (a terminated backend, a PostgreSQL
    restart): the lock is gone, A's send goes on. Job B must not send version 1 and those behind it meanwhile —
    A's late retry would reach the portal after them (a fault run saw versions [1, 2, 3, 4, 5, 1])."""
    dossier = submit(db_session)
    advance(db_session, dossier)
    jobs.jobs = []
    head = rows(dossier)[0]
    assert portal_sync.claim(head.id) is None  # A took the row, then lost its lock; it is still sending
    db_session.commit()
    assert portal_jobs.sync_dossier(dossier.id) == "held"  # B holds the advisory lock now, not the row
    assert received(sandbox) == []
    [again] = jobs.jobs  # B looks again when A's lease runs out
    assert again.func == SYNC and again.args[0] == dossier.id
    assert again.delay >= app.config["SERVICE_CALL_LEASE"] - 5
    assert portal_sync.claim(head.id) is not None  # nor can a third job take it
    db_session.rollback()

    # A dies before its send ends: once the lease has run out, the next job sends every row once, in order.
    db.session.execute(update(PortalOutbox).where(PortalOutbox.id == head.id)
                       .values(lease_until=now_utc() - timedelta(seconds=1)))
    db_session.commit()
    jobs.jobs = []
    assert portal_jobs.sync_dossier(dossier.id) == f"sent:{len(rows(dossier))}"
    accepted = [r["phien_ban"] or r["ma_buoc"] for r in received(sandbox, dossier.code) if r["error_code"] == "0"]
    assert accepted == [r.payload.get("phien_ban") or r.payload["buoc"]["ma_buoc"] for r in rows(dossier)]
    assert all(r.lease_until is None and r.sent_at is not None for r in rows(dossier))


def test_d_already_on_the_portal_becomes_an_update(app, db_session, jobs, registry, sandbox):
    dossier = submit(db_session)
    # The create went through earlier but its answer was lost: the portal already has version 1.
    registry.call("portal.push_dossier", {"payload": rows(dossier)[0].payload})
    advance(db_session, dossier)
    assert run_jobs(jobs)[0].startswith("sent:")
    record = portal(sandbox)["dossiers"][dossier.code]
    endpoints = [h["endpoint"] for h in record["history"]]
    assert endpoints[0] == "/dvcqg/ho-so/them-moi" and set(endpoints[1:]) == {"/dvcqg/ho-so/cap-nhat"}
    assert record["history"][1]["duplicate"] is True  # our version 1 again, as an update
    assert record["versions"] == [1, *dossier_versions(dossier)] and record["out_of_order"] == []
    assert record["current"]["phien_ban"] == dossier.portal_version
    assert all(r.sent_at is not None for r in rows(dossier))


def test_e_a_refused_payload_stops_its_dossier_only(app, db_session, jobs, registry, sandbox):
    refused = submit(db_session)
    other = submit(db_session)
    # A snapshot the portal will not take (our own checks let it through; the portal's do not).
    bad = rows(refused)[0]
    good_payload = bad.payload
    bad.payload = {**good_payload, "chu_ho_so": {**good_payload["chu_ho_so"], "email": "khong-phai-email"}}
    db_session.commit()
    advance(db_session, refused)
    advance(db_session, other)

    outcomes = run_jobs(jobs)
    assert "refused" in outcomes and "blocked" in outcomes
    head, *rest = rows(refused)
    assert head.sent_at is None and head.next_attempt_at is None and "DU_LIEU_KHONG_HOP_LE" in head.last_error
    assert all(r.sent_at is None and r.attempts == 0 for r in rest)
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.dossier_id == refused.id,
                                                          AuditEvent.action == "portal_sync_failed")).all()
    assert f"số {head.id}" in event.note_text and "flask portal resend" in event.note_text
    assert refused.code not in portal(sandbox)["dossiers"]
    assert [r["error_code"] for r in received(sandbox, refused.code)] == ["DU_LIEU_KHONG_HOP_LE"]
    # The other dossier is not held up.
    assert all(r.sent_at is not None for r in rows(other))
    assert portal(sandbox)["dossiers"][other.code]["versions"] == dossier_versions(other)
    # A new job for the stopped dossier tries nothing (no new noise on the portal, no second event).
    assert portal_jobs.sync_dossier(refused.id) == "blocked"
    assert len(received(sandbox, refused.code)) == 1
    assert portal_sync.pending_summary()["refused"] == 1

    # The operator fixes the cause and resends: everything goes, in order.
    head.payload = good_payload
    db_session.commit()
    result = app.test_cli_runner().invoke(args=["portal", "resend"])
    assert result.exit_code == 0, result.output
    assert "1 hồ sơ" in result.output
    assert run_jobs(jobs)[0].startswith("sent:")
    record = portal(sandbox)["dossiers"][refused.code]
    assert record["versions"] == dossier_versions(refused) and record["out_of_order"] == []
    assert len(record["steps"]) == 1 and all(r.sent_at is not None for r in rows(refused))
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.dossier_id == refused.id,
                                                      AuditEvent.action == "portal_sync_resend")) is not None


def test_two_snapshots_in_one_transaction_get_increasing_versions(app, db_session, jobs, registry, sandbox):
    dossier = submit(db_session)
    portal_sync.record_dossier(dossier)
    portal_sync.record_dossier(dossier)
    db_session.commit()
    assert dossier_versions(dossier) == [1, 2, 3] and dossier.portal_version == 3
    db.session.refresh(dossier)
    assert dossier.portal_version == 3
    ids = [j.job_id for j in jobs.jobs if j.func == SYNC]
    # One sending job per committed transaction, named after its last row: the submission's, then these two's.
    first, _, last = rows(dossier)
    assert ids == [f"portal-{dossier.id}-{first.id}", f"portal-{dossier.id}-{last.id}"]
    assert run_jobs(jobs)[0] == "sent:3"
    assert portal(sandbox)["dossiers"][dossier.code]["versions"] == [1, 2, 3]


def test_without_a_portal_connector_rows_wait_for_the_resend(app, db_session, jobs, registry, sandbox,
                                                              monkeypatch):
    monkeypatch.setitem(app.extensions, "motcua_connectors", build_registry({}))
    dossier = submit(db_session)
    assert [j for j in jobs.jobs if j.func == SYNC] == []  # nothing to do until it is configured
    assert portal_jobs.sync_dossier(dossier.id) == "not_configured"
    result = app.test_cli_runner().invoke(args=["portal", "resend"])
    assert result.exit_code != 0 and "PORTAL_URL" in result.output
    assert rows(dossier)[0].sent_at is None

    monkeypatch.setitem(app.extensions, "motcua_connectors", registry)  # configured now
    assert app.test_cli_runner().invoke(args=["portal", "resend"]).exit_code == 0
    assert run_jobs(jobs) == ["sent:1"]
    assert portal(sandbox)["dossiers"][dossier.code]["versions"] == [1]


def test_a_refused_sync_is_listed_with_the_incidents_and_resent_from_web_and_api(app, client, db_session, jobs,
                                                                                 registry, sandbox, token):
    import lxml.html

    from tests.conftest import login

    dossier = submit(db_session)
    bad = rows(dossier)[0]
    good_payload = bad.payload
    bad.payload = {**good_payload, "chu_ho_so": {**good_payload["chu_ho_so"], "email": "khong-phai-email"}}
    db_session.commit()
    assert "refused" in run_jobs(jobs)
    headers = token("tiepnhan")
    [problem] = client.get("/api/v1/incidents", headers=headers).get_json()["portal_sync"]
    assert (problem["dossier_code"], problem["refused"], problem["kind"]) == (dossier.code, True, "dossier")
    assert "DU_LIEU_KHONG_HOP_LE" in problem["error"]
    assert client.get("/api/v1/incidents", headers=token("ca.tiepnhan")).get_json()["portal_sync"] == []
    # Resent unchanged over the API: the portal refuses it again, and it stays listed.
    assert client.post(f"/api/v1/dossiers/{dossier.code}/portal-sync/resend", headers=headers).status_code == 202
    assert "refused" in run_jobs(jobs)
    assert len(client.get("/api/v1/incidents", headers=headers).get_json()["portal_sync"]) == 1

    login(client, "tiepnhan")
    page = lxml.html.fromstring(client.get("/can-bo/su-co").data)
    assert dossier.code in page.get_element_by_id(f"sync-{dossier.id}").text_content()
    head = rows(dossier)[0]
    head.payload = good_payload  # the operator fixed the cause
    db_session.commit()
    assert client.post(f"/can-bo/su-co/dong-bo/{dossier.id}/gui-lai").status_code == 303
    assert run_jobs(jobs)[0].startswith("sent:")
    assert portal(sandbox)["dossiers"][dossier.code]["versions"] == dossier_versions(dossier)
    assert client.get("/api/v1/incidents", headers=headers).get_json()["portal_sync"] == []
    assert client.post(f"/api/v1/dossiers/{dossier.code}/portal-sync/resend", headers=headers).status_code == 409

"""Periodic procedures (a timer start event): deployed, then one received internal dossier of the current version
started by the schedule at each occurrence, exactly once with racing sweeps and after a restart (the latest missed
occurrence only), nothing for a retired version. Committed data on a database of this module (PostgreSQL)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

import app.clock as platform_clock
from app.dossiers import periodic
from app.dossiers.errors import Forbidden
from app.dossiers.services import SCHEDULED_CHANNEL, submit_dossier
from app.extensions import db
from app.jobs import sweeper
from app.models import AuditEvent, Dossier, HumanTask, IssuedDocument, PortalOutbox, ProcedureVersion
from app.models.schedule import ProcedureSchedule
from app.procedures.deploy import DeployRefused, deploy
from app.procedures.package import load_directory
from app.procedures.versions import retire
from tests.conftest import _create_database, _drop_database, make_app, prepare_database
from tests.timer_support import ROOT, diagram, timer, user_task

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
MONTHLY = "R/2027-01-01T08:00:00+07:00/P1M"


def review_process(kind: str, value: str) -> str:
    return diagram(
        f'<bpmn:startEvent id="Start_1" name="Hằng tháng">{timer(kind, value)}</bpmn:startEvent>'
        + user_task("Task_RaSoat", "Rà soát hồ sơ tồn đọng", "ho_tich", status=4) + '<bpmn:endEvent id="End_1"/>',
        {"ho_tich": ["Start_1", "Task_RaSoat", "End_1"]},
        [("F0", "Start_1", "Task_RaSoat"), ("F1", "Task_RaSoat", "End_1")])


def deploy_review(code: str, kind: str = "timeCycle", value: str = MONTHLY, *, form: dict[str, Any] | None = None,
                  ) -> ProcedureVersion:
    """An agency's internal monthly review (khai sinh's agency, lanes and forms), deployed; the caller commits."""
    pkg = load_directory(ROOT / "bpmn" / "khai-sinh")
    name = next(n for n in pkg.bpmn if n.endswith("process.bpmn"))
    pkg.bpmn[name] = review_process(kind, value).encode()
    manifest = json.loads(pkg.manifest or b"{}")
    for key in ("lookup_results", "applicant", "summary", "components_field", "components", "prefill"):
        manifest.pop(key, None)
    manifest.update(code=code, name="Rà soát hồ sơ tồn đọng hằng tháng", start_form="ra-soat.schema.json",
                    fee={"in_person": 0, "online": 0},
                    processing_time={"amount": 5, "unit": "working_days"})
    pkg.manifest = json.dumps(manifest, ensure_ascii=False).encode()
    notes = {"type": "object", "properties": {"ghi_chu": {"type": "string", "title": "Ghi chú"}}}
    pkg.forms["ra-soat.schema.json"] = json.dumps(form or notes).encode()
    return deploy(pkg, deployed_by="tests").version


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = _create_database("motcua_periodic")
    app = make_app(url, tmp_path_factory.mktemp("periodic"))
    prepare_database(app)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    yield url
    _drop_database(url)


def dossiers_of(code: str) -> list[Dossier]:
    return list(db.session.scalars(
        select(Dossier).join(ProcedureVersion, Dossier.procedure_version_id == ProcedureVersion.id)
        .where(ProcedureVersion.manifest["code"].as_string() == code).order_by(Dossier.id)).all())


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=HCM)


def sweep_periodic() -> int:
    started = periodic.start_due(platform_clock.now_utc(), platform_clock.now_utc(), 100)
    db.session.commit()
    return started


def test_a_monthly_procedure_starts_one_received_internal_dossier_at_each_occurrence(pg_url, tmp_path, clock):
    app = make_app(pg_url, tmp_path)
    with app.app_context():
        clock.set(local(2026, 12, 15, 9, 0))
        version = deploy_review("9.000001")
        db.session.commit()
        schedule = db.session.scalar(select(ProcedureSchedule).where(
            ProcedureSchedule.procedure_id == version.procedure_id))
        assert schedule.next_due_at == local(2027, 1, 1, 8, 0)
        clock.set(local(2027, 1, 1, 7, 59))
        assert sweep_periodic() == 0 and dossiers_of("9.000001") == []

        clock.set(local(2027, 1, 1, 8, 1))
        counts = sweeper.sweep()  # registered with the sweeper
        assert counts["periodic"] == 1
        [dossier] = dossiers_of("9.000001")
        assert dossier.procedure_version_id == version.id
        assert dossier.channel == SCHEDULED_CHANNEL and dossier.applicant_user_id is None
        # Received at once (status 2, its appointment from now), then the diagram's first step set «đang xử lý»
        assert dossier.received_at is not None and dossier.received_at >= local(2027, 1, 1, 8, 1)
        statuses = list(db.session.scalars(select(AuditEvent.status_to).where(
            AuditEvent.dossier_id == dossier.id, AuditEvent.action == "status").order_by(AuditEvent.id)))
        assert statuses == [2, 4] and dossier.status == 4
        assert dossier.due_at > dossier.received_at  # 5 working days, by the manifest
        assert dossier.code.startswith("000.00.01.H26-270101-")
        assert dossier.applicant_name == dossier.agency.name
        tasks = list(db.session.scalars(select(HumanTask).where(HumanTask.dossier_id == dossier.id)))
        assert [(t.title, t.role, t.state) for t in tasks] == [("Rà soát hồ sơ tồn đọng", "chuyen_vien", "ready")]
        # Internal: not sent to the national portal, no receipt (there is no applicant to give it to)
        assert db.session.scalar(select(PortalOutbox.id).where(PortalOutbox.dossier_id == dossier.id)) is None
        assert db.session.scalar(select(IssuedDocument.id).where(IssuedDocument.dossier_id == dossier.id)) is None
        first = db.session.scalar(select(AuditEvent).where(AuditEvent.dossier_id == dossier.id,
                                                           AuditEvent.action == "submitted"))
        assert "theo lịch định kỳ" in first.note and first.note_params["occurrence"] == "01/01/2027 08:00"
        assert sweep_periodic() == 0 and len(dossiers_of("9.000001")) == 1  # the same occurrence: never twice
        with pytest.raises(Forbidden) as refused:  # nobody submits a periodic procedure
            submit_dossier("9.000001", {}, applicant=None, channel=2)
        assert refused.value.code == "procedure_scheduled"
        db.session.rollback()

        clock.set(local(2027, 2, 1, 7, 0))
        assert sweep_periodic() == 0
        clock.set(local(2027, 2, 1, 8, 0, 30))
        assert sweep_periodic() == 1
        assert [d.code[14:20] for d in dossiers_of("9.000001")] == ["270101", "270201"]
        db.session.remove()
        db.engine.dispose()


def test_two_concurrent_sweeps_start_one_dossier(pg_url, tmp_path, clock, monkeypatch):
    app = make_app(pg_url, tmp_path)
    with app.app_context():
        clock.set(local(2026, 12, 15, 9, 0))
        deploy_review("9.000002")
        db.session.commit()
        db.session.remove()
    clock.set(local(2027, 1, 1, 8, 1))
    inside, release = threading.Event(), threading.Event()
    real_submit = periodic.submit_dossier

    def held_submit(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "A":
            inside.set()
            assert release.wait(30)
        return real_submit(*args, **kwargs)

    monkeypatch.setattr(periodic, "submit_dossier", held_submit)
    results: dict[str, Any] = {}

    def run(name: str) -> threading.Thread:
        def work() -> None:
            with app.app_context():
                try:
                    results[name] = sweep_periodic()
                except Exception as exc:  # reported below
                    results[name] = exc
                finally:
                    db.session.remove()
        thread = threading.Thread(target=work, name=name)
        thread.start()
        return thread

    a = run("A")
    assert inside.wait(30)  # A holds the schedule's row, its dossier not committed
    b = run("B")
    b.join(30)
    assert results["B"] == 0  # skipped the locked row, did not wait
    release.set()
    a.join(30)
    assert results["A"] == 1
    with app.app_context():
        assert len(dossiers_of("9.000002")) == 1
        assert sweep_periodic() == 0
        db.session.remove()
        db.engine.dispose()


def test_after_a_restart_with_two_occurrences_missed_only_the_latest_starts_once(pg_url, tmp_path, clock):
    before = make_app(pg_url, tmp_path)
    with before.app_context():
        clock.set(local(2026, 12, 15, 9, 0))
        deploy_review("9.000003")
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    # Down from before 1 January to 1 March 10:00: the January and February occurrences were missed, March's came.
    clock.set(local(2027, 3, 1, 10, 0))
    after = make_app(pg_url, tmp_path)
    with after.app_context():
        sweep_periodic()  # the other tests' monthly procedures are due as well
        [dossier] = dossiers_of("9.000003")
        entry = db.session.scalar(select(AuditEvent).where(AuditEvent.dossier_id == dossier.id,
                                                           AuditEvent.action == "submitted"))
        assert entry.note_params == {"occurrence": "01/03/2027 08:00", "missed": 2}
        schedule = db.session.scalar(select(ProcedureSchedule).where(
            ProcedureSchedule.procedure_id == dossier.procedure_version.procedure_id))
        assert (schedule.started, schedule.missed) == (1, 2)
        assert schedule.next_due_at == local(2027, 4, 1, 8, 0)
        assert sweep_periodic() == 0 and len(dossiers_of("9.000003")) == 1  # a second sweep, or restart: nothing
        db.session.remove()
        db.engine.dispose()


def test_a_retired_version_starts_nothing_and_a_new_version_takes_over(pg_url, tmp_path, clock):
    app = make_app(pg_url, tmp_path)
    with app.app_context():
        clock.set(local(2026, 12, 15, 9, 0))
        version = deploy_review("9.000004")
        db.session.commit()
        retire(version, "tests")
        db.session.commit()
        clock.set(local(2027, 1, 1, 8, 1))
        assert sweep_periodic() == 0 and dossiers_of("9.000004") == []
        # A new version (weekly from its deployment) is current: it starts its own occurrences.
        newer = deploy_review("9.000004", value="R12/P1W")
        db.session.commit()
        clock.set(local(2027, 1, 8, 8, 2))
        assert sweep_periodic() == 1, [(d.code, d.procedure_version.manifest["code"]) for d in
                                       db.session.scalars(select(Dossier).order_by(Dossier.id.desc()).limit(3))]
        [dossier] = dossiers_of("9.000004")
        assert dossier.procedure_version_id == newer.id
        db.session.remove()
        db.engine.dispose()


def test_a_periodic_start_form_may_not_require_a_field(pg_url, tmp_path, clock):
    app = make_app(pg_url, tmp_path)
    with app.app_context():
        with pytest.raises(DeployRefused) as refused:
            deploy_review("9.000005", form={"type": "object", "properties": {"x": {"type": "string"}},
                                            "required": ["x"]})
        assert "schedule_form_required" in [p.code for p in refused.value.report.problems]
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()



def test_embedded_mode_starts_the_occurrence_once(tmp_path, clock):
    """SQLite, no Redis: the sweeper (one at a time, under its lock) starts the occurrence; a second sweep does not."""
    app = make_app(f"sqlite:///{tmp_path / 'embedded.db'}", tmp_path, JOB_DISPATCH="record")
    prepare_database(app)
    with app.app_context():
        clock.set(local(2026, 12, 15, 9, 0))
        deploy_review("9.000006")
        db.session.commit()
        clock.set(local(2027, 1, 1, 8, 1))
        assert sweeper.sweep()["periodic"] == 1
        assert sweeper.sweep()["periodic"] == 0
        [dossier] = dossiers_of("9.000006")
        assert dossier.received_at is not None and dossier.channel == SCHEDULED_CHANNEL
        db.session.remove()
        db.engine.dispose()


def test_a_periodic_procedure_is_not_offered_to_citizens(pg_url, tmp_path, clock):
    """Nobody applies for an agency's own periodic procedure: it is neither in the catalogue nor has a form page."""
    app = make_app(pg_url, tmp_path)
    with app.app_context():
        clock.set(local(2026, 12, 15, 9, 0))
        deploy_review("9.000009")
        db.session.commit()
        client = app.test_client()
        catalogue = client.get("/").get_data(as_text=True)
        assert "9.000009" not in catalogue and "1.001193" in catalogue
        assert client.get("/thu-tuc/9.000009").status_code == 404
        assert client.get("/thu-tuc/1.001193").status_code == 200

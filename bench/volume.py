"""A province's history in PostgreSQL, then the pages people open most, timed with the app's own code.

    .venv/bin/python -m bench.volume --dossiers 50000            # develop
    nohup .venv/bin/python -m bench.volume --dossiers 1000000 --keep > volume.log 2>&1 &
    .venv/bin/python -m bench.volume --reuse                      # time again on a kept database

Generation is set-based SQL (INSERT … SELECT generate_series) in a throwaway database named motcua_volume,
migrated by the app itself first: N dossiers over three years across agencies and procedures, with their
form data, history (audit events), completed and open human tasks, portal-outbox rows (sent, except a few),
workflow documents for open dossiers, and a few incidents. One officer (the demo "hotich") sees 5,000–7,000
open tasks and the demo citizen owns one dossier in 500.

Then each page is requested --requests times through the Flask test client (p50/p95, SQL statements per
request counted with an event listener, answer size), and the database size is printed. With --compare-old the
designer's queries the pages used before (every dossier counted, every running dossier sorted) are timed on the
same data (the old inbox and incident lists are gone from the code). Nothing is asserted; the database is
dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.models.dossier import folded  # noqa: E402
from tests.conftest import PG_ADMIN_URL, make_app, prepare_database  # noqa: E402
from tests.samples import start_data  # noqa: E402

DB_NAME = "motcua_volume"
# Every accented letter of the generated names, folded in SQL with translate() as app.models.dossier.folded does.
ACCENTED = "ăâđêôơưàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵĐ"


def admin_url() -> str:
    return PG_ADMIN_URL


def db_url(driver: bool = True) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return (base.replace("postgresql://", "postgresql+psycopg://") if driver else base) + f"/{DB_NAME}"


def recreate_database() -> None:
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def drop_database() -> None:
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def database_exists() -> bool:
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone() is not None


# ---------------------------------------------------------------- generation

def _workflow_document() -> str:
    """A workflow document of a running dossier, about the size the engine writes for khai sinh."""
    tasks = {f"{i:08d}-0000-4000-8000-000000000000": {
        "id": f"{i:08d}-0000-4000-8000-000000000000", "task_spec": f"Task_{i}", "state": 64 if i < 12 else 16,
        "parent": None, "children": [], "last_state_change": 1764000000.0 + i, "data": {"i": i},
        "internal_data": {}, "triggered": False} for i in range(16)}
    return json.dumps({"spec": {"name": "khai_sinh"}, "subprocess_specs": {}, "subprocesses": {}, "tasks": tasks,
                       "root": "00000000-0000-4000-8000-000000000000", "data": {"ho_ten": "Nguyễn Văn An"},
                       "success": True, "serializer_version": "1.4"})


def generate(n: int, open_tasks: int, agencies: int, log: Callable[[str], None]) -> None:
    open_n = min(open_tasks, n // 2)
    samples = {"khai-sinh": json.dumps(start_data("khai-sinh", files_as="")),
               "thuong-tru": json.dumps(start_data("thuong-tru", files_as=""))}
    with psycopg.connect(db_url(driver=False)) as conn:
        conn.execute("SET work_mem = '128MB'")
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute("SET synchronous_commit = off")

        def step(label: str, sql: str, params: dict[str, Any] | None = None) -> None:
            started = time.perf_counter()
            cur = conn.execute(sql, params or {})  # type: ignore[arg-type]
            conn.commit()
            log(f"  {label}: {cur.rowcount if cur.rowcount >= 0 else ''} rows, {time.perf_counter() - started:.1f} s")

        step("agencies", """
            INSERT INTO agency (code, name, level, address)
            SELECT format('000.00.%%s.H26', lpad(g::text, 2, '0')), format('UBND xã số %%s', g), 'xa', ''
            FROM generate_series(3, %(agencies)s) g
            ON CONFLICT (code) DO NOTHING""", {"agencies": agencies})  # the seed has some of these codes already
        step("citizens", """
            INSERT INTO app_user (username, full_name, password_hash, roles, email, phone, active)
            SELECT 'cd' || g, 'Công dân ' || g, '', '["cong_dan"]'::jsonb, '', '', true
            FROM generate_series(1, %(citizens)s) g""", {"citizens": max(1000, n // 10)})
        # Eight more procedures, copies of the khai sinh version under other codes and names.
        step("procedures", """
            WITH src AS (SELECT p.agency_id, v.* FROM procedure p
                         JOIN procedure_version v ON v.id = p.current_version_id WHERE p.code = '1.001193'),
                 np AS (INSERT INTO procedure (code, slug, name, agency_id)
                        SELECT format('1.9000%%s', g), format('thu-tuc-%%s', g), format('Thủ tục mẫu số %%s', g),
                               src.agency_id FROM src, generate_series(1, 8) g RETURNING id, code, name)
            INSERT INTO procedure_version (procedure_id, version, content_hash, process_id, manifest, bpmn_files,
                                           forms, tasks, deployed_at, deployed_by, source_note)
            SELECT np.id, 1, md5(np.code), src.process_id,
                   jsonb_set(jsonb_set(src.manifest, '{code}', to_jsonb(np.code)), '{name}', to_jsonb(np.name)),
                   src.bpmn_files, src.forms, src.tasks, now() - interval '3 years', 'bench', ''
            FROM np, src""")
        step("current versions", """
            UPDATE procedure p SET current_version_id = v.id FROM procedure_version v
            WHERE v.procedure_id = p.id AND p.current_version_id IS NULL""")
        # Dossiers: 40% of them (and of the open ones) at the demo agency 000.00.01.H26, the rest spread; the
        # last `open_n` are still open (submitted in the last 30 days), the others closed over three years.
        step("dossiers", """
            WITH ag AS (SELECT array_agg(id ORDER BY id) AS ids FROM agency),
                 vs AS (SELECT array_agg(v.id ORDER BY v.id) AS ids,
                               array_agg(p.code ORDER BY v.id) AS codes FROM procedure_version v
                        JOIN procedure p ON p.id = v.procedure_id),
                 cit AS (SELECT min(id) AS lo, max(id) AS hi FROM app_user WHERE username LIKE 'cd%%'),
                 me AS (SELECT id FROM app_user WHERE username = 'congdan'),
                 base AS (
                   SELECT g,
                          CASE WHEN g %% 10 < 4 THEN ag.ids[1] WHEN g %% 10 = 4 THEN ag.ids[2]
                               ELSE ag.ids[3 + (g / 10) %% (array_length(ag.ids, 1) - 2)] END AS agency_id,
                          vs.ids[1 + (g * 7) %% array_length(vs.ids, 1)] AS version_id,
                          vs.codes[1 + (g * 7) %% array_length(vs.ids, 1)] AS proc_code,
                          g > %(n)s - %(open_n)s AS is_open,
                          CASE WHEN g > %(n)s - %(open_n)s
                               THEN now() - (%(n)s - g) * interval '30 days' / %(open_n)s
                               ELSE now() - interval '3 years'
                                    + (g::float8 / (%(n)s - %(open_n)s)) * (interval '3 years' - interval '30 days')
                          END AS submitted_at,
                          CASE WHEN g %% 500 = 0 THEN me.id
                               WHEN g %% 10 < 7 THEN cit.lo + (g * 7919) %% (cit.hi - cit.lo + 1)
                               ELSE NULL END AS applicant
                   FROM generate_series(1::bigint, %(n)s::bigint) g, ag, vs, cit, me),
                 coded AS (
                   SELECT base.*, a.code AS agency_code,
                          row_number() OVER (
                              PARTITION BY base.agency_id, (base.submitted_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date
                              ORDER BY g) AS seq
                   FROM base JOIN agency a ON a.id = base.agency_id)
            INSERT INTO dossier (id, code, procedure_version_id, agency_id, status, channel, applicant_user_id,
                                 applicant_name, applicant_id_number, applicant_phone, applicant_email,
                                 applicant_address, summary, form_data, fee_amount, submitted_at, received_at,
                                 due_at, finished_at, returned_at, paused_at, portal_version)
            SELECT g, agency_code || '-' || to_char(submitted_at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYMMDD') || '-'
                      || lpad(seq::text, 4, '0'),
                   version_id, agency_id,
                   CASE WHEN is_open
                        THEN (ARRAY[1, 2, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 6, 9, 9, 2, 4])[1 + g %% 20]
                        ELSE (ARRAY[10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3, 7])
                             [1 + g %% 20]
                   END,
                   2, applicant,
                   (ARRAY['Nguyễn', 'Trần', 'Lê', 'Phạm', 'Hoàng', 'Vũ', 'Đặng', 'Bùi'])[1 + g %% 8] || ' ' ||
                   (ARRAY['Văn', 'Thị', 'Minh', 'Thu', 'Đức', 'Ngọc'])[1 + (g / 8) %% 6] || ' ' ||
                   (ARRAY['An', 'Bình', 'Chi', 'Dũng', 'Hà', 'Hoa', 'Khánh', 'Lan', 'Long', 'Mai', 'Nam', 'Phong',
                          'Quân', 'Sơn', 'Tâm', 'Thảo', 'Trang', 'Tú', 'Việt', 'Yến'])[1 + (g / 48) %% 20],
                   lpad((1000000000 + g)::text, 12, '0'), '09' || lpad((g %% 100000000)::text, 8, '0'), '',
                   'Số ' || (g %% 200) || ' phố Kim Mã, phường Ngọc Hà, thành phố Hà Nội',
                   CASE WHEN proc_code = '1.004222' THEN 'Đăng ký thường trú' ELSE 'Đăng ký khai sinh' END,
                   CASE WHEN proc_code = '1.004222' THEN %(thuong_tru)s::jsonb ELSE %(khai_sinh)s::jsonb END,
                   CASE WHEN g %% 3 = 0 THEN 8000 ELSE 0 END,
                   submitted_at,
                   CASE WHEN is_open AND g %% 20 = 0 THEN NULL ELSE submitted_at + interval '2 hours' END,
                   submitted_at + (3 + g %% 12) * interval '1 day',
                   CASE WHEN is_open THEN NULL ELSE submitted_at + (2 + g %% 10) * interval '1 day' END,
                   CASE WHEN is_open THEN NULL ELSE submitted_at + (3 + g %% 10) * interval '1 day' END,
                   NULL, CASE WHEN is_open THEN 2 ELSE 4 END
            FROM coded""", {"n": n, "open_n": open_n, "khai_sinh": samples["khai-sinh"],
                            "thuong_tru": samples["thuong-tru"]})
        step("dossier id sequence", "SELECT setval('dossier_id_seq', (SELECT max(id) FROM dossier))")
        step("history (audit events)", """
            INSERT INTO audit_event (dossier_id, at, actor_id, actor_name, action, outcome, task_title, status_from,
                                     status_to, step_due_at, note, note_params)
            SELECT d.id, d.submitted_at + k * interval '20 hours', NULL,
                   CASE WHEN k = 1 THEN d.applicant_name ELSE 'Trần Văn Hộ' END,
                   (ARRAY['submitted', 'claimed', 'completed', 'status', 'completed', 'status'])[k], '',
                   (ARRAY['', 'Tiếp nhận hồ sơ', 'Tiếp nhận hồ sơ', '', 'Thẩm định hồ sơ', ''])[k],
                   CASE WHEN k IN (4, 6) THEN 2 ELSE NULL END, CASE WHEN k = 4 THEN 4 WHEN k = 6 THEN d.status END,
                   NULL, CASE WHEN k = 3 THEN 'Hồ sơ đầy đủ, hợp lệ.' ELSE '' END, NULL
            FROM dossier d, generate_series(1, 6) k
            WHERE k <= CASE WHEN d.status IN (3, 7, 10) THEN 6 ELSE 3 END""")
        step("portal outbox (sent)", """
            INSERT INTO portal_outbox (dossier_id, kind, payload, created_at, attempts, last_error, next_attempt_at,
                                       sent_at)
            SELECT d.id, CASE WHEN k = 2 THEN 'step' ELSE 'dossier' END,
                   jsonb_build_object('MaHoSo', d.code, 'phien_ban', k, 'TrangThaiHoSo', d.status,
                                      'NgayTiepNhan', d.received_at, 'HanXuLy', d.due_at, 'ChuHoSo', d.applicant_name),
                   d.submitted_at + k * interval '1 hour', 1, '', NULL,
                   d.submitted_at + k * interval '1 hour' + interval '3 seconds'
            FROM dossier d, generate_series(1, 3) k
            WHERE k <= CASE WHEN d.status IN (3, 7, 10) THEN 3 ELSE 2 END""")
        step("portal outbox (a few unsent, some refused)", """
            INSERT INTO portal_outbox (dossier_id, kind, payload, created_at, attempts, last_error, next_attempt_at,
                                       sent_at)
            SELECT d.id, 'dossier', jsonb_build_object('MaHoSo', d.code, 'phien_ban', 3),
                   now() - CASE WHEN d.id %% 2 = 0 THEN interval '2 days' ELSE interval '10 seconds' END, 1,
                   CASE WHEN d.id %% 4 = 0 THEN 'E_INVALID: Trường HanXuLy không hợp lệ' ELSE '' END, NULL, NULL
            FROM dossier d WHERE d.status NOT IN (3, 7, 10) AND d.id %% 97 = 0""")
        step("completed human tasks", """
            INSERT INTO human_task (dossier_id, agency_id, engine_task_id, spec_name, title, lane, role, form, state,
                                    claimed_by_id, claimed_at, completed_by_id, completed_at, created_at, due_at, data,
                                    dossier_code, dossier_submitted_at, applicant_folded)
            SELECT d.id, d.agency_id, gen_random_uuid()::text, (ARRAY['TiepNhan', 'ThamDinh', 'PheDuyet'])[k],
                   (ARRAY['Tiếp nhận hồ sơ', 'Thẩm định hồ sơ', 'Phê duyệt, ký'])[k], '',
                   (ARRAY['tiep_nhan', 'chuyen_vien', 'lanh_dao_ky'])[k], NULL, 'completed', NULL, NULL, NULL,
                   d.submitted_at + k * interval '1 day', d.submitted_at + (k - 1) * interval '1 day',
                   d.submitted_at + k * interval '1 day', '{"y_kien": "Đồng ý"}'::jsonb,
                   -- the inbox keys every task written since migration 0010 carries (see the open tasks)
                   d.code, d.submitted_at, lower(translate(d.applicant_name, %(accented)s, %(bare)s))
            FROM dossier d, generate_series(1, 3) k WHERE d.status IN (3, 7, 10)""",
             {"accented": ACCENTED, "bare": folded(ACCENTED)})
        # One open task per open dossier: 75% for the specialist role, the rest at the desk and the signer; a
        # dossier waiting for a supplement (status 5) waits for its applicant.
        step("open human tasks", """
            INSERT INTO human_task (dossier_id, agency_id, engine_task_id, spec_name, title, lane, role, form, state,
                                    claimed_by_id, claimed_at, completed_by_id, completed_at, created_at, due_at, data,
                                    dossier_code, dossier_submitted_at, applicant_folded)
            SELECT d.id, d.agency_id, gen_random_uuid()::text, 'ThamDinh',
                   CASE WHEN d.status = 5 THEN 'Bổ sung hồ sơ' ELSE 'Thẩm định hồ sơ' END, '',
                   CASE WHEN d.status = 5 THEN 'cong_dan'
                        ELSE (ARRAY['chuyen_vien', 'chuyen_vien', 'chuyen_vien', 'chuyen_vien', 'chuyen_vien',
                                    'chuyen_vien', 'tiep_nhan', 'lanh_dao_ky'])[1 + d.id %% 8] END,
                   NULL,
                   CASE WHEN d.id %% 10 = 0 THEN 'claimed' ELSE 'ready' END,
                   CASE WHEN d.id %% 10 = 0 THEN (SELECT id FROM app_user WHERE username = 'hotich') END,
                   CASE WHEN d.id %% 10 = 0 THEN now() END, NULL, NULL, d.submitted_at,
                   CASE WHEN d.id %% 20 = 7 THEN NULL ELSE now() + ((d.id %% 21) - 5) * interval '1 day' END, NULL,
                   d.code, d.submitted_at,
                   -- app.models.dossier.folded(applicant_name) for the generated names (no extension needed)
                   lower(translate(d.applicant_name, %(accented)s, %(bare)s))
            FROM dossier d WHERE d.status NOT IN (3, 7, 10)""", {"accented": ACCENTED, "bare": folded(ACCENTED)})
        step("workflow documents of open dossiers", """
            INSERT INTO workflow_instance (dossier_id, document, version, completed, updated_at)
            SELECT d.id, %(doc)s::json, 1, false, d.submitted_at FROM dossier d WHERE d.status NOT IN (3, 7, 10)""",
             {"doc": _workflow_document()})
        step("failed service calls (incidents)", """
            INSERT INTO service_call (dossier_id, engine_task_id, spec_name, title, operation, params, result_variable,
                                      state, attempts, rounds, next_attempt_at, error_code, error_message, created_at,
                                      updated_at, finished_at)
            SELECT d.id, gen_random_uuid()::text, 'TraCuuDanCu', 'Tra cứu dân cư', 'population.lookup', '{}'::jsonb,
                   'dan_cu', 'failed', 3, 1, NULL, 'unavailable', 'Hệ thống dân cư không phản hồi', now(), now(), now()
            FROM dossier d WHERE d.status NOT IN (3, 7, 10) AND d.id %% 211 = 0""")
        step("workflow incidents", """
            INSERT INTO workflow_incident (dossier_id, engine_task_id, spec_name, task_title, code, message, detail,
                                           state, attempts, created_at, updated_at, resolved_at, resolved_by_id)
            SELECT d.id, gen_random_uuid()::text, 'Gateway_1', 'Rẽ nhánh', 'condition_error',
                   'Điều kiện rẽ nhánh dùng thông tin không có', '', 'open', 1, now(), now(), NULL, NULL
            FROM dossier d WHERE d.status NOT IN (3, 7, 10) AND d.id %% 307 = 0""")
    with psycopg.connect(db_url(driver=False), autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute("VACUUM (ANALYZE)")
        log(f"  vacuum analyze: {time.perf_counter() - started:.1f} s")


# ---------------------------------------------------------------- timing

def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def time_pages(app: Any, requests_n: int, compare_old: bool) -> list[tuple[str, list[float], float, float, str]]:
    from sqlalchemy import event, func, select, text

    from app.extensions import db
    from app.models import Dossier, HumanTask, Procedure, User

    counter = {"n": 0}
    with app.app_context():
        engine = db.engine

        @event.listens_for(engine, "before_cursor_execute")
        def count(*_: Any) -> None:
            counter["n"] += 1

        hotich = db.session.scalar(select(User).where(User.username == "hotich"))
        visible = db.session.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.state.in_(("ready", "claimed")), HumanTask.agency_id == hotich.agency_id,
            HumanTask.role == "chuyen_vien"))
        open_codes = list(db.session.scalars(select(Dossier.code).where(
            Dossier.agency_id == hotich.agency_id, Dossier.status.not_in((3, 7, 10))).limit(2000)))
        any_codes = list(db.session.scalars(select(Dossier.code).order_by(func.random()).limit(2000)))
        citizen_count = db.session.scalar(select(func.count()).select_from(Dossier).join(
            User, User.id == Dossier.applicant_user_id).where(User.username == "congdan"))
        size = db.session.scalar(text("SELECT pg_size_pretty(pg_database_size(current_database()))"))
        db.session.remove()
    print(f"officer hotich sees {visible} open tasks of his role; citizen congdan owns {citizen_count} dossiers; "
          f"database size {size}")

    rng = random.Random(8)
    results: list[tuple[str, list[float], float, float, str]] = []

    def run(label: str, username: str, path: Callable[[], str], n: int = requests_n) -> None:
        client = app.test_client()
        response = client.post("/dang-nhap", data={"username": username, "password": "demo123"})
        assert response.status_code == 302, response.status_code
        for _ in range(5):
            client.get(path())
        times, statements, sizes = [], [], []
        for _ in range(n):
            url = path()
            counter["n"] = 0
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            statements.append(counter["n"])
            sizes.append(len(response.data))
            assert response.status_code == 200, (url, response.status_code)
        results.append((label, times, statistics.mean(statements), statistics.mean(sizes) / 1024, ""))

    run(f"officer inbox (page 1 of ~{visible} tasks)", "hotich", lambda: "/can-bo/")
    run("officer inbox, page 10, sorted by code", "hotich", lambda: "/can-bo/?trang=10&sap_xep=code")
    run("officer inbox, overdue, name search", "hotich", lambda: "/can-bo/?han=overdue&q=nguy%E1%BB%85n")
    run("dossier page", "hotich", lambda: f"/ho-so/{rng.choice(open_codes)}")
    run("public look-up", "congdan", lambda: f"/tra-cuu?ma={rng.choice(any_codes)}")
    run(f"my dossiers ({citizen_count})", "congdan", lambda: "/ho-so-cua-toi")
    run("designer: running dossiers of 1.001193", "thietke", lambda: "/thiet-ke/thu-tuc/1.001193")
    run("incidents page", "hotich", lambda: "/can-bo/su-co")
    run("designer index", "thietke", lambda: "/thiet-ke/")

    if compare_old:
        from app.models import ProcedureVersion
        from app.models.dossier import FINAL_STATUSES

        def old(label: str, fn: Callable[[], Any], n: int) -> None:
            with app.app_context():
                user = db.session.scalar(select(User).where(User.username == "hotich"))
                fn_user = (lambda: fn(user))  # noqa: E731
                fn_user()
                times, statements = [], []
                for _ in range(n):
                    counter["n"] = 0
                    started = time.perf_counter()
                    fn_user()
                    times.append((time.perf_counter() - started) * 1000)
                    statements.append(counter["n"])
                    db.session.expunge_all()
                results.append((label, times, statistics.mean(statements), 0.0, "old code"))
                db.session.remove()

        def old_designer_index(_: Any) -> Any:
            return dict(db.session.execute(
                select(ProcedureVersion.procedure_id, func.count(Dossier.id))
                .join(Dossier, Dossier.procedure_version_id == ProcedureVersion.id)
                .group_by(ProcedureVersion.procedure_id)).all())

        def old_running(_: Any) -> Any:
            proc = db.session.scalar(select(Procedure).where(Procedure.code == "1.001193"))
            return [d.procedure_version.version for d in db.session.scalars(
                select(Dossier).join(ProcedureVersion)
                .where(ProcedureVersion.procedure_id == proc.id, Dossier.status.not_in(FINAL_STATUSES))
                .order_by(Dossier.submitted_at.desc()).limit(200))]

        old("old designer running dossiers (200)", old_running, max(5, requests_n // 20))
        old("old designer index counts", old_designer_index, max(5, requests_n // 20))
    return results


def explain_inbox(app: Any) -> str:
    """The plan of the inbox page's main query for hotich (EXPLAIN ANALYZE), to show which indexes answer."""
    from sqlalchemy import select, text

    from app.dossiers import listings
    from app.extensions import db
    from app.models import User

    captured: list[tuple[str, Any]] = []
    with app.app_context():
        from sqlalchemy import event

        def grab(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
            captured.append((statement, parameters))

        user = db.session.scalar(select(User).where(User.username == "hotich"))
        event.listen(db.engine, "before_cursor_execute", grab)
        listings.inbox(user, listings.ListQuery())
        event.remove(db.engine, "before_cursor_execute", grab)
        statement, parameters = captured[0]
        rows = db.session.connection().exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
        plan = "\n".join(r[0] for r in rows)
        db.session.execute(text("SELECT 1"))
        db.session.remove()
    return plan


def history_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every bench over the generated history takes (this one, bench.metrics, bench.dashboard)."""
    parser.add_argument("--dossiers", type=int, default=1_000_000)
    parser.add_argument("--open-tasks", type=int, default=20_000)
    parser.add_argument("--agencies", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help=f"keep the database {DB_NAME} afterwards")
    parser.add_argument("--reuse", action="store_true", help="time on the kept database, do not generate")


@contextmanager
def history(args: argparse.Namespace, log: Callable[[str], None],
            then: Callable[[Callable[[str], None]], None] | None = None) -> Iterator[Any]:
    """The app on DB_NAME holding the generated history (generated now, then `then(log)`, unless --reuse finds it
    kept); the database dropped afterwards unless --keep."""
    tmp = Path(tempfile.mkdtemp(prefix=f"{DB_NAME}_"))
    reuse = args.reuse and database_exists()
    if not reuse:
        recreate_database()
    app = make_app(db_url(), tmp)
    try:
        if not reuse:
            started = time.perf_counter()
            log(f"migrating and seeding {DB_NAME}")
            prepare_database(app)
            log(f"generating {args.dossiers:,} dossiers ({args.open_tasks:,} open tasks)")
            generate(args.dossiers, args.open_tasks, args.agencies, log)
            if then is not None:
                then(log)
            log(f"generated in {time.perf_counter() - started:.0f} s")
        yield app
    finally:
        from app.extensions import db

        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if not args.keep:
            drop_database()


def _log(line: str) -> None:
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    history_arguments(parser)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--compare-old", action="store_true", help="also time the functions the pages used before")
    parser.add_argument("--explain", action="store_true", help="print the inbox query's plan")
    args = parser.parse_args()
    with history(args, _log) as app:
        if args.explain:
            print(explain_inbox(app))
        results = time_pages(app, args.requests, args.compare_old)
        print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {args.dossiers:,} dossiers, "
              f"{args.requests} requests per page (Flask test client, PostgreSQL)")
        print(f"{'page':58} {'p50 ms':>8} {'p95 ms':>8} {'SQL/req':>8} {'KB':>7}")
        for label, times, statements, kb, note in results:
            print(f"{label:58} {statistics.median(times):8.1f} {percentile(times, 0.95):8.1f} {statements:8.1f} "
                  f"{kb:7.1f} {note}")


if __name__ == "__main__":
    main()

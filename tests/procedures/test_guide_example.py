"""The designer's guide, followed from scratch: its worked example deploys through the upload designers use and runs.

docs/designer-guide.md builds «Cấp bản sao trích lục hộ tịch» step by step and shows every file of the package in
full; tests/procedures/guide_example/ holds the same files. The first test keeps the two identical (the guide
cannot drift from what is tested); the others deploy the package through POST /api/v1/procedures, as a designer's
tool would, and drive dossiers through every path the guide describes: the online fee, a supplement asked for at
reception, the decision gateway's two branches, the result, and the timer that ends an unpaid dossier.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import app.clock as platform_clock
from app.extensions import db
from app.jobs import timers as timer_jobs
from app.models import Dossier, HumanTask, Payment, ServiceCall
from tests.samples import PDF_BYTES, client_uploader, pay_fee, with_uploads
from tests.timer_support import MovedClock

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "designer-guide.md"
EXAMPLE = Path(__file__).resolve().parent / "guide_example"
CODE = "2.000635"
# A fenced block of the guide that is a whole file of the example: ```json file=procedure.json
FENCE = re.compile(r"^```[a-z]* file=(?P<name>\S+)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
FILE_MARK = "FILE:"

START = {
    "nguoi_yeu_cau": {"ho_ten": "Nguyễn Văn An", "so_dinh_danh": "001090012345", "dien_thoai": "0912345678",
                      "email": "an.nguyen@example.vn", "dia_chi": "Số 12 phố Kim Mã, phường Ba Đình, Hà Nội"},
    "loai_trich_luc": "khai_sinh",
    "nguoi_duoc_cap": {"ho_ten": "Nguyễn Minh Khang", "ngay_sinh": "2025-06-01", "quan_he": "con"},
    "noi_dang_ky": "UBND phường Ba Đình, thành phố Hà Nội",
    "so_ban_sao": 2,
    "giay_to_tuy_than": FILE_MARK + "can-cuoc.pdf",
}
TASKS = {
    "tiep-nhan.schema.json": {"thanh_phan_da_nhan": ["TK", "GTTT"], "quyet_dinh_tiep_nhan": "tiep_nhan"},
    "tra-cuu.schema.json": {"ket_qua_tra_cuu": "tim_thay", "so_quyen": "125, quyển 01/2025"},
    "ky-duyet.schema.json": {"da_ky": True},
    "tra-ket-qua.schema.json": {"hinh_thuc_tra": "truc_tiep", "ngay_tra": "2026-12-01", "nguoi_nhan": "Nguyễn Văn An"},
}
OFFICERS = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich", "tra_ket_qua": "traketqua"}


def guide_files() -> dict[str, str]:
    return {m["name"]: m["body"] for m in FENCE.finditer(GUIDE.read_text(encoding="utf-8"))}


def test_the_guide_shows_exactly_the_files_of_the_tested_package():
    shown = guide_files()
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted(EXAMPLE.iterdir()) if p.is_file()}
    assert sorted(shown) == sorted(files), "the guide and tests/procedures/guide_example/ list different files"
    for name, text in files.items():
        assert shown[name] == text, f"{name}: the guide's copy differs from tests/procedures/guide_example/{name}"


# ---------------------------------------------------------------- deployed as a designer does


@pytest.fixture()
def deployed(client, token) -> dict[str, Any]:
    """The package as the guide shows it (the files copied out of its text, as a reader would), uploaded through the
    API with the designer's account: first checked (dry run), then deployed."""
    designer = token("thietke")
    shown = guide_files()
    assert len(shown) == 11

    def upload(dry_run: bool) -> Any:
        files = [(io.BytesIO(text.encode("utf-8")), name) for name, text in sorted(shown.items())]
        return client.post("/api/v1/procedures" + ("?dry_run=1" if dry_run else ""), headers=designer,
                           data={"files": files, "slug": "trich-luc-ho-tich"}, content_type="multipart/form-data")

    checked = upload(dry_run=True)
    assert checked.status_code == 200, checked.get_json()
    assert checked.get_json()["verdict"] == "deployable"
    response = upload(dry_run=False)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["code"], body["version"], body["created"]) == (CODE, 1, True)
    return dict(body)


def tasks_of(client, headers, code):
    return [t for t in client.get("/api/v1/tasks", headers=headers).get_json()["items"] if t["dossier_code"] == code]


def the_task(client, token, code):
    """The dossier's one open step, as the officer whose role it is sees it in the inbox."""
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    db.session.refresh(dossier)
    [task] = db.session.scalars(select(HumanTask).where(HumanTask.dossier_id == dossier.id,
                                                        HumanTask.state.in_(("ready", "claimed")))).all()
    headers = token(OFFICERS[task.role])
    [seen] = tasks_of(client, headers, code)
    return seen, headers


def complete(client, token, code, title, **overrides):
    task, headers = the_task(client, token, code)
    assert task["title"] == title
    data = {**TASKS[task["form"]], **overrides}
    response = client.post(f"/api/v1/tasks/{task['id']}/complete", json=data, headers=headers)
    assert response.status_code == 200, response.get_json()
    return client.get(f"/api/v1/dossiers/{code}", headers=headers).get_json()


def submit(client, citizen) -> str:
    data = with_uploads(client_uploader(client), citizen, START)
    response = client.post(f"/api/v1/procedures/{CODE}/dossiers", json=data, headers=citizen)
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["code"])


def status(code: str) -> int:
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    db.session.refresh(dossier)
    return int(dossier.status)


def test_online_fee_supplement_at_reception_then_the_result(client, token, jobs, national, deployed):
    citizen = token("congdan")
    code = submit(client, citizen)
    assert code.startswith("000.00.01.H26-")
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    assert dossier.fee_amount == 8000  # two copies at the online price of 4,000 đ each
    assert status(code) == 1 and tasks_of(client, token("tiepnhan"), code) == []  # reception waits for the fee
    pay_fee(client, jobs, code)

    # Reception: the desk asks for the letter of authorization (the applicant asks for their child's extract).
    reception, officer = the_task(client, token, code)
    assert reception["title"] == "Tiếp nhận hồ sơ"
    asked = client.post(f"/api/v1/dossiers/{code}/supplement-requests", headers=officer, json={
        "ly_do": "Thiếu văn bản ủy quyền của người mẹ.", "thanh_phan": [{"code": "UQ"}],
        "han_bo_sung": (date.today() + timedelta(days=10)).isoformat()})
    assert asked.status_code == 201, asked.get_json()
    assert status(code) == 5
    upload = client_uploader(client)("/api/v1/attachments", citizen, ("uy-quyen.pdf", PDF_BYTES))
    answered = client.post(f"/api/v1/dossiers/{code}/supplement-requests/answer", headers=citizen,
                           json={"tep": {"UQ": upload["reference"]}})
    assert answered.status_code == 200, answered.get_json()
    assert status(code) == 1

    # The letter came with the supplement (kept with its request), not with the form: the checklist ticks what the
    # form holds.
    state = complete(client, token, code, "Tiếp nhận hồ sơ")
    assert state["status"] == 4  # received (2), then the look-up step sets 4
    state = complete(client, token, code, "Tra cứu sổ hộ tịch")
    assert state["status"] == 4
    state = complete(client, token, code, "Ký bản sao trích lục")
    assert state["status"] == 9
    state = complete(client, token, code, "Trả kết quả")
    assert state["status"] == 10 and state["tasks"] == []
    steps = [h["task"] for h in state["history"] if h["action"] == "completed"]
    assert steps == ["Tiếp nhận hồ sơ", "Tra cứu sổ hộ tịch", "Ký bản sao trích lục", "Trả kết quả"]
    [payment] = state["payments"]
    assert (payment["state"], payment["amount"]) == ("paid", 8000)


def test_no_record_found_ends_the_dossier_and_gives_the_fee_back(client, token, jobs, national, deployed):
    """The decision gateway's other branch: nothing in the register, so nothing to copy (status 3): the fee paid
    online is refunded by the platform, no modelling needed."""
    citizen = token("congdan")
    code = submit(client, citizen)
    pay_fee(client, jobs, code)
    complete(client, token, code, "Tiếp nhận hồ sơ")
    state = complete(client, token, code, "Tra cứu sổ hộ tịch", ket_qua_tra_cuu="khong_tim_thay",
                     ly_do_khong_cap="Sổ đăng ký khai sinh năm 2025 không có tên người được cấp.")
    assert state["status"] == 3 and state["tasks"] == [] and state["finished_at"]
    while jobs.jobs:
        jobs.run_all()
    [payment] = client.get(f"/api/v1/dossiers/{code}", headers=citizen).get_json()["payments"]
    assert (payment["state"], payment["refunded_amount"]) == ("refunded", 8000)


def test_refused_at_reception(client, token, jobs, national, deployed):
    code = submit(client, token("congdan"))
    pay_fee(client, jobs, code)
    state = complete(client, token, code, "Tiếp nhận hồ sơ", quyet_dinh_tiep_nhan="tu_choi",
                     ly_do="Yêu cầu trích lục không thuộc thẩm quyền của UBND phường.")
    assert state["status"] == 3 and state["tasks"] == []


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[MovedClock]:
    moved = MovedClock()
    monkeypatch.setattr(platform_clock, "datetime", moved.datetime)
    yield moved


def test_a_fee_unpaid_for_two_working_days_ends_the_dossier(client, token, jobs, national, deployed, db_session,
                                                             clock):
    """The boundary timer `working_days(2)` on the payment step: nobody paid, so the dossier is not received."""
    code = submit(client, token("congdan"))
    while jobs.jobs:
        jobs.run_all()  # the payment is opened at the platform and waits for the payer
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    assert dossier.workflow.next_due_at is not None
    assert timer_jobs.drain(seconds=30) == 0  # not due yet
    clock.advance(days=10)  # more than two working days, whatever the weekday
    assert timer_jobs.drain(seconds=30) == 1
    db.session.expire_all()
    assert status(code) == 3
    [call] = db.session.scalars(select(ServiceCall).where(ServiceCall.dossier_id == dossier.id)).all()
    assert call.state == "cancelled"
    assert db.session.scalars(select(HumanTask).where(HumanTask.dossier_id == dossier.id)).all() == []
    assert [p.state for p in db.session.scalars(select(Payment).where(Payment.dossier_id == dossier.id))] == [
        "pending"]  # a late payment of it would be a payment of a closed fee: refunded (app/dossiers/payments.py)

"""A procedure's service task issuing a child's health-insurance card runs as a job against the demo social-insurance
office; the office's refusal reaches an error boundary event by its code."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import select

from app.dossiers.services import submit_dossier
from app.extensions import db
from app.models import ServiceCall
from app.procedures.deploy import deploy
from app.procedures.package import load_directory
from tests.conftest import user
from tests.integration.test_service_calls import ready_titles, run_jobs, workflow_data
from tests.samples import MOTHER_ID, start_data, with_stored_uploads
from tests.timer_support import ROOT

MOTHER_LOOKUP = (b'<spiffworkflow:serviceTaskOperator id="population.lookup_citizen" resultVariable="tra_cuu_me">\n'
                 b'          <spiffworkflow:parameters>\n'
                 b'            <spiffworkflow:parameter id="so_dinh_danh" type="str" value="me[\'so_dinh_danh\']"/>\n'
                 b'            <spiffworkflow:parameter id="ho_ten" type="str" value="me[\'ho_ten\']"/>\n'
                 b'            <spiffworkflow:parameter id="nam_sinh" type="int" value="me[\'nam_sinh\']"/>\n'
                 b'          </spiffworkflow:parameters>')
NOT_FOUND = b'errorCode="khong_tim_thay"'


def deploy_card_step(child_id: str) -> None:
    """Khai sinh with its first look-up replaced by issuing the child's card, its boundary catching ineligibility."""
    pkg = load_directory(ROOT / "bpmn" / "khai-sinh")
    [name] = pkg.bpmn
    assert MOTHER_LOOKUP in pkg.bpmn[name] and NOT_FOUND in pkg.bpmn[name]
    operator = ('<spiffworkflow:serviceTaskOperator id="social_insurance.issue_child_card" resultVariable="tra_cuu_me">'
                '<spiffworkflow:parameters>'
                '<spiffworkflow:parameter id="ma_ho_so" type="str" value="thong_tin_ho_so[\'ma_ho_so\']"/>'
                f'<spiffworkflow:parameter id="so_dinh_danh" type="str" value="\'{child_id}\'"/>'
                '<spiffworkflow:parameter id="ho_ten" type="str" value="tre[\'ho_ten\']"/>'
                '<spiffworkflow:parameter id="ngay_sinh" type="str" value="tre[\'ngay_sinh\']"/>'
                '<spiffworkflow:parameter id="gioi_tinh" type="str" value="tre[\'gioi_tinh\']"/>'
                '<spiffworkflow:parameter id="ma_tinh" type="str" value="\'01\'"/>'
                '<spiffworkflow:parameter id="ma_xa" type="str" value="\'00004\'"/>'
                '</spiffworkflow:parameters>').encode()
    pkg.bpmn[name] = (pkg.bpmn[name].replace(MOTHER_LOOKUP, operator)
                      .replace(NOT_FOUND, b'errorCode="khong_du_dieu_kien"'))
    deploy(pkg, deployed_by="tests")


def child_id(born: date) -> str:
    return f"001{(born.year // 100 - 19) * 2}{born.year % 100:02d}{uuid.uuid4().int % 1_000_000:06d}"


def submit_for_child(db_session: Any, born: date) -> Any:
    number = child_id(born)
    deploy_card_step(number)
    data = with_stored_uploads(start_data("khai-sinh"), user("congdan"))
    data["me"]["so_dinh_danh"] = MOTHER_ID
    data["tre"]["ngay_sinh"] = born.isoformat()
    dossier = submit_dossier("1.001193", data, applicant=user("congdan"))
    db_session.commit()
    return dossier


def the_call(dossier: Any) -> ServiceCall:
    [call] = db.session.scalars(select(ServiceCall).where(ServiceCall.dossier_id == dossier.id)).all()
    return call


def test_the_card_is_issued_by_a_job_and_reaches_reception(client, db_session, jobs, national, sandbox):
    dossier = submit_for_child(db_session, date(2025, 6, 1))
    call = the_call(dossier)
    assert call.operation == "social_insurance.issue_child_card" and call.params["ma_ho_so"] == dossier.code
    assert run_jobs(jobs) == ["done"]
    card = workflow_data(dossier, "Tiếp nhận hồ sơ")["tra_cuu_me"]
    assert card["ma_the"] == "TE101" + card["ma_so_bhxh"] and card["gia_tri_den"] == "2031-05-31"
    assert card["ho_ten"] == "Nguyễn Minh Khang" and card["ma_ho_so"] == dossier.code
    cards = requests.get(f"{sandbox}/_bhxh/cards", timeout=5).json()["cards"]
    assert [c["ma_the"] for c in cards if c["ma_ho_so"] == dossier.code] == [card["ma_the"]]


def test_a_child_of_six_is_caught_by_the_boundary_by_its_code(client, db_session, jobs, national, sandbox):
    today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    dossier = submit_for_child(db_session, date(today.year - 7, 3, 15))
    assert run_jobs(jobs) == ["caught"]
    call = the_call(dossier)
    assert call.state == "caught" and call.error_code == "khong_du_dieu_kien"
    assert ready_titles(dossier) == ["Tiếp nhận hồ sơ"]
    error = workflow_data(dossier, "Tiếp nhận hồ sơ")["loi_dich_vu"]
    assert error["ma"] == "khong_du_dieu_kien" and "6 tuổi" in error["thong_bao"]
    log = requests.get(f"{sandbox}/_log", timeout=5).json()["requests"]
    assert sum(1 for r in log if r["path"] == "/bhxh/the-bhyt/tre-em") == 1  # a refusal is not retried

"""The inter-agency birth bundle (bpmn/lien-thong-khai-sinh, Nghị định 63/2024): one citizen form, one dossier
code and one combined deadline; a collaboration of three pools run as one workflow, each pool's steps in the inbox
of its own agency only (procedure.json `participants`), the handoffs carried by BPMN messages between the pools.

Over the HTTP API with each officer's bearer token: the commune People's Committee receives the dossier and
registers the birth, the message takes it to the commune police, whose officer registers the residence, the next
message to the social-insurance office, which issues the card, and the last message back to the one-stop desk,
which returns the results. At each step the officers of the other two agencies see nothing of it, even with the
task's id."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import lxml.html
from sqlalchemy import select

from app.dossiers.workflow_runs import live_runs
from app.engine.runtime import task_data_in
from app.extensions import db
from app.models import Agency, Dossier, HumanTask, ServiceCall
from app.procedures.package import check_package, load_directory
from tests.conftest import login
from tests.integration.test_service_calls import run_jobs
from tests.integration.test_social_insurance_calls import child_id
from tests.samples import client_uploader, start_data, task_data, with_uploads

SLUG = "lien-thong-khai-sinh"
CODE = "2.002450"
AGENCIES = {"ubnd": "000.00.01.H26", "cong_an": "000.00.02.H26", "bhxh": "000.00.03.H26"}
# Officers by agency, for the visibility checks: each sees its own agency's steps only.
OFFICERS = {"ubnd": ["tiepnhan", "hotich"], "cong_an": ["ca.tiepnhan", "ca.cutru"], "bhxh": ["bhxh.the"]}


def _tasks(client: Any, headers: dict[str, str], code: str) -> list[dict[str, Any]]:
    response = client.get("/api/v1/tasks?size=100", headers=headers)
    assert response.status_code == 200, response.data[:300]
    return [t for t in response.get_json()["items"] if t["dossier_code"] == code]


def _step(client: Any, token: Any, code: str, agency: str, officer: str, title: str,
          data: dict[str, Any] | None = None) -> None:
    """The one open step is `title`, seen by `officer` of `agency` and by no officer of the other agencies;
    `officer` completes it with `data`, or the sample data of its form."""
    headers = token(officer)
    live_runs().clear()  # each step restores the workflow from its document, as another process would
    (task,) = _tasks(client, headers, code)
    assert task["title"] == title, task
    for other, names in OFFICERS.items():
        if other == agency:
            continue
        for name in names:
            assert _tasks(client, token(name), code) == [], f"{name} of {other} sees {title}"
            peek = client.get(f"/api/v1/tasks/{task['id']}", headers=token(name))
            assert peek.status_code in (403, 404), (name, peek.status_code)
            taken = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=token(name),
                                json=task_data(SLUG, task["form"]))
            assert taken.status_code in (403, 404), (name, taken.status_code)
    done = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers,
                       json=data or task_data(SLUG, task["form"]))
    assert done.status_code == 200, done.data[:500]


def test_the_bundle_deploys_as_a_collaboration_of_three_agencies(db_session):
    report = check_package(load_directory(Path(__file__).resolve().parents[2] / "bpmn" / SLUG))
    assert report.ok, [p.message for p in report.problems]
    assert report.analysis is not None and report.analysis.process_id == "Collaboration_LienThong"
    assert sorted(report.analysis.participants.values()) == ["Bảo hiểm xã hội", "Công an cấp xã", "UBND cấp xã"]


def test_one_dossier_crosses_three_agencies_by_messages_each_seeing_only_its_own_steps(client, db_session, token, jobs,
                                                                                      national):
    citizen = token("congdan")
    created = client.post(f"/api/v1/procedures/{CODE}/dossiers", headers=citizen,
                          json=with_uploads(client_uploader(client), citizen, start_data(SLUG)))
    assert created.status_code == 201, created.data[:500]
    code = created.get_json()["code"]
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    assert dossier is not None and dossier.agency.code == AGENCIES["ubnd"]

    _step(client, token, code, "ubnd", "tiepnhan", "Tiếp nhận hồ sơ")
    db.session.refresh(dossier)
    due = dossier.due_at  # one combined deadline, set at reception: it does not move as the dossier travels
    assert due is not None and dossier.status in (2, 4)
    born = date.fromisoformat(start_data(SLUG)["tre"]["ngay_sinh"])
    child = child_id(born)  # the personal ID the civil-status officer issues: one card per child at the office
    _step(client, token, code, "ubnd", "hotich", "Đăng ký khai sinh, cấp số định danh cá nhân",
          {**task_data(SLUG, "dang-ky-khai-sinh.schema.json"), "so_dinh_danh_tre": child})
    assert client.get(f"/api/v1/dossiers/{code}", headers=token("bhxh.the")).status_code == 403  # not yet its turn
    _step(client, token, code, "cong_an", "ca.cutru", "Đăng ký thường trú cho trẻ")
    # An agency that worked a step of the dossier reads the dossier it worked on.
    assert client.get(f"/api/v1/dossiers/{code}", headers=token("ca.cutru")).status_code == 200
    # The social-insurance office's system issues the card (a job calls the demo office), then its officer checks it.
    (call,) = db.session.scalars(select(ServiceCall).where(ServiceCall.dossier_id == dossier.id)).all()
    assert call.operation == "social_insurance.issue_child_card" and call.params["ma_ho_so"] == code
    assert call.params["so_dinh_danh"] == child and call.params["ma_noi_kcb"] == "01004"
    assert run_jobs(jobs) == ["done"]
    _step(client, token, code, "bhxh", "bhxh.the", "Cấp thẻ bảo hiểm y tế")
    # What the messages carried back: the result step reads the residence and the card the others recorded.
    result = db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id,
                                                       HumanTask.state == "ready"))
    db.session.refresh(dossier.workflow)
    carried = task_data_in(dossier.workflow.document, result.engine_task_id)["ket_qua_lien_thong"]
    card = carried.pop("ma_the_bhyt")
    assert card.startswith("TE101") and len(card) == 15, card
    assert carried == {"so_dinh_danh_tre": child, "so_dang_ky_khai_sinh": "231",
                       "ngay_dang_ky_thuong_tru": "2026-12-02",
                       "noi_thuong_tru": start_data(SLUG)["thuong_tru"]["noi_thuong_tru"],
                       "gia_tri_den": (born.replace(year=born.year + 6) - timedelta(days=1)).isoformat(),
                       "noi_kcb": "Trạm Y tế Phường Ba Đình"}
    _step(client, token, code, "ubnd", "tiepnhan", "Trả kết quả liên thông")

    db.session.refresh(dossier)
    assert dossier.status == 10 and dossier.due_at == due
    # The applicant's page: one code, one deadline, the three agencies' results.
    login(client, "congdan")
    page = lxml.html.fromstring(client.get(f"/ho-so/{code}").data)
    assert [h.text_content().strip() for h in page.xpath('//*[@id="results"]//h3')] == [
        "Giấy khai sinh, số định danh cá nhân của trẻ — UBND phường Ba Đình, thành phố Hà Nội",
        "Đăng ký thường trú — Công an phường Ba Đình, thành phố Hà Nội",
        "Thẻ bảo hiểm y tế — Bảo hiểm xã hội cơ sở Ba Đình, thành phố Hà Nội"]
    shown = " ".join(page.get_element_by_id("results").text_content().split())
    assert child in shown and card in shown and "Trạm Y tế Phường Ba Đình" in shown, shown
    api = client.get(f"/api/v1/dossiers/{code}", headers=citizen).get_json()
    assert api["code"] == code and [r["agency"] for r in api["declared_results"]] == [
        "UBND phường Ba Đình, thành phố Hà Nội", "Công an phường Ba Đình, thành phố Hà Nội",
        "Bảo hiểm xã hội cơ sở Ba Đình, thành phố Hà Nội"]
    assert {"label": "Mã thẻ bảo hiểm y tế", "value": card} in api["declared_results"][2]["fields"]
    steps = db.session.execute(select(HumanTask.title, Agency.code).join(Agency, HumanTask.agency_id == Agency.id)
                               .where(HumanTask.dossier_id == dossier.id).order_by(HumanTask.id)).all()
    assert [(title, agency) for title, agency in steps] == [
        ("Tiếp nhận hồ sơ", AGENCIES["ubnd"]),
        ("Đăng ký khai sinh, cấp số định danh cá nhân", AGENCIES["ubnd"]),
        ("Đăng ký thường trú cho trẻ", AGENCIES["cong_an"]),
        ("Cấp thẻ bảo hiểm y tế", AGENCIES["bhxh"]),
        ("Trả kết quả liên thông", AGENCIES["ubnd"]),
    ]

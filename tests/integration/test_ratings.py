"""The applicant's rating of how a dossier was handled: once per dossier, only after the result was handed back,
online (the dossier's page, the API) or at the desk on the kiosk page an officer of the dossier's agency opens;
every criterion answered on the three-step scale."""

from __future__ import annotations

from typing import Any

import lxml.html
from sqlalchemy import select

from app.dossiers import services
from app.extensions import db
from app.models import Dossier, DossierRating, HumanTask
from tests.conftest import login, user
from tests.samples import start_data, task_data, with_stored_uploads

ALL_GOOD = {"tong_the": 3, "thuan_tien": 3, "dung_han": 2, "thoi_gian": 2, "thai_do": 3, "so_lan_lien_he": 2,
            "so_co_quan": 2, "cong_khai": 1}
OFFICERS = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich", "tra_ket_qua": "traketqua"}


def returned(db_session: Any) -> Dossier:
    """A khai sinh dossier of the demo citizen taken to the end: the result handed back (status 10)."""
    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), user("congdan")),
                                      applicant=user("congdan"))
    while True:
        task = db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id,
                                                         HumanTask.state == "ready"))
        if task is None:
            break
        services.complete_task(task.id, user(OFFICERS[task.role]), task_data("khai-sinh", task.form))
    db_session.commit()
    assert db.session.get(Dossier, dossier.id).status == 10
    return dossier


def test_the_applicant_rates_once_on_the_dossier_page(client, db_session):
    dossier = returned(db_session)
    login(client, "congdan")
    page = lxml.html.fromstring(client.get(f"/ho-so/{dossier.code}").data)
    assert page.get_element_by_id("rating-form") is not None
    assert len(page.xpath('//form[@id="rating-form"]//fieldset')) == 8
    incomplete = client.post(f"/ho-so/{dossier.code}/danh-gia", data={"tong_the": "3"}, follow_redirects=True)
    assert "Phiếu đánh giá chưa đầy đủ" in incomplete.get_data(as_text=True)
    assert db.session.scalar(select(DossierRating).where(DossierRating.dossier_id == dossier.id)) is None
    done = client.post(f"/ho-so/{dossier.code}/danh-gia", data={**{k: str(v) for k, v in ALL_GOOD.items()},
                                                               "y_kien": "Cán bộ hướng dẫn tận tình."},
                       follow_redirects=True)
    assert "Cảm ơn bạn đã đánh giá" in done.get_data(as_text=True)
    rating = db.session.scalar(select(DossierRating).where(DossierRating.dossier_id == dossier.id))
    assert rating.answers == ALL_GOOD and rating.channel == "online" and rating.comment == "Cán bộ hướng dẫn tận tình."
    assert rating.agency_id == dossier.agency_id and rating.rated_by_id == user("congdan").id
    again = client.post(f"/ho-so/{dossier.code}/danh-gia", data={k: str(v) for k, v in ALL_GOOD.items()},
                        follow_redirects=True)
    assert "đã được đánh giá" in again.get_data(as_text=True)
    shown = lxml.html.fromstring(client.get(f"/ho-so/{dossier.code}").data)
    assert shown.get_element_by_id("rating-summary") is not None and not shown.xpath('//*[@id="rating-form"]')


def test_the_api_rates_only_a_returned_dossier_of_ones_own(client, db_session, token):
    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), user("congdan")),
                                      applicant=user("congdan"))
    db_session.commit()
    url = f"/api/v1/dossiers/{dossier.code}/rating"
    early = client.post(url, headers=token("congdan"), json={"danh_gia": ALL_GOOD})
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "not_returned"
    finished = returned(db_session)
    url = f"/api/v1/dossiers/{finished.code}/rating"
    assert client.post(url, headers=token("hotich"), json={"danh_gia": ALL_GOOD}).status_code == 403
    bad = client.post(url, headers=token("congdan"), json={"danh_gia": {**ALL_GOOD, "tong_the": 5, "khac": 1}})
    assert bad.status_code == 422 and set(bad.get_json()["error"]["details"]) == {"/tong_the", "/khac"}
    ok = client.post(url, headers=token("congdan"), json={"danh_gia": ALL_GOOD, "y_kien": ""})
    assert ok.status_code == 201 and ok.get_json()["answers"] == ALL_GOOD
    assert client.post(url, headers=token("congdan"), json={"danh_gia": ALL_GOOD}).status_code == 409


def test_the_desk_kiosk_records_the_applicants_rating(client, db_session):
    dossier = returned(db_session)
    login(client, "traketqua")
    desk_page = client.get(f"/can-bo/ho-so/{dossier.code}").get_data(as_text=True)
    assert f"/can-bo/ho-so/{dossier.code}/danh-gia" in desk_page
    kiosk = client.get(f"/can-bo/ho-so/{dossier.code}/danh-gia")
    assert kiosk.status_code == 200 and 'id="rating-form"' in kiosk.get_data(as_text=True)
    missing = client.post(f"/can-bo/ho-so/{dossier.code}/danh-gia", data={"tong_the": "2"})
    assert missing.status_code == 422 and 'aria-invalid="true"' in missing.get_data(as_text=True)
    saved = client.post(f"/can-bo/ho-so/{dossier.code}/danh-gia", data={k: str(v) for k, v in ALL_GOOD.items()})
    assert saved.status_code == 303
    rating = db.session.scalar(select(DossierRating).where(DossierRating.dossier_id == dossier.id))
    assert rating.channel == "desk" and rating.recorded_by_id == user("traketqua").id and rating.rated_by_id is None
    client.post("/dang-xuat")
    login(client, "ca.tiepnhan")  # another agency's officer opens no kiosk for this dossier
    assert client.get(f"/can-bo/ho-so/{dossier.code}/danh-gia").status_code == 403

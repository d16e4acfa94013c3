"""The desk in the officer's inbox and on the citizen's dossier page (HTML forms, CSRF off in tests as elsewhere)."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

from sqlalchemy import select

from app.dossiers import progress, services
from app.extensions import db
from app.models import Dossier, HumanTask
from tests.conftest import login, user
from tests.samples import PDF_BYTES, start_data, task_data, with_stored_uploads

OFFICERS = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich", "tra_ket_qua": "traketqua"}


def _at_signing(db_session) -> Dossier:
    applicant = user("congdan")
    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), applicant),
                                      applicant=applicant)
    for _ in range(2):
        [task] = progress.open_tasks(dossier)
        services.complete_task(task.id, user(OFFICERS[task.role]), task_data("khai-sinh", task.form))
    db_session.commit()
    return dossier


def _flash(page: str) -> str:
    found = re.search(r'<p class="flash[^"]*" role="status">([^<]*)</p>', page)
    return found.group(1) if found else ""


def test_return_supplement_upload_and_resume_through_the_pages(client, db_session):
    dossier = _at_signing(db_session)
    [signing] = progress.open_tasks(dossier)
    login(client, "chutich")
    page = client.get(f"/cong-viec/{signing.id}").get_data(as_text=True)
    assert 'id="return-action"' in page and "Thẩm định, ghi sổ hộ tịch" in page and 'id="legal-time"' in page
    inbox = client.get("/can-bo/").get_data(as_text=True)
    assert 'data-legal="' in inbox
    back = client.post(f"/cong-viec/{signing.id}/tra-lai", data={"buoc": "Task_ThamDinh", "ly_do": "Sai tên mẹ."},
                       follow_redirects=True)
    assert "Đã trả hồ sơ" in _flash(back.get_data(as_text=True))
    client.post("/dang-xuat")

    login(client, "hotich")
    [examination] = progress.open_tasks(dossier)
    shown = client.get(f"/cong-viec/{examination.id}").get_data(as_text=True)
    assert 'id="returned"' in shown and "Sai tên mẹ." in shown  # the reason, on the re-opened step
    desk_page = client.get(f"/can-bo/ho-so/{dossier.code}").get_data(as_text=True)
    assert 'id="supplement-form"' in desk_page
    deadline = (date.today() + timedelta(days=7)).isoformat()
    asked = client.post(f"/can-bo/ho-so/{dossier.code}/bo-sung",
                        data={"thanh_phan": ["GCS"], "ghi_chu_GCS": "bản rõ", "ly_do": "Giấy chứng sinh bị mờ.",
                              "han_bo_sung": deadline}, follow_redirects=True)
    assert "Đã gửi yêu cầu bổ sung" in _flash(asked.get_data(as_text=True)), asked.get_data(as_text=True)[:3000]
    db.session.refresh(dossier)
    assert dossier.status == 5
    inbox = client.get("/can-bo/").get_data(as_text=True)
    assert dossier.code in inbox  # listed among the paused dossiers, once, in the page (not in its <title>)
    assert inbox.count('id="paused"') == 1 and "<table" not in inbox.split("</title>")[0]
    client.post("/dang-xuat")

    login(client, "congdan")
    mine = client.get(f"/ho-so/{dossier.code}").get_data(as_text=True)
    assert 'id="supplement-form"' in mine and "Giấy chứng sinh bị mờ." in mine and "bản rõ" in mine
    assert 'id="steps"' in mine
    done = client.post(f"/ho-so/{dossier.code}/bo-sung",
                       data={"tep_0": (io.BytesIO(PDF_BYTES), "giay-chung-sinh.pdf"), "ghi_chu": "Bản mới."},
                       content_type="multipart/form-data", follow_redirects=True)
    assert "Đã gửi giấy tờ bổ sung" in _flash(done.get_data(as_text=True))
    db.session.refresh(dossier)
    assert dossier.status == 4 and dossier.paused_at is None
    assert db.session.scalar(select(HumanTask.state).where(HumanTask.id == examination.id)) == "claimed"


def test_the_applicant_withdraws_from_the_dossier_page(client, db_session):
    dossier = _at_signing(db_session)
    login(client, "congdan")
    assert 'id="withdraw-action"' in client.get(f"/ho-so/{dossier.code}").get_data(as_text=True)
    client.post(f"/ho-so/{dossier.code}/rut", data={"ly_do": "Nộp nhầm."}, follow_redirects=True)
    db.session.refresh(dossier)
    assert dossier.status == 7


def test_the_head_of_department_reassigns_from_the_load_page(client, db_session):
    dossier = _at_signing(db_session)
    [signing] = progress.open_tasks(dossier)
    login(client, "hotich")
    assert client.get("/can-bo/phong").status_code == 403
    client.post("/dang-xuat")
    login(client, "truongphong")
    page = client.get("/can-bo/phong").get_data(as_text=True)
    assert 'data-user="chutich"' in page and f'action="/cong-viec/{signing.id}/phan-cong"' in page
    client.post(f"/cong-viec/{signing.id}/phan-cong", data={"nguoi_nhan": str(user("chutich").id)})
    db.session.refresh(signing)
    assert signing.state == "claimed" and signing.claimed_by_id == user("chutich").id


def test_walk_in_intake_files_an_in_person_dossier_with_digitized_scans(client, db_session):
    from app.dossiers.portal_sync import snapshot
    from tests.samples import form_fields

    login(client, "congdan")
    assert client.get("/can-bo/tiep-nhan-truc-tiep").status_code == 403  # the one-stop desk only
    client.post("/dang-xuat")
    login(client, "tiepnhan")
    form = client.get("/can-bo/tiep-nhan-truc-tiep?thu_tuc=1.001193").get_data(as_text=True)
    assert 'id="eform"' in form
    fields = {k: v for k, v in form_fields(start_data("khai-sinh")).items() if v != "FILE"}
    fields.update({"__submit__": "1", "giay_chung_sinh": (io.BytesIO(PDF_BYTES), "ban-quet-giay-chung-sinh.pdf")})
    made = client.post("/can-bo/tiep-nhan-truc-tiep?thu_tuc=1.001193", data=fields,
                       content_type="multipart/form-data")
    assert made.status_code == 303, made.get_data(as_text=True)[:2000]
    dossier = db.session.scalar(select(Dossier).order_by(Dossier.id.desc()).limit(1))
    assert dossier.channel == 1 and dossier.applicant_user_id is None and dossier.status == 1
    assert dossier.applicant_name == start_data("khai-sinh")["nguoi_yeu_cau"]["ho_ten"]
    [reception] = progress.open_tasks(dossier)
    assert made.headers["Location"].endswith(f"/cong-viec/{reception.id}")  # to receive it and print the receipt
    scanned = next(c for c in snapshot(dossier, 1)["thanh_phan"] if c["ma"] == "GCS")
    assert scanned["so_hoa"] is True  # the desk's scan is a digitized copy
    entry = services.history(dossier)[0]
    assert entry.action == "submitted" and entry.actor_name == user("tiepnhan").full_name
    # Another agency's desk may not file for this procedure.
    from app.dossiers.errors import Forbidden
    try:
        services.submit_dossier("1.001193", {}, applicant=None, channel=1, filed_by=user("ca.tiepnhan"))
    except Forbidden:
        pass
    else:
        raise AssertionError("another agency's desk filed a walk-in dossier")

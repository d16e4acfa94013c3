"""The electronic result: the officer attaches it at the last step (a file field the step's form declares with
`ui:result`), and the applicant downloads it from the dossier page and the API once it is handed back."""

from __future__ import annotations

import io
from typing import Any

import lxml.html
from sqlalchemy import select

from app.dossiers import services
from app.dossiers.attachments import reference, store_upload
from app.dossiers.errors import Invalid
from app.extensions import db
from app.models import HumanTask
from app.procedures.declarations import declaration_problems
from tests.conftest import login, user
from tests.samples import PDF_BYTES, start_data, task_data, with_stored_uploads

OFFICERS = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich", "tra_ket_qua": "traketqua"}
RESULT_PDF = PDF_BYTES.replace(b"%PDF-1.4", b"%PDF-1.7")  # its own content, so its own blob


def _to_last_step(db_session: Any) -> tuple[str, HumanTask]:
    """A khai sinh dossier taken to its last step (Trả kết quả), claimed by the officer who returns results."""
    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), user("congdan")),
                                      applicant=user("congdan"))
    while True:
        task = db_session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id,
                                                         HumanTask.state == "ready"))
        officer = user(OFFICERS[task.role])
        services.claim_task(task.id, officer)
        if task.role == "tra_ket_qua":
            db_session.commit()
            return dossier.code, task
        services.complete_task(task.id, officer, task_data("khai-sinh", task.form))
        db_session.commit()


def _return_online(task: HumanTask) -> dict[str, Any]:
    officer = user("traketqua")
    upload = store_upload(RESULT_PDF, "giay-khai-sinh.pdf", "application/pdf", "ban_dien_tu", officer)
    return {**task_data("khai-sinh", task.form), "hinh_thuc_tra": "truc_tuyen", "ban_dien_tu": reference(upload)}


def test_the_applicant_downloads_the_result_the_last_step_attached(client, db_session, token):
    code, task = _to_last_step(db_session)
    login(client, "congdan")
    page = client.get(f"/ho-so/{code}").get_data(as_text=True)
    assert 'id="electronic-result"' not in page  # nothing attached yet

    services.complete_task(task.id, user("traketqua"), _return_online(task))
    db_session.commit()
    assert services.get_dossier(code).status == 10

    page = client.get(f"/ho-so/{code}").get_data(as_text=True)
    assert 'id="electronic-result"' in page and "Kết quả điện tử" in page
    link = page.split('id="result-1"')[0].rsplit('href="', 1)[1].split('"')[0]
    download = client.get(link)
    assert download.status_code == 200 and download.data == RESULT_PDF
    assert download.headers["Content-Type"] == "application/pdf"

    answer = client.get(f"/api/v1/dossiers/{code}", headers=token("congdan")).get_json()
    [result] = answer["results"]
    assert result["content_type"] == "application/pdf" and result["size"] == len(RESULT_PDF)
    fetched = client.get(result["href"], headers=token("congdan"))
    assert fetched.status_code == 200 and fetched.data == RESULT_PDF
    # someone not entitled to the dossier (an officer of another agency) is told it does not exist
    assert client.get(result["href"], headers=token("ca.tiepnhan")).status_code == 404  # another agency


def test_officers_see_the_result_as_soon_as_it_is_attached_the_applicant_once_handed_back(db_session):
    from app.dossiers.results import electronic_results

    code, task = _to_last_step(db_session)
    services.complete_task(task.id, user("traketqua"), _return_online(task))
    dossier = services.get_dossier(code)
    [attached] = electronic_results(dossier, for_applicant=False)
    assert attached.content_type == "application/pdf"
    dossier.status = 9  # as if the result were ready but not yet handed back
    assert electronic_results(dossier, for_applicant=True) == []
    dossier.status = 10
    assert electronic_results(dossier, for_applicant=True) == [attached]


def test_returning_online_without_the_electronic_copy_is_refused(db_session):
    code, task = _to_last_step(db_session)
    data = {**task_data("khai-sinh", task.form), "hinh_thuc_tra": "truc_tuyen"}
    try:
        services.complete_task(task.id, user("traketqua"), data)
    except Invalid as refused:
        assert "/ban_dien_tu" in (refused.details or {}), refused.details
    else:
        raise AssertionError("an online return without its file was accepted")
    db.session.rollback()


def test_ui_result_must_name_a_file_field_of_its_form():
    schema = {"type": "object", "properties": {"so": {"type": "string"},
                                               "tep": {"type": "string", "contentMediaType": "application/pdf"}}}
    ok = declaration_problems(None, None, {"a.schema.json": schema, "a.ui.json": {"ui:result": "tep"}})
    assert ok == []
    [not_a_file] = declaration_problems(None, None, {"a.schema.json": schema, "a.ui.json": {"ui:result": "so"}})
    assert not_a_file.code == "ui_result_not_a_file" and not_a_file.pointer == "/ui:result"
    [unknown] = declaration_problems(None, None, {"a.schema.json": schema, "a.ui.json": {"ui:result": "khong_co"}})
    assert unknown.code == "ui_hint_unknown_field"


def test_a_result_uploaded_on_a_refused_step_form_is_kept_for_the_next_try(client, db_session):
    """The officer attaches the electronic result but leaves a required field empty: the form comes back with the
    file still attached (the upload is the officer's own, committed before the step is refused), and the next try
    completes the step with it."""
    code, task = _to_last_step(db_session)
    login(client, "traketqua")
    form = {"hinh_thuc_tra": "truc_tuyen", "ngay_tra": "", "nguoi_nhan": "Nguyễn Văn An",
            "ban_dien_tu": (io.BytesIO(RESULT_PDF), "giay-khai-sinh.pdf", "application/pdf")}
    refused = client.post(f"/cong-viec/{task.id}", data=form, content_type="multipart/form-data")
    assert refused.status_code == 422
    page = lxml.html.fromstring(refused.get_data(as_text=True))
    [kept] = page.xpath("//input[@type='hidden'][@name='ban_dien_tu']/@value")
    assert kept.endswith("/giay-khai-sinh.pdf")
    assert client.get(f"/tep/{kept.split('/')[0]}").data == RESULT_PDF  # the file behind it is still there
    done = client.post(f"/cong-viec/{task.id}", data={"hinh_thuc_tra": "truc_tuyen", "ngay_tra": "2026-12-01",
                                                      "nguoi_nhan": "Nguyễn Văn An", "ban_dien_tu": kept})
    assert done.status_code == 302, done.get_data(as_text=True)[:2000]
    db.session.expire_all()
    assert services.get_dossier(code).status == 10

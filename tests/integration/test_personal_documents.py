"""The applicant's personal document store (kho giấy tờ): what a finished khai sinh dossier puts in it (the birth
certificate digitized at reception, the electronic birth certificate handed back), how a later thường trú dossier
takes the result instead of an upload (web form without JavaScript and API), what is refused (someone else's, another
kind, revoked, expired), and what the officers see."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import lxml.html
import pytest
from sqlalchemy import select

from app.dossiers import docstore, services
from app.dossiers.attachments import reference, reference_token, store_upload
from app.dossiers.clock import now_utc
from app.dossiers.components import received_components, reception_problems
from app.dossiers.portal_sync import snapshot
from app.extensions import db
from app.models import Attachment, Dossier, HumanTask, PersonalDocument
from tests.conftest import login, user
from tests.samples import PDF_BYTES, form_fields, pay_fee, start_data, task_data, with_stored_uploads

OFFICERS = {"tiep_nhan": "tiepnhan", "chuyen_vien": "hotich", "lanh_dao_ky": "chutich", "tra_ket_qua": "traketqua"}
RESULT_PDF = PDF_BYTES.replace(b"%PDF-1.4", b"%PDF-1.6")  # the electronic birth certificate, a blob of its own
KINSHIP = "giay_to_quan_he_nhan_than"  # thường trú's proof of kinship: takes a birth certificate (accepts)


@pytest.fixture(autouse=True)
def another_citizen(db_session: Any) -> None:
    """congdan2: a citizen with a store of their own (empty)."""
    from app.accounts import set_password
    from app.models import User

    if user("congdan2") is None:
        person = User(username="congdan2", full_name="Trần Thị Hai", roles=["cong_dan"])
        set_password(person, "demo123")
        db.session.add(person)
        db_session.commit()


def finished_birth_registration(db_session: Any, applicant: str = "congdan") -> str:
    """A khai sinh dossier of `applicant`, received, processed and handed back online with its electronic result."""
    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), user(applicant)),
                                      applicant=user(applicant))
    while True:
        task = db_session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id,
                                                         HumanTask.state == "ready"))
        if task is None:
            break
        officer = user(OFFICERS[task.role])
        services.claim_task(task.id, officer)
        data = task_data("khai-sinh", task.form)
        if task.role == "tra_ket_qua":
            upload = store_upload(RESULT_PDF, "giay-khai-sinh.pdf", "application/pdf", "ban_dien_tu", officer)
            data = {**data, "hinh_thuc_tra": "truc_tuyen", "ban_dien_tu": reference(upload)}
        services.complete_task(task.id, officer, data)
        db_session.commit()
    assert services.get_dossier(dossier.code).status == 10
    return dossier.code


def stored(username: str, origin: str) -> PersonalDocument:
    [doc] = db.session.scalars(select(PersonalDocument).where(PersonalDocument.owner_id == user(username).id,
                                                              PersonalDocument.origin == origin)).all()
    return doc


def residence_fields(**extra: Any) -> dict[str, Any]:
    """The thường trú form as a browser posts it, with the lawful-residence paper uploaded."""
    fields = {k: v for k, v in form_fields(start_data("thuong-tru")).items() if v != "FILE"}
    return {**fields, "__submit__": "1", "giay_to_cho_o_hop_phap": (io.BytesIO(PDF_BYTES), "so-do.pdf"), **extra}


def test_a_finished_dossier_fills_its_applicants_store(client, db_session, token):
    code = finished_birth_registration(db_session)
    result, component = stored("congdan", "result"), stored("congdan", "component")
    assert (result.kind, result.title) == ("giay_khai_sinh", "Giấy khai sinh (bản điện tử)")
    assert (component.kind, component.component_code) == ("giay_chung_sinh", "GCS")
    assert db.session.scalars(select(PersonalDocument).where(
        PersonalDocument.owner_id == user("congdan2").id)).all() == []

    login(client, "congdan")
    page = client.get("/kho-giay-to")
    assert page.status_code == 200
    html = lxml.html.fromstring(page.data)
    row = html.get_element_by_id(f"document-{result.id}").text_content()
    assert "Giấy khai sinh (bản điện tử)" in row and code in row and "Kết quả điện tử" in row
    assert "Còn hiệu lực" in row
    assert "Bản số hóa khi tiếp nhận" in html.get_element_by_id(f"document-{component.id}").text_content()
    link = html.get_element_by_id(f"document-{result.id}").xpath(".//a[contains(@href, '/tep/')]")[0].get("href")
    assert client.get(link).data == RESULT_PDF

    answer = client.get("/api/v1/my-documents", headers=token("congdan")).get_json()
    listed = {d["id"]: d for d in answer["documents"]}
    assert listed[result.id]["dossier_code"] == code and listed[result.id]["state"] == "valid"
    assert listed[result.id]["origin"] == "result" and listed[component.id]["kind"] == "giay_chung_sinh"
    assert client.get(listed[result.id]["href"], headers=token("congdan")).data == RESULT_PDF
    kind = client.get("/api/v1/my-documents?loai=giay_khai_sinh&con_hieu_luc=1", headers=token("congdan"))
    assert [d["id"] for d in kind.get_json()["documents"]] == [result.id]
    # nobody else reads them: the other citizen's store is empty, their guesses are "not found"
    assert client.get("/api/v1/my-documents", headers=token("congdan2")).get_json() == {"documents": []}
    assert client.get(f"/api/v1/my-documents/{result.id}", headers=token("congdan2")).status_code == 404
    assert client.get(f"/api/v1/my-documents/{result.id}", headers=token("congdan")).status_code == 200
    assert client.get(listed[result.id]["href"], headers=token("congdan2")).status_code == 404


def test_the_form_offers_the_stored_documents_of_the_kinds_each_field_takes(client, db_session):
    finished_birth_registration(db_session)
    result, component = stored("congdan", "result"), stored("congdan", "component")
    login(client, "congdan")
    html = lxml.html.fromstring(client.get("/thu-tuc/1.004222").data)
    offered = html.xpath(f"//input[@name='{KINSHIP}.__kho__']/@value")
    assert offered == ["", str(result.id)]  # "upload instead", then the birth certificate (accepted as kinship)
    assert html.xpath("//input[@name='giay_to_cho_o_hop_phap.__kho__']") == []  # no stored paper of that kind
    assert str(component.id) not in html.xpath("//input[contains(@name, '.__kho__')]/@value")  # not a kind asked
    label = html.xpath(f"//label[@for=//input[@value='{result.id}']/@id]")[0].text_content()
    assert "kết quả điện tử đã xác minh" in label
    login(client, "congdan2")
    assert lxml.html.fromstring(client.get("/thu-tuc/1.004222").data).xpath("//input[contains(@name, '__kho__')]") \
        == []


def test_a_new_dossier_takes_the_stored_result_and_the_officer_sees_where_it_came_from(client, db_session, jobs,
                                                                                      national):
    source = finished_birth_registration(db_session)
    result = stored("congdan", "result")
    login(client, "congdan")
    answer = client.post("/thu-tuc/1.004222", data=residence_fields(**{f"{KINSHIP}.__kho__": str(result.id)}),
                         content_type="multipart/form-data")
    assert answer.status_code == 302, lxml.html.fromstring(answer.data).text_content()[:2000]
    code = answer.headers["Location"].split("/ho-so/")[1].split("/")[0]
    dossier = services.get_dossier(code)
    copy = db.session.scalar(select(Attachment).where(Attachment.token == reference_token(dossier.form_data[KINSHIP])))
    original = db.session.get(Attachment, result.attachment_id)
    assert copy.dossier_id == dossier.id and copy.reused_from_id == result.id  # the dossier's own copy, traced
    assert copy.sha256 == original.sha256 and copy.id != original.id

    [kinship] = [c for c in received_components(dossier) if c["code"] == "QHNT"]
    assert kinship["uploaded"] and kinship["reused_from"]["dossier_code"] == source
    assert kinship["reused_from"]["origin"] == "result"
    sync = {c["ma"]: c for c in snapshot(dossier, 1)["thanh_phan"]}  # what the national portal is told
    assert sync["QHNT"]["tai_su_dung"] is True and sync["QHNT"]["so_hoa"] is True
    assert sync["CSHP"]["tai_su_dung"] is None

    pay_fee(client, jobs, code)  # thường trú's fee comes before reception
    reception = db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id,
                                                          HumanTask.state == "ready"))
    assert reception is not None and reception.role == "tiep_nhan"
    ticked = {"thanh_phan_da_nhan": ["CT01", "CSHP", "QHNT"], "quyet_dinh_tiep_nhan": "tiep_nhan"}
    assert reception_problems(dossier, ticked) == {}  # counted as given: the online dossier holds its file

    # The police's receiving officer sees where it came from, without a link to a dossier not theirs to open.
    login(client, "ca.tiepnhan")
    page = lxml.html.fromstring(client.get(f"/cong-viec/{reception.id}").data)
    origin = page.get_element_by_id(f"reused-{copy.id}").text_content()
    assert "lấy từ kết quả điện tử đã xác minh của hồ sơ" in origin and source in origin
    assert page.get_element_by_id(f"reused-{copy.id}").xpath(".//a[@class='reused-source']") == []
    assert client.get(page.get_element_by_id(f"reused-{copy.id}").xpath(".//a")[0].get("href")).data == RESULT_PDF
    # someone who may open the source dossier (its applicant, an administrator) is given the link
    [reused] = docstore.reused_in(dossier, user("congdan"))
    assert reused.may_open_source and not docstore.reused_in(dossier, user("ca.tiepnhan"))[0].may_open_source

    services.claim_task(reception.id, user("ca.tiepnhan"))
    services.complete_task(reception.id, user("ca.tiepnhan"), ticked)
    db_session.commit()
    assert services.get_dossier(code).status not in (1, 3)
    # the receipt (mẫu 01), issued at reception, says so
    from app.models import IssuedDocument

    receipt = db.session.scalar(select(IssuedDocument).where(IssuedDocument.dossier_id == dossier.id,
                                                             IssuedDocument.kind == "receipt"))
    [listed] = [c for c in receipt.content["components"] if c["name"] == kinship["name"]]
    assert listed["reused_from"] == source
    from app import documents

    assert documents.render(receipt).startswith(b"%PDF")
    # the digitization indicator (QĐ 766): received with a reused component
    from app.dossiers import indicators

    police = user("ca.tiepnhan").agency_id
    [row] = [r for r in indicators.progress(now_utc() - timedelta(days=1), now_utc() + timedelta(days=1), [police])
             if r.procedure_code == "1.004222"]
    assert (row.received_online, row.received_reused) == (1, 1)
    # taken from the store, it is not stored a second time; the lawful-residence paper is
    kinds = db.session.scalars(select(PersonalDocument.kind).where(PersonalDocument.dossier_id == dossier.id)).all()
    assert kinds == ["giay_to_cho_o_hop_phap"]


def _refused(client: Any, fields: dict[str, Any]) -> tuple[str, Any]:
    answer = client.post("/thu-tuc/1.004222", data=fields, content_type="multipart/form-data")
    assert answer.status_code == 422, answer.status_code
    html = lxml.html.fromstring(answer.data)
    return html.get_element_by_id(f"f-{KINSHIP}-error").text_content(), html


def test_someone_elses_another_kind_revoked_or_expired_is_refused_and_nothing_filled_is_lost(client, db_session,
                                                                                             token):
    finished_birth_registration(db_session)
    result, component = stored("congdan", "result"), stored("congdan", "component")
    before = db.session.scalar(select(db.func.count()).select_from(Dossier))

    login(client, "congdan2")  # another person's document: as if it did not exist
    message, html = _refused(client, residence_fields(**{f"{KINSHIP}.__kho__": str(result.id)}))
    assert "Không tìm thấy giấy tờ này trong kho giấy tờ của bạn" in message
    assert html.xpath("//input[@name='noi_de_nghi_dang_ky']/@value") == [start_data("thuong-tru")[
        "noi_de_nghi_dang_ky"]] or start_data("thuong-tru")["noi_de_nghi_dang_ky"] in html.text_content()

    login(client, "congdan")  # a birth certificate's medical paper is not proof of kinship
    message, _ = _refused(client, residence_fields(**{f"{KINSHIP}.__kho__": str(component.id)}))
    assert "không phải loại giấy tờ trường này yêu cầu" in message

    result.revoked_at, result.revoked_reason = now_utc(), "Cấp sai thông tin"
    db_session.commit()
    message, html = _refused(client, residence_fields(**{f"{KINSHIP}.__kho__": str(result.id)}))
    assert "đã bị cơ quan cấp thu hồi (Cấp sai thông tin)" in message
    assert start_data("thuong-tru")["chu_ho"]["ho_ten"] in lxml.html.tostring(html, encoding="unicode")

    result.revoked_at, result.valid_until = None, now_utc() - timedelta(days=1)
    db_session.commit()
    message, _ = _refused(client, residence_fields(**{f"{KINSHIP}.__kho__": str(result.id)}))
    assert "đã hết thời hạn sử dụng" in message
    # the API says the same, field by field, as a JSON pointer
    data = {**with_stored_uploads(start_data("thuong-tru"), user("congdan")), KINSHIP: {"kho_giay_to": result.id}}
    answer = client.post("/api/v1/procedures/1.004222/dossiers", json=data, headers=token("congdan"))
    assert answer.status_code == 422 and "hết thời hạn" in answer.get_json()["error"]["details"][f"/{KINSHIP}"]
    assert db.session.scalar(select(db.func.count()).select_from(Dossier)) == before  # nothing was created

    # The form shown again still holds the upload (the applicant's own, kept) and everything typed; once the
    # document is valid again, choosing it with the form as shown succeeds.
    message, html = _refused(client, residence_fields(**{f"{KINSHIP}.__kho__": str(result.id)}))
    kept = html.xpath("//input[@type='hidden'][@name='giay_to_cho_o_hop_phap']/@value")
    assert kept and kept[0].endswith("/so-do.pdf")
    assert html.xpath(f"//input[@name='{KINSHIP}.__kho__']/@value") == []  # expired: no longer offered
    result.valid_until = None
    db_session.commit()
    fields = {**residence_fields(**{f"{KINSHIP}.__kho__": str(result.id)}), "giay_to_cho_o_hop_phap": kept[0]}
    answer = client.post("/thu-tuc/1.004222", data=fields, content_type="multipart/form-data")
    assert answer.status_code == 302, lxml.html.fromstring(answer.data).text_content()[:1500]


def test_the_api_submits_with_a_stored_document_and_its_agency_revokes_it(client, db_session, token):
    source = finished_birth_registration(db_session)
    result = stored("congdan", "result")
    data = {**with_stored_uploads(start_data("thuong-tru"), user("congdan")), KINSHIP: {"kho_giay_to": result.id}}
    db_session.commit()
    answer = client.post("/api/v1/procedures/1.004222/dossiers", json=data, headers=token("congdan"))
    assert answer.status_code == 201, answer.get_json()
    full = client.get(answer.get_json()["href"], headers=token("congdan")).get_json()
    [kinship] = [c for c in full["components_received"] if c["code"] == "QHNT"]
    assert kinship["reused_from"] == {"document_id": result.id, "origin": "result", "title": result.title,
                                      "dossier_code": source}
    assert full["data"][KINSHIP] != reference(db.session.get(Attachment, result.attachment_id))  # its own copy

    url = f"/api/v1/personal-documents/{result.id}/revoke"
    assert client.post(url, json={"ly_do": "Sai"}, headers=token("ca.tiepnhan")).status_code == 404  # not theirs
    assert client.post(url, json={"ly_do": "Sai"}, headers=token("congdan")).status_code == 403  # the owner
    revoked = client.post(url, json={"ly_do": "Cấp sai ngày sinh"}, headers=token("chutich"))
    assert revoked.status_code == 200 and revoked.get_json()["state"] == "revoked"
    mine = client.get(f"/api/v1/my-documents/{result.id}", headers=token("congdan")).get_json()
    assert mine["state"] == "revoked" and mine["revoked_reason"] == "Cấp sai ngày sinh"
    again = client.post("/api/v1/procedures/1.004222/dossiers", json=data, headers=token("congdan"))
    assert again.status_code == 422 and "thu hồi" in again.get_json()["error"]["details"][f"/{KINSHIP}"]


def test_an_officer_of_the_issuing_agency_revokes_from_the_dossier_page(client, db_session):
    code = finished_birth_registration(db_session)
    result = stored("congdan", "result")
    login(client, "ca.tiepnhan")
    assert client.post(f"/can-bo/kho-giay-to/{result.id}/thu-hoi", data={"ly_do": "x"}).status_code == 404
    login(client, "tiepnhan")
    page = lxml.html.fromstring(client.get(f"/can-bo/ho-so/{code}").data)
    assert page.get_element_by_id(f"stored-{result.id}") is not None
    answer = client.post(f"/can-bo/kho-giay-to/{result.id}/thu-hoi", data={"ly_do": "Cấp nhầm"})
    assert answer.status_code == 303
    db.session.expire_all()
    assert db.session.get(PersonalDocument, result.id).revoked_reason == "Cấp nhầm"
    login(client, "congdan")
    html = lxml.html.fromstring(client.get("/kho-giay-to").data)
    assert "Đã bị thu hồi" in html.get_element_by_id(f"document-{result.id}").text_content()
    assert lxml.html.fromstring(client.get("/thu-tuc/1.004222").data).xpath(
        f"//input[@name='{KINSHIP}.__kho__']") == []  # no longer offered


def test_result_documents_must_name_a_result_field_of_the_package():
    from app.procedures.declarations import declaration_problems

    schema = {"type": "object", "properties": {"tep": {"type": "string", "contentMediaType": "application/pdf"}}}
    forms = {"a.schema.json": schema, "a.ui.json": {"ui:result": "tep"}}
    manifest = {"result_documents": {"tep": {"kind": "giay_khai_sinh", "title": "Giấy khai sinh"}}}
    assert declaration_problems(manifest, None, forms) == []
    [unknown] = declaration_problems({"result_documents": {"ban_sao": {"kind": "x_y", "title": "X"}}}, None, forms)
    assert unknown.code == "result_document_unknown" and unknown.pointer == "/result_documents/ban_sao"


def test_a_component_brought_by_a_supplement_is_stored_too(db_session):
    from datetime import date

    from app.dossiers import desk

    dossier = services.submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), user("congdan")),
                                      applicant=user("congdan"))
    reception = db_session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id))
    services.complete_task(reception.id, user("tiepnhan"), task_data("khai-sinh", reception.form))
    examination = db_session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id,
                                                            HumanTask.state == "ready"))
    services.claim_task(examination.id, user("hotich"))
    desk.request_supplement(dossier.code, user("hotich"), reason="Giấy chứng sinh bị mờ.",
                            components=[{"code": "GCS", "note": "bản rõ nét"}], deadline=date(2030, 1, 31))
    clearer = PDF_BYTES.replace(b"%PDF-1.4", b"%PDF-1.5")
    upload = store_upload(clearer, "giay-chung-sinh-ro.pdf", "application/pdf", "bo_sung/0", user("congdan"))
    desk.answer_supplement(dossier.code, user("congdan"), files={"0": reference(upload)})
    stored_now = db.session.scalars(select(PersonalDocument).where(PersonalDocument.dossier_id == dossier.id)
                                    .order_by(PersonalDocument.id)).all()
    assert [(d.component_code, d.kind) for d in stored_now] == [("GCS", "giay_chung_sinh")] * 2
    assert stored_now[-1].attachment_id == upload.id  # the clearer copy the supplement brought

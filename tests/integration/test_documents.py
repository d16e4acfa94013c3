"""The documents the platform issues (Thông tư 01/2018/TT-VPCP, mẫu 01–05) as PDFs, for a real dossier: the
receipt issued at reception, the supplement request, refusal and apology issued through `documents.issue`, and
the control sheet of the steps taken. Each PDF's text is read back (Vietnamese diacritics included), its QR code
is decoded from the rendered page, and only those entitled to the dossier can download it.

Set PDF_PNG_DIR to keep a PNG of each document's first page (to look at them)."""

from __future__ import annotations

import ctypes
import io
import os
from datetime import timedelta

import lxml.html
import pypdfium2
import pypdfium2.raw as pdfium
import pytest
import zxingcpp
from sqlalchemy import select

from app import documents
from app.accounts import issue_token
from app.dossiers import events, services
from app.extensions import db
from app.models import Dossier, HumanTask, IssuedDocument, User
from tests.conftest import login, user
from tests.samples import client_uploader, start_data, task_data, with_uploads

CODE = "1.001193"


def submit_and_receive(client, token):
    citizen, reception = token("congdan"), token("tiepnhan")
    data = with_uploads(client_uploader(client), citizen, start_data("khai-sinh"))
    created = client.post(f"/api/v1/procedures/{CODE}/dossiers", json=data, headers=citizen)
    assert created.status_code == 201, created.get_json()
    code, [task] = created.get_json()["code"], created.get_json()["tasks"]
    assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=reception).status_code == 200
    done = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=reception,
                       json=task_data("khai-sinh", "tiep-nhan.schema.json"))
    assert done.status_code == 200, done.get_json()
    return code


def complete_next(client, token, code, username, form):
    headers = token(username)
    [task] = client.get(f"/api/v1/dossiers/{code}", headers=headers).get_json()["tasks"]
    assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=headers).status_code == 200
    done = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers, json=task_data("khai-sinh", form))
    assert done.status_code == 200, done.get_json()


# The one font family the documents use: every letter of Vietnamese has its glyph there, so none is drawn by a
# fallback font or as an empty box.
FONTS = {"DejaVu-Serif", "DejaVu-Serif-Bold", "DejaVu-Serif-Italic", "DejaVu-Serif-BoldItalic"}


def pdf_text(data: bytes) -> str:
    """The PDF's text, after checking that every character of it is drawn in the documents' font."""
    assert data.startswith(b"%PDF-")
    pdf = pypdfium2.PdfDocument(data)
    fonts: dict[str, set[str]] = {}
    for page in pdf:
        textpage = page.get_textpage()
        for index in range(textpage.count_chars()):
            char = chr(pdfium.FPDFText_GetUnicode(textpage.raw, index))
            if char.isspace():
                continue
            name, flags = ctypes.create_string_buffer(256), ctypes.c_int()
            pdfium.FPDFText_GetFontInfo(textpage.raw, index, name, 256, ctypes.byref(flags))
            fonts.setdefault(name.value.decode().split("+")[-1], set()).add(char)
    assert set(fonts) <= FONTS, {font: chars for font, chars in fonts.items() if font not in FONTS}
    return "\n".join(page.get_textpage().get_text_range() for page in pdf)


def page_image(data: bytes, name: str):
    image = pypdfium2.PdfDocument(data)[0].render(scale=3).to_pil()
    keep = os.environ.get("PDF_PNG_DIR")
    if keep:
        image.save(os.path.join(keep, f"{name}.png"))
    return image


def qr_payloads(data: bytes, name: str) -> list[str]:
    return [found.text for found in zxingcpp.read_barcodes(page_image(data, name))
            if found.format == zxingcpp.BarcodeFormat.QRCode]


def flat(text: str) -> str:
    return " ".join(text.split())


def test_the_receipt_is_issued_at_reception_and_downloaded_by_the_applicant(app, client, token):
    code = submit_and_receive(client, token)
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    [receipt] = db.session.scalars(select(IssuedDocument).where(IssuedDocument.dossier_id == dossier.id)).all()
    assert (receipt.kind, receipt.sequence, receipt.number, receipt.issued_by_name) == (
        "receipt", 1, "01/GTN", "Nguyễn Thị Tiếp")

    login(client, "congdan")
    page = lxml.html.fromstring(client.get(f"/ho-so/{code}").data)
    link = page.get_element_by_id("document-receipt-1").get("href")
    assert link == f"/ho-so/{code}/van-ban/{receipt.id}"
    assert not page.xpath("//*[@id='control-sheet']")  # the agency's own sheet is not the applicant's
    receipt_page = lxml.html.fromstring(client.get(f"/ho-so/{code}/bien-nhan").data)
    assert receipt_page.get_element_by_id("document-receipt-1").get("href") == link
    response = client.get(link)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "private, no-store"
    text = flat(pdf_text(response.data))
    for expected in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
                     "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ", f"Mã hồ sơ: {code}", "Nguyễn Văn An",
                     "001090012345", "1.001193 — Đăng ký khai sinh", "Nguyễn Minh Khang", "Trực tuyến",
                     "Giấy chứng sinh", "Số lượng hồ sơ: 01 (bộ)", "Người tiếp nhận hồ sơ".upper(),
                     "Nguyễn Thị Tiếp", "UBND PHƯỜNG BA ĐÌNH", "Số: 01/GTN", "Mẫu số 01"):
        assert expected in text, (expected, text)
    # The appointment and the processing time are the dossier's, as the deadline rules computed them.
    due = dossier.due_at.astimezone(documents.content.local_tz())
    assert f"Thời gian trả kết quả giải quyết hồ sơ: {due:%H} giờ {due:%M} phút, ngày {due:%d} tháng {due:%m}" in text
    rule = services.processing_rule(dossier.procedure_version.manifest, dossier.agency, dossier.channel,
                                    dossier.received_at).text
    assert flat(rule) in text
    assert qr_payloads(response.data, "receipt") == [f"http://127.0.0.1:5000/tra-cuu?ma={code}"]
    # The QR leads to the public look-up page, which shows this dossier.
    assert client.get(f"/tra-cuu?ma={code}").status_code == 200

    # What was issued stays what it says: the same bytes later, even after the dossier's appointment moved.
    dossier.due_at = dossier.due_at + timedelta(days=3)
    dossier.applicant_address = "Số 1 phố Khác"
    db.session.flush()
    assert client.get(link).data == response.data


def test_the_qr_code_opens_the_portal_s_public_look_up(app):
    with app.test_request_context():
        from flask import url_for

        assert url_for("portal.lookup") == documents.content.PUBLIC_LOOKUP_PATH


def test_another_citizen_or_agency_cannot_download(app, client, token):
    code = submit_and_receive(client, token)
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    [receipt] = documents.documents_of(dossier, for_applicant=True)
    other = User(username="congdan.khac", full_name="Trần Thị Khác", roles=["cong_dan"], personal_id="001190054321")
    db.session.add(other)
    db.session.flush()
    headers = {"Authorization": f"Bearer {issue_token(other, 1)}"}
    db.session.commit()
    assert client.get(f"/api/v1/dossiers/{code}/documents", headers=headers).status_code == 403
    assert client.get(f"/api/v1/dossiers/{code}/documents/{receipt.id}", headers=headers).status_code == 403
    assert client.get(f"/api/v1/dossiers/{code}/documents/{receipt.id}",
                      headers=token("ca.tiepnhan")).status_code == 403  # an officer of another agency
    login(client, "ca.tiepnhan")
    assert client.get(f"/ho-so/{code}/van-ban/{receipt.id}").status_code == 403
    assert client.get(f"/can-bo/ho-so/{code}/phieu-kiem-soat").status_code == 403
    login(client, "congdan")
    assert client.get(f"/ho-so/{code}/van-ban/{receipt.id + 10_000}").status_code == 404
    assert client.get(f"/can-bo/ho-so/{code}/phieu-kiem-soat").status_code == 403  # the agency's sheet


def test_supplement_refusal_and_apology_documents(app, client, token):
    code = submit_and_receive(client, token)
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    officer = user("hotich")
    deadline = dossier.received_at + timedelta(days=5)
    supplement = documents.issue(dossier, "supplement", officer, reason="Giấy chứng sinh bị mờ, không đọc được.",
                                 components=["Giấy chứng sinh (bản rõ nét)", "Văn bản ủy quyền"], deadline=deadline)
    new_due = dossier.due_at + timedelta(days=2)
    apology = documents.issue(dossier, "apology", user("chutich"), reason="Phải xác minh thông tin người mẹ.",
                              new_due=new_due)
    # Code inside the dossier core publishes the event instead; the hook issues it.
    with app.test_request_context():
        events.publish(events.document_owed, dossier=dossier, kind="refusal", actor=user("tiepnhan"),
                       context={"reason": "Hồ sơ không thuộc thẩm quyền giải quyết của UBND phường."})
    refusal = db.session.scalar(select(IssuedDocument).where(IssuedDocument.dossier_id == dossier.id,
                                                             IssuedDocument.kind == "refusal"))
    second = documents.issue(dossier, "supplement", officer, reason="Thiếu bản sao.", components="Bản sao giấy tờ",
                             deadline=deadline.isoformat())
    db.session.flush()
    assert (supplement.number, second.number, apology.number, refusal.number) == (
        "01/PYCBS", "02/PYCBS", "01/PXL", "01/PTC")
    with pytest.raises(documents.DocumentError):
        documents.issue(dossier, "refusal", officer)  # a refusal says why
    with pytest.raises(documents.DocumentError):
        documents.issue(dossier, "supplement", officer, reason="x", deadline=deadline)  # and what to add
    db.session.commit()

    expected = {
        supplement: ("PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ", "Giấy chứng sinh bị mờ, không đọc được.",
                     "Giấy chứng sinh (bản rõ nét)", "Văn bản ủy quyền", "Trần Văn Hộ", "Nguyễn Thị Tiếp",
                     "Thời hạn bổ sung, hoàn thiện hồ sơ", "Mẫu số 02"),
        refusal: ("PHIẾU TỪ CHỐI TIẾP NHẬN, GIẢI QUYẾT HỒ SƠ",
                  "Hồ sơ không thuộc thẩm quyền giải quyết của UBND phường.", "Nguyễn Thị Tiếp", "Mẫu số 03"),
        apology: ("PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ", "Phải xác minh thông tin người mẹ.", "Lê Minh Chủ",
                  "Kính gửi: Ông/Bà Nguyễn Văn An", "Mẫu số 04"),
    }
    tz = documents.content.local_tz()
    login(client, "congdan")
    page = lxml.html.fromstring(client.get(f"/ho-so/{code}").data)
    for doc, phrases in expected.items():
        link = page.get_element_by_id(f"document-{doc.kind}-{doc.sequence}").get("href")
        data = client.get(link).data
        text = flat(pdf_text(data))
        for phrase in (*phrases, f"Mã hồ sơ: {code}", "1.001193 — Đăng ký khai sinh", "Nguyễn Văn An",
                       "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"):
            assert phrase in text, (doc.kind, phrase, text)
        assert qr_payloads(data, doc.kind) == [f"http://127.0.0.1:5000/tra-cuu?ma={code}"]
    apology_text = flat(pdf_text(documents.render(apology)))
    old, new = dossier.due_at.astimezone(tz), new_due.astimezone(tz)
    assert f"{old:%H} giờ {old:%M} phút, ngày {old:%d} tháng {old:%m} năm {old:%Y}" in apology_text
    assert f"{new:%H} giờ {new:%M} phút, ngày {new:%d} tháng {new:%m} năm {new:%Y}" in apology_text
    limit = deadline.astimezone(tz)
    assert f"ngày {limit:%d} tháng {limit:%m} năm {limit:%Y}" in flat(pdf_text(documents.render(supplement)))

    # The API lists the same documents and serves their PDFs to the applicant.
    listed = client.get(f"/api/v1/dossiers/{code}/documents", headers=token("congdan"))
    assert listed.status_code == 200
    assert [(d["kind"], d["number"]) for d in listed.get_json()["documents"]] == [
        ("receipt", "01/GTN"), ("supplement", "01/PYCBS"), ("apology", "01/PXL"), ("refusal", "01/PTC"),
        ("supplement", "02/PYCBS")]
    first = listed.get_json()["documents"][1]
    pdf = client.get(first["href"], headers=token("congdan"))
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert "PHIẾU YÊU CẦU BỔ SUNG" in pdf_text(pdf.data)


def test_the_control_sheet_shows_each_step(app, client, token):
    code = submit_and_receive(client, token)
    complete_next(client, token, code, "hotich", "tham-dinh.schema.json")
    complete_next(client, token, code, "chutich", "ky-duyet.schema.json")
    login(client, "tiepnhan")
    page = lxml.html.fromstring(client.get(f"/ho-so/{code}").data)
    link = page.get_element_by_id("control-sheet").get("href")
    assert link == f"/can-bo/ho-so/{code}/phieu-kiem-soat"
    response = client.get(link)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = flat(pdf_text(response.data))
    for phrase in ("PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ", f"Mã hồ sơ: {code}", "Nguyễn Văn An → Nguyễn Thị Tiếp",
                   "Nguyễn Thị Tiếp → Trần Văn Hộ", "Trần Văn Hộ → Lê Minh Chủ", "Lê Minh Chủ →",
                   "Đồng ý cấp giấy khai sinh.",
                   "Được tiếp nhận", "Mẫu số 05"):
        assert phrase in text, (phrase, text)
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    rows = documents.control_content(dossier)["rows"]
    assert [r["step"] for r in rows][:3] == [t for t in ("Tiếp nhận hồ sơ", "Thẩm định hồ sơ", "Ký duyệt")
                                             if t] or len(rows) == 4
    assert all(r["verdict"] in ("Trước hạn", "Đúng hạn", "Quá hạn", "Đang xử lý, trong hạn",
                                "Đang xử lý, quá hạn", "") for r in rows)
    assert qr_payloads(response.data, "control") == [f"http://127.0.0.1:5000/tra-cuu?ma={code}"]
    # The officer's task page links it too; the API serves it to the agency only.
    [task] = client.get(f"/api/v1/dossiers/{code}", headers=token("traketqua")).get_json()["tasks"]
    login(client, "traketqua")
    task_page = lxml.html.fromstring(client.get(f"/cong-viec/{task['id']}").data)
    assert task_page.get_element_by_id("control-sheet").get("href") == link
    assert task_page.get_element_by_id("document-receipt-1") is not None
    api = client.get(f"/api/v1/dossiers/{code}/control-sheet", headers=token("traketqua"))
    assert api.status_code == 200 and "PHIẾU KIỂM SOÁT" in pdf_text(api.data)
    assert client.get(f"/api/v1/dossiers/{code}/control-sheet", headers=token("congdan")).status_code == 403
    # Recorded on demand, it keeps what it said.
    issued = documents.issue(dossier, "control", user("traketqua"))
    assert [r["step"] for r in issued.content["rows"]] == [r["step"] for r in rows]


def test_a_pdf_renders_the_same_bytes_twice(app, client, token):
    code = submit_and_receive(client, token)
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    [receipt] = documents.documents_of(dossier, for_applicant=True)
    assert documents.render(receipt) == documents.render(receipt)
    assert io.BytesIO(documents.render(receipt)).getbuffer().nbytes < 200_000


def test_documents_are_in_vietnamese_whatever_the_reader_s_language(app, client, token):
    """A receipt issued while the officer reads English is still the regulation's Vietnamese form."""
    citizen, reception = token("congdan"), token("tiepnhan")
    data = with_uploads(client_uploader(client), citizen, start_data("khai-sinh"))
    created = client.post(f"/api/v1/procedures/{CODE}/dossiers", json=data, headers=citizen).get_json()
    [task] = created["tasks"]
    client.set_cookie("lang", "en")
    assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=reception).status_code == 200
    done = client.post(f"/api/v1/tasks/{task['id']}/complete?lang=en", headers=reception,
                       json=task_data("khai-sinh", "tiep-nhan.schema.json"))
    assert done.status_code == 200
    listed = client.get(f"/api/v1/dossiers/{created['code']}/documents?lang=en", headers=citizen).get_json()
    [receipt] = listed["documents"]
    assert receipt["title"] == "Giấy tiếp nhận hồ sơ và hẹn trả kết quả"
    text = flat(pdf_text(client.get(receipt["href"] + "?lang=en", headers=citizen).data))
    assert "Trả kết quả trong ngày tiếp nhận hồ sơ" in text and "Same day" not in text


def test_the_control_sheet_shows_a_step_sent_back_with_its_reason(app, client, token):
    code = submit_and_receive(client, token)
    complete_next(client, token, code, "hotich", "tham-dinh.schema.json")
    leader = token("chutich")
    [task] = client.get(f"/api/v1/dossiers/{code}", headers=leader).get_json()["tasks"]
    assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=leader).status_code == 200
    sent_back = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=leader,
                            json={"phe_duyet": False, "y_kien": "Sai năm sinh của người mẹ."})
    assert sent_back.status_code == 200, sent_back.get_json()
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    rows = documents.control_content(dossier)["rows"]
    assert [r["returned"] for r in rows] == [False, False, True, False]
    assert rows[2]["taken_by"] == "Lê Minh Chủ" and rows[3]["handed_by"] == "Lê Minh Chủ"
    sheet = documents.control_sheet(dossier)
    page_image(sheet, "control-sent-back")
    text = flat(pdf_text(sheet))
    assert "Trả lại: Sai năm sinh của người mẹ." in text


def test_a_character_the_font_lacks_would_be_caught(app, client, token):
    """The font check above sees a glyph drawn by a fallback font (the đồng sign is not in DejaVu Serif)."""
    code = submit_and_receive(client, token)
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    [receipt] = documents.documents_of(dossier, for_applicant=True)
    content = {**receipt.content, "summary": "Lệ phí 8.000 ₫"}
    with pytest.raises(AssertionError, match="₫"):
        pdf_text(documents.render_content("receipt", content, number=receipt.number, issued_by=""))


def test_documents_in_the_embedded_mode_on_sqlite(sqlite_app):
    """The numbering taken in the INSERT works on SQLite too: the receipt at reception, then 1, 2 of a kind."""
    from tests.samples import with_stored_uploads

    applicant = user("congdan")
    data = with_stored_uploads(start_data("khai-sinh"), applicant)
    dossier = services.submit_dossier(CODE, data, applicant=applicant)
    db.session.commit()
    task = db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id))
    services.claim_task(task.id, user("tiepnhan"))
    services.complete_task(task.id, user("tiepnhan"), task_data("khai-sinh", "tiep-nhan.schema.json"))
    db.session.commit()
    for reason in ("Thiếu giấy tờ.", "Vẫn thiếu giấy tờ."):
        documents.issue(dossier, "supplement", user("hotich"), reason=reason, components=["Giấy chứng sinh"],
                        deadline=dossier.due_at)
    db.session.commit()
    issued = documents.documents_of(dossier, for_applicant=True)
    assert [d.number for d in issued] == ["01/GTN", "01/PYCBS", "02/PYCBS"]
    assert "Vẫn thiếu giấy tờ." in flat(pdf_text(documents.render(issued[2])))

"""Uploaded files: checked against the field and their own name, served under a safe name and type, opened
by everyone entitled to the dossier (and nobody else), and never taken away from a dossier by reuse."""

from __future__ import annotations

import io

import lxml.html
from PIL import Image
from sqlalchemy import select

from app.extensions import db
from app.models import Attachment, Dossier, HumanTask
from tests.conftest import login
from tests.samples import PDF_BYTES, client_uploader, form_fields, start_data, with_uploads

EVIL = b"%PDF-1.4\n<html><body><script>alert(document.cookie)</script></body></html>\n"


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def upload(client, headers, name, blob):
    return client.post("/api/v1/attachments", headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(blob), name)})


def token_of(reference: str) -> str:
    return reference.split("/", 1)[0]


def submit_api(client, headers, data):
    return client.post("/api/v1/procedures/1.001193/dossiers", json=data, headers=headers)


def links(html: bytes) -> list[str]:
    return [a for a in lxml.html.fromstring(html).xpath("//a/@href") if a.startswith("/tep/")]


# ---------------------------------------------------------------- what is accepted


def test_a_file_must_be_what_its_name_says(client, token):
    headers = token("congdan")
    refused = upload(client, headers, "evil.html", EVIL)
    assert refused.status_code == 422
    assert "PDF" in refused.get_json()["error"]["message"] or refused.get_json()["error"]["details"]
    assert upload(client, headers, "giay-to", PDF_BYTES).status_code == 422  # no extension at all
    assert upload(client, headers, "anh.pdf", png_bytes()).status_code == 422  # a PNG calling itself PDF
    assert upload(client, headers, "evil.pdf", EVIL).status_code == 422  # PDF header, no PDF inside
    assert upload(client, headers, "giay-to.PDF", PDF_BYTES).status_code == 201
    assert upload(client, headers, "anh.png", png_bytes()).status_code == 201


def test_a_png_does_not_pass_a_pdf_only_field(client, token):
    headers = token("congdan")
    png = upload(client, headers, "anh.png", png_bytes()).get_json()["reference"]
    data = start_data("khai-sinh", files_as=png)
    data.pop("van_ban_uy_quyen", None)
    response = submit_api(client, headers, data)
    assert response.status_code == 422
    assert "PDF" in response.get_json()["error"]["details"]["/giay_chung_sinh"]
    # and through the web form, where the field's accept list is known at upload time
    login(client, "congdan")
    fields = {k: v for k, v in form_fields(start_data("khai-sinh")).items() if v != "FILE"}
    fields.update({"__submit__": "1", "giay_chung_sinh": (io.BytesIO(png_bytes()), "anh.png")})
    page = client.post("/thu-tuc/1.001193", data=fields, content_type="multipart/form-data")
    assert page.status_code == 422
    assert "PDF" in lxml.html.fromstring(page.data).get_element_by_id("f-giay_chung_sinh-error").text_content()


# ---------------------------------------------------------------- how it is served


def test_files_are_served_under_a_safe_name_with_their_verified_type(client, token):
    headers = token("congdan")
    created = submit_api(client, headers, with_uploads(client_uploader(client), headers, start_data("khai-sinh")))
    assert created.status_code == 201, created.get_json()
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == created.get_json()["code"]))
    login(client, "congdan")
    response = client.get(f"/tep/{token_of(dossier.form_data['giay_chung_sinh'])}")
    assert response.status_code == 200 and response.data == PDF_BYTES
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("inline;")
    assert response.headers["Content-Disposition"] == (
        "inline; filename=\"giay_chung_sinh.pdf\"; filename*=UTF-8''giay_chung_sinh.pdf")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert "no-store" in response.headers["Cache-Control"]

    uploaded = upload(client, headers, "../../ảnh <x>.png", png_bytes()).get_json()["reference"]
    image = db.session.scalar(select(Attachment).where(Attachment.token == token_of(uploaded)))
    served = client.get(f"/tep/{image.token}")
    assert served.mimetype == "image/png" and served.headers["Content-Disposition"].startswith("inline;")
    assert "sandbox" in served.headers["Content-Security-Policy"]
    assert "<" not in served.headers["Content-Disposition"] and ".." not in served.headers["Content-Disposition"]

    image.content_type = "application/octet-stream"  # anything not verified as PDF or image is a download
    db.session.flush()
    download = client.get(f"/tep/{image.token}")
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.mimetype == "application/octet-stream"


# ---------------------------------------------------------------- who opens it


def submit_via_portal(client):
    from tests.integration.test_web import submit_via_portal as submit

    location = submit(client)
    return db.session.scalar(select(Dossier).where(Dossier.code == location.rstrip("/").split("/")[-2]))


def test_everyone_entitled_to_the_dossier_opens_its_files_from_its_pages(client):
    dossier = submit_via_portal(client)
    file_url = f"/tep/{token_of(dossier.form_data['giay_chung_sinh'])}"
    # the applicant, on the dossier page
    assert file_url in links(client.get(f"/ho-so/{dossier.code}").data)
    assert client.get(file_url).data == PDF_BYTES
    client.post("/dang-xuat")
    # an officer of the dossier's agency, on the dossier page and on the task page
    login(client, "tiepnhan")
    assert file_url in links(client.get(f"/ho-so/{dossier.code}").data)
    task = db.session.scalar(select(HumanTask).where(HumanTask.dossier_id == dossier.id))
    task_page = client.get(f"/cong-viec/{task.id}").data
    assert file_url in links(task_page)
    anchor = lxml.html.fromstring(task_page).xpath(f"//a[@href='{file_url}']")[0]
    assert anchor.get("target") == "_blank"
    assert client.get(file_url).data == PDF_BYTES
    client.post("/dang-xuat")
    # an officer of another agency: the file does not exist for them
    login(client, "ca.cutru")
    assert client.get(file_url).status_code == 404
    client.post("/dang-xuat")
    # nobody logged in: sent to log in, nothing served
    anonymous = client.get(file_url)
    assert anonymous.status_code == 302 and "/dang-nhap" in anonymous.location


# ---------------------------------------------------------------- reuse


def test_reusing_a_reference_copies_it_and_the_first_dossier_keeps_its_file(client, token):
    headers = token("congdan")
    first = submit_api(client, headers, with_uploads(client_uploader(client), headers, start_data("khai-sinh")))
    assert first.status_code == 201
    one = db.session.scalar(select(Dossier).where(Dossier.code == first.get_json()["code"]))
    reference = one.form_data["giay_chung_sinh"]
    second = submit_api(client, headers, {**start_data("khai-sinh", files_as=reference)})
    assert second.status_code == 201, second.get_json()
    two = db.session.scalar(select(Dossier).where(Dossier.code == second.get_json()["code"]))
    original = db.session.scalar(select(Attachment).where(Attachment.token == token_of(reference)))
    assert original.dossier_id == one.id
    copy = db.session.scalar(select(Attachment).where(Attachment.token == token_of(two.form_data["giay_chung_sinh"])))
    assert copy.id != original.id and copy.dossier_id == two.id and copy.sha256 == original.sha256
    login(client, "tiepnhan")  # officers of the first dossier still open its file
    assert client.get(f"/tep/{original.token}").data == PDF_BYTES
    assert f"/tep/{original.token}" in links(client.get(f"/ho-so/{one.code}").data)
    assert client.get(f"/tep/{copy.token}").data == PDF_BYTES
    # someone neither the uploader nor entitled to the first dossier cannot reuse its file
    refused = submit_api(client, token("ca.cutru"), start_data("khai-sinh", files_as=reference))
    assert refused.status_code == 422 and "/giay_chung_sinh" in refused.get_json()["error"]["details"]


def test_an_entitled_officer_reuses_a_file_as_a_copy_and_others_may_not(db_session):
    import pytest

    from app.dossiers.attachments import claim_references
    from app.dossiers.errors import Invalid
    from app.dossiers.services import may_view, submit_dossier
    from tests.conftest import user
    from tests.samples import with_stored_uploads

    citizen = user("congdan")
    first = submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), citizen), applicant=citizen)
    second = submit_dossier("1.001193", with_stored_uploads(start_data("khai-sinh"), citizen), applicant=citizen)
    schema = {"type": "object", "properties": {"tep": {"type": "string", "contentMediaType": "application/pdf"}}}
    reference = first.form_data["giay_chung_sinh"]
    data = {"tep": reference}
    assert claim_references(schema, data, user("tiepnhan"), second, may_view) is True
    copy = db.session.scalar(select(Attachment).where(Attachment.token == token_of(data["tep"])))
    assert copy.dossier_id == second.id and copy.field_path == "tep" and data["tep"] != reference
    assert db.session.scalar(select(Attachment).where(Attachment.token == token_of(reference))).dossier_id == first.id
    assert claim_references(schema, dict(data), user("tiepnhan"), second, may_view) is False  # already its own
    with pytest.raises(Invalid) as refused:
        claim_references(schema, {"tep": reference}, user("ca.cutru"), second, may_view)
    assert "/tep" in refused.value.details

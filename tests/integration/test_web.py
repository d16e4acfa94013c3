"""The three web faces through the real app: citizen portal, officer inbox, designer studio."""

from __future__ import annotations

import io
import re

import lxml.html
from sqlalchemy import select

from app.extensions import db
from app.models import Dossier, HumanTask
from tests.conftest import login
from tests.samples import PDF_BYTES, form_fields, start_data, task_data


def page(response):
    return lxml.html.fromstring(response.data)


def test_catalogue_search_ignores_accents(client):
    assert "Đăng ký khai sinh" in client.get("/?q=dang ky khai sinh").get_data(as_text=True)
    html = client.get("/?q=1.004222").get_data(as_text=True)
    assert "Đăng ký thường trú" in html and "Đăng ký khai sinh" not in html
    assert "Không tìm thấy thủ tục" in client.get("/?q=xyzxyz").get_data(as_text=True)


def test_submit_requires_login_and_shows_vietnamese_errors(client):
    response = client.post("/thu-tuc/1.001193", data={})
    assert response.status_code == 302 and "/dang-nhap" in response.location
    login(client, "congdan")
    response = client.post("/thu-tuc/1.001193", data={"__submit__": "1"})
    assert response.status_code == 422
    tree = page(response)
    assert tree.xpath("//*[@aria-invalid='true']")
    assert "Vui lòng nhập" in tree.get_element_by_id("form-errors").text_content()
    assert db.session.scalar(select(Dossier).limit(1).where(Dossier.applicant_name == "Nguyễn Văn An")) is None


def submit_via_portal(client, slug="khai-sinh", code="1.001193"):
    login(client, "congdan")
    fields = form_fields(start_data(slug))
    fields["__submit__"] = "1"
    file_fields = {k: (io.BytesIO(PDF_BYTES), "giay-to.pdf") for k, v in list(fields.items()) if v == "FILE"}
    for key in file_fields:
        del fields[key]
    response = client.post(f"/thu-tuc/{code}", data={**fields, **file_fields}, content_type="multipart/form-data")
    assert response.status_code == 302, page(response).text_content()[:2000]
    return response.location


def test_portal_submission_gives_receipt_with_code_and_appointment(client):
    location = submit_via_portal(client)
    receipt = client.get(location)
    tree = page(receipt)
    code = tree.get_element_by_id("dossier-code").text_content().strip()
    assert re.fullmatch(r"000\.00\.01\.H26-\d{6}-\d{4}", code)
    assert re.fullmatch(r"17:00 \d{2}/\d{2}/\d{4}", tree.get_element_by_id("due-date").text_content().strip())
    assert "Giấy chứng sinh" in tree.get_element_by_id("receipt").text_content()
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    assert dossier.status == 1 and dossier.applicant_name
    # The uploaded PDF is linked to the dossier and reachable by its owner only.
    ref = start_ref = dossier.form_data["giay_chung_sinh"]
    assert start_ref and "/" in ref
    token = ref.split("/")[0]
    assert client.get(f"/tep/{token}").data == PDF_BYTES
    client.post("/dang-xuat")
    login(client, "ca.cutru")  # an officer of another agency
    assert client.get(f"/tep/{token}").status_code == 404


def test_uploaded_file_must_really_be_a_pdf(client):
    login(client, "congdan")
    fields = form_fields(start_data("khai-sinh"))
    fields = {k: v for k, v in fields.items() if v != "FILE"}
    fields["__submit__"] = "1"
    fields["giay_chung_sinh"] = (io.BytesIO(b"MZ\x90\x00 not a pdf"), "virus.pdf")
    response = client.post("/thu-tuc/1.001193", data=fields, content_type="multipart/form-data")
    assert response.status_code == 422
    error = page(response).get_element_by_id("f-giay_chung_sinh-error")
    assert "PDF" in error.text_content()


def test_officer_inbox_claim_complete_and_history(client):
    location = submit_via_portal(client)
    code = location.rstrip("/").split("/")[-2]
    client.post("/dang-xuat")

    login(client, "hotich")  # specialist: the reception task is not theirs
    assert code not in client.get("/can-bo/").get_data(as_text=True)
    client.post("/dang-xuat")

    login(client, "tiepnhan")
    inbox = page(client.get("/can-bo/"))
    row = [r for r in inbox.xpath("//table[@id='inbox']//tr") if code in r.text_content()]
    assert row
    task_url = row[0].xpath(".//a/@href")[0]
    task_id = int(task_url.rsplit("/", 1)[1])
    assert client.post(f"/cong-viec/{task_id}/nhan").status_code == 302
    task = db.session.get(HumanTask, task_id)
    form = form_fields(task_data("khai-sinh", task.form))
    form["__submit__"] = "1"
    response = client.post(task_url, data=form)
    assert response.status_code == 302, page(response).text_content()[:1500]
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == code))
    assert dossier.status == 4 and dossier.received_at is not None
    history = page(client.get(f"/ho-so/{code}")).get_element_by_id("history").text_content()
    assert "Được tiếp nhận" in history and "Nguyễn Thị Tiếp" in history

    # A completed task cannot be completed again.
    again = client.post(task_url, data=form)
    assert again.status_code in (302, 303)
    assert db.session.get(HumanTask, task_id).state == "completed"


def test_other_agency_officer_cannot_see_task(client):
    location = submit_via_portal(client)
    code = location.rstrip("/").split("/")[-2]
    task = db.session.scalar(select(HumanTask).join(Dossier).where(Dossier.code == code))
    client.post("/dang-xuat")
    login(client, "ca.tiepnhan")  # receiving officer of the police, not of the People's Committee
    assert client.get(f"/cong-viec/{task.id}").status_code == 404
    assert client.get(f"/ho-so/{code}").status_code == 403


def test_studio_check_shows_problems_with_lines(client):
    login(client, "thietke")
    bad = b'<?xml version="1.0"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">\n<oops>'
    response = client.post("/thiet-ke/tai-len", data={"action": "check", "files": [(io.BytesIO(bad), "process.bpmn")]},
                           content_type="multipart/form-data")
    assert response.status_code == 422
    report = page(response).get_element_by_id("report").text_content()
    assert "process.bpmn:3" in report or "process.bpmn:4" in report
    assert "procedure.json" in report
    assert client.get("/thiet-ke/").status_code == 200
    client.post("/dang-xuat")
    login(client, "congdan")
    assert client.get("/thiet-ke/").status_code == 403


def test_english_interface_is_available(client):
    html = client.get("/?lang=en").get_data(as_text=True)
    assert "Procedure" in html and 'lang="en"' in html


def test_repeatable_group_add_and_remove_without_javascript(client):
    login(client, "congdan")
    fields = {k: v for k, v in form_fields(start_data("thuong-tru")).items() if v != "FILE"}
    added = client.post("/thu-tuc/1.004222", data={**fields, "__add__": "thanh_vien_cung_dang_ky"})
    assert added.status_code == 200  # re-rendered, not validated, nothing submitted
    tree = page(added)
    assert tree.get_element_by_id("f-thanh_vien_cung_dang_ky-1--ho_ten", None) is not None
    assert tree.get_element_by_id("f-thanh_vien_cung_dang_ky-0--ho_ten").get("value") == "Phạm Gia Bảo"
    assert not tree.xpath("//*[@aria-invalid='true']")
    removed = client.post("/thu-tuc/1.004222", data={**fields, "__remove__": "thanh_vien_cung_dang_ky[0]"})
    assert "Phạm Gia Bảo" not in removed.get_data(as_text=True)
    assert db.session.scalar(select(Dossier).where(Dossier.applicant_name == "Lê Thị Hoa")) is None

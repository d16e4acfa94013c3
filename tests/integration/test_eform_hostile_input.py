"""eForms under hostile input: repeatable groups stay within the schema's bounds on the start form and on
a task form, and data the schema does not declare is refused."""

from __future__ import annotations

import lxml.html
from sqlalchemy import select

from app.extensions import db
from app.models import Dossier, HumanTask
from tests.conftest import login
from tests.samples import form_fields, start_data

MEMBERS = "thanh_vien_cung_dang_ky"  # the thường trú form's repeatable group, maxItems 20


def page(response):
    return lxml.html.fromstring(response.data)


def start_fields():
    return {k: v for k, v in form_fields(start_data("thuong-tru")).items() if v != "FILE"}


def items_on(tree, path):
    group = tree.get_element_by_id(f"f-{path}", None)
    return [] if group is None else group.find_class("form-group-item")


def test_add_with_a_forged_index_is_refused_on_the_start_form(client):
    login(client, "congdan")
    response = client.post("/thu-tuc/1.004222", data={**start_fields(), "__add__": f"{MEMBERS}[5000]"})
    assert response.status_code == 422
    assert len(response.data) < 300_000
    tree = page(response)
    assert len(items_on(tree, MEMBERS)) <= 20
    assert "không hợp lệ" in tree.text_content()
    assert db.session.scalar(select(Dossier).where(Dossier.applicant_name == "Lê Thị Hoa")) is None


def test_adding_past_max_items_is_refused_with_a_message(client):
    login(client, "congdan")
    fields = start_fields()
    member = {k: v for k, v in fields.items() if k.startswith(f"{MEMBERS}[0].")}
    for i in range(1, 20):
        fields.update({k.replace("[0].", f"[{i}]."): v for k, v in member.items()})
    fields[f"{MEMBERS}.__count__"] = "20"
    response = client.post("/thu-tuc/1.004222", data={**fields, "__add__": MEMBERS})
    assert response.status_code == 422
    tree = page(response)
    assert len(items_on(tree, MEMBERS)) == 20
    assert "tối đa 20 mục" in tree.get_element_by_id(f"f-{MEMBERS}-error").text_content()


def test_indexed_field_names_are_bounded_by_max_items(client):
    login(client, "congdan")
    fields = {**start_fields(), f"{MEMBERS}[999999].ho_ten": "Giả Mạo", f"{MEMBERS}.__count__": "88888888",
              "__add__": MEMBERS}
    response = client.post("/thu-tuc/1.004222", data=fields)
    assert len(response.data) < 300_000
    assert len(items_on(page(response), MEMBERS)) <= 20
    assert "Giả Mạo" not in response.get_data(as_text=True)


def test_add_with_a_forged_index_is_refused_on_a_task_form(client):
    from tests.integration.test_web import submit_via_portal

    location = submit_via_portal(client)
    code = location.rstrip("/").split("/")[-2]
    task = db.session.scalar(select(HumanTask).join(Dossier).where(Dossier.code == code))
    client.post("/dang-xuat")
    login(client, "tiepnhan")
    client.post(f"/cong-viec/{task.id}/nhan")
    for action in ("thanh_phan_da_nhan[3000]", "khong_co_truong[3000]", "thanh_phan_da_nhan"):
        response = client.post(f"/cong-viec/{task.id}", data={"__add__": action})
        assert response.status_code == 422, action
        assert len(response.data) < 300_000, action
        assert "không hợp lệ" in page(response).get_element_by_id("form-errors").text_content()
    db.session.refresh(task)
    assert task.state == "claimed"


def test_undeclared_names_posted_to_a_web_form_are_not_stored(client):
    import io

    from tests.samples import PDF_BYTES

    login(client, "congdan")
    fields = {k: v for k, v in form_fields(start_data("khai-sinh")).items() if v != "FILE"}
    fields.update({"__submit__": "1", "rac": "x" * 10_000, "nguoi_yeu_cau.rac": "y", "tre[0].rac": "z",
                   "giay_chung_sinh": (io.BytesIO(PDF_BYTES), "gcs.pdf")})
    response = client.post("/thu-tuc/1.001193", data=fields, content_type="multipart/form-data")
    assert response.status_code == 302
    dossier = db.session.scalar(select(Dossier).where(Dossier.code == response.location.rstrip("/").split("/")[-2]))
    assert "rac" not in str(dossier.form_data) and "x" * 100 not in str(dossier.workflow.document)

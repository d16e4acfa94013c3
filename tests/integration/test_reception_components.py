"""Reception checks the dossier's components against the manifest; the receipt lists what was received.

A component the manifest marks required must be marked received by the receiving officer, and one that
comes as an upload must be in the dossier; the receipt lists exactly the files uploaded and the components
marked received, nothing the applicant never gave.
"""

from __future__ import annotations

import lxml.html

from tests.conftest import login
from tests.samples import client_uploader, start_data, task_data, with_uploads

CODE = "1.001193"


def submit(client, token):
    citizen = token("congdan")
    data = with_uploads(client_uploader(client), citizen, start_data("khai-sinh"))
    created = client.post(f"/api/v1/procedures/{CODE}/dossiers", json=data, headers=citizen)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    [task] = body["tasks"]
    return body["code"], task


def receive(client, headers, task, **overrides):
    assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=headers).status_code == 200
    return client.post(f"/api/v1/tasks/{task['id']}/complete", headers=headers,
                       json={**task_data("khai-sinh", "tiep-nhan.schema.json"), **overrides})


def receipt_items(client, code):
    page = lxml.html.fromstring(client.get(f"/ho-so/{code}/bien-nhan").data)
    return [li.text_content() for li in page.get_element_by_id("components").iter("li")]


def test_a_required_component_left_unticked_is_refused_at_reception(client, token):
    code, task = submit(client, token)
    reception = token("tiepnhan")
    refused = receive(client, reception, task, thanh_phan_da_nhan=["TK", "GTTT"])
    assert refused.status_code == 422, refused.get_json()
    error = refused.get_json()["error"]
    assert error["code"] == "components_missing"
    assert "Giấy chứng sinh" in error["details"]["/thanh_phan_da_nhan"] and "Tờ khai" not in error["message"]
    dossier = client.get(f"/api/v1/dossiers/{code}", headers=reception).get_json()
    assert dossier["status"] == 1 and [t["state"] for t in dossier["tasks"]] == ["claimed"]

    # An online dossier cannot have received an upload the applicant never gave.
    refused = receive(client, reception, task, thanh_phan_da_nhan=["TK", "GCS", "UQ"])
    assert refused.status_code == 422
    assert "Văn bản ủy quyền" in refused.get_json()["error"]["details"]["/thanh_phan_da_nhan"]

    # The same through the officer's page: the error sits on the checklist, nothing is received.
    login(client, "tiepnhan")
    form = {"thanh_phan_da_nhan": ["TK"], "so_bo_ho_so": "1", "quyet_dinh_tiep_nhan": "tiep_nhan", "__submit__": "1"}
    page = client.post(f"/cong-viec/{task['id']}", data=form)
    assert page.status_code == 422
    assert "Giấy chứng sinh" in lxml.html.fromstring(page.data).get_element_by_id("form-errors").text_content()

    assert receive(client, reception, task).status_code == 200
    items = receipt_items(client, code)
    expected = ["Tờ khai đăng ký khai sinh (Thông tư 04/2020/TT-BTP)",
                "Giấy chứng sinh (hoặc văn bản của người làm chứng xác nhận về việc sinh)",
                "Giấy tờ tùy thân của người yêu cầu (xuất trình bản chính)"]
    assert len(items) == len(expected) and all(i.startswith(e) for i, e in zip(items, expected, strict=True))
    body = client.get(f"/api/v1/dossiers/{code}", headers=reception).get_json()
    assert [c["code"] for c in body["components_received"]] == ["TK", "GCS", "GTTT"]


def test_the_receipt_lists_only_what_was_given(client, token):
    code, _ = submit(client, token)
    login(client, "congdan")
    # Before reception: the declaration and the uploaded birth certificate; never the authorization letter
    # nobody uploaded, nor the ID document only shown at the desk.
    items = receipt_items(client, code)
    assert len(items) == 2 and items[0].startswith("Tờ khai") and items[1].startswith("Giấy chứng sinh")
    assert not any("ủy quyền" in i or "tùy thân" in i for i in items)


def test_a_refusal_needs_no_component(client, token):
    _, task = submit(client, token)
    refused = receive(client, token("tiepnhan"), task, thanh_phan_da_nhan=[], quyet_dinh_tiep_nhan="tu_choi",
                      ly_do="Giấy chứng sinh không hợp lệ.")
    assert refused.status_code == 200, refused.get_json()
    assert refused.get_json()["dossier"]["status"] == 3

"""API v1 validates bodies, forms and query strings with the models its OpenAPI document is generated from,
behind the request boundary's own checks; and its real answers match the schemas the document gives them."""

from __future__ import annotations

import io

from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy import func, select

from app.extensions import db
from app.models import Attachment, Refund
from tests.samples import PDF_BYTES, client_uploader, start_data, task_data, with_uploads


def _error(response, status):
    assert response.status_code == status, (response.status_code, response.data[:400])
    body = response.get_json()
    assert set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]


# ---------------------------------------------------------------- bodies that break the model


def test_a_refund_body_that_breaks_its_model_is_422_with_a_message_per_pointer(client, token):
    headers = token("ca.tiepnhan")
    before = db.session.scalar(select(func.count()).select_from(Refund))
    url = "/api/v1/payments/999999/refund"
    wrong = client.post(url, json={"so_tien": "10000", "thua": 1}, headers=headers)
    error = _error(wrong, 422)
    assert error["code"] == "validation_failed"
    assert error["details"] == {
        "/so_tien": "Số tiền hoàn: phải là số nguyên.",  # strict: text is not converted
        "/ly_do": "Vui lòng nhập Lý do hoàn tiền.",
        "/thua": "Trường «thua» không được dùng ở đây; vui lòng bỏ trường này.",
    }
    for body, pointer, message in [({"so_tien": True, "ly_do": "x"}, "/so_tien", "Số tiền hoàn: phải là số nguyên."),
                                   ({"so_tien": 0, "ly_do": "x"}, "/so_tien",
                                    "Số tiền hoàn: phải lớn hơn hoặc bằng 1."),
                                   ({"so_tien": 5, "ly_do": ["x"]}, "/ly_do", "Lý do hoàn tiền: phải là chuỗi ký tự.")]:
        assert _error(client.post(url, json=body, headers=headers), 422)["details"] == {pointer: message}
    # The same body made right reaches the service, which does not know the payment.
    assert _error(client.post(url, json={"so_tien": 5, "ly_do": "x"}, headers=headers), 404)["code"] \
        == "payment_not_found"
    assert db.session.scalar(select(func.count()).select_from(Refund)) == before


def test_a_workflow_retry_body_that_breaks_its_model_is_422_and_may_be_left_out(client, token):
    headers = token("tiepnhan")
    url = "/api/v1/workflow-incidents/999999/retry"
    error = _error(client.post(url, json={"du_lieu": [1, 2]}, headers=headers), 422)
    assert error["details"] == {"/du_lieu": "Dữ liệu bổ sung: phải là nhóm thông tin."}
    error = _error(client.post(url, json={"du_lieu": {}, "them": 1}, headers=headers), 422)
    assert list(error["details"]) == ["/them"]
    # Left out, or made right: the service answers (it does not know the incident).
    assert _error(client.post(url, headers=headers), 404)["code"] != "validation_failed"
    assert _error(client.post(url, json={"du_lieu": {"a": 1}}, headers=headers), 404)["code"] != "validation_failed"


def test_an_attachment_form_without_its_file_is_422_and_nothing_is_stored(client, token):
    headers = token("congdan")
    before = db.session.scalar(select(func.count()).select_from(Attachment))
    for data in ({"field": "/giay_chung_sinh"}, {"file": "not a file"}):
        response = client.post("/api/v1/attachments", headers=headers, content_type="multipart/form-data", data=data)
        assert _error(response, 422)["details"] == {"/file": "Vui lòng đính kèm Tệp."}
    stored = client.post("/api/v1/attachments", headers=headers, content_type="multipart/form-data",
                         data={"file": (io.BytesIO(PDF_BYTES), "a.pdf"), "field": "/giay_chung_sinh"})
    assert stored.status_code == 201
    assert db.session.scalar(select(func.count()).select_from(Attachment)) == before + 1


def test_a_query_string_that_breaks_its_model_is_422(client, token):
    response = client.post("/api/v1/procedures?dry_run=maybe", headers=token("thietke"),
                           data={"files": (io.BytesIO(b"{}"), "procedure.json")}, content_type="multipart/form-data")
    assert _error(response, 422)["details"] == {"/dry_run": "Chỉ kiểm tra: phải là giá trị có/không."}


def test_the_boundary_checks_a_body_before_its_model(client, token):
    headers = token("ca.tiepnhan") | {"Content-Type": "application/json"}
    url = "/api/v1/payments/999999/refund"
    cases = [('{"so_tien": 1, "ly_do": "a\\u0000b"}', 422, "invalid_value"),  # NUL: the guard's pointer
             ('{"so_tien": ' + str(2**70) + ', "ly_do": "x"}', 422, "invalid_value"),
             ('{"so_tien": NaN, "ly_do": "x"}', 400, "malformed_json"),
             ('{"so_tien": 1,', 400, "malformed_json"),
             ("[1, 2]", 422, "body_not_object"),
             ("", 422, "body_missing")]
    for raw, status, code in cases:
        error = _error(client.post(url, data=raw, headers=headers), status)
        assert error["code"] == code, (raw, error)
    nul = _error(client.post(url, data=cases[0][0], headers=headers), 422)
    assert list(nul["details"]) == ["/ly_do"]


# ---------------------------------------------------------------- real answers against the document


def _validator(doc, path, method, status):
    schema = doc["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": doc["components"]}, format_checker=FormatChecker())


def _matches(doc, path, method, response):
    errors = sorted(_validator(doc, path, method, response.status_code).iter_errors(response.get_json()),
                    key=str)
    assert not errors, (method, path, response.status_code, [e.message for e in errors[:5]])


def test_answers_of_the_main_operations_match_their_documented_schemas(app, client, token):
    doc = client.get("/api/v1/openapi.json").get_json()
    # A document with extra fields or wrong types must fail here, or this test proves nothing.
    assert list(_validator(doc, "/tasks", "get", 200).iter_errors({"items": [{"id": "1"}]}))
    assert list(_validator(doc, "/tasks", "get", 200).iter_errors({"items": [], "more": 1}))

    _matches(doc, "/procedures", "get", client.get("/api/v1/procedures"))
    _matches(doc, "/procedures/{code}", "get", client.get("/api/v1/procedures/1.001193"))
    citizen = token("congdan")
    data = with_uploads(client_uploader(client), citizen, start_data("khai-sinh"))
    created = client.post("/api/v1/procedures/1.001193/dossiers", json=data, headers=citizen)
    assert created.status_code == 201
    _matches(doc, "/procedures/{code}/dossiers", "post", created)
    code = created.get_json()["code"]
    _matches(doc, "/public/dossiers/{code}", "get", client.get(f"/api/v1/public/dossiers/{code}"))
    _matches(doc, "/dossiers/{code}", "get", client.get(f"/api/v1/dossiers/{code}", headers=citizen))
    wrong = client.post("/api/v1/procedures/1.001193/dossiers", json={"so_ban_sao": "ba"}, headers=citizen)
    _matches(doc, "/procedures/{code}/dossiers", "post", wrong)  # the Error schema
    for username in ("tiepnhan", "hotich"):
        headers = token(username)
        inbox = client.get("/api/v1/tasks", headers=headers)
        _matches(doc, "/tasks", "get", inbox)
        task = next(t for t in inbox.get_json()["items"] if t["dossier_code"] == code)
        _matches(doc, "/tasks/{task_id}", "get", client.get(f"/api/v1/tasks/{task['id']}", headers=headers))
        _matches(doc, "/tasks/{task_id}/claim", "post",
                 client.post(f"/api/v1/tasks/{task['id']}/claim", headers=headers))
        done = client.post(f"/api/v1/tasks/{task['id']}/complete", json=task_data("khai-sinh", task["form"]),
                           headers=headers)
        assert done.status_code == 200
        _matches(doc, "/tasks/{task_id}/complete", "post", done)
    _matches(doc, "/incidents", "get", client.get("/api/v1/incidents", headers=token("tiepnhan")))
    missing = client.get("/api/v1/tasks/999999", headers=token("tiepnhan"))
    _matches(doc, "/tasks/{task_id}", "get", missing)


def test_answer_checks_catch_a_field_the_document_does_not_give(database_url, tmp_path, db_session, monkeypatch):
    """The suite runs with API_CHECK_RESPONSES: an answer that drifts from its model fails loudly there."""
    import app.web.api as api_module
    from tests.conftest import make_app

    real = api_module.procedure_json
    monkeypatch.setattr(api_module, "procedure_json", lambda proc, with_forms=False: {**real(proc, with_forms),
                                                                                      "undocumented": 1})
    checked = make_app(database_url, tmp_path, API_CHECK_RESPONSES=True).test_client()
    response = checked.get("/api/v1/procedures")
    assert response.status_code == 500 and response.get_json()["error"]["code"] == "internal_error"
    unchecked = make_app(database_url, tmp_path).test_client()
    response = unchecked.get("/api/v1/procedures")
    assert response.status_code == 200 and response.get_json()["items"][0]["undocumented"] == 1

"""The OpenAPI document is valid and describes exactly the routes the API serves."""

from __future__ import annotations

import re

from openapi_spec_validator import validate


def test_openapi_is_valid_and_matches_routes(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    validate(doc)
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((path, method))
    assert documented == served


# Operations whose handler reads a body, and the content type it reads.
BODIES = {"deployProcedure": "multipart/form-data", "submitDossier": "application/json",
          "completeTask": "application/json", "retryWorkflowIncident": "application/json",
          "refundPayment": "application/json", "uploadAttachment": "multipart/form-data",
          # the desk (app.dossiers.desk)
          "requestSupplement": "application/json", "answerSupplement": "application/json",
          "refuseDossier": "application/json", "stopDossier": "application/json", "resumeDossier": "application/json",
          "withdrawDossier": "application/json", "returnTask": "application/json", "releaseTask": "application/json",
          "delegateTask": "application/json", "reassignTask": "application/json",
          "recordLeave": "application/json",  # the leave calendar (app.dossiers.leave)
          "apologise": "application/json",  # platform deadlines (app.dossiers.watch)
          "deliverMessage": "application/json", "deliverMessageByKey": "application/json",  # app.dossiers.messages
          "rateDossier": "application/json",  # app.dossiers.ratings
          "revokePersonalDocument": "application/json",  # app.dossiers.docstore
          # app.administration
          "adminMoveOfficer": "application/json", "adminSetRoles": "application/json",
          "adminUpdateAgency": "application/json", "adminAddDepartment": "application/json",
          "adminIssueApiClient": "application/json",
          "adminSetCalendarDay": "application/json"}


# Operations whose success is a PDF (the documents the platform issues).
PDF_OPERATIONS = {"getDocument", "getControlSheet", "getAttachment"}
# Operations whose success is a zip archive (a procedure version's package).
ZIP_OPERATIONS = {"downloadVersion"}


def _resolve(doc, schema):
    ref = schema.get("$ref", "")
    assert ref.startswith("#/components/schemas/"), schema
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]]


def test_every_operation_documents_its_parameters_body_and_answers(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    ids = set()
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            ids.add(op["operationId"])
            assert op["summary"] and not op["summary"].endswith(f"<{method.upper()}>"), (path, method)
            names = re.findall(r"\{(\w+)\}", path)
            params = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "path"}
            assert sorted(params) == sorted(names), (path, method)
            assert all(p["required"] and p["schema"]["type"] in ("string", "integer") for p in params.values())
            answers = op["responses"]
            assert any(code.startswith("2") for code in answers), (path, method)
            for code, answer in answers.items():
                if op["operationId"] in PDF_OPERATIONS and code == "200":  # an issued document
                    assert answer["content"]["application/pdf"]["schema"]["contentMediaType"] == "application/pdf"
                    continue
                if op["operationId"] in ZIP_OPERATIONS and code == "200":  # a package
                    assert answer["content"]["application/zip"]["schema"]["contentMediaType"] == "application/zip"
                    continue
                schema = answer["content"]["application/json"]["schema"]
                assert _resolve(doc, schema), (path, method, code)
            if op["operationId"] in BODIES:
                body = op["requestBody"]["content"][BODIES[op["operationId"]]]["schema"]
                assert _resolve(doc, body)["type"] == "object"
                assert "422" in answers and "413" in answers
            else:
                assert "requestBody" not in op, (path, method)
    assert set(BODIES) <= ids
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "Token from `flask users token <username>`"}
    # Only the one body that may be left out says so.
    assert doc["paths"]["/workflow-incidents/{incident_id}/retry"]["post"]["requestBody"]["required"] is False
    assert doc["paths"]["/payments/{payment_id}/refund"]["post"]["requestBody"]["required"] is True


def test_the_document_is_generated_from_the_models_the_handlers_validate_with(client):
    from app.web.api import models

    doc = client.get("/api/v1/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    for model in (models.RefundBody, models.WorkflowRetryBody, models.AttachmentForm, models.Task, models.Payment):
        generated = model.model_json_schema(ref_template="#/components/schemas/{model}",
                                            mode="serialization" if issubclass(model, models.ResponseModel)
                                            else "validation")
        generated.pop("$defs", None)
        assert schemas[model.__name__] == generated, model.__name__
    query = [p for p in doc["paths"]["/procedures"]["post"]["parameters"] if p["in"] == "query"]
    assert [(p["name"], p["in"], p["schema"]["type"]) for p in query] == [("dry_run", "query", "boolean")]


def test_rate_limit_groups_are_described(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    answer = doc["paths"]["/procedures/{code}/dossiers"]["post"]["responses"]["429"]
    assert f"submit: {app.config['RATELIMIT_SUBMIT']}" in answer["description"]
    assert "lookup: " in doc["paths"]["/public/dossiers/{code}"]["get"]["responses"]["429"]["description"]
    assert "429" not in doc["paths"]["/tasks"]["get"]["responses"]


def test_errors_are_json_everywhere_under_api(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    body = response.get_json()
    assert set(body["error"]) == {"code", "message", "details"}


# ---------------------------------------------------------------- every status returned is documented


def _operations(app):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, path, method


def _url(rule, int_value, text_value):
    url = rule.rule
    for name, conv in rule._converters.items():
        value = int_value if "int" in type(conv).__name__.lower() else text_value
        url = re.sub(rf"<(?:[a-z]+:)?{name}>", str(value), url)
    return url


def _check(doc, path, method, response, seen):
    from openapi_schema_validator import validate as validate_schema

    op = doc["paths"][path][method.lower()]
    status = str(response.status_code)
    assert status in op["responses"], (method, path, status, response.data[:300])
    assert response.status_code < 500, (method, path, response.data[:300])
    documented = op["responses"][status]
    schema = documented.get("content", {}).get("application/json", {}).get("schema")
    if schema is not None and response.is_json:
        validate_schema(response.get_json(), {**schema, "components": doc["components"]})
    seen.add((path, method, status))


def _variants(token):
    citizen, officer, designer = token("congdan"), token("tiepnhan"), token("thietke")
    big = '{"pad": "' + "x" * (21 * 1024 * 1024) + '"}'
    return [
        ("no token", {}, None, None),
        ("bad token", {"Authorization": "Bearer nope"}, None, None),
        ("citizen, empty JSON", citizen, "{}", "application/json"),
        ("officer, empty JSON", officer, "{}", "application/json"),
        ("designer, no files", designer, None, None),
        ("malformed JSON", officer, "{", "application/json"),
        ("NUL in a field", officer, '{"a": "\\u0000"}', "application/json"),
        ("too large", designer, big, "application/json"),
    ]


def test_every_status_an_operation_returns_is_documented(app, client, token, database_url, tmp_path):
    doc = client.get("/api/v1/openapi.json").get_json()
    seen: set[tuple[str, str, str]] = set()
    for rule, path, method in _operations(app):
        for int_value, text_value in ((1, "1.001193"), (2**31, "X%00")):
            url = _url(rule, int_value, text_value)
            for _, headers, body, content_type in _variants(token):
                response = client.open(url, method=method, headers=headers, data=body, content_type=content_type)
                _check(doc, path, method, response, seen)
            response = client.open(url + "?q=%00", method=method, headers=token("tiepnhan"))
            _check(doc, path, method, response, seen)
    # A dry-run of a package that cannot be deployed answers 422 with its report.
    import io

    response = client.post("/api/v1/procedures?dry_run=1", headers=token("thietke"),
                           data={"files": (io.BytesIO(b"{}"), "procedure.json")}, content_type="multipart/form-data")
    _check(doc, "/procedures", "POST", response, seen)
    assert response.status_code == 422 and "verdict" in response.get_json()
    assert {status for _, _, status in seen} >= {"200", "400", "401", "403", "404", "413", "422"}


def test_rate_limited_operations_document_429(database_url, tmp_path, db_session, token):
    from tests.conftest import make_app

    limits = {key: "1 per minute" for key in ("RATELIMIT_SUBMIT", "RATELIMIT_UPLOAD", "RATELIMIT_LOOKUP")}
    app = make_app(database_url, tmp_path, RATELIMIT_ENABLED=True, **limits)
    client = app.test_client()
    doc = client.get("/api/v1/openapi.json").get_json()
    seen: set[tuple[str, str, str]] = set()
    headers = token("congdan")
    for rule, path, method in _operations(app):
        url = _url(rule, 1, "1.001193")
        for _ in range(2):
            response = client.open(url, method=method, headers=headers, json={} if method == "POST" else None)
            _check(doc, path, method, response, seen)
    limited = {(path, method) for path, method, status in seen if status == "429"}
    assert ("/procedures/{code}/dossiers", "POST") in limited and ("/public/dossiers/{code}", "GET") in limited
    assert "Retry-After" in doc["paths"]["/procedures/{code}/dossiers"]["post"]["responses"]["429"]["headers"]

"""The OpenAPI 3.1 document of API v1; a test checks it matches the routes that exist."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, has_app_context

from app.web.limits import GROUPS, RATE_LIMITS

ERROR = {"$ref": "#/components/schemas/Error"}


def _resp(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    if schema is not None:
        out["content"] = {"application/json": {"schema": schema}}
    return out


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "Malformed request (e.g. JSON that does not parse)", 401: "Missing or invalid bearer token",
            403: "Not allowed for this user", 404: "Unknown procedure, dossier or task",
            409: "Task already taken or completed, or the dossier changed meanwhile",
            413: "Payload too large", 422: "Validation failed: details maps JSON pointers to messages"}
    return {str(c): _resp(text[c], ERROR) for c in codes}


def _param(name: str, schema: dict[str, Any], where: str = "path", description: str = "") -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": schema, "description": description}


CODE = _param("code", {"type": "string"}, description="Procedure code (mã TTHC), e.g. 1.001193")
DOSSIER_CODE = _param("code", {"type": "string", "pattern": r"^.+-\d{6}-\d{4}$"},
                      description="Dossier code <agency>-<YYMMDD>-<NNNN>")
TASK_ID = _param("task_id", {"type": "integer"})
CALL_ID = _param("call_id", {"type": "integer"})
PAYMENT_ID = _param("payment_id", {"type": "integer"})
SECURED: list[dict[str, list[str]]] = [{"bearer": []}]
JSON_OBJECT = {"type": "object", "additionalProperties": True}
NOTICE = {"type": ["string", "null"],
          "description": "Set when the step was saved but the workflow then stopped on an engine error"}
WORKFLOW_INCIDENT = {"type": "object", "properties": {
    "id": {"type": "integer"}, "dossier_code": {"type": "string"}, "task": {"type": "string"},
    "spec_name": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"},
    "state": {"enum": ["open", "resolved"]}, "attempts": {"type": "integer"}, "since": {"type": "string"}}}


def openapi_document() -> dict[str, Any]:
    return with_common_statuses({
        "openapi": "3.1.0",
        "info": {"title": "MotCua API", "version": "1.0.0",
                 "description": "One-stop administrative procedures: procedures, dossiers, officers' tasks."},
        "servers": [{"url": "/api/v1"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "Token from `flask users token <username>`"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message", "details"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                   "details": {"type": "object", "additionalProperties": True}}}}},
                "Procedure": {"type": "object", "required": ["code", "name", "version"], "properties": {
                    "code": {"type": "string"}, "name": {"type": "string"}, "version": {"type": "integer"},
                    "agency": {"type": "object"}, "level": {"type": "string"}, "content_hash": {"type": "string"},
                    "processing_time": {"type": "object"}, "fee": {"type": "object"},
                    "start_form": {"type": "string"}, "components": {"type": "array"},
                    "start_form_schema": JSON_OBJECT, "created": {"type": "boolean"}}},
                "Dossier": {"type": "object", "required": ["code", "status", "status_label", "due_at"], "properties": {
                    "code": {"type": "string"}, "status": {"type": "integer", "minimum": 1, "maximum": 10},
                    "status_label": {"type": "string"}, "procedure": {"type": "object"},
                    "agency": {"type": "string"}, "applicant": {},
                    "submitted_at": {"type": "string", "format": "date-time"},
                    "received_at": {"type": ["string", "null"], "format": "date-time"},
                    "due_at": {"type": "string", "format": "date-time"},
                    "finished_at": {"type": ["string", "null"]}, "returned_at": {"type": ["string", "null"]},
                    "current_steps": {"type": "array", "items": {"type": "string"}},
                    "data": JSON_OBJECT, "tasks": {"type": "array"}, "history": {"type": "array"}}},
                "Task": {"type": "object", "required": ["id", "title", "dossier_code", "state"], "properties": {
                    "id": {"type": "integer"}, "title": {"type": "string"}, "dossier_code": {"type": "string"},
                    "lane": {"type": "string"}, "role": {"type": "string"},
                    "state": {"enum": ["ready", "claimed", "completed", "cancelled"]},
                    "form": {"type": ["string", "null"]}, "claimed_by": {"type": ["integer", "null"]},
                    "created_at": {"type": "string"}, "due_at": {"type": ["string", "null"]},
                    "dossier_due_at": {"type": "string"}, "form_schema": JSON_OBJECT,
                    "previous_data": {"type": ["object", "null"],
                                      "description": "When a return sent the dossier back to this step: what "
                                                     "was submitted for it last time, less its decision and "
                                                     "reason (ui:decision, ui:reason), which are taken afresh"},
                    "returned": {"type": ["object", "null"], "properties": {
                        "task": {"type": "string"}, "by": {"type": "string"}, "at": {"type": ["string", "null"]},
                        "outcome": {"type": "string"}, "reason": {"type": ["string", "null"]}}}}},
                "ServiceCall": {"type": "object", "required": ["id", "dossier_code", "operation", "state"],
                                "properties": {
                    "id": {"type": "integer"}, "dossier_code": {"type": "string"}, "title": {"type": "string"},
                    "operation": {"type": "string"},
                    "state": {"enum": ["pending", "waiting", "done", "caught", "failed", "cancelled"]},
                    "stalled": {"type": "boolean"}, "attempts": {"type": "integer"}, "rounds": {"type": "integer"},
                    "error": {"type": ["object", "null"], "properties": {"code": {"type": "string"},
                                                                         "message": {"type": "string"}}},
                    "next_attempt_at": {"type": ["string", "null"]}, "created_at": {"type": "string"},
                    "updated_at": {"type": "string"}}},
                "Payment": {"type": "object", "required": ["id", "transaction_id", "amount", "state"], "properties": {
                    "id": {"type": "integer"}, "transaction_id": {"type": "string"}, "amount": {"type": "integer"},
                    "state": {"enum": ["pending", "paid", "cancelled", "refunded"]},
                    "pay_url": {"type": ["string", "null"]}, "paid_at": {"type": ["string", "null"]},
                    "refunded_amount": {"type": "integer"}, "receipt_url": {"type": ["string", "null"]}}},
                "PackageReport": {"type": "object", "required": ["verdict", "problems"], "properties": {
                    "verdict": {"enum": ["deployable", "not_executable", "invalid"]},
                    "reason": {"type": ["string", "null"]}, "problems": {"type": "array", "items": {
                        "type": "object", "properties": {"file": {"type": "string"},
                                                         "line": {"type": ["integer", "null"]},
                                                         "pointer": {"type": ["string", "null"]},
                                                         "code": {"type": "string"}, "message": {"type": "string"},
                                                         "severity": {"type": "string"}}}}}},
            },
        },
        "paths": {
            "/openapi.json": {"get": {"summary": "This document", "operationId": "openapi",
                                      "responses": {"200": _resp("OpenAPI document", JSON_OBJECT)}}},
            "/procedures": {
                "get": {"summary": "Procedure catalogue", "operationId": "listProcedures",
                        "responses": {"200": _resp("Procedures", {"type": "object", "properties": {
                            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Procedure"}}}})}},
                "post": {"summary": "Deploy a procedure package (multipart field `files`: BPMN, procedure.json, "
                                   "*.schema.json, or one zip)", "operationId": "deployProcedure",
                         "security": SECURED,
                         "parameters": [_param("dry_run", {"type": "boolean"}, "query", "Only check, do not deploy")],
                         "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                             "type": "object", "properties": {
                                 "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                                 "slug": {"type": "string"}}}}}},
                         "responses": {"201": _resp("New version deployed", {"$ref": "#/components/schemas/Procedure"}),
                                       "200": _resp("Identical content already deployed (Procedure), or the "
                                                    "dry-run report of a deployable package (PackageReport)",
                                                    {"oneOf": [{"$ref": "#/components/schemas/Procedure"},
                                                               {"$ref": "#/components/schemas/PackageReport"}]}),
                                       **_errors(401, 403, 413),
                                       "422": _resp("The package cannot be deployed: with dry_run, its report "
                                                    "(PackageReport); otherwise an Error whose details hold the "
                                                    "report, or an unreadable upload",
                                                    {"oneOf": [ERROR, {"$ref": "#/components/schemas/PackageReport"}]}),
                                       }},
            },
            "/procedures/{code}": {"get": {
                "summary": "One procedure with its start-form schema", "operationId": "getProcedure",
                "parameters": [CODE],
                "responses": {"200": _resp("Procedure", {"$ref": "#/components/schemas/Procedure"}),
                              **_errors(404)}}},
            "/procedures/{code}/dossiers": {"post": {
                "summary": "Submit a dossier: the body is the start-form data", "operationId": "submitDossier",
                "security": SECURED, "parameters": [CODE],
                "requestBody": {"required": True, "content": {"application/json": {"schema": JSON_OBJECT}}},
                "responses": {"201": _resp("Dossier created (`workflow_error`: the workflow then stopped on an "
                                           "engine error, reported to operators as a workflow incident)",
                                           {"allOf": [{"$ref": "#/components/schemas/Dossier"}, {
                                               "type": "object", "properties": {"workflow_error": NOTICE}}]}),
                              **_errors(400, 401, 404, 422)}}},
            "/dossiers/{code}": {"get": {
                "summary": "A dossier with data, open tasks and history (applicant or its agency)",
                "operationId": "getDossier", "security": SECURED, "parameters": [DOSSIER_CODE],
                "responses": {"200": _resp("Dossier", {"$ref": "#/components/schemas/Dossier"}),
                              **_errors(401, 403, 404)}}},
            "/public/dossiers/{code}": {"get": {
                "summary": "Public status of a dossier by its code", "operationId": "publicDossier",
                "parameters": [DOSSIER_CODE],
                "responses": {"200": _resp("Public status", {"$ref": "#/components/schemas/Dossier"}),
                              **_errors(404)}}},
            "/tasks": {"get": {
                "summary": "The caller's inbox, most urgent first", "operationId": "listTasks", "security": SECURED,
                "responses": {"200": _resp("Tasks", {"type": "object", "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Task"}}}}),
                    **_errors(401)}}},
            "/tasks/{task_id}": {"get": {
                "summary": "One task with its form schema", "operationId": "getTask", "security": SECURED,
                "parameters": [TASK_ID],
                "responses": {"200": _resp("Task", {"$ref": "#/components/schemas/Task"}), **_errors(401, 404)}}},
            "/tasks/{task_id}/claim": {"post": {
                "summary": "Claim a task", "operationId": "claimTask", "security": SECURED, "parameters": [TASK_ID],
                "responses": {"200": _resp("Claimed", {"$ref": "#/components/schemas/Task"}),
                              **_errors(401, 404, 409)}}},
            "/tasks/{task_id}/complete": {"post": {
                "summary": "Complete a task with its form data; the workflow moves on",
                "operationId": "completeTask", "security": SECURED, "parameters": [TASK_ID],
                "requestBody": {"required": True, "content": {"application/json": {"schema": JSON_OBJECT}}},
                "responses": {"200": _resp("Completed", {"type": "object", "properties": {
                    "task": {"$ref": "#/components/schemas/Task"},
                    "dossier": {"$ref": "#/components/schemas/Dossier"}, "workflow_error": NOTICE}}),
                    **_errors(400, 401, 404, 409, 422)}}},
            "/incidents": {"get": {
                "summary": "Service calls that failed with nothing to catch the error: they wait for an operator",
                "operationId": "listIncidents", "security": SECURED,
                "responses": {"200": _resp("Incidents", {"type": "object", "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/ServiceCall"}},
                    "portal_sync": {"type": "array", "items": {"type": "object", "properties": {
                        "dossier_code": {"type": "string"}, "outbox_id": {"type": "integer"},
                        "kind": {"enum": ["dossier", "step"]}, "attempts": {"type": "integer"},
                        "error": {"type": ["string", "null"]}, "refused": {"type": "boolean"},
                        "since": {"type": "string"}}}},
                    "refunds": {"type": "array", "items": {"type": "object", "properties": {
                        "id": {"type": "integer"}, "dossier_code": {"type": "string"},
                        "transaction_id": {"type": "string"}, "amount": {"type": ["integer", "null"]},
                        "reason": {"type": "string"}, "requested_at": {"type": "string"}}}},
                    "workflow": {"type": "array", "items": WORKFLOW_INCIDENT}}}),
                    **_errors(401)}}},
            "/workflow-incidents/{incident_id}/retry": {"post": {
                "summary": "Run a workflow's failed step again (optionally with values its condition needed); "
                           "`state` says whether it moved on (resolved) or failed again (open)",
                "operationId": "retryWorkflowIncident", "security": SECURED,
                "parameters": [_param("incident_id", {"type": "integer"})],
                "requestBody": {"required": False, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"du_lieu": JSON_OBJECT}}}}},
                "responses": {"200": _resp("Retried", WORKFLOW_INCIDENT), **_errors(400, 401, 404, 409, 422)}}},
            "/refunds/{refund_id}/retry": {"post": {
                "summary": "Queue a refund that has not been carried out again",
                "operationId": "retryRefund", "security": SECURED,
                "parameters": [_param("refund_id", {"type": "integer"})],
                "responses": {"202": _resp("Queued", {"type": "object", "properties": {
                    "id": {"type": "integer"}, "state": {"type": "string"}}}), **_errors(401, 404, 409)}}},
            "/dossiers/{code}/portal-sync/resend": {"post": {
                "summary": "Send a dossier's owed national-portal updates again now (after a refusal or a long wait)",
                "operationId": "resendPortalSync", "security": SECURED, "parameters": [DOSSIER_CODE],
                "responses": {"202": _resp("Queued", {"type": "object", "properties": {
                    "dossier_code": {"type": "string"}, "queued": {"type": "boolean"}}}),
                    **_errors(401, 404, 409)}}},
            "/incidents/{call_id}/retry": {"post": {
                "summary": "Try a failed service call again (a new round of attempts, run as a job)",
                "operationId": "retryIncident", "security": SECURED, "parameters": [CALL_ID],
                "responses": {"202": _resp("Queued", {"$ref": "#/components/schemas/ServiceCall"}),
                              **_errors(401, 404, 409)}}},
            "/payments/{payment_id}/refund": {"post": {
                "summary": "Refund (part of) a paid fee; the refund runs as a job with an idempotency key",
                "operationId": "refundPayment", "security": SECURED, "parameters": [PAYMENT_ID],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["so_tien", "ly_do"],
                    "properties": {"so_tien": {"type": "integer", "minimum": 1}, "ly_do": {"type": "string"}}}}}},
                "responses": {"202": _resp("Queued", {"$ref": "#/components/schemas/Payment"}),
                              **_errors(400, 401, 404, 409, 422)}}},
            "/attachments": {"post": {
                "summary": "Upload a file for a form field; returns the reference to put in the form data",
                "operationId": "uploadAttachment", "security": SECURED,
                "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "properties": {"file": {"type": "string", "format": "binary"},
                                                     "field": {"type": "string"}}}}}},
                "responses": {"201": _resp("Stored", {"type": "object", "properties": {
                    "reference": {"type": "string"}, "filename": {"type": "string"}, "size": {"type": "integer"},
                    "sha256": {"type": "string"}, "content_type": {"type": "string"}}}),
                    **_errors(401, 413, 422)}}},
        },
    })


_COMMON = {400: "Text no column can hold in the path, query or form (NUL byte, lone surrogate), or a malformed body",
           401: "Missing or invalid bearer token", 404: "Unknown procedure, dossier or task (ids past 2³¹−1 too)",
           413: "Request body over this operation's limit",
           429: "Rate limit reached: wait the number of seconds in Retry-After"}


def with_common_statuses(doc: dict[str, Any]) -> dict[str, Any]:
    """Statuses every operation of a kind can answer, added where the operation does not say them itself:
    400 (text checks at the boundary) everywhere; 401 when secured; 404 with a path parameter; 413 with a
    body; 429 when a rate limit applies (app/web/limits.py, read from the running app's routes)."""
    limited = _rate_limited_operations()
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            codes = [400]
            if op.get("security"):
                codes.append(401)
            if "{" in path:
                codes.append(404)
            if "requestBody" in op:
                codes.append(413)
            if (path, method) in limited:
                codes.append(429)
            for code in codes:
                if str(code) not in op["responses"]:
                    headers = ({"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}}
                               if code == 429 else None)
                    op["responses"][str(code)] = {**_resp(_COMMON[code], ERROR),
                                                  **({"headers": headers} if headers else {})}
    return doc


def _rate_limited_operations() -> set[tuple[str, str]]:
    if not has_app_context():
        return set()
    found: set[tuple[str, str]] = set()
    for rule in current_app.url_map.iter_rules():
        if rule.endpoint not in RATE_LIMITS or not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        methods = {m for name in RATE_LIMITS[rule.endpoint] for m in GROUPS[name].methods}
        found |= {(path, m.lower()) for m in (rule.methods or set()) & methods}
    return found

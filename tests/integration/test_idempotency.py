"""Idempotency-Key on the API's state-changing operations: a client whose answer was lost retries with the same key
and gets the first answer, the effect happening once; another request under the key is refused; a duplicate
arriving while the first runs is told so; without a key nothing changes, not even the statements sent."""

from __future__ import annotations

import io
import threading
import uuid
from datetime import timedelta

import pytest
import requests
from sqlalchemy import event, func, select, text

from app.extensions import db
from app.models import Attachment, AuditEvent, Dossier, HumanTask, IdempotentRequest
from tests.conftest import user
from tests.samples import PDF_BYTES, client_uploader, requests_uploader, start_data, task_data, with_uploads


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f'"{uuid.uuid4()}"'}


def _submit(client, headers, extra=None):
    data = with_uploads(client_uploader(client), headers, start_data("khai-sinh"))
    return client.post("/api/v1/procedures/1.001193/dossiers", json=data, headers={**headers, **(extra or {})}), data


def _reception_task(client, token, code):
    reception = token("tiepnhan")
    task = next(t for t in client.get("/api/v1/tasks", headers=reception).get_json()["items"]
                if t["dossier_code"] == code)
    assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=reception).status_code == 200
    return reception, task


def _completions(task_id: int) -> int:
    task = db.session.get(HumanTask, task_id)
    return int(db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.dossier_id == task.dossier_id, AuditEvent.action == "completed",
        AuditEvent.task_title == task.title)) or 0)


def test_a_completion_whose_answer_was_lost_is_answered_again_and_done_once(client, token):
    created, _ = _submit(client, token("congdan"))
    code = created.get_json()["code"]
    reception, task = _reception_task(client, token, code)
    url, form = f"/api/v1/tasks/{task['id']}/complete", task_data("khai-sinh", task["form"])
    key = _key()

    first = client.post(url, json=form, headers={**reception, **key})
    assert first.status_code == 200, first.get_json()
    assert "Idempotent-Replayed" not in first.headers
    # The answer never reached the client; it sends the same request again with the same key.
    again = client.post(url, json=form, headers={**reception, **key})
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    assert again.headers["Content-Type"] == first.headers["Content-Type"]
    assert _completions(task["id"]) == 1
    after = client.get(first.get_json()["dossier"]["href"], headers=reception).get_json()
    assert after["status"] == first.get_json()["dossier"]["status"]  # the step happened once: no second status
    assert [h["status_to"] for h in after["history"] if h["action"] == "status"] == [2, 4]

    # Without a key, the same retry is what it always was: the task is done, 409.
    plain = client.post(url, json=form, headers=reception)
    assert plain.status_code == 409 and "Idempotent-Replayed" not in plain.headers
    assert _completions(task["id"]) == 1


def test_the_same_key_with_another_body_is_refused_and_changes_nothing(client, token):
    created, _ = _submit(client, token("congdan"))
    reception, task = _reception_task(client, token, created.get_json()["code"])
    url, form = f"/api/v1/tasks/{task['id']}/complete", task_data("khai-sinh", task["form"])
    key = _key()
    other = {**form, "so_bo_ho_so": 2}

    assert client.post(url, json=form, headers={**reception, **key}).status_code == 200
    refused = client.post(url, json=other, headers={**reception, **key})
    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "idempotency_key_reused"
    assert "Idempotency-Key" in refused.get_json()["error"]["message"]
    english = client.post(url + "?lang=en", json=form, headers={**reception, **key})
    assert english.status_code == 422  # another query string is another request
    assert english.get_json()["error"]["code"] == "idempotency_key_reused"
    # The key belongs to its user: another officer's request with it is a request of its own.
    foreign = client.post(f"/api/v1/tasks/{task['id']}/claim", headers={**token("hotich"), **key})
    assert foreign.get_json()["error"]["code"] != "idempotency_key_reused"
    assert _completions(task["id"]) == 1


def test_a_submission_sent_twice_with_its_key_makes_one_dossier(client, token):
    citizen = token("congdan")
    key = _key()
    before = db.session.scalar(select(func.count()).select_from(Dossier))
    first, data = _submit(client, citizen, key)
    assert first.status_code == 201
    second = client.post("/api/v1/procedures/1.001193/dossiers", json=data, headers={**citizen, **key})
    assert second.status_code == 201 and second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["Location"] == first.headers["Location"]
    assert second.get_json()["code"] == first.get_json()["code"]
    assert db.session.scalar(select(func.count()).select_from(Dossier)) == before + 1


def test_an_upload_retried_with_its_key_is_stored_once(client, token):
    headers = {**token("congdan"), **_key()}

    def post(boundary_noise: str):
        # Each try is a new multipart body (a client makes a new boundary): the files and fields are compared.
        return client.post("/api/v1/attachments", headers=headers, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(PDF_BYTES), "giay.pdf"), "field": "/giay_chung_sinh"})

    first, second = post("a"), post("b")
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.get_json()["reference"] == first.get_json()["reference"]
    token_part = first.get_json()["reference"].split("/")[0]
    assert db.session.scalar(select(func.count()).select_from(Attachment).where(Attachment.token == token_part)) == 1
    other = client.post("/api/v1/attachments", headers=headers, content_type="multipart/form-data",
                        data={"file": (io.BytesIO(PDF_BYTES + b"\n"), "giay.pdf"), "field": "/giay_chung_sinh"})
    assert other.status_code == 422 and other.get_json()["error"]["code"] == "idempotency_key_reused"


def test_an_error_answer_is_not_stored_so_the_retry_runs_again(client, token):
    created, _ = _submit(client, token("congdan"))
    reception, task = _reception_task(client, token, created.get_json()["code"])
    url = f"/api/v1/tasks/{task['id']}/complete"
    key = _key()
    wrong = client.post(url, json={"quyet_dinh_tiep_nhan": "co_le"}, headers={**reception, **key})
    assert wrong.status_code == 422 and wrong.get_json()["error"]["code"] != "idempotency_key_reused"
    right = client.post(url, json=task_data("khai-sinh", task["form"]), headers={**reception, **key})
    assert right.status_code == 200 and "Idempotent-Replayed" not in right.headers


@pytest.mark.parametrize("value", ['""', '"' + "x" * 256 + '"', '"open', '"tab\there"', "two words", "é"])
def test_a_malformed_key_is_refused_with_a_clear_error(client, token, value):
    response = client.post("/api/v1/tasks/1/claim", headers={**token("tiepnhan"), "Idempotency-Key": value})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "idempotency_key_invalid"


def test_keys_are_read_as_structured_strings():
    from app.web.api.idempotency import parse_key

    assert parse_key('"8e03978e-40d5"') == "8e03978e-40d5"
    assert parse_key('"a \\"quoted\\" \\\\ key"') == 'a "quoted" \\ key'
    assert parse_key("bare-token_1") == "bare-token_1"


def test_a_duplicate_while_the_first_runs_is_told_to_wait(client, token):
    """Another transaction holding the key (the first request, still running) → 409, and nothing is done."""
    from app.web.api.idempotency import lock_number

    reception = token("tiepnhan")
    key = str(uuid.uuid4())
    with db.engine.connect() as other:
        other.execute(text("SELECT pg_advisory_lock(:a, :b)"), dict(zip("ab", lock_number(user("tiepnhan").id, key),
                                                                            strict=True)))
        busy = client.post("/api/v1/tasks/1/claim", headers={**reception, "Idempotency-Key": f'"{key}"'})
        other.execute(text("SELECT pg_advisory_unlock_all()"))
        other.commit()
    assert busy.status_code == 409 and busy.headers["Retry-After"] == "1"
    assert busy.get_json()["error"]["code"] == "idempotency_key_in_flight"
    assert "Idempotency-Key" in busy.get_json()["error"]["message"]
    # Once the first is over, the key is free again: task 1 is not this officer's, a plain 404.
    free = client.post("/api/v1/tasks/1/claim", headers={**reception, "Idempotency-Key": f'"{key}"'})
    assert free.status_code == 404 and free.get_json()["error"]["code"] != "idempotency_key_in_flight"


def test_without_a_key_no_statement_is_added(app, client, token):
    created, _ = _submit(client, token("congdan"))
    reception = token("tiepnhan")
    task = next(t for t in client.get("/api/v1/tasks", headers=reception).get_json()["items"]
                if t["dossier_code"] == created.get_json()["code"])
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=reception).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert seen
    assert not [s for s in seen if "idempotency" in s.lower() or "advisory" in s.lower()]


def test_expired_keys_count_as_unused_and_are_pruned(app, client, token):
    from app.clock import now_utc

    citizen = token("congdan")
    key = _key()
    first, data = _submit(client, citizen, key)
    assert first.status_code == 201
    row = db.session.scalar(select(IdempotentRequest).where(IdempotentRequest.key == key["Idempotency-Key"][1:-1]))
    row.created_at = now_utc() - timedelta(hours=app.config["IDEMPOTENCY_KEY_HOURS"] + 1)
    db.session.commit()
    late = client.post("/api/v1/procedures/1.001193/dossiers", json=data, headers={**citizen, **key})
    assert late.status_code == 201 and "Idempotent-Replayed" not in late.headers
    assert late.get_json()["code"] != first.get_json()["code"]

    stored = db.session.scalar(select(IdempotentRequest).where(IdempotentRequest.key == key["Idempotency-Key"][1:-1]))
    stored.created_at = now_utc() - timedelta(hours=48)
    db.session.commit()
    kept = db.session.scalar(select(func.count()).select_from(IdempotentRequest))
    result = app.test_cli_runner().invoke(args=["api", "prune", "--hours", "24"])
    assert result.exit_code == 0, result.output
    assert "1" in result.output
    assert db.session.scalar(select(func.count()).select_from(IdempotentRequest)) == kept - 1


def test_the_document_describes_the_header(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    complete = doc["paths"]["/tasks/{task_id}/complete"]["post"]
    header = next(p for p in complete["parameters"] if p["name"] == "Idempotency-Key")
    assert header["in"] == "header" and header["required"] is False
    assert "idempotency_key_reused" in complete["responses"]["422"]["description"]
    assert "idempotency_key_in_flight" in complete["responses"]["409"]["description"]
    assert "Idempotent-Replayed" in complete["responses"]["200"]["headers"]
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            names = [p["name"] for p in op.get("parameters", [])]
            assert ("Idempotency-Key" in names) == (method == "post"), (method, path)


@pytest.mark.live
def test_two_submissions_racing_with_one_key_make_one_dossier(live_server, live_token):
    base = live_server.url
    citizen = live_token("congdan")
    data = with_uploads(requests_uploader(base), citizen, start_data("khai-sinh"))
    headers = {**citizen, **_key()}
    with live_server.app.app_context():
        before = db.session.scalar(select(func.count()).select_from(Dossier))
        db.session.remove()
    start = threading.Barrier(2)
    answers: list[requests.Response] = []

    def send() -> None:
        start.wait()
        answers.append(requests.post(f"{base}/api/v1/procedures/1.001193/dossiers", json=data, headers=headers,
                                     timeout=30))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(a.status_code for a in answers)
    assert statuses in ([201, 201], [201, 409]), [a.text[:300] for a in answers]
    if statuses == [201, 201]:
        assert answers[0].json()["code"] == answers[1].json()["code"]
        assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 1
    with live_server.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Dossier)) == before + 1
        db.session.remove()
    # Whatever the race gave, the retry now gets the first answer.
    retry = requests.post(f"{base}/api/v1/procedures/1.001193/dossiers", json=data, headers=headers, timeout=30)
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"

"""Other systems on the API: client credentials issued and revoked by an administrator (`flask api-clients`),
tokens from POST /oauth/token limited to the scopes granted, ended at once by a revocation."""

from __future__ import annotations

from typing import Any

from lxml import html
from sqlalchemy import func, select

from app.extensions import db
from app.models import AdminChange, ApiClient, ApiToken, AuditLog
from tests.conftest import login, user


def _create(app: Any, *args: str) -> tuple[str, str]:
    result = app.test_cli_runner().invoke(args=["api-clients", "create", "Hệ thống một cửa tỉnh", *args])
    assert result.exit_code == 0, result.output
    values = dict(line.split("=", 1) for line in result.output.splitlines() if "=" in line)
    return values["client_id"], values["client_secret"]


def _token(client: Any, client_id: str, secret: str, **form: str) -> Any:
    return client.post("/oauth/token", data={"grant_type": "client_credentials", **form},
                       auth=(client_id, secret))


def test_a_read_only_client_reads_and_cannot_act(app, client, db_session):
    client_id, secret = _create(app, "--scope", "api:read", "--agency", "000.00.01.H26", "--role", "tiep_nhan")
    stored = db.session.query(ApiClient).filter_by(client_id=client_id).one()
    assert secret not in stored.secret_sha256 and stored.scopes == ["api:read"]
    answer = _token(client, client_id, secret, scope="api:read api:write")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["token_type"] == "Bearer" and body["scope"] == "api:read" and body["expires_in"] == 3600
    [issued] = db.session.scalars(select(AuditLog).where(AuditLog.action == "token_issued")).all()
    assert (issued.object_kind, issued.object_ref, issued.chain) == ("api_client", client_id, "000.00.01.H26")
    assert issued.detail["scope"] == ["api:read"] and issued.reason == "POST /oauth/token"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/api/v1/tasks", headers=headers).status_code == 200
    refused = client.post("/api/v1/tasks/1/release", headers=headers, json={})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "insufficient_scope"
    assert 'scope="api:write"' in refused.headers["WWW-Authenticate"]


def test_a_writing_client_passes_the_scope_check(app, client, db_session):
    client_id, secret = _create(app, "--scope", "api:read", "--scope", "api:write", "--agency", "000.00.01.H26",
                                "--role", "tiep_nhan")
    token = _token(client, client_id, secret).get_json()
    assert token["scope"] == "api:read api:write"
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    answer = client.post("/api/v1/tasks/2147483000/release", headers=headers, json={})
    assert answer.status_code == 404  # past the scope check, to the use case: no such task


def test_wrong_secret_unknown_grant_and_revocation(app, client, db_session):
    client_id, secret = _create(app, "--scope", "api:read")
    assert _token(client, client_id, "wrong").status_code == 401
    assert _token(client, client_id, secret, grant_type="password").status_code == 400
    token = _token(client, client_id, secret).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/tasks", headers=headers).status_code == 200
    result = app.test_cli_runner().invoke(args=["api-clients", "revoke", client_id])
    assert result.exit_code == 0, result.output
    assert client.get("/api/v1/tasks", headers=headers).status_code == 401
    assert _token(client, client_id, secret).status_code == 401
    assert db.session.query(ApiToken).filter(ApiToken.api_client_id.is_not(None)).count() == 0
    listed = app.test_cli_runner().invoke(args=["api-clients", "list"]).output
    assert client_id in listed and "thu hồi" in listed


def test_the_cli_refuses_unknown_scopes_roles_and_agencies(app, db_session):
    runner = app.test_cli_runner()
    for args in (["--scope", "admin"], ["--role", "quan_tri"], ["--agency", "000.00.99.H26"]):
        result = runner.invoke(args=["api-clients", "create", "X", *args])
        assert result.exit_code != 0


# ---------------------------------------------------------------- in the administration area (web and API)


def _changes_of(client_pk: int) -> list[Any]:
    return list(db.session.scalars(select(AdminChange).where(AdminChange.entity == "api_client",
                                                             AdminChange.entity_id == client_pk)
                                   .order_by(AdminChange.id)))


def test_an_administrator_issues_and_revokes_a_client_on_the_web_page(app, client, db_session):
    login(client, "quantri")
    assert client.get("/quan-tri/he-thong-ket-noi").status_code == 200
    answer = client.post("/quan-tri/he-thong-ket-noi", data={
        "name": "Một cửa tỉnh", "agency": "000.00.01.h26", "scopes": ["api:read", "api:write"], "roles": ["tiep_nhan"]})
    assert answer.status_code == 201 and answer.headers["Cache-Control"] == "no-store"
    page = html.fromstring(answer.get_data(as_text=True))
    client_id, secret = page.get_element_by_id("issued-id").text_content(), page.get_element_by_id(
        "issued-secret").text_content()
    stored = db.session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    assert stored.user.agency.code == "000.00.01.H26" and stored.user.roles == ["tiep_nhan"]
    assert stored.scopes == ["api:read", "api:write"] and secret not in stored.secret_sha256
    # Listed again, the secret is never shown: only the answer that issued it had it.
    listed = client.get("/quan-tri/he-thong-ket-noi").get_data(as_text=True)
    assert client_id in listed and secret not in listed
    [created] = _changes_of(stored.id)
    assert created.action == "created" and created.actor_name == user("quantri").full_name
    assert created.after["client_id"] == client_id and secret not in str(created.after)

    token = _token(client, client_id, secret).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/tasks", headers=headers).status_code == 200
    revoked = client.post(f"/quan-tri/he-thong-ket-noi/{stored.id}/thu-hoi")
    assert revoked.status_code == 303
    assert client.get("/api/v1/tasks", headers=headers).status_code == 401
    assert [c.action for c in _changes_of(stored.id)] == ["created", "revoked"]
    again = client.post(f"/quan-tri/he-thong-ket-noi/{stored.id}/thu-hoi", follow_redirects=True)
    assert "đã bị thu hồi" in again.get_data(as_text=True)
    assert [c.action for c in _changes_of(stored.id)] == ["created", "revoked"]
    assert client.post("/quan-tri/he-thong-ket-noi/2147483000/thu-hoi").status_code == 404


def test_a_wrong_request_for_a_client_says_what_is_wrong_and_issues_nothing(app, client, db_session):
    login(client, "quantri")
    before = db.session.scalar(select(func.count()).select_from(ApiClient))
    answer = client.post("/quan-tri/he-thong-ket-noi", data={"name": " ", "agency": "000.00.99.H26",
                                                              "roles": ["quan_tri"]})
    assert answer.status_code == 422
    page = html.fromstring(answer.get_data(as_text=True))
    for field in ("name", "agency", "scopes", "roles"):
        assert page.get_element_by_id(f"f-{field}-error").text_content().strip(), field
    assert page.get_element_by_id("f-agency").get("value") == "000.00.99.H26"  # what was typed is kept
    roles_only = client.post("/quan-tri/he-thong-ket-noi", data={"name": "X", "scopes": "api:write",
                                                                  "roles": ["tiep_nhan"]})
    assert roles_only.status_code == 422 and "thay mặt một cơ quan" in roles_only.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ApiClient)) == before


def test_the_admin_api_issues_lists_and_revokes_clients_for_administrators_only(app, client, token, db_session):
    body = {"name": "Phần mềm của Bộ", "scopes": ["api:read"], "agency": "000.00.02.H26"}
    for username in ("hotich", "truongphong", "congdan", "thietke"):
        headers = token(username)
        assert client.post("/api/v1/admin/api-clients", json=body, headers=headers).status_code == 403
        assert client.get("/api/v1/admin/api-clients", headers=headers).status_code == 403
    assert db.session.scalar(select(func.count()).select_from(ApiClient)) == 0
    admin = token("quantri")
    issued = client.post("/api/v1/admin/api-clients", json=body, headers=admin)
    assert issued.status_code == 201, issued.get_json()
    got = issued.get_json()
    assert got["agency_code"] == "000.00.02.H26" and got["scopes"] == ["api:read"] and got["revoked_at"] is None
    assert _token(client, got["client_id"], got["client_secret"]).status_code == 200
    listed = client.get("/api/v1/admin/api-clients", headers=admin).get_json()["items"]
    assert [c["client_id"] for c in listed] == [got["client_id"]] and "client_secret" not in listed[0]
    bad = client.post("/api/v1/admin/api-clients", json={"name": "X", "scopes": ["root"]}, headers=admin)
    assert bad.status_code == 422 and "scopes" in str(bad.get_json())
    revoked = client.post(f"/api/v1/admin/api-clients/{got['id']}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]
    assert _token(client, got["client_id"], got["client_secret"]).status_code == 401
    twice = client.post(f"/api/v1/admin/api-clients/{got['id']}/revoke", headers=admin)
    assert twice.status_code == 409 and twice.get_json()["error"]["code"] == "api_client_revoked"
    assert client.post("/api/v1/admin/api-clients/2147483000/revoke", headers=admin).status_code == 404


def test_a_token_printed_by_the_server_command_is_audited(app, db_session):
    result = app.test_cli_runner().invoke(args=["users", "token", "hotich"])
    assert result.exit_code == 0, result.output
    [issued] = db.session.scalars(select(AuditLog).where(AuditLog.action == "token_issued")).all()
    assert (issued.object_kind, issued.object_ref, issued.actor_id) == ("user", "hotich", None)
    assert issued.chain == "000.00.01.H26" and issued.reason == "flask users token"

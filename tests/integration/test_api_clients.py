"""Other systems on the API: client credentials issued and revoked by an administrator (`flask api-clients`),
tokens from POST /oauth/token limited to the scopes granted, ended at once by a revocation."""

from __future__ import annotations

from typing import Any

from app.extensions import db
from app.models import ApiClient, ApiToken


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

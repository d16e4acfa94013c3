"""The token endpoint of the platform's own API for other systems: OAuth 2 client credentials (Authlib's server).

``POST /oauth/token`` with ``grant_type=client_credentials`` (client_secret_basic or client_secret_post) and an
optional ``scope`` answers a bearer token for the client's service account, limited to the scopes the
administrator granted it (``api:read``: GET; ``api:write``: every method) and to API_CLIENT_TOKEN_SECONDS.
Clients are issued and revoked with ``flask api-clients``; revoking ends their tokens at once.
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from flask import current_app
from flask.typing import ResponseReturnValue

from app import audit
from app.accounts import api_client, api_client_secret_valid, issue_client_token
from app.extensions import db
from app.models import ApiClient
from app.models.user import API_SCOPES

_EXTENSION = "motcua_api_clients"


class _Client(ClientMixin):
    """An API client as Authlib's grant asks about it."""

    def __init__(self, row: ApiClient) -> None:
        self.row = row

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        asked = (scope or "").split() or list(self.row.scopes)
        return " ".join(s for s in asked if s in self.row.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return api_client_secret_valid(self.row, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class _ClientCredentials(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def _query_client(client_id: str) -> _Client | None:
    row = api_client(client_id)
    return _Client(row) if row is not None else None


def _generate(grant_type: str, client: _Client, user: Any = None, scope: str | None = None,
              expires_in: int | None = None, include_refresh_token: bool = False) -> dict[str, Any]:
    granted = client.get_allowed_scope(scope or "").split()
    seconds = int(current_app.config["API_CLIENT_TOKEN_SECONDS"])
    token = issue_client_token(client.row, granted, seconds)
    audit.record(audit.TOKEN_ISSUED, actor=client.row.user, object_kind="api_client", object_ref=client.row.client_id,
                 detail={"scope": granted, "seconds": seconds})
    return {"token_type": "Bearer", "access_token": token, "expires_in": seconds, "scope": " ".join(granted)}


def _server() -> AuthorizationServer:
    held = current_app.extensions.get(_EXTENSION)
    if isinstance(held, AuthorizationServer):
        return held
    server = AuthorizationServer()
    server.init_app(current_app, query_client=_query_client, save_token=lambda token, request: None)
    server.scopes_supported = list(API_SCOPES)
    server.register_token_generator("client_credentials", _generate)
    server.register_grant(_ClientCredentials)
    current_app.extensions[_EXTENSION] = server
    return server


def token_response() -> ResponseReturnValue:
    """Authlib answers (errors included: invalid_client, unsupported_grant_type, invalid_scope); a token issued is
    committed with the answer."""
    answer = _server().create_token_response()
    if answer.status_code == 200:
        db.session.commit()
    else:
        db.session.rollback()
    return answer

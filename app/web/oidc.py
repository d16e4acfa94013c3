"""The national identity provider (OpenID Connect), as the platform's web pages and API use it.

Authlib's Flask client does the protocol: discovery, the authorization request with state, nonce and PKCE (S256)
kept in the session, the code exchange, the ID token's signature (the provider's JWKS), issuer, audience, expiry
and nonce, the userinfo call and RP-initiated logout. joserfc checks the provider's access tokens the API accepts
as bearer tokens (RFC 9068: type ``at+jwt``, signature, issuer, audience, expiry).

The client is built from the configuration (OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_SCOPE) and
rebuilt when it changes, so a test can point a running app at the demo provider it started.
"""

from __future__ import annotations

import time
from typing import Any

from authlib.integrations.flask_client import FlaskOAuth2App, OAuth
from flask import current_app
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from app.accounts import ProviderIdentity, find_identity, user_for_token
from app.models import User

ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")
_EXTENSION = "motcua_oidc"


def provider() -> FlaskOAuth2App | None:
    """The identity provider's client, or None when single sign-on is not configured."""
    config = current_app.config
    issuer = _issuer()
    if not issuer:
        return None
    key = (issuer, config["OIDC_CLIENT_ID"], config["OIDC_CLIENT_SECRET"], config["OIDC_SCOPE"])
    held = current_app.extensions.get(_EXTENSION)
    if held is not None and held[0] == key:
        client: FlaskOAuth2App = held[1]
        return client
    oauth = OAuth()
    oauth.init_app(current_app)
    client = oauth.register(
        "vneid", client_id=key[1], client_secret=key[2],
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": key[3], "code_challenge_method": "S256", "timeout": config["OIDC_TIMEOUT"],
                       "token_endpoint_auth_method": "client_secret_basic"})
    current_app.extensions[_EXTENSION] = (key, client)
    return client


_DOWN = "motcua_oidc_down_until"  # app.extensions: (issuer, time.monotonic() until which it counts as unreachable)


def _issuer() -> str:
    return str(current_app.config.get("OIDC_ISSUER") or "").rstrip("/")


def unreachable() -> bool:
    """The configured provider failed to answer within the last OIDC_RETRY_SECONDS (this process's view)."""
    held = current_app.extensions.get(_DOWN)
    return held is not None and held[0] == _issuer() and time.monotonic() < held[1]


def answered(ok: bool) -> None:
    """What the provider did on a login's first request: answered, or failed (then spared for OIDC_RETRY_SECONDS)."""
    if ok:
        current_app.extensions.pop(_DOWN, None)
    else:
        current_app.extensions[_DOWN] = (_issuer(), time.monotonic() + float(current_app.config["OIDC_RETRY_SECONDS"]))


def enabled() -> bool:
    return bool(current_app.config.get("OIDC_ISSUER"))


def _access_token_claims(client: FlaskOAuth2App, token: str) -> dict[str, Any] | None:
    metadata = client.load_server_metadata()
    audience = current_app.config.get("OIDC_API_AUDIENCE") or current_app.config["OIDC_CLIENT_ID"]
    try:
        try:
            decoded = jwt.decode(token, KeySet.import_key_set(client.fetch_jwk_set()), algorithms=["RS256"])
        except InvalidKeyIdError:  # the provider rolled its keys: fetch them once more
            decoded = jwt.decode(token, KeySet.import_key_set(client.fetch_jwk_set(force=True)), algorithms=["RS256"])
        if str(decoded.header.get("typ", "")).lower() not in ACCESS_TOKEN_TYPES:
            return None  # an ID token (same issuer and audience) is no access token
        jwt.JWTClaimsRegistry(leeway=30, iss={"essential": True, "value": metadata.get("issuer")},
                              aud={"essential": True, "value": audience}, exp={"essential": True},
                              sub={"essential": True}).validate(decoded.claims)
    except (JoseError, ValueError):
        return None
    return dict(decoded.claims)


def user_for_provider_token(token: str) -> User | None:
    """The user a provider's access token stands for, with the level of assurance it asserts; None when the token
    is not valid (forged, expired, for another audience) or names nobody the platform knows."""
    client = provider()
    if client is None or token.count(".") != 2 or len(token) > 8192:
        return None
    try:
        claims = _access_token_claims(client, token)
    except Exception:  # noqa: BLE001 - the provider's metadata or keys unreachable: the token cannot be checked
        current_app.logger.warning("Identity provider unreachable while checking an API access token")
        return None
    if claims is None:
        return None
    try:
        identity = ProviderIdentity.from_claims(claims)
    except ValueError:
        return None
    user = find_identity(identity)
    if user is None or not user.active:
        return None
    user.loa = identity.loa
    return user


def bearer_user(token: str) -> User | None:
    """The user of an API bearer token: a platform token (``flask users token``) or the identity provider's."""
    if not token:
        return None
    return user_for_token(token) or user_for_provider_token(token)

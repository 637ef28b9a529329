"""Optional OpenID Connect login (ADR 0020): the authorization code flow with PKCE (RFC 7636)
and a nonce, the ID token's signature checked against the provider's published keys and its
claims (issuer, audience, expiry, nonce) checked before anyone is logged in. An ID token
logs in only the account linked to its subject (``accord user add --oidc-subject``); the
provider says who the person is, the node still decides what they may do.

authlib makes the PKCE challenge and the random values; the ID token is verified with
joserfc (authlib's own JOSE module is deprecated in its favour); the provider is called with
aiohttp, bounded in time and size like every call a node makes.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select

from accord.config import Settings
from accord.db.schema import console_users
from accord.errors import LoginRefused
from accord.node.home import Node
from accord.web.accounts import User, get

MAX_ANSWER_BYTES = 1024 * 1024  # discovery, keys and token answers are small
PENDING_FOR = 600.0  # seconds a browser has to come back from the provider
ALGORITHMS = ["RS256", "ES256", "EdDSA"]


@dataclass(frozen=True)
class Pending:
    nonce: str
    verifier: str
    expires: float


class Provider:
    """One configured OpenID provider, with the logins on their way through it."""

    def __init__(self, settings: Settings, redirect_uri: str) -> None:
        issuer = settings.console_oidc_issuer
        client = settings.console_oidc_client_id
        if issuer is None or client is None:
            raise ValueError("no OIDC provider configured")
        self.issuer = issuer.rstrip("/")
        self.client_id = client
        secret = settings.console_oidc_client_secret
        self.client_secret = secret.get_secret_value() if secret else None
        self.redirect_uri = redirect_uri
        self.timeout = aiohttp.ClientTimeout(total=settings.request_timeout)
        self._pending: dict[str, Pending] = {}
        self._lock = threading.Lock()

    async def start(self) -> tuple[str, str]:
        """The provider's authorization address to send the browser to, and the state."""
        meta = await self._discovery()
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        with self._lock:
            now = time.monotonic()
            self._pending = {k: v for k, v in self._pending.items() if v.expires > now}
            self._pending[state] = Pending(nonce, verifier, now + PENDING_FOR)
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid email",
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),  # type: ignore[no-untyped-call]
            "code_challenge_method": "S256",
        }
        return f"{meta['authorization_endpoint']}?{urlencode(query)}", state

    async def finish(self, node: Node, state: str, expected_state: str, code: str) -> User:
        """The account the provider's answer logs in, or :class:`LoginRefused`."""
        with self._lock:
            pending = self._pending.pop(state, None)
        if (
            pending is None
            or not secrets.compare_digest(state.encode(), expected_state.encode())
            or pending.expires < time.monotonic()
        ):
            raise _refused("the login through the provider was not started here, or expired")
        meta = await self._discovery()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": pending.verifier,
            "client_id": self.client_id,
        }
        if self.client_secret:
            form["client_secret"] = self.client_secret
        tokens = await self._call("POST", meta["token_endpoint"], form)
        keys = await self._call("GET", meta["jwks_uri"])
        claims = self._verified(str(tokens.get("id_token", "")), keys, pending.nonce, node)
        return _account(node, str(claims["sub"]))

    def _verified(self, token: str, keys: dict[str, Any], nonce: str, node: Node) -> dict[str, Any]:
        try:
            key_set = KeySet.import_key_set(keys)  # type: ignore[arg-type]  # checked by joserfc
            decoded = jwt.decode(token, key_set, algorithms=ALGORITHMS)
            jwt.JWTClaimsRegistry(
                now=int(node.clock.now().timestamp()),
                leeway=int(node.settings.clock_skew),
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.client_id},
                exp={"essential": True},
                sub={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(decoded.claims)
        except (JoseError, ValueError, TypeError) as exc:
            raise _refused(f"the provider's ID token is not valid here ({exc})") from exc
        return dict(decoded.claims)

    async def _discovery(self) -> dict[str, Any]:
        meta = await self._call("GET", f"{self.issuer}/.well-known/openid-configuration")
        if str(meta.get("issuer", "")).rstrip("/") != self.issuer:  # OIDC Discovery §4.3
            raise _refused("the provider's discovery document names another issuer")
        return meta

    async def _call(
        self, method: str, url: str, form: dict[str, str] | None = None
    ) -> dict[str, Any]:
        try:
            async with (
                aiohttp.ClientSession(timeout=self.timeout) as session,
                session.request(method, url, data=form) as answer,
            ):
                body = await answer.content.read(MAX_ANSWER_BYTES + 1)
                if answer.status != 200 or len(body) > MAX_ANSWER_BYTES:
                    raise _refused(f"the provider answered {answer.status} at {url}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _refused(f"the provider cannot be reached at {url}") from exc
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise _refused(f"the provider's answer at {url} is not JSON") from exc
        if not isinstance(data, dict):
            raise _refused(f"the provider's answer at {url} is not a JSON object")
        return data


def _account(node: Node, subject: str) -> User:
    with node.read_engine.connect() as connection:
        name = connection.execute(
            select(console_users.c.name).where(
                console_users.c.oidc_subject == subject, console_users.c.disabled == 0
            )
        ).scalar()
    if name is None:
        raise _refused("no enabled account of this node is linked to your identity")
    return get(node, str(name))


def _refused(message: str) -> LoginRefused:
    return LoginRefused(
        message, advice="Log in again, or ask an administrator to link your account."
    )

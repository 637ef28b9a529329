"""The operator console's ASGI app, mounted by the node at ``/console`` (ADR 0020): sessions,
CSRF and the role of each route are checked here, on the server, before any page runs.

Pages are rendered by Jinja2 with autoescaping on, so every value from a request, a peer or
an operator is shown as text; htmx (served from the package) swaps page fragments.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from accord.audit.models import Action
from accord.errors import AccordError, ConsoleForbidden, FieldError, InputError, NotFoundError
from accord.requests.service import Requests
from accord.web import access, accounts, oidc, sessions
from accord.web.accounts import User
from accord.web.i18n import NAMES, Interface
from accord.web.sessions import COOKIE, LOGIN_COOKIE, OIDC_COOKIE, Session

BASE = "/console"
STATIC = Path(__file__).parent / "static"
MAX_FORM_BYTES = 2 * 1024 * 1024  # a request's text is at most 1 MiB (requests.validate)
SECURITY_HEADERS = {
    # no script or style but the package's own files; never framed
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


class NotLoggedIn(Exception):
    """No live session: the browser is sent to the login page."""


@dataclass(frozen=True)
class Context:
    """Who is asking, in which language, with the session's CSRF token and the form sent."""

    user: User
    session_id: str
    session: Session
    ui: Interface
    form: Mapping[str, list[str]]

    def value(self, name: str) -> str:
        return (self.form.get(name) or [""])[0]


Handler = Callable[[Request, Context], Awaitable[Response]]


class Console:
    """The console's routes over one node's services."""

    def __init__(self, service: Requests) -> None:
        self.service = service
        self.node = service.node
        settings = self.node.settings
        self.oidc = (
            oidc.Provider(settings, f"{self.node.participant.url}{BASE}/oidc/callback")
            if settings.console_oidc_issuer and settings.console_oidc_client_id
            else None
        )
        self.templates = Environment(
            loader=PackageLoader("accord.web"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    # Rendering -----------------------------------------------------------------------------

    def page(
        self, template: str, context: Context | None, status: int = 200, **values: Any
    ) -> HTMLResponse:
        ui = context.ui if context else Interface("en")
        html = self.templates.get_template(template).render(
            base=BASE,
            ui=ui,
            t=ui,
            user=context.user if context else None,
            csrf=context.session.csrf if context else "",
            menu=access.menu(context.user.role) if context else [],
            languages=NAMES,
            allowed=(lambda route: access.allowed(context.user.role, route)) if context else None,
            **values,
        )
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    # The gate ------------------------------------------------------------------------------

    async def enter(self, request: Request, route: str) -> Context:
        """The caller's context if its session is live, its role may use ``route`` and, for
        a POST, the form carries this session's CSRF token; else raises."""
        session_id = request.cookies.get(COOKIE)
        session = await asyncio.to_thread(sessions.find, self.node, session_id)
        if session is None or session_id is None:
            raise NotLoggedIn
        user = await asyncio.to_thread(accounts.get, self.node, session.user)
        ui = Interface(user.language)
        form: Mapping[str, list[str]] = {}
        if request.method == "POST":
            form = await read_form(request)
            if not sessions.same_token(session.csrf, (form.get("csrf") or [""])[0]):
                raise ConsoleForbidden(
                    "the form carries no valid token of this session",
                    advice="Reload the page and send the form again.",
                )
        if not access.allowed(user.role, route):
            raise ConsoleForbidden(
                f"the {user.role} role may not use this page",
                advice="Ask an administrator if your work needs it.",
            )
        return Context(user, session_id, session, ui, form)

    # Login -----------------------------------------------------------------------------------

    async def login_form(self, request: Request, problem: str = "", status: int = 200) -> Response:
        token = request.cookies.get(LOGIN_COOKIE) or sessions.new_token()
        response = self.page(
            "login.html", None, status, login_csrf=token, problem=problem, oidc=self.oidc
        )
        self.set_cookie(response, LOGIN_COOKIE, token, 600)
        return response

    async def login(self, request: Request) -> Response:
        form = await read_form(request)
        expected = request.cookies.get(LOGIN_COOKIE) or ""
        if not expected or not sessions.same_token(expected, (form.get("csrf") or [""])[0]):
            raise ConsoleForbidden(
                "the login form carries no valid token",
                advice="Open the login page again and send the form from it.",
            )
        name = (form.get("name") or [""])[0].strip()
        password = (form.get("password") or [""])[0]
        try:
            user = await asyncio.to_thread(accounts.authenticate, self.node, name, password)
        except AccordError as error:
            return await self.login_form(request, error.message, error.http_status)
        response = RedirectResponse(_landing(user), status_code=303)
        await self.logged_in(request, response, user)
        response.delete_cookie(LOGIN_COOKIE, path=BASE)
        return response

    async def logged_in(self, request: Request, response: Response, user: User) -> None:
        """A new session for ``user`` on ``response`` (the browser's old one ended), audited."""
        old = request.cookies.get(COOKIE)
        session_id, _session = await asyncio.to_thread(sessions.start, self.node, user.name, old)
        now = self.node.clock.now()
        await asyncio.to_thread(accounts.audit, self.node, Action.CONSOLE_LOGIN, user.name, now)
        self.set_cookie(response, COOKIE, session_id, self.node.settings.console_session_lifetime)

    async def oidc_start(self) -> Response:
        provider = self._provider()
        target, state = await provider.start()
        response = RedirectResponse(target, status_code=303)
        # Lax, not Strict: the browser brings it back on the provider's cross-site redirect
        self.set_cookie(response, OIDC_COOKIE, state, oidc.PENDING_FOR, samesite="lax")
        return response

    async def oidc_callback(self, request: Request) -> Response:
        provider = self._provider()
        state, code = request.query_params.get("state", ""), request.query_params.get("code", "")
        try:
            user = await provider.finish(
                self.node, state, request.cookies.get(OIDC_COOKIE, ""), code
            )
        except AccordError:
            now = self.node.clock.now()
            await asyncio.to_thread(
                accounts.audit, self.node, Action.CONSOLE_LOGIN_FAILED, "oidc", now
            )
            raise
        # a page, not a redirect: after the provider's cross-site redirect the browser would
        # not send the Strict session cookie with a redirect's next request
        response = self.page("continue.html", None, target=_landing(user))
        await self.logged_in(request, response, user)
        response.delete_cookie(OIDC_COOKIE, path=BASE)
        return response

    def _provider(self) -> oidc.Provider:
        if self.oidc is None:
            raise NotFoundError(
                "this node has no OpenID provider configured",
                advice="Log in with your user name and password.",
            )
        return self.oidc

    async def logout(self, request: Request, context: Context) -> Response:
        await asyncio.to_thread(sessions.end, self.node, context.session_id)
        now = self.node.clock.now()
        await asyncio.to_thread(
            accounts.audit, self.node, Action.CONSOLE_LOGOUT, context.user.name, now
        )
        response = RedirectResponse(f"{BASE}/login", status_code=303)
        response.delete_cookie(COOKIE, path=BASE)
        return response

    def set_cookie(
        self,
        response: Response,
        name: str,
        value: str,
        lifetime: float,
        samesite: Literal["strict", "lax"] = "strict",
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=int(lifetime),
            path=BASE,
            secure=self.node.settings.console_secure_cookies,
            httponly=True,
            samesite=samesite,
        )


def _landing(user: User) -> str:
    """Administrators see no case: their first page is the accounts."""
    return f"{BASE}/users" if user.role is accounts.Role.ADMINISTRATOR else f"{BASE}/dashboard"


async def read_form(request: Request) -> dict[str, list[str]]:
    """An ``application/x-www-form-urlencoded`` body, bounded; other bodies are refused."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/x-www-form-urlencoded":
        raise InputError(
            "the console takes HTML forms only",
            advice="Send the form from the console's page.",
            errors=[FieldError("content-type", "invalid_choice", kind or "missing")],
        )
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise InputError(
                f"the form is over {MAX_FORM_BYTES} bytes",
                advice="Shorten the longest texts, or send them as an evidence package.",
            )
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=2000)

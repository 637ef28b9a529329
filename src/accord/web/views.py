"""The console's pages. Each route names its entry in ``access.ROUTES``; ``Console.enter``
checks the session, the role and the CSRF token before the page runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from accord.audit.proofs import inclusion_document
from accord.audit.service import AuditLog
from accord.errors import AccordError, AccountInvalid, FieldError, RequestInvalid
from accord.evidence.package import Package
from accord.evidence.service import Evidence
from accord.evidence.verify import read_custody
from accord.requests.catalogs import LANGUAGES as RENDERED
from accord.requests.events import PAYLOADS, Kind, Note
from accord.requests.machine import MOVES
from accord.requests.models import RequestType, article_of
from accord.requests.records import MODELS
from accord.requests.service import Requests, Shown
from accord.requests.validate import validate
from accord.web import accounts, approvals, forms, pages, plots, sessions
from accord.web.accounts import Role
from accord.web.app import BASE, STATIC, Console, Context, NotLoggedIn
from accord.web.i18n import Interface
from accord.web.sessions import COOKIE

DASHBOARD_ROWS = 20
CHECKPOINT_ROWS = 10
LATENCY_DAYS = 30
SILENT_AFTER = 3600.0  # a delivery with no receipt an hour on is shown as silent
# made by the node when a request is created, never offered as a move
AUTOMATIC = frozenset({Kind.VALIDATE, Kind.SUBMIT})


def create(service: Requests) -> FastAPI:
    """The console app, to be mounted at :data:`BASE`."""
    console = Console(service)
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(_request: Request, _exc: NotLoggedIn) -> Response:
        return RedirectResponse(f"{BASE}/login", status_code=303)

    @app.exception_handler(AccordError)
    async def refused(request: Request, error: AccordError) -> Response:
        context = await _context_or_none(console, request)
        return console.page("error.html", context, error.http_status, error=error)

    @app.get("/login")
    async def login_page(request: Request) -> Response:
        return await console.login_form(request)

    @app.post("/login")
    async def login(request: Request) -> Response:
        return await console.login(request)

    @app.get("/oidc/start")
    async def oidc_start() -> Response:
        return await console.oidc_start()

    @app.get("/oidc/callback")
    async def oidc_callback(request: Request) -> Response:
        return await console.oidc_callback(request)

    install(app, console)
    return app


async def _context_or_none(console: Console, request: Request) -> Context | None:
    """The asker's context for an error page (its language, its menu), if it has a session."""
    found = await asyncio.to_thread(sessions.find, console.node, request.cookies.get(COOKIE))
    if found is None:
        return None
    user = await asyncio.to_thread(accounts.get, console.node, found.user)
    return Context(user, "", found, Interface(user.language), {})


def install(app: FastAPI, console: Console) -> None:  # noqa: PLR0915 - one route each
    node = console.node
    service = console.service
    size = node.settings.console_page_size
    open_requests = pages.OpenRequests(node)

    @app.get("/")
    async def home(request: Request) -> Response:
        await console.enter(request, "home")
        return RedirectResponse(f"{BASE}/dashboard", status_code=303)

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        return await console.logout(request, await console.enter(request, "logout"))

    @app.post("/language")
    async def language(request: Request) -> Response:
        context = await console.enter(request, "language")
        await asyncio.to_thread(
            accounts.set_language, node, context.user.name, context.value("language")
        )
        back = context.value("next")
        return RedirectResponse(back if _local(back) else f"{BASE}/", status_code=303)

    @app.get("/dashboard")
    async def dashboard(request: Request) -> Response:
        context = await console.enter(request, "dashboard")
        data = await asyncio.to_thread(_dashboard, console, open_requests)
        template = "dashboard_body.html" if request.headers.get("hx-request") else "dashboard.html"
        return console.page(template, context, **data)

    @app.get("/inbox")
    async def inbox(request: Request, after: str | None = None) -> Response:
        context = await console.enter(request, "inbox")
        page = await asyncio.to_thread(pages.inbox_page, node, after, size)
        return console.page("inbox.html", context, page=page)

    @app.get("/outbox")
    async def outbox(request: Request, after: str | None = None) -> Response:
        context = await console.enter(request, "outbox")
        page = await asyncio.to_thread(pages.outbox_page, node, after, size)
        return console.page("outbox.html", context, page=page)

    @app.get("/requests")
    async def request_list(  # noqa: PLR0917 - the list's filters
        request: Request,
        after: str | None = None,
        type: str | None = None,
        status: str | None = None,
        role: str | None = None,
        counterpart: str | None = None,
    ) -> Response:
        context = await console.enter(request, "requests")
        filters = pages.Filters(type or None, status or None, role or None, counterpart or None)
        page = await asyncio.to_thread(pages.requests_page, node, filters, after, size)
        template = "requests_rows.html" if request.headers.get("hx-request") else "requests.html"
        return console.page(
            template,
            context,
            page=page,
            filters=filters,
            types=list(RequestType),
            query=_query(filters),
        )

    @app.get("/requests/{request_id}")
    async def request_detail(request_id: str, request: Request) -> Response:
        context = await console.enter(request, "request")
        return await _detail(console, context, request_id)

    @app.get("/requests/{request_id}/print")
    async def print_view(request_id: str, request: Request) -> Response:
        context = await console.enter(request, "print")
        lang = context.ui.lang
        html = await asyncio.to_thread(service.render, request_id, lang if _renders(lang) else None)
        return Response(html, media_type="text/html; charset=utf-8")

    @app.post("/requests/{request_id}/move")
    async def move(request_id: str, request: Request) -> Response:
        context = await console.enter(request, "move")
        try:
            kind = Kind(context.value("kind"))
        except ValueError:
            kind = None
        shown = await asyncio.to_thread(service.show, request_id)
        if kind is None or kind not in _moves(shown):
            error = RequestInvalid(
                "this move is not one this State may make now",
                advice="Choose one of the moves shown on the request's page.",
                errors=[FieldError("kind", "invalid_choice", context.value("kind"))],
            )
            return await _detail(console, context, request_id, error=error, status=422)
        payload, problems = forms.parse(forms.specs(PAYLOADS.get(kind, Note)), context.form)
        try:
            if problems:
                raise RequestInvalid("the move's form has problems", errors=problems)
            await asyncio.to_thread(service.transition, request_id, kind, payload)
        except AccordError as error:
            return await _detail(console, context, request_id, error=error, failed=kind, status=422)
        return RedirectResponse(f"{BASE}/requests/{request_id}", status_code=303)

    @app.get("/compose")
    async def compose_index(request: Request) -> Response:
        context = await console.enter(request, "compose")
        formal = approvals.approval_types(node.settings)
        kinds = [(kind, article_of(kind), kind in formal) for kind in RequestType]
        return console.page("compose_index.html", context, kinds=kinds)

    @app.get("/compose/{kind}")
    async def compose(kind: RequestType, request: Request) -> Response:
        context = await console.enter(request, "compose")
        me = service.federation.directory().participant(node.id)
        values = {"requesting_state": [me.country], "related_ids": []}
        return _composer(console, context, kind, values)

    @app.post("/compose/{kind}")
    async def compose_send(kind: RequestType, request: Request) -> Response:
        context = await console.enter(request, "compose")
        return await _compose_send(console, context, kind)

    @app.get("/approvals")
    async def approval_list(request: Request) -> Response:
        context = await console.enter(request, "approvals")
        drafts = await asyncio.to_thread(approvals.awaiting, service, size)
        return console.page("approvals.html", context, drafts=drafts)

    @app.post("/approvals/{draft_id}/approve")
    async def approve(draft_id: str, request: Request) -> Response:
        context = await console.enter(request, "decide")
        summary = await asyncio.to_thread(approvals.approve, service, draft_id, context.user)
        return RedirectResponse(f"{BASE}/requests/{summary.request_id}", status_code=303)

    @app.post("/approvals/{draft_id}/reject")
    async def reject(draft_id: str, request: Request) -> Response:
        context = await console.enter(request, "decide")
        reason = context.value("reason")
        await asyncio.to_thread(approvals.reject, service, draft_id, context.user, reason)
        return RedirectResponse(f"{BASE}/approvals", status_code=303)

    @app.get("/plots")
    async def plot_page(request: Request) -> Response:
        context = await console.enter(request, "plots")
        spreads = plots.spreads(await asyncio.to_thread(pages.turnaround, node))
        return console.page("plots.html", context, spreads=spreads)

    @app.get("/plots/turnaround.svg")
    async def turnaround(request: Request) -> Response:
        context = await console.enter(request, "plots")
        spreads = plots.spreads(await asyncio.to_thread(pages.turnaround, node))
        ui = context.ui
        svg = plots.spread_svg(spreads, ui("Turnaround: submission to answer"), ui("days"))
        return Response(svg, media_type="image/svg+xml")

    @app.get("/plots/latency.svg")
    async def latency(request: Request) -> Response:
        context = await console.enter(request, "plots")
        since = node.clock.now().timestamp() - LATENCY_DAYS * plots.DAY
        samples = await asyncio.to_thread(pages.delivery_latency, node, since)
        ui = context.ui
        title = ui("Delivery latency per day: queued to receipt")
        svg = plots.spread_svg(plots.spreads(samples, unit=1.0), title, ui("seconds"))
        return Response(svg, media_type="image/svg+xml")

    @app.get("/evidence")
    async def evidence(request: Request) -> Response:
        context = await console.enter(request, "evidence")
        packages = await asyncio.to_thread(pages.evidence_packages, node, size)
        return console.page("evidence.html", context, packages=packages)

    @app.post("/evidence/{package_id}/open")
    async def evidence_open(package_id: str, request: Request) -> Response:
        """Decrypt with this node's key and check every file against the signed manifest,
        writing nothing; the opening is recorded in the custody chain and the audit log."""
        context = await console.enter(request, "evidence_open")
        folder = await asyncio.to_thread(pages.package_folder, node, package_id)
        evidence, package = Evidence(node), Package(folder)
        verified = await asyncio.to_thread(evidence.open, package, lambda _: None)
        # the chain as it now stands, the opening included, every link verified again
        _, custody = await asyncio.to_thread(read_custody, package, evidence.keys(package))
        return console.page("evidence_open.html", context, verified=verified, custody=custody)

    @app.get("/alerts")
    async def alert_list(request: Request, after: str | None = None) -> Response:
        context = await console.enter(request, "alerts")
        page = await asyncio.to_thread(pages.alerts_page, node, after, size)
        return console.page("alerts.html", context, page=page)

    @app.get("/audit")
    async def audit(request: Request, before: int | None = None) -> Response:
        context = await console.enter(request, "audit")
        found = await asyncio.to_thread(pages.checkpoints, node, CHECKPOINT_ROWS)
        alarms = await asyncio.to_thread(pages.alarms, node, size)
        entries, following = await asyncio.to_thread(pages.audit_entries, node, before, size)
        return console.page(
            "audit.html",
            context,
            checkpoints=found,
            alarms=alarms,
            entries=entries,
            following=following,
        )

    @app.get("/audit/proof")
    async def audit_proof(request: Request, index: int) -> Response:
        """RFC 9162 §2.1.3 inclusion proof of one entry, to check with `accord audit verify`."""
        await console.enter(request, "audit_proof")
        proof = await asyncio.to_thread(AuditLog(node).prove, index)
        body = json.dumps(inclusion_document(proof), indent=2)
        disposition = f'attachment; filename="audit-entry-{proof.index}.json"'
        return Response(
            body, media_type="application/json", headers={"content-disposition": disposition}
        )

    @app.get("/users")
    async def users(request: Request) -> Response:
        context = await console.enter(request, "users")
        listed = await asyncio.to_thread(accounts.users, node)
        return console.page("users.html", context, users=listed, roles=list(Role))

    @app.post("/users/{name}")
    async def user_change(name: str, request: Request) -> Response:
        context = await console.enter(request, "user_change")
        if context.value("action") == "disable":
            await asyncio.to_thread(accounts.disable, node, name)
        else:
            await asyncio.to_thread(accounts.set_role, node, name, _role(context.value("role")))
        return RedirectResponse(f"{BASE}/users", status_code=303)


# Pages' data ------------------------------------------------------------------------------


def _dashboard(console: Console, open_requests: pages.OpenRequests) -> dict[str, Any]:
    node = console.node
    now = node.clock.now()
    return {
        "due": open_requests.due(now, DASHBOARD_ROWS),
        "troubled": pages.troubled_deliveries(node, now, SILENT_AFTER, DASHBOARD_ROWS),
        "unacknowledged": pages.unacknowledged(node, DASHBOARD_ROWS),
        "alerts": pages.active_alerts(node, now, DASHBOARD_ROWS),
        "now": now,
    }


async def _detail(
    console: Console,
    context: Context,
    request_id: str,
    *,
    error: AccordError | None = None,
    failed: Kind | None = None,
    status: int = 200,
) -> Response:
    shown = await asyncio.to_thread(console.service.show, request_id)
    moves = [
        (kind, MOVES[kind].article, forms.specs(PAYLOADS.get(kind, Note))) for kind in _moves(shown)
    ]
    return console.page(
        "request.html",
        context,
        status,
        shown=shown,
        moves=moves,
        error=error,
        failed=failed,
        values=forms.flat({}) if error is None else context.form,
        record=shown.request.model_dump(mode="json", exclude_none=True),
    )


def _moves(shown: Shown) -> list[Kind]:
    """The moves this State may make on the request now (§8.2), in the table's order."""
    if shown.folded is None:
        return []
    status = shown.folded.state.status
    kind = shown.request.REQUEST_TYPE
    return [
        move
        for move, rule in MOVES.items()
        if move not in AUTOMATIC
        and rule.party is shown.summary.role
        and status in rule.moves
        and (rule.only is None or kind in rule.only)
    ]


def _composer(
    console: Console,
    context: Context,
    kind: RequestType,
    values: Mapping[str, list[str]],
    *,
    error: AccordError | None = None,
    status: int = 200,
) -> Response:
    directory = console.service.federation.directory()
    recipients = [p for p in directory.document.participants if p.id != console.node.id]
    return console.page(
        "compose.html",
        context,
        status,
        kind=kind,
        article=article_of(kind),
        formal=approvals.needs_approval(console.node.settings, kind),
        fields=forms.specs(MODELS[kind]),
        values=values,
        recipients=recipients,
        error=error,
        problems={e.field: e for e in (error.errors if error else [])},
    )


async def _compose_send(console: Console, context: Context, kind: RequestType) -> Response:
    """Every problem of the form at once (shape and the type's rules); sent, or kept for a
    supervisor when the type is formal."""
    service = console.service
    fields = forms.specs(MODELS[kind])
    data, problems = forms.parse(fields, context.form)
    data["type"] = kind.value
    to = context.value("to")
    try:
        peer = service.federation.directory().participant(to)
    except AccordError:
        problems.append(FieldError("to", "required", "choose the participant to send it to"))
        peer = None
    if peer is not None:
        data.setdefault("requested_state", peer.country)
        data["receiving_authority"] = to
    try:
        probe = {"message_id": "draft", "receiving_authority": to or "unknown", **data}
        validate(probe)
    except RequestInvalid as invalid:
        problems += invalid.errors
    if problems:
        error = RequestInvalid(
            f"the {kind} request has {len(problems)} problem(s)",
            advice="Correct each field listed, then send the form again.",
            errors=problems,
        )
        return _composer(console, context, kind, context.form, error=error, status=422)
    try:
        if approvals.needs_approval(service.node.settings, kind):
            await asyncio.to_thread(approvals.submit, service, data, to, context.user)
            return RedirectResponse(f"{BASE}/approvals", status_code=303)
        summary = await asyncio.to_thread(service.create, data, to)
    except AccordError as error:
        return _composer(console, context, kind, context.form, error=error, status=422)
    return RedirectResponse(f"{BASE}/requests/{summary.request_id}", status_code=303)


# Helpers -------------------------------------------------------------------------------------


def _local(target: str) -> bool:
    """Only a console address: a crafted ``next`` never sends the browser elsewhere."""
    return target.startswith(f"{BASE}/") and not target.startswith("//") and "\\" not in target


def _renders(lang: str) -> bool:
    return lang in RENDERED


def _role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError as exc:
        raise AccountInvalid(
            f"{text!r} is not a role",
            advice=f"Choose one of: {', '.join(Role)}.",
            errors=[FieldError("role", "invalid_choice", ", ".join(Role))],
        ) from exc


def _query(filters: pages.Filters) -> str:
    given = {k: v for k, v in vars(filters).items() if v}
    return urlencode(given)

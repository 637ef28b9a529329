"""The console's gate: every route against every role, CSRF tokens, session fixation,
lockout, ids of other nodes' objects, and hostile text shown as text."""

from __future__ import annotations

import re

import pytest
from consoles import PASSWORD, RU, VN, ZA, Browser, browser_on, form_of
from flows import rec
from nodes import Nodes
from sqlalchemy import select

from accord.db.schema import audit_records, console_users
from accord.web import access, approvals
from accord.web.accounts import Role, get
from accord.web.sessions import COOKIE

ROLE_OF = {
    "vu": Role.OPERATOR,
    "sam": Role.SUPERVISOR,
    "aud": Role.AUDITOR,
    "adm": Role.ADMINISTRATOR,
}


@pytest.fixture
def ids(nodes: Nodes) -> dict[str, str]:
    """A request sent VN -> RU and delivered, and a formal draft awaiting approval on VN."""
    vn = nodes.requests(VN)
    sent = vn.create(record("preservation"), RU)
    nodes.settle()
    drafter = get(nodes.open[VN], "vu")
    draft = approvals.submit(vn, record("mla", receiving_authority=RU), RU, drafter)
    return {"request": sent.request_id, "draft": draft.id}


def record(kind: str, **changes: object) -> dict[str, object]:
    return rec(kind, changes.pop("receiving_authority", RU), **changes)  # type: ignore[arg-type]


def routes(ids: dict[str, str]) -> list[tuple[str, str, str, dict[str, str]]]:
    """(route name, method, path, form) for every route of ``access.ROUTES``."""
    request, draft = ids["request"], ids["draft"]
    return [
        ("home", "GET", "/console/", {}),
        ("dashboard", "GET", "/console/dashboard", {}),
        ("inbox", "GET", "/console/inbox", {}),
        ("outbox", "GET", "/console/outbox", {}),
        ("requests", "GET", "/console/requests", {}),
        ("request", "GET", f"/console/requests/{request}", {}),
        ("print", "GET", f"/console/requests/{request}/print", {}),
        ("move", "POST", f"/console/requests/{request}/move", {"kind": "withdraw"}),
        ("compose", "GET", "/console/compose/preservation", {}),
        ("approvals", "GET", "/console/approvals", {}),
        ("decide", "POST", f"/console/approvals/{draft}/reject", {"reason": "incomplete"}),
        ("plots", "GET", "/console/plots/turnaround.svg", {}),
        ("evidence", "GET", "/console/evidence", {}),
        ("alerts", "GET", "/console/alerts", {}),
        ("evidence_open", "POST", "/console/evidence/no-such-package/open", {}),
        ("audit", "GET", "/console/audit", {}),
        ("audit_proof", "GET", "/console/audit/proof?index=0", {}),
        ("users", "GET", "/console/users", {}),
        ("user_change", "POST", "/console/users/aud", {"action": "role", "role": "auditor"}),
        ("language", "POST", "/console/language", {"language": "en", "next": "/console/"}),
        ("logout", "POST", "/console/logout", {}),
    ]


def test_the_table_covers_every_route_and_nothing_else(ids: dict[str, str]) -> None:
    assert {name for name, *_ in routes(ids)} == set(access.ROUTES)


@pytest.mark.parametrize("name", sorted(ROLE_OF))
def test_each_role_is_refused_every_route_its_role_may_not_use(
    nodes: Nodes, ids: dict[str, str], name: str
) -> None:
    role = ROLE_OF[name]
    for route, method, path, form in routes(ids):
        if route == "logout":
            continue  # tried last, by every role, below
        browser = Browser(nodes, VN)
        assert browser.login(name).status_code == 303
        answer = browser.get(path) if method == "GET" else browser.post(path, form)
        if access.allowed(role, route):
            assert answer.status_code != 403, (name, route, answer.text[:500])
        else:
            assert answer.status_code == 403, (name, route, answer.status_code)
    browser = Browser(nodes, VN)
    browser.login(name)
    assert browser.post("/console/logout", {}).status_code == 303


def test_no_session_is_sent_to_the_login_page(nodes: Nodes, ids: dict[str, str]) -> None:
    anonymous = Browser(nodes, VN)
    for _route, method, path, form in routes(ids):
        answer = anonymous.get(path) if method == "GET" else anonymous.post(path, form)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/login"


def test_a_form_without_the_session_s_token_is_refused(nodes: Nodes, ids: dict[str, str]) -> None:
    vu, other = Browser(nodes, VN), Browser(nodes, VN)
    vu.login("vu")
    other.login("olga")
    path = f"/console/requests/{ids['request']}/move"
    assert vu.post(path, {"kind": "withdraw"}, csrf="").status_code == 403
    assert vu.post(path, {"kind": "withdraw"}, csrf=other.csrf).status_code == 403
    assert vu.post("/console/logout", {}, csrf=other.csrf).status_code == 403
    assert vu.get("/console/dashboard").status_code == 200  # still logged in: nothing happened


def test_a_login_form_without_its_token_is_refused(nodes: Nodes) -> None:
    browser = Browser(nodes, VN)
    answer = browser.client.post("/console/login", data={"name": "vu", "password": PASSWORD})
    assert answer.status_code == 403


def test_a_session_id_planted_before_login_is_not_the_one_after(nodes: Nodes) -> None:
    """Session fixation: the attacker's cookie value never becomes a logged-in session."""
    attacker = Browser(nodes, VN)
    attacker.login("olga")
    planted = attacker.client.cookies[COOKIE]
    victim = Browser(nodes, VN)
    victim.client.cookies.set(COOKIE, planted, domain=f"{VN}.test", path="/console")
    victim.login("vu")
    assert victim.client.cookies[COOKIE] != planted
    # logging in with a session cookie ended that session: the attacker is logged out
    assert attacker.get("/console/dashboard").status_code == 303


def test_cookies_are_secure_http_only_and_strict(nodes: Nodes) -> None:
    browser = Browser(nodes, VN)
    browser.get("/console/login")
    answer = browser.post("/console/login", {"name": "vu", "password": PASSWORD})
    cookie = answer.headers["set-cookie"]
    for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/console", "Max-Age=28800"):
        assert flag.lower() in cookie.lower(), cookie


def test_repeated_failures_lock_the_account_and_are_audited(nodes: Nodes) -> None:
    node = nodes.open[VN]
    browser = Browser(nodes, VN)
    for _ in range(node.settings.console_lockout_failures):
        assert browser.login("vu", "wrong password, again").status_code == 401
    answer = browser.login("vu")  # the right password, while locked
    assert answer.status_code == 401
    assert "locked" in answer.text
    with node.read_engine.connect() as connection:
        actions = (
            connection.execute(
                select(audit_records.c.action).where(audit_records.c.object_id == "console-user:vu")
            )
            .scalars()
            .all()
        )
        locked = connection.execute(
            select(console_users.c.locked_until).where(console_users.c.name == "vu")
        ).scalar_one()
    assert actions.count("console.login_failed") == 6
    assert actions.count("console.locked") == 1
    assert locked is not None


def test_logins_and_role_changes_are_audited(nodes: Nodes) -> None:
    adm = Browser(nodes, VN)
    adm.login("adm")
    assert adm.post("/console/users/aud", {"action": "role", "role": "operator"}).status_code == 303
    node = nodes.open[VN]
    assert get(node, "aud").role is Role.OPERATOR
    with node.read_engine.connect() as connection:
        rows = connection.execute(select(audit_records.c.action, audit_records.c.object_id)).all()
    assert ("console.login", "console-user:adm") in rows
    assert ("console.account", "console-user:aud") in rows


def test_an_id_held_by_another_node_is_not_found(nodes: Nodes) -> None:
    data = record("preservation", receiving_authority=ZA, requested_state="ZA")
    elsewhere = nodes.requests(VN).create(data, ZA)
    ru = browser_on(nodes, RU)
    ru.login("olga")
    assert ru.get(f"/console/requests/{elsewhere.request_id}").status_code == 404
    assert ru.get("/console/requests/no-such-request/print").status_code == 404
    sam = browser_on(nodes, RU)
    sam.login("sam")
    assert sam.post("/console/approvals/no-such-draft/approve", {}).status_code == 404


HOSTILE = "<script>alert(1)</script>"


def test_script_in_every_free_text_field_is_shown_as_text(nodes: Nodes) -> None:
    form = form_of("preservation")
    free = [
        name
        for name, value in form.items()
        if name not in ("to",)
        and isinstance(value, list)
        and len(value) == 1
        and re.search(r"[a-z] [a-z]", value[0])  # prose, not codes, dates or ids
    ]
    assert len(free) >= 8, free
    for name in free:
        form[name] = [f"{form[name][0]} {HOSTILE}"]
    vu = Browser(nodes, VN)
    vu.login("vu")
    sent = vu.post("/console/compose/preservation", form)
    assert sent.status_code == 303, sent.text[:2000]
    nodes.settle()
    request_id = sent.headers["location"].rsplit("/", 1)[-1]
    olga = browser_on(nodes, RU)
    olga.login("olga")
    for browser in (vu, olga):
        for path in (f"/console/requests/{request_id}", "/console/requests", "/console/dashboard"):
            page = browser.get(path).text
            assert "<script>alert" not in page
        detail = browser.get(f"/console/requests/{request_id}").text
        shown = detail.count("&lt;script&gt;alert(1)&lt;/script&gt;")
        assert shown == len([name for name in free if "." not in name])  # nested: as JSON
        assert detail.count("\\u003cscript\\u003e") == len([n for n in free if "." in n])


def test_pages_forbid_inline_script_and_framing(browser: Browser) -> None:
    browser.login("vu")
    policy = browser.get("/console/dashboard").headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


def test_script_in_a_move_s_note_is_shown_as_text(nodes: Nodes, ids: dict[str, str]) -> None:
    vu = Browser(nodes, VN)
    vu.login("vu")
    path = f"/console/requests/{ids['request']}"
    moved = vu.post(f"{path}/move", {"kind": "withdraw", "note": HOSTILE})
    assert moved.status_code == 303, moved.text[:1000]
    nodes.settle()
    for browser, pid in ((vu, VN), (Browser(nodes, RU), RU)):
        if pid == RU:
            browser.login("olga")
        page = browser.get(path).text
        assert 'data-status="WITHDRAWN"' in page
        assert "<script>alert" not in page
        assert "\\u003cscript\\u003e" in page


def test_a_session_ends_at_its_lifetime(nodes: Nodes) -> None:
    vu = Browser(nodes, VN)
    vu.login("vu")
    assert vu.get("/console/dashboard").status_code == 200
    nodes.advance(seconds=nodes.open[VN].settings.console_session_lifetime + 1)
    assert vu.get("/console/dashboard").status_code == 303


def test_disabling_an_account_ends_its_sessions(nodes: Nodes) -> None:
    vu, adm = Browser(nodes, VN), Browser(nodes, VN)
    vu.login("vu")
    adm.login("adm")
    assert adm.post("/console/users/vu", {"action": "disable"}).status_code == 303
    assert vu.get("/console/dashboard").status_code == 303
    assert vu.login("vu").status_code == 401

"""The console in a real browser (Debian's Chromium, driven by Playwright) across two running
nodes: a duty officer in Viet Nam composes a preservation request in her language, sees the
missing field with its article, completes it; a supervisor approves it (four eyes); the
Russian 24/7 operator sees it in Russian, acknowledges it and replies with the hold. The same
again in Arabic, right to left. axe-core checks every page on the way; screenshots are kept
in tests/artefacts/console/."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect, sync_playwright

from accord.demo.cases import REGISTRY
from accord.demo.federation import LocalFederation, NodeSpec
from accord.identity.models import Role
from accord.identity.registry import read_registry
from accord.requests.validate import load
from accord.web import accounts
from accord.web.accounts import Role as UserRole
from accord.web.forms import flat

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTEFACTS = Path(__file__).parents[1] / "artefacts" / "console"
EXAMPLE = Path(__file__).parents[2] / "examples" / "requests" / "preservation.toml"
VN, RU = "vn-mps-247", "ru-gp-247"
BOTH = (Role.POC_24X7, Role.CENTRAL_AUTHORITY)
PASSWORD = "correct horse battery staple"
WAIT = 30_000  # ms: two node processes and a browser share two loaded cores
# VN keeps preservations for a supervisor too, as the scenario has it
SETTINGS = 'console_approval_types = ["mla", "extradition", "preservation"]\n'
USERS = {
    VN: {
        "vu": (UserRole.OPERATOR, "vi"),
        "sam": (UserRole.SUPERVISOR, "vi"),
        "amira": (UserRole.OPERATOR, "ar"),
        "karim": (UserRole.SUPERVISOR, "ar"),
        "adm": (UserRole.ADMINISTRATOR, "en"),
        "aud": (UserRole.AUDITOR, "en"),
    },
    RU: {"olga": (UserRole.OPERATOR, "ru"), "layla": (UserRole.OPERATOR, "ar")},
}


@pytest.fixture(scope="module", autouse=True)
def _chromium() -> None:
    """A missing browser fails these tests, as it does the print-layout test: never a skip."""
    assert Path(CHROMIUM).exists(), (
        f"Debian's chromium is needed at {CHROMIUM}: .ci/run installs it (apt-get install chromium)"
    )


@dataclass(frozen=True)
class Federation:
    urls: dict[str, str]
    browser: Browser


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    specs = [
        NodeSpec(VN, "Viet Nam 24/7", "VN", BOTH, ("vi", "en")),
        NodeSpec(RU, "Russian Federation 24/7", "RU", BOTH, ("ru", "en")),
    ]
    root = tmp_path_factory.mktemp("console-e2e")
    local = LocalFederation.create(
        root, specs, {"everyone": (VN, RU)}, SETTINGS, read_registry(load(REGISTRY))
    )
    for pid, users in USERS.items():
        node = local.nodes[pid].open()
        try:
            for name, (role, lang) in users.items():
                accounts.add(node, name, role, PASSWORD, lang)
        finally:
            node.close()
    shutil.rmtree(ARTEFACTS, ignore_errors=True)
    ARTEFACTS.mkdir(parents=True)
    try:
        local.start()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                yield Federation({pid: n.url for pid, n in local.nodes.items()}, browser)
            finally:
                browser.close()
    finally:
        local.stop()


def login(federation: Federation, pid: str, name: str) -> Page:
    page = federation.browser.new_context(locale="en-GB").new_page()
    page.set_default_timeout(WAIT)
    page.goto(f"{federation.urls[pid]}/console/login")
    accessible(page)
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.locator("form[action$='/login'] button").click()
    page.wait_for_url("**/console/**")
    expect(page.locator("header")).to_contain_text(name)
    return page


def accessible(page: Page) -> None:
    """axe-core in the page: no serious or critical violation."""
    results = Axe().run(page)
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], (page.url, bad)


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def example_form() -> dict[str, list[str]]:
    def default(value: Any) -> str:
        if isinstance(value, date | datetime):
            return value.isoformat()
        raise TypeError(type(value))

    data = json.loads(json.dumps(load(EXAMPLE), default=default))
    for key in ("type", "message_id", "receiving_authority"):
        data.pop(key)
    return flat(data)


def fill(page: Page, values: dict[str, list[str]]) -> None:
    for name, given in values.items():
        field = page.locator(f"#composer [name='{name}']")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(given)
        else:
            field.fill("\n".join(given))


def compose(federation: Federation, drafter: str, lang: str) -> str:
    """Compose with the offence missing, see it named with its article, complete, and send
    for approval; the new request's id."""
    page = login(federation, VN, drafter)
    page.goto(f"{federation.urls[VN]}/console/compose/preservation")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    page.locator("#f-to").select_option(RU)
    values = example_form()
    offence = values.pop("offence")
    fill(page, values)
    page.locator("#composer button[type=submit]").click()
    problems = page.locator(".problems")
    expect(problems).to_contain_text("offence")
    expect(problems).to_contain_text("Art. 42")
    expect(page.locator("#f-offence")).to_have_attribute("aria-invalid", "true")
    accessible(page)
    shot(page, f"{lang}-1-missing-field")
    page.fill("#f-offence", offence[0])
    page.locator("#composer button[type=submit]").click()
    page.wait_for_url("**/console/approvals")
    accessible(page)
    shot(page, f"{lang}-2-awaiting-approval")
    request_id = page.locator("section.draft code").last.inner_text()
    page.context.close()
    return request_id


def approve(federation: Federation, supervisor: str, lang: str, request_id: str) -> None:
    page = login(federation, VN, supervisor)
    page.goto(f"{federation.urls[VN]}/console/approvals")
    draft = page.locator("section.draft", has_text=request_id)
    draft.locator("form[action$='/approve'] button").click()
    page.wait_for_url(f"**/console/requests/{request_id}")
    expect(page.locator("#status")).to_have_attribute("data-status", "SUBMITTED")
    accessible(page)
    shot(page, f"{lang}-3-approved-and-sent")
    page.context.close()


def answer(federation: Federation, operator: str, lang: str, request_id: str) -> Page:
    """The requested State's operator finds it, acknowledges it and confirms the hold."""
    page = login(federation, RU, operator)
    deadline = time.monotonic() + WAIT / 1000
    link = page.locator(f"a[href$='/requests/{request_id}']")
    while True:
        page.goto(f"{federation.urls[RU]}/console/requests")
        if link.count() or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    expect(page.locator("html")).to_have_attribute("lang", lang)
    accessible(page)
    link.first.click()
    for move in ("acknowledge", "begin_assessment", "start_execution"):
        page.locator(f"button[name=move][value={move}]").click()
        expect(page.locator(f"button[name=move][value={move}]")).to_have_count(0)
    now = datetime.now(UTC).replace(microsecond=0)
    hold = page.locator("form.move", has=page.locator("input[name=kind][value=confirm_hold]"))
    hold.locator("[name=preserved_at]").fill(now.isoformat())
    hold.locator("[name=hold_until]").fill((now + timedelta(days=90)).isoformat())
    hold.locator("button[name=move]").click()
    expect(page.locator("#status")).to_have_attribute("data-status", "PRESERVED")
    accessible(page)
    shot(page, f"{lang}-4-acknowledged-and-preserved")
    return page


def wait_for_status(page: Page, url: str, status: str) -> None:
    deadline = time.monotonic() + WAIT / 1000
    while time.monotonic() < deadline:
        page.goto(url)
        if page.locator("#status").get_attribute("data-status") == status:
            return
        time.sleep(0.5)
    raise AssertionError(f"{url} never showed {status}")


def test_vietnamese_officer_to_russian_operator(federation: Federation) -> None:
    request_id = compose(federation, "vu", "vi")
    approve(federation, "sam", "vi", request_id)
    ru = answer(federation, "olga", "ru", request_id)
    expect(ru.locator("header nav")).to_contain_text("Запросы")
    ru.context.close()
    vn = login(federation, VN, "vu")
    wait_for_status(vn, f"{federation.urls[VN]}/console/requests/{request_id}", "PRESERVED")
    expect(vn.locator("#timeline-title")).to_have_text("Diễn biến của cả hai Quốc gia")
    shot(vn, "vi-5-answer-seen")
    vn.goto(f"{federation.urls[VN]}/console/requests/{request_id}/print")
    expect(vn.locator("html")).to_have_attribute("lang", "vi")
    accessible(vn)
    shot(vn, "vi-6-print-view")
    missing = vn.goto(f"{federation.urls[VN]}/console/requests/no-such-request")
    assert missing is not None
    assert missing.status == 404
    accessible(vn)
    vn.context.close()


def test_the_same_in_arabic_right_to_left(federation: Federation) -> None:
    request_id = compose(federation, "amira", "ar")
    approve(federation, "karim", "ar", request_id)
    page = answer(federation, "layla", "ar", request_id)
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    links = page.locator("header nav a")
    first, last = links.first.bounding_box(), links.last.bounding_box()
    assert first is not None
    assert last is not None
    assert first["x"] > last["x"]  # the menu runs from the right
    page.context.close()


def test_every_other_page_is_accessible(federation: Federation) -> None:
    pages = {
        "vu": [
            "dashboard",
            "inbox",
            "outbox",
            "requests",
            "compose",
            "evidence",
            "alerts",
            "plots",
        ],
        "adm": ["users", "audit"],
    }
    for name, paths in pages.items():
        page = login(federation, VN, name)
        for path in paths:
            page.goto(f"{federation.urls[VN]}/console/{path}")
            accessible(page)
        shot(page, f"en-{name}-{paths[-1]}")
        page.context.close()

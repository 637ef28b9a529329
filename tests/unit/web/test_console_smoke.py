from __future__ import annotations

from consoles import Browser


def test_smoke(browser: Browser) -> None:
    answer = browser.login("vu")
    assert answer.status_code == 303, answer.text
    for page in (
        "dashboard",
        "inbox",
        "outbox",
        "requests",
        "compose",
        "compose/preservation",
        "approvals",
        "evidence",
        "alerts",
        "plots",
        "plots/turnaround.svg",
    ):
        got = browser.get(f"/console/{page}")
        assert got.status_code == 200, (page, got.text[:3000])

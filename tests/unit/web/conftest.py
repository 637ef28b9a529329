"""Two real nodes in this process (VN and RU, with the States Parties registry), their real
apps, and a browser-like client per node that keeps cookies and sends the forms' tokens."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "requests"))

from nodes import RU, VN, Nodes, _SyncASGI, start

from accord.web import accounts
from accord.web.accounts import Role

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
# one account per role on each node; "drafter" and "checker" are the four eyes
ACCOUNTS = {
    "olga": (Role.OPERATOR, "ru"),
    "vu": (Role.OPERATOR, "vi"),
    "sam": (Role.SUPERVISOR, "en"),
    "sara": (Role.SUPERVISOR, "en"),
    "aud": (Role.AUDITOR, "en"),
    "adm": (Role.ADMINISTRATOR, "en"),
}


class Browser:
    """A user's browser on one node's console: cookies kept, forms sent with their token."""

    def __init__(self, nodes: Nodes, pid: str) -> None:
        self.client = httpx.Client(
            transport=_SyncASGI(nodes.apps[pid]), base_url=f"https://{pid}.test"
        )
        self.csrf = ""

    def get(self, path: str) -> httpx.Response:
        answer = self.client.get(path)
        self._remember(answer)
        return answer

    def post(
        self, path: str, data: dict[str, str | list[str]], csrf: str | None = None
    ) -> httpx.Response:
        token = self.csrf if csrf is None else csrf
        answer = self.client.post(path, data={**data, "csrf": token} if token else data)
        self._remember(answer)
        return answer

    def login(self, name: str, password: str = PASSWORD) -> httpx.Response:
        self.get("/console/login")
        answer = self.post("/console/login", {"name": name, "password": password})
        if answer.status_code == 303:
            self.get("/console/requests")  # a page with this session's token
        return answer

    def _remember(self, answer: httpx.Response) -> None:
        found = (
            CSRF.search(answer.text)
            if answer.headers.get("content-type", "").startswith("text/html")
            else None
        )
        if found:
            self.csrf = found.group(1)


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    for made in start(tmp_path):
        for pid in (VN, RU):
            for name, (role, lang) in ACCOUNTS.items():
                accounts.add(made.open[pid], name, role, PASSWORD, lang)
        yield made


@pytest.fixture
def browser(nodes: Nodes) -> Browser:
    return Browser(nodes, VN)


def browser_on(nodes: Nodes, pid: str) -> Browser:
    return Browser(nodes, pid)


__all__ = ["RU", "VN", "Browser", "browser_on"]

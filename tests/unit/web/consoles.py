"""A browser-like client of a node's console (cookies kept, forms sent with their token), the
accounts every console test has, and example records as filled composer forms."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parents[1] / "requests"))

from flows import jsonable
from nodes import RU, VN, ZA, Nodes, _SyncASGI, record, start

from accord.web.accounts import Role
from accord.web.forms import flat

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


def browser_on(nodes: Nodes, pid: str) -> Browser:
    return Browser(nodes, pid)


def form_of(kind: str, to: str = RU, **changes: object) -> dict[str, str | list[str]]:
    """An example record of ``kind`` as the composer's filled form."""
    data = jsonable(record(kind, receiving_authority=to, **changes))
    data.pop("type")
    return {**flat(data), "to": to}


__all__ = ["RU", "VN", "ZA", "Browser", "Nodes", "browser_on", "form_of", "start"]

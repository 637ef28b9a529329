"""OIDC login against an OpenID provider this test starts on loopback (oidc-provider-mock):
the code flow with PKCE ends in a console session for the account linked to the subject; an
unlinked subject, a state the node did not make and a replayed answer are refused."""

from __future__ import annotations

import asyncio
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from accord.app import create_app
from accord.demo.federation import LocalFederation, NodeSpec
from accord.federation.service import Federation
from accord.identity.models import Role
from accord.node.home import Node
from accord.web import accounts

with warnings.catch_warnings():  # the mock imports authlib's deprecated JOSE module
    warnings.simplefilter("ignore")
    import oidc_provider_mock

VN = "vn-mps-247"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def provider() -> Iterator[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with oidc_provider_mock.run_server_in_thread() as server:
            yield f"http://localhost:{server.server_port}"


@pytest.fixture
def node(tmp_path: Path, provider: str) -> Iterator[Node]:
    spec = NodeSpec(VN, "Viet Nam 24/7", "VN", (Role.POC_24X7,), ("vi", "en"))
    settings = (
        f'console_oidc_issuer = "{provider}"\nconsole_oidc_client_id = "accord-vn"\n'
        'console_oidc_client_secret = "a client secret"\n'
    )
    local = LocalFederation.create(tmp_path, [spec], {"everyone": (VN,)}, settings)
    opened = local.nodes[VN].open()
    accounts.add(opened, "vu", accounts.Role.OPERATOR, PASSWORD, "vi")
    accounts.link_subject(opened, "vu", "vu@mps.example.vn")
    try:
        yield opened
    finally:
        opened.close()


async def login_through(node: Node, subject: str, *, state: str | None = None) -> httpx.Response:
    """The browser's round trip: the node, the provider's form, back to the node."""
    app = create_app(Federation(node))
    console = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://vn.test")
    async with console, httpx.AsyncClient() as web:
        page = await console.get("/console/login")
        assert 'id="oidc"' in page.text
        started = await console.get("/console/oidc/start")
        assert started.status_code == 303
        authorize = started.headers["location"]
        assert "code_challenge_method=S256" in authorize
        form = await web.get(authorize)
        assert form.status_code == 200
        answer = await web.post(authorize, data={"sub": subject, "action": "allow"})
        assert answer.status_code == 302, answer.text
        back = urlsplit(answer.headers["location"])
        query = (
            back.query if state is None else re.sub(r"state=[^&]+", f"state={state}", back.query)
        )
        done = await console.get(f"{back.path}?{query}")
        if done.status_code == 200:
            dashboard = await console.get("/console/dashboard")
            assert dashboard.status_code == 200
            assert "vu (" in dashboard.text
            replayed = await console.get(f"{back.path}?{query}")
            assert replayed.status_code == 401  # the state is used once
        return done


def test_a_linked_subject_logs_in(node: Node) -> None:
    done = asyncio.run(login_through(node, "vu@mps.example.vn"))
    assert done.status_code == 200
    assert 'id="continue"' in done.text
    cookie = done.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie


def test_an_unlinked_subject_is_refused(node: Node) -> None:
    done = asyncio.run(login_through(node, "someone@elsewhere.example"))
    assert done.status_code == 401
    assert "linked" in done.text
    assert "accord_console=" not in done.headers.get("set-cookie", "")


def test_a_state_the_node_did_not_make_is_refused(node: Node) -> None:
    done = asyncio.run(login_through(node, "vu@mps.example.vn", state="forged"))
    assert done.status_code == 401

"""CERT nodes for the intel integration tests: real ``accord serve`` processes (uvicorn) on
loopback, a collection, tokens, and a requests auth that signs each TAXII call as a node."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from accord.clock import SystemClock
from accord.demo.federation import LocalFederation, LocalNode, NodeSpec
from accord.federation.auth import AUTH_HEADER, sign_request
from accord.federation.service import Federation
from accord.identity.models import Role
from accord.intel import tokens
from accord.intel.service import Intel
from accord.node.home import Node

VN = NodeSpec("vn-cert", "Viet Nam CERT (VNCERT/CC)", "VN", (Role.CERT,), ("vi", "en"))
VN_POLICE = NodeSpec("vn-mps-247", "Viet Nam 24/7", "VN", (Role.POC_24X7,), ("vi", "en"))
RU = NodeSpec("ru-cert", "Russian Federation CERT", "RU", (Role.CERT,), ("ru", "en"))
ZA = NodeSpec("za-cert", "South Africa CERT", "ZA", (Role.CERT,), ("en",))
GROUPS = {"asean-russia": ("vn-cert", "ru-cert")}


@dataclass
class Certs:
    federation: LocalFederation
    collection: str  # vn-cert's "fraud" collection, readable by asean-russia
    token: str  # a tool token on vn-cert: read and write everything but TLP:RED

    def node(self, pid: str) -> LocalNode:
        return self.federation.nodes[pid]

    def url(self, pid: str = "vn-cert") -> str:
        return self.node(pid).url + "/taxii2/"


def create(root: Path, specs: list[NodeSpec] | None = None) -> Certs:
    federation = LocalFederation.create(root, specs or [VN, VN_POLICE, RU, ZA], GROUPS)
    with opened(federation.nodes["vn-cert"]) as node:
        intel = Intel(Federation(node))
        collection = intel.create_collection(
            "Online fraud", alias="fraud", readers=["asean-russia"], writers=["ru-cert"]
        )
        token = tokens.create(node, "siem", read=("*",), write=("*",), red=False)
    return Certs(federation, collection.id, token)


@contextmanager
def opened(local: LocalNode) -> Iterator[Node]:
    node = local.open()
    try:
        yield node
    finally:
        node.close()


class SignedAs(requests.auth.AuthBase):
    """Sign each request as participant ``pid`` for node ``audience`` (``accord-auth``)."""

    def __init__(self, local: LocalNode, audience: str) -> None:
        node = local.open()
        self.pid, self.key, self.audience = node.id, node.keys.signing, audience
        node.close()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        url = requests.utils.urlparse(request.url or "")
        target = url.path + (f"?{url.query}" if url.query else "")
        request.headers[AUTH_HEADER] = sign_request(
            participant=self.pid,
            key=self.key,
            audience=self.audience,
            method=request.method or "GET",
            target=target,
            now=SystemClock().now(),
        )
        return request

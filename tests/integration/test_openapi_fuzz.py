"""Schemathesis against a running node's own OpenAPI document (issue 20): every operation,
with generated parameters and bodies, answers without a server error.

The node is a real ``accord serve`` process. The operator token is sent, so the operator
routes are reached past their authentication; the federation routes that need a signed
request answer 401, which is a refusal, not a failure. The rate limit is raised: the test
sends hundreds of requests a second from one address.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from accord.demo.federation import LocalFederation, LocalNode

from .helpers import DEADLINE, ERROR_KEYS, RU, VN

SETTINGS = "checkpoint_interval = 86400\nrate_per_address = 100000\nburst_per_address = 1000000\n"
EXAMPLES = int(os.environ.get("ACCORD_FUZZ_EXAMPLES", "60"))


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    federation = LocalFederation.create(
        tmp_path_factory.mktemp("openapi"), [VN, RU], {"both": (VN.id, RU.id)}, SETTINGS
    )
    receiver = federation.nodes[RU.id]
    try:
        receiver.start()
        yield receiver
    finally:
        receiver.kill()


def operations(node: LocalNode) -> list[schemathesis.APIOperation]:
    with urllib.request.urlopen(node.url + "/openapi.json", timeout=DEADLINE) as answer:  # noqa: S310 - loopback
        document = json.load(answer)
    return [result.ok() for result in schemathesis.openapi.from_dict(document).get_all_operations()]


def test_no_operation_of_the_openapi_document_ends_in_a_server_error(node: LocalNode) -> None:
    token = (node.home / "operator-token").read_text().strip()
    headers = {"authorization": f"Bearer {token}"}
    found = operations(node)
    assert len(found) >= 15, [op.label for op in found]  # every route of every domain
    called: dict[str, set[int]] = {}
    calls = [0]

    for operation in found:

        @settings(max_examples=EXAMPLES, suppress_health_check=list(HealthCheck), deadline=None)
        @given(case=operation.as_strategy())
        def call(case: schemathesis.Case) -> None:
            response = case.call(base_url=node.url, headers=headers, timeout=DEADLINE)
            called.setdefault(case.operation.label, set()).add(response.status_code)
            calls[0] += 1
            assert response.status_code < 500, (case.as_curl_command(), response.text[:500])
            if response.status_code >= 400:
                assert set(response.json()) == ERROR_KEYS, response.text

        call()
    assert set(called) == {op.label for op in found}
    print(f"{calls[0]} calls:", {label: sorted(codes) for label, codes in called.items()})

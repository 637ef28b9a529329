"""A registry the stewards publish later applies to new requests only: each request stays
judged under the registry its node held when it was made or received (ADR 0009), so a
correction of a State's dates does not rewrite what both nodes already agreed."""

from __future__ import annotations

from datetime import date

import pytest
from flows import create, executing, post_request, rec, refused, shown, step
from nodes import RU, VN, Nodes, registry
from sqlalchemy import select

from accord.db.schema import registries, requests
from accord.identity import service as directory_service


def _corrected() -> dict[str, object]:
    """The example registry as version 2, with RU's deposit corrected to 2027-01-05: the
    Convention is then in force for RU only from 2027-02-04 (UNCC Art. 65(2))."""
    data = registry().model_dump()
    data["version"] = 2
    for party in data["parties"]:
        if party["state"] == "RU":
            party["deposited_on"] = date(2027, 1, 5)
            party["entry_into_force"] = None
    return data


def test_an_old_request_keeps_its_registry_and_a_new_one_is_judged_under_the_new(
    nodes: Nodes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the running apps see a newly installed directory at once, not after their recheck delay
    monkeypatch.setattr(directory_service, "RECHECK_SECONDS", 0.0)
    rid = create(nodes, "mla")
    before = {pid: shown(nodes, pid, rid) for pid in (VN, RU)}
    nodes.publish(registry().model_validate(_corrected()))

    # the request made under version 1 goes on, on both nodes, as agreed
    executing(nodes, rid)
    state = step(nodes, RU, rid, "execute", {"executed_items": ["witness statement"]})
    assert state["status"] == "EXECUTED"
    for pid in (VN, RU):
        assert shown(nodes, pid, rid)["events"][:2] == before[pid]["events"][:2]
        with nodes.open[pid].read_engine.connect() as connection:
            pinned = connection.execute(
                select(registries.c.version)
                .join(requests, requests.c.registry_sha256 == registries.c.sha256)
                .where(requests.c.request_id == rid)
            ).scalar_one()
        assert pinned == 1

    # a new request under version 2: not in force for RU today (Art. 65), nothing stored
    answer = post_request(nodes, VN, RU, rec("mla", RU))
    refused(answer, 422, "convention_not_in_force", "legal_basis", "not_in_force", "Art. 65")

"""Requests between real nodes: both copies follow each move, replies and their limits travel,
due dates and links show on both sides; and the receiving app refuses what a node must not
accept (invalid records, foreign States, moves of the wrong party, equivocation) and the
operator API what an operator must not do, storing nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flows import (
    PATH,
    agreed,
    audit,
    consulting,
    count,
    craft,
    create,
    executing,
    hold,
    iso,
    move,
    post_request,
    preserved,
    rec,
    refused,
    shown,
    step,
    world,
)
from nodes import RU, VN, ZA, Nodes

from accord.db.schema import request_events, requests
from accord.envelope.models import Kind as MessageKind
from accord.federation.service import Federation
from accord.requests.validate import MAX_REQUEST_BYTES

REQUEST, EVENTS = MessageKind.REQUEST, MessageKind.REQUEST_EVENTS


def links(nodes: Nodes, pid: str, rid: str) -> set[tuple[str, str, str]]:
    return {
        (link["request_id"], link["linked_id"], link["relation"])
        for link in shown(nodes, pid, rid)["links"]
    }


def due(nodes: Nodes, pid: str) -> list[dict[str, Any]]:
    answer = nodes.api(pid).get(f"{PATH}/due")
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["due"]
    return items


def event(  # noqa: PLR0917
    rid: str, actor: str, seq: int, seen: int, kind: str, at: str
) -> dict[str, Any]:
    return {
        "request_id": rid,
        "actor": actor,
        "seq": seq,
        "seen": seen,
        "kind": kind,
        "at": at,
        "payload": {},
    }


# Service behaviour on two nodes --------------------------------------------------------------


def test_both_nodes_hold_the_same_state_after_each_move(nodes: Nodes) -> None:
    rid = create(nodes, "mla", confidentiality={"request_fact_and_substance": True})
    assert agreed(nodes, rid)["status"] == "SUBMITTED"
    path = [
        (RU, "acknowledge", {}, "RECEIVED"),
        (RU, "begin_assessment", {}, "UNDER_ASSESSMENT"),
        (RU, "request_info", {"note": "Which contract?"}, "INFO_REQUESTED"),
        (VN, "supply_info", {"note": "Contract 2026/114."}, "UNDER_ASSESSMENT"),
        (RU, "report_confidentiality_conflict", {}, "CONFIDENTIALITY_CONFLICT"),
        (VN, "proceed", {}, "UNDER_ASSESSMENT"),
        (RU, "consult", {}, "CONSULTATION"),
        (
            RU,
            "propose_conditions",
            {"conditions": ["use only in this case"]},
            "CONDITIONS_PROPOSED",
        ),
        (VN, "accept_conditions", {}, "IN_EXECUTION"),
        (RU, "notify_delay", {"note": "The witness is abroad."}, "IN_EXECUTION"),
        (RU, "execute", {"executed_items": ["witness statement"]}, "EXECUTED"),
        (VN, "ingest", {}, "DELIVERED_RESTRICTED"),
        (VN, "close", {}, "CLOSED"),
    ]
    for n, (pid, kind, payload, status) in enumerate(path, start=3):
        state = step(nodes, pid, rid, kind, payload)
        assert state["status"] == status
        events = shown(nodes, VN, rid)["events"]
        assert len(events) == n
        assert events[-1]["kind"] == kind
    state = agreed(nodes, rid)
    assert state["conditions"] == ["use only in this case"]
    assert state["conditions_accepted"] is True
    assert state["notices"] == ["request_info", "report_confidentiality_conflict", "notify_delay"]
    # every move is audited on both nodes: two sent with the request, one per move
    for pid in (VN, RU):
        moves = [entry for entry in audit(nodes, pid) if entry == ("request.event", rid)]
        assert len(moves) == 2 + len(path)


def test_a_partial_reply_and_its_use_limitations_reach_the_requester(nodes: Nodes) -> None:
    unlinked = {"linked_preservation_id": None, "prior_preservation_ref": None, "related_ids": []}
    rid = create(nodes, "mla_stored_data", **unlinked)
    executing(nodes, rid)
    api = nodes.api(RU)
    before = world(nodes)
    refused(
        api.post(f"{PATH}/{rid}/reply", json={"outcome": "partly"}),
        422,
        "request_invalid",
        "outcome",
        "invalid_choice",
        "Art. 40",
    )
    refused(
        api.post(f"{PATH}/{rid}/reply", json={"outcome": "partially_executed"}),
        409,
        "transition_refused",
        "not_executed_items",
        "partial_needs_items_and_reasons",
        "Art. 44",
    )
    assert world(nodes) == before
    reply = {
        "outcome": "partially_executed",
        "executed_items": ["subscriber data", "login records"],
        "not_executed_items": ["stored messages"],
        "reasons": "The provider had deleted the messages before the order.",
        "use_limitations": ["only for case VN-C50-2026-117", "not to be used for tax matters"],
        "evidence_packages": ["ru-pkg-2026-0007"],
    }
    answer = api.post(f"{PATH}/{rid}/reply", json=reply)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "PARTIALLY_EXECUTED"
    nodes.settle()
    seen = shown(nodes, VN, rid)
    assert seen["role"] == "requesting"
    state = seen["state"]
    assert state["status"] == "PARTIALLY_EXECUTED"
    for key in ("executed_items", "not_executed_items", "use_limitations", "evidence_packages"):
        assert state[key] == reply[key]
    assert agreed(nodes, rid) == state
    assert seen["events"][-1]["payload"]["reasons"] == reply["reasons"]


def test_due_lists_the_hold_and_the_written_confirmation_soonest_first(nodes: Nodes) -> None:
    held = preserved(nodes)
    said = nodes.clock.now() - timedelta(hours=1)
    oral = create(nodes, "preservation", oral_origin={"date": iso(said)})
    step(nodes, RU, oral, "await_written_confirmation")
    hold_until = shown(nodes, VN, held)["state"]["hold"]["until"]
    for pid, owed_by in ((VN, "this node"), (RU, VN)):
        items = due(nodes, pid)
        assert [(i["request_id"], i["what"]) for i in items] == [
            (oral, "written_confirmation"),
            (held, "hold_until"),
        ]
        assert [i["owed_by"] for i in items] == [owed_by, owed_by]
        assert [i["article"] for i in items] == ["Art. 40", "Art. 42"]
        assert not any(i["overdue"] for i in items)
    times = [i["due_at"] for i in due(nodes, VN)]
    assert times[0] == iso(said + timedelta(hours=72))
    assert times[1].replace("+00:00", "Z") == hold_until
    nodes.advance(days=4)
    assert [i["overdue"] for i in due(nodes, VN)] == [True, False]


def test_links_show_on_both_sides(nodes: Nodes) -> None:
    pres = preserved(nodes)
    # RU finds a provider in South Africa while preserving, and discloses the path (Art. 43)
    disclosure = create(
        nodes, "traffic_disclosure", RU, VN, parent_preservation_id=pres, related_ids=[pres]
    )
    state = agreed(nodes, pres)
    assert state["disclosures"] == [disclosure]
    assert state["status"] == "PRESERVED"
    assert shown(nodes, VN, disclosure)["status"] is None  # a one-way communication
    assert shown(nodes, VN, disclosure)["role"] == "requesting"
    disclosed = (pres, disclosure, "traffic_disclosure")
    for pid in (VN, RU):
        assert disclosed in links(nodes, pid, pres)
        assert links(nodes, pid, disclosure) == {disclosed}

    follow_up = create(
        nodes,
        "mla_stored_data",
        linked_preservation_id=pres,
        prior_preservation_ref=pres,
        related_ids=[pres],
    )
    followed = (pres, follow_up, "follow_up")
    for pid in (VN, RU):
        assert links(nodes, pid, pres) == {disclosed, followed}
        assert links(nodes, pid, follow_up) == {followed}
    assert agreed(nodes, pres)["follow_up_id"] == follow_up

    # VN asks South Africa to preserve, citing the disclosure (Art. 43 -> Art. 42)
    third = create(
        nodes,
        "preservation",
        VN,
        ZA,
        requested_state="ZA",
        related_ids=[disclosure],
        legal_basis="UNCC-42",
    )
    onward = (disclosure, third, "third_state_preservation")
    assert links(nodes, VN, disclosure) == {disclosed, onward}
    assert links(nodes, VN, third) == {onward}
    assert agreed(nodes, third, (VN, ZA))["status"] == "SUBMITTED"
    assert links(nodes, ZA, third) == set()  # ZA holds no disclosure to link it to


# The receiving app -----------------------------------------------------------------------------


def real_request(nodes: Nodes, kind: str = "mla", **changes: Any) -> tuple[str, dict[str, Any]]:
    """A request VN created, queued and not delivered, and the body of its message."""
    answer = post_request(nodes, VN, RU, rec(kind, RU, **changes))
    assert answer.status_code == 201, answer.text
    [(recipient, message_id, wire)] = nodes.pending()
    nodes.delivered.add((recipient, message_id))  # the tests post variants of it instead
    body = Federation(nodes.open[RU]).verify_incoming(wire).body
    return answer.json()["request_id"], dict(body)


def assert_nothing_stored(nodes: Nodes, pid: str, rid: str) -> None:
    with nodes.open[pid].read_engine.connect() as connection:
        assert connection.execute(requests.select().where(requests.c.request_id == rid)).all() == []
        assert (
            connection.execute(
                request_events.select().where(request_events.c.request_id == rid)
            ).all()
            == []
        )
    assert nodes.api(pid).get(f"{PATH}/{rid}").status_code == 404


def test_an_invalid_record_is_refused_with_its_field_and_nothing_is_stored(nodes: Nodes) -> None:
    rid, body = real_request(nodes)
    del body["request"]["facts_summary"]
    body["request"]["colour"] = "red"
    before = world(nodes, [RU])
    answer = nodes.post(RU, craft(nodes, VN, RU, REQUEST, body))
    refused(
        answer, 422, "request_invalid", "request.facts_summary", "conditional_required", "Art. 40"
    )
    assert "request.colour" in {e["field"] for e in answer.json()["errors"]}
    assert world(nodes, [RU]) == before  # no requests row, no incoming row, no audit record
    assert_nothing_stored(nodes, RU, rid)


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"requesting_state": "ZA"}, "requesting_state", "country_of_participant"),
        ({"requested_state": "BG"}, "requested_state", "country_of_participant"),
        ({"receiving_authority": ZA}, "receiving_authority", "addressee"),
    ],
    ids=["sender-country", "recipient-country", "addressee"],
)
def test_a_record_naming_other_states_is_refused(
    nodes: Nodes, changes: dict[str, str], field: str, rule: str
) -> None:
    rid, body = real_request(nodes)
    body["request"].update(changes)
    before = world(nodes, [RU])
    answer = nodes.post(RU, craft(nodes, VN, RU, REQUEST, body))
    refused(answer, 422, "request_invalid", field, rule, "Art. 40")
    assert world(nodes, [RU]) == before
    assert_nothing_stored(nodes, RU, rid)


def test_a_request_carrying_the_other_partys_events_is_refused(nodes: Nodes) -> None:
    rid, body = real_request(nodes)
    at = body["events"][-1]["at"]
    body["events"].append(event(rid, "requested", 1, 2, "acknowledge", at))
    before = world(nodes, [RU])
    answer = nodes.post(RU, craft(nodes, VN, RU, REQUEST, body))
    refused(answer, 403, "not_entitled", "events.2.actor", "entitled_party", "Art. 40")
    assert world(nodes, [RU]) == before
    assert_nothing_stored(nodes, RU, rid)


def test_an_event_of_the_other_party_is_refused(nodes: Nodes) -> None:
    rid = create(nodes, "mla")
    at = iso(nodes.clock.now())
    # RU signs VN's next move (a withdrawal) as if it were VN's
    forged = {"request_id": rid, "events": [event(rid, "requesting", 3, 0, "withdraw", at)]}
    before = world(nodes)
    answer = nodes.post(VN, craft(nodes, RU, VN, EVENTS, forged))
    refused(answer, 403, "not_entitled", "events.0.actor", "entitled_party", "Art. 40")
    world_after = world(nodes)
    assert world_after[VN] == before[VN]
    assert agreed(nodes, rid)["status"] == "SUBMITTED"


def test_a_participant_outside_the_request_cannot_send_its_events(nodes: Nodes) -> None:
    rid = create(nodes, "mla")
    at = iso(nodes.clock.now())
    before = world(nodes, [VN, RU])
    forged = ((VN, "requested", 1, "acknowledge"), (RU, "requesting", 3, "withdraw"))
    for recipient, actor, seq, kind in forged:
        body = {"request_id": rid, "events": [event(rid, actor, seq, 2, kind, at)]}
        answer = nodes.post(recipient, craft(nodes, ZA, recipient, EVENTS, body))
        refused(answer, 403, "not_entitled", "sender", "party_to_request", "Art. 40")
    assert world(nodes, [VN, RU]) == before
    assert agreed(nodes, rid)["status"] == "SUBMITTED"
    assert step(nodes, RU, rid, "acknowledge")["status"] == "RECEIVED"  # the real one still works


def test_a_replayed_message_gets_the_same_receipt_and_changes_nothing(nodes: Nodes) -> None:
    rid = create(nodes, "mla")
    assert move(nodes, RU, rid, "acknowledge").status_code == 200
    [(_, _, wire)] = nodes.pending()
    [first] = nodes.deliver()
    assert first.status_code == 202
    before = world(nodes)
    again = nodes.post(VN, wire)
    assert again.status_code == 200
    assert again.json() == {"receipt": first.json()["receipt"], "duplicate": True}
    assert world(nodes) == before
    state = agreed(nodes, rid)
    assert state["status"] == "RECEIVED"
    assert [e["kind"] for e in shown(nodes, VN, rid)["events"]] == [
        "validate",
        "submit",
        "acknowledge",
    ]


def test_two_events_with_one_id_are_an_equivocation(nodes: Nodes) -> None:
    rid = create(nodes, "mla")
    step(nodes, RU, rid, "acknowledge")
    held = shown(nodes, VN, rid)["events"][-1]
    assert (held["actor"], held["seq"]) == ("requested", 1)
    other = {**held, "kind": "begin_assessment"}
    later = {**held, "at": iso(nodes.clock.now() + timedelta(minutes=5))}
    before = world(nodes)
    for events in ([other], [later], [held, {**held, "payload": {"note": "x"}}]):
        body = {"request_id": rid, "events": events}
        answer = nodes.post(VN, craft(nodes, RU, VN, EVENTS, body))
        refused(answer, 409, "event_conflict", "events", "equivocation", None)
    after = world(nodes)
    assert after[VN] == before[VN]
    assert agreed(nodes, rid)["status"] == "RECEIVED"


def test_events_that_overtake_their_request_wait_for_it(nodes: Nodes) -> None:
    answer = post_request(nodes, VN, RU, rec("preservation", RU))
    rid = answer.json()["request_id"]
    assert move(nodes, VN, rid, "withdraw").status_code == 200
    kinds = _kinds(nodes)
    assert sorted(kinds) == ["request", "request-events"]
    [late] = nodes.deliver([kinds.index("request-events")])  # the withdrawal first
    assert late.status_code == 202
    assert nodes.api(RU).get(f"{PATH}/{rid}").status_code == 404
    assert count(nodes, RU, request_events) == 1  # held until the request arrives
    [request] = nodes.deliver()
    assert request.status_code == 202
    state = agreed(nodes, rid)
    assert state["status"] == "WITHDRAWN"
    assert shown(nodes, RU, rid)["pending"] == []
    assert [e["kind"] for e in shown(nodes, RU, rid)["events"]] == [
        "validate",
        "submit",
        "withdraw",
    ]


def _kinds(nodes: Nodes) -> list[str]:
    """The kinds of the request messages waiting in the outboxes, in the order queued."""
    ru = Federation(nodes.open[RU])
    return [ru.verify_incoming(wire).kind.value for _, _, wire in nodes.pending()]


# The operator API ------------------------------------------------------------------------------


def test_the_operator_api_needs_the_nodes_token(nodes: Nodes) -> None:
    rid = create(nodes, "mla")
    before = world(nodes)
    good = nodes.api(VN)
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic abc"}):
        for method, path, payload in (
            ("GET", PATH, None),
            ("GET", f"{PATH}/{rid}", None),
            ("POST", PATH, {"to": RU, "request": rec("mla", RU)}),
            ("POST", f"{PATH}/{rid}/events", {"event": "withdraw"}),
            ("POST", f"{PATH}/{rid}/forward", {"to": ZA}),
        ):
            client = nodes.api(VN)
            client.headers.pop("authorization")
            answer = client.request(method, path, json=payload, headers=headers)
            assert answer.status_code == 401, answer.text
            assert answer.json()["code"] == "operator_token_required"
            assert set(answer.json()) == {"code", "message", "advice", "errors"}
    # RU's token does not open VN's API
    wrong = nodes.api(VN)
    wrong.headers["authorization"] = f"Bearer {nodes.open[RU].operator_token}"
    assert wrong.get(PATH).status_code == 401
    assert world(nodes) == before
    assert good.get(PATH).status_code == 200


def test_the_operator_api_refuses_malformed_bodies(nodes: Nodes) -> None:
    rid = create(nodes, "mla")
    api = nodes.api(VN)
    before = world(nodes)
    headers = {"content-type": "application/json"}
    broken = api.post(PATH, content=b'{"to": "ru-gp-247", ', headers=headers)
    refused(broken, 422, "input_invalid", "body", "json", None)
    listed = api.post(f"{PATH}/{rid}/events", content=b"[1, 2]", headers=headers)
    refused(listed, 422, "input_invalid", "body", "object", None)
    huge = api.post(PATH, content=b" " * (MAX_REQUEST_BYTES + 1), headers=headers)
    assert huge.status_code == 413, huge.text
    assert huge.json()["code"] == "payload_too_large"
    unknown = api.post(f"{PATH}/{rid}/events", json={"event": "bribe"})
    refused(unknown, 422, "input_invalid", "event", "invalid_choice", None)
    payload = api.post(f"{PATH}/{rid}/events", json={"event": "withdraw", "payload": [1]})
    refused(payload, 422, "input_invalid", "payload", "object", None)
    no_to = api.post(PATH, json={"request": rec("mla", RU)})
    refused(no_to, 422, "input_invalid", "to", "required", None)
    assert world(nodes) == before


def test_an_unknown_request_id_is_404(nodes: Nodes) -> None:
    api = nodes.api(RU)
    before = world(nodes)
    for method, path, payload in (
        ("GET", f"{PATH}/vn-2026-9999", None),
        ("POST", f"{PATH}/vn-2026-9999/events", {"event": "acknowledge"}),
        ("POST", f"{PATH}/vn-2026-9999/reply", {"outcome": "executed"}),
        ("POST", f"{PATH}/vn-2026-9999/forward", {"to": ZA}),
    ):
        answer = api.request(method, path, json=payload)
        assert answer.status_code == 404, answer.text
        assert answer.json()["code"] == "request_not_found"
        assert "vn-2026-9999" in answer.json()["message"]
    assert world(nodes) == before


def test_a_refused_move_is_not_sent(nodes: Nodes) -> None:
    rid = create(nodes, "mla")
    consulting(nodes, rid)
    before = world(nodes)
    # VN may not refuse its own request, nor RU withdraw it
    refused(
        move(nodes, VN, rid, "refuse"), 403, "not_entitled", "actor", "entitled_party", "Art. 40"
    )
    refused(
        move(nodes, RU, rid, "withdraw"), 403, "not_entitled", "actor", "entitled_party", "Art. 40"
    )
    hold_on_mla = move(nodes, RU, rid, "confirm_hold", hold(nodes))
    refused(hold_on_mla, 409, "transition_refused", "kind", "not_for_this_type", "Art. 42")
    assert world(nodes) == before
    assert nodes.pending() == []


def test_a_third_participant_cannot_block_events_that_overtake_their_request(
    nodes: Nodes,
) -> None:
    """ZA, who learnt a request id (ids are cited in related_ids), signs an event under VN's
    next number and sends it to RU before VN's request and withdrawal arrive there."""
    rid = post_request(nodes, VN, RU, rec("preservation", RU)).json()["request_id"]
    assert move(nodes, VN, rid, "withdraw").status_code == 200
    kinds = _kinds(nodes)
    at = iso(nodes.clock.now())
    squat = {"request_id": rid, "events": [event(rid, "requesting", 3, 0, "supply_info", at)]}
    nodes.post(RU, craft(nodes, ZA, RU, EVENTS, squat))  # held: the request is not there yet
    index = kinds.index("request-events")
    wire = nodes.pending()[index][2]
    [withdrawal] = nodes.deliver([index])
    # VN's own event is not refused for good (a 409 ends delivery): at worst RU asks it to
    # come again later (425 is one of the statuses the outbox retries)
    assert withdrawal.status_code in (202, 425), withdrawal.text
    nodes.settle()  # the request arrives; ZA's squatted event is dropped
    if withdrawal.status_code == 425:
        assert nodes.post(RU, wire).status_code == 202  # the outbox's retry
    state = agreed(nodes, rid)
    assert state["status"] == "WITHDRAWN"
    assert all(e["kind"] != "supply_info" for e in shown(nodes, RU, rid)["events"])


def test_the_operator_api_renders_and_validates_and_refuses_bad_input(nodes: Nodes) -> None:
    rid = create(nodes, "mla")
    api = nodes.api(VN)
    before = world(nodes)
    russian = api.get(f"{PATH}/{rid}/render")  # RU accepts ru first: the default language
    assert russian.status_code == 200, russian.text
    assert russian.headers["content-type"].startswith("text/html")
    assert '<html lang="ru" dir="ltr">' in russian.text
    vietnamese = api.get(f"{PATH}/{rid}/render", params={"lang": "vi"})
    assert '<html lang="vi" dir="ltr">' in vietnamese.text
    assert "Điều 40" in vietnamese.text
    chinese = api.get(f"{PATH}/{rid}/render", params={"lang": "zh"})
    assert '<html lang="zh" dir="ltr">' in chinese.text
    assert "《联合国打击网络犯罪公约》第40条" in chinese.text
    unknown = api.get(f"{PATH}/{rid}/render", params={"lang": "xx"})
    refused(unknown, 422, "language_not_available", "lang", "language_not_available", None)
    stranger = nodes.api(VN)
    stranger.headers.pop("authorization")
    assert stranger.get(f"{PATH}/{rid}/render").json()["code"] == "operator_token_required"
    assert stranger.post(f"{PATH}/validate", json={}).status_code == 401

    valid = api.post(f"{PATH}/validate", json=rec("mla", RU) | {"message_id": "vn-2026-0100"})
    assert valid.json() == {
        "valid": True, "type": "mla", "article": "Art. 40", "id": "vn-2026-0100"
    }  # fmt: skip
    broken = {k: v for k, v in rec("mla", RU).items() if k != "facts_summary"}
    answer = api.post(f"{PATH}/validate", json=broken | {"message_id": "vn-2026-0101"})
    refused(answer, 422, "request_invalid", "facts_summary", "conditional_required", "Art. 40")
    assert world(nodes) == before  # rendering and validating store nothing


def test_forwarding_to_a_participant_not_in_the_directory_is_refused_unaudited(
    nodes: Nodes,
) -> None:
    rid = create(nodes, "mla")
    before = world(nodes)
    answer = nodes.api(VN).post(f"{PATH}/{rid}/forward", json={"to": "xx-nobody"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "unknown_participant"
    assert "xx-nobody" in answer.json()["message"]
    assert world(nodes) == before


def test_spontaneous_information_arrives_as_a_communication_without_moves(nodes: Nodes) -> None:
    """UNCC Art. 40; §3.7: a one-way communication is stored on both nodes, has no state to
    fold (so no registry is pinned for it), and refuses every move."""
    rid = create(nodes, "spontaneous_information", requested_state="RU")
    for pid in (VN, RU):
        row = shown(nodes, pid, rid)
        assert (row["type"], row["status"], row["events"]) == ("spontaneous_information", None, [])
        with nodes.open[pid].read_engine.connect() as connection:
            pinned = connection.execute(requests.select().where(requests.c.request_id == rid)).one()
        assert (pinned.status, pinned.registry_sha256) == (None, None)
    before = world(nodes)
    refused(
        move(nodes, RU, rid, "acknowledge"), 409, "transition_refused", "kind",
        "one_way_communication", "Art. 40",
    )  # fmt: skip
    assert world(nodes) == before

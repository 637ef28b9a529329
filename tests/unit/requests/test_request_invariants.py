"""The ten invariants of convention-procedures.md §8.4 on real nodes: one test each, through the
operator API, with the messages delivered between the two States. Each drives a request to
where the invariant bites, checks the refusal (status, code, field, rule, article) and that
neither node changed, then makes the allowed version of the move and checks both nodes follow.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from flows import (
    agreed,
    audit,
    consulting,
    create,
    executing,
    hold,
    iso,
    move,
    post_request,
    preserved,
    queued,
    rec,
    refused,
    shown,
    step,
    world,
)
from nodes import BG, RU, VN, ZA, Nodes, registry, start

from accord.envelope.models import Kind as MessageKind
from accord.federation.service import Federation

PATH = "/api/v1/requests"


def unchanged(nodes: Nodes, before: dict[str, object]) -> None:
    assert world(nodes) == before
    assert nodes.pending() == []


# 1 ------------------------------------------------------------------------------------------


def test_1_a_refusal_needs_grounds_and_reasons_and_a_postponement_reasons(nodes: Nodes) -> None:
    rid = create(nodes, "mla")
    consulting(nodes, rid)
    before = world(nodes)
    grounds = ["ESSENTIAL_INTERESTS"]
    no_reasons = move(nodes, RU, rid, "refuse", {"grounds": grounds, "reasons": "  "})
    refused(no_reasons, 422, "refusal_invalid", "reasons", "reasons_required", "Art. 40")
    no_grounds = move(nodes, RU, rid, "refuse", {"grounds": [], "reasons": "Sovereignty."})
    refused(no_grounds, 422, "refusal_invalid", "grounds", "grounds_required", "Art. 40")
    by_reply = nodes.api(RU).post(f"{PATH}/{rid}/reply", json={"outcome": "refused"})
    body = refused(by_reply, 422, "refusal_invalid", "grounds", "grounds_required", "Art. 40")
    assert {"reasons"} <= {e["field"] for e in body["errors"]}  # every problem at once
    bare = move(nodes, RU, rid, "postpone", {"reasons": ""})
    refused(bare, 422, "refusal_invalid", "reasons", "reasons_required", "Art. 40")
    unchanged(nodes, before)
    assert agreed(nodes, rid)["status"] == "CONSULTATION"

    # allowed: a postponement with reasons, and a refusal with both
    state = step(nodes, RU, rid, "postpone", {"reasons": "A domestic trial uses the witness."})
    assert state["status"] == "POSTPONED"
    assert state["postponement"]["reasons"] == "A domestic trial uses the witness."
    other = create(nodes, "mla")
    consulting(nodes, other)
    reasons = "Execution would prejudice the essential interests of the requested State."
    state = step(nodes, RU, other, "refuse", {"grounds": grounds, "reasons": reasons})
    assert state["status"] == "REFUSED"
    assert state["refusal"] == {"grounds": grounds, "reasons": reasons}


# 2 ------------------------------------------------------------------------------------------


def test_2_a_hold_is_confirmed_for_at_least_60_days(nodes: Nodes) -> None:
    rid = create(nodes, "preservation")
    executing(nodes, rid)
    before = world(nodes)
    short = hold(nodes, days=60 - 1 / 24)
    body = refused(
        move(nodes, RU, rid, "confirm_hold", short),
        422,
        "preservation_rule_broken",
        "hold_until",
        "hold_under_60_days",
        "Art. 42",
    )
    assert "shorter than 60 days" in body["message"]
    by_reply = nodes.api(RU).post(
        f"{PATH}/{rid}/reply", json={"outcome": "preserved", **hold(nodes, days=30)}
    )
    refused(
        by_reply, 422, "preservation_rule_broken", "hold_until", "hold_under_60_days", "Art. 42"
    )
    unchanged(nodes, before)
    assert agreed(nodes, rid)["status"] == "IN_EXECUTION"

    exact = hold(nodes, days=60)
    state = step(nodes, RU, rid, "confirm_hold", exact)
    assert state["status"] == "PRESERVED"
    assert _at(state["hold"]["until"]) - _at(state["hold"]["preserved_at"]) == timedelta(days=60)


# 3 ------------------------------------------------------------------------------------------


def test_3_a_hold_awaiting_its_follow_up_decision_never_expires(nodes: Nodes) -> None:
    rid = preserved(nodes)
    lapsing = preserved(nodes)  # the control: no follow-up request
    follow_up = create(
        nodes,
        "mla_stored_data",
        linked_preservation_id=rid,
        prior_preservation_ref=rid,
        related_ids=[rid],
    )
    state = agreed(nodes, rid)
    assert state["status"] == "PRESERVED_PENDING_DECISION"  # link_follow_up, made by VN itself
    assert state["follow_up_id"] == follow_up
    assert state["hold"]["until"] is None
    assert [e["kind"] for e in shown(nodes, VN, rid)["events"]][-1] == "link_follow_up"

    nodes.advance(days=200)  # long after the 60-day hold_until
    before = world(nodes)
    for attempt in (move(nodes, RU, rid, "expire"), move(nodes, RU, rid, "expire", {"note": "x"})):
        refused(
            attempt,
            422,
            "preservation_rule_broken",
            "hold_until",
            "pending_decision_no_expiry",
            "Art. 42",
        )
    unchanged(nodes, before)
    assert all(item["request_id"] != rid for item in nodes.api(VN).get(f"{PATH}/due").json()["due"])

    # the hold without a follow-up expires once hold_until has passed
    assert step(nodes, RU, lapsing, "expire")["status"] == "EXPIRED"
    # and the pending one ends when the follow-up request is decided (decide_follow_up)
    executing(nodes, follow_up)
    outcome = {"executed_items": ["login records"]}
    assert step(nodes, RU, follow_up, "execute", outcome)["status"] == "EXECUTED"
    state = agreed(nodes, rid)
    assert state["status"] == "CLOSED"
    assert [e["kind"] for e in shown(nodes, RU, rid)["events"]][-1] == "decide_follow_up"


# 4 ------------------------------------------------------------------------------------------


def test_4_no_dual_criminality_refuses_a_preservation_only_if_reserved_and_not_core(
    nodes: Nodes,
) -> None:
    core = create(nodes, "preservation", offence_articles=[7])  # RU reserved; Art. 7 is core
    consulting(nodes, core)
    unreserved = create(
        nodes, "preservation", RU, VN, requesting_state="RU", requested_state="VN"
    )  # VN made no reservation
    consulting(nodes, unreserved, VN, (RU, VN))
    ground = {"grounds": ["NO_DUAL_CRIMINALITY"], "reasons": "Not an offence here."}
    before = world(nodes)
    refused(
        move(nodes, RU, core, "refuse", ground),
        422,
        "refusal_invalid",
        "grounds",
        "core_offence",
        "Art. 42",
    )
    refused(
        move(nodes, VN, unreserved, "refuse", ground),
        422,
        "refusal_invalid",
        "grounds",
        "dual_criminality_not_reserved",
        "Art. 42",
    )
    unchanged(nodes, before)
    assert agreed(nodes, core)["status"] == "CONSULTATION"
    assert agreed(nodes, unreserved, (RU, VN))["status"] == "CONSULTATION"

    # RU reserved it and fraud (Art. 13) is not a core offence: the refusal stands
    fraud = create(nodes, "preservation", offence_articles=[13])
    consulting(nodes, fraud)
    state = step(nodes, RU, fraud, "refuse", ground)
    assert state["status"] == "REFUSED"
    assert state["refusal"]["grounds"] == ["NO_DUAL_CRIMINALITY"]


# 5 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "grounds", [["BANK_SECRECY"], ["ESSENTIAL_INTERESTS", "FISCAL_ONLY"]], ids=["bank", "fiscal"]
)
def test_5_bank_secrecy_and_fiscal_matters_are_never_grounds(
    nodes: Nodes, grounds: list[str]
) -> None:
    rid = create(nodes, "mla")
    consulting(nodes, rid)
    before = world(nodes)
    reasons = "The data is covered by secrecy rules."
    body = refused(
        move(nodes, RU, rid, "refuse", {"grounds": grounds, "reasons": reasons}),
        422,
        "refusal_invalid",
        "grounds",
        "ground_never_valid",
        "Art. 40",
    )
    assert len(body["errors"]) == 1
    reply = {"outcome": "refused", "grounds": grounds, "reasons": reasons}
    refused(
        nodes.api(RU).post(f"{PATH}/{rid}/reply", json=reply),
        422,
        "refusal_invalid",
        "grounds",
        "ground_never_valid",
        "Art. 40",
    )
    unchanged(nodes, before)

    reply["grounds"] = ["ESSENTIAL_INTERESTS"]
    answer = nodes.api(RU).post(f"{PATH}/{rid}/reply", json=reply)
    assert answer.status_code == 200, answer.text
    nodes.settle()
    assert agreed(nodes, rid)["refusal"]["grounds"] == ["ESSENTIAL_INTERESTS"]


# 6 ------------------------------------------------------------------------------------------


def test_6_an_mla_request_leaves_out_the_facts_only_to_serve_documents(nodes: Nodes) -> None:
    before = world(nodes)
    for assistance in (["taking_evidence"], ["service_of_documents", "taking_evidence"]):
        data = rec("mla", RU, assistance_types=assistance)
        del data["facts_summary"]
        refused(
            post_request(nodes, VN, RU, data),
            422,
            "request_invalid",
            "facts_summary",
            "conditional_required",
            "Art. 40",
        )
    unchanged(nodes, before)

    data = rec("mla", RU, assistance_types=["service_of_documents"])
    del data["facts_summary"]
    answer = post_request(nodes, VN, RU, data)
    assert answer.status_code == 201, answer.text
    rid = answer.json()["request_id"]
    assert [a.status_code for a in nodes.deliver()] == [202]
    assert agreed(nodes, rid)["status"] == "SUBMITTED"
    assert "facts_summary" not in shown(nodes, RU, rid)["request"]
    assert step(nodes, RU, rid, "acknowledge")["status"] == "RECEIVED"


# 7 ------------------------------------------------------------------------------------------


def test_7_an_oral_request_is_received_only_once_confirmed_in_writing(nodes: Nodes) -> None:
    said = nodes.clock.now() - timedelta(hours=2)
    rid = create(nodes, "preservation", oral_origin={"date": iso(said)})
    before = world(nodes)
    refused(
        move(nodes, RU, rid, "acknowledge"),
        409,
        "written_confirmation_missing",
        "oral_origin",
        "written_confirmation_required",
        "Art. 40",
    )
    unchanged(nodes, before)
    assert agreed(nodes, rid)["status"] == "SUBMITTED"

    assert step(nodes, RU, rid, "await_written_confirmation")["status"] == (
        "AWAITING_WRITTEN_CONFIRMATION"
    )
    # the pending confirmation blocks: shown as a task VN owes, and no triage meanwhile
    for pid, owed_by in ((VN, "this node"), (RU, VN)):
        tasks = nodes.api(pid).get(f"{PATH}/due").json()["due"]
        [task] = [t for t in tasks if t["request_id"] == rid]
        assert task["what"] == "written_confirmation"
        assert task["owed_by"] == owed_by
        assert _at(task["due_at"]) == said + timedelta(hours=72)
        assert task["article"] == "Art. 40"
    before = world(nodes)
    refused(
        move(nodes, RU, rid, "begin_assessment"),
        409,
        "transition_refused",
        "kind",
        "not_from_this_state",
        "Art. 40",
    )
    unchanged(nodes, before)

    state = step(nodes, VN, rid, "confirm_in_writing", {"note": "Letter MPS/2026/117 sent."})
    assert state["status"] == "RECEIVED"
    assert state["confirmed_in_writing_at"] is not None
    assert nodes.api(VN).get(f"{PATH}/due").json()["due"] == []
    assert step(nodes, RU, rid, "begin_assessment")["status"] == "UNDER_ASSESSMENT"


# 8 ------------------------------------------------------------------------------------------


def test_8_delivered_data_goes_on_only_with_the_requested_states_authorisation(
    nodes: Nodes,
) -> None:
    rid = create(nodes, "mla")
    executing(nodes, rid)
    outcome = {
        "executed_items": ["witness statement"],
        "use_limitations": ["only for case VN-C50-2026-117"],
    }
    step(nodes, RU, rid, "execute", outcome)
    assert step(nodes, VN, rid, "ingest")["status"] == "DELIVERED_RESTRICTED"

    def forward(to: str) -> object:
        return nodes.api(VN).post(f"{PATH}/{rid}/forward", json={"to": to, "note": "for you"})

    before = world(nodes)
    refused(
        forward(ZA), 403, "onward_transfer_blocked", "recipient", "onward_authorisation_required",
        "Art. 36",
    )  # fmt: skip
    after = world(nodes)
    # the refusal is audited on VN, and nothing else changed anywhere
    assert after[VN]["audit"] == [*before[VN]["audit"], ("request.forward_refused", rid)]
    after[VN]["audit"] = before[VN]["audit"]
    assert after == before
    assert nodes.pending() == []
    assert queued(nodes, VN, MessageKind.NOTE) == []

    state = step(nodes, RU, rid, "authorise_onward", {"recipient": ZA})
    assert state["onward_authorised"] == [ZA]
    # an authorisation for ZA is not one for BG
    refused(
        forward(BG), 403, "onward_transfer_blocked", "recipient", "onward_authorisation_required",
        "Art. 36",
    )  # fmt: skip
    assert audit(nodes, VN).count(("request.forward_refused", rid)) == 2

    answer = forward(ZA)
    assert answer.status_code == 200, answer.text
    nodes.settle()
    state = agreed(nodes, rid)
    assert state["forwarded_to"] == [ZA]
    assert state["status"] == "DELIVERED_RESTRICTED"
    [(recipient, wire)] = queued(nodes, VN, MessageKind.NOTE)
    assert recipient == ZA
    assert nodes.post(ZA, wire).status_code == 202
    note = Federation(nodes.open[ZA]).verify_incoming(wire)
    assert note.routing.sender == VN
    text = str(note.body["text"])
    assert rid in text
    assert "Use limitation: only for case VN-C50-2026-117" in text
    assert "for you" in text
    assert world(nodes, [ZA])[ZA]["requests"] == []  # a note, not a request


# 9 ------------------------------------------------------------------------------------------

BG_DEPOSIT = date(2026, 11, 10)  # UNCC Art. 65(2): in force for BG on 2026-12-10


@pytest.fixture
def late_bg(tmp_path: Path) -> Iterator[Nodes]:
    yield from start(tmp_path, registry(bg_deposited=BG_DEPOSIT))


def test_9_a_uncc_request_needs_the_convention_in_force_for_both_states(late_bg: Nodes) -> None:
    nodes = late_bg
    to_bg = {"requested_state": "BG", "legal_basis": "UNCC-42"}
    before = world(nodes)
    body = refused(
        post_request(nodes, VN, BG, rec("preservation", BG, **to_bg)),
        422,
        "convention_not_in_force",
        "legal_basis",
        "not_in_force",
        "Art. 65",
    )
    assert "BG" in body["message"]
    assert "2026-12-10" in body["message"]
    unchanged(nodes, before)
    assert nodes.deliver() == []

    # another legal basis is not bound to Art. 65
    treaty = {**to_bg, "legal_basis": "treaty:VN-BG Treaty on Mutual Legal Assistance"}
    rid = create(nodes, "preservation", VN, BG, **treaty)
    assert step(nodes, BG, rid, "acknowledge", pids=(VN, BG))["status"] == "RECEIVED"
    # the day the Convention enters into force for BG, the same UNCC request goes through
    nodes.advance(days=(date(2026, 12, 10) - nodes.clock.now().date()).days)
    uncc = create(nodes, "preservation", VN, BG, **to_bg)
    state = agreed(nodes, uncc, (VN, BG))
    assert state["status"] == "SUBMITTED"
    assert _at(state["submitted_at"]).date() == date(2026, 12, 10)


# 10 -----------------------------------------------------------------------------------------


def test_10_collection_needs_an_authorised_period_and_stops_at_its_end(nodes: Nodes) -> None:
    rid = create(nodes, "mla_real_time_traffic")
    executing(nodes, rid)
    now = nodes.clock.now()
    before = world(nodes)
    refused(
        move(nodes, RU, rid, "execute", {"executed_items": ["traffic data"]}),
        422,
        "collection_period_invalid",
        "authorised_until",
        "authorisation_required",
        "Art. 45",
    )
    backwards = {
        "reference": "Order 17/2026",
        "authorised_from": iso(now),
        "authorised_until": iso(now - timedelta(days=1)),
    }
    refused(
        move(nodes, RU, rid, "authorise_collection", backwards),
        422,
        "collection_period_invalid",
        "authorised_until",
        "period_invalid",
        "Art. 45",
    )
    unchanged(nodes, before)

    period = {**backwards, "authorised_until": iso(now + timedelta(days=30))}
    state = step(nodes, RU, rid, "authorise_collection", period)
    assert state["status"] == "COLLECTING"
    assert _at(state["authorisation"]["end"]) == now + timedelta(days=30)
    assert step(nodes, RU, rid, "record_collection")["batches_collected"] == 1

    nodes.advance(days=30, seconds=1)
    before = world(nodes)
    for attempt in (
        move(nodes, RU, rid, "record_collection"),
        move(nodes, RU, rid, "renew_authorisation", {"authorised_until": iso(now + timedelta(60))}),
    ):
        refused(
            attempt,
            422,
            "collection_period_invalid",
            "authorised_until",
            "outside_authorised_period",
            "Art. 45",
        )
    unchanged(nodes, before)
    state = step(nodes, RU, rid, "end_collection")
    assert state["status"] == "EXECUTED"
    assert state["batches_collected"] == 1


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)

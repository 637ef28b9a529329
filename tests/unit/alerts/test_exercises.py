"""Joint exercises: injects scheduled in advance and sent when due to the participants only,
marked EXERCISE everywhere, never among live alerts; the after-action report names who
never answered, with median and worst latency."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from alert_nodes import DDPM, MOH, MPS, RPN, alerts, deliver, drills, epidemic
from sqlalchemy import select

from accord.alerts import report
from accord.alerts.exercises import read_inject, read_spec
from accord.db.schema import exercises
from accord.errors import AlertInvalid, AlertNotEntitled, ExerciseInvalid
from unit.requests.nodes import Nodes


def flood(nodes: Nodes, **changes: Any) -> dict[str, Any]:
    now = nodes.clock.now()
    inject = epidemic()
    for info in inject["info"]:
        info.update(category=["Met"], event="River flood", headline="Mekong at Chau Doc 4.5 m")
    spec = {
        "id": "flood-2026",
        "name": "Mekong flood exercise",
        "participants": [RPN, DDPM],
        "starts_at": now,
        "ends_at": now + timedelta(hours=4),
        "scenario": "An upstream dam releases water after three days of rain.",
        "injects": [
            {"id": "warning", "at": now + timedelta(minutes=10), "alert": inject},
            {"id": "evacuate", "at": now + timedelta(minutes=40), "alert": inject, "to": [DDPM]},
        ],
    }
    spec.update(changes)
    return spec


def test_injects_go_when_due_to_participants_only_marked_exercise(nodes: Nodes) -> None:
    director = drills(nodes, MOH)
    director.create(read_spec(flood(nodes)))
    director.start("flood-2026")
    deliver(nodes)
    for pid in (RPN, DDPM):  # the announcement arrived
        with nodes.open[pid].read_engine.connect() as connection:
            [row] = connection.execute(select(exercises)).all()
        assert (row.exercise_id, row.director) == ("flood-2026", MOH)
    assert director.send_due() == []  # nothing due yet
    nodes.advance(minutes=10)
    [first] = director.send_due()
    assert sorted(d.participant for d in first.recipients) == [RPN, DDPM]
    assert first.alert.note == "EXERCISE flood-2026: inject warning"
    assert director.send_due() == []  # sent once
    nodes.advance(minutes=30)
    [second] = director.send_due()
    assert [d.participant for d in second.recipients] == [DDPM]
    deliver(nodes)
    for pid in (RPN, DDPM, MOH):
        assert alerts(nodes, pid).listed() == []  # never among live alerts
        assert {row.status.value for row, _, _ in alerts(nodes, pid).listed("exercise")} == {
            "Exercise"
        }
    assert alerts(nodes, MPS).listed("all") == []


def test_the_report_names_who_never_answered_with_median_and_worst_latency(nodes: Nodes) -> None:
    director = drills(nodes, MOH)
    director.create(read_spec(flood(nodes)))
    director.start("flood-2026")
    nodes.advance(minutes=10)
    [sent] = director.send_due()
    deliver(nodes)
    nodes.advance(minutes=2)
    alerts(nodes, DDPM).ack(sent.alert.identifier, by="Duty officer Somchai")
    deliver(nodes)
    made = director.report("flood-2026")
    assert made.never_answered == (RPN,)
    [warning, evacuate] = made.injects
    assert warning.silent == (RPN,)
    answers = {a.participant: a for a in warning.answers}
    assert answers[DDPM].acked_after == 120.0
    assert answers[DDPM].acked_by == "Acknowledged by Duty officer Somchai"
    assert answers[RPN].acked_after is None
    assert answers[RPN].delivered_after == 0.0
    assert (evacuate.sent_at, evacuate.answers) == (None, ())
    ack = made.acknowledgement()
    assert (ack.median, ack.worst, ack.count) == (120.0, 120.0, 1)
    data = json.loads(report.json_bytes(made))
    assert data["marking"] == "EXERCISE"
    assert data["never_answered"] == [RPN]
    html = report.html(made)
    assert html.count("EXERCISE") >= 4
    assert f'<span class="silent">{RPN}</span>' in html


def test_the_report_of_an_unreachable_participant_shows_its_delivery_failing(nodes: Nodes) -> None:
    director = drills(nodes, MOH)
    director.create(read_spec(flood(nodes)))
    director.start("flood-2026")
    nodes.advance(minutes=10)
    director.send_due()
    deliver(nodes, down=frozenset({RPN}))
    [warning, _] = director.report("flood-2026").injects
    rpn = next(a for a in warning.answers if a.participant == RPN)
    assert (rpn.delivery, rpn.delivered_after) == ("retrying", None)
    assert rpn.last_error is not None
    assert "down" in rpn.last_error


def test_an_inject_outside_the_exercise_period_is_refused(nodes: Nodes) -> None:
    spec = flood(nodes)
    spec["injects"][0]["at"] = nodes.clock.now() + timedelta(hours=5)
    with pytest.raises(ExerciseInvalid, match="outside the exercise"):
        read_spec(spec)


def test_an_inject_to_a_non_participant_is_refused(nodes: Nodes) -> None:
    director = drills(nodes, MOH)
    director.create(read_spec(flood(nodes, injects=[])))
    inject = read_inject(
        {
            "id": "x",
            "at": nodes.clock.now() + timedelta(minutes=5),
            "alert": epidemic(),
            "to": [MPS],
        }
    )
    with pytest.raises(ExerciseInvalid, match="not of the exercise"):
        director.add_inject("flood-2026", inject)


def test_an_inject_that_breaks_a_cap_rule_is_found_when_it_is_scheduled(nodes: Nodes) -> None:
    director = drills(nodes, MOH)
    director.create(read_spec(flood(nodes, injects=[])))
    broken = epidemic()
    broken["info"][0]["urgency"] = "Now"
    inject = read_inject(
        {"id": "x", "at": nodes.clock.now() + timedelta(minutes=5), "alert": broken}
    )
    with pytest.raises(AlertInvalid, match=r"CAP 1\.2") as caught:
        director.add_inject("flood-2026", inject)
    assert {e.field for e in caught.value.errors} == {"alert.info[0].urgency"}


def test_only_the_director_starts_or_reports_on_an_exercise(nodes: Nodes) -> None:
    director = drills(nodes, MOH)
    director.create(read_spec(flood(nodes)))
    director.start("flood-2026")
    deliver(nodes)
    with pytest.raises(AlertNotEntitled, match="directed by"):
        drills(nodes, RPN).start("flood-2026")


def test_an_exercise_names_participants_of_the_directory(nodes: Nodes) -> None:
    with pytest.raises(ExerciseInvalid, match="not in the directory"):
        drills(nodes, MOH).create(read_spec(flood(nodes, participants=["xx-nobody"])))


def test_a_participant_acknowledges_an_inject_with_an_exercise_ack(nodes: Nodes) -> None:
    director = drills(nodes, MOH)
    director.create(read_spec(flood(nodes)))
    director.start("flood-2026")
    nodes.advance(minutes=10)
    [sent] = director.send_due()
    deliver(nodes)
    ack = alerts(nodes, RPN).ack(sent.alert.identifier)
    assert ack.status.value == "Exercise"


def test_the_exercise_feed_marks_every_entry_exercise(nodes: Nodes) -> None:
    import feedparser  # noqa: PLC0415

    director = drills(nodes, MOH)
    director.create(read_spec(flood(nodes)))
    director.start("flood-2026")
    nodes.advance(minutes=10)
    director.send_due()
    deliver(nodes)
    for pid in (MOH, RPN):
        answer = nodes.api(pid).get("/api/v1/exercises/flood-2026/feed.atom")
        parsed = feedparser.parse(answer.content)
        assert parsed.feed.title == "EXERCISE: Mekong flood exercise"
        [entry] = parsed.entries
        assert entry.title == "EXERCISE: Mekong at Chau Doc 4.5 m"


def test_an_exercise_alert_composed_by_hand_gets_its_exercise_in_the_note(nodes: Nodes) -> None:
    drills(nodes, MOH).create(read_spec(flood(nodes, injects=[])))
    sent = alerts(nodes, MOH).send(epidemic(status="Exercise"), [RPN], "flood-2026")
    assert sent.alert.note == "EXERCISE flood-2026"
    deliver(nodes)
    [(row, _, _)] = alerts(nodes, RPN).listed("exercise")
    assert row.exercise_id == "flood-2026"

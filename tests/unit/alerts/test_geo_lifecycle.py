"""Where alerts and areas of interest meet (shapes on the sphere, geocodes, the antimeridian),
and the chain rules of updates and cancels, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.alerts import geo, lifecycle
from accord.alerts.lifecycle import Held, State
from accord.alerts.models import (
    Alert,
    Area,
    Category,
    Certainty,
    Info,
    MsgType,
    Reference,
    Scope,
    Severity,
    Status,
    Urgency,
    ValuePair,
)
from accord.errors import AlertChainBroken, AlertExpired, AlertNotEntitled, AlertNotYetKnown
from accord.identity.areas import AreaOfInterest, Geocode

T0 = datetime(2026, 12, 3, 9, tzinfo=UTC)
DAY = timedelta(days=1)


def alert(
    *areas: Area,
    msg_type: MsgType = MsgType.ALERT,
    refs: tuple[Reference, ...] = (),
    identifier: str = "a1",
    status: Status = Status.ACTUAL,
    sender: str = "vn-moh-ew",
    expires: datetime | None = T0 + DAY,
) -> Alert:
    info = Info(
        (Category.HEALTH,),
        "e",
        Urgency.EXPECTED,
        Severity.SEVERE,
        Certainty.LIKELY,
        expires=expires,
        areas=areas,
    )
    return Alert(
        identifier, sender, T0, status, msg_type, Scope.PUBLIC, references=refs, infos=(info,)
    )


def interest(**shapes: object) -> AreaOfInterest:
    return AreaOfInterest.model_validate({"name": "mine", **shapes})


def test_a_polygon_meets_a_polygon_it_overlaps_and_not_one_beside_it() -> None:
    box = "10,100 10,101 9,101 9,100 10,100"
    near = interest(polygons=["10.5,100.5 10.5,101.5 9.5,101.5 9.5,100.5 10.5,100.5"])
    far = interest(polygons=["20,100 20,101 19,101 19,100 20,100"])
    assert geo.overlaps(alert(Area("box", polygons=(box,))), [near])[0].how == "shapes intersect"
    assert geo.overlaps(alert(Area("box", polygons=(box,))), [far]) == []


def test_a_circle_is_drawn_on_the_sphere_in_kilometres() -> None:
    # 1 degree of latitude is about 111 km: a 120 km circle reaches it, a 100 km one does not
    point = interest(circles=["11.0,100.0 0"])
    assert geo.overlaps(alert(Area("c", circles=("10.0,100.0 120",))), [point])
    assert not geo.overlaps(alert(Area("c", circles=("10.0,100.0 100",))), [point])


def test_a_shape_across_the_antimeridian_meets_both_sides() -> None:
    chukotka = interest(polygons=["66,172 66,-170 64,-170 64,172 66,172"])
    east = Area("Bering strait", polygons=("65.5,-175 65.5,-171 64.5,-171 64.5,-175 65.5,-175",))
    west = Area("Anadyr", polygons=("65.5,175 65.5,178 64.5,178 64.5,175 65.5,175",))
    europe = Area("Greenwich", polygons=("65.5,-1 65.5,1 64.5,1 64.5,-1 65.5,-1",))
    assert geo.overlaps(alert(east), [chukotka])
    assert geo.overlaps(alert(west), [chukotka])
    assert not geo.overlaps(alert(europe), [chukotka])


def test_a_geocode_matches_the_same_code_in_the_same_system() -> None:
    thailand = interest(geocodes=[Geocode(value_name="ISO3166-1", value="TH")])
    same = Area("Thailand", geocodes=(ValuePair("ISO3166-1", "TH"),))
    other_system = Area("TH?", geocodes=(ValuePair("FIPS", "TH"),))
    assert geo.overlaps(alert(same), [thailand])[0].how == "geocode ISO3166-1=TH"
    assert not geo.overlaps(alert(other_system), [thailand])


@given(st.floats(-80, 80), st.floats(-179, 179), st.floats(1, 500))
def test_a_circle_always_contains_its_centre(lat: float, lon: float, radius: float) -> None:
    shapes = geo.shape_of_circle(f"{lat:.4f},{lon:.4f} {radius:.1f}")
    centre = geo.shape_of_circle(f"{lat:.4f},{lon:.4f} 0")[0]
    assert any(shape.intersects(centre) for shape in shapes)


def held(
    a: Alert, state: str = State.ACTIVE, *, origin: str = "vn-moh-ew", successor: str | None = None
) -> Held:
    return Held(
        a.sender,
        a.identifier,
        a.sent,
        a.status,
        a.msg_type,
        state,
        origin,
        successor,
        "sha-" + a.identifier,
        a.expires,
    )


def take(
    a: Alert,
    holds: list[Held],
    *,
    origin: str = "vn-moh-ew",
    expected: frozenset[tuple[str, str]] = frozenset(),
    now: datetime = T0,
) -> lifecycle.Transition:
    return lifecycle.transition(
        a,
        sha256="new",
        origin=origin,
        relayed=False,
        held={(h.sender, h.identifier): h for h in holds},
        expected=expected,
        now=now,
        default_lifetime=DAY,
    )


FIRST = alert()


def test_an_update_supersedes_and_a_cancel_cancels() -> None:
    update = alert(msg_type=MsgType.UPDATE, refs=(FIRST.reference(),), identifier="a2")
    assert take(update, [held(FIRST)]).changes == {FIRST.key: State.SUPERSEDED}
    cancel = alert(msg_type=MsgType.CANCEL, refs=(FIRST.reference(),), identifier="a3")
    moved = take(cancel, [held(FIRST)])
    assert (moved.state, moved.changes) == (State.CANCEL, {FIRST.key: State.CANCELLED})


def test_an_update_from_another_sender_is_refused_even_if_signed() -> None:
    update = alert(
        msg_type=MsgType.UPDATE, refs=(FIRST.reference(),), identifier="x", sender="th-ddpm-ew"
    )
    with pytest.raises(AlertNotEntitled, match="only its sender"):
        take(update, [held(FIRST)], origin="th-ddpm-ew")


def test_an_alert_relayed_by_another_participant_cannot_be_updated_by_a_third() -> None:
    update = alert(msg_type=MsgType.UPDATE, refs=(FIRST.reference(),), identifier="a2")
    with pytest.raises(AlertNotEntitled, match="reached this node through"):
        take(update, [held(FIRST, origin="th-ddpm-ew")])


def test_a_cancel_of_an_unknown_alert_is_refused() -> None:
    cancel = alert(msg_type=MsgType.CANCEL, refs=(FIRST.reference(),), identifier="a3")
    with pytest.raises(AlertChainBroken, match="names no alert"):
        take(cancel, [])


def test_a_reference_the_sender_says_it_sent_is_awaited() -> None:
    update = alert(msg_type=MsgType.UPDATE, refs=(FIRST.reference(),), identifier="a2")
    with pytest.raises(AlertNotYetKnown):
        take(update, [], expected=frozenset({FIRST.key}))
    assert take(update, []).state == State.ACTIVE  # new to this node: it starts here


def test_a_cancelled_alert_stays_cancelled() -> None:
    update = alert(msg_type=MsgType.UPDATE, refs=(FIRST.reference(),), identifier="a2")
    with pytest.raises(AlertChainBroken, match="already cancelled"):
        take(update, [held(FIRST, State.CANCELLED)])


def test_a_reference_with_another_sent_time_is_refused() -> None:
    wrong = Reference(FIRST.sender, FIRST.identifier, T0 + timedelta(seconds=1))
    with pytest.raises(AlertChainBroken, match="was sent at"):
        take(alert(msg_type=MsgType.UPDATE, refs=(wrong,), identifier="a2"), [held(FIRST)])


def test_an_alert_past_its_expiry_is_refused() -> None:
    with pytest.raises(AlertExpired):
        take(FIRST, [], now=T0 + DAY)
    assert take(alert(expires=None), [], now=T0 + DAY - timedelta(seconds=1)).state == State.ACTIVE
    with pytest.raises(AlertExpired):
        take(alert(expires=None), [], now=T0 + DAY)


def test_the_same_message_twice_is_a_duplicate_and_other_content_is_refused() -> None:
    assert lifecycle.transition(
        FIRST,
        sha256="sha-a1",
        origin="vn-moh-ew",
        relayed=False,
        held={FIRST.key: held(FIRST)},
        now=T0,
        default_lifetime=DAY,
    ).duplicate
    with pytest.raises(AlertChainBroken, match="different message"):
        take(FIRST, [held(FIRST)])

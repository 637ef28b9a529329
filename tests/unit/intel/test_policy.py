"""Who may hold a marked object and which hops may carry it (TLP 2.0, Art. 47 handling codes),
checked rule by rule, against attacks on grants, and by a randomised test over directories,
groups, markings and share chains: nobody ever holds an object its markings forbid."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from accord.errors import GrantInvalid, SharingRefused
from accord.identity.directory import Directory, draft_bytes, sign_directory, verify_directory
from accord.identity.keys import NodeKeys
from accord.identity.models import (
    DirectoryDocument,
    Group,
    Participant,
    Role,
    StewardSet,
    encryption_kid,
    signing_kid,
)
from accord.intel.markings import Marking, Tlp, participant_identity
from accord.intel.policy import (
    Grant,
    audience_of,
    check_hop,
    check_origin,
    make_grant,
    preview,
    verify_grant,
)
from accord.intel.stix import StixObject
from accord.jose import b64url_decode, b64url_encode, dump, public_jwk
from accord.requests.records import HandlingCode

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
POOL = ("vn-cert", "vn-mps", "ru-cert", "ru-mvd", "za-cert", "sg-cert", "th-cert", "kh-cert")
STEWARD = Ed25519PrivateKey.generate()


@cache
def keys(pid: str) -> NodeKeys:
    return NodeKeys.generate()


def directory(countries: dict[str, str], groups: dict[str, tuple[str, ...]]) -> Directory:
    participants = tuple(
        Participant(
            id=pid,
            name=pid,
            country=country,
            roles=(Role.CERT,),
            languages=("en",),
            url="http://127.0.0.1:9",
            signing_key=public_jwk(keys(pid).signing.public_key(), signing_kid(pid)),
            encryption_key=public_jwk(keys(pid).encryption.public_key(), encryption_kid(pid)),
        )
        for pid, country in countries.items()
    )
    stewards = StewardSet(keys=(public_jwk(STEWARD.public_key(), "s1"),), threshold=1)
    document = DirectoryDocument(
        federation="test",
        version=1,
        issued_at=T0,
        expires_at=T0 + timedelta(days=9),
        stewards=stewards,
        participants=participants,
        groups={name: Group(members=members) for name, members in groups.items()},
    )
    signed = sign_directory(draft_bytes(document), STEWARD, "s1")
    return verify_directory(signed, trusted=stewards, installed=None, now=T0)


FED = directory(
    {"vn-cert": "VN", "vn-mps": "VN", "ru-cert": "RU", "za-cert": "ZA"},
    {"asean-russia": ("vn-cert", "ru-cert")},
)


def obj(n: int = 1, **extra: object) -> StixObject:
    value = {
        "type": "indicator",
        "id": f"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd{n:02d}",
        "modified": "2026-11-24T09:00:00.000Z",
        **extra,
    }
    return StixObject(json.dumps(value).encode(), value)


def mark(tlp: Tlp | None, *codes: HandlingCode) -> Marking:
    return Marking(tlp, frozenset(codes), None, frozenset())


def holds(marking: Marking, to: list[str], pid: str) -> bool:
    audience = audience_of("vn-cert", to, FED)
    return {p: ok for p, ok, _ in preview(marking, audience, FED)}[pid]


def test_amber_reaches_the_group_and_its_own_states_authorities_only() -> None:
    amber = mark(Tlp.AMBER)
    assert holds(amber, ["asean-russia"], "ru-cert")
    assert holds(amber, ["asean-russia"], "vn-mps")  # Viet Nam's own authority: "clients"
    assert not holds(amber, ["asean-russia"], "za-cert")


def test_amber_strict_reaches_the_addressed_only() -> None:
    assert holds(mark(Tlp.AMBER_STRICT), ["asean-russia"], "ru-cert")
    assert not holds(mark(Tlp.AMBER_STRICT), ["asean-russia"], "vn-mps")


def test_red_reaches_only_those_named_one_by_one() -> None:
    assert not holds(mark(Tlp.RED), ["asean-russia"], "ru-cert")
    assert holds(mark(Tlp.RED), ["ru-cert"], "ru-cert")


def test_green_is_the_federation_and_clear_is_anyone() -> None:
    assert holds(mark(Tlp.GREEN), ["ru-cert"], "za-cert")
    assert holds(mark(Tlp.CLEAR), ["ru-cert"], "za-cert")


def test_an_unmarked_or_unreadable_object_reaches_nobody() -> None:
    """An empty or unknown marking means nobody, never everybody."""
    assert not holds(mark(None), ["asean-russia"], "ru-cert")
    unknown = Marking(Tlp.CLEAR, frozenset(), None, frozenset({"marking-definition--x"}))
    assert not holds(unknown, ["asean-russia"], "ru-cert")


def test_no_onward_transfer_stops_amber_at_the_addressed() -> None:
    assert not holds(mark(Tlp.AMBER, HandlingCode.NO_ONWARD_TRANSFER), ["ru-cert"], "vn-mps")


def test_a_tlp_red_object_re_shared_is_refused() -> None:
    audience = audience_of("vn-cert", ["ru-cert"], FED)
    with pytest.raises(SharingRefused, match="only its originator"):
        check_hop(
            mark(Tlp.RED), audience, sender="ru-cert", recipient="vn-mps", directory=FED, what="x"
        )


def test_passing_amber_outside_the_audience_is_refused() -> None:
    audience = audience_of("vn-cert", ["asean-russia"], FED)
    check_hop(
        mark(Tlp.AMBER), audience, sender="ru-cert", recipient="vn-mps", directory=FED, what="x"
    )
    with pytest.raises(SharingRefused, match="za-cert may not hold"):
        check_hop(
            mark(Tlp.AMBER),
            audience,
            sender="ru-cert",
            recipient="za-cert",
            directory=FED,
            what="x",
        )


def test_a_holder_outside_the_audience_cannot_pass_it_on() -> None:
    audience = audience_of("vn-cert", ["ru-cert"], FED)
    with pytest.raises(SharingRefused, match="za-cert may not hold"):
        check_hop(
            mark(Tlp.AMBER),
            audience,
            sender="za-cert",
            recipient="ru-cert",
            directory=FED,
            what="x",
        )


def test_an_unknown_address_is_refused_not_read_as_everyone() -> None:
    with pytest.raises(Exception, match="neither a participant nor a group"):
        audience_of("vn-cert", ["everyone"], FED)


# Grants --------------------------------------------------------------------------------------


def grant_for(*objects: StixObject, origin: str = "vn-cert") -> Grant:
    return make_grant(
        origin=origin,
        key=keys(origin).signing,
        to=["asean-russia"],
        objects=list(objects),
        directory=FED,
        now=T0,
    )


def test_a_grant_verifies_and_names_its_objects_by_digest() -> None:
    grant = verify_grant(grant_for(obj()).token, FED)
    assert grant.audience.addressed == {"vn-cert", "ru-cert"}
    grant.check_object(obj())


def test_an_object_modified_in_transit_is_refused() -> None:
    grant = grant_for(obj())
    tampered = obj(object_marking_refs=[])  # same id and version, other bytes
    with pytest.raises(GrantInvalid, match="modified in transit"):
        grant.check_object(tampered)


def test_a_grant_signed_by_another_key_is_refused() -> None:
    forged = make_grant(
        origin="ru-cert",
        key=keys("ru-cert").signing,
        to=["za-cert"],
        objects=[obj()],
        directory=FED,
        now=T0,
    )
    header, payload, signature = forged.token.split(".")
    claims = json.loads(b64url_decode(payload))
    claims["origin"] = "vn-cert"
    with pytest.raises(GrantInvalid, match="not signed"):
        verify_grant(f"{header}.{b64url_encode(dump(claims))}.{signature}", FED)


def test_a_grant_from_a_non_participant_is_refused() -> None:
    with pytest.raises(GrantInvalid):
        make_grant(
            origin="xx-nobody",
            key=Ed25519PrivateKey.generate(),
            to=["ru-cert"],
            objects=[obj()],
            directory=FED,
            now=T0,
        )


def test_a_marking_stripped_on_re_share_is_refused() -> None:
    """ru-cert strips vn-cert's AMBER marking and re-grants the object as its own."""
    stripped = obj(created_by_ref=participant_identity("vn-cert"))
    with pytest.raises(SharingRefused, match="created by vn-cert"):
        check_origin(stripped, "ru-cert", FED)
    original = obj(2, created_by_ref=participant_identity("vn-cert"))
    grant = grant_for(original)
    edited = obj(2, created_by_ref=participant_identity("vn-cert"), x="stripped")
    with pytest.raises(GrantInvalid):
        grant.check_object(edited)


# The property: nobody ever holds what its markings forbid -------------------------------------


def oracle(marking: Marking, origin: str, to: list[str], d: Directory) -> set[str]:
    """Written from TLP 2.0's definitions, independently of policy.py."""
    everyone = {p.id for p in d.document.participants}
    addressed = {p.id for a in to for p in d.resolve(a)} | {origin}
    if marking.tlp is None or marking.unknown:
        return {origin}
    if marking.tlp is Tlp.RED:
        return {a for a in to if a in everyone} | {origin}
    if marking.tlp is Tlp.AMBER_STRICT or HandlingCode.NO_ONWARD_TRANSFER in marking.handling:
        return addressed
    if marking.tlp is Tlp.AMBER:
        countries = {p.country for p in d.document.participants if p.id in addressed}
        return addressed | {p.id for p in d.document.participants if p.country in countries}
    return everyone


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Directory, list[str]]:
    ids = draw(st.lists(st.sampled_from(POOL), min_size=2, max_size=6, unique=True))
    countries = {pid: draw(st.sampled_from(["VN", "RU", "ZA"])) for pid in ids}
    groups: dict[str, tuple[str, ...]] = {}
    for n in range(draw(st.integers(0, 3))):
        members = draw(
            st.lists(st.sampled_from(ids + list(groups)), min_size=1, max_size=4, unique=True)
        )
        groups[f"group-{n}"] = tuple(members)
    return directory(countries, groups), ids + list(groups)


MARKINGS = st.builds(
    Marking,
    st.none() | st.sampled_from(list(Tlp)),
    st.frozensets(st.sampled_from(list(HandlingCode)), max_size=2),
    st.none(),
    st.sampled_from([frozenset(), frozenset({"marking-definition--unknown"})]),
)


@given(worlds(), MARKINGS, st.data())
def test_nobody_ever_holds_an_object_its_markings_forbid(
    world: tuple[Directory, list[str]], marking: Marking, data: st.DataObject
) -> None:
    d, names = world
    ids = [p.id for p in d.document.participants]
    origin = data.draw(st.sampled_from(ids))
    to = data.draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
    audience = audience_of(origin, to, d)
    holders, direct = {origin}, set()
    for _ in range(data.draw(st.integers(1, 12))):
        sender = data.draw(st.sampled_from(sorted(holders)))
        recipient = data.draw(st.sampled_from(ids))
        try:
            check_hop(marking, audience, sender=sender, recipient=recipient, directory=d, what="x")
        except SharingRefused:
            continue
        holders.add(recipient)
        if sender == origin:
            direct.add(recipient)
    assert holders <= oracle(marking, origin, to, d)
    restricted = (
        marking.tlp in (None, Tlp.RED, Tlp.AMBER_STRICT)
        or marking.unknown
        or (HandlingCode.NO_ONWARD_TRANSFER in marking.handling)
    )
    if restricted:  # only the originator passes these on
        assert holders <= direct | {origin}

"""CAP 1.2 documents: the specification's examples and public samples read, the OASIS XSD and
the rules of the text checked (every problem at once, each with its element and section), and
XML -> record -> XML exact for every record Hypothesis can make."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from accord.alerts import cap
from accord.alerts.compose import compose
from accord.alerts.models import (
    Alert,
    Area,
    Category,
    Certainty,
    Info,
    MsgType,
    Reference,
    Resource,
    ResponseType,
    Scope,
    Severity,
    Status,
    Urgency,
    ValuePair,
    cap_time,
)
from accord.alerts.xml import parse, schema
from accord.errors import AlertInvalid

LIMIT = 1024 * 1024
SAMPLE_NAMES = [
    "a1-homeland-security.xml",
    "a2-severe-thunderstorm.xml",
    "a3-earthquake-update.xml",
    "a4-amber-multilingual.xml",
    "tsunami-cancellation.xml",
]


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_the_specification_examples_and_public_samples_are_read(samples: Path, name: str) -> None:
    alert = cap.load((samples / name).read_bytes(), max_bytes=LIMIT)
    again = cap.load(cap.to_xml(alert), max_bytes=LIMIT)
    assert again == alert
    assert schema().validate(parse(cap.to_xml(alert), max_bytes=LIMIT))


def test_a_sample_reads_as_written(samples: Path) -> None:
    alert = cap.load((samples / "a2-severe-thunderstorm.xml").read_bytes(), max_bytes=LIMIT)
    [info] = alert.infos
    [area] = info.areas
    assert (alert.identifier, alert.sender, cap_time(alert.sent)) == (
        "KSTO1055887203",
        "KSTO@NWS.NOAA.GOV",
        "2003-06-17T14:57:00-07:00",
    )
    assert info.response_types == (ResponseType.SHELTER,)
    assert area.polygons == (
        "38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14",
    )
    assert [g.value for g in area.geocodes] == ["006109", "006009", "006003"]
    tsunami = cap.load((samples / "tsunami-cancellation.xml").read_bytes(), max_bytes=LIMIT)
    assert [r.identifier for r in tsunami.references] == [f"PAAQ-{n}-mg5a94" for n in (1, 2, 3)]


def test_the_languages_of_a_multilingual_alert_are_ordered_for_the_reader(samples: Path) -> None:
    alert = cap.load((samples / "a4-amber-multilingual.xml").read_bytes(), max_bytes=LIMIT)
    assert [i.lang for i in alert.for_languages(("es", "en"))] == ["es-US", "en-US"]
    assert [i.lang for i in alert.for_languages(("fr",))] == ["en-US", "es-US"]


# Every rule with a failing example --------------------------------------------------------------


def valid() -> dict[str, object]:
    return {
        "identifier": "vn-moh-2026-0001",
        "sender": "vn-moh-ew",
        "sent": "2026-12-03T09:00:00-00:00",
        "status": "Actual",
        "msgType": "Alert",
        "scope": "Public",
        "info": [
            {
                "language": "en",
                "category": ["Health"],
                "event": "Avian influenza",
                "urgency": "Expected",
                "severity": "Severe",
                "certainty": "Likely",
                "expires": "2026-12-05T09:00:00+07:00",
                "area": [
                    {
                        "areaDesc": "Mekong delta",
                        "polygon": ["10.9,104.4 10.9,106.8 9.0,106.8 9.0,104.4 10.9,104.4"],
                        "circle": ["10.0,105.5 20"],
                    }
                ],
            }
        ],
    }


def problems(fields: dict[str, object]) -> list[tuple[str, str, str | None]]:
    root, found = compose(fields)
    return [(e.field, e.rule, e.article) for e in found + cap.problems(root)]


def test_the_valid_example_has_no_problem() -> None:
    assert problems(valid()) == []


def _info(fields: dict[str, object]) -> dict[str, object]:
    infos = fields["info"]
    assert isinstance(infos, list)
    first = infos[0]
    assert isinstance(first, dict)
    return first


def _area(fields: dict[str, object]) -> dict[str, object]:
    areas = _info(fields)["area"]
    assert isinstance(areas, list)
    first = areas[0]
    assert isinstance(first, dict)
    return first


RULES = [
    (
        "identifier with a space",
        lambda f: f.update(identifier="vn moh 1"),
        ("alert.identifier", "characters", "CAP 1.2 §3.2.1"),
    ),
    (
        "sender with a comma",
        lambda f: f.update(sender="vn,moh"),
        ("alert.sender", "characters", "CAP 1.2 §3.2.1"),
    ),
    (
        "sent with Z",
        lambda f: f.update(sent="2026-12-03T09:00:00Z"),
        ("alert.sent", "xsd", "CAP 1.2 §3.2.1"),
    ),
    (
        "sent with fractions",
        lambda f: f.update(sent="2026-12-03T09:00:00.5-00:00"),
        ("alert.sent", "xsd", "CAP 1.2 §3.2.1"),
    ),
    (
        "status not in CAP",
        lambda f: f.update(status="Real"),
        ("alert.status", "xsd", "CAP 1.2 §3.2.1"),
    ),
    (
        "Restricted without restriction",
        lambda f: f.update(scope="Restricted"),
        ("alert.restriction", "required", "CAP 1.2 §3.2.1"),
    ),
    (
        "Private without addresses",
        lambda f: f.update(scope="Private"),
        ("alert.addresses", "required", "CAP 1.2 §3.2.1"),
    ),
    (
        "Update without references",
        lambda f: f.update(msgType="Update"),
        ("alert.references", "required", "CAP 1.2 §3.2.1"),
    ),
    (
        "Cancel without references",
        lambda f: f.update(msgType="Cancel"),
        ("alert.references", "required", "CAP 1.2 §3.2.1"),
    ),
    (
        "a reference that is no triple",
        lambda f: f.update(msgType="Update", references="vn-moh-ew,only-two"),
        ("alert.references[0]", "format", "CAP 1.2 §3.2.1"),
    ),
    (
        "a reference with a Z time",
        lambda f: f.update(msgType="Update", references="a,b,2026-12-03T09:00:00Z"),
        ("alert.references[0]", "format", "CAP 1.2 §3.2.1"),
    ),
    (
        "unbalanced quotes in addresses",
        lambda f: f.update(scope="Private", addresses='"Border posts'),
        ("alert.addresses", "quoting", "CAP 1.2 §3.2.1"),
    ),
    (
        "language not RFC 3066",
        lambda f: _info(f).update(language="en_US"),
        ("alert.info[0].language", "rfc3066", "CAP 1.2 §3.2.2"),
    ),
    (
        "expires before sent",
        lambda f: _info(f).update(expires="2026-12-03T08:00:00-00:00"),
        ("alert.info[0].expires", "after_sent", "CAP 1.2 §3.2.2"),
    ),
    (
        "urgency not in CAP",
        lambda f: _info(f).update(urgency="Now"),
        ("alert.info[0].urgency", "xsd", "CAP 1.2 §3.2.2"),
    ),
    (
        "a polygon of three pairs",
        lambda f: _area(f).update(polygon=["1,1 1,2 1,1"]),
        ("alert.info[0].area[0].polygon[0]", "polygon", "CAP 1.2 §3.2.4"),
    ),
    (
        "an open polygon",
        lambda f: _area(f).update(polygon=["1,1 1,2 2,2 2,1"]),
        ("alert.info[0].area[0].polygon[0]", "polygon", "CAP 1.2 §3.2.4"),
    ),
    (
        "a latitude off the globe",
        lambda f: _area(f).update(polygon=["91,1 1,2 2,2 91,1"]),
        ("alert.info[0].area[0].polygon[0]", "polygon", "CAP 1.2 §3.2.4"),
    ),
    (
        "a circle without radius",
        lambda f: _area(f).update(circle=["10.0,105.5"]),
        ("alert.info[0].area[0].circle[0]", "circle", "CAP 1.2 §3.2.4"),
    ),
    (
        "a circle with a comma radius",
        lambda f: _area(f).update(circle=["10.0,105.5,20"]),
        ("alert.info[0].area[0].circle[0]", "circle", "CAP 1.2 §3.2.4"),
    ),
    (
        "ceiling without altitude",
        lambda f: _area(f).update(ceiling=3000),
        ("alert.info[0].area[0].ceiling", "with_altitude", "CAP 1.2 §3.2.4"),
    ),
    (
        "altitude not a decimal",
        lambda f: _area(f).update(altitude="high"),
        ("alert.info[0].area[0].altitude", "xsd", "CAP 1.2 §3.2.4"),
    ),
    (
        "an element CAP does not have",
        lambda f: f.update(priority="high"),
        ("alert.priority", "unknown_element", "CAP 1.2 §3.2.1"),
    ),
    (
        "a list where text belongs",
        lambda f: _info(f).update(event=["a", "b"]),
        ("alert.info[0].event", "type", "CAP 1.2 §3.2.2"),
    ),
]


@pytest.mark.parametrize(("case", "change", "expected"), RULES, ids=[r[0] for r in RULES])
def test_each_rule_has_a_failing_example(
    case: str, change: object, expected: tuple[str, str, str]
) -> None:
    fields = valid()
    change(fields)  # type: ignore[operator]
    found = problems(fields)
    assert expected in found, (case, found)


@pytest.mark.parametrize(
    ("deref", "digest", "size", "rule"),
    [
        ("not base64!", None, None, "base64"),
        ("aGVsbG8=", "0" * 40, None, "digest_matches"),
        ("aGVsbG8=", "sha1-please", None, "sha1"),
        ("aGVsbG8=", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d", 6, "size_matches"),
    ],
)
def test_a_resource_must_match_its_digest_and_size(
    deref: str, digest: str | None, size: int | None, rule: str
) -> None:
    fields = valid()
    resource: dict[str, object] = {
        "resourceDesc": "map",
        "mimeType": "text/plain",
        "derefUri": deref,
    }
    if digest:
        resource["digest"] = digest
    if size is not None:
        resource["size"] = size
    _info(fields)["resource"] = [resource]
    assert rule in {r for _f, r, _a in problems(fields)}


def test_a_resource_that_matches_its_digest_is_valid() -> None:
    fields = valid()
    _info(fields)["resource"] = [
        {
            "resourceDesc": "note",
            "mimeType": "text/plain",
            "size": 5,
            "derefUri": "aGVsbG8=",
            "digest": "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",  # SHA-1 of "hello"
        }
    ]
    assert problems(fields) == []


def test_every_problem_is_reported_at_once() -> None:
    fields = valid()
    fields.update(identifier="a b", scope="Private", status="Real")
    _info(fields).update(language="en_US", expires="2026-12-01T00:00:00-00:00")
    _area(fields).update(polygon=["1,1 1,2 2,2 2,1"])
    root, found = compose(fields)
    with pytest.raises(AlertInvalid) as caught:
        cap.check(root)
    rules = {(e.field, e.rule) for e in caught.value.errors}
    assert {
        ("alert.identifier", "characters"),
        ("alert.addresses", "required"),
        ("alert.status", "xsd"),
        ("alert.info[0].language", "rfc3066"),
        ("alert.info[0].expires", "after_sent"),
        ("alert.info[0].area[0].polygon[0]", "polygon"),
    } <= rules
    assert all(e.article and e.article.startswith("CAP 1.2 §") for e in caught.value.errors)
    assert found == []


def test_a_rule_replaces_the_xsd_message_for_the_same_element() -> None:
    fields = valid()
    _info(fields).update(language="en_US")
    found = problems(fields)
    assert [r for f, r, _a in found if f == "alert.info[0].language"] == ["rfc3066"]


def test_references_must_name_alerts_this_node_holds() -> None:
    fields = valid()
    fields.update(msgType="Update", references="vn-moh-ew,unknown,2026-12-03T08:00:00-00:00")
    root, _ = compose(fields)
    with pytest.raises(AlertInvalid) as caught:
        cap.check(root, known=lambda reference: False)
    assert [(e.field, e.rule) for e in caught.value.errors] == [("alert.references[0]", "known")]


def test_accord_profile_asks_for_expires_and_refuses_drafts() -> None:
    fields = valid()
    del _info(fields)["expires"]
    fields["status"] = "Draft"
    root, _ = compose(fields)
    with pytest.raises(AlertInvalid) as caught:
        cap.check(root, profile=True)
    assert {(e.field, e.rule) for e in caught.value.errors} == {
        ("alert.info[0].expires", "required"),
        ("alert.status", "not_draft"),
    }


# Reading XML from outside ------------------------------------------------------------------------

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>"""
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><note>&lol9;</note></alert>"""


def test_an_xxe_document_is_refused_before_any_entity_is_read() -> None:
    with pytest.raises(AlertInvalid, match="document type") as caught:
        parse(XXE, max_bytes=LIMIT)
    assert "root:" not in str(caught.value)
    assert caught.value.errors[0].rule == "no_doctype"


def test_a_billion_laughs_document_is_refused() -> None:
    with pytest.raises(AlertInvalid, match="document type"):
        parse(BILLION_LAUGHS, max_bytes=LIMIT)


def test_a_doctype_in_utf16_is_refused_after_parsing() -> None:
    document = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a><a/>'.encode("utf-16")
    with pytest.raises(AlertInvalid, match="document type"):
        parse(document, max_bytes=LIMIT)


def test_an_oversized_document_is_refused_before_parsing() -> None:
    with pytest.raises(AlertInvalid, match="over the 100 byte limit"):
        parse(b"<alert>" + b" " * 200 + b"</alert>", max_bytes=100)


def test_malformed_xml_is_refused_with_the_parser_message() -> None:
    with pytest.raises(AlertInvalid, match="not well-formed"):
        parse(b"<alert><identifier></alert>", max_bytes=LIMIT)


def test_a_document_whose_root_is_not_alert_is_refused() -> None:
    # the XSD declares valueName and value as global elements too: the root is checked
    root = parse(
        b'<valueName xmlns="urn:oasis:names:tc:emergency:cap:1.2">x</valueName>', max_bytes=LIMIT
    )
    [error] = cap.problems(root)
    assert (error.field, error.rule) == ("alert", "root_element")


# Round trips --------------------------------------------------------------------------------------

NAME = st.text(alphabet=string.ascii_letters + string.digits + "-.@:_", min_size=1, max_size=30)
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r"),
    max_size=40,
) | st.sampled_from(["Cúm gia cầm", "Птичий грипп", "ไข้หวัดนก", "a\nb\tc", " padded "])
OFFSETS = st.sampled_from([timedelta(0), timedelta(hours=7), timedelta(hours=-5, minutes=-30)])
TIMES = st.builds(
    lambda seconds, offset: (
        datetime(2000, 1, 1, tzinfo=UTC).astimezone(timezone(offset)) + timedelta(seconds=seconds)
    ),
    st.integers(0, 3_000_000_000),
    OFFSETS,
)
POINT = st.tuples(st.integers(-9000, 9000), st.integers(-18000, 18000)).map(
    lambda p: f"{p[0] / 100},{p[1] / 100}"
)
POLYGON = st.lists(POINT, min_size=3, max_size=8).map(lambda ps: " ".join([*ps, ps[0]]))
CIRCLE = st.tuples(POINT, st.integers(0, 50000)).map(lambda c: f"{c[0]} {c[1] / 10}")
PAIRS = st.lists(st.builds(ValuePair, NAME, TEXT), max_size=3).map(tuple)
DECIMAL = st.decimals(min_value=-1000, max_value=100000, places=1, allow_nan=False)


@st.composite
def areas(draw: st.DrawFn) -> Area:
    altitude = draw(st.none() | DECIMAL)
    ceiling = draw(st.none() | DECIMAL) if altitude is not None else None
    return Area(
        draw(TEXT),
        tuple(draw(st.lists(POLYGON, max_size=2))),
        tuple(draw(st.lists(CIRCLE, max_size=2))),
        draw(PAIRS),
        altitude,
        ceiling,
    )


@st.composite
def infos(draw: st.DrawFn, sent: datetime) -> Info:
    later = st.builds(lambda s: sent + timedelta(seconds=s), st.integers(0, 10**7))
    return Info(
        categories=tuple(draw(st.lists(st.sampled_from(Category), min_size=1, max_size=3))),
        event=draw(TEXT),
        urgency=draw(st.sampled_from(Urgency)),
        severity=draw(st.sampled_from(Severity)),
        certainty=draw(st.sampled_from(Certainty)),
        language=draw(st.none() | st.sampled_from(["en", "vi", "ru-RU", "th", "es-US"])),
        response_types=tuple(draw(st.lists(st.sampled_from(ResponseType), max_size=2))),
        audience=draw(st.none() | TEXT),
        event_codes=draw(PAIRS),
        effective=draw(st.none() | TIMES),
        onset=draw(st.none() | TIMES),
        expires=draw(st.none() | later),
        sender_name=draw(st.none() | TEXT),
        headline=draw(st.none() | TEXT),
        description=draw(st.none() | TEXT),
        instruction=draw(st.none() | TEXT),
        web=draw(st.none() | st.sampled_from(["https://example.org/a", "http://x.test/b?c=d"])),
        contact=draw(st.none() | TEXT),
        parameters=draw(PAIRS),
        resources=tuple(
            draw(
                st.lists(
                    st.builds(
                        Resource,
                        TEXT,
                        st.sampled_from(["image/gif", "text/plain"]),
                        st.none() | st.integers(0, 10**9),
                        st.none() | st.just("https://example.org/r"),
                    ),
                    max_size=2,
                )
            )
        ),
        areas=tuple(draw(st.lists(areas(), max_size=2))),
    )


@st.composite
def alerts(draw: st.DrawFn) -> Alert:
    sent = draw(TIMES)
    msg_type = draw(st.sampled_from(MsgType))
    scope = draw(st.sampled_from(Scope))
    references = ()
    if msg_type is not MsgType.ALERT:
        references = tuple(
            draw(st.lists(st.builds(Reference, NAME, NAME, TIMES), min_size=1, max_size=3))
        )
    return Alert(
        identifier=draw(NAME),
        sender=draw(NAME),
        sent=sent,
        status=draw(st.sampled_from(Status)),
        msg_type=msg_type,
        scope=scope,
        source=draw(st.none() | TEXT),
        restriction="health authorities"
        if scope is Scope.RESTRICTED
        else draw(st.none() | TEXT.filter(lambda t: '"' not in t)),
        addresses='vn-moh-ew "Border posts"' if scope is Scope.PRIVATE else None,
        codes=tuple(draw(st.lists(NAME, max_size=2))),
        note=draw(st.none() | TEXT),
        references=references,
        incidents=draw(st.none() | NAME),
        infos=tuple(draw(st.lists(infos(sent), max_size=2))),
    )


@given(alerts())
def test_record_to_xml_to_record_is_exact_and_valid(alert: Alert) -> None:
    data = cap.to_xml(alert)
    assert schema().validate(etree.fromstring(data))
    assert cap.load(data, max_bytes=LIMIT) == alert


@given(alerts())
def test_xml_to_record_to_xml_is_exact(alert: Alert) -> None:
    data = cap.to_xml(alert)
    assert cap.to_xml(cap.load(data, max_bytes=LIMIT)) == data


def test_utc_is_written_as_minus_zero() -> None:
    # CAP 1.2 §3.2.1 sent: "The timezone for UTC MUST be represented as -00:00"
    assert cap_time(datetime(2026, 12, 3, 9, 0, 0, 500, tzinfo=UTC)) == "2026-12-03T09:00:00-00:00"
    assert cap_time(datetime(2026, 12, 3, 9, tzinfo=timezone(timedelta(hours=7)))).endswith(
        "+07:00"
    )

"""MISP events made by PyMISP (MISP's own library, with its object templates) go to STIX 2.1
through misp-stix and back with their attributes, objects, TLP and distribution; the STIX
Accord stores is valid and every object carries the event's TLP 2.0 level; an event for a
sharing group that names nobody reaches nobody; a feed lists each event in its manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pymisp import MISPEvent, MISPObject

from accord.errors import MispInvalid
from accord.intel import misp
from accord.intel.markings import TLP2_IDS, Tlp, definitions_in, marking_of
from accord.intel.stix import split
from accord.intel.validate import problems_of


def event(tag: str | None, distribution: int = 1) -> MISPEvent:
    made = MISPEvent()
    made.info = "Fake online shops HN-2026-0412"
    made.distribution = distribution
    made.threat_level_id = 2
    made.analysis = 1
    if tag:
        made.add_tag(tag)
    made.add_attribute("ip-dst", "198.51.100.7", to_ids=True)
    made.add_attribute("domain", "shop-deals-2026.example", to_ids=True)
    made.add_attribute("url", "https://shop-deals-2026.example/pay", to_ids=True)
    host = MISPObject("domain-ip")
    host.add_attribute("domain", value="pay.shop-deals-2026.example")
    host.add_attribute("ip", value="198.51.100.8")
    made.add_object(host)
    return made


def stix_of(made: MISPEvent) -> list[dict[str, Any]]:
    bundle = misp.to_stix(made.to_json().encode())
    objects = split(bundle, max_objects=1000)
    assert [p for o in objects for p in problems_of(o.value)] == []  # valid STIX 2.1
    return [o.value for o in objects]


def attributes(e: dict[str, Any]) -> set[tuple[str, str]]:
    found = {(a["type"], a["value"]) for a in e.get("Attribute", [])}
    for obj in e.get("Object", []):
        found |= {(a["object_relation"], a["value"]) for a in obj["Attribute"]}
    return found


@pytest.mark.parametrize(
    ("tag", "distribution", "level"),
    [
        ("tlp:amber", 1, Tlp.AMBER),
        ("tlp:amber+strict", 0, Tlp.AMBER_STRICT),
        ("tlp:clear", 3, Tlp.CLEAR),
        ("tlp:red", 0, Tlp.RED),
        (None, 2, Tlp.GREEN),
    ],
)
def test_an_event_goes_to_stix_and_back_with_its_tlp_and_distribution(
    tag: str | None, distribution: int, level: Tlp
) -> None:
    made = event(tag, distribution)
    objects = stix_of(made)
    definitions = definitions_in(objects)
    marked = [o for o in objects if o["type"] not in ("marking-definition", "extension-definition")]
    assert {marking_of(o, definitions).tlp for o in marked} == {level}
    assert all(TLP2_IDS[level] in o["object_marking_refs"] for o in marked)
    back = misp.event_of(objects)
    assert back["uuid"] == made.uuid
    assert back["info"] == made.info
    assert int(back["distribution"]) == distribution
    assert f"tlp:{level.word}" in {t["name"] for t in back["Tag"]}
    assert attributes(back) == attributes(json.loads(made.to_json()))


def test_a_sharing_group_that_names_nobody_leaves_the_objects_unmarked() -> None:
    """MISP once published such an event to everyone; here it reaches nobody."""
    made = event(None, distribution=4)
    objects = stix_of(made)
    marked = [o for o in objects if o["type"] != "marking-definition"]
    assert {marking_of(o, {}).tlp for o in marked} == {None}


def test_a_malformed_event_is_refused() -> None:
    for data in (b"[]", b"{}", b"not json", b'{"Event": {"Attribute": []}}'):
        with pytest.raises(MispInvalid):
            misp.to_stix(data)


def test_a_feed_has_a_manifest_line_and_a_file_per_event(tmp_path: Path) -> None:
    events = [
        misp.event_of(stix_of(event("tlp:green"))),
        misp.event_of(stix_of(event("tlp:clear"))),
    ]
    manifest = json.loads(misp.write_feed(tmp_path / "feed", events).read_text())
    assert set(manifest) == {e["uuid"] for e in events}
    for uid, line in manifest.items():
        stored = json.loads((tmp_path / "feed" / f"{uid}.json").read_text())["Event"]
        assert line["info"] == stored["info"]
        assert any(t["name"].startswith("tlp:") for t in line["Tag"])

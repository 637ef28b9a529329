"""The demo's early warning: Viet Nam's Ministry of Health warns the ASEAN-Russia group of a
cross-border epidemic (an Actual CAP alert in English and Vietnamese), updates it, then
cancels it, and sees who acknowledged; then it directs a Mekong flood exercise with two
injects, sent by its serving node when due, and writes the after-action report, which names
the participant that never answered. The events are fictional."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from accord.alerts import report, store
from accord.alerts.drills import Drills
from accord.alerts.exercises import read_spec
from accord.alerts.models import cap_time
from accord.alerts.service import Alerts
from accord.federation.service import Federation
from accord.node.home import Node

MOH, MPS, MVD, GP = "vn-moh-ew", "vn-mps-247", "ru-mvd-247", "ru-gp-ca"
GROUP = "asean-russia"
EXERCISE = "mekong-flood-2026"
DELTA = "10.9,104.4 10.9,106.8 9.0,106.8 9.0,104.4 10.9,104.4"  # the Mekong delta


@dataclass(frozen=True)
class Story:
    lines: list[str]
    ok: bool
    report_html: Path | None = None


def warning(headline_en: str, headline_vi: str, expires: str) -> dict[str, Any]:
    """A cross-border epidemic warning, in English and Vietnamese (CAP fields)."""
    common = {
        "category": ["Health"],
        "urgency": "Expected",
        "severity": "Severe",
        "certainty": "Likely",
        "expires": expires,
        "senderName": "Ministry of Health of Viet Nam, General Department of Preventive Medicine",
        "area": [{"areaDesc": "Mekong delta provinces", "polygon": [DELTA]}],
    }
    return {
        "status": "Actual",
        "scope": "Public",
        "info": [
            {
                **common,
                "language": "en",
                "event": "Avian influenza A(H5N1)",
                "headline": headline_en,
                "instruction": "Strengthen surveillance of poultry movements at border posts.",
            },
            {
                **common,
                "language": "vi",
                "event": "Cúm gia cầm A(H5N1)",
                "headline": headline_vi,
                "instruction": "Tăng cường giám sát vận chuyển gia cầm tại các cửa khẩu.",
            },
        ],
    }


def run(nodes: Mapping[str, Node], root: Path, timeout: float) -> Story:
    lines: list[str] = []
    epidemic = _epidemic(nodes, lines, timeout)
    exercise, html = _exercise(nodes, root, lines, timeout)
    live = [pid for pid in nodes if any(r.exercise_id for r, _, _ in _alerts(nodes[pid]).listed())]
    lines.append(
        "no node lists an exercise message among its live alerts"
        if not live
        else f"exercise traffic leaked into the live view of {', '.join(live)}"
    )
    return Story(lines, epidemic and exercise and not live, html)


def _alerts(node: Node) -> Alerts:
    return Alerts(Federation(node))


def _epidemic(nodes: Mapping[str, Node], lines: list[str], timeout: float) -> bool:
    moh = _alerts(nodes[MOH])
    expires = cap_time(nodes[MOH].clock.now() + timedelta(days=3))
    first = moh.send(
        warning(
            "H5N1 confirmed in poultry in two Mekong delta provinces",
            "Xác nhận H5N1 ở gia cầm tại hai tỉnh đồng bằng sông Cửu Long",
            expires,
        ),
        [GROUP],
    )
    ref = first.alert.identifier
    names = ", ".join(d.participant for d in first.recipients)
    lines.append(f"{MOH}: Actual alert {ref[:13]}… (en, vi) signed (XML-DSig, P-256) to {names}")
    _wait(_held_by(nodes, ref, (MPS, MVD, GP)), timeout)
    mvd_reads = _alerts(nodes[MVD]).show(ref).alert.for_languages(nodes[MVD].identity.languages)
    lines.append(f"{MVD} reads it in {mvd_reads[0].lang} first: {mvd_reads[0].headline}")
    mps_reads = _alerts(nodes[MPS]).show(ref).alert.for_languages(nodes[MPS].identity.languages)
    lines.append(f"{MPS} reads it in {mps_reads[0].lang} first: {mps_reads[0].headline}")
    _alerts(nodes[MVD]).ack(ref, by="Duty officer, National Centre", note="border posts informed")
    _wait(lambda: _state_of(nodes[MOH], ref, MVD) == "acknowledged", timeout)
    second = moh.update(
        ref,
        warning(
            "H5N1 confirmed in a third Mekong delta province",
            "Xác nhận H5N1 tại tỉnh thứ ba ở đồng bằng sông Cửu Long",
            expires,
        ),
    )
    lines.append(f"{MOH}: Update {second.alert.identifier[:13]}… supersedes {ref[:13]}…")
    _wait(_held_by(nodes, second.alert.identifier, (MPS, MVD, GP)), timeout)
    third = moh.cancel(second.alert.identifier, note="Outbreak contained; surveillance continues")
    lines.append(f"{MOH}: Cancel {third.alert.identifier[:13]}… ends the chain")
    _wait(_held_by(nodes, third.alert.identifier, (MPS, MVD, GP)), timeout)
    ok = True
    for pid in (MPS, MVD, GP):
        states = {r.identifier: s for r, _, s in _alerts(nodes[pid]).listed("all")}
        chain = (states.get(ref), states.get(second.alert.identifier))
        ok = ok and chain == ("superseded", "cancelled")
        lines.append(f"{pid}: first {chain[0]}, update {chain[1]}; nothing live")
    seen = {r.participant: s for r, s in moh.show(ref).recipients}
    lines.append(
        f"{MOH} sees, per recipient: " + ", ".join(f"{p} {s}" for p, s in sorted(seen.items()))
    )
    return ok and seen.get(MVD) == "acknowledged"


def _exercise(
    nodes: Mapping[str, Node], root: Path, lines: list[str], timeout: float
) -> tuple[bool, Path | None]:
    director = Drills(_alerts(nodes[MOH]))
    now = nodes[MOH].clock.now()
    flood = warning(
        "EXERCISE: Mekong at Tan Chau 4.6 m and rising",
        "DIỄN TẬP: lũ sông Mekong",
        cap_time(now + timedelta(hours=6)),
    )
    for info in flood["info"]:
        info.update(category=["Met", "Health"], event="River flood", urgency="Immediate")
    spec = read_spec(
        {
            "id": EXERCISE,
            "name": "Mekong flood and water-borne disease response",
            "participants": [MPS, MVD, GP],
            "starts_at": now,
            "ends_at": now + timedelta(hours=2),
            "scenario": "Three days of rain; an upstream release; cholera risk in shelters.",
            "injects": [
                {"id": "flood-warning", "at": now + timedelta(seconds=2), "alert": flood},
                {"id": "evacuation", "at": now + timedelta(seconds=4), "alert": flood},
            ],
        }
    )
    director.create(spec)
    director.start(EXERCISE)
    lines.append(f"EXERCISE {EXERCISE}: announced to {MPS}, {MVD}, {GP}; 2 injects scheduled")
    _wait(lambda: all(i.sent_at for i in director.injects(EXERCISE)), timeout)
    sent = [i.sent_identifier for i in director.injects(EXERCISE) if i.sent_identifier]
    lines.append(f"EXERCISE {EXERCISE}: {MOH}'s serving node sent both injects when due")
    for identifier in sent:
        _wait(_held_by(nodes, identifier, (MPS, MVD, GP)), timeout)
        for pid in (MPS, MVD):  # ru-gp-ca never answers
            _alerts(nodes[pid]).ack(identifier, by=f"exercise desk of {pid}")
    _wait(
        lambda: all(
            _state_of(nodes[MOH], i, MVD) == "acknowledged"
            and _state_of(nodes[MOH], i, MPS) == "acknowledged"
            for i in sent
        ),
        timeout,
    )
    made = director.report(EXERCISE)
    folder = root / "reports"
    folder.mkdir(exist_ok=True)
    html = folder / f"{EXERCISE}.html"
    html.write_text(report.html(made), encoding="utf-8")
    (folder / f"{EXERCISE}.json").write_bytes(report.json_bytes(made))
    ack = made.acknowledgement()
    lines.append(
        f"EXERCISE report {html.name}: acknowledgement median {ack.median or 0:.3f} s, "
        f"worst {ack.worst or 0:.3f} s; "
        f"never answered: {', '.join(made.never_answered) or 'nobody'}"
    )
    return made.never_answered == (GP,) and len(sent) == 2, html


def _held_by(
    nodes: Mapping[str, Node], identifier: str, pids: tuple[str, ...]
) -> Callable[[], bool]:
    return lambda: all(_holds(nodes[p], identifier) for p in pids)


def _holds(node: Node, identifier: str) -> bool:
    return any(r.identifier == identifier for r, _, _ in _alerts(node).listed("all"))


def _state_of(node: Node, identifier: str, participant: str) -> str | None:
    with node.read_engine.connect() as connection:
        rows = store.recipients(connection, [(node.id, identifier)])[(node.id, identifier)]
    return next(
        (
            ("acknowledged" if r.ack_type == "Ack" else r.delivery)
            for r in rows
            if r.participant == participant
        ),
        None,
    )


def _wait(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not check():
        time.sleep(0.05)

"""``accord alert`` and ``accord exercise`` between running node processes, as operators use
them: compose, validate, preview, send, acknowledge, update, cancel; a flood exercise whose
injects the director's serving node sends when due while one participant's node is down,
and whose after-action report names that participant as silent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from accord.demo.federation import LocalFederation, NodeSpec
from accord.identity.models import Role

from .helpers import Accord, db_path, query, refused, snapshot, start_all, wait_until

pytestmark = pytest.mark.slow
EW = (Role.EARLY_WARNING,)
MOH = NodeSpec("vn-moh-ew", "Ministry of Health, Viet Nam", "VN", EW, ("vi", "en"))
MVD = NodeSpec(
    "ru-mvd-247", "Ministry of Internal Affairs, 24/7", "RU", (Role.POC_24X7,), ("ru", "en")
)
MPS = NodeSpec(
    "vn-mps-247", "Ministry of Public Security, 24/7", "VN", (Role.POC_24X7,), ("vi", "en")
)
GP = NodeSpec(
    "ru-gp-ca", "Prosecutor General's Office", "RU", (Role.CENTRAL_AUTHORITY,), ("ru", "en")
)
DELTA = "10.9,104.4 10.9,106.8 9.0,106.8 9.0,104.4 10.9,104.4"


def _federation(tmp_path: Path) -> tuple[LocalFederation, Accord]:
    group = {"asean-russia": (MOH.id, MVD.id, MPS.id, GP.id)}
    federation = LocalFederation.create(
        tmp_path / "nodes", [MOH, MVD, MPS, GP], group, settings_toml="alert_poll = 0.2\n"
    )
    return federation, Accord(tmp_path, federation.nodes[MOH.id].env["ACCORD_PASSPHRASE"])


def _home(federation: LocalFederation, spec: NodeSpec) -> str:
    return str(federation.nodes[spec.id].home)


def _received(federation: LocalFederation, spec: NodeSpec, identifier: str) -> bool:
    rows = query(
        db_path(federation.nodes[spec.id]), "SELECT 1 FROM alerts WHERE identifier = ?", identifier
    )
    return bool(rows)


def test_an_alert_from_the_command_line_between_running_nodes(tmp_path: Path) -> None:
    federation, accord = _federation(tmp_path)
    moh, mvd = _home(federation, MOH), _home(federation, MVD)
    start_all(federation.nodes.values())
    try:
        made = accord.ok(
            "alert", "new", "--status", "Actual", "--event", "Dengue outbreak",
            "--category", "Health", "--urgency", "Expected", "--severity", "Severe",
            "--certainty", "Likely", "--expires", "+2d", "--language", "en",
            "--headline", "Dengue cases rising in the delta", "--area-desc", "Mekong delta",
            "--polygon", DELTA, "--out", "dengue.xml", "--dir", moh,
        )  # fmt: skip
        assert "CAP alert written to dengue.xml" in made.out
        accord.ok("alert", "validate", "dengue.xml", "--dir", moh)
        preview = accord.ok("alert", "preview", "dengue.xml", "--to", MVD.id, "--dir", moh)
        assert "not named, and declares no areas of interest" in preview.out
        # a broken document: every problem at once, with sections; nothing stored or sent
        broken = (tmp_path / "dengue.xml").read_text().replace("<urgency>Expected", "<urgency>Now")
        broken = broken.replace("<language>en</language>", "<language>en_US</language>")
        (tmp_path / "broken.xml").write_text(broken)
        before = snapshot(db_path(federation.nodes[MOH.id]))
        refused(
            accord.many(["alert", "send", "broken.xml", "--to", MVD.id, "--dir", moh])[0],
            "alert.info[0].urgency",
            "alert.info[0].language",
            "(CAP 1.2 §3.2.2)",
        )
        after = snapshot(db_path(federation.nodes[MOH.id]))
        assert {k: v for k, v in after.items() if k != "audit_checkpoints"} == {
            k: v for k, v in before.items() if k != "audit_checkpoints"
        }
        sent = accord.ok("alert", "send", "dengue.xml", "--to", MVD.id, "--dir", moh)
        identifier = sent.out.split(f"Alert {MOH.id},")[1].split()[0]
        wait_until(lambda: _received(federation, MVD, identifier), "the alert at ru-mvd-247")
        listed = json.loads(accord.ok("alert", "list", "--json", "--dir", mvd).stdout)
        assert [a["identifier"] for a in listed] == [identifier]
        accord.ok("alert", "ack", identifier, "--by", "Duty officer", "--dir", mvd)
        shown = wait_until(
            lambda: (
                (
                    d := json.loads(
                        accord.ok("alert", "show", identifier, "--json", "--dir", moh).stdout
                    )
                )["recipients"][0]["acknowledgement"]
                == "acknowledged"
                and d
            ),
            "the ack at vn-moh-ew",
        )
        assert shown["recipients"][0]["note"] == "Acknowledged by Duty officer"
        (tmp_path / "update.json").write_text(
            json.dumps(
                {
                    "status": "Actual",
                    "scope": "Public",
                    "info": [
                        {
                            "category": ["Health"],
                            "event": "Dengue outbreak",
                            "urgency": "Expected",
                            "severity": "Extreme",
                            "certainty": "Observed",
                            "expires": (datetime.now(UTC) + timedelta(days=2))
                            .replace(microsecond=0)
                            .isoformat(),
                        }
                    ],
                }
            )
        )
        accord.ok("alert", "update", identifier, "update.json", "--dir", moh)
        refused(
            accord.many(["alert", "update", identifier, "update.json", "--dir", moh])[0],
            "superseded",
        )
        refused(
            accord.many(["alert", "cancel", identifier, "--dir", mvd])[0],
            "only its sender may cancel",
        )
    finally:
        federation.stop()


def test_an_exercise_where_one_participant_is_down_reports_it_as_silent(tmp_path: Path) -> None:
    federation, accord = _federation(tmp_path)
    moh, mvd, mps = (_home(federation, s) for s in (MOH, MVD, MPS))
    now = datetime.now(UTC).replace(microsecond=0)
    exercise = {
        "id": "mekong-flood",
        "name": "Mekong flood exercise",
        "participants": [MVD.id, MPS.id, GP.id],
        "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
        "scenario": "An upstream release after three days of rain.",
    }
    (tmp_path / "exercise.json").write_text(json.dumps(exercise))
    inject = {
        "status": "Exercise",
        "scope": "Public",
        "info": [
            {
                "category": ["Met"],
                "event": "River flood",
                "urgency": "Immediate",
                "severity": "Severe",
                "certainty": "Likely",
                "headline": "Mekong at Tan Chau 4.6 m",
                "expires": (now + timedelta(hours=1)).isoformat(),
                "area": [{"areaDesc": "Mekong delta", "polygon": [DELTA]}],
            }
        ],
    }
    (tmp_path / "inject.json").write_text(json.dumps(inject))
    up = [federation.nodes[s.id] for s in (MOH, MVD, MPS)]  # ru-gp-ca's node is down
    start_all(up)
    try:
        accord.ok("exercise", "new", "exercise.json", "--dir", moh)
        accord.ok(
            "exercise",
            "inject",
            "mekong-flood",
            "inject.json",
            "--id",
            "warning",
            "--at",
            "+0m",
            "--dir",
            moh,
        )
        accord.ok("exercise", "start", "mekong-flood", "--dir", moh)
        sent = wait_until(
            lambda: query(
                db_path(federation.nodes[MOH.id]),
                "SELECT sent_identifier FROM exercise_injects WHERE sent_at IS NOT NULL",
            ),
            "the inject sent by the director's serving node",
        )
        identifier = sent[0]["sent_identifier"]
        for spec, home in ((MVD, mvd), (MPS, mps)):
            wait_until(
                lambda s=spec: _received(federation, s, identifier), f"the inject at {spec.id}"
            )
            assert (
                json.loads(accord.ok("alert", "list", "--json", "--dir", home).stdout) == []
            )  # never live
            [held] = json.loads(
                accord.ok("alert", "list", "--view", "exercise", "--json", "--dir", home).stdout
            )
            assert held["marking"] == "EXERCISE"
        accord.ok("alert", "ack", identifier, "--by", "Exercise desk", "--dir", mvd)
        wait_until(
            lambda: query(
                db_path(federation.nodes[MOH.id]),
                "SELECT 1 FROM alert_acks WHERE participant = ?",
                MVD.id,
            ),
            "ru-mvd-247's ack at the director",
        )
        run = accord.ok("exercise", "report", "mekong-flood", "--out", str(tmp_path), "--dir", moh)
        assert "never answered: vn-mps-247, ru-gp-ca" in run.out
        report = json.loads((tmp_path / "mekong-flood.json").read_text())
        [warning] = report["injects"]
        answers = {a["participant"]: a for a in warning["answers"]}
        assert answers[MVD.id]["acked_after"] is not None
        assert answers[MPS.id]["delivered_after"] is not None
        assert answers[GP.id]["delivered_after"] is None  # its node is down
        assert answers[GP.id]["delivery"] in ("retrying", "sent", "queued")
        assert sorted(warning["never_answered"]) == sorted([MPS.id, GP.id])
        html = (tmp_path / "mekong-flood.html").read_text()
        assert "EXERCISE" in html
        assert GP.id in html
    finally:
        federation.stop()

"""The example files in examples/alerts/ are what the README says: a valid alert, valid areas
of interest and a valid exercise."""

from __future__ import annotations

from pathlib import Path

from accord.alerts import cap
from accord.alerts.compose import compose
from accord.alerts.exercises import read_spec
from accord.documents import load
from accord.node.home import AREAS

EXAMPLES = Path(__file__).parents[3] / "examples" / "alerts"


def test_the_example_alert_is_valid() -> None:
    fields = {
        "identifier": "x",
        "sender": "vn-moh-ew",
        "sent": "2026-12-03T09:00:00-00:00",
        "msgType": "Alert",
    }
    root, problems = compose({**fields, **load(EXAMPLES / "epidemic.toml")})
    assert problems == []
    assert [i.lang for i in cap.check(root, profile=True).infos] == ["en", "vi"]


def test_the_example_areas_and_exercise_are_valid() -> None:
    assert [a.name for a in AREAS.validate_python(load(EXAMPLES / "areas.toml")["areas"])] == [
        "Thailand",
        "Bangkok metropolitan region",
    ]
    spec = read_spec(load(EXAMPLES / "exercise.toml"))
    assert [i.id for i in spec.injects] == ["flood-warning", "evacuation"]

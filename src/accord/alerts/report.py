"""The after-action report of an exercise as HTML (Jinja2, every value escaped) and JSON,
marked EXERCISE at the top, the bottom and on every inject."""

from __future__ import annotations

import json

from jinja2 import Environment, PackageLoader, StrictUndefined

from accord.alerts.exercises import Report
from accord.alerts.models import cap_time

_ENVIRONMENT = Environment(
    loader=PackageLoader("accord.alerts", "templates"),
    autoescape=True,  # values are data; the template holds the only markup
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def html(report: Report) -> str:
    return _ENVIRONMENT.get_template("report.html.j2").render(
        report=report,
        exercise=report.exercise,
        delivery=report.delivery(),
        ack=report.acknowledgement(),
        time=cap_time,
        seconds=_seconds,
    )


def json_bytes(report: Report) -> bytes:
    return json.dumps(report.as_json(), indent=2, ensure_ascii=False).encode() + b"\n"

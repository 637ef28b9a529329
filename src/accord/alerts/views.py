"""Alerts as JSON, the same for the operator API and ``accord alert ... --json``; every
exercise, test or system message carries its marking (``"marking": "EXERCISE"``)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from accord.alerts import store
from accord.alerts.audience import Decision
from accord.alerts.exercises import Exercise
from accord.alerts.models import Alert, Area, Info, Resource, ValuePair, cap_time
from accord.alerts.service import Shown, marking


def _time(value: datetime | None) -> str | None:
    return None if value is None else cap_time(value)


def summary(row: store.Stored, alert: Alert, state: str) -> dict[str, Any]:
    return {
        "ref": row.ref,
        "sender": row.sender,
        "identifier": row.identifier,
        "marking": marking(row.status),
        "status": row.status.value,
        "msg_type": row.msg_type.value,
        "scope": alert.scope.value,
        "state": state,
        "superseded_by": row.superseded_by,
        "headline": alert.headline(),
        "sent": cap_time(alert.sent),
        "expires": _time(row.expires_at),
        "direction": row.direction,
        "origin": row.origin,
        "feed": row.feed,
        "exercise": row.exercise_id,
    }


def shown(item: Shown, languages: tuple[str, ...]) -> dict[str, Any]:
    alert = item.alert
    return {
        **summary(item.stored, alert, item.state),
        "alert": alert_json(alert, languages),
        "recipients": [
            {
                "participant": r.participant,
                "reason": r.reason,
                "delivery": r.delivery,
                "last_error": r.last_error,
                "delivered_at": _time(r.delivered_at),
                "acknowledged_at": _time(r.acked_at),
                "acknowledgement": state,
                "note": r.ack_note,
            }
            for r, state in item.recipients
        ],
        "acknowledged_here_at": item.my_ack,
    }


def alert_json(alert: Alert, languages: tuple[str, ...] = ()) -> dict[str, Any]:
    """The CAP record with CAP's element names, info blocks in the reader's languages first."""
    return _clean(
        {
            "identifier": alert.identifier,
            "sender": alert.sender,
            "sent": cap_time(alert.sent),
            "status": alert.status.value,
            "msgType": alert.msg_type.value,
            "source": alert.source,
            "scope": alert.scope.value,
            "restriction": alert.restriction,
            "addresses": alert.addresses,
            "code": list(alert.codes),
            "note": alert.note,
            "references": [r.text() for r in alert.references],
            "incidents": alert.incidents,
            "info": [_info(i) for i in alert.for_languages(languages)],
        }
    )


def _info(info: Info) -> dict[str, Any]:
    return _clean(
        {
            "language": info.lang,
            "category": [c.value for c in info.categories],
            "event": info.event,
            "responseType": [r.value for r in info.response_types],
            "urgency": info.urgency.value,
            "severity": info.severity.value,
            "certainty": info.certainty.value,
            "audience": info.audience,
            "eventCode": [_pair(p) for p in info.event_codes],
            "effective": _time(info.effective),
            "onset": _time(info.onset),
            "expires": _time(info.expires),
            "senderName": info.sender_name,
            "headline": info.headline,
            "description": info.description,
            "instruction": info.instruction,
            "web": info.web,
            "contact": info.contact,
            "parameter": [_pair(p) for p in info.parameters],
            "resource": [_resource(r) for r in info.resources],
            "area": [_area(a) for a in info.areas],
        }
    )


def _pair(pair: ValuePair) -> dict[str, str]:
    return {"valueName": pair.value_name, "value": pair.value}


def _resource(resource: Resource) -> dict[str, Any]:
    return _clean(
        {
            "resourceDesc": resource.resource_desc,
            "mimeType": resource.mime_type,
            "size": resource.size,
            "uri": resource.uri,
            "derefUri": resource.deref_uri,
            "digest": resource.digest,
        }
    )


def _area(area: Area) -> dict[str, Any]:
    return _clean(
        {
            "areaDesc": area.area_desc,
            "polygon": list(area.polygons),
            "circle": list(area.circles),
            "geocode": [_pair(g) for g in area.geocodes],
            "altitude": None if area.altitude is None else str(area.altitude),
            "ceiling": None if area.ceiling is None else str(area.ceiling),
        }
    )


def _clean(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v is not None and v != []}


def decision(item: Decision) -> dict[str, Any]:
    return asdict(item) | {"languages": list(item.languages)}


def exercise(item: Exercise, injects: list[store.Inject] | None = None) -> dict[str, Any]:
    out = {"marking": "EXERCISE", **item.record(), "started_at": _time(item.started_at)}
    if injects is not None:
        out["injects"] = [
            {
                "inject_id": i.inject_id,
                "due_at": cap_time(i.due_at),
                "sent_at": _time(i.sent_at),
                "identifier": i.sent_identifier,
                "to": i.composition.get("to", []),
            }
            for i in injects
        ]
    return out

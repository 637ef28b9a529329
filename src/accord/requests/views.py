"""Requests as JSON, the same for the operator API and ``accord request ... --json``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from accord.requests.deadlines import Due
from accord.requests.service import Shown, Summary


def summary(item: Summary) -> dict[str, Any]:
    return {
        "request_id": item.request_id,
        "type": item.type.value,
        "role": item.role.value,
        "counterpart": item.counterpart,
        "status": item.status.value if item.status else None,
        "created_at": _time(item.created_at),
        "updated_at": _time(item.updated_at),
    }


def shown(item: Shown) -> dict[str, Any]:
    folded = item.folded
    return {
        **summary(item.summary),
        "request": json.loads(item.request.model_dump_json(exclude_none=True)),
        "state": folded.state.model_dump(mode="json") if folded else None,
        "events": [event.model_dump(mode="json") for event in item.events],
        "rejected": [
            {"actor": r.event[0], "seq": r.event[1], "code": r.code, "message": r.message}
            for r in (folded.rejected if folded else ())
        ],
        "pending": [{"actor": p[0], "seq": p[1]} for p in (folded.pending if folded else ())],
        "links": [
            {"request_id": link.request_id, "linked_id": link.linked_id, "relation": link.relation}
            for link in item.links
        ],
        "messages": [
            {
                "message_id": carrier.message_id,
                "author": carrier.author,
                "delivery": carrier.delivery.value if carrier.delivery else None,
                "last_error": carrier.last_error,
            }
            for carrier in item.carriers
        ],
    }


def due_item(item: Due, owner: Summary) -> dict[str, Any]:
    return {
        "request_id": item.request_id,
        "type": owner.type.value,
        "counterpart": owner.counterpart,
        "what": item.what,
        "due_at": item.due_at.isoformat(),
        "owed_by": "this node" if item.owed_by is owner.role else owner.counterpart,
        "reason": item.reason,
        "article": item.article,
        "overdue": item.overdue,
    }


def _time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()

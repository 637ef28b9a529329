"""The alerts tables: what the node holds of each CAP message, whom it sent it to, and the
acknowledgements (rows in, records out; no trust decisions here)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, select, tuple_, update

from accord.alerts.exercises import Exercise
from accord.alerts.lifecycle import Held, Key, Transition
from accord.alerts.models import Alert, MsgType, Status, cap_time
from accord.db.schema import (
    alert_acks,
    alert_recipients,
    alerts,
    deliveries,
    exercise_injects,
    exercises,
)
from accord.errors import AlertNotFound


def at(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


@dataclass(frozen=True)
class Stored:
    """One stored CAP message, with the bytes as signed."""

    sender: str
    identifier: str
    status: Status
    msg_type: MsgType
    direction: str  # sent | received | ingested
    origin: str
    feed: str | None
    exercise_id: str | None
    state: str
    superseded_by: str | None
    expires_at: datetime | None
    xml: bytes
    sha256: str
    sent_at: datetime
    stored_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.sender},{self.identifier}"


def _stored(row: Row[Any]) -> Stored:
    return Stored(
        row.sender,
        row.identifier,
        Status(row.status),
        MsgType(row.msg_type),
        row.direction,
        row.origin,
        row.feed,
        row.exercise_id,
        row.state,
        row.superseded_by,
        at(row.expires_at),
        row.xml,
        row.sha256,
        datetime.fromtimestamp(row.sent_at, UTC),
        datetime.fromtimestamp(row.stored_at, UTC),
    )


def held(connection: Connection, keys: Iterable[Key]) -> dict[Key, Held]:
    wanted = list(set(keys))
    if not wanted:
        return {}
    rows = connection.execute(
        select(alerts).where(tuple_(alerts.c.sender, alerts.c.identifier).in_(wanted))
    ).all()
    return {(r.sender, r.identifier): _held(r) for r in rows}


def _held(row: Row[Any]) -> Held:
    return Held(
        row.sender,
        row.identifier,
        datetime.fromisoformat(row.sent),
        Status(row.status),
        MsgType(row.msg_type),
        row.state,
        row.origin,
        row.superseded_by,
        row.sha256,
        at(row.expires_at),
    )


def find(connection: Connection, ref: str) -> Stored:
    """The message ``ref`` names: ``SENDER,IDENTIFIER``, or an identifier held only once."""
    sender, _, identifier = ref.rpartition(",")
    query = select(alerts).where(alerts.c.identifier == identifier)
    if sender:
        query = query.where(alerts.c.sender == sender)
    rows = connection.execute(query.limit(2)).all()
    if len(rows) != 1:
        raise AlertNotFound(
            f"no alert {ref} on this node"
            if not rows
            else f"{identifier} is the identifier of alerts from several senders",
            advice="List alerts with `accord alert list`; name one as SENDER,IDENTIFIER.",
        )
    return _stored(rows[0])


def insert(
    connection: Connection,
    alert: Alert,
    *,
    xml: bytes,
    sha256: str,
    direction: str,
    origin: str,
    transition: Transition,
    expires_at: datetime,
    now: datetime,
    feed: str | None = None,
    exercise_id: str | None = None,
) -> None:
    """Store a message and apply what it changes to the messages it references."""
    connection.execute(
        alerts.insert().values(
            sender=alert.sender,
            identifier=alert.identifier,
            sent=cap_time(alert.sent),
            sent_at=alert.sent.timestamp(),
            status=alert.status.value,
            msg_type=alert.msg_type.value,
            scope=alert.scope.value,
            direction=direction,
            origin=origin,
            feed=feed,
            exercise_id=exercise_id,
            expires_at=expires_at.timestamp(),
            state=transition.state,
            xml=xml,
            sha256=sha256,
            stored_at=now.timestamp(),
        )
    )
    for (sender, identifier), state in transition.changes.items():
        connection.execute(
            update(alerts)
            .where(alerts.c.sender == sender, alerts.c.identifier == identifier)
            .values(state=state, superseded_by=alert.identifier)
        )


def listed(connection: Connection, statuses: Sequence[Status], limit: int) -> list[Stored]:
    rows = connection.execute(
        select(alerts)
        .where(alerts.c.status.in_([s.value for s in statuses]))
        .where(alerts.c.msg_type.in_(["Alert", "Update", "Cancel"]))
        .order_by(alerts.c.sent_at.desc())
        .limit(limit)
    ).all()
    return [_stored(r) for r in rows]


def public_of(connection: Connection, sender: str) -> list[Stored]:
    """This node's own public, actual messages (what its Atom feed may list)."""
    rows = connection.execute(
        select(alerts)
        .where(
            alerts.c.sender == sender,
            alerts.c.direction == "sent",
            alerts.c.status == Status.ACTUAL.value,
            alerts.c.scope == "Public",
        )
        .order_by(alerts.c.sent_at.desc())
    ).all()
    return [_stored(r) for r in rows]


@dataclass(frozen=True)
class Recipient:
    """One recipient of one of this node's messages: delivery and acknowledgement."""

    participant: str
    reason: str
    message_id: str
    queued_at: datetime
    delivery: str | None  # the envelope's delivery state
    last_error: str | None
    delivered_at: datetime | None
    acked_at: datetime | None
    ack_type: str | None  # Ack | Error
    ack_note: str | None


def recipients(connection: Connection, keys: Sequence[Key]) -> dict[Key, list[Recipient]]:
    if not keys:
        return {}
    rows = connection.execute(
        select(
            alert_recipients,
            deliveries.c.state,
            deliveries.c.last_error,
            deliveries.c.delivered_at,
            alert_acks.c.acked_at,
            alert_acks.c.msg_type,
            alert_acks.c.note,
        )
        .outerjoin(
            deliveries,
            (deliveries.c.message_id == alert_recipients.c.message_id)
            & (deliveries.c.recipient == alert_recipients.c.recipient),
        )
        .outerjoin(
            alert_acks,
            (alert_acks.c.sender == alert_recipients.c.sender)
            & (alert_acks.c.identifier == alert_recipients.c.identifier)
            & (alert_acks.c.participant == alert_recipients.c.recipient),
        )
        .where(tuple_(alert_recipients.c.sender, alert_recipients.c.identifier).in_(list(keys)))
        .order_by(alert_recipients.c.recipient)
    ).all()
    out: dict[Key, list[Recipient]] = {key: [] for key in keys}
    for r in rows:
        out[(r.sender, r.identifier)].append(
            Recipient(
                r.recipient,
                r.reason,
                r.message_id,
                datetime.fromtimestamp(r.queued_at, UTC),
                r.state,
                r.last_error,
                at(r.delivered_at),
                at(r.acked_at),
                r.msg_type,
                r.note,
            )
        )
    return out


def insert_recipient(
    connection: Connection, key: Key, recipient: str, *, message_id: str, reason: str, now: datetime
) -> None:
    connection.execute(
        alert_recipients.insert().values(
            sender=key[0],
            identifier=key[1],
            recipient=recipient,
            message_id=message_id,
            reason=reason,
            queued_at=now.timestamp(),
        )
    )


def chain_recipients(connection: Connection, keys: Sequence[Key]) -> dict[str, list[Key]]:
    """Who received which of ``keys`` (the messages of one chain) from this node."""
    rows = connection.execute(
        select(
            alert_recipients.c.recipient, alert_recipients.c.sender, alert_recipients.c.identifier
        ).where(tuple_(alert_recipients.c.sender, alert_recipients.c.identifier).in_(list(keys)))
    ).all()
    out: dict[str, list[Key]] = {}
    for r in rows:
        out.setdefault(r.recipient, []).append((r.sender, r.identifier))
    return out


def sent_to(connection: Connection, key: Key, participant: str) -> bool:
    return (
        connection.execute(
            select(alert_recipients.c.recipient).where(
                alert_recipients.c.sender == key[0],
                alert_recipients.c.identifier == key[1],
                alert_recipients.c.recipient == participant,
            )
        ).first()
        is not None
    )


def acked(connection: Connection, key: Key, participant: str) -> Row[Any] | None:
    return connection.execute(
        select(alert_acks).where(
            alert_acks.c.sender == key[0],
            alert_acks.c.identifier == key[1],
            alert_acks.c.participant == participant,
        )
    ).first()


def insert_ack(
    connection: Connection,
    key: Key,
    ack: Alert,
    *,
    participant: str,
    xml: bytes,
    now: datetime,
) -> None:
    connection.execute(
        alert_acks.insert().values(
            sender=key[0],
            identifier=key[1],
            participant=participant,
            msg_type=ack.msg_type.value,
            ack_identifier=ack.identifier,
            acked_at=ack.sent.timestamp(),
            note=ack.note,
            received_at=now.timestamp(),
            xml=xml,
        )
    )


# Exercises -------------------------------------------------------------------------------------


def exercise(connection: Connection, exercise_id: str) -> Exercise | None:
    row = connection.execute(
        select(exercises).where(exercises.c.exercise_id == exercise_id)
    ).first()
    return None if row is None else _exercise(row)


def _exercise(row: Row[Any]) -> Exercise:
    return Exercise(
        row.exercise_id,
        row.name,
        row.director,
        tuple(json.loads(row.participants)),
        datetime.fromtimestamp(row.starts_at, UTC),
        datetime.fromtimestamp(row.ends_at, UTC),
        row.scenario,
        at(row.started_at),
    )


def all_exercises(connection: Connection) -> list[Exercise]:
    rows = connection.execute(select(exercises).order_by(exercises.c.starts_at.desc())).all()
    return [_exercise(r) for r in rows]


def insert_exercise(connection: Connection, item: Exercise, now: datetime) -> None:
    connection.execute(
        exercises.insert().values(
            exercise_id=item.exercise_id,
            name=item.name,
            director=item.director,
            participants=json.dumps(list(item.participants)),
            starts_at=item.starts_at.timestamp(),
            ends_at=item.ends_at.timestamp(),
            scenario=item.scenario,
            started_at=None if item.started_at is None else item.started_at.timestamp(),
            created_at=now.timestamp(),
        )
    )


@dataclass(frozen=True)
class Inject:
    exercise_id: str
    inject_id: str
    due_at: datetime
    composition: dict[str, Any]
    sent_identifier: str | None
    sent_at: datetime | None


def _inject(row: Row[Any]) -> Inject:
    return Inject(
        row.exercise_id,
        row.inject_id,
        datetime.fromtimestamp(row.due_at, UTC),
        json.loads(row.composition),
        row.sent_identifier,
        at(row.sent_at),
    )


def injects(connection: Connection, exercise_id: str) -> list[Inject]:
    rows = connection.execute(
        select(exercise_injects)
        .where(exercise_injects.c.exercise_id == exercise_id)
        .order_by(exercise_injects.c.due_at)
    ).all()
    return [_inject(r) for r in rows]


def due_injects(connection: Connection, now: datetime) -> list[Inject]:
    """Injects of started exercises whose time has come and which are not sent yet."""
    rows = connection.execute(
        select(exercise_injects)
        .join(exercises, exercises.c.exercise_id == exercise_injects.c.exercise_id)
        .where(
            exercises.c.started_at.is_not(None),
            exercise_injects.c.sent_at.is_(None),
            exercise_injects.c.due_at <= now.timestamp(),
        )
        .order_by(exercise_injects.c.due_at)
    ).all()
    return [_inject(r) for r in rows]


def of_exercise(connection: Connection, exercise_id: str) -> list[Stored]:
    rows = connection.execute(
        select(alerts).where(alerts.c.exercise_id == exercise_id).order_by(alerts.c.sent_at)
    ).all()
    return [_stored(r) for r in rows]

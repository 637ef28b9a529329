"""Taking other nodes' CAP messages: each verified (the XML signature with the sender's alert
key from the signed directory, or a relayed feed's pinned key), checked against the XSD and
the rules, judged by the chain rules, and stored in the envelope's own transaction; raising
refuses the message and nothing is stored (ADR 0013)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from accord.alerts import cap, lifecycle, signature, store
from accord.alerts.exercises import from_record
from accord.alerts.lifecycle import Key
from accord.alerts.models import Alert, MsgType, Status
from accord.alerts.service import Alerts, object_id
from accord.alerts.xml import parse
from accord.audit.models import Action
from accord.audit.models import Event as AuditEvent
from accord.envelope.core import sha256_hex
from accord.envelope.models import Kind, Opened
from accord.errors import (
    AlertChainBroken,
    AlertInvalid,
    AlertNotEntitled,
    AlertSignatureInvalid,
    FieldError,
)
from accord.federation.service import Handler
from accord.identity.directory import Directory
from accord.jose import p256_from_jwk


class Inbound:
    def __init__(self, alerts: Alerts) -> None:
        self.alerts = alerts
        self.federation = alerts.federation
        self.node = alerts.node

    def handlers(self) -> dict[Kind, Handler]:
        """The message kinds a serving node stores through this service (ADR 0012)."""
        return {Kind.ALERT: self._on_alert}

    def _on_alert(self, connection: Connection, opened: Opened, at: datetime) -> list[AuditEvent]:
        sender, body = opened.routing.sender, opened.body
        data = _cap_bytes(body)
        root = parse(data, max_bytes=self.node.settings.alert_max_bytes)
        feed, relay_key = _relay(body.get("relay"))
        if feed is None:
            signed = signature.verify(root, self._alert_key(sender, opened.routing.created), sender)
        elif relay_key is not None:  # the key the relaying node pinned: checked here too
            signed = signature.verify(root, relay_key, f"feed {feed}")
        else:
            signed = root  # an unsigned feed the relaying node chose to trust
        alert = cap.check(signed)
        if feed is None and alert.sender != sender:
            raise AlertNotEntitled(
                f"the CAP sender {alert.sender} is not {sender}, whose node signed the message",
                advice="A node sends only its own alerts.",
                errors=[
                    FieldError("alert.sender", "same_sender", "not the signer", "CAP 1.2 §3.2.1")
                ],
            )
        if feed is not None:
            refuse_participant_sender(self.federation.directory(), alert)
        if alert.msg_type in (MsgType.ACK, MsgType.ERROR):
            if feed is not None:
                raise AlertInvalid("a relayed message is an alert, update or cancel")
            return self._take_ack(connection, alert, sender, data, at)
        exercise = self._take_exercise(connection, alert, body.get("exercise"), sender, at)
        moved = lifecycle.transition(
            alert,
            sha256=sha256_hex(data),
            origin=sender,
            relayed=feed is not None,
            held=store.held(connection, [alert.key, *(r.key for r in alert.references)]),
            expected=_expected(body),
            now=at,
            default_lifetime=self.alerts.lifetime,
        )
        if moved.duplicate:
            return []
        store.insert(
            connection,
            alert,
            xml=data,
            sha256=sha256_hex(data),
            direction="received",
            origin=sender,
            transition=moved,
            expires_at=lifecycle.expiry(alert, self.alerts.lifetime),
            now=at,
            feed=feed,
            exercise_id=exercise,
        )
        me = self.node.id
        return [
            AuditEvent(
                sender, Action.ALERT_RECEIVED, object_id(alert.key), sha256_hex(data), (sender, me)
            )
        ]

    def _alert_key(self, participant: str, created: datetime) -> signature.PublicKey:
        """The alert key ``participant`` had in force when it made the message (ADR 0018): a
        message queued before a rotation still verifies; a compromised key never does."""
        listed = self.federation.directory().participant(participant)
        jwk, retired = listed.key_at("alert_key", created)
        if retired is not None and retired.compromised:
            raise AlertSignatureInvalid(
                f"{participant}'s alert key in force at {created.isoformat()} was retired as "
                f"compromised at {retired.until.isoformat()}",
                advice="Ask the sender to sign the alert anew with its current key.",
                errors=[
                    FieldError(
                        "alert.Signature", "key_retired", "key compromised", "CAP 1.2 §3.3.2.1"
                    )
                ],
            )
        if jwk is None:
            raise AlertSignatureInvalid(
                f"the directory lists no alert signing key for {participant}",
                advice="The sender must publish its alert key (`accord card alert-key`, then a "
                "new card in the directory).",
                errors=[
                    FieldError(
                        "alert.Signature", "directory_key", "no key listed", "CAP 1.2 §3.3.2.1"
                    )
                ],
            )
        return p256_from_jwk(jwk)

    def _take_ack(
        self, connection: Connection, ack: Alert, sender: str, data: bytes, at: datetime
    ) -> list[AuditEvent]:
        events = []
        for index, reference in enumerate(ack.references):
            if not store.sent_to(connection, reference.key, sender):
                raise AlertChainBroken(
                    f"the {ack.msg_type} names {reference.identifier}, which this node did not "
                    f"send to {sender}",
                    advice="Acknowledge only alerts received from this node.",
                    errors=[
                        FieldError(
                            f"alert.references[{index}]",
                            "sent_to_you",
                            "not sent to the acker",
                            "CAP 1.2 §3.2.1",
                        )
                    ],
                )
            if store.acked(connection, reference.key, sender) is None:
                store.insert_ack(
                    connection, reference.key, ack, participant=sender, xml=data, now=at
                )
                events.append(
                    AuditEvent(
                        sender,
                        Action.ALERT_ACKNOWLEDGED,
                        object_id(reference.key),
                        sha256_hex(data),
                        (sender, self.node.id),
                    )
                )
        return events

    def _take_exercise(
        self, connection: Connection, alert: Alert, record_: Any, sender: str, at: datetime
    ) -> str | None:
        if alert.status is not Status.EXERCISE:
            if record_ is not None:
                raise AlertInvalid(
                    f"a {alert.status} alert cannot belong to an exercise",
                    errors=[
                        FieldError("alert.status", "exercise", "not Exercise", "CAP 1.2 §3.2.1")
                    ],
                )
            return None
        exercise = from_record(record_)
        me = self.node.id
        if me not in exercise.participants:
            raise AlertNotEntitled(
                f"this node ({me}) is not a participant of exercise {exercise.exercise_id}; "
                "exercise alerts go only to its participants",
                advice="Send exercise alerts to the exercise's participants only.",
                errors=[
                    FieldError(
                        "exercise.participants",
                        "participant",
                        f"{me} is not one",
                        "CAP 1.2 §3.2.1 status",
                    )
                ],
            )
        if sender != exercise.director and sender not in exercise.participants:
            raise AlertNotEntitled(f"{sender} takes no part in exercise {exercise.exercise_id}")
        held = store.exercise(connection, exercise.exercise_id)
        if held is None:
            store.insert_exercise(connection, exercise, at)
        elif held.director != exercise.director:
            raise AlertNotEntitled(
                f"exercise {exercise.exercise_id} is directed by {held.director}, not "
                f"{exercise.director}"
            )
        return exercise.exercise_id


def refuse_participant_sender(directory: Directory, alert: Alert) -> None:
    """A feed's alert never speaks in a participant's name: a participant's alerts come
    from its own node, signed with its directory key."""
    if alert.sender in {p.id for p in directory.document.participants}:
        raise AlertNotEntitled(
            f"a relayed alert names the participant {alert.sender} as its sender; "
            "participants send their own alerts",
            advice="Take participants' alerts only from their own nodes.",
            errors=[
                FieldError("alert.sender", "not_a_participant", alert.sender, "CAP 1.2 §3.2.1")
            ],
        )


def _cap_bytes(body: Mapping[str, Any]) -> bytes:
    text = body.get("cap")
    if not isinstance(text, str):
        raise AlertInvalid(
            "the message carries no CAP document",
            errors=[
                FieldError("cap", "required", "a CAP 1.2 XML document as text", "CAP 1.2 §3.4")
            ],
        )
    return text.encode("utf-8")


def _relay(value: Any) -> tuple[str | None, signature.PublicKey | None]:
    """The feed a relayed alert came from and the key the relaying node pinned for it."""
    if value is None:
        return None, None
    feed, pem = (value.get("feed"), value.get("key")) if isinstance(value, dict) else (None, None)
    if not isinstance(feed, str) or not (pem is None or isinstance(pem, str)):
        raise AlertInvalid(
            "relay must name the feed and its pinned key",
            errors=[
                FieldError(
                    "relay", "format", '{"feed": URL, "key": PEM or null}', "CAP 1.2 §3.3.2.1"
                )
            ],
        )
    return feed, None if pem is None else signature.key_from_pem(pem)


def _expected(body: Mapping[str, Any]) -> frozenset[Key]:
    items = body.get("expect", [])
    if not isinstance(items, list) or not all(
        isinstance(t, list) and len(t) == 3 and all(isinstance(p, str) for p in t) for t in items
    ):
        raise AlertInvalid(
            "expect must list sender,identifier,sent triples",
            errors=[
                FieldError("expect", "format", "a list of three strings each", "CAP 1.2 §3.2.1")
            ],
        )
    return frozenset((t[0], t[1]) for t in items)

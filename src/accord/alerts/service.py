"""Alerts on a node: compose, check, sign, send, update, cancel and acknowledge CAP alerts, and
take the ones other nodes send (I/O around the pure checks of ``cap``, ``signature``,
``audience`` and ``lifecycle``).

Every action is one transaction through the node's writer: the message, the states it changes,
its recipients, their envelopes (``Federation.prepare``) and its audit record, or none of
them. An incoming alert is verified (the XML signature with the sender's alert key from the
signed directory), checked and stored in its envelope's own transaction; raising refuses it
and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from lxml import etree
from sqlalchemy import Connection

from accord.alerts import cap, lifecycle, signature, store
from accord.alerts.audience import Decision, ExerciseScope, decide
from accord.alerts.compose import compose
from accord.alerts.exercises import Exercise
from accord.alerts.lifecycle import Key, State
from accord.alerts.models import DSIG_NS, NS, Alert, MsgType, Scope, Status, Urgency, cap_time
from accord.alerts.xml import parse
from accord.audit.log import record
from accord.audit.models import Action
from accord.audit.models import Event as AuditEvent
from accord.envelope.core import sha256_hex
from accord.envelope.models import Kind, Priority, new_message_id
from accord.errors import (
    AlertChainBroken,
    AlertInvalid,
    AlertNotEntitled,
    AlertSignatureInvalid,
    FieldError,
    InputError,
)
from accord.federation.service import Federation
from accord.identity.models import alert_kid

Source = bytes | Mapping[str, Any]  # a CAP XML document, or a table of CAP fields
Also = Callable[[Connection, str], None]  # more work in a send's transaction
SILENT = "silent"


@dataclass(frozen=True)
class Prepared:
    """A checked, unsigned alert of this node and who would receive it."""

    alert: Alert
    root: etree._Element
    decisions: list[Decision]
    exercise: Exercise | None

    @property
    def recipients(self) -> list[Decision]:
        return [d for d in self.decisions if d.included]


EARLIER = "received an earlier message of this alert"


class Audienced(NamedTuple):
    participant: str
    reason: str
    expect: tuple[str, ...] = ()  # sender,identifier,sent of the chain's messages it holds


@dataclass(frozen=True)
class Sent:
    alert: Alert
    recipients: list[Decision]
    xml: bytes


@dataclass(frozen=True)
class Shown:
    stored: store.Stored
    alert: Alert
    state: str
    recipients: list[tuple[store.Recipient, str]]  # each with its ack state
    my_ack: str | None  # on a recipient's node: when this node acknowledged it


def object_id(key: Key) -> str:
    """The audit log's name of a message: ``alert/SENDER,IDENTIFIER``, or its SHA-256 when
    that is longer than the log's 128 characters (external identifiers can be)."""
    name = f"alert/{key[0]},{key[1]}"
    return name if len(name) <= 128 else "alert/sha256:" + sha256_hex(name.encode())


def marking(status: Status) -> str:
    """What every output of a non-live message carries (CAP 1.2 §3.2.1 status)."""
    return {Status.ACTUAL: ""}.get(status, status.value.upper())


class Alerts:
    def __init__(self, federation: Federation) -> None:
        self.federation = federation
        self.node = federation.node

    @property
    def lifetime(self) -> timedelta:
        return timedelta(seconds=self.node.settings.alert_default_lifetime)

    # Composing and checking ----------------------------------------------------------------

    def document(self, source: Source, **defaults: str) -> etree._Element:
        """The ``alert`` element of a document or a table of fields; for a table, this node
        fills in what is absent of ``identifier``, ``sender``, ``sent``, ``msgType`` (Alert)
        and ``defaults``."""
        if isinstance(source, bytes):
            return parse(source, max_bytes=self.node.settings.alert_max_bytes)
        now = self.node.clock.now()
        fields = {
            "identifier": new_message_id(now),
            "sender": self.node.id,
            "sent": cap_time(now),
            "msgType": MsgType.ALERT.value,
            **defaults,
            **source,
        }
        root, problems = compose(fields)
        if problems:
            found = problems + cap.problems(root)
            raise AlertInvalid(
                f"the alert breaks {len(found)} rule(s) of CAP 1.2", advice=cap.ADVICE, errors=found
            )
        return root

    def validate(self, source: Source) -> Alert:
        """Every problem of a document this node would send, references included."""
        root = self.document(source)
        with self.node.read_engine.connect() as connection:
            known = _known(connection)
            return cap.check(root, known=known, profile=True)

    def prepare(
        self, source: Source, named: Sequence[str], exercise_id: str | None = None
    ) -> Prepared:
        """Check a new alert of this node and decide its audience (stores nothing). A table
        of fields for an exercise gets the exercise named in its note (CAP 1.2 §3.2.1)."""
        with self.node.read_engine.connect() as connection:
            exercise = store.exercise(connection, exercise_id) if exercise_id else None
        if not isinstance(source, bytes):
            source = _with_exercise_note(dict(source), exercise)
        root = self.document(source)
        with self.node.read_engine.connect() as connection:
            alert = self._own(root, connection, exercise_id, exercise)
        if alert.msg_type is not MsgType.ALERT:
            raise _own_error(
                "alert.msgType",
                "new_alert",
                f"send starts a new alert; use `accord alert {alert.msg_type.value.lower()}` "
                "for an update or cancel (it keeps the chain)",
            )
        decisions = self.decide(alert, named, exercise)
        _refuse_named_outsiders(decisions, named)
        return Prepared(alert, root, decisions, exercise)

    def decide(
        self, alert: Alert, named: Sequence[str], exercise: Exercise | None
    ) -> list[Decision]:
        """Every participant's decision for ``alert`` (``audience.decide``)."""
        scope = None
        if exercise is not None:
            scope = ExerciseScope(exercise.exercise_id, frozenset(exercise.participants))
        return decide(
            alert,
            named=named,
            directory=self.federation.directory(),
            me=self.node.id,
            exercise=scope,
        )

    def _own(
        self,
        root: etree._Element,
        connection: Connection,
        exercise_id: str | None,
        exercise: Exercise | None,
    ) -> Alert:
        problems = cap.problems(root, known=_known(connection), profile=True)
        problems += _ownership(root, self.node.id, exercise_id, exercise)
        if problems:
            raise AlertInvalid(
                f"the alert breaks {len(problems)} rule(s)", advice=cap.ADVICE, errors=problems
            )
        return cap.read(root)

    # Sending -------------------------------------------------------------------------------

    def send(
        self,
        source: Source,
        named: Sequence[str],
        exercise_id: str | None = None,
        also: Also | None = None,
    ) -> Sent:
        """Sign a new alert, store it and queue it to its audience, in one transaction (with
        ``also``, given the connection and the alert's identifier)."""
        prepared = self.prepare(source, named, exercise_id)
        if not prepared.recipients and not _published(prepared.alert):
            raise InputError(
                "nobody would receive this alert: " + _why_nobody(prepared.decisions),
                advice="Name participants or groups with --to, or see `accord alert preview`.",
            )
        audience = [Audienced(d.participant, d.reason) for d in prepared.recipients]
        return self._dispatch(prepared.alert, prepared.root, audience, prepared.exercise, also)

    def update(self, ref: str, source: Mapping[str, Any], named: Sequence[str] = ()) -> Sent:
        """Supersede this node's alert ``ref`` with new content (CAP 1.2 §3.2.1 Update): it
        references every earlier message of the chain and goes to everyone who received one,
        and to whom the new content reaches."""
        head, chain, exercise = self._chain_head(ref, "update")
        fields = {
            **source,
            "msgType": MsgType.UPDATE.value,
            "status": head.status.value,
            "references": [_triple(k, sent) for k, sent in chain],
        }
        root = self.document(_with_exercise_note(fields, exercise))
        with self.node.read_engine.connect() as connection:
            alert = self._own(root, connection, head.exercise_id, exercise)
            earlier = store.chain_recipients(connection, [k for k, _ in chain])
        decisions = self.decide(alert, named, exercise)
        audience = self._chain_audience(earlier, chain, decisions)
        return self._dispatch(alert, root, audience, exercise)

    def cancel(self, ref: str, note: str | None = None) -> Sent:
        """Cancel this node's alert ``ref`` for everyone who received a message of its chain
        (CAP 1.2 §3.2.1 Cancel)."""
        head, chain, exercise = self._chain_head(ref, "cancel")
        original = self.alert_of(head)
        fields: dict[str, Any] = {
            "msgType": MsgType.CANCEL.value,
            "status": head.status.value,
            "scope": original.scope.value,
            "restriction": original.restriction,
            "addresses": original.addresses,
            "references": [_triple(k, sent) for k, sent in chain],
            "note": note or f"Cancels {original.headline()}",
        }
        root = self.document(_with_exercise_note(fields, exercise))
        with self.node.read_engine.connect() as connection:
            alert = self._own(root, connection, head.exercise_id, exercise)
            earlier = store.chain_recipients(connection, [k for k, _ in chain])
        audience = self._chain_audience(earlier, chain, [])
        return self._dispatch(alert, root, audience, exercise)

    def _chain_head(
        self, ref: str, verb: str
    ) -> tuple[store.Stored, list[tuple[Key, datetime]], Exercise | None]:
        with self.node.read_engine.connect() as connection:
            head = store.find(connection, ref)
            exercise = store.exercise(connection, head.exercise_id) if head.exercise_id else None
        if head.direction != "sent" or head.sender != self.node.id:
            raise AlertNotEntitled(
                f"{head.ref} is an alert of {head.sender}; only its sender may {verb} it",
                advice="Ask its sender, or acknowledge it with `accord alert ack`.",
                errors=[
                    FieldError("alert.sender", "same_sender", "not this node's", "CAP 1.2 §3.2.1")
                ],
            )
        state = lifecycle.effective_state(held_of(head), self.node.clock.now())
        if state != State.ACTIVE or head.msg_type not in (MsgType.ALERT, MsgType.UPDATE):
            raise AlertChainBroken(
                f"{head.ref} is {state}"
                + (f" (by {head.superseded_by})" if head.superseded_by else ""),
                advice=f"Only the current message of an active alert can be given a {verb}.",
                errors=[FieldError("alert.references", "current", state, "CAP 1.2 §3.2.1")],
            )
        chain = [(r.key, r.sent) for r in self.alert_of(head).references]
        return head, [*chain, ((head.sender, head.identifier), head.sent_at)], exercise

    def _chain_audience(
        self,
        earlier: Mapping[str, list[Key]],
        chain: list[tuple[Key, datetime]],
        decisions: Sequence[Decision],
    ) -> list[Audienced]:
        """Everyone who received a message of the chain (expecting those messages first),
        then whom the new content reaches besides."""
        sent = dict(chain)
        audience = [
            Audienced(pid, EARLIER, tuple(_triple(k, sent[k]) for k in keys))
            for pid, keys in sorted(earlier.items())
        ]
        audience += [
            Audienced(d.participant, d.reason)
            for d in decisions
            if d.included and d.participant not in earlier
        ]
        return audience

    def _dispatch(
        self,
        alert: Alert,
        root: etree._Element,
        audience: Sequence[Audienced],
        exercise: Exercise | None,
        also: Also | None = None,
    ) -> Sent:
        node, now = self.node, self.node.clock.now()
        key = node.keys.alerting
        if key is None:
            raise AlertSignatureInvalid(
                "this node has no alert signing key",
                advice="Create it with `accord card alert-key`, export the card and have the "
                "stewards publish it in the directory.",
            )
        etree.indent(root, space="  ")
        xml = cap.serialize(signature.sign(root, key, alert_kid(node.id)))
        digest = sha256_hex(xml)
        priority = _priority(alert)
        prepared = []
        for pid, reason, expect in audience:
            body = {
                "cap": xml.decode("utf-8"),
                "expect": [t.split(",") for t in expect],
                "exercise": exercise.record() if exercise else None,
                "relay": None,
                "reason": reason,
            }
            queue, message_id = self.federation.prepare(pid, Kind.ALERT, body, priority)
            prepared.append((pid, reason, queue, message_id))

        def job(connection: Connection) -> None:
            refs = [r.key for r in alert.references]
            moved = lifecycle.transition(
                alert,
                sha256=digest,
                origin=node.id,
                relayed=False,
                held=store.held(connection, [alert.key, *refs]),
                now=now,
                default_lifetime=self.lifetime,
            )
            store.insert(
                connection,
                alert,
                xml=xml,
                sha256=digest,
                direction="sent",
                origin=node.id,
                transition=moved,
                expires_at=lifecycle.expiry(alert, self.lifetime),
                now=now,
                exercise_id=exercise.exercise_id if exercise else None,
            )
            for pid, reason, send, message_id in prepared:
                send(connection)
                store.insert_recipient(
                    connection, alert.key, pid, message_id=message_id, reason=reason, now=now
                )
            if also is not None:
                also(connection, alert.identifier)
            parties = (node.id, *(pid for pid, *_ in prepared))
            record(
                connection,
                [AuditEvent(node.id, Action.ALERT_SENT, object_id(alert.key), digest, parties)],
                now,
            )

        node.writer.run(job)
        self.federation.enqueued()
        decisions = [Decision(pid, True, reason) for pid, reason, *_ in audience]
        return Sent(alert, decisions, xml)

    # Acknowledging -------------------------------------------------------------------------

    def ack(self, ref: str, by: str | None = None, note: str | None = None) -> Alert:
        """Send the alert's sender a signed CAP Ack (CAP 1.2 §3.2.1 msgType Ack); once."""
        with self.node.read_engine.connect() as connection:
            stored = store.find(connection, ref)
            earlier = store.acked(connection, (stored.sender, stored.identifier), self.node.id)
        if stored.direction != "received" or stored.msg_type is MsgType.CANCEL:
            raise InputError(
                f"{stored.ref} is not an alert this node received from a participant",
                advice="Acknowledge alerts sent to this node (`accord alert list`).",
            )
        if earlier is not None:
            raise InputError(
                f"{stored.ref} was already acknowledged by this node ({earlier.ack_identifier})",
                advice="An alert is acknowledged once; see `accord alert show`.",
            )
        original = self.alert_of(stored)
        text = "Acknowledged" + (f" by {by}" if by else "") + (f": {note}" if note else "")
        fields = {
            "msgType": MsgType.ACK.value,
            "status": stored.status.value,
            "scope": Scope.PRIVATE.value,
            "addresses": stored.origin,
            "references": [original.reference().text()],
            "note": text,
        }
        root = self.document(fields)
        ack = cap.check(root, profile=True)
        key = self.node.keys.alerting
        if key is None:
            raise AlertSignatureInvalid(
                "this node has no alert signing key",
                advice="Create it with `accord card alert-key`.",
            )
        xml = cap.serialize(signature.sign(root, key, alert_kid(self.node.id)))
        body: dict[str, Any] = {
            "cap": xml.decode(),
            "expect": [],
            "exercise": None,
            "relay": None,
            "reason": "ack",
        }
        send, _message_id = self.federation.prepare(
            stored.origin, Kind.ALERT, body, Priority.ROUTINE
        )
        now, me = self.node.clock.now(), self.node.id

        def job(connection: Connection) -> None:
            send(connection)
            store.insert_ack(connection, original.key, ack, participant=me, xml=xml, now=now)
            event = AuditEvent(
                me,
                Action.ALERT_ACKNOWLEDGED,
                object_id(original.key),
                sha256_hex(xml),
                (me, stored.origin),
            )
            record(connection, [event], now)

        self.node.writer.run(job)
        self.federation.enqueued()
        return ack

    # Reading -------------------------------------------------------------------------------

    def listed(self, view: str = "live", limit: int = 500) -> list[tuple[store.Stored, Alert, str]]:
        """Messages of one view with their effective state: ``live`` (active actual alerts),
        ``exercise``, ``test`` (Test and System), or ``all``. Exercise and test traffic never
        appears in the live view."""
        statuses = VIEWS[view]
        now = self.node.clock.now()
        with self.node.read_engine.connect() as connection:
            rows = store.listed(connection, statuses, limit)
        out = []
        for row in rows:
            state = lifecycle.effective_state(held_of(row), now)
            if view == "live" and (state != State.ACTIVE or row.msg_type is MsgType.CANCEL):
                continue
            out.append((row, self.alert_of(row), state))
        return out

    def show(self, ref: str) -> Shown:
        """A message with its state, and per recipient its delivery and acknowledgement (or
        silence after ``alert_ack_timeout``); reading it is audited."""
        node, now = self.node, self.node.clock.now()
        with node.read_engine.connect() as connection:
            stored = store.find(connection, ref)
            key = (stored.sender, stored.identifier)
            rows = store.recipients(connection, [key])[key]
            mine = store.acked(connection, key, node.id)
        timeout = timedelta(seconds=node.settings.alert_ack_timeout)
        recipients = [(r, ack_state(r, now, timeout)) for r in rows]
        event = AuditEvent(node.id, Action.ALERT_READ, object_id(key), stored.sha256, ())
        node.writer.run(lambda connection: record(connection, [event], now))
        acked = store.at(mine.acked_at) if mine is not None else None
        return Shown(
            stored,
            self.alert_of(stored),
            lifecycle.effective_state(held_of(stored), now),
            recipients,
            cap_time(acked) if acked is not None else None,
        )

    def alert_of(self, stored: store.Stored) -> Alert:
        return cap.read(parse(stored.xml, max_bytes=len(stored.xml)))


VIEWS: dict[str, tuple[Status, ...]] = {
    "live": (Status.ACTUAL,),
    "exercise": (Status.EXERCISE,),
    "test": (Status.TEST, Status.SYSTEM),
    "all": tuple(Status),
}


def ack_state(recipient: store.Recipient, now: datetime, timeout: timedelta) -> str:
    """``acknowledged``/``rejected`` once an Ack/Error came; ``silent`` when none came within
    the timeout (a visible failure); else where the envelope's delivery stands."""
    if recipient.ack_type is not None:
        return "acknowledged" if recipient.ack_type == MsgType.ACK.value else "rejected"
    if now - recipient.queued_at >= timeout:
        return SILENT
    return recipient.delivery or "queued"


def _known(connection: Connection) -> Callable[[Any], bool]:
    def known(reference: Any) -> bool:
        return reference.key in store.held(connection, [reference.key])

    return known


def _ownership(
    root: etree._Element, me: str, exercise_id: str | None, exercise: Exercise | None
) -> list[FieldError]:
    found = []
    sender = root.find(f"{{{NS}}}sender")
    if sender is not None and sender.text != me:
        found.append(
            FieldError("alert.sender", "own_sender", f"this node sends as {me}", "CAP 1.2 §3.2.1")
        )
    if root.find(f"{{{DSIG_NS}}}Signature") is not None:
        found.append(
            FieldError(
                "alert.Signature",
                "unsigned",
                "leave the signature out: the node signs",
                "CAP 1.2 §3.3.2.1",
            )
        )
    status = root.find(f"{{{NS}}}status")
    is_exercise = status is not None and status.text == Status.EXERCISE.value
    if is_exercise and exercise is None:
        found.append(
            FieldError(
                "exercise",
                "known",
                f"an Exercise alert needs an exercise this node knows (not {exercise_id!r})",
                "CAP 1.2 §3.2.1 status",
            )
        )
    if not is_exercise and exercise_id is not None:
        found.append(
            FieldError(
                "alert.status",
                "exercise",
                "only an Exercise alert belongs to an exercise",
                "CAP 1.2 §3.2.1 status",
            )
        )
    if is_exercise and exercise is not None:
        note = root.find(f"{{{NS}}}note")
        if note is None or exercise.exercise_id not in (note.text or ""):
            found.append(
                FieldError(
                    "alert.note",
                    "exercise_named",
                    f"the note must name exercise {exercise.exercise_id}",
                    "CAP 1.2 §3.2.1 status",
                )
            )
    return found


def _with_exercise_note(fields: dict[str, Any], exercise: Exercise | None) -> dict[str, Any]:
    if exercise is None:
        return fields
    note = fields.get("note")
    return {**fields, "note": exercise_note(exercise.exercise_id, note)}


def exercise_note(exercise_id: str, note: str | None) -> str:
    """CAP 1.2 §3.2.1 status Exercise: the exercise identifier SHOULD appear in note."""
    marked = f"EXERCISE {exercise_id}"
    if note and note.startswith(marked):
        return note
    return f"{marked}: {note}" if note else marked


def _refuse_named_outsiders(decisions: Sequence[Decision], named: Sequence[str]) -> None:
    outside = [d for d in decisions if d.participant in named and not d.included]
    if outside:
        raise AlertNotEntitled(
            "; ".join(f"{d.participant}: {d.reason}" for d in outside),
            advice="Remove them from --to: exercise alerts go only to the exercise's participants.",
            errors=[
                FieldError("to", "exercise_participant", d.reason, "CAP 1.2 §3.2.1 status")
                for d in outside
            ],
        )


def _published(alert: Alert) -> bool:
    return alert.status is Status.ACTUAL and alert.scope is Scope.PUBLIC


def _why_nobody(decisions: Sequence[Decision]) -> str:
    return "; ".join(f"{d.participant}: {d.reason}" for d in decisions) or "no other participant"


def _priority(alert: Alert) -> Priority:
    urgencies = {info.urgency for info in alert.infos}
    if Urgency.IMMEDIATE in urgencies:
        return Priority.FLASH
    if Urgency.EXPECTED in urgencies:
        return Priority.URGENT
    return Priority.ROUTINE


def _triple(key: Key, sent: datetime) -> str:
    return f"{key[0]},{key[1]},{cap_time(sent)}"


def held_of(stored: store.Stored) -> lifecycle.Held:
    return lifecycle.Held(
        stored.sender,
        stored.identifier,
        stored.sent_at,
        stored.status,
        stored.msg_type,
        stored.state,
        stored.origin,
        stored.superseded_by,
        stored.sha256,
        stored.expires_at,
    )


def _own_error(field: str, rule: str, message: str) -> AlertInvalid:
    return AlertInvalid(
        message, advice=cap.ADVICE, errors=[FieldError(field, rule, message, "CAP 1.2 §3.2.1")]
    )

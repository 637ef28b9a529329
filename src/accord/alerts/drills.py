"""Joint exercises on a node: define one with its injects, announce it, send each inject when
it is due, take a director's announcement, and write the after-action report.

An inject is sent through :meth:`Alerts.send` as an ``Exercise`` alert to the exercise's
participants only, and is marked sent in the same transaction (a crash never sends it twice,
and never loses it).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Connection, update

from accord.alerts import cap, store
from accord.alerts.exercises import (
    Answer,
    Exercise,
    ExerciseSpec,
    InjectResult,
    InjectSpec,
    Report,
    check_inject_time,
    from_record,
)
from accord.alerts.models import MsgType, Status, cap_time
from accord.alerts.service import Alerts, Sent, exercise_note
from accord.audit.log import record
from accord.audit.models import Action
from accord.audit.models import Event as AuditEvent
from accord.db.schema import exercise_injects, exercises
from accord.envelope.core import sha256_hex
from accord.envelope.models import Kind, Opened, Priority
from accord.errors import (
    AccordError,
    AlertNotEntitled,
    AlertNotFound,
    DirectoryError,
    ExerciseInvalid,
    FieldError,
)
from accord.federation.service import Handler
from accord.jose import dump

log = structlog.get_logger("accord.alerts")
SECTION = "CAP 1.2 §3.2.1 status"


class Drills:
    def __init__(self, alerts: Alerts) -> None:
        self.alerts = alerts
        self.node = alerts.node

    def handlers(self) -> dict[Kind, Handler]:
        return {Kind.EXERCISE: self._on_announcement}

    # The director's moves ------------------------------------------------------------------

    def create(self, spec: ExerciseSpec) -> Exercise:
        """Store an exercise this node directs, with its injects (each composed and checked
        now, so a broken inject is found before the exercise, not during it)."""
        directory = self.alerts.federation.directory()
        unknown = [
            p for p in spec.participants if p not in {x.id for x in directory.document.participants}
        ]
        if unknown:
            raise _invalid("participants", "known", f"not in the directory: {', '.join(unknown)}")
        exercise = Exercise(
            spec.id,
            spec.name,
            self.node.id,
            spec.participants,
            spec.starts_at,
            spec.ends_at,
            spec.scenario,
        )
        for inject in spec.injects:
            self._check_inject(exercise, inject)
        now = self.node.clock.now()

        def job(connection: Connection) -> None:
            if store.exercise(connection, spec.id) is not None:
                raise _invalid("id", "unique", f"an exercise {spec.id} already exists on this node")
            store.insert_exercise(connection, exercise, now)
            for inject in spec.injects:
                _insert_inject(connection, spec.id, inject)
            self._audit(connection, Action.EXERCISE_CREATED, exercise, now)

        self.node.writer.run(job)
        return exercise

    def add_inject(self, exercise_id: str, inject: InjectSpec) -> None:
        exercise = self._directed(exercise_id)
        self._check_inject(exercise, inject)
        now = self.node.clock.now()

        def job(connection: Connection) -> None:
            if any(i.inject_id == inject.id for i in store.injects(connection, exercise_id)):
                raise _invalid("id", "unique", f"exercise {exercise_id} has an inject {inject.id}")
            _insert_inject(connection, exercise_id, inject)
            self._audit(connection, Action.EXERCISE_CHANGED, exercise, now)

        self.node.writer.run(job)

    def start(self, exercise_id: str) -> Exercise:
        """Announce the exercise to its participants; its injects go out when due."""
        exercise = self._directed(exercise_id)
        if exercise.started_at is not None:
            return exercise
        body = {"exercise": exercise.record()}
        federation = self.alerts.federation
        others = [p for p in exercise.participants if p != self.node.id]
        queued = [federation.prepare(p, Kind.EXERCISE, body, Priority.URGENT)[0] for p in others]
        now = self.node.clock.now()

        def job(connection: Connection) -> None:
            connection.execute(
                update(exercises)
                .where(exercises.c.exercise_id == exercise_id)
                .values(started_at=now.timestamp())
            )
            for queue in queued:
                queue(connection)
            self._audit(connection, Action.EXERCISE_CHANGED, exercise, now)

        self.node.writer.run(job)
        federation.enqueued()
        with self.node.read_engine.connect() as connection:
            started = store.exercise(connection, exercise_id)
        return started or exercise

    def send_due(self) -> list[Sent]:
        """Send every inject whose time has come, each marked sent with its alert."""
        now = self.node.clock.now()
        with self.node.read_engine.connect() as connection:
            due = store.due_injects(connection, now)
        sent = []
        for inject in due:
            try:
                sent.append(self._send(inject))
            except AccordError as exc:  # one refused inject must not stop the others
                log.warning(
                    "inject not sent",
                    exercise=inject.exercise_id,
                    inject=inject.inject_id,
                    error=str(exc),
                )
        return sent

    def _send(self, inject: store.Inject) -> Sent:
        exercise = self._directed(inject.exercise_id)
        fields = _inject_fields(exercise, inject.inject_id, inject.composition["alert"])

        def mark(connection: Connection, identifier: str) -> None:
            result = connection.execute(
                update(exercise_injects)
                .where(
                    exercise_injects.c.exercise_id == inject.exercise_id,
                    exercise_injects.c.inject_id == inject.inject_id,
                    exercise_injects.c.sent_at.is_(None),
                )
                .values(sent_identifier=identifier, sent_at=self.node.clock.now().timestamp())
            )
            if result.rowcount != 1:
                raise _invalid("inject", "once", f"inject {inject.inject_id} was already sent")

        named = tuple(inject.composition.get("to", ()))
        return self.alerts.send(fields, named, exercise.exercise_id, also=mark)

    async def run(self, stop: asyncio.Event) -> None:
        """The worker of a serving node: send injects as they fall due."""
        poll = self.node.settings.alert_poll
        while not stop.is_set():
            await asyncio.to_thread(self.send_due)
            try:
                await asyncio.wait_for(stop.wait(), timeout=poll)
            except TimeoutError:
                continue

    # Reading -------------------------------------------------------------------------------

    def listed(self) -> list[Exercise]:
        with self.node.read_engine.connect() as connection:
            return store.all_exercises(connection)

    def injects(self, exercise_id: str) -> list[store.Inject]:
        self.get(exercise_id)
        with self.node.read_engine.connect() as connection:
            return store.injects(connection, exercise_id)

    def get(self, exercise_id: str) -> Exercise:
        with self.node.read_engine.connect() as connection:
            found = store.exercise(connection, exercise_id)
        if found is None:
            raise AlertNotFound(
                f"no exercise {exercise_id} on this node",
                advice="List exercises with `accord exercise list`.",
            )
        return found

    def report(self, exercise_id: str) -> Report:
        """For each inject and participant: delivery and acknowledgement times, who never
        answered, median and worst latency (the director's view); audited."""
        exercise = self.get(exercise_id)
        now = self.node.clock.now()
        with self.node.read_engine.connect() as connection:
            planned = store.injects(connection, exercise_id)
            sent = {i.sent_identifier: i for i in planned if i.sent_identifier}
            keys = [(self.node.id, identifier) for identifier in sent]
            rows = store.recipients(connection, keys)
            alerts = {s.identifier: s for s in store.of_exercise(connection, exercise_id)}
        results = []
        for inject in planned:
            identifier = inject.sent_identifier
            answers = []
            if identifier is not None and inject.sent_at is not None:
                answers = [
                    _answer(r, inject.sent_at) for r in rows.get((self.node.id, identifier), [])
                ]
            stored = alerts.get(identifier or "")
            headline = (
                self.alerts.alert_of(stored).headline() if stored else _planned_headline(inject)
            )
            results.append(
                InjectResult(
                    inject.inject_id,
                    identifier,
                    inject.due_at,
                    inject.sent_at,
                    headline,
                    tuple(answers),
                )
            )
        report = Report(exercise, now, tuple(results))
        data = dump(report.as_json())
        self.node.writer.run(
            lambda connection: record(
                connection,
                [
                    AuditEvent(
                        self.node.id,
                        Action.EXERCISE_REPORTED,
                        f"exercise/{exercise_id}",
                        sha256_hex(data),
                        (self.node.id,),
                    )
                ],
                now,
            )
        )
        return report

    # Taking a director's announcement --------------------------------------------------------

    def _on_announcement(
        self, connection: Connection, opened: Opened, at: datetime
    ) -> list[AuditEvent]:
        sender, me = opened.routing.sender, self.node.id
        exercise = from_record(opened.body.get("exercise"))
        if exercise.director != sender:
            raise AlertNotEntitled(
                f"{sender} is not the director of exercise {exercise.exercise_id}"
            )
        if me not in exercise.participants:
            raise AlertNotEntitled(f"{me} is not a participant of exercise {exercise.exercise_id}")
        held = store.exercise(connection, exercise.exercise_id)
        if held is not None and held.director != sender:
            raise AlertNotEntitled(
                f"exercise {exercise.exercise_id} is directed by {held.director}"
            )
        if held is None:
            store.insert_exercise(connection, exercise, at)
        connection.execute(
            update(exercises)
            .where(exercises.c.exercise_id == exercise.exercise_id)
            .values(started_at=at.timestamp())
        )
        digest = sha256_hex(dump(exercise.record()))
        return [
            AuditEvent(
                sender,
                Action.EXERCISE_CHANGED,
                f"exercise/{exercise.exercise_id}",
                digest,
                (sender, me),
            )
        ]

    # Checks ----------------------------------------------------------------------------------

    def _directed(self, exercise_id: str) -> Exercise:
        exercise = self.get(exercise_id)
        if exercise.director != self.node.id:
            raise AlertNotEntitled(
                f"exercise {exercise_id} is directed by {exercise.director}",
                advice="Only the director changes, starts or reports on an exercise.",
            )
        return exercise

    def _check_inject(self, exercise: Exercise, inject: InjectSpec) -> None:
        try:
            check_inject_time(inject.at, exercise.starts_at, exercise.ends_at, inject.id)
        except ValueError as exc:
            raise _invalid(f"injects.{inject.id}.at", "within_exercise", str(exc)) from exc
        outside = [
            name
            for name in inject.to
            if name not in exercise.participants
            and not _group_within(self.alerts, name, exercise.participants)
        ]
        if outside:
            raise _invalid(
                f"injects.{inject.id}.to",
                "participant",
                f"not of the exercise: {', '.join(outside)}",
            )
        fields = _inject_fields(exercise, inject.id, inject.alert)
        cap.check(self.alerts.document({**fields, "sent": cap_time(inject.at)}), profile=True)

    def _audit(
        self, connection: Connection, action: Action, exercise: Exercise, now: datetime
    ) -> None:
        digest = sha256_hex(dump(exercise.record()))
        parties = (self.node.id, *exercise.participants)
        record(
            connection,
            [AuditEvent(self.node.id, action, f"exercise/{exercise.exercise_id}", digest, parties)],
            now,
        )


def _insert_inject(connection: Connection, exercise_id: str, inject: InjectSpec) -> None:
    composition = {"alert": _jsonable(inject.alert), "to": list(inject.to)}
    connection.execute(
        exercise_injects.insert().values(
            exercise_id=exercise_id,
            inject_id=inject.id,
            due_at=inject.at.timestamp(),
            composition=json.dumps(composition, ensure_ascii=False),
        )
    )


def _jsonable(value: Any) -> Any:
    """CAP fields as JSON: TOML's date-times become CAP date-times."""
    if isinstance(value, datetime):
        return cap_time(value) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _inject_fields(exercise: Exercise, inject_id: str, alert: Mapping[str, Any]) -> dict[str, Any]:
    note = alert.get("note")
    return {
        **alert,
        "status": Status.EXERCISE.value,
        "msgType": MsgType.ALERT.value,
        "note": exercise_note(
            exercise.exercise_id, f"inject {inject_id}" + (f": {note}" if note else "")
        ),
    }


def _group_within(alerts: Alerts, name: str, participants: tuple[str, ...]) -> bool:
    try:
        members = alerts.federation.directory().resolve(name)
    except DirectoryError:
        return False
    return all(m.id in participants for m in members)


def _answer(recipient: store.Recipient, sent_at: datetime) -> Answer:
    def after(moment: datetime | None) -> float | None:
        return None if moment is None else round((moment - sent_at).total_seconds(), 3)

    return Answer(
        recipient.participant,
        recipient.delivery or "queued",
        after(recipient.delivered_at),
        after(recipient.acked_at) if recipient.ack_type == MsgType.ACK.value else None,
        recipient.ack_note,
        recipient.last_error,
    )


def _planned_headline(inject: store.Inject) -> str:
    infos = inject.composition.get("alert", {}).get("info", [])
    first = (
        infos[0] if isinstance(infos, list) and infos else infos if isinstance(infos, dict) else {}
    )
    return str(first.get("headline") or first.get("event") or inject.inject_id)


def _invalid(field: str, rule: str, message: str) -> ExerciseInvalid:
    return ExerciseInvalid(
        message,
        advice="Correct the exercise definition.",
        errors=[FieldError(field, rule, message, SECTION)],
    )

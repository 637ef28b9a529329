"""Joint exercises (pure): the definition a director writes, the record its alerts carry, and
the after-action figures (delivery and acknowledgement times, who never answered).

An exercise is a named object: participants, a start and an end, a scenario, and injects
scheduled in advance, each an alert to compose (CAP fields) sent at its time with status
``Exercise`` and the exercise named in ``note`` (CAP 1.2 §3.2.1 status).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationError, model_validator

from accord.alerts.models import cap_time, parse_cap_time
from accord.errors import ExerciseInvalid, FieldError
from accord.fields import ParticipantId, Strict, Text
from accord.names import SLUG

SECTION = "CAP 1.2 §3.2.1 status"


def _slug(value: str) -> str:
    if not SLUG.match(value):
        raise ValueError("must be a lowercase slug such as flood-2026")
    return value


Slug = Annotated[str, AfterValidator(_slug)]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("needs a time zone offset, e.g. 2026-12-03T09:00:00Z")
    return value


Aware = Annotated[datetime, AfterValidator(_aware)]


class InjectSpec(Strict):
    id: Slug
    at: Aware
    alert: dict[str, Any]  # CAP fields, as `accord alert send` takes them
    to: tuple[str, ...] = ()  # participants or groups of the exercise; default: all of them


class ExerciseSpec(Strict):
    """What `accord exercise new FILE` reads (TOML or JSON)."""

    id: Slug
    name: Text
    participants: tuple[ParticipantId, ...] = Field(min_length=1, max_length=500)
    starts_at: Aware
    ends_at: Aware
    scenario: str = Field(default="", max_length=20_000)
    injects: tuple[InjectSpec, ...] = Field(default=(), max_length=500)

    @model_validator(mode="after")
    def _times(self) -> ExerciseSpec:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        ids = [i.id for i in self.injects]
        if len(set(ids)) != len(ids):
            raise ValueError("inject ids must be unique")
        for inject in self.injects:
            check_inject_time(inject.at, self.starts_at, self.ends_at, inject.id)
        return self


def check_inject_time(at: datetime, starts: datetime, ends: datetime, inject_id: str) -> None:
    if not starts <= at <= ends:
        raise ValueError(
            f"inject {inject_id} at {cap_time(at)} is outside the exercise "
            f"({cap_time(starts)} to {cap_time(ends)})"
        )


def read_spec(data: Mapping[str, Any]) -> ExerciseSpec:
    try:
        return ExerciseSpec.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc, "the exercise definition") from exc


def read_inject(data: Mapping[str, Any]) -> InjectSpec:
    try:
        return InjectSpec.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc, "the inject") from exc


def _invalid(exc: ValidationError, what: str) -> ExerciseInvalid:
    errors = [
        FieldError(".".join(str(p) for p in e["loc"]) or "exercise", e["type"], e["msg"], SECTION)
        for e in exc.errors()
    ]
    first = f"{errors[0].field}: {errors[0].message}" if errors else ""
    return ExerciseInvalid(
        f"{what} has {len(errors)} problem(s), first {first}",
        advice="Correct the fields listed.",
        errors=errors,
    )


@dataclass(frozen=True)
class Exercise:
    exercise_id: str
    name: str
    director: str
    participants: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    scenario: str
    started_at: datetime | None = None

    def record(self) -> dict[str, Any]:
        """What travels with its alerts and its announcement (inside the director's signed
        envelope)."""
        return {
            "id": self.exercise_id,
            "name": self.name,
            "director": self.director,
            "participants": list(self.participants),
            "starts_at": cap_time(self.starts_at),
            "ends_at": cap_time(self.ends_at),
            "scenario": self.scenario,
        }


def from_record(value: Any) -> Exercise:
    """The exercise an incoming alert or announcement carries; ExerciseInvalid otherwise."""
    try:
        if not isinstance(value, dict):
            raise TypeError("an object")  # noqa: TRY301 - one refusal for every shape error
        participants = value["participants"]
        if not isinstance(participants, list) or not all(isinstance(p, str) for p in participants):
            raise TypeError("participants must be a list of ids")  # noqa: TRY301
        spec = ExerciseSpec(
            id=value["id"],
            name=value["name"],
            participants=tuple(participants),
            starts_at=parse_cap_time(value["starts_at"]),
            ends_at=parse_cap_time(value["ends_at"]),
            scenario=value.get("scenario", ""),
        )
        director = value["director"]
        if not isinstance(director, str) or not SLUG.match(director):
            raise TypeError("director must be a participant id")  # noqa: TRY301
    except (KeyError, TypeError, ValueError) as exc:
        raise ExerciseInvalid(
            f"the exercise record is malformed: {exc}",
            advice="Exercise alerts carry their exercise as its director defined it.",
            errors=[FieldError("exercise", "format", str(exc), SECTION)],
        ) from exc
    return Exercise(
        spec.id, spec.name, director, spec.participants, spec.starts_at, spec.ends_at, spec.scenario
    )


# After-action figures -------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One participant's handling of one inject."""

    participant: str
    delivery: str  # the envelope's state: delivered, acknowledged, retrying, failed, ...
    delivered_after: float | None  # seconds after the inject was sent
    acked_after: float | None
    acked_by: str | None  # the Ack's note
    last_error: str | None


@dataclass(frozen=True)
class InjectResult:
    inject_id: str
    identifier: str | None  # the CAP identifier once sent
    due_at: datetime
    sent_at: datetime | None
    headline: str
    answers: tuple[Answer, ...]

    @property
    def silent(self) -> tuple[str, ...]:
        return tuple(a.participant for a in self.answers if a.acked_after is None)


@dataclass(frozen=True)
class Latency:
    median: float | None
    worst: float | None
    count: int


def latency(values: Sequence[float | None]) -> Latency:
    known = [v for v in values if v is not None]
    if not known:
        return Latency(None, None, 0)
    return Latency(statistics.median(known), max(known), len(known))


@dataclass(frozen=True)
class Report:
    exercise: Exercise
    generated_at: datetime
    injects: tuple[InjectResult, ...]

    @property
    def never_answered(self) -> tuple[str, ...]:
        """Participants that acknowledged no inject at all."""
        answered = {
            a.participant for i in self.injects for a in i.answers if a.acked_after is not None
        }
        return tuple(p for p in self.exercise.participants if p not in answered)

    def delivery(self) -> Latency:
        return latency([a.delivered_after for i in self.injects for a in i.answers])

    def acknowledgement(self) -> Latency:
        return latency([a.acked_after for i in self.injects for a in i.answers])

    def as_json(self) -> dict[str, Any]:
        ex = self.exercise
        return {
            "marking": "EXERCISE",
            "exercise": {**ex.record(), "started_at": _time(ex.started_at)},
            "generated_at": cap_time(self.generated_at),
            "injects": [
                {
                    "inject_id": i.inject_id,
                    "identifier": i.identifier,
                    "headline": i.headline,
                    "due_at": cap_time(i.due_at),
                    "sent_at": _time(i.sent_at),
                    "answers": [a.__dict__ for a in i.answers],
                    "never_answered": list(i.silent),
                }
                for i in self.injects
            ],
            "never_answered": list(self.never_answered),
            "delivery_seconds": self.delivery().__dict__,
            "acknowledgement_seconds": self.acknowledgement().__dict__,
        }


def _time(value: datetime | None) -> str | None:
    return None if value is None else cap_time(value)

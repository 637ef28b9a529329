"""Who receives an alert, and for every other participant why not (pure).

An alert goes to the participants and groups its sender names, and to every early-warning
participant whose declared areas of interest (in the signed directory) meet one of the
alert's areas. An exercise alert goes only to that exercise's participants: to those named,
or to all of them when none is named. ``accord alert preview`` prints the decision for every
participant of the directory before anything is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from accord.alerts import geo
from accord.alerts.models import Alert, Status
from accord.identity.directory import Directory
from accord.identity.models import Participant, Role


@dataclass(frozen=True)
class Decision:
    participant: str
    included: bool
    reason: str
    languages: tuple[str, ...] = ()  # the participant's accepted languages, in its order


@dataclass(frozen=True)
class ExerciseScope:
    """The part of an exercise the audience depends on."""

    exercise_id: str
    participants: frozenset[str]


def decide(
    alert: Alert,
    *,
    named: Sequence[str],
    directory: Directory,
    me: str,
    exercise: ExerciseScope | None = None,
) -> list[Decision]:
    """One decision per participant of ``directory`` other than ``me``, in directory order.
    Raises UnknownParticipant when a name is neither a participant nor a group."""
    via: dict[str, str] = {}
    for name in named:
        for participant in directory.resolve(name):
            via.setdefault(participant.id, name)
    located = geo.has_location(alert)
    decisions = []
    for participant in directory.document.participants:
        if participant.id == me:
            continue
        included, reason = _decide(participant, alert, via, located, exercise)
        decisions.append(Decision(participant.id, included, reason, participant.languages))
    return decisions


def _decide(
    participant: Participant,
    alert: Alert,
    via: dict[str, str],
    located: bool,
    exercise: ExerciseScope | None,
) -> tuple[bool, str]:
    if alert.status is Status.EXERCISE:
        if exercise is None or participant.id not in exercise.participants:
            name = exercise.exercise_id if exercise else "(none named)"
            return False, f"not a participant of exercise {name}"
        if not via:
            return True, f"participant of exercise {exercise.exercise_id}"
    if participant.id in via:
        name = via[participant.id]
        return True, "named" if name == participant.id else f"named: member of {name}"
    return _by_area(participant, alert, located)


def _by_area(participant: Participant, alert: Alert, located: bool) -> tuple[bool, str]:
    if not participant.areas:
        return False, "not named, and declares no areas of interest"
    if Role.EARLY_WARNING not in participant.roles:
        return False, "not named; declares areas but does not have the early-warning role"
    if not located:
        return False, "not named; the alert's areas have no polygon, circle or geocode"
    found = geo.overlaps(alert, participant.areas)
    if not found:
        names = ", ".join(a.name for a in participant.areas)
        return False, f"not named; its areas of interest ({names}) do not meet the alert's areas"
    first = found[0]
    return True, f"area of interest {first.interest!r} meets {first.alert_area!r} ({first.how})"

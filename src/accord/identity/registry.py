"""The States Parties registry (convention-procedures.md §2.3, §7): per State its instrument and
dates, authorities, languages, channels and reservations; and when the Convention is in force.

Pure data and computation. The stewards sign the registry inside the directory, so it lives with
the directory's other records (ADR 0009, ADR 0012): every domain reads it, and the directory can
refuse a registry that contradicts Art. 65 without knowing any domain.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any, Self

from pydantic import Field, ValidationError, model_validator

from accord.errors import (
    ConventionNotInForce,
    FieldError,
    LanguageNotAccepted,
    RegistryInvalid,
)
from accord.fields import Country, Language, ParticipantId, Strict, Text

INSTRUMENTS_FOR_ENTRY_INTO_FORCE = 40  # UNCC Art. 65(1)
GENERAL_DELAY = timedelta(days=90)  # UNCC Art. 65(1): the 90th day after the 40th deposit
LATER_DELAY = timedelta(days=30)  # UNCC Art. 65(2): the 30th day after a later deposit
ENTRY_ADVICE = (
    "Cite another legal basis (a bilateral treaty, BC-n, UNTOC-n or reciprocity), or submit on "
    "or after the date the Convention is in force for both States."
)


class Instrument(StrEnum):
    RATIFICATION = "ratification"
    ACCEPTANCE = "acceptance"
    APPROVAL = "approval"
    ACCESSION = "accession"


class Reservation(StrEnum):
    # UNCC Art. 42; BC 29(4): may refuse preservation for lack of dual criminality, outside
    # the core offences
    PRESERVATION_DUAL_CRIMINALITY = "preservation_dual_criminality"


class StateParty(Strict):
    """One State (or regional economic integration organisation) as notified to the UN SG."""

    state: Country
    name: Text
    instrument: Instrument | None = None
    deposited_on: date | None = None
    entry_into_force: date | None = None  # as notified; must agree with Art. 65
    regional_organisation: bool = False  # UNCC Art. 65(1): not counted with its members
    central_authorities: tuple[ParticipantId, ...] = Field(default=(), max_length=20)
    poc_247: ParticipantId | None = None  # UNCC Art. 41
    extradition_authority: ParticipantId | None = None
    languages: tuple[Language, ...] = Field(min_length=1, max_length=20)  # UNTOC 18(14)
    diplomatic_channels_required: bool = False  # UNTOC 18(13)
    interpol_in_urgent_cases: bool = False  # UNTOC 18(13)
    reservations: tuple[Reservation, ...] = Field(default=(), max_length=len(Reservation))

    @model_validator(mode="after")
    def _instrument_and_date(self) -> Self:
        if (self.instrument is None) != (self.deposited_on is None):
            raise ValueError("instrument and deposited_on go together")
        return self


class Registry(Strict):
    """A versioned list of States Parties; versions only go up (checked where it is installed)."""

    version: int = Field(ge=1)
    parties: tuple[StateParty, ...] = Field(max_length=300)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        states = [party.state for party in self.parties]
        if len(set(states)) != len(states):
            raise ValueError("each State appears once")
        for party in self.parties:
            computed = self.entry_into_force_for(party.state)
            if party.entry_into_force is not None and party.entry_into_force != computed:
                raise ValueError(
                    f"{party.state}: entry_into_force {party.entry_into_force} is not the date "
                    f"Art. 65 gives ({computed or 'not yet'})"
                )
        return self

    @cached_property
    def _by_state(self) -> dict[str, StateParty]:
        return {party.state: party for party in self.parties}

    def party(self, state: str) -> StateParty | None:
        return self._by_state.get(state)

    @cached_property
    def _fortieth_deposit(self) -> date | None:
        # UNCC Art. 65(1): an organisation's instrument does not count on top of its members'
        deposits = sorted(
            party.deposited_on
            for party in self.parties
            if party.deposited_on is not None and not party.regional_organisation
        )
        if len(deposits) < INSTRUMENTS_FOR_ENTRY_INTO_FORCE:
            return None
        return deposits[INSTRUMENTS_FOR_ENTRY_INTO_FORCE - 1]

    def general_entry_into_force(self) -> date | None:
        """UNCC Art. 65(1): the 90th day after the 40th instrument was deposited."""
        fortieth = self._fortieth_deposit
        return None if fortieth is None else fortieth + GENERAL_DELAY

    def entry_into_force_for(self, state: str) -> date | None:
        """The day the Convention enters into force for ``state``, if it is known yet."""
        party = self.party(state)
        fortieth = self._fortieth_deposit
        if party is None or party.deposited_on is None or fortieth is None:
            return None
        general = fortieth + GENERAL_DELAY
        # Instruments deposited on the day of the 40th count with it (our reading of 65(1))
        if party.deposited_on <= fortieth:
            return general
        # UNCC Art. 65(2): the 30th day after a later deposit, never before the general date
        return max(party.deposited_on + LATER_DELAY, general)

    def in_force_between(self, first: str, second: str, day: date) -> bool:
        return all(self._why_not_in_force(state, day) is None for state in (first, second))

    def require_in_force(self, first: str, second: str, day: date) -> None:
        """Raise :class:`ConventionNotInForce` naming the State and the reason, unless the
        Convention is in force for both States on ``day`` (§8.4 invariant 9)."""
        for state in (first, second):
            reason = self._why_not_in_force(state, day)
            if reason is not None:
                message = f"the Convention is not in force for {state} on {day}: {reason}"
                raise ConventionNotInForce(
                    message,
                    advice=ENTRY_ADVICE,
                    errors=[FieldError("legal_basis", "not_in_force", message, "Art. 65")],
                )

    def _why_not_in_force(self, state: str, day: date) -> str | None:
        party = self.party(state)
        if party is None:
            return "it is not in the States Parties registry"
        if party.deposited_on is None:
            return (
                "it has deposited no instrument of ratification, acceptance, approval or accession"
            )
        if self.general_entry_into_force() is None:
            return (
                f"fewer than {INSTRUMENTS_FOR_ENTRY_INTO_FORCE} instruments are deposited,"
                " so the Convention is not yet in force (Art. 65(1))"
            )
        starts = self.entry_into_force_for(state)
        if starts is not None and day < starts:
            return f"it enters into force for {state} on {starts} (Art. 65)"
        return None

    def require_language(self, state: str, language: str) -> None:
        """UNTOC 18(14); UNCC Art. 40: a request is written in a language the State notified."""
        party = self.party(state)
        if party is not None and language in party.languages:
            return
        accepted = ", ".join(party.languages) if party else "none on record"
        message = f"{state} has not notified {language!r} as an accepted language ({accepted})"
        raise LanguageNotAccepted(
            message,
            advice="Translate the request into a language the requested State accepts.",
            errors=[FieldError("language", "language_not_accepted", message, "Art. 40")],
        )

    def has_reservation(self, state: str, reservation: Reservation) -> bool:
        party = self.party(state)
        return party is not None and reservation in party.reservations


def read_registry(data: Mapping[str, Any]) -> Registry:
    """A registry from its document, or :class:`RegistryInvalid` listing what is wrong."""
    try:
        return Registry.model_validate(dict(data))
    except ValidationError as exc:
        errors = [
            FieldError(
                ".".join(str(part) for part in detail["loc"]) or "registry",
                detail["type"],
                detail["msg"].removeprefix("Value error, "),
                "Art. 65",
            )
            for detail in exc.errors()
        ]
    raise RegistryInvalid(
        f"the States Parties registry has {len(errors)} problem(s)",
        advice="Ask the stewards for a corrected registry.",
        errors=errors,
    )

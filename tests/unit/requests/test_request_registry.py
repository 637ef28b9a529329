"""The States Parties registry: entry into force under Art. 65, with worked dates."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import product
from string import ascii_uppercase
from typing import Any

import pytest

from accord.errors import ConventionNotInForce, LanguageNotAccepted, RegistryInvalid
from accord.identity.registry import Registry, Reservation, read_registry

CODES = [a + b for a, b in product("ABCDEFGH", ascii_uppercase)]  # not real States: fixtures
FIRST_DEPOSIT = date(2026, 1, 5)
FORTIETH = date(2026, 9, 1)  # the 40th instrument; general entry into force 2026-11-30


def party(state: str, deposited: date | None, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"state": state, "name": f"State {state}", "languages": ["en"]}
    if deposited is not None:
        record |= {"instrument": "ratification", "deposited_on": deposited}
    return record | extra


def forty(*more: dict[str, Any]) -> Registry:
    """39 deposits from FIRST_DEPOSIT, one every 5 days, the 40th on FORTIETH, then ``more``."""
    early = [
        party(code, FIRST_DEPOSIT + timedelta(days=5 * i)) for i, code in enumerate(CODES[:39])
    ]
    return read_registry({"version": 1, "parties": [*early, party("VN", FORTIETH), *more]})


def test_entry_into_force_is_the_90th_day_after_the_40th_instrument() -> None:
    registry = forty()
    assert registry.general_entry_into_force() == date(2026, 11, 30)
    assert registry.entry_into_force_for("VN") == date(2026, 11, 30)
    assert registry.entry_into_force_for(CODES[0]) == date(2026, 11, 30)  # early ratifier


def test_39_instruments_do_not_bring_the_convention_into_force() -> None:
    registry = read_registry(
        {"version": 1, "parties": [party(code, FIRST_DEPOSIT) for code in CODES[:39]]}
    )
    assert registry.general_entry_into_force() is None
    assert not registry.in_force_between(CODES[0], CODES[1], date(2030, 1, 1))


def test_an_organisations_instrument_is_not_counted_with_its_members() -> None:
    members = [party(code, FIRST_DEPOSIT) for code in CODES[:39]]
    reio = party("EU", FIRST_DEPOSIT, regional_organisation=True)
    registry = read_registry({"version": 1, "parties": [*members, reio]})
    assert registry.general_entry_into_force() is None


@pytest.mark.parametrize(
    ("deposited", "in_force"),
    [
        (FORTIETH, date(2026, 11, 30)),  # same day as the 40th: counts with it
        (date(2026, 10, 15), date(2026, 11, 30)),  # 30th day (2026-11-14) is before the general
        (date(2026, 11, 10), date(2026, 12, 10)),  # 30th day after its own deposit
        (date(2026, 12, 20), date(2027, 1, 19)),  # Art. 65(2), across the year end
    ],
)
def test_a_later_instrument_takes_effect_on_the_30th_day_or_the_general_date(
    deposited: date, in_force: date
) -> None:
    registry = forty(party("RU", deposited))
    assert registry.entry_into_force_for("RU") == in_force
    assert not registry.in_force_between("VN", "RU", in_force - timedelta(days=1))
    assert registry.in_force_between("VN", "RU", in_force)


def test_a_request_is_refused_when_not_in_force_for_one_state() -> None:
    registry = forty(party("RU", date(2026, 12, 20)))
    with pytest.raises(ConventionNotInForce) as caught:
        registry.require_in_force("VN", "RU", date(2027, 1, 18))
    error = caught.value
    assert "not in force for RU on 2027-01-18" in error.message
    assert "enters into force for RU on 2027-01-19" in error.message
    assert error.errors[0].article == "Art. 65"
    assert error.advice
    registry.require_in_force("VN", "RU", date(2027, 1, 19))


@pytest.mark.parametrize(
    ("state", "says"),
    [("ZA", "deposited no instrument"), ("BR", "not in the States Parties registry")],
)
def test_a_signatory_without_deposit_or_an_unknown_state_is_not_a_party(
    state: str, says: str
) -> None:
    registry = forty(party("ZA", None))
    with pytest.raises(ConventionNotInForce, match=says):
        registry.require_in_force("VN", state, date(2030, 1, 1))


def test_a_notified_entry_date_that_contradicts_art_65_is_refused() -> None:
    with pytest.raises(RegistryInvalid) as caught:
        forty(party("RU", date(2026, 12, 20), entry_into_force="2027-01-01"))
    assert "2027-01-19" in caught.value.errors[0].message


@pytest.mark.parametrize(
    "parties",
    [
        [party("VN", None), party("VN", None)],
        [party("VN", None, instrument="ratification")],
        [party("VN", None, languages=[])],
        [party("VN", None, poc_247="VN 24/7")],
    ],
    ids=["duplicate", "instrument-without-date", "no-language", "bad-participant"],
)
def test_a_malformed_registry_is_refused(parties: list[dict[str, Any]]) -> None:
    with pytest.raises(RegistryInvalid) as caught:
        read_registry({"version": 1, "parties": parties})
    assert caught.value.errors


def test_languages_and_reservations_are_looked_up_per_state() -> None:
    registry = forty(
        party(
            "RU",
            date(2026, 10, 1),
            languages=["ru", "en"],
            reservations=["preservation_dual_criminality"],
        )
    )
    registry.require_language("RU", "ru")
    with pytest.raises(LanguageNotAccepted, match="'vi'"):
        registry.require_language("RU", "vi")
    assert registry.has_reservation("RU", Reservation.PRESERVATION_DUAL_CRIMINALITY)
    assert not registry.has_reservation("VN", Reservation.PRESERVATION_DUAL_CRIMINALITY)

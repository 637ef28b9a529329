"""Grounds for refusal as codes (convention-procedures.md §4.1), and the check every refusal
passes: grounds and reasons given, each ground valid and applicable to the request's type."""

from __future__ import annotations

from enum import StrEnum

from accord.errors import FieldError, RefusalInvalid
from accord.identity.registry import Registry, Reservation
from accord.requests.models import RequestType, problem
from accord.requests.records import Preservation, Request


class RefusalGround(StrEnum):
    NONCONFORMING = "NONCONFORMING"  # UNTOC 18(21)(a)
    ESSENTIAL_INTERESTS = "ESSENTIAL_INTERESTS"  # UNTOC 18(21)(b); BC 27(4)(b), 29(5)(b)
    DOMESTIC_PROHIBITION = "DOMESTIC_PROHIBITION"  # UNTOC 18(21)(c); 16(7) for extradition
    CONTRARY_TO_LEGAL_SYSTEM = "CONTRARY_TO_LEGAL_SYSTEM"  # UNTOC 18(21)(d)
    POLITICAL_OFFENCE = "POLITICAL_OFFENCE"  # BC 27(4)(a), 29(5)(a), 30(2)(a)
    DISCRIMINATORY_PURPOSE = "DISCRIMINATORY_PURPOSE"  # UNCC Art. 40; UNTOC 16(14)
    NO_DUAL_CRIMINALITY = "NO_DUAL_CRIMINALITY"  # UNTOC 18(9); BC 29(3)-(4)
    CONDITIONS_NOT_ACCEPTED = "CONDITIONS_NOT_ACCEPTED"  # BC 28(2)-(3)
    NATIONALITY_OF_PERSON = "NATIONALITY_OF_PERSON"  # UNTOC 16(10): then prosecute at home
    # Codes that exist so a refusal citing them can be named and rejected: never valid
    BANK_SECRECY = "BANK_SECRECY"  # UNTOC 18(8)
    FISCAL_ONLY = "FISCAL_ONLY"  # UNTOC 18(22), 16(15); BC 25(4)


G = RefusalGround
NEVER_VALID = {
    G.BANK_SECRECY: "bank secrecy is never a ground to refuse (UNTOC 18(8))",
    G.FISCAL_ONLY: "fiscal matters alone are never a ground to refuse (UNTOC 18(22), 16(15))",
}
_MLA = frozenset(set(G) - set(NEVER_VALID) - {G.NATIONALITY_OF_PERSON})
# §4.1 "applies to"; the Convention sets no grounds for Arts 38, 47 and 48 (cooperation there
# is "consistent with domestic law" or by agreement), so their refusals cite domestic ones
_DOMESTIC = frozenset(
    {
        G.ESSENTIAL_INTERESTS,
        G.DOMESTIC_PROHIBITION,
        G.CONTRARY_TO_LEGAL_SYSTEM,
        G.DISCRIMINATORY_PURPOSE,
    }
)
APPLICABLE: dict[RequestType, frozenset[RefusalGround]] = {
    RequestType.MLA: _MLA,
    RequestType.MLA_STORED_DATA: _MLA,
    RequestType.MLA_REAL_TIME_TRAFFIC: _MLA,
    RequestType.MLA_INTERCEPTION: _MLA,
    # BC 29(5); UNCC Art. 42 adds the Art. 40 non-discrimination clause
    RequestType.PRESERVATION: frozenset(
        {
            G.ESSENTIAL_INTERESTS,
            G.POLITICAL_OFFENCE,
            G.DISCRIMINATORY_PURPOSE,
            G.NO_DUAL_CRIMINALITY,
        }
    ),
    # UNTOC 16(1), (7), (10), (14)
    RequestType.EXTRADITION: frozenset(
        {
            G.NO_DUAL_CRIMINALITY,
            G.DOMESTIC_PROHIBITION,
            G.DISCRIMINATORY_PURPOSE,
            G.NATIONALITY_OF_PERSON,
            G.ESSENTIAL_INTERESTS,
        }
    ),
    RequestType.LAW_ENFORCEMENT_EXCHANGE: _DOMESTIC,
    RequestType.JOINT_INVESTIGATION: _DOMESTIC,
    RequestType.TRANSFER_OF_SENTENCED_PERSONS: _DOMESTIC,
}


def check_refusal(
    request: Request, registry: Registry, grounds: tuple[RefusalGround, ...], reasons: str
) -> None:
    """Raise :class:`RefusalInvalid` listing every broken rule of this refusal."""
    article = request.article()
    errors: list[FieldError] = []
    if not grounds:  # §8.4 invariant 1; UNTOC 18(23)
        errors.append(
            problem("grounds", "grounds_required", "a refusal names its grounds", article)
        )
    if not reasons.strip():
        errors.append(problem("reasons", "reasons_required", "a refusal gives reasons", article))
    for ground in grounds:
        errors += _ground_problems(request, registry, ground)
    if errors:
        raise RefusalInvalid(
            "; ".join(error.message for error in errors),
            advice="Give at least one applicable ground and the reasons in writing.",
            errors=errors,
        )


def _ground_problems(request: Request, registry: Registry, ground: G) -> list[FieldError]:
    article = request.article()
    if ground in NEVER_VALID:  # §8.4 invariant 5
        return [problem("grounds", "ground_never_valid", NEVER_VALID[ground], "Art. 40")]
    if ground not in APPLICABLE.get(request.REQUEST_TYPE, frozenset()):
        text = f"{ground} is not a ground to refuse a {request.type} request"
        return [problem("grounds", "ground_not_applicable", text, article)]
    if isinstance(request, Preservation) and ground is G.NO_DUAL_CRIMINALITY:
        return _dual_criminality_problems(request, registry)
    return []


def _dual_criminality_problems(request: Preservation, registry: Registry) -> list[FieldError]:
    # §8.4 invariant 4; BC 29(3)-(4); UNCC Art. 42: dual criminality is not required for
    # preservation, unless the requested State reserved it, and never for core offences
    reserved = registry.has_reservation(
        request.requested_state, Reservation.PRESERVATION_DUAL_CRIMINALITY
    )
    if not reserved:
        text = f"{request.requested_state} made no dual-criminality reservation on preservation"
        return [problem("grounds", "dual_criminality_not_reserved", text, "Art. 42")]
    if request.core_offence:
        text = "the reservation does not cover the core offences of Arts 7-11"
        return [problem("grounds", "core_offence", text, "Art. 42")]
    return []

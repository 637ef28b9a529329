"""A request, its state and its events as one printable HTML document in a chosen language.

``render`` is pure: the record, the folded state, the events and the time of generation come
in, a standalone HTML5 page comes out (inline CSS, no scripts, no external resources). Labels,
enumerations and legal references are translated from the catalogs of ``catalogs.py``; dates
and quantities are formatted with Babel in the chosen locale, and the page runs in the locale's
direction (right to left in Arabic); free text is shown exactly as written. Every
value reaches the page through Jinja2's autoescaping, so nothing a State wrote can become
markup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from functools import cache
from typing import Any, Literal

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from jinja2 import Environment, PackageLoader, StrictUndefined, Template
from pydantic import BaseModel

from accord.requests.catalogs import Translator, translator
from accord.requests.events import PAYLOADS, Event, Kind, Note, Party, RequestState
from accord.requests.labels import (
    ARTICLE,
    DOCUMENT,
    ENUMS,
    FIELD,
    FIELDS,
    INSTRUMENTS,
    LEGAL,
    LITERALS,
    RECIPROCITY,
    TREATY,
    WORDS,
    enum_context,
)
from accord.requests.machine import WORKFLOW_TYPES, canonical_payload
from accord.requests.models import Envelope
from accord.requests.records import Request

# Which strings are codes to look up rather than free text, by field name
_COUNTRIES = frozenset(
    {
        "requesting_state",
        "requested_state",
        "nationality",
        "state",
        "participating_states",
        "lead_state",
        "territory",
        "sentencing_state",
        "administering_state",
    }
)
_PARTICIPANTS = frozenset({"receiving_authority", "recipient", "onward_authorised", "forwarded_to"})
_IDS = frozenset(
    {
        "message_id",
        "related_ids",
        "request_id",
        "parent_preservation_id",
        "prior_preservation_ref",
        "prior_mla_ref",
        "linked_preservation_id",
        "follow_up_id",
        "disclosure_id",
        "disclosures",
        "evidence_packages",
    }
)
_ARTICLE_NUMBERS = frozenset({"offence_articles"})
# Integers that are identifiers, not quantities: never grouped by locale ("8 080" is no port)
_NUMBER_CODES = frozenset({"port"})
_ENVELOPE = tuple(Envelope.model_fields)
# RequestState fields shown as the reply of the requested State, the rest as the state
_REPLY = (
    "refusal",
    "postponement",
    "conditions",
    "conditions_accepted",
    "hold",
    "executed_items",
    "not_executed_items",
    "evidence_packages",
)
_STATE_HIDDEN = frozenset({"request_id", "use_limitations", *_REPLY})
_OUTCOMES = (Kind.EXECUTE, Kind.EXECUTE_PARTIALLY)
# Fields whose absence says something: a hold without an end date lasts until the decision
# on the follow-up request (BC 29(7))
_NONE_MEANS = {("ActiveHold", "until"): "until_decision"}
_ART = re.compile(r"^Art\. ([0-9]+)$")
_BASIS = re.compile(r"^(UNCC|BC|UNTOC|SAP)-([0-9]{1,2})$")


# What the template shows -------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """One value: ``free`` text is as its author wrote it, in ``lang``; a ``code`` is an id."""

    text: str
    style: Literal["value", "free", "code"] = "value"
    lang: str | None = None
    kind: Literal["text"] = "text"


@dataclass(frozen=True)
class Items:
    values: tuple[Value, ...]
    kind: Literal["items"] = "items"


@dataclass(frozen=True)
class Group:
    entries: tuple[Entry, ...]
    kind: Literal["group"] = "group"


Value = Text | Items | Group


@dataclass(frozen=True)
class Entry:
    label: str
    value: Value


@dataclass(frozen=True)
class Step:
    at: str
    by: str
    kind: str
    details: tuple[Entry, ...]


@dataclass(frozen=True)
class Reply:
    limitations: Items
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class Page:
    lang: str
    dir: Literal["ltr", "rtl"]
    title: str
    subtitle: str
    one_way: bool  # a communication without a workflow (Arts 40(4)-(5), 43)
    envelope: tuple[Entry, ...]
    particulars: tuple[Entry, ...]
    state: tuple[Entry, ...] | None
    reply: Reply | None
    timeline: tuple[Step, ...]
    generated: str
    words: Mapping[str, str]


def render(
    request: Request,
    state: RequestState | None,
    events: Sequence[Event],
    *,
    lang: str,
    parties: Mapping[str, str] | None = None,
    generated_at: datetime,
) -> str:
    """The request as a standalone, printable HTML5 document in ``lang``.

    ``state`` is the folded state and ``events`` its events in the fold's order; a one-way
    communication (Arts 40(4), 43) has neither and passes ``None`` and ``()``. ``parties``
    names participants by id (``ru-gp-ca`` -> its authority's name). Raises
    :class:`~accord.errors.LanguageNotAvailable` for a language without a catalog.
    """
    view = _View(translator(lang), Locale.parse(lang), request, parties or {}, request.language)
    page = view.page(state, events, generated_at)
    return _template().render(page=page)


@cache
def _template() -> Template:
    environment = Environment(
        loader=PackageLoader("accord.requests", "templates"),
        autoescape=True,  # every value is escaped; the template holds the only markup
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("request.html.j2")


@dataclass(frozen=True)
class _View:
    t: Translator
    locale: Locale
    request: Request
    parties: Mapping[str, str]
    text_lang: str | None  # the language free text is written in, where it is known

    def page(
        self, state: RequestState | None, events: Sequence[Event], generated_at: datetime
    ) -> Page:
        request, t = self.request, self.t
        article = self.article(request.article())  # the type's own article
        return Page(
            lang=self.t.lang,
            dir="rtl" if self.locale.text_direction == "rtl" else "ltr",
            title=self.enum(request.type),
            subtitle=t(LEGAL, INSTRUMENTS["UNCC"], article=article),
            one_way=request.REQUEST_TYPE not in WORKFLOW_TYPES,
            envelope=self.entries(request, _ENVELOPE),
            particulars=self.entries(request, _own_fields(request)),
            state=None if state is None else self.state(state),
            # replies and events are written by either State, in a language not recorded
            reply=None if state is None else self.unknown_lang.reply(state, events),
            timeline=() if state is None else tuple(self.unknown_lang.step(e) for e in events),
            generated=t(DOCUMENT, WORDS["generated"], date=self.datetime(generated_at)),
            words={key: t(DOCUMENT, text) for key, text in WORDS.items() if "{" not in text},
        )

    @property
    def unknown_lang(self) -> _View:
        return replace(self, text_lang=None)

    # Sections

    def state(self, state: RequestState) -> tuple[Entry, ...]:
        names = [n for n in RequestState.model_fields if n not in _STATE_HIDDEN]
        status = Entry(self.label("status"), Text(self.enum(state.status)))
        return (status, *self.entries(state, [n for n in names if n != "status"]))

    def reply(self, state: RequestState, events: Sequence[Event]) -> Reply | None:
        entries = list(self.entries(state, _REPLY))
        outcome = _last_outcome(events)
        if outcome is not None:
            entries += self.entries(outcome, ("reasons", "note"))
        limitations = Items(tuple(self.free(text) for text in state.use_limitations))
        if not entries and not limitations.values:
            return None
        return Reply(limitations, tuple(entries))

    def step(self, event: Event) -> Step:
        payload = PAYLOADS.get(event.kind, Note).model_validate(
            canonical_payload(event.kind, event.payload)
        )
        return Step(
            at=self.datetime(event.at),
            by=f"{self.enum(event.actor)}: {self.country(self.state_of(event.actor))}",
            kind=self.enum(event.kind),
            details=self.entries(payload, tuple(type(payload).model_fields)),
        )

    # Fields

    def entries(self, model: BaseModel, names: Sequence[str]) -> tuple[Entry, ...]:
        """The set fields of ``model`` among ``names``, in the model's field order."""
        shown = []
        for name in type(model).model_fields:
            value = getattr(model, name)
            meaning = _NONE_MEANS.get((type(model).__name__, name))
            if name in names and value is None and meaning:
                shown.append(Entry(self.label(name), Text(self.t(DOCUMENT, WORDS[meaning]))))
            elif name in names and _is_set(model, name, value):
                shown.append(Entry(self.label(name), self.value(model, name, value)))
        return tuple(shown)

    def value(self, owner: BaseModel, name: str, value: Any) -> Value:
        if isinstance(value, tuple):
            return Items(tuple(self.value(owner, name, item) for item in value))
        if isinstance(value, BaseModel):
            return Group(self.entries(value, tuple(type(value).model_fields)))
        return self.scalar(owner, name, value)

    def scalar(self, owner: BaseModel, name: str, value: Any) -> Text:
        if isinstance(value, bool):
            return Text(self.t(DOCUMENT, WORDS["yes" if value else "no"]))
        if isinstance(value, StrEnum):
            return Text(self.enum(value))
        if isinstance(value, datetime):
            return Text(self.datetime(value))
        if isinstance(value, date):
            return Text(format_date(value, "long", locale=self.locale))
        if isinstance(value, int):
            return self.integer(name, value)
        return self.string(owner, name, str(value))

    def integer(self, name: str, value: int) -> Text:
        if name in _ARTICLE_NUMBERS:
            return Text(self.article(f"Art. {value}"))
        if name in _NUMBER_CODES:
            return Text(str(value), "code")
        return Text(format_decimal(value, locale=self.locale))

    def string(self, owner: BaseModel, name: str, value: str) -> Text:
        context = f"{type(owner).__name__}.{name}"
        if (context, value) in LITERALS:
            return Text(self.t(context, LITERALS[context, value]))
        if name in _COUNTRIES:
            return Text(self.country(value))
        if name in _PARTICIPANTS:
            return self.participant(value)
        if name in _IDS:
            return Text(value, "code")
        codes = {"language": self.language, "legal_basis": self.legal_basis}
        return codes[name](value) if name in codes else self.free(value)

    # Translations

    def label(self, name: str) -> str:
        return self.t(FIELD, FIELDS[name])

    def enum(self, value: StrEnum) -> str:
        return self.t(enum_context(value), ENUMS[value])

    def free(self, text: str) -> Text:
        return Text(text, "free", self.text_lang)

    def article(self, reference: str) -> str:
        """``Art. 42`` in the chosen language, the number kept."""
        match = _ART.match(reference)
        if match is None:
            return reference
        return self.t(LEGAL, ARTICLE, number=match.group(1))

    def legal_basis(self, basis: str) -> Text:
        match = _BASIS.match(basis)
        if match is not None:
            article = self.article(f"Art. {match.group(2)}")
            return Text(self.t(LEGAL, INSTRUMENTS[match.group(1)], article=article))
        if basis == "reciprocity":
            return Text(self.t(LEGAL, RECIPROCITY))
        # treaty:NAME; the treaty's name is free text
        return Text(self.t(LEGAL, TREATY, name=basis.removeprefix("treaty:")))

    def language(self, code: str) -> Text:
        return Text(f"{self.locale.languages.get(code, code)} ({code})")

    def participant(self, participant: str) -> Text:
        name = self.parties.get(participant)
        return Text(f"{name} ({participant})", "free") if name else Text(participant, "code")

    def country(self, code: str) -> str:
        return f"{self.locale.territories.get(code, code)} ({code})"

    def state_of(self, party: Party) -> str:
        request = self.request
        return request.requesting_state if party is Party.REQUESTING else request.requested_state

    def datetime(self, moment: datetime) -> str:
        return format_datetime(moment, "long", locale=self.locale)


def _own_fields(request: Request) -> tuple[str, ...]:
    return tuple(name for name in type(request).model_fields if name not in _ENVELOPE)


def _is_set(model: BaseModel, name: str, value: Any) -> bool:
    """A field is shown when it has a value, and a default only when given explicitly."""
    if value in (None, (), ""):
        return False
    return value != type(model).model_fields[name].default or name in model.model_fields_set


def _last_outcome(events: Sequence[Event]) -> BaseModel | None:
    outcomes = [e for e in events if e.kind in _OUTCOMES]
    if not outcomes:
        return None
    last = outcomes[-1]
    return PAYLOADS[last.kind].model_validate(canonical_payload(last.kind, last.payload))


__all__ = ["render"]

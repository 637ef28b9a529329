"""The console's interface in nine languages (ADR 0020): gettext catalogs in
``locales/LANG/LC_MESSAGES/console.po``, read with Babel at first use like the request
documents' catalogs (whose :class:`Translator` this reuses), dates and numbers by locale.

The request fields' labels come from the request documents' own catalogs, so a field is named
the same on the form and on the printed request.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from pathlib import Path

from babel.dates import format_datetime
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po
from babel.numbers import format_decimal

from accord.requests import catalogs
from accord.requests.catalogs import Translator
from accord.requests.events import Party
from accord.requests.labels import ENUMS, FIELD, FIELDS, enum_context
from accord.web.access import MENU
from accord.web.accounts import LANGUAGES, Role

LOCALES = Path(__file__).parent / "locales"
TEMPLATES = Path(__file__).parent / "templates"
DOMAIN = "console"
CONTEXT = ""
RIGHT_TO_LEFT = frozenset({"ar"})
NAMES = {
    "en": "English",
    "fr": "Français",
    "es": "Español",
    "ru": "Русский",
    "zh": "中文",
    "ar": "العربية",
    "vi": "Tiếng Việt",
    "ro": "Română",
    "bg": "Български",
}


# messages the templates look up by a computed name: the menu's pages, the roles, the sides
DYNAMIC = (
    *(route.capitalize() for route in MENU),
    *(role.value.capitalize() for role in Role),
    *(party.value for party in Party),
    "sent",
    "received",
    "ingested",  # an alert taken from an external CAP feed
)
# t("...") or ui('...') in a template or a view, with a literal message
_LOOKUP = re.compile(r"""\b(?:t|ui)\((?:"([^"]+)"|'([^']+)')""")


class Interface:
    """One language's words, dates and numbers, as the templates use them."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else "en"
        self.dir = "rtl" if self.lang in RIGHT_TO_LEFT else "ltr"
        self._t = translator(self.lang)
        self._fields = _request_words(self.lang)

    def __call__(self, msgid: str, **values: str) -> str:
        return self._t(CONTEXT, msgid, **values)

    def when(self, timestamp: float | None) -> str:
        if timestamp is None:
            return "—"
        moment = datetime.fromtimestamp(timestamp, UTC)
        return format_datetime(moment, "medium", tzinfo=UTC, locale=self.lang)

    def number(self, value: float) -> str:
        return format_decimal(value, locale=self.lang)

    def enum(self, value: StrEnum | None) -> str:
        """A request type, status, move or side as the printed request names it."""
        if value is None:
            return "—"
        english = ENUMS.get(value)
        return self._fields(enum_context(value), english) if english else str(value)

    def field(self, dotted: str) -> str:
        """The label of a request field (its last part), as the printed request names it."""
        name = dotted.rsplit(".", 1)[-1].split("[", 1)[0]
        english = FIELDS.get(name)
        if english is None:
            return name.replace("_", " ")
        return self._fields(FIELD, english)


@cache
def translator(lang: str) -> Translator:
    return catalogs.load(catalog_path(lang), lang, DOMAIN)


def catalog_path(lang: str) -> Path:
    return LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def _request_words(lang: str) -> Translator:
    """The request documents' catalog in ``lang``, English where it has none yet."""
    return catalogs.translator(lang if lang in catalogs.LANGUAGES else "en")


def messages() -> list[str]:
    """Every interface message: the literal look-ups of the templates and views, and
    :data:`DYNAMIC`; sorted, each once."""
    found = set(DYNAMIC)
    sources = [*TEMPLATES.glob("*.html"), Path(__file__).parent / "views.py"]
    for source in sources:
        for match in _LOOKUP.finditer(source.read_text(encoding="utf-8")):
            found.add(match.group(1) or match.group(2))
    return sorted(found)


def update() -> None:
    """Merge :func:`messages` into every catalog (a developer's tool, like
    ``python -m accord.requests.catalogs``): new messages get an empty translation."""
    for lang in LANGUAGES:
        path = catalog_path(lang)
        catalog = Catalog(locale=lang, domain=DOMAIN, project="Accord console", fuzzy=False)
        if path.exists():
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=lang, domain=DOMAIN)
        template = Catalog(domain=DOMAIN, project="Accord console", fuzzy=False)
        for msgid in messages():
            template.add(msgid)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            write_po(handle, catalog, width=100, sort_output=True)


if __name__ == "__main__":
    update()

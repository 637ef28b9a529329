"""The gettext catalogs of rendered requests, one per language in ``locales/LANG/LC_MESSAGES``.

Catalogs are read from their ``.po`` source with Babel at first use and kept in memory, so no
compiled ``.mo`` file is committed or built. A message missing from a catalog (or still
fuzzy) falls back to its English source with a :class:`MissingTranslation` warning, which
the test suite turns into an error: a fallback is never silent.

To add messages, change ``labels.py`` and run ``python -m accord.requests.catalogs``: it
writes ``locales/accord.pot`` and merges it into every catalog (new messages get an empty
translation, removed ones are dropped), then translate what is empty.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from accord.errors import FieldError, LanguageNotAvailable
from accord.requests.labels import messages

LOCALES = Path(__file__).parent / "locales"
DOMAIN = "accord"
LANGUAGES = ("en", "fr", "es", "ru", "zh", "ar", "vi", "ro", "bg")


class MissingTranslation(UserWarning):
    """A message has no translation in the chosen catalog; the English source was used."""


@dataclass(frozen=True)
class Translator:
    """Look-ups in one language's catalog: ``t(context, msgid, **values)``."""

    lang: str
    entries: Mapping[tuple[str, str], str]

    def __call__(self, context: str, msgid: str, **values: str) -> str:
        text = self.entries.get((context, msgid))
        if not text:
            warnings.warn(
                f"no {self.lang} translation of {msgid!r} ({context}); English used",
                MissingTranslation,
                stacklevel=2,
            )
            text = msgid
        # the pattern comes from the catalog; values are inserted, never interpreted
        return text.format(**values) if values else text


def translator(lang: str) -> Translator:
    """The translator for ``lang``, or :class:`LanguageNotAvailable` naming the languages."""
    if lang not in LANGUAGES:
        available = ", ".join(LANGUAGES)
        raise LanguageNotAvailable(
            f"no translation into {lang!r}; available: {available}",
            advice=f"Choose one of: {available}.",
            errors=[
                FieldError(
                    field="lang",
                    rule="language_not_available",
                    message=f"lang must be one of: {available}",
                )
            ],
        )
    return _translator(lang)


@cache
def _translator(lang: str) -> Translator:
    return load(catalog_path(lang), lang)


def load(path: Path, lang: str, domain: str = DOMAIN) -> Translator:
    """The translator of the ``.po`` catalog at ``path``; fuzzy entries count as missing."""
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=lang, domain=domain)
    entries = {
        (message.context or "", str(message.id)): str(message.string)
        for message in catalog
        if message.id and not message.fuzzy
    }
    return Translator(lang, entries)


def catalog_path(lang: str) -> Path:
    return LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(lang: str) -> Catalog:
    with catalog_path(lang).open("rb") as handle:
        return read_po(handle, locale=lang, domain=DOMAIN)


def template() -> Catalog:
    """The catalog template: every message of ``labels.py``, untranslated."""
    catalog = Catalog(domain=DOMAIN, project="Accord", fuzzy=False)
    for message in messages():
        flags = ("python-brace-format",) if "{" in message.msgid else ()
        catalog.add(
            message.msgid,
            context=message.context,
            auto_comments=[message.comment] if message.comment else [],
            flags=flags,
        )
    return catalog


def update() -> None:
    """Write ``accord.pot`` and merge it into every catalog (a developer's tool)."""
    pot = template()
    _write(LOCALES / f"{DOMAIN}.pot", pot)
    for lang in LANGUAGES:
        catalog = read_catalog(lang)
        catalog.update(pot, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        _write(catalog_path(lang), catalog)


def _write(path: Path, catalog: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=100, omit_header=False, sort_output=False)


if __name__ == "__main__":
    update()

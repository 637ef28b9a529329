"""Every interface message is translated in every language; Arabic is right to left; dates
and numbers follow the user's locale."""

from __future__ import annotations

import pytest
from consoles import Browser

from accord.requests.catalogs import MissingTranslation
from accord.web.accounts import LANGUAGES
from accord.web.i18n import Interface, messages, translator


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_is_translated(lang: str) -> None:
    found = translator(lang)
    missing = [m for m in messages() if not found.entries.get(("", m))]
    assert missing == []
    if lang != "en":  # a copy of the English is not a translation
        same = [m for m in messages() if found.entries[("", m)] == m and " " in m]
        assert same == []


def test_a_missing_translation_is_never_silent() -> None:
    with pytest.warns(MissingTranslation):
        assert Interface("fr")("a message nobody wrote") == "a message nobody wrote"


def test_dates_and_numbers_by_locale() -> None:
    moment = 1_796_000_000.0
    assert Interface("ru").number(1234.5) == "1\xa0234,5"
    assert Interface("en").number(1234.5) == "1,234.5"
    assert "2026" in Interface("vi").when(moment)
    assert Interface("fr").when(moment) != Interface("en").when(moment)


def test_each_user_sees_the_console_in_their_language(browser: Browser) -> None:
    browser.login("vu")
    page = browser.get("/console/dashboard").text
    assert '<html lang="vi" dir="ltr">' in page
    assert "Tổng quan" in page
    browser.post("/console/language", {"language": "ar", "next": "/console/dashboard"})
    page = browser.get("/console/dashboard").text
    assert '<html lang="ar" dir="rtl">' in page
    assert "لوحة المعلومات" in page

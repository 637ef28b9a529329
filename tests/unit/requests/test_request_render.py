"""Rendering a request as a printable HTML document in the requested State's language: every
example in every language, translated labels, enumerations and legal references, free text as
written and escaped, the reply with its use limitations, complete catalogs, and the layout in
a real browser (Debian's Chromium, installed by ``.ci/run``): Arabic mirrors English.

``filterwarnings = error`` turns a catalog fallback (MissingTranslation) into a failure, so
every render here also proves its messages were found in the catalog."""

from __future__ import annotations

import json
import re
import shutil
import string
import subprocess
import typing
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from babel.messages.pofile import read_po
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import escape
from pydantic import BaseModel

from accord.errors import LanguageNotAvailable
from accord.requests.catalogs import (
    LANGUAGES,
    LOCALES,
    MissingTranslation,
    Translator,
    read_catalog,
    template,
)
from accord.requests.events import PAYLOADS, Event, Kind, Note, Party, RequestState
from accord.requests.fold import fold, propose
from accord.requests.grounds import RefusalGround
from accord.requests.labels import ENUMS, FIELDS, LITERALS
from accord.requests.machine import WORKFLOW_TYPES, Case
from accord.requests.models import RequestType
from accord.requests.records import MODELS, Request
from accord.requests.render import render
from accord.requests.validate import validate
from conftest import _loaded, registry

if TYPE_CHECKING:
    from conftest import Example

T0 = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)  # in force for VN, RU and ZA
GENERATED = datetime(2027, 2, 2, 9, 30, tzinfo=UTC)
A, B = Party.REQUESTING, Party.REQUESTED
K = Kind
TO_EXECUTION = [(A, K.VALIDATE, {}), (A, K.SUBMIT, {}), (B, K.ACKNOWLEDGE, {}),
                (B, K.BEGIN_ASSESSMENT, {}), (B, K.START_EXECUTION, {})]  # fmt: skip
TO_CONSULTATION = [*TO_EXECUTION[:-1], (B, K.CONSULT, {})]
PARTIES = {"ru-gp-ca": "Генеральная прокуратура Российской Федерации"}
# One free-text field of each type, besides those of the envelope
FREE_TEXT = {
    RequestType.PRESERVATION: "facts_summary",
    RequestType.TRAFFIC_DISCLOSURE: "communication_ref",
    RequestType.MLA: "facts_summary",
    RequestType.MLA_STORED_DATA: "data_location_claim",
    RequestType.MLA_REAL_TIME_TRAFFIC: "period_justification",
    RequestType.MLA_INTERCEPTION: "communications_targeted",
    RequestType.SPONTANEOUS_INFORMATION: "information",
    RequestType.LAW_ENFORCEMENT_EXCHANGE: "subject",
    RequestType.JOINT_INVESTIGATION: "purpose",
    RequestType.EXTRADITION: "offences",
    RequestType.TRANSFER_OF_SENTENCED_PERSONS: "judgment_ref",
}
# Known translations, written here by hand so a broken catalog cannot pass (CLDR dates in ru
# and bg put a narrow no-break space, U+202F, before "г.")
WRITTEN = {
    "en": {"facts": "Summary of the facts", "requested": "Requested State", "art": "Art. {}",
           "traffic": "Traffic data", "mla": "Request for mutual legal assistance",
           "limits": "Use limitations", "executed": "Executed", "not_executed": "Not executed",
           "refused": "Refused", "essential": "Prejudice to sovereignty, security, public order"
           " or other essential interests", "grounds": "Grounds for refusal",
           "refuse_event": "Request refused", "generated": "February 2, 2027",
           "review": "January 31, 2027", "pending": "Until the decision on the follow-up request",
           "country": "Russia (RU)"},
    "ru": {"facts": "Краткое изложение фактов", "requested": "Запрашиваемое государство",
           "art": "Статья {}", "traffic": "Данные о трафике",
           "mla": "Запрос о взаимной правовой помощи", "limits": "Ограничения на использование",
           "executed": "Исполнено", "not_executed": "Не исполнено",
           "refused": "Отказано в исполнении", "essential": "Ущерб суверенитету, безопасности,"
           " публичному порядку или другим жизненно важным интересам",
           "grounds": "Основания для отказа", "refuse_event": "В исполнении запроса отказано",
           "generated": "2 февраля 2027\u202fг.", "review": "31 января 2027\u202fг.",
           "pending": "До принятия решения по последующему запросу", "country": "Россия (RU)"},
    "vi": {"facts": "Tóm tắt các tình tiết", "requested": "Quốc gia được yêu cầu",
           "art": "Điều {}", "traffic": "Dữ liệu lưu lượng", "mla": "Yêu cầu tương trợ tư pháp",
           "limits": "Hạn chế sử dụng", "executed": "Đã thực hiện",
           "not_executed": "Không được thực hiện", "refused": "Bị từ chối",
           "essential": "Phương hại đến chủ quyền, an ninh, trật tự công cộng hoặc các lợi ích"
           " thiết yếu khác", "grounds": "Căn cứ từ chối", "refuse_event": "Yêu cầu bị từ chối",
           "generated": "2 tháng 2, 2027", "review": "31 tháng 1, 2027",
           "pending": "Cho đến khi có quyết định về yêu cầu tiếp theo", "country": "Nga (RU)"},
    "ro": {"facts": "Rezumatul faptelor", "requested": "Statul solicitat", "art": "Articolul {}",
           "traffic": "Date de trafic", "mla": "Cerere de asistență judiciară reciprocă",
           "limits": "Limitări de utilizare", "executed": "Executat",
           "not_executed": "Neexecutat", "refused": "Refuzată",
           "essential": "Atingere adusă suveranității, securității, ordinii publice sau altor"
           " interese esențiale", "grounds": "Motivele de refuz",
           "refuse_event": "Cererea a fost refuzată", "generated": "2 februarie 2027",
           "review": "31 ianuarie 2027", "pending": "Până la decizia privind cererea ulterioară",
           "country": "Rusia (RU)"},
    "bg": {"facts": "Кратко изложение на фактите", "requested": "Замолена държава",
           "art": "Член {}", "traffic": "Данни за трафика", "mla": "Молба за взаимна правна помощ",
           "limits": "Ограничения за използване", "executed": "Изпълнено",
           "not_executed": "Неизпълнено", "refused": "Отказана",
           "essential": "Накърняване на суверенитета, сигурността, обществения ред или други"
           " съществени интереси", "grounds": "Основания за отказ",
           "refuse_event": "Молбата е отказана", "generated": "2 февруари 2027\u202fг.",
           "review": "31 януари 2027\u202fг.", "pending": "До решението по последващата молба",
           "country": "Русия (RU)"},
    "fr": {"facts": "Résumé des faits", "requested": "État requis", "art": "Article {}",
           "traffic": "Données relatives au trafic", "mla": "Demande d'entraide judiciaire",
           "limits": "Limitations d'utilisation", "executed": "Éléments exécutés",
           "not_executed": "Éléments non exécutés", "refused": "Refusée",
           "essential": "Atteinte à la souveraineté, à la sécurité, à l'ordre public ou à"
           " d'autres intérêts essentiels", "grounds": "Motifs de refus",
           "refuse_event": "Demande refusée", "generated": "2 février 2027",
           "review": "31 janvier 2027",
           "pending": "Jusqu'à la décision sur la demande subséquente",
           "country": "Russie (RU)"},
    "es": {"facts": "Resumen de los hechos", "requested": "Estado requerido", "art": "Artículo {}",
           "traffic": "Datos relativos al tráfico",
           "mla": "Solicitud de asistencia judicial recíproca",
           "limits": "Limitaciones de uso", "executed": "Elementos ejecutados",
           "not_executed": "Elementos no ejecutados", "refused": "Denegada",
           "essential": "Menoscabo de la soberanía, la seguridad, el orden público u otros"
           " intereses fundamentales", "grounds": "Motivos de denegación",
           "refuse_event": "Solicitud denegada", "generated": "2 de febrero de 2027",
           "review": "31 de enero de 2027",
           "pending": "Hasta la decisión sobre la solicitud posterior",
           "country": "Rusia (RU)"},
    "zh": {"facts": "事实摘要", "requested": "被请求国", "art": "第{}条", "traffic": "流量数据",
           "mla": "司法协助请求", "limits": "用途限制", "executed": "已执行事项",
           "not_executed": "未执行事项", "refused": "已拒绝",
           "essential": "损害主权、安全、公共秩序或其他基本利益", "grounds": "拒绝理由",
           "refuse_event": "请求被拒绝", "generated": "2027年2月2日", "review": "2027年1月31日",
           "pending": "直至对后续请求作出决定", "country": "俄罗斯 (RU)"},
    "ar": {"facts": "ملخص الوقائع", "requested": "الدولة متلقية الطلب", "art": "المادة {}",
           "traffic": "بيانات الحركة", "mla": "طلب المساعدة القانونية المتبادلة",
           "limits": "قيود الاستخدام", "executed": "ما تم تنفيذه", "not_executed": "ما لم يُنفَّذ",
           "refused": "مرفوض", "essential": "المساس بالسيادة أو الأمن أو النظام العام أو المصالح"
           " الأساسية الأخرى", "grounds": "أسباب الرفض", "refuse_event": "رُفض الطلب",
           "generated": "2 فبراير 2027", "review": "31 يناير 2027",
           "pending": "حتى البت في الطلب اللاحق", "country": "روسيا (RU)"},
}  # fmt: skip
# as they appear in the page (autoescaped: d'entraide is d&#39;entraide)
WORDS = {
    lang: {key: str(escape(text)) for key, text in words.items()} for lang, words in WRITTEN.items()
}
NEW = ("fr", "es", "zh", "ar")  # the languages added with the console (issue 18)


def case(example: Example, kind: RequestType, **changes: Any) -> Case:
    return Case(validate({**example(kind), **changes}), registry())


def run(c: Case, steps: list[tuple[Party, Kind, dict[str, Any]]]) -> list[Event]:
    events: list[Event] = []
    for i, (actor, kind, payload) in enumerate(steps):
        at = T0 + timedelta(hours=i)
        events.append(propose(c, events, actor, kind, at=at, payload=payload))
    return events


def page(c: Case, events: list[Event], lang: str) -> str:
    state = fold(c, events).state if c.request.REQUEST_TYPE in WORKFLOW_TYPES else None
    return render(c.request, state, events, lang=lang, parties=PARTIES, generated_at=GENERATED)


def section(html: str, name: str) -> str:
    start = html.index(f'<section id="{name}">')
    return html[start : html.index("</section>", start)]


def text_of(request: Request, path: str) -> list[str]:
    value: Any = request
    for key in path.split("."):
        value = getattr(value, key)
    return list(value) if isinstance(value, tuple) else [value]


class Balance(HTMLParser):
    """Every element opened is closed, in order (void elements aside)."""

    VOID = frozenset({"meta", "br", "hr", "img", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open.pop() == tag


# Every example, every language ----------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("kind", list(RequestType))
def test_every_example_renders_in_every_language(
    example: Example, kind: RequestType, lang: str
) -> None:
    c = case(example, kind)
    workflow = kind in WORKFLOW_TYPES
    html = page(c, run(c, TO_EXECUTION[:2]) if workflow else [], lang)

    assert html.startswith("<!DOCTYPE html>")
    assert f'<html lang="{lang}" dir="{"rtl" if lang == "ar" else "ltr"}">' in html
    assert '<meta charset="utf-8">' in html
    assert "@media print" in html
    balance = Balance()
    balance.feed(html)
    assert balance.open == []
    # standalone and inert: no scripts, no external resources
    assert not balance.tags & {"script", "link", "img", "iframe", "object"}
    assert not re.search(r"(src|href)=|url\(|@import", html)

    words = WORDS[lang]
    article = c.request.article().removeprefix("Art. ")
    assert words["art"].format(article) in section(html, "request")
    assert f"<h1>{escape(_title(lang, kind))}</h1>" in html
    assert f"<dt>{words['requested']}</dt>" in html
    assert words["country"] in html or c.request.requested_state != "RU"
    for path in ("case_ref", "sending_authority.name", "sending_authority.contact",
                 "authenticity.reference", FREE_TEXT[kind]):  # fmt: skip
        for text in text_of(c.request, path):
            assert str(escape(text)) in html, path
    assert ('<section id="state">' in html) is workflow
    assert ('<section id="timeline">' in html) is workflow


def _title(lang: str, kind: RequestType) -> str:
    catalog = read_catalog(lang)
    message = catalog.get(ENUMS[kind], context="RequestType")
    assert message is not None
    return str(message.string)


@pytest.mark.parametrize("kind", list(RequestType))
def test_every_set_field_is_shown_with_its_label(example: Example, kind: RequestType) -> None:
    c = case(example, kind)
    html = page(c, [], "en")
    given_in_file = c.request.model_fields_set
    assert len(given_in_file) > 12
    for name in given_in_file - {n for n in given_in_file if getattr(c.request, n) == ()}:
        assert f"<dt>{escape(FIELDS[name])}</dt>" in html, name


def test_fields_follow_the_records_order(example: Example) -> None:
    html = section(page(case(example, RequestType.MLA), [], "en"), "particulars")
    labels = re.findall(r"^<dt>(.*)</dt>$", html, re.MULTILINE)
    order = [FIELDS[name] for name in MODELS[RequestType.MLA].model_fields]
    shown = [label for label in labels if label in order]
    assert shown[:3] == ["Requesting authority", "Investigation, prosecution or proceeding",
                         "Summary of the facts"]  # fmt: skip
    assert "Purpose" in shown
    assert shown == sorted(shown, key=order.index)


# Translation ----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_labels_enumerations_and_articles_are_translated(example: Example, lang: str) -> None:
    words = WORDS[lang]
    html = page(case(example, RequestType.PRESERVATION), [], lang)
    assert f"<dt>{words['facts']}</dt>" in html
    assert words["traffic"] in html
    assert words["art"].format(42) in html  # the title's article
    assert words["art"].format(13) in html  # offence_articles
    if lang != "en":
        assert "Summary of the facts" not in html
        assert "Art. 42" not in html
    stored = page(case(example, RequestType.MLA_STORED_DATA), [], lang)
    assert words["mla"] in stored


@pytest.mark.parametrize("lang", LANGUAGES)
def test_dates_are_in_the_locales_format(example: Example, lang: str) -> None:
    html = page(case(example, RequestType.LAW_ENFORCEMENT_EXCHANGE), [], lang)
    assert WORDS[lang]["generated"] in html
    assert WORDS[lang]["review"] in html
    preservation = page(case(example, RequestType.PRESERVATION), [], lang)
    assert "+0700" in preservation  # a time window keeps the offset it was written with


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("ru", "английский (en)"),
        ("vi", "Tiếng Anh (en)"),
        ("bg", "английски (en)"),
        ("fr", "anglais (en)"),
        ("es", "inglés (en)"),
        ("zh", "英语 (en)"),
        ("ar", "الإنجليزية (en)"),
    ],
)
def test_codes_are_named_in_the_chosen_language(example: Example, lang: str, expected: str) -> None:
    html = page(case(example, RequestType.MLA), [], lang)
    assert expected in html
    assert "Генеральная прокуратура Российской Федерации (ru-gp-ca)" in html


def test_legal_bases_other_than_the_convention_are_translated(example: Example) -> None:
    html = page(case(example, RequestType.MLA, legal_basis="UNTOC-18"), [], "ro")
    untoc = "Convenția Organizației Națiunilor Unite împotriva criminalității transnaționale"
    assert f"Articolul 18 din {untoc} organizate" in html
    treaty = "treaty:Договор между РФ и СРВ о правовой помощи <1998>"
    html = page(case(example, RequestType.MLA, legal_basis=treaty), [], "bg")
    assert "Договор: Договор между РФ и СРВ о правовой помощи &lt;1998&gt;" in html


@pytest.mark.parametrize(
    ("lang", "basis", "expected"),
    [
        ("fr", "UNCC-40",
         "Article 40 de la Convention des Nations Unies contre la cybercriminalité"),
        ("es", "UNCC-40",
         "Artículo 40 de la Convención de las Naciones Unidas contra la Ciberdelincuencia"),
        ("zh", "UNCC-40", "《联合国打击网络犯罪公约》第40条"),
        ("ar", "UNCC-40", "المادة 40 من اتفاقية الأمم المتحدة لمكافحة الجريمة السيبرانية"),
        ("es", "UNTOC-18", "Artículo 18 de la Convención de las Naciones Unidas contra la"
         " Delincuencia Organizada Transnacional"),
        ("zh", "UNTOC-18", "《联合国打击跨国有组织犯罪公约》第18条"),
        ("ar", "BC-27", "المادة 27 من الاتفاقية المتعلقة بالجريمة الإلكترونية (اتفاقية بودابست)"),
        ("fr", "SAP-8", "Article 8 du deuxième Protocole additionnel à la Convention sur la"
         " cybercriminalité"),
        ("ar", "reciprocity", "المعاملة بالمثل"),
    ],
)  # fmt: skip
def test_instruments_have_their_official_names(
    example: Example, lang: str, basis: str, expected: str
) -> None:
    html = page(case(example, RequestType.MLA, legal_basis=basis), [], lang)
    assert f'<span class="value">{escape(expected)}</span>' in section(html, "request")


# The languages added with the console: whole documents, direction, numbers ----------------


def _translated_away(lang: str) -> set[str]:
    """The English messages whose translation into ``lang`` differs from the English."""
    return {str(m.id) for m in read_catalog(lang) if m.id and m.string != m.id}


@pytest.mark.parametrize("lang", NEW)
def test_a_preservation_is_wholly_in_the_chosen_language(example: Example, lang: str) -> None:
    """Every label, heading, choice, event and legal reference of a preservation request on
    hold (Art. 42) comes from the language's catalog: no English is left but free text."""
    c = case(example, RequestType.PRESERVATION, related_ids=["vn-2026-0044"])
    hold = {"preserved_at": T0.isoformat(), "hold_until": (T0 + timedelta(days=90)).isoformat()}
    html = page(c, run(c, [*TO_EXECUTION, (B, K.CONFIRM_HOLD, hold)]), lang)

    found = re.findall(r'<(?:h1|h2|dt|th|td|p|p class="[a-z-]+"|span class="value")>([^<]+)<', html)
    shown = {unescape(text) for text in found}
    assert len(shown) > 60
    assert not set(shown) & _translated_away(lang)
    words = WORDS[lang]
    assert f"<dt>{words['facts']}</dt>" in html
    assert words["traffic"] in html
    assert words["country"] in html
    assert words["art"].format(42) in html
    assert words["art"].format(13) in html
    assert words["generated"] in html
    # free text stays as its author wrote it
    assert str(escape(c.request.facts_summary)) in html


def test_arabic_documents_run_right_to_left(example: Example) -> None:
    html = page(case(example, RequestType.PRESERVATION), [], "ar")
    assert html.startswith('<!DOCTYPE html>\n<html lang="ar" dir="rtl">')
    # the layout mirrors: only logical properties, never a physical side
    style = html[html.index("<style>") : html.index("</style>")]
    assert not re.search(r"\b(left|right)\b", style)
    assert "padding-inline-start" in style
    assert "text-align: start" in style
    # free text of unknown direction is isolated; identifiers stay left to right
    assert '<span class="free" lang="en" dir="auto">' in html
    assert '<span class="code" dir="ltr">vn-2026-0042</span>' in html
    for lang in set(LANGUAGES) - {"ar"}:
        assert f'<html lang="{lang}" dir="ltr">' in page(case(example, RequestType.MLA), [], lang)


@pytest.mark.parametrize(
    ("lang", "months"),
    [("en", "1,200"), ("fr", "1\u202f200"), ("es", "1.200"), ("ru", "1\xa0200"),
     ("zh", "1,200"), ("ar", "1,200"), ("vi", "1.200"), ("bg", "1\xa0200")],
)  # fmt: skip
def test_quantities_are_in_the_locales_format(example: Example, lang: str, months: str) -> None:
    c = case(example, RequestType.EXTRADITION, max_penalty_requesting_months=1200)
    assert f'<span class="value">{months}</span>' in page(c, [], lang)
    # a port is an identifier, not a quantity: never grouped
    endpoints = [{"ip": "203.0.113.17", "port": 8080}]
    preservation = page(case(example, RequestType.PRESERVATION, endpoints=endpoints), [], lang)
    assert '<span class="code" dir="ltr">8080</span>' in preservation


# Free text ------------------------------------------------------------------------------


def test_script_in_free_text_is_escaped(example: Example) -> None:
    attack = '<script>alert("x")</script>'
    c = case(example, RequestType.MLA, facts_summary=attack, case_ref='"><img src=x>')
    refusal = {"grounds": ["ESSENTIAL_INTERESTS"], "reasons": attack}
    events = run(c, [*TO_CONSULTATION, (B, K.REFUSE, refusal)])
    html = render(
        c.request,
        fold(c, events).state,
        events,
        lang="ru",
        parties={"ru-gp-ca": attack},
        generated_at=GENERATED,
    )
    assert "<script" not in html
    assert "<img" not in html
    assert html.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") >= 4
    assert "&#34;&gt;&lt;img src=x&gt;" in html


@settings(max_examples=60)
@given(text=st.text(min_size=1, max_size=300).filter(str.strip))
def test_random_free_text_is_present_escaped(text: str) -> None:
    data = {**_loaded(RequestType.MLA), "facts_summary": text, "purpose": text}
    request = validate(data)
    html = render(request, None, (), lang="vi", generated_at=GENERATED)
    assert html.count(f'<span class="free" lang="en" dir="auto">{escape(text)}</span>') >= 2


# State, reply and timeline --------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_outcome_shows_use_limitations_prominently(example: Example, lang: str) -> None:
    c = case(example, RequestType.MLA_STORED_DATA)
    outcome = {
        "executed_items": ["Login records of invest-gold@mail.example"],
        "not_executed_items": ["Content of invest-gold-support@mail.example"],
        "reasons": "The second account was closed in 2025.",
        "use_limitations": ["Only for proceedings VN-C50-2026-117", "No onward transfer"],
        "evidence_packages": ["pkg-2027-001"],
    }
    events = run(c, [*TO_EXECUTION, (B, K.EXECUTE_PARTIALLY, outcome)])
    html = page(c, events, lang)
    words = WORDS[lang]

    reply = section(html, "reply")
    limits = reply[reply.index('<div class="limitations"') : reply.index("</div>")]
    assert f"<h3>{words['limits']}</h3>" in limits
    for text in outcome["use_limitations"]:
        assert f'<span class="free" dir="auto">{text}</span>' in limits
    body = reply[reply.index("</div>") :]
    assert f"<dt>{words['executed']}</dt>" in body
    assert f"<dt>{words['not_executed']}</dt>" in body
    assert "The second account was closed in 2025." in body
    assert "pkg-2027-001" in body
    timeline = section(html, "timeline")
    assert timeline.count("<tr>") == len(events) + 1  # the header row
    assert "Only for proceedings VN-C50-2026-117" in timeline


@pytest.mark.parametrize("lang", LANGUAGES)
def test_refusal_shows_grounds_and_reasons(example: Example, lang: str) -> None:
    c = case(example, RequestType.MLA)
    refusal = {"grounds": ["ESSENTIAL_INTERESTS"], "reasons": "Причины изложены в письме №17."}
    events = run(c, [*TO_CONSULTATION, (B, K.REFUSE, refusal)])
    html = page(c, events, lang)
    words = WORDS[lang]
    state = section(html, "state")
    assert words["refused"] in state
    reply = section(html, "reply")
    assert f"<dt>{words['grounds']}</dt>" in reply
    assert words["essential"] in reply
    assert "Причины изложены в письме №17." in reply
    assert words["refuse_event"] in section(html, "timeline")
    assert 'class="limitations"' not in html


@pytest.mark.parametrize("lang", LANGUAGES)
def test_hold_pending_a_follow_up_has_no_end_date(example: Example, lang: str) -> None:
    c = case(example, RequestType.PRESERVATION, related_ids=["vn-2026-0044"])
    hold = {"preserved_at": T0.isoformat(), "hold_until": (T0 + timedelta(days=90)).isoformat()}
    steps = [*TO_EXECUTION, (B, K.CONFIRM_HOLD, hold),
             (A, K.LINK_FOLLOW_UP, {"follow_up_id": "vn-2026-0044"})]  # fmt: skip
    html = page(c, run(c, steps), lang)
    assert WORDS[lang]["pending"] in section(html, "reply")
    assert "vn-2026-0044" in section(html, "state")


def test_one_way_communication_has_no_state_or_timeline(example: Example) -> None:
    c = case(example, RequestType.SPONTANEOUS_INFORMATION)
    html = render(c.request, None, (), lang="ro", generated_at=GENERATED)
    assert 'class="one-way"' in html
    assert "Comunicare fără procedură de răspuns." in html
    assert "timeline" not in html
    preservation = case(example, RequestType.PRESERVATION).request
    assert 'class="one-way"' not in render(preservation, None, (), lang="ro", generated_at=T0)


def test_state_without_events_says_so(example: Example) -> None:
    c = case(example, RequestType.MLA)
    html = render(
        c.request, RequestState(request_id="vn-2026-0040"), (), lang="bg", generated_at=T0
    )
    assert "Проект" in section(html, "state")  # DRAFT
    assert "Няма регистрирани събития." in section(html, "timeline")


# Languages and catalogs -----------------------------------------------------------------


@pytest.mark.parametrize("lang", ["de", "", "RU", "ru_RU", "../en"])
def test_unknown_language_is_refused(example: Example, lang: str) -> None:
    request = case(example, RequestType.MLA).request
    with pytest.raises(LanguageNotAvailable) as caught:
        render(request, None, (), lang=lang, generated_at=T0)
    error = caught.value
    assert error.code == "language_not_available"
    assert [(e.field, e.rule) for e in error.errors] == [("lang", "language_not_available")]
    for available in LANGUAGES:
        assert available in error.message
        assert available in error.errors[0].message


def test_a_missing_translation_is_never_silent() -> None:
    t = Translator("ru", {("field", "Known"): "Известно"})
    assert t("field", "Known") == "Известно"
    with pytest.warns(MissingTranslation, match="no ru translation of 'Absent'"):
        assert t("field", "Absent") == "Absent"


def _keys(catalog: Any) -> set[tuple[str, str]]:
    return {(m.context or "", str(m.id)) for m in catalog if m.id}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_is_translated_in_every_catalog(lang: str) -> None:
    catalog = read_catalog(lang)
    assert _keys(catalog) == _keys(template())  # nothing missing, nothing extra
    assert not catalog.obsolete
    for message in catalog:
        if not message.id:
            continue
        assert message.string, message.id
        assert not message.fuzzy, message.id
        assert _placeholders(str(message.string)) == _placeholders(str(message.id)), message.id


def test_committed_template_is_current() -> None:
    """``python -m accord.requests.catalogs`` was run after the last change to labels.py."""
    with (LOCALES / "accord.pot").open("rb") as handle:
        assert _keys(read_po(handle)) == _keys(template())


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("lang", ["ru", "bg"])
def test_cyrillic_catalogs_are_in_cyrillic(lang: str) -> None:
    for message in read_catalog(lang):
        if message.id:
            assert re.search("[а-яА-Я]", str(message.string)), message.id


@pytest.mark.parametrize(
    ("lang", "same_as_english", "letters", "share"),
    [
        ("vi", {"INTERPOL"}, "ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ", 2),
        ("ro", {"INTERPOL", "Port", "Normal", "Urgent", "Modus operandi"}, "ăâîșț", 2),
        ("fr", {"INTERPOL", "Port", "Date", "Note", "Conditions", "Justification"},
         "éèêëàâçîïôûùœ", 2),
        ("es", {"INTERPOL", "Modus operandi", "No"}, "áéíóúñü", 3),
    ],
)  # fmt: skip
def test_latin_catalogs_are_translated_with_diacritics(
    lang: str, same_as_english: set[str], letters: str, share: int
) -> None:
    messages = [m for m in read_catalog(lang) if m.id]
    assert {str(m.id) for m in messages if m.string == m.id} <= same_as_english
    with_diacritics = [m for m in messages if set(str(m.string).lower()) & set(letters)]
    assert len(with_diacritics) > len(messages) // share


@pytest.mark.parametrize(
    ("lang", "script"),
    [("zh", "[\u4e00-\u9fff]"), ("ar", "[\u0621-\u064a]")],
)
def test_chinese_and_arabic_catalogs_are_in_their_script(lang: str, script: str) -> None:
    for message in read_catalog(lang):
        if message.id:
            assert re.search(script, str(message.string)), message.id
            # Latin is left only in codes and acronyms (A:, JWS, IP, 24/7), never in words
            latin = re.findall("[A-Za-z]{2,}", re.sub("{[a-z]+}", "", str(message.string)))
            assert set(latin) <= {"JWS", "IP"}, message.id


def test_every_field_enumeration_and_literal_has_a_message() -> None:
    """The renderer looks labels up by field name and value: none may be missing."""
    fields, enums, literals = _vocabulary()
    assert fields <= set(FIELDS)
    assert enums <= set(ENUMS)
    assert literals <= set(LITERALS)


def _vocabulary() -> tuple[set[str], set[StrEnum], set[tuple[str, str]]]:
    fields: set[str] = set()
    enums: set[StrEnum] = set(RefusalGround) | set(Kind) | set(Party)
    literals: set[tuple[str, str]] = set()
    models: list[type[BaseModel]] = [*MODELS.values(), RequestState, *PAYLOADS.values(), Note]
    seen: set[type[BaseModel]] = set()
    while models:
        model = models.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            fields.add(name)
            for part in _parts(info.annotation):
                if isinstance(part, type) and issubclass(part, BaseModel):
                    models.append(part)
                elif isinstance(part, type) and issubclass(part, StrEnum):
                    enums |= set(part)
                elif isinstance(part, str) and name != "type":
                    literals.add((f"{model.__name__}.{name}", part))
    return fields, enums, literals


def _parts(annotation: Any) -> list[Any]:
    parts, stack = [], [annotation]
    while stack:
        item = stack.pop()
        parts.append(item)
        stack.extend(typing.get_args(item))
    return parts


# In a browser ---------------------------------------------------------------------------

# The page has no script; this probe is added to a copy and reports where things landed
PROBE = """<script>
const box = (selector) => document.querySelector(selector).getBoundingClientRect();
const text = (selector) => {
  const range = document.createRange();
  range.selectNodeContents(document.querySelector(selector));
  return range.getBoundingClientRect();
};
const columns = document.querySelectorAll("#timeline th");
const nested = getComputedStyle(document.querySelector("#request dd dl"));
document.body.dataset.layout = JSON.stringify({
  direction: getComputedStyle(document.documentElement).direction,
  label: box("#request dt").left, value: box("#request dd").left,
  title_start: text("h1").left, title_end: text("h1").right,
  heading_start: box("h1").left, heading_end: box("h1").right,
  first_column: columns[0].getBoundingClientRect().left,
  last_column: columns[columns.length - 1].getBoundingClientRect().left,
  rule_left: nested.borderLeftWidth, rule_right: nested.borderRightWidth,
});
</script>"""


def layout(html: str, folder: Path) -> dict[str, Any]:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed: .ci/run installs it (apt-get install chromium)"
    page = folder / "request.html"
    page.write_text(html.replace("</body>", f"{PROBE}\n</body>"), encoding="utf-8")
    command = [
        chromium,
        "--headless",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-gpu",
        f"--user-data-dir={folder / 'profile'}",
        "--window-size=1200,900",
        "--dump-dom",
        page.as_uri(),
    ]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    found = re.search(r'data-layout="([^"]*)"', dom)
    assert found, dom[-2000:]
    measured: dict[str, Any] = json.loads(unescape(found.group(1)))
    return measured


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_the_document_is_laid_out_in_its_languages_direction(
    example: Example, lang: str, tmp_path: Path
) -> None:
    c = case(example, RequestType.PRESERVATION)
    hold = {"preserved_at": T0.isoformat(), "hold_until": (T0 + timedelta(days=90)).isoformat()}
    measured = layout(page(c, run(c, [*TO_EXECUTION, (B, K.CONFIRM_HOLD, hold)]), lang), tmp_path)
    rtl = lang == "ar"
    assert measured["direction"] == ("rtl" if rtl else "ltr")
    # a label and its value: the label comes first in reading order
    assert (measured["label"] > measured["value"]) is rtl
    # the title starts at the heading's start edge
    if rtl:
        assert measured["title_end"] == pytest.approx(measured["heading_end"], abs=1)
        assert measured["title_start"] > measured["heading_start"] + 50
    else:
        assert measured["title_start"] == pytest.approx(measured["heading_start"], abs=1)
        assert measured["title_end"] < measured["heading_end"] - 50
    # the timeline's first column (time) is on the start side
    assert (measured["first_column"] > measured["last_column"]) is rtl
    # a nested record's rule is on its start side
    start, end = ("rule_right", "rule_left") if rtl else ("rule_left", "rule_right")
    assert (measured[start], measured[end]) == ("2px", "0px")

"""Validation of a request record: every problem at once, each with its field, rule and article.

``validate`` turns a mapping (from ``load`` or an API body) into a typed record or raises
:class:`~accord.errors.RequestInvalid` listing every broken rule; nothing is stored or sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from accord import documents
from accord.errors import FieldError, RequestFileInvalid, RequestInvalid
from accord.requests.models import Envelope, RequestType, problem
from accord.requests.records import MODELS, Request

MAX_REQUEST_BYTES = 1024 * 1024  # a request is text: 1 MiB leaves room for long fact summaries
ADVICE = "Correct each field listed, then validate the file again."

# pydantic error types -> the rule names Accord's error shape promises to keep stable
_RULES = {
    "missing": "required",
    "extra_forbidden": "unknown_field",
    "literal_error": "invalid_choice",
    "enum": "invalid_choice",
    "too_short": "too_few",
    "too_long": "too_many",
    "string_too_long": "too_long",
    "greater_than_equal": "out_of_range",
    "less_than_equal": "out_of_range",
    "timezone_aware": "timezone_required",
}


def validate(data: Mapping[str, Any]) -> Request:
    """The typed record for ``data``, or :class:`RequestInvalid` with every problem."""
    model = _model_for(data)
    try:
        return cast(Request, model.model_validate(dict(data)))
    except ValidationError as exc:
        errors = _field_errors(exc, model, data)
    raise RequestInvalid(
        f"the {model.REQUEST_TYPE} request has {len(errors)} problem(s)",
        advice=ADVICE,
        errors=errors,
    )


def _model_for(data: Mapping[str, Any]) -> type[Envelope]:
    kind = data.get("type")
    if isinstance(kind, str) and kind in set(RequestType):  # {"type": []} is not a type
        return MODELS[RequestType(kind)]
    allowed = ", ".join(RequestType)
    rule, text = ("required", "type is required") if kind is None else ("invalid_choice", "")
    text = text or f"type must be one of: {allowed}"
    error = FieldError(field="type", rule=rule, message=f"{text}; one of: {allowed}")
    raise RequestInvalid("the request has no known type", advice=ADVICE, errors=[error])


def _field_errors(
    exc: ValidationError, model: type[Envelope], data: Mapping[str, Any]
) -> list[FieldError]:
    errors: list[FieldError] = []
    rules_checked = False
    details = exc.errors()
    for detail in details:
        if _follows_from_items(detail, details):
            continue
        if detail["type"] == "accord_rules":
            errors += detail.get("ctx", {})["errors"]
            rules_checked = True
        else:
            errors.append(_translate(detail, model.article()))
    if not rules_checked:
        # fields are broken, so the model's own cross-field check never ran: run it on the raw
        # mapping so the user sees conditional problems in the same answer
        errors += model.rules(data)
    return _unique(errors)


def _follows_from_items(detail: ErrorDetails, details: list[ErrorDetails]) -> bool:
    """pydantic adds "at least 1 item after validation, not 0" when a list's only items are
    invalid; the items' own errors say it better."""
    loc = detail["loc"]
    return detail["type"] == "too_short" and any(
        other["loc"][: len(loc)] == loc and len(other["loc"]) > len(loc) for other in details
    )


def _translate(detail: ErrorDetails, article: str) -> FieldError:
    field = _dotted(detail["loc"])
    kind = detail["type"]
    rule = _RULES.get(kind, kind)
    if kind.endswith(("_type", "_parsing")) or kind.startswith(("datetime_", "date_")):
        rule = "wrong_type"

    if kind == "missing":
        return problem(field, rule, f"{field} is required", article)
    if kind == "extra_forbidden":
        return problem(field, rule, f"{field} is not a field of this request type", article)
    return problem(field, rule, f"{field}: {detail['msg'].removeprefix('Value error, ')}", article)


def _dotted(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text or "request"


def _unique(errors: list[FieldError]) -> list[FieldError]:
    return list(dict.fromkeys(errors))


# Files -------------------------------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    """The mapping in a TOML or JSON request file, or :class:`RequestFileInvalid` saying why."""
    return documents.load(
        path, what="request", max_bytes=MAX_REQUEST_BYTES, error=RequestFileInvalid
    )

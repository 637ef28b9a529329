"""HTML forms made from the requests domain's own models: a composer for every request type
and a form for every move's payload. The form only collects text; the requests domain's
validation (``requests.validate``, ``machine.payload``) decides, and the page shows every
problem it finds at once, each with its field, rule and article.
"""

from __future__ import annotations

import json
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import AwareDatetime, BaseModel
from pydantic.fields import FieldInfo

from accord.errors import FieldError

Kind = Literal["text", "textarea", "lines", "choice", "choices", "yesno", "number", "json"]
# made by the node, or fixed by the page (the addressee is the participant chosen to send to)
SKIPPED = frozenset({"message_id", "type", "receiving_authority"})
MOMENT = "2026-12-04T09:00:00+00:00"
LONG = ("summary", "description", "necessity", "relationship", "reasons", "note", "grounds")


@dataclass(frozen=True)
class Spec:
    name: str  # dotted: sending_authority.name
    kind: Kind
    required: bool
    choices: tuple[str, ...] = ()
    hint: str = ""  # the expected shape: a date, one item per line, JSON


def specs(model: type[BaseModel]) -> list[Spec]:
    """The fields of ``model`` as form fields, nested models flattened into dotted names."""
    result: list[Spec] = []
    for name, info in model.model_fields.items():
        if name in SKIPPED:
            continue
        annotation, optional = _unwrapped(info.annotation)
        required = info.is_required() and not optional
        if _is_model(annotation):
            for sub in specs(annotation):
                result.append(_renamed(sub, f"{name}.{sub.name}", required and sub.required))
        else:
            result.append(_spec(name, annotation, info, required))
    return result


def parse(
    fields: Sequence[Spec], form: Mapping[str, list[str]]
) -> tuple[dict[str, Any], list[FieldError]]:
    """The record a filled form describes (empty fields left out, so the domain's validation
    names each missing one) and the problems of shape found while reading it."""
    data: dict[str, Any] = {}
    problems: list[FieldError] = []
    for spec in fields:
        given = [value for value in form.get(spec.name, []) if value.strip()]
        if not given:
            if spec.required and spec.kind in ("lines", "choices"):
                _put(data, spec.name, [])  # an empty list is an answer; the rules judge it
            continue
        try:
            value = _value(spec, given)
        except ValueError as exc:
            problems.append(FieldError(spec.name, "wrong_type", f"{spec.name}: {exc}"))
            continue
        _put(data, spec.name, value)
    return data, problems


def flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, list[str]]:
    """A record as the form's values, to show a form again as it was filled."""
    values: dict[str, list[str]] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            values |= flat(value, f"{name}.")
        elif isinstance(value, list | tuple):
            simple = all(isinstance(item, str | int | float) for item in value)
            values[name] = [str(v) for v in value] if simple else [json.dumps(value)]
        elif isinstance(value, bool):
            values[name] = ["true" if value else "false"]
        else:
            values[name] = [str(value)]
    return values


# Helpers ------------------------------------------------------------------------------------


def _spec(name: str, annotation: Any, info: FieldInfo, required: bool) -> Spec:  # noqa: PLR0911 - one answer per kind of field
    origin = get_origin(annotation)
    if origin is tuple or origin is list:
        item, _ = _unwrapped(get_args(annotation)[0])
        if _is_model(item):
            return Spec(name, "json", required, hint="JSON list")
        if isinstance(item, type) and issubclass(item, Enum):
            return Spec(name, "choices", required, tuple(str(m.value) for m in item))
        return Spec(name, "lines", required, hint="one per line")
    if origin is Literal:
        values = get_args(annotation)
        if all(isinstance(v, bool) for v in values):
            return Spec(name, "yesno", required, tuple("true" if v else "false" for v in values))
        return Spec(name, "choice", required, tuple(str(getattr(v, "value", v)) for v in values))
    if annotation is AwareDatetime:
        return Spec(name, "text", required, hint=MOMENT)
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return Spec(name, "choice", required, tuple(str(m.value) for m in annotation))
        if issubclass(annotation, bool):
            return Spec(name, "yesno", required, ("true", "false"))
        if issubclass(annotation, int):
            return Spec(name, "number", required)
        if issubclass(annotation, datetime):
            return Spec(name, "text", required, hint=MOMENT)
        if issubclass(annotation, date):
            return Spec(name, "text", required, hint="2026-12-04")
    long = any(part in name for part in LONG)
    return Spec(name, "textarea" if long else "text", required)


def _value(spec: Spec, given: list[str]) -> Any:
    match spec.kind:
        case "lines":
            items = [line.strip() for text in given for line in text.splitlines() if line.strip()]
            return [int(item) if item.isdigit() else item for item in items]
        case "choices":
            return given
        case "yesno":
            return given[0] == "true"
        case "number":
            if not given[0].strip().lstrip("-").isdigit():
                raise ValueError("a whole number")
            return int(given[0])
        case "json":
            try:
                return json.loads(given[0])
            except json.JSONDecodeError as exc:
                raise ValueError(f"not JSON ({exc.msg})") from exc
        case _:
            return given[0].strip()


def _put(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        data = data.setdefault(part, {})
    data[last] = value


def _unwrapped(annotation: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); Annotated[...] and other types unchanged."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrapped(args[0])[0], True
    metadata = getattr(annotation, "__metadata__", None)
    if metadata is not None:
        return _unwrapped(get_args(annotation)[0])
    return annotation, False


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _renamed(spec: Spec, name: str, required: bool) -> Spec:
    return Spec(name, spec.kind, required, spec.choices, spec.hint)

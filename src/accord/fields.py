"""Field types the records of every domain share: short text, countries, languages,
participant ids, and the strict record base (frozen, unknown fields refused).

Each check raises a pydantic custom error whose type is the rule name Accord's error shape
reports (``format``, ``blank``), so a broken field reads the same in every domain.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from accord.names import COUNTRY, LANGUAGE, SLUG


def not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must not be blank")
    return value


def matching(regex: re.Pattern[str], rule: str, what: str) -> AfterValidator:
    """A check that the whole value matches ``regex``, else rule ``rule`` saying ``what``."""

    def check(value: str) -> str:
        if not regex.match(value):
            raise PydanticCustomError(rule, what)
        return value

    return AfterValidator(check)


Text = Annotated[str, Field(max_length=1000), AfterValidator(not_blank)]
Country = Annotated[
    str, matching(COUNTRY, "format", "must be an ISO 3166-1 alpha-2 code such as VN")
]
Language = Annotated[str, matching(LANGUAGE, "format", "must be a language code such as ru")]
ParticipantId = Annotated[
    str, matching(SLUG, "format", "must be a participant id such as ru-gp-ca")
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

"""Injectable time. Every deadline, expiry and window check takes ``now`` from a Clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock for tests: stands still until moved."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._at = at

    def now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta) -> None:
        self._at += delta


def to_rfc3339(moment: datetime) -> str:
    """UTC, microsecond precision, ``Z`` suffix: one textual form for every timestamp we sign."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


MAX_TIMESTAMP_CHARS = 40  # 2026-11-24T09:00:00.000000+00:00 is 32


def from_rfc3339(text: str) -> datetime:
    """Parse a timestamp written by :func:`to_rfc3339` (or any ISO 8601 form with an offset);
    ValueError for anything else, including times whose UTC form falls outside years 1 to 9999
    (``0001-01-01T00:00:00+01:00``), which ``astimezone`` cannot represent."""
    if not isinstance(text, str) or len(text) > MAX_TIMESTAMP_CHARS:
        raise ValueError(f"timestamp {str(text)[:MAX_TIMESTAMP_CHARS]!r}… is not RFC 3339")
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no timezone offset")
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"timestamp {text!r} is outside years 1 to 9999 in UTC") from exc

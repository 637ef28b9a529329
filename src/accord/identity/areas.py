"""Areas of interest an early-warning participant declares in its card and the stewards
publish in the directory: CAP 1.2 polygons, circles and geocodes (pure syntax; the geometry
lives in ``accord.alerts.geo``).

The shapes are written as CAP 1.2 writes them (§3.2.4), so an area of interest and an alert's
area read the same: a polygon is a whitespace-separated list of ``lat,lon`` WGS 84 pairs, at
least four, the first and last the same; a circle is a ``lat,lon`` pair, a space and a radius
in kilometres.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Point = tuple[float, float]  # (latitude, longitude), WGS 84 (CAP 1.2 §3.3.1)

_NUMBER = r"[-+]?\d{1,3}(?:\.\d+)?"
_PAIR = re.compile(rf"^({_NUMBER}),({_NUMBER})$")
_RADIUS = re.compile(r"^\d+(?:\.\d+)?$")
MAX_POINTS = 10_000  # per polygon: a national border is a few thousand points
MAX_SHAPE_CHARS = 400_000


def parse_point(text: str) -> Point:
    """A ``lat,lon`` pair in WGS 84 degrees; ValueError saying what is wrong."""
    match = _PAIR.match(text)
    if match is None:
        raise ValueError(f"{text[:40]!r} is not a 'latitude,longitude' pair of decimal numbers")
    lat, lon = float(match.group(1)), float(match.group(2))
    if not -90 <= lat <= 90:
        raise ValueError(f"latitude {match.group(1)} is outside -90..90 (WGS 84)")
    if not -180 <= lon <= 180:
        raise ValueError(f"longitude {match.group(2)} is outside -180..180 (WGS 84)")
    return lat, lon


def parse_polygon(text: str) -> tuple[Point, ...]:
    """The points of a CAP polygon; ValueError naming the rule of CAP 1.2 §3.2.4 it breaks."""
    if len(text) > MAX_SHAPE_CHARS:
        raise ValueError(f"a polygon is limited to {MAX_SHAPE_CHARS} characters here")
    pairs = text.split()
    if len(pairs) > MAX_POINTS:
        raise ValueError(f"a polygon is limited to {MAX_POINTS} points here")
    points = tuple(parse_point(pair) for pair in pairs)
    # CAP 1.2 §3.2.4 polygon: "A minimum of 4 coordinate pairs MUST be present"
    if len(points) < 4:
        raise ValueError(f"a polygon needs at least 4 coordinate pairs, this one has {len(points)}")
    # CAP 1.2 §3.2.4 polygon: "the first and last pairs of coordinates MUST be the same"
    if points[0] != points[-1]:
        raise ValueError(
            f"a polygon must be closed: its first pair {pairs[0]} and last pair {pairs[-1]} differ"
        )
    return points


def parse_circle(text: str) -> tuple[Point, float]:
    """The centre and radius (km) of a CAP circle; ValueError naming the CAP 1.2 §3.2.4 rule."""
    parts = text.split(" ")
    # CAP 1.2 §3.2.4 circle: "a central point ... followed by a space character and a radius"
    if len(parts) != 2 or not _RADIUS.match(parts[1]):
        raise ValueError(
            f"{text[:60]!r} is not a circle: 'latitude,longitude radius' with the radius in "
            "kilometres after one space"
        )
    return parse_point(parts[0]), float(parts[1])


class Geocode(BaseModel):
    """A CAP 1.2 §3.2.4 geocode: a code system (``valueName``) and a code in it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value_name: str = Field(min_length=1, max_length=100, pattern=r"^\S(?:.*\S)?$")
    value: str = Field(min_length=1, max_length=200, pattern=r"^\S(?:.*\S)?$")


class AreaOfInterest(BaseModel):
    """A named area a participant wants alerts about (at least one shape or geocode)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    polygons: tuple[str, ...] = Field(default=(), max_length=100)
    circles: tuple[str, ...] = Field(default=(), max_length=100)
    geocodes: tuple[Geocode, ...] = Field(default=(), max_length=1000)

    @field_validator("polygons")
    @classmethod
    def _polygons(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for index, polygon in enumerate(value):
            try:
                parse_polygon(polygon)
            except ValueError as exc:
                raise ValueError(f"polygons[{index}]: {exc} (CAP 1.2 §3.2.4)") from None
        return value

    @field_validator("circles")
    @classmethod
    def _circles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for index, circle in enumerate(value):
            try:
                parse_circle(circle)
            except ValueError as exc:
                raise ValueError(f"circles[{index}]: {exc} (CAP 1.2 §3.2.4)") from None
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> AreaOfInterest:
        if not (self.polygons or self.circles or self.geocodes):
            raise ValueError(f"area {self.name!r} needs at least one polygon, circle or geocode")
        return self

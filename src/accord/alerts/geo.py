"""Where an alert and a participant's areas of interest meet (shapely, WGS 84 degrees).

CAP writes ``lat,lon`` (CAP 1.2 §3.2.4); shapely works in ``(x, y) = (lon, lat)``. Circles are
drawn on the sphere (64 points at the radius's great-circle distance), a radius of 0 is the
point itself, and a shape that crosses the antimeridian (a span of more than 180° of
longitude, as around Chukotka or Fiji) is cut in two along it, so both halves meet what they
should. Invalid rings (a bow tie) are repaired with ``make_valid`` rather than refused: an
alert's area is the sender's to draw.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import shapely
from shapely import affinity
from shapely.geometry import Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from accord.alerts.models import Alert, Area
from accord.identity.areas import AreaOfInterest, parse_circle, parse_polygon

EARTH_RADIUS_KM = 6371.0088  # the IUGG mean radius
CIRCLE_POINTS = 64
_WEST, _EAST = box(-180, -90, 180, 90), box(180, -90, 540, 90)


@dataclass(frozen=True)
class Overlap:
    """Why an alert concerns an area of interest."""

    interest: str  # the participant's area name
    alert_area: str  # the alert's areaDesc
    how: str  # "shapes intersect" or "geocode SAME=006109"


def shape_of_polygon(text: str) -> list[BaseGeometry]:
    ring = [(lon, lat) for lat, lon in parse_polygon(text)]
    return _on_the_map(ring)


def shape_of_circle(text: str) -> list[BaseGeometry]:
    (lat, lon), radius = parse_circle(text)
    if radius == 0:
        return [Point(lon, lat)]
    ring = [_destination(lat, lon, radius, 360 * k / CIRCLE_POINTS) for k in range(CIRCLE_POINTS)]
    ring.append(ring[0])
    return _on_the_map(ring)


def _destination(lat: float, lon: float, km: float, bearing: float) -> tuple[float, float]:
    """The point ``km`` from (lat, lon) along ``bearing`` on the sphere, as (lon, lat)."""
    phi, lam, theta = math.radians(lat), math.radians(lon), math.radians(bearing)
    delta = km / EARTH_RADIUS_KM
    phi2 = math.asin(
        math.sin(phi) * math.cos(delta) + math.cos(phi) * math.sin(delta) * math.cos(theta)
    )
    lam2 = lam + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi),
        math.cos(delta) - math.sin(phi) * math.sin(phi2),
    )
    return (math.degrees(lam2) + 540) % 360 - 180, math.degrees(phi2)


def _on_the_map(ring: Sequence[tuple[float, float]]) -> list[BaseGeometry]:
    """The ring as shapes within -180..180, cut along the antimeridian if it crosses it."""
    longitudes = [lon for lon, _lat in ring]
    if max(longitudes) - min(longitudes) <= 180:
        return [shapely.make_valid(Polygon(ring))]
    unwrapped = shapely.make_valid(
        Polygon([(lon + 360 if lon < 0 else lon, lat) for lon, lat in ring])
    )
    west = unwrapped.intersection(_WEST)
    east = affinity.translate(unwrapped.intersection(_EAST), xoff=-360)
    return [part for part in (west, east) if not part.is_empty]


def alert_area_shapes(area: Area) -> list[BaseGeometry]:
    shapes = [s for text in area.polygons for s in shape_of_polygon(text)]
    return shapes + [s for text in area.circles for s in shape_of_circle(text)]


def interest_shapes(interest: AreaOfInterest) -> list[BaseGeometry]:
    shapes = [s for text in interest.polygons for s in shape_of_polygon(text)]
    return shapes + [s for text in interest.circles for s in shape_of_circle(text)]


def has_location(alert: Alert) -> bool:
    """Whether any area of the alert has a polygon, circle or geocode to match against."""
    return any(
        area.polygons or area.circles or area.geocodes
        for info in alert.infos
        for area in info.areas
    )


def overlaps(alert: Alert, interests: Iterable[AreaOfInterest]) -> list[Overlap]:
    """Every (area of interest, alert area) pair that meets, by shape or by geocode."""
    found = []
    for interest in interests:
        mine = interest_shapes(interest)
        codes = {(g.value_name, g.value) for g in interest.geocodes}
        for area in _areas(alert):
            how = _meet(mine, codes, area)
            if how is not None:
                found.append(Overlap(interest.name, area.area_desc, how))
    return found


def _areas(alert: Alert) -> list[Area]:
    seen: list[Area] = []
    for info in alert.infos:  # the same area in every language is one area
        seen += [area for area in info.areas if area not in seen]
    return seen


def _meet(mine: list[BaseGeometry], codes: set[tuple[str, str]], area: Area) -> str | None:
    shared = [g for g in area.geocodes if (g.value_name, g.value) in codes]
    if shared:
        return "geocode " + ", ".join(f"{g.value_name}={g.value}" for g in shared)
    theirs = alert_area_shapes(area)
    if any(a.intersects(b) for a in mine for b in theirs):
        return "shapes intersect"
    return None

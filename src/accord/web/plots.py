"""Server-rendered SVG plots (no script, no library): turnaround per partner State and request
type, and delivery latency per day, each as a box from the first to the third quartile, the
median marked, whiskers to the fastest and the slowest."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

DAY = 86_400.0
ROW, LABEL, WIDTH, TOP = 28, 260, 720, 30


@dataclass(frozen=True)
class Spread:
    partner: str  # or the day, for delivery latency
    type: str
    count: int
    low: float  # in the plot's unit
    q1: float
    median: float
    q3: float
    high: float


def spreads(samples: Iterable[tuple[str, str, float]], unit: float = DAY) -> list[Spread]:
    """One spread per (partner, type), from (partner, type, seconds) samples, in ``unit``
    seconds (days by default)."""
    groups: dict[tuple[str, str], list[float]] = {}
    for partner, kind, seconds in samples:
        groups.setdefault((partner, kind), []).append(seconds / unit)
    result = []
    for (partner, kind), days in sorted(groups.items()):
        days.sort()
        q1, median, q3 = statistics.quantiles(days, n=4) if len(days) > 1 else days * 3
        result.append(Spread(partner, kind, len(days), days[0], q1, median, q3, days[-1]))
    return result


def spread_svg(rows: list[Spread], title: str, unit: str) -> str:
    """The plot as an SVG document; ``title`` and ``unit`` are already translated."""
    height = TOP + ROW * max(len(rows), 1) + 30
    scale = max((row.high for row in rows), default=1.0) or 1.0
    span = WIDTH - LABEL - 20

    def x(days: float) -> float:
        return LABEL + span * days / scale

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {height}">',
        f"<title>{escape(title)}</title>",
        f'<text x="10" y="18" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    for n, row in enumerate(rows):
        y = TOP + n * ROW
        mid = y + ROW / 2
        named = f"{row.partner} · {row.type}" if row.type else row.partner
        label = f"{named} (n={row.count})"
        parts += [
            f'<text x="10" y="{mid + 4:.1f}" font-size="12">{escape(label)}</text>',
            f'<line x1="{x(row.low):.1f}" x2="{x(row.high):.1f}" y1="{mid:.1f}" '
            f'y2="{mid:.1f}" stroke="#555"/>',
            f'<rect x="{x(row.q1):.1f}" y="{y + 6}" width="{max(x(row.q3) - x(row.q1), 1):.1f}"'
            f' height="{ROW - 12}" fill="#9cc3e6" stroke="#1f4e79"/>',
            f'<line x1="{x(row.median):.1f}" x2="{x(row.median):.1f}" y1="{y + 4}" '
            f'y2="{y + ROW - 4}" stroke="#000" stroke-width="2"/>',
        ]
    axis = TOP + ROW * max(len(rows), 1) + 16
    parts.append(
        f'<text x="{LABEL}" y="{axis}" font-size="12">0 - {scale:.1f} {escape(unit)}</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)

"""Records the intel domain's modules share."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reader:
    """Who reads: a participant (signed request) or a local tool (API token)."""

    id: str  # participant id, or "token:NAME"
    participant: bool
    red: bool = False  # a token allowed TLP:RED
    read: tuple[str, ...] = ()  # a token's collections ("*": all)
    write: tuple[str, ...] = ()

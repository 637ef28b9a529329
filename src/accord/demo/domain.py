"""The demo as a domain (ADR 0012): ``accord demo`` only; it serves nothing itself."""

from __future__ import annotations

from accord.demo.cli import register
from accord.federation.domain import Domain

DOMAIN = Domain("demo", commands=register)

"""Alerts as a domain (ADR 0012, ADR 0013): the CAP messages and exercise announcements it
stores, the operator API and the public Atom feed, the workers that send exercise injects
when due and pull subscribed feeds, and ``accord alert`` / ``accord exercise``."""

from __future__ import annotations

import typer

from accord.alerts import api, cli
from accord.alerts.drills import Drills
from accord.alerts.inbound import Inbound
from accord.alerts.ingest import Feeds
from accord.alerts.service import Alerts
from accord.federation.domain import Domain, Plugged, Serving, Worker


def _commands(root: typer.Typer) -> None:
    root.add_typer(cli.app, name="alert")
    root.add_typer(cli.exercise_app, name="exercise")


def _serve(serving: Serving) -> Plugged:
    alerts = Alerts(serving.federation)
    drills = Drills(alerts)
    subscriptions = Feeds(alerts)
    _ = alerts.node.operator_token  # made at start, so the operator can read it from the folder
    workers: list[Worker] = []
    if serving.deliver:  # both send to other nodes
        workers += [drills.run, subscriptions.run]
    return Plugged(
        routes=api.routes(alerts, drills, subscriptions),
        handlers={**Inbound(alerts).handlers(), **drills.handlers()},
        workers=workers,
    )


DOMAIN = Domain("alerts", commands=_commands, serve=_serve)

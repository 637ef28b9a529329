"""``accord demo``: the main job, a federation of five nodes on loopback."""

from __future__ import annotations

import contextlib
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from accord.cli.common import console
from accord.demo import scenario
from accord.demo.cases import Cases
from accord.demo.federation import LocalFederation


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        keep: Annotated[
            bool, typer.Option(help="Leave the nodes running and print their URLs.")
        ] = False,
        root: Annotated[
            Path | None, typer.Option(help="Create the nodes here (default: a temp folder).")
        ] = None,
    ) -> None:
        """Start Viet Nam, Russian Federation and South Africa nodes (and Viet Nam's health
        agency) on loopback, exchange
        one-to-one and group messages, run an online-fraud case's cooperation requests
        (preservation, follow-up MLA, extradition), send the MLA's evidence as a sealed package,
        warn the ASEAN-Russia group of an epidemic (CAP 1.2, updated then cancelled), run a
        flood exercise with its after-action report, share the Vietnamese CERT's TLP:AMBER
        fraud campaign with the group (a sighting comes back; passing it on outside the
        audience is refused), and print the timeline. Exits 0 when every message was
        delivered, every receipt verified, both sides of every request agree, the package
        arrived, was opened and could not be passed on without authorisation, the alerts
        and the exercise went as planned, and the campaign reached only its audience."""
        with contextlib.ExitStack() as stack:
            if root is None:
                root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="accord-")))
            console.print(
                f"Creating {len(scenario.SPECS)} nodes and a signed directory in {root} …"
            )
            federation = scenario.create(root)
            federation.start()
            stack.callback(federation.stop)
            for node in federation.nodes.values():
                console.print(
                    f"  {node.spec.id:<12} {node.spec.country}  {node.url}  {node.spec.name}"
                )
            outcome = scenario.run(federation)
            _print(outcome)
            if keep:
                _print_keep(federation)
                with contextlib.suppress(KeyboardInterrupt):
                    while True:
                        time.sleep(3600)
        if not outcome.ok:
            raise typer.Exit(code=1)


def _print_keep(federation: LocalFederation) -> None:
    any_node = next(iter(federation.nodes.values()))
    console.print("\nThe nodes keep running; Ctrl-C stops them. To use one from another shell:")
    console.print(f"  export ACCORD_PASSPHRASE='{any_node.env['ACCORD_PASSPHRASE']}'")
    for node in federation.nodes.values():
        console.print(f"  uv run accord inbox --dir {node.home}    # {node.url}")


def _print_cases(cases: Cases) -> None:
    console.print("\n[bold]Cooperation requests[/] (each state change, as each node stored it)")
    for step in cases.steps:
        stamp = datetime.fromtimestamp(step.at, UTC).strftime("%H:%M:%S.%f")[:-3]
        console.print(f"  {stamp}  {step.node:<11} {step.text}", markup=False)
    for request_id, sides in cases.final.items():
        states = ", ".join(f"{pid}: {status}" for pid, status in sides.items())
        console.print(f"  {request_id}: {states}", markup=False)
    for note in cases.notes:
        console.print(f"  {note}", markup=False)


def _print(outcome: scenario.Outcome) -> None:
    if not outcome.events:
        console.print("[red]nothing happened[/]")
        return
    start = outcome.events[0].at
    console.print("\n[bold]Timeline[/]")
    for event in outcome.events:
        stamp = datetime.fromtimestamp(event.at, UTC).strftime("%H:%M:%S.%f")[:-3]
        console.print(
            f"  {stamp} +{(event.at - start) * 1000:7.1f} ms  "
            f"[bold]{event.node:<11}[/] {event.text}"
        )
    console.print(
        f"\n{outcome.delivered}/{outcome.deliveries} deliveries with a receipt, "
        f"{outcome.receipts_verified} receipts verified."
    )
    for failure in outcome.failures:
        console.print(f"[red]not delivered:[/] {failure}")
    if outcome.requests is not None:
        _print_cases(outcome.requests)
    if outcome.evidence is not None:
        console.print("\n[bold]Evidence package[/] (age v1, signed manifest, chain of custody)")
        for line in outcome.evidence.lines:
            console.print(f"  {line}", markup=False)
    if outcome.alerts is not None:
        console.print("\n[bold]Early warning[/] (CAP 1.2, XML-DSig; a joint exercise)")
        for line in outcome.alerts.lines:
            console.print(f"  {line}", markup=False)
    if outcome.intel is not None:
        console.print("\n[bold]Threat intelligence[/] (STIX 2.1, TAXII 2.1, TLP 2.0 on every hop)")
        for line in outcome.intel.lines:
            console.print(f"  {line}", markup=False)
    if outcome.audit:
        console.print("\n[bold]Audit logs[/] (RFC 9162 Merkle trees, C2SP checkpoints)")
        for line in outcome.audit:
            console.print(f"  {line}")
    console.print("[green]All delivered and verified.[/]" if outcome.ok else "[red]FAILED[/]")

"""UNCC Art. 36 for evidence: data received under a use limitation is not sealed for anyone the
supplying State has not authorised (ADR 0011).

Every package this node receives has its files indexed by plaintext SHA-256 when it completes.
Sealing screens each file as soon as its digest is known, before the package exists: a file
received in a package with use limitations (its own, or those of the request the package was
delivered under) may go back to the participant that sealed it, to the others it was sealed
for, and to those the supplying State authorised on the request (``authorise_onward``); any
other recipient refuses the seal and the attempt is audited. Sealing for an authorised
participant is a ``forward`` on the request, stored with the seal and sent to the supplying
State, so it sees each use of its authorisation. What is allowed inherits the
limitations, so they travel with the new package. The screen matches bytes: a file changed in
any way is not recognised, which is why the limitations also bind the people who read them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select

from accord.audit.log import record
from accord.audit.models import Action
from accord.audit.models import Event as AuditEvent
from accord.db.schema import evidence_received_files, requests
from accord.errors import FieldError, OnwardTransferBlocked, TransitionRefused
from accord.evidence.models import Manifest, SealedFile
from accord.node.home import Node
from accord.requests.events import Party, RequestState
from accord.requests.service import Proposal, Requests


def index_received(connection: Connection, manifest: Manifest) -> None:
    """Record the files of a package this node has just received (in its completion's
    transaction)."""
    digests = dict.fromkeys(entry.sha256 for entry in manifest.files)
    connection.execute(
        insert(evidence_received_files),
        [
            {
                "sha256": sha256,
                "package_id": manifest.package_id,
                "origin": manifest.sealed_by,
                "recipients": json.dumps(manifest.recipients),
                "request_id": manifest.request_id,
                "limitations": json.dumps(manifest.use_limitations),
            }
            for sha256 in digests
        ],
    )


@dataclass(frozen=True)
class _Terms:
    request_id: str | None
    limitations: tuple[str, ...]
    authorised: tuple[str, ...]


def _terms(connection: Connection, origin: str, package_id: str, named: str | None) -> _Terms:
    """The request a package from ``origin`` was delivered under, seen from this node as the
    requesting State: the one its manifest names, else one whose reply lists the package. Only
    the requested State's reply binds this node (UNTOC 18(19); UNCC Art. 36(3))."""
    query = select(requests.c.request_id, requests.c.folded).where(
        requests.c.role == Party.REQUESTING.value,
        requests.c.requested == origin,
        requests.c.folded.is_not(None),
    )
    if named:
        query = query.where(requests.c.request_id == named)
    else:
        query = query.where(requests.c.folded.contains(f'"{package_id}"', autoescape=True))
    for row in connection.execute(query):
        state = RequestState.model_validate_json(row.folded)
        if named or package_id in state.evidence_packages:
            return _Terms(str(row.request_id), state.use_limitations, state.onward_authorised)
    return _Terms(named, (), ())


@dataclass(frozen=True)
class _Source:
    """A received package a file to seal came from, and the terms it came under."""

    package_id: str
    origin: str
    limitations: tuple[str, ...]
    holders: frozenset[str]  # its sealer and recipients: they have the data already
    authorised: frozenset[str]  # those the supplying State authorised on the request
    request_id: str | None


class Screen:
    """Called with each file as it is sealed; returns the limitations it inherits, or refuses
    (audited) when a recipient is not allowed to have it. A recipient allowed only by an
    authorisation is a forward on the request: ``forwards`` holds those moves, checked against
    the request's state, for the seal to commit with its own record."""

    def __init__(
        self, node: Node, recipients: Sequence[str], requests: Requests, now: datetime
    ) -> None:
        self._node, self._requests, self._now = node, requests, now
        self._recipients = [pid for pid in recipients if pid != node.id]
        self.forwards: list[Proposal] = []
        self._forwarded: set[tuple[str, str]] = set()

    def __call__(self, sealed: SealedFile) -> tuple[str, ...]:
        with self._node.read_engine.connect() as connection:
            sources = [
                _source(connection, row)
                for row in connection.execute(
                    select(evidence_received_files).where(
                        evidence_received_files.c.sha256 == sealed.sha256
                    )
                )
            ]
        inherited: list[str] = []
        for source in sources:
            if not source.limitations:
                continue
            allowed = source.holders | source.authorised
            outsiders = [pid for pid in self._recipients if pid not in allowed]
            if outsiders:
                self._refuse(sealed, source, outsiders)
            for pid in self._recipients:
                if source.request_id and pid not in source.holders:
                    self._forward(sealed, source, source.request_id, pid)
            inherited += source.limitations
        return tuple(dict.fromkeys(inherited))

    def _forward(self, sealed: SealedFile, source: _Source, request_id: str, to: str) -> None:
        """UNCC Art. 36(3): the authorised transfer is recorded on the request, and told to
        the State that authorised it; a request that no longer allows it refuses the seal."""
        if (request_id, to) in self._forwarded:
            return
        try:
            move = self._requests.propose_forward(request_id, to, self._now, self.forwards)
        except (TransitionRefused, OnwardTransferBlocked) as error:
            self._audit_refusal(sealed, source, [to])
            raise OnwardTransferBlocked(
                f"{sealed.path} is a file {source.origin} supplied in package "
                f"{source.package_id} under request {request_id}; sealing it for {to} is a "
                f"forward on that request, which refuses it: {error.message}. Nothing was "
                "sealed and the attempt is in the audit log.",
                advice=error.advice,
                errors=error.errors,
            ) from error
        self.forwards.append(move)
        self._forwarded.add((request_id, to))

    def _audit_refusal(self, sealed: SealedFile, source: _Source, outsiders: list[str]) -> None:
        node, now = self._node, self._node.clock.now()
        event = AuditEvent(
            node.id,
            Action.EVIDENCE_FORWARD_REFUSED,
            source.package_id,
            sealed.sha256,
            (node.id, source.origin, *outsiders),
        )
        node.writer.run(lambda connection: record(connection, [event], now))

    def _refuse(self, sealed: SealedFile, source: _Source, outsiders: list[str]) -> None:
        self._audit_refusal(sealed, source, outsiders)
        under = f" under request {source.request_id}" if source.request_id else ""
        raise OnwardTransferBlocked(
            f"{sealed.path} is a file {source.origin} supplied in package {source.package_id}"
            f"{under} with use limitations; it cannot be sealed for {', '.join(outsiders)} "
            "without the supplying State's authorisation (UNCC Art. 36). Nothing was sealed "
            "and the attempt is in the audit log.",
            advice=f"Ask {source.origin}'s State to authorise the transfer on the request "
            "(authorise_onward), or seal it only for participants already allowed: "
            f"{', '.join(sorted(source.holders | source.authorised))}.",
            errors=[
                FieldError(
                    "to",
                    "onward_authorisation_required",
                    f"{pid} may not receive data supplied by {source.origin} under use "
                    f"limitations: {'; '.join(source.limitations)}",
                    "Art. 36",
                )
                for pid in outsiders
            ],
        )


def _source(connection: Connection, row: Row[Any]) -> _Source:
    origin, package_id = str(row.origin), str(row.package_id)
    terms = _terms(connection, origin, package_id, row.request_id)
    limitations: list[str] = [*json.loads(row.limitations), *terms.limitations]
    return _Source(
        package_id,
        origin,
        tuple(dict.fromkeys(limitations)),
        frozenset({origin, *json.loads(row.recipients)}),
        frozenset(terms.authorised),
        terms.request_id,
    )

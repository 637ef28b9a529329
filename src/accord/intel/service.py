"""Threat intelligence on a node: add STIX objects to collections, serve them to those their
markings allow, share them with partners under the originator's grant, take partners' shares
and sightings (ADR 0014).

I/O around the pure cores (``stix``, ``validate``, ``markings``, ``policy``, ``cursor``):
everything is validated and every hop checked before anything is written; each write goes
through the node's single writer with its audit records; each refusal is audited.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select

from accord.audit.log import record
from accord.audit.models import Action, Event
from accord.db.schema import intel_status
from accord.envelope.core import sha256_hex
from accord.envelope.models import Kind, Opened, Priority
from accord.errors import (
    AccordError,
    FieldError,
    GrantInvalid,
    InputError,
    IntelForbidden,
    NotFoundError,
    SharingRefused,
    StixInvalid,
)
from accord.federation.service import Federation, Handler
from accord.identity.directory import Directory
from accord.intel import store
from accord.intel.cursor import cursor_key, make_cursor, query_digest, read_cursor
from accord.intel.markings import Marking, Tlp, definitions_in, marking_of
from accord.intel.models import Reader
from accord.intel.policy import (
    Audience,
    Grant,
    audience_of,
    check_hop,
    check_origin,
    make_grant,
    preview,
    verify_grant,
)
from accord.intel.stix import StixObject, loads, split
from accord.intel.store import Collection, Filter, Incoming, Row, VersionConflict
from accord.intel.validate import problems_of
from accord.node.home import Node

INBOX = "shared-with-me"  # the alias of the collection partners' shares land in
SCAN_FACTOR = 4  # a page reads at most this many rows per object it may return


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    more: bool
    next: str | None
    withheld: int
    resume: str | None = None  # a cursor after the last row read, even at the end (sync)


class Intel:
    def __init__(self, federation: Federation) -> None:
        self.federation = federation
        self.node: Node = federation.node
        self._key = cursor_key(self.node.keys.signing)

    def handlers(self) -> dict[Kind, Handler]:
        return {
            Kind.INTEL_SHARE: self._on_share,
            Kind.INTEL_SIGHTING: self._on_share,
            Kind.INTEL_PAGE: _page_is_no_message,
        }

    # Collections ---------------------------------------------------------------------------

    def collections(self) -> list[Collection]:
        with self.node.read_engine.connect() as connection:
            return store.collections(connection)

    def collection(self, name: str) -> Collection:
        with self.node.read_engine.connect() as connection:
            return store.collection(connection, name)

    def create_collection(
        self,
        title: str,
        *,
        alias: str | None = None,
        description: str = "",
        readers: Sequence[str] = (),
        writers: Sequence[str] = (),
    ) -> Collection:
        directory = self.federation.directory()
        for address in (*readers, *writers):
            directory.resolve(address)  # an unknown name is refused, never read as "everyone"
        cid = str(uuid.uuid4())
        item = Collection(cid, alias, title, description, tuple(readers), tuple(writers))
        return self.node.writer.run(store.create_collection_job(item, self.node.clock.now()))

    def ensure_inbox(self) -> None:
        self.inbox()

    def inbox(self) -> Collection:
        """The collection partners' shares land in, made on first use."""
        try:
            return self.collection(INBOX)
        except NotFoundError:
            return self.node.writer.run(lambda c: self._inbox_in(c, self.node.clock.now()))

    # Adding --------------------------------------------------------------------------------

    def parse(self, data: bytes) -> list[StixObject]:
        """Split and validate a document; every problem of every object at once."""
        return self.checked(split(data, max_objects=self.node.settings.intel_max_objects))

    def parse_texts(self, texts: Sequence[object]) -> list[StixObject]:
        """Objects that travelled as JSON texts (shares, sync pages), each kept as its text."""
        limit = self.node.settings.intel_page_limit
        if len(texts) > max(limit, self.node.settings.intel_max_objects):
            raise StixInvalid(f"more than {limit} objects in one message", advice="Send fewer.")
        objects = []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise StixInvalid(
                    f"objects[{i}] is not a JSON text", advice="Send objects as text."
                )
            value = loads(text, f"objects[{i}]")
            if not isinstance(value, dict):
                raise StixInvalid(f"objects[{i}] is not a JSON object", advice="Send STIX objects.")
            objects.append(StixObject(text.encode(), value))
        return self.checked(objects)

    def checked(self, objects: list[StixObject]) -> list[StixObject]:
        """``objects``, or StixInvalid listing every rule they break."""
        problems = [p for obj in objects for p in problems_of(obj.value)]
        if problems:
            raise StixInvalid(
                f"{len(problems)} problem(s) in {len({p.field.split('.')[0] for p in problems})} "
                f"object(s); nothing was stored: {problems[0].field} {problems[0].message}",
                advice="Correct the properties listed (STIX 2.1); nothing was stored.",
                errors=problems,
            )
        return objects

    def add(self, collection: str, data: bytes, *, asker: str) -> dict[str, Any]:
        """Validate and store a document's objects in ``collection`` (all or none); returns the
        TAXII 2.1 §4.3.1 status resource, kept for the asker."""
        target = self.collection(collection)
        objects = self.parse(data)
        now = self.node.clock.now()
        origin = self.node.id if asker.startswith("token:") or asker == self.node.id else asker
        definitions = self._definitions(objects)
        items = [Incoming(o, marking_of(o.value, definitions), origin, None) for o in objects]
        status_id = str(uuid.uuid4())
        digest = sha256_hex(data)

        def job(connection: Connection) -> dict[str, Any]:
            try:
                outcomes = store.store_objects(connection, target.id, items, now)
            except VersionConflict as conflict:
                raise StixInvalid(
                    str(conflict),
                    advice="Give the new version a later modified; nothing was stored.",
                    errors=[
                        FieldError("modified", "version_conflict", str(conflict), "STIX 2.1 §3.6")
                    ],
                ) from conflict
            document = _status(status_id, now, outcomes)
            connection.execute(
                intel_status.insert().values(
                    id=status_id,
                    asker=asker,
                    collection=target.id,
                    document=json.dumps(document),
                    created_at=now.timestamp(),
                )
            )
            expiry = now - timedelta(seconds=self.node.settings.intel_status_retention)
            connection.execute(
                delete(intel_status).where(intel_status.c.created_at < expiry.timestamp())
            )
            parties = (self.node.id,) if asker.startswith("token:") else (self.node.id, asker)
            record(connection, [Event(asker, Action.INTEL_ADDED, target.id, digest, parties)], now)
            return document

        return self.node.writer.run(job)

    def status(self, status_id: str, asker: str) -> dict[str, Any]:
        with self.node.read_engine.connect() as connection:
            row = connection.execute(
                select(intel_status.c.document).where(
                    intel_status.c.id == status_id, intel_status.c.asker == asker
                )
            ).first()
        if row is None:  # another asker's status is as absent as one that never existed
            raise NotFoundError(
                f"no status {status_id} for this asker",
                advice="Poll the id the Add Objects answer gave you (TAXII 2.1 §4.3).",
            )
        return dict(json.loads(row.document))

    def _definitions(self, objects: Iterable[StixObject]) -> dict[str, Mapping[str, Any]]:
        with self.node.read_engine.connect() as connection:
            known: dict[str, Mapping[str, Any]] = dict(store.marking_definitions(connection))
        known.update(definitions_in(o.value for o in objects))
        return known

    # Reading -------------------------------------------------------------------------------

    def check_access(self, target: Collection, reader: Reader, *, write: bool = False) -> None:
        """Per-collection rights (TAXII 2.1 §5.2 can_read / can_write)."""
        if not self.can(target, reader, write=write):
            verb = "write to" if write else "read"
            raise IntelForbidden(
                f"{reader.id} may not {verb} collection {target.alias or target.id}",
                advice="Ask this node's operator for access to the collection.",
            )

    def can(self, target: Collection, reader: Reader, *, write: bool = False) -> bool:
        if not reader.participant:
            scopes = reader.write if write else reader.read
            return "*" in scopes or target.id in scopes or (target.alias or "") in scopes
        names = target.writers if write else target.readers
        directory = self.federation.directory()
        try:
            return any(reader.id in {p.id for p in directory.resolve(n)} for n in names)
        except AccordError:
            return False

    def read(
        self, target: Collection, reader: Reader, query: Filter, *, cursor: str | None, limit: int
    ) -> Page:
        """A page of what ``reader`` may hold, in date_added order; what its markings forbid
        is withheld (and audited), never served."""
        self.check_access(target, reader)
        binding = query_digest(target.id, reader.id, query.canonical())
        after = read_cursor(self._key, binding, cursor) if cursor else None
        allowed: list[Row] = []
        withheld: list[str] = []
        scanned: Row | None = None
        directory = self.federation.directory()
        budget = limit * SCAN_FACTOR
        decided: dict[tuple[object, ...], bool] = {}
        with self.node.read_engine.connect() as connection:
            while len(allowed) < limit and budget > 0:
                wanted = min(limit - len(allowed) + 1, budget)
                rows = store.page(connection, target.id, query, after, wanted)
                if not rows:
                    break
                grants = self._grants(connection, rows)
                for row in rows:
                    budget -= 1
                    scanned = row
                    after = row.position
                    key = (row.tlp, row.handling, row.unknown, row.grant_sha256, row.origin)
                    if key not in decided:  # the same marking and audience: the same answer
                        decided[key] = self._may_read(row, reader, target, directory, grants)
                    if decided[key]:
                        allowed.append(row)
                    else:
                        withheld.append(row.stix_id)
                    if len(allowed) == limit or budget == 0:
                        break
            more = scanned is not None and bool(
                store.page(connection, target.id, query, scanned.position, 1)
            )
        resume = make_cursor(self._key, binding, scanned.position) if scanned else cursor
        self._audit_read(target, reader, allowed, withheld)
        return Page(allowed, more, resume if more else None, len(withheld), resume)

    def _may_read(
        self,
        row: Row,
        reader: Reader,
        target: Collection,
        directory: Directory,
        grants: Mapping[str, Grant],
    ) -> bool:
        marking = row_marking(row)
        if not reader.participant:  # a tool of this node's own organisation
            return reader.red or marking.tlp is not Tlp.RED
        audience = self._audience(row, target, directory, grants)
        try:
            check_hop(
                marking,
                audience,
                sender=self.node.id,
                recipient=reader.id,
                directory=directory,
                what=row.stix_id,
            )
        except SharingRefused:
            return False
        return True

    def _audience(
        self, row: Row, target: Collection, directory: Directory, grants: Mapping[str, Grant]
    ) -> Audience:
        if row.grant_sha256 is not None:
            return grants[row.grant_sha256].audience
        try:  # this node's own objects, or written into the collection: its readers
            return audience_of(row.origin, target.readers, directory)
        except AccordError:
            return Audience(row.origin, frozenset(), frozenset())

    def _grants(self, connection: Connection, rows: Sequence[Row]) -> dict[str, Grant]:
        tokens = store.grant_tokens(connection, (r.grant_sha256 for r in rows if r.grant_sha256))
        directory = self.federation.directory()
        return {sha: _verified(token, directory) for sha, token in tokens.items()}

    def _audit_read(
        self, target: Collection, reader: Reader, rows: Sequence[Row], withheld: Sequence[str]
    ) -> None:
        now = self.node.clock.now()
        parties = (self.node.id, reader.id) if reader.participant else (self.node.id,)
        digest = sha256_hex("\n".join(f"{r.stix_id}|{r.vkey}" for r in rows).encode())
        events = [Event(reader.id, Action.INTEL_READ, target.id, digest, parties)]
        if withheld:
            held = sha256_hex("\n".join(withheld).encode())
            events.append(Event(self.node.id, Action.INTEL_WITHHELD, target.id, held, parties))
        self.node.writer.submit(lambda connection: record(connection, events, now))

    def versions(
        self, target: Collection, reader: Reader, stix_id: str, query: Filter
    ) -> list[Row]:
        """Every version of one object the reader may hold (TAXII 2.1 §5.8)."""
        every = Filter(
            ids=(stix_id,),
            versions=("all",),
            spec_versions=query.spec_versions,
            added_after=query.added_after,
        )
        page = self.read(
            target, reader, every, cursor=None, limit=self.node.settings.intel_page_limit
        )
        return page.rows

    def delete(self, target: Collection, reader: Reader, stix_id: str, query: Filter) -> int:
        """TAXII 2.1 §5.7: delete the versions the filter matches; needs the right to write."""
        self.check_access(target, reader, write=True)
        now = self.node.clock.now()

        def job(connection: Connection) -> int:
            deleted = store.delete_versions(connection, target.id, stix_id, query)
            if deleted:
                parties = (self.node.id, reader.id) if reader.participant else (self.node.id,)
                record(
                    connection,
                    [Event(reader.id, Action.INTEL_DELETED, stix_id, None, parties)],
                    now,
                )
            return deleted

        deleted = self.node.writer.run(job)
        if not deleted:
            raise NotFoundError(
                f"no version of {stix_id} matches",
                advice="Check the id and match[version] (TAXII 2.1 §5.7).",
            )
        return deleted

    # Sharing -------------------------------------------------------------------------------

    def held(self, stix_ids: Sequence[str]) -> list[tuple[Row, Collection]]:
        """The latest version of each object, wherever this node holds it."""
        found = []
        with self.node.read_engine.connect() as connection:
            for item in store.collections(connection):
                query = Filter(ids=tuple(stix_ids))
                found += [
                    (row, item)
                    for row in store.page(connection, item.id, query, None, len(stix_ids) + 1)
                ]
        missing = set(stix_ids) - {row.stix_id for row, _ in found}
        if missing:
            raise NotFoundError(
                f"this node holds no {sorted(missing)[0]}",
                advice="List what it holds with `accord intel list`.",
            )
        unique: dict[str, tuple[Row, Collection]] = {}
        for row, item in found:
            unique.setdefault(row.stix_id, (row, item))
        return list(unique.values())

    def preview(
        self, stix_ids: Sequence[str], to: Sequence[str]
    ) -> list[tuple[str, str, bool, str]]:
        """For each object and participant: whether a share to ``to`` would reach it, and why."""
        directory = self.federation.directory()
        out = []
        addressed = {p.id for address in to for p in directory.resolve(address)}
        for row, item in self.held(stix_ids):
            audience, _grant = self._share_audience(row, item, to, directory)
            marking = row_marking(row)
            for pid, allowed, reason in preview(marking, audience, directory):
                if pid == self.node.id:
                    continue
                reached = allowed and pid in addressed
                why = reason if reached or not allowed else f"not addressed (may hold it: {reason})"
                if reached and row.origin != self.node.id:
                    try:
                        check_hop(
                            marking,
                            audience,
                            sender=self.node.id,
                            recipient=pid,
                            directory=directory,
                            what=row.stix_id,
                        )
                    except SharingRefused as refusal:
                        reached, why = False, refusal.message
                out.append((row.stix_id, pid, reached, why))
        return out

    def _share_audience(
        self, row: Row, item: Collection, to: Sequence[str], directory: Directory
    ) -> tuple[Audience, Grant | None]:
        if row.origin == self.node.id:
            return audience_of(self.node.id, to, directory), None
        with self.node.read_engine.connect() as connection:
            grants = self._grants(connection, [row])
        if row.grant_sha256 is None:
            return self._audience(row, item, directory, grants), None
        grant = grants[row.grant_sha256]
        return grant.audience, grant

    def share(self, stix_ids: Sequence[str], to: str) -> str:
        """Send the latest version of each object to ``to`` (a participant or a group) with the
        originator's grant: this node's own objects under a new grant, others' under the one
        they came with. Every hop is checked first; a refusal is audited and nothing is sent."""
        directory = self.federation.directory()
        recipients = [p.id for p in directory.resolve(to) if p.id != self.node.id]
        if not recipients:
            raise InputError(
                f"{to!r} names no participant other than this node",
                advice="Address another participant or a group.",
            )
        rows = self.held(stix_ids)
        own = [StixObject(r.raw, json.loads(r.raw)) for r, _ in rows if r.origin == self.node.id]
        now = self.node.clock.now()
        grant = (
            make_grant(
                origin=self.node.id,
                key=self.node.keys.signing,
                to=[to],
                objects=own,
                directory=directory,
                now=now,
            )
            if own
            else None
        )
        carried: list[tuple[Row, Grant]] = []
        for row, item in rows:
            audience, existing = self._share_audience(row, item, [to], directory)
            if row.origin == self.node.id and grant is not None:
                audience, existing = grant.audience, grant
            if existing is None:
                self._refused(
                    row.stix_id,
                    to,
                    now,
                    SharingRefused(
                        f"{row.stix_id} came without its originator's grant; this node cannot pass "
                        "it on",
                        advice=f"Ask {row.origin} to share it.",
                    ),
                )
            for recipient in recipients:
                try:
                    check_hop(
                        row_marking(row),
                        audience,
                        sender=self.node.id,
                        recipient=recipient,
                        directory=directory,
                        what=row.stix_id,
                    )
                except SharingRefused as refusal:
                    self._refused(row.stix_id, recipient, now, refusal)
            carried.append((row, existing))  # type: ignore[arg-type]
        body = {
            "grants": sorted({g.token for _, g in carried}),
            "objects": [r.raw.decode() for r, _ in carried],
        }
        return self._send(to, Kind.INTEL_SHARE, body, (self.node.id, *recipients))

    def _send(self, to: str, kind: Kind, body: dict[str, Any], parties: tuple[str, ...]) -> str:
        """Queue the message and its ``intel.shared`` record in one transaction."""
        now = self.node.clock.now()
        job, message_id = self.federation.prepare(to, kind, body, Priority.ROUTINE)
        digest = sha256_hex("\n".join(body["objects"]).encode())
        shared = Event(self.node.id, Action.INTEL_SHARED, message_id, digest, parties)

        def send(connection: Connection) -> None:
            job(connection)
            record(connection, [shared], now)

        self.node.writer.run(send)
        self.federation.enqueued()
        return message_id

    def _refused(self, stix_id: str, to: str, now: datetime, refusal: SharingRefused) -> None:
        event = Event(self.node.id, Action.INTEL_SHARE_REFUSED, stix_id, None, (self.node.id, to))
        self.node.writer.run(lambda connection: record(connection, [event], now))
        raise refusal

    # Receiving -----------------------------------------------------------------------------

    def _on_share(self, connection: Connection, opened: Opened, at: datetime) -> list[Event]:
        """Store a partner's share in the message's transaction, after checking every hop:
        each object is exactly what its originator granted, and the sender may pass it to this
        node. A refusal refuses the whole message (the sender sees why) and is audited."""
        sender = opened.routing.sender
        try:
            items, tokens = self._verify_share(opened)
        except (SharingRefused, GrantInvalid, StixInvalid):
            event = Event(
                self.node.id,
                Action.INTEL_SHARE_REFUSED,
                opened.routing.message_id,
                opened.sha256,
                (self.node.id, sender),
            )
            self.node.writer.submit(lambda c: record(c, [event], at))
            raise
        inbox = self._inbox_in(connection, at)
        for item in items:
            if item.grant_sha256 is not None:
                store.store_grant(connection, item.origin, tokens[item.grant_sha256], at)
        try:
            store.store_objects(connection, inbox.id, items, at)
        except VersionConflict as conflict:
            raise GrantInvalid(
                str(conflict), advice="A version never changes (STIX 2.1 §3.6)."
            ) from conflict
        digest = sha256_hex("\n".join(i.obj.id for i in items).encode())
        return [
            Event(
                sender,
                Action.INTEL_RECEIVED,
                opened.routing.message_id,
                digest,
                (sender, self.node.id),
            )
        ]

    def _verify_share(self, opened: Opened) -> tuple[list[Incoming], dict[str, str]]:
        body, sender = opened.body, opened.routing.sender
        directory = self.federation.directory()
        tokens = body.get("grants")
        texts = body.get("objects")
        if not isinstance(tokens, list) or not isinstance(texts, list) or not texts:
            raise GrantInvalid(
                "a share carries grants and objects lists", advice="Send with `accord intel share`."
            )
        grants = [verify_grant(t, directory) for t in tokens]
        objects = self.parse_texts(texts)
        definitions = self._definitions(objects)
        items = []
        for obj in objects:
            grant = next((g for g in grants if _names(g, obj)), None)
            if grant is None and opened.kind is Kind.INTEL_SIGHTING and obj.type == "sighting":
                grant = None  # a sighting is the sender's own object, sent to its producer
            if grant is None:
                if opened.kind is not Kind.INTEL_SIGHTING:
                    raise GrantInvalid(
                        f"{obj.id} is in no grant of this share",
                        advice="Objects travel with their originator's grant.",
                    )
                audience = audience_of(sender, [self.node.id], directory)
            else:
                grant.check_object(obj)
                audience = grant.audience
            origin = audience.origin
            check_origin(obj, origin, directory)
            marking = marking_of(obj.value, definitions)
            check_hop(
                marking,
                audience,
                sender=sender,
                recipient=self.node.id,
                directory=directory,
                what=obj.id,
            )
            items.append(Incoming(obj, marking, origin, grant.sha256 if grant else None))
        return items, {g.sha256: g.token for g in grants}

    def _inbox_in(self, connection: Connection, at: datetime) -> Collection:
        try:
            return store.collection(connection, INBOX)
        except NotFoundError:
            item = Collection(
                str(uuid.uuid5(uuid.NAMESPACE_URL, f"accord:{self.node.id}:{INBOX}")),
                INBOX,
                "Shared with this node",
                "What partners shared, with their grants.",
                (),
                (),
            )
            return store.create_collection_job(item, at)(connection)

    # Sightings -----------------------------------------------------------------------------

    def report_sighting(self, data: bytes) -> str:
        """Store a sighting here and send it to the producer of what it sighted (STIX 2.1
        §5.2); its own markings must allow the producer."""
        [obj] = self.parse(data)
        if obj.type != "sighting":
            raise InputError(
                "a sighting report holds one STIX sighting object",
                advice="Give one object of type sighting (STIX 2.1 §5.2).",
            )
        sighted = str(obj.value["sighting_of_ref"])
        [(row, _)] = self.held([sighted])
        producer = row.origin
        if producer == self.node.id:
            raise InputError(
                f"{sighted} is this node's own object",
                advice="Sightings flow back to the producer; this node is it.",
            )
        directory = self.federation.directory()
        marking = marking_of(obj.value, self._definitions([obj]))
        now = self.node.clock.now()
        audience = audience_of(self.node.id, [producer], directory)
        try:
            check_hop(
                marking,
                audience,
                sender=self.node.id,
                recipient=producer,
                directory=directory,
                what=obj.id,
            )
        except SharingRefused as refusal:
            self._refused(obj.id, producer, now, refusal)
        self.add(self.inbox().id, obj.raw, asker=self.node.id)
        body = {"grants": [], "objects": [obj.raw.decode()]}
        return self._send(producer, Kind.INTEL_SIGHTING, body, (self.node.id, producer))


def row_marking(row: Row) -> Marking:
    from accord.requests.records import HandlingCode  # noqa: PLC0415 - local import, cheap

    unknown = frozenset({"(a marking this node cannot read)"}) if row.unknown else frozenset()
    tlp = None if row.tlp is None else Tlp(row.tlp)
    return Marking(tlp, frozenset(HandlingCode(c) for c in row.handling), None, unknown)


def _names(grant: Grant, obj: StixObject) -> bool:
    from accord.intel.policy import object_key  # noqa: PLC0415

    return object_key(obj) in grant.objects


_GRANTS: dict[tuple[str, str], Grant] = {}
MAX_CACHED_GRANTS = 4096


def _verified(token: str, directory: Directory) -> Grant:
    """A stored grant, verified once per directory version (grants only grow, pages repeat
    the same few)."""
    key = (sha256_hex(token.encode()), directory.sha256)
    grant = _GRANTS.get(key)
    if grant is None:
        if len(_GRANTS) >= MAX_CACHED_GRANTS:
            _GRANTS.clear()
        grant = _GRANTS[key] = verify_grant(token, directory)
    return grant


def _status(status_id: str, now: datetime, outcomes: Sequence[store.Outcome]) -> dict[str, Any]:
    """TAXII 2.1 §4.3.1: every object succeeded (Accord stores a document whole or not at all)."""
    successes = [
        {
            "id": o.stix_id,
            "version": o.version or store.taxii_time(o.date_added),
            **({} if o.stored else {"message": "already stored"}),
        }
        for o in outcomes
    ]
    return {
        "id": status_id,
        "status": "complete",
        "request_timestamp": store.taxii_time(store.micros(now)),
        "total_count": len(outcomes),
        "success_count": len(outcomes),
        "successes": successes,
        "failure_count": 0,
        "failures": [],
        "pending_count": 0,
        "pendings": [],
    }


def _page_is_no_message(_connection: Connection, opened: Opened, _at: datetime) -> list[Event]:
    raise GrantInvalid(
        f"message {opened.routing.message_id}: intel pages answer a sync request; they are never "
        "delivered as messages",
        advice="Subscribe with `accord intel subscribe` and pull with `accord intel sync`.",
    )

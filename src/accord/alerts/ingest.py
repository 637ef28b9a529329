"""External CAP Atom feeds: subscribe, pull, verify, de-duplicate, redistribute.

A feed (a national meteorological service, say) is subscribed with the public key its alerts
must be signed with, pinned by the operator: the trust anchor hubs skip. Each pull reads the
feed and every CAP document it links (size-limited, time-limited, http(s) only, no
redirects), verifies each signature with the pinned key, checks it against the XSD and the
rules, skips what the node already holds, and stores and sends the rest to the subscription's
address in one transaction per alert. Recipients get the original signed bytes and the pinned
key, so they can check the signature too; the relaying node's envelope vouches for the rest.
``--trust-unsigned`` takes unsigned feeds, marked as such everywhere.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
from sqlalchemy import Connection, select, update

from accord.alerts import cap, feeds, lifecycle, signature, store
from accord.alerts.inbound import refuse_participant_sender
from accord.alerts.models import MsgType
from accord.alerts.service import Alerts, object_id
from accord.alerts.xml import parse
from accord.audit.log import record
from accord.audit.models import Action
from accord.audit.models import Event as AuditEvent
from accord.db.schema import alert_feeds
from accord.envelope.core import sha256_hex
from accord.envelope.models import Kind, Priority
from accord.errors import (
    AccordError,
    AlertNotFound,
    FeedError,
    FieldError,
    InputError,
)
from accord.names import SLUG

UNSIGNED = "unsigned: origin not verified"
_URL = re.compile(r"^https?://[^\s/]+(?::\d+)?(?:/\S*)?$")


@dataclass(frozen=True)
class Feed:
    name: str
    url: str
    key_pem: str | None
    trust_unsigned: bool
    address: str
    interval: float
    pulled_at: datetime | None
    last_error: str | None


@dataclass
class Pulled:
    taken: list[str] = field(default_factory=list)  # sender,identifier of alerts stored and sent
    duplicates: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (url, reason)


class Feeds:
    def __init__(self, alerts: Alerts) -> None:
        self.alerts = alerts
        self.node = alerts.node

    def add(
        self,
        name: str,
        url: str,
        *,
        address: str,
        key_pem: str | None,
        trust_unsigned: bool = False,
        interval: float | None = None,
    ) -> Feed:
        """Subscribe to a CAP Atom feed, pinning the key its alerts are signed with."""
        problems = []
        if not SLUG.match(name):
            problems.append(FieldError("name", "format", "a lowercase slug such as met-vn"))
        if not _URL.match(url):
            problems.append(FieldError("url", "format", "an http(s) URL"))
        if key_pem is None and not trust_unsigned:
            problems.append(
                FieldError(
                    "key",
                    "required",
                    "pin the feed's signing key, or say --trust-unsigned",
                    "CAP 1.2 §3.3.2.1",
                )
            )
        if problems:
            raise InputError(
                "the subscription is invalid", advice="Correct the fields listed.", errors=problems
            )
        if key_pem is not None:
            signature.key_from_pem(key_pem)
        self.alerts.federation.directory().resolve(address)
        now = self.node.clock.now()
        every = interval or self.node.settings.alert_feed_interval

        def job(connection: Connection) -> None:
            connection.execute(alert_feeds.delete().where(alert_feeds.c.name == name))
            connection.execute(
                alert_feeds.insert().values(
                    name=name,
                    url=url,
                    key_pem=key_pem,
                    trust_unsigned=int(trust_unsigned),
                    address=address,
                    interval=every,
                    created_at=now.timestamp(),
                )
            )
            digest = sha256_hex((key_pem or UNSIGNED).encode())
            record(
                connection,
                [
                    AuditEvent(
                        self.node.id,
                        Action.ALERT_FEED_ADDED,
                        f"feed/{name}",
                        digest,
                        (self.node.id,),
                    )
                ],
                now,
            )

        self.node.writer.run(job)
        return self.get(name)

    def listed(self) -> list[Feed]:
        with self.node.read_engine.connect() as connection:
            return [
                _feed(r)
                for r in connection.execute(select(alert_feeds).order_by(alert_feeds.c.name)).all()
            ]

    def get(self, name: str) -> Feed:
        found = [f for f in self.listed() if f.name == name]
        if not found:
            raise AlertNotFound(
                f"no feed {name} on this node", advice="List feeds with `accord alert feed list`."
            )
        return found[0]

    # Pulling ---------------------------------------------------------------------------------

    async def pull(self, name: str) -> Pulled:
        """Read the feed once and take what is new; the outcome is recorded on the feed."""
        feed = self.get(name)
        settings = self.node.settings
        timeout = aiohttp.ClientTimeout(total=settings.request_timeout)
        pulled = Pulled()
        error = None
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                index = await _fetch(session, feed.url, settings.alert_max_bytes)
                links = feeds.cap_links(
                    index, feed_url=feed.url, max_bytes=settings.alert_max_bytes
                )
                for link in links:
                    await self._one(session, feed, link, pulled)
        except FeedError as exc:
            error = exc.message
        await self.node.writer.write(_pulled_job(name, self.node.clock.now(), error))
        if error is not None:
            raise FeedError(error, advice="Check the feed's address; the next pull tries again.")
        return pulled

    async def _one(
        self, session: aiohttp.ClientSession, feed: Feed, link: str, pulled: Pulled
    ) -> None:
        try:
            data = await _fetch(session, link, self.node.settings.alert_max_bytes)
            taken = await asyncio.to_thread(self.take, feed, data)
        except AccordError as exc:  # one refused document must not stop the others
            pulled.refused.append((link, exc.message))
            return
        if taken is None:
            pulled.duplicates += 1
        else:
            pulled.taken.append(taken)

    def take(self, feed: Feed, data: bytes) -> str | None:
        """Verify, check and store one CAP document of ``feed`` and send it on; None when the
        node already holds it. Raises why it is refused."""
        root = parse(data, max_bytes=self.node.settings.alert_max_bytes)
        signed = root
        if feed.key_pem is not None:
            signed = signature.verify(
                root, signature.key_from_pem(feed.key_pem), f"feed {feed.name}"
            )
        alert = cap.check(signed)
        refuse_participant_sender(self.alerts.federation.directory(), alert)
        if alert.msg_type in (MsgType.ACK, MsgType.ERROR):
            raise FeedError(f"{alert.identifier} is an {alert.msg_type}, not an alert")
        node, now = self.node, self.node.clock.now()
        digest = sha256_hex(data)
        lifetime = self.alerts.lifetime
        recipients = [
            p.id
            for p in self.alerts.federation.directory().resolve(feed.address)
            if p.id != node.id
        ]
        body: dict[str, Any] = {
            "cap": data.decode("utf-8"),
            "expect": [],
            "exercise": None,
            "relay": {"feed": feed.url, "key": feed.key_pem},
            "reason": f"relayed from feed {feed.name} by {node.id}",
        }
        queued = [
            (pid, *self.alerts.federation.prepare(pid, Kind.ALERT, body, Priority.URGENT))
            for pid in recipients
        ]

        def job(connection: Connection) -> str | None:
            refs = [r.key for r in alert.references]
            moved = lifecycle.transition(
                alert,
                sha256=digest,
                origin=node.id,
                relayed=True,
                held=store.held(connection, [alert.key, *refs]),
                now=now,
                default_lifetime=lifetime,
            )
            if moved.duplicate:
                return None
            store.insert(
                connection,
                alert,
                xml=data,
                sha256=digest,
                direction="ingested",
                origin=node.id,
                transition=moved,
                expires_at=lifecycle.expiry(alert, lifetime),
                now=now,
                feed=feed.url,
            )
            for pid, queue, message_id in queued:
                queue(connection)
                store.insert_recipient(
                    connection,
                    alert.key,
                    pid,
                    message_id=message_id,
                    reason=body["reason"],
                    now=now,
                )
            parties = (node.id, *recipients)
            record(
                connection,
                [AuditEvent(node.id, Action.ALERT_INGESTED, object_id(alert.key), digest, parties)],
                now,
            )
            return f"{alert.sender},{alert.identifier}"

        taken = node.writer.run(job)
        if taken is not None:
            self.alerts.federation.enqueued()
        return taken

    async def run(self, stop: asyncio.Event) -> None:
        """The worker of a serving node: pull each feed when its interval has passed."""
        poll = self.node.settings.alert_poll
        while not stop.is_set():
            now = self.node.clock.now()
            for feed in await asyncio.to_thread(self.listed):
                due = (
                    feed.pulled_at is None
                    or (now - feed.pulled_at).total_seconds() >= feed.interval
                )
                if due:
                    try:
                        await self.pull(feed.name)
                    except AccordError:
                        continue  # recorded on the feed as its last error
            try:
                await asyncio.wait_for(stop.wait(), timeout=max(poll, 1.0))
            except TimeoutError:
                continue


async def _fetch(session: aiohttp.ClientSession, url: str, max_bytes: int) -> bytes:
    """GET ``url``: http(s) only, no redirects, at most ``max_bytes`` read."""
    if not _URL.match(url):
        raise FeedError(f"{url} is not an http(s) URL")
    try:
        async with session.get(url, allow_redirects=False) as response:
            if response.status != 200:
                raise FeedError(f"{url} answered HTTP {response.status}")
            body = bytearray()
            while chunk := await response.content.read(64 * 1024):
                body += chunk
                if len(body) > max_bytes:
                    raise FeedError(f"{url} is over {max_bytes} bytes (ACCORD_ALERT_MAX_BYTES)")
            return bytes(body)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise FeedError(f"{url} could not be read: {exc.__class__.__name__}: {exc}") from exc


def _pulled_job(name: str, now: datetime, error: str | None) -> Any:
    def job(connection: Connection) -> None:
        connection.execute(
            update(alert_feeds)
            .where(alert_feeds.c.name == name)
            .values(pulled_at=now.timestamp(), last_error=error)
        )

    return job


def _feed(row: Any) -> Feed:
    return Feed(
        row.name,
        row.url,
        row.key_pem,
        bool(row.trust_unsigned),
        row.address,
        row.interval,
        store.at(row.pulled_at),
        row.last_error,
    )

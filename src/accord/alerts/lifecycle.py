"""The life of an alert on a node (pure): active, then superseded by an update, cancelled, or
expired; and which incoming messages may change it.

CAP 1.2 §3.2.1 msgType: an ``Update`` "supersedes" and a ``Cancel`` "cancels" the earlier
message(s) named in ``references``. What the anchor systems let slip and Accord refuses:

- an update or cancel from anyone but the alert's own sender (the CAP sender, and the
  participant whose node vouched for it);
- a chain that forks: updating an alert that was already superseded without naming what
  superseded it, or updating or cancelling one already cancelled;
- an exercise (or test) message changing a live alert, or the reverse;
- a cancel of an alert the node never held;
- an alert arriving after its own expiry: a replay, or too late to act on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from accord.alerts.models import Alert, MsgType, Reference, Status, cap_time
from accord.errors import (
    AlertChainBroken,
    AlertError,
    AlertExpired,
    AlertNotEntitled,
    AlertNotYetKnown,
    FieldError,
)

SECTION = "CAP 1.2 §3.2.1"
Key = tuple[str, str]  # (sender, identifier)


class State:
    ACTIVE = "active"
    SUPERSEDED = "superseded"
    CANCELLED = "cancelled"
    CANCEL = "cancel"  # the state of a Cancel message itself
    EXPIRED = "expired"  # never stored: read off expires_at


@dataclass(frozen=True)
class Held:
    """What the node holds of one message, as far as its chain is concerned."""

    sender: str
    identifier: str
    sent: datetime
    status: Status
    msg_type: MsgType
    state: str
    origin: str
    superseded_by: str | None
    sha256: str
    expires_at: datetime | None


@dataclass(frozen=True)
class Transition:
    """What taking a message changes: its own state, and the states of what it references."""

    state: str
    changes: dict[Key, str] = field(default_factory=dict)
    duplicate: bool = False


def effective_state(held: Held, now: datetime) -> str:
    if held.state == State.ACTIVE and held.expires_at is not None and held.expires_at <= now:
        return State.EXPIRED
    return held.state


def expiry(alert: Alert, default_lifetime: timedelta) -> datetime:
    """When the alert stops being active: its latest ``expires``, else ``sent`` plus the
    node's default lifetime (only alerts from external feeds lack ``expires``)."""
    return alert.expires or alert.sent + default_lifetime


def transition(
    alert: Alert,
    *,
    sha256: str,
    origin: str,
    relayed: bool,
    held: Mapping[Key, Held],
    expected: frozenset[Key] = frozenset(),
    now: datetime,
    default_lifetime: timedelta,
) -> Transition:
    """Check that ``alert``, vouched for by participant ``origin``, may be taken, and what it
    changes. ``held`` holds every message ``alert`` references that the node has; ``expected``
    names those its sender says it sent to this node before. Raises the rule broken."""
    mine = held.get(alert.key)
    if mine is not None:
        if mine.sha256 == sha256:
            return Transition(mine.state, duplicate=True)
        raise _broken(
            "identifier_reused",
            f"{alert.sender} already sent a different message with identifier {alert.identifier}",
            "Give every new message its own identifier (CAP 1.2 §3.2.1 identifier).",
        )
    if not relayed and alert.sender != origin:
        raise _not_entitled(
            "alert.sender",
            f"the CAP sender {alert.sender} is not {origin}, whose node signed the message",
        )
    if alert.msg_type in (MsgType.ALERT, MsgType.UPDATE):
        ends = expiry(alert, default_lifetime)
        if ends <= now:
            raise AlertExpired(
                f"alert {alert.identifier} expired at {cap_time(ends)}; it is not stored "
                "(a replay, or too late to act on)",
                advice="Send a new alert if the warning still holds.",
                errors=[
                    FieldError("alert.info.expires", "not_expired", "expired", "CAP 1.2 §3.2.2")
                ],
            )
    if alert.msg_type is MsgType.ALERT:
        return Transition(State.ACTIVE)
    return _chain(alert, origin, held, expected)


def _chain(
    alert: Alert, origin: str, held: Mapping[Key, Held], expected: frozenset[Key]
) -> Transition:
    cancel = alert.msg_type is MsgType.CANCEL
    changes: dict[Key, str] = {}
    held_any = False
    named = {r.key for r in alert.references}
    for index, reference in enumerate(alert.references):
        path = f"alert.references[{index}]"
        if reference.sender != alert.sender:
            raise _not_entitled(
                path,
                f"an {alert.msg_type} from {alert.sender} cannot change an alert of "
                f"{reference.sender}: only its sender may update or cancel it",
            )
        earlier = held.get(reference.key)
        if earlier is None:
            if reference.key in expected:
                raise AlertNotYetKnown(
                    f"{reference.identifier} has not arrived yet; this {alert.msg_type} "
                    "must follow it",
                    advice="The sender's outbox sends it again.",
                    errors=[FieldError(path, "not_yet_known", "not arrived yet", SECTION)],
                )
            continue
        _check_link(alert, reference, earlier, origin=origin, named=named, path=path)
        held_any = True
        if earlier.state == State.ACTIVE:  # what an update already superseded stays so
            changes[reference.key] = State.CANCELLED if cancel else State.SUPERSEDED
    if cancel and not held_any:
        raise _broken(
            "cancels_known",
            f"the Cancel {alert.identifier} names no alert this node holds",
            "Cancel only alerts that were sent to this node.",
        )
    return Transition(State.CANCEL if cancel else State.ACTIVE, changes)


def _check_link(
    alert: Alert, reference: Reference, earlier: Held, *, origin: str, named: set[Key], path: str
) -> None:
    if earlier.origin != origin:
        raise _not_entitled(
            path,
            f"{reference.identifier} reached this node through {earlier.origin}, not {origin}",
        )
    if earlier.sent != reference.sent:
        raise _broken(
            "sent_matches",
            f"{path} gives sent {cap_time(reference.sent)}, but {reference.identifier} was sent "
            f"at {cap_time(earlier.sent)}",
            "Copy the sender,identifier,sent triple exactly.",
        )
    if earlier.status is not alert.status:
        raise _broken(
            "same_status",
            f"a {alert.status} message cannot change the {earlier.status} alert "
            f"{reference.identifier}: exercise and test traffic never touches live alerts",
            "Keep exercise, test and live chains apart.",
        )
    if earlier.msg_type is MsgType.CANCEL or earlier.state == State.CANCELLED:
        raise _broken(
            "not_cancelled",
            f"{reference.identifier} is already cancelled",
            "A cancelled alert stays cancelled; send a new alert.",
        )
    successor = earlier.superseded_by
    if earlier.state == State.SUPERSEDED and (alert.sender, successor) not in named:
        raise _broken(
            "current",
            f"{reference.identifier} was already superseded by {successor}; reference it too",
            "Update or cancel the latest message of the chain (it references the earlier ones).",
        )


def _broken(rule: str, message: str, advice: str) -> AlertError:
    return AlertChainBroken(
        message, advice=advice, errors=[FieldError("alert.references", rule, message, SECTION)]
    )


def _not_entitled(path: str, message: str) -> AlertError:
    return AlertNotEntitled(
        message,
        advice="Only an alert's own sender may update or cancel it.",
        errors=[FieldError(path, "same_sender", message, SECTION)],
    )

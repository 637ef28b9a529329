"""Alerts after a rotation of the sender's alert key (ADR 0018): the receiver checks the XML
signature with the alert key the directory says was in force when the message was made, and
never with a key retired as compromised."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alert_nodes import MOH, RPN, T0, epidemic
from cryptography.hazmat.primitives.asymmetric import ec
from test_alert_attacks import body, forge, held, refused, signed

from accord.identity.directory import draft_bytes, read_document, sign_directory
from accord.identity.models import RetiredKeys, alert_kid
from accord.identity.service import DirectoryStore
from accord.jose import p256_public_jwk
from unit.requests.nodes import DIRECTORY_VALID, Nodes

NEW = ec.generate_private_key(ec.SECP256R1())
ROTATED_AT = T0 + timedelta(hours=1)


def rotate_alert_key(nodes: Nodes, *, compromised: bool) -> ec.EllipticCurvePrivateKey:
    """The stewards publish directory version 3: MOH's alert key is NEW from ROTATED_AT on,
    the key it held before listed as retired then. Returns MOH's old private key."""
    old = nodes.open[MOH].keys.alerting
    assert old is not None
    document = read_document(nodes.local.directory)
    participants = tuple(
        p.model_copy(
            update={
                "alert_key": p256_public_jwk(NEW.public_key(), alert_kid(MOH)),
                "retired_keys": (
                    RetiredKeys(
                        keys={"alert_key": p256_public_jwk(old.public_key(), alert_kid(MOH))},
                        until=ROTATED_AT,
                        compromised=compromised,
                    ),
                ),
            }
        )
        if p.id == MOH
        else p
        for p in document.participants
    )
    issued, expires = DIRECTORY_VALID
    signed_directory = draft_bytes(
        document.model_copy(
            update={
                "version": 3,
                "participants": participants,
                "issued_at": issued,
                "expires_at": expires,
            }
        )
    )
    for kid, key in list(nodes.local.steward_keys.items())[:2]:
        signed_directory = sign_directory(signed_directory, key, kid)
    for node in nodes.open.values():
        DirectoryStore(node).install(signed_directory, pinned=None, now=nodes.clock.now())
    return old


def test_an_alert_made_before_the_rotation_verifies_with_the_key_then_in_force(
    nodes: Nodes,
) -> None:
    old = rotate_alert_key(nodes, compromised=False)
    alert = signed(nodes, MOH, epidemic(), old)  # made at T0, before ROTATED_AT
    answer = forge(nodes, MOH, RPN, body(alert))
    assert answer.status_code in (200, 202), answer.text
    assert held(nodes, RPN) == 1


def test_an_alert_made_after_the_rotation_with_the_old_key_is_refused(nodes: Nodes) -> None:
    old = rotate_alert_key(nodes, compromised=False)
    nodes.advance(hours=2)
    refused(
        forge(nodes, MOH, RPN, body(signed(nodes, MOH, epidemic(), old))),
        422,
        "alert_signature_invalid",
    )
    assert held(nodes, RPN) == 0
    answer = forge(nodes, MOH, RPN, body(signed(nodes, MOH, epidemic(), NEW)))
    assert answer.status_code in (200, 202), answer.text
    assert held(nodes, RPN) == 1


@pytest.mark.parametrize("key", ["old", "new"])
def test_nothing_made_while_a_compromised_key_was_in_force_is_accepted(
    nodes: Nodes, key: str
) -> None:
    old = rotate_alert_key(nodes, compromised=True)
    alert = signed(nodes, MOH, epidemic(), old if key == "old" else NEW)
    data = refused(forge(nodes, MOH, RPN, body(alert)), 422, "alert_signature_invalid")
    assert data["errors"][0]["rule"] == "key_retired", data
    assert held(nodes, RPN) == 0

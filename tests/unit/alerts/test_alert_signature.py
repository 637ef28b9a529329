"""The enveloped XML signature (CAP 1.2 §3.3.2.1): made with the node's P-256 alert key,
verified by an independent implementation (libxmlsec1, through the ``xmlsec`` binding), and
trusted only with the key the caller names, never one the document brings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from signxml.algorithms import SignatureMethod
from signxml.signer import XMLSigner
from signxml.verifier import XMLVerifier
from test_cap_document import alerts as cap_alerts

from accord.alerts import cap, signature
from accord.alerts.models import Alert
from accord.alerts.xml import parse
from accord.errors import AlertSignatureInvalid

LIMIT = 1024 * 1024
KEY = ec.generate_private_key(ec.SECP256R1())
ROGUE = ec.generate_private_key(ec.SECP256R1())


def signed_sample(samples: Path, key: ec.EllipticCurvePrivateKey = KEY) -> bytes:
    root = parse((samples / "a2-severe-thunderstorm.xml").read_bytes(), max_bytes=LIMIT)
    return cap.serialize(signature.sign(root, key, "vn-moh-ew#alert"))


def xmlsec_verify(data: bytes, key: ec.EllipticCurvePublicKey) -> None:
    """libxmlsec1's verification with ``key`` (raises xmlsec.Error when it fails)."""
    root = etree.fromstring(data)
    node = xmlsec.tree.find_node(root, xmlsec.constants.NodeSignature)
    context = xmlsec.SignatureContext()
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    context.key = xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatPem)
    context.verify(node)


def test_the_signature_verifies_with_libxmlsec1(samples: Path) -> None:
    data = signed_sample(samples)
    xmlsec_verify(data, KEY.public_key())
    text = data.decode()
    assert 'Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"' in text
    assert 'Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"' in text


def test_the_verified_alert_is_the_alert_as_signed(samples: Path) -> None:
    data = signed_sample(samples)
    verified = signature.verify(parse(data, max_bytes=LIMIT), KEY.public_key(), "vn-moh-ew")
    original = cap.load((samples / "a2-severe-thunderstorm.xml").read_bytes(), max_bytes=LIMIT)
    assert cap.check(verified) == original


def test_a_tampered_alert_is_refused_by_accord_and_by_libxmlsec1(samples: Path) -> None:
    data = signed_sample(samples).replace(b"SEVERE THUNDERSTORM WARNING", b"ALL CLEAR")
    with pytest.raises(xmlsec.Error):
        xmlsec_verify(data, KEY.public_key())
    with pytest.raises(AlertSignatureInvalid, match="does not verify") as caught:
        signature.verify(parse(data, max_bytes=LIMIT), KEY.public_key(), "vn-moh-ew")
    assert caught.value.errors[0].article == "CAP 1.2 §3.3.2.1"


def test_a_signature_by_a_key_not_in_the_directory_is_refused(samples: Path) -> None:
    data = signed_sample(samples, ROGUE)
    xmlsec_verify(data, ROGUE.public_key())  # a valid signature, by the wrong key
    with pytest.raises(AlertSignatureInvalid, match="key of vn-moh-ew"):
        signature.verify(parse(data, max_bytes=LIMIT), KEY.public_key(), "vn-moh-ew")


def _certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vn-moh-ew")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


def test_an_embedded_certificate_that_would_verify_if_trusted_is_refused(samples: Path) -> None:
    cert = _certificate(ROGUE)
    root = parse((samples / "a2-severe-thunderstorm.xml").read_bytes(), max_bytes=LIMIT)
    signer = XMLSigner(signature_algorithm=SignatureMethod.ECDSA_SHA256)
    data = cap.serialize(signer.sign(root, key=ROGUE, cert=[cert]))
    assert b"X509Certificate" in data
    # a verifier that trusts the embedded certificate (as capvalidator does) accepts it
    XMLVerifier().verify(data, x509_cert=cert)
    with pytest.raises(AlertSignatureInvalid, match="does not verify with the key of vn-moh-ew"):
        signature.verify(parse(data, max_bytes=LIMIT), KEY.public_key(), "vn-moh-ew")


def test_an_unsigned_alert_is_refused(samples: Path) -> None:
    root = parse((samples / "a2-severe-thunderstorm.xml").read_bytes(), max_bytes=LIMIT)
    with pytest.raises(AlertSignatureInvalid, match="no XML signature"):
        signature.verify(root, KEY.public_key(), "vn-moh-ew")


def test_a_second_signature_is_refused(samples: Path) -> None:
    root = parse(signed_sample(samples), max_bytes=LIMIT)
    root.append(etree.fromstring(etree.tostring(root[-1])))
    with pytest.raises(AlertSignatureInvalid, match="2 signatures"):
        signature.verify(root, KEY.public_key(), "vn-moh-ew")


def test_a_signature_that_is_not_the_last_child_is_refused(samples: Path) -> None:
    root = parse(signed_sample(samples), max_bytes=LIMIT)
    sig = root[-1]
    root.remove(sig)
    root.insert(0, sig)
    with pytest.raises(AlertSignatureInvalid, match="last child"):
        signature.verify(root, KEY.public_key(), "vn-moh-ew")


def test_content_added_outside_the_signed_alert_is_never_read(samples: Path) -> None:
    """Signature wrapping: what is returned is the signed data, not the document."""
    data = signed_sample(samples)
    root = parse(data, max_bytes=LIMIT)
    verified = signature.verify(root, KEY.public_key(), "vn-moh-ew")
    assert verified is not root
    assert verified.find("{http://www.w3.org/2000/09/xmldsig#}Signature") is None


def test_a_pinned_key_must_be_ecdsa_or_rsa() -> None:
    with pytest.raises(AlertSignatureInvalid, match="not a PEM public key"):
        signature.key_from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")


@settings(max_examples=30)
@given(cap_alerts(), st.booleans())
def test_sign_then_verify_round_trips_and_any_change_breaks_it(alert: Alert, change: bool) -> None:
    data = cap.serialize(signature.sign(cap.to_element(alert), KEY, "k"))
    root = parse(data, max_bytes=LIMIT)
    if change:
        root.find("{urn:oasis:names:tc:emergency:cap:1.2}identifier").text += "x"  # type: ignore[union-attr,operator]
        with pytest.raises(AlertSignatureInvalid):
            signature.verify(root, KEY.public_key(), "k")
    else:
        assert cap.check(signature.verify(root, KEY.public_key(), "k")) == alert

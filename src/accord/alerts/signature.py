"""The enveloped XML signature of a CAP alert (CAP 1.2 §3.3.2.1), made and checked with a key
the caller trusts, never one the document brings.

Accord signs with ECDSA P-256 and SHA-256 over exclusive canonicalization (ADR 0013). To
verify, the signature's ``KeyInfo`` is replaced by the one key the caller trusts (the sending
participant's alert key in the signed directory, or a feed's pinned key) before the check, so
an embedded certificate or key value, however valid, plays no part. What is returned is the
alert *as signed* (the signed data, re-read), so nothing outside the signature is ever read
(signature wrapping). Pure: bytes and a key in, a verified element or an exception out.
"""

from __future__ import annotations

import base64

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.exceptions import InvalidInput, SignXMLException
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, VerifyResult, XMLVerifier

from accord.alerts.models import DSIG_NS
from accord.errors import AlertSignatureInvalid, FieldError

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
SECTION = "CAP 1.2 §3.3.2.1"
DSIG11_NS = "http://www.w3.org/2009/xmldsig11#"
EXCLUSIVE_C14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0
# What a verifier accepts: no SHA-1, no HMAC, no DSA (ADR 0013)
CONFIG = SignatureConfiguration(
    require_x509=False,
    location="./",  # a child of <alert>: an enveloped signature, nowhere else
    expect_references=1,
    signature_methods=frozenset(
        {
            SignatureMethod.ECDSA_SHA256,
            SignatureMethod.ECDSA_SHA384,
            SignatureMethod.ECDSA_SHA512,
            SignatureMethod.RSA_SHA256,
            SignatureMethod.RSA_SHA384,
            SignatureMethod.RSA_SHA512,
        }
    ),
    digest_algorithms=frozenset(
        {DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512}
    ),
)


def sign(root: etree._Element, key: ec.EllipticCurvePrivateKey, key_name: str) -> etree._Element:
    """``root`` with an enveloped ``ds:Signature`` as its last child (the XSD's place)."""
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=SignatureMethod.ECDSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=EXCLUSIVE_C14N,
    )
    signed: etree._Element = signer.sign(root, key=key, key_name=key_name)
    return signed


def verify(root: etree._Element, key: PublicKey, signer: str) -> etree._Element:
    """The alert as ``key`` signed it; AlertSignatureInvalid if it is unsigned, signed twice,
    signed by another key, or altered. ``signer`` names the key's owner in errors. The
    signature's ``KeyInfo`` in ``root`` is replaced by ``key`` on the way."""
    _require_one_signature(root)
    trusted = _with_trusted_key(root, key)
    try:
        result = XMLVerifier().verify(trusted, expect_config=CONFIG)
    except (SignXMLException, InvalidSignature, InvalidInput, ValueError) as exc:
        raise _invalid(
            "verifies",
            f"the alert's XML signature does not verify with the key of {signer} ({exc})",
        ) from exc
    if not isinstance(result, VerifyResult):  # expect_references=1 gives exactly one
        raise _invalid("one_reference", "the signature must have exactly one reference")
    reference = result.signature_xml.find(f".//{{{DSIG_NS}}}Reference")
    if reference is None or reference.get("URI") != "":
        raise _invalid("whole_alert", "the signature must cover the whole alert (Reference URI='')")
    signed = result.signed_xml
    if signed is None:
        raise _invalid("whole_alert", "the signed data is not the alert element")
    return signed


def _require_one_signature(root: etree._Element) -> None:
    found = root.findall(f"{{{DSIG_NS}}}Signature")
    if not found:
        raise _invalid("signed", "the alert carries no XML signature (ds:Signature)")
    if len(found) > 1:
        raise _invalid(
            "one_signature", f"the alert carries {len(found)} signatures; one is allowed"
        )
    if root[-1] is not found[0]:
        raise _invalid("last_child", "the ds:Signature must be the alert's last child")


def _with_trusted_key(root: etree._Element, key: PublicKey) -> etree._Element:
    """``root`` with its signature naming only ``key``, whatever ``KeyInfo`` said. The tree is
    changed in place (callers keep the bytes as received; the tree is theirs to discard)."""
    signature = root.findall(f"{{{DSIG_NS}}}Signature")[-1]
    for info in signature.findall(f"{{{DSIG_NS}}}KeyInfo"):
        signature.remove(info)
    info = etree.SubElement(signature, f"{{{DSIG_NS}}}KeyInfo")
    der = etree.SubElement(info, f"{{{DSIG11_NS}}}DEREncodedKeyValue", nsmap={"dsig11": DSIG11_NS})
    der.text = _spki(key)
    return root


_SPKI: dict[int, tuple[PublicKey, str]] = {}


def _spki(key: PublicKey) -> str:
    """The key's SubjectPublicKeyInfo in base64, kept per key object (a node checks the same
    few keys over and over; the entry holds the key, so its id is not reused)."""
    found = _SPKI.get(id(key))
    if found is not None and found[0] is key:
        return found[1]
    if len(_SPKI) > 1024:
        _SPKI.clear()
    text = base64.b64encode(
        key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    ).decode()
    _SPKI[id(key)] = (key, text)
    return text


def key_from_pem(pem: str) -> PublicKey:
    """A pinned ECDSA or RSA public key (PEM); AlertSignatureInvalid for anything else."""
    try:
        key = load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise _invalid("key", f"the pinned key is not a PEM public key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise _invalid("key", "the pinned key must be an ECDSA or RSA public key")
    return key


def _invalid(rule: str, message: str) -> AlertSignatureInvalid:
    return AlertSignatureInvalid(
        message,
        advice="Accept the alert only as its sender's node signed it, with the key the signed "
        "directory lists (or the feed's pinned key).",
        errors=[FieldError("alert.Signature", rule, message, SECTION)],
    )

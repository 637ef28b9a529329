"""An evidence package's provenance as CASE/UCO JSON-LD (CASE 1.x, https://caseontology.org).

The export is a flat ``@graph`` that ``case_validate`` (case-utils) accepts without warnings:

* the case is a ``case-investigation:Investigation`` compiling every action and provenance record;
* each plaintext file is a ``uco-observable:File`` whose ``ContentDataFacet`` carries its SHA-256,
  and each sealed blob is a ``File`` of its own, ``Encrypted_From`` that file, with one
  ``ContentData`` per signed ciphertext chunk;
* the acquisition is an ``InvestigativeAction`` (person, tool, source, resulting files);
* each custody record is an ``InvestigativeAction`` performed by the participant's
  ``Organization``, turning the previous ``ProvenanceRecord`` of the exhibit into the next one;
* use limitations are ``StatementMarking``s and the recipients a ``ReleaseToMarking``.

Every ``@id`` is ``kb:<role>-<UUIDv5>`` of (package id, role, key), so exporting the same package
twice yields identical bytes. Text (names, paths, limitations) is copied as written.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

KB = "http://accord.example/kb/"
CONTEXT: dict[str, str] = {
    "kb": KB,
    "case-investigation": "https://ontology.caseontology.org/case/investigation/",
    "uco-action": "https://ontology.unifiedcyberontology.org/uco/action/",
    "uco-core": "https://ontology.unifiedcyberontology.org/uco/core/",
    "uco-identity": "https://ontology.unifiedcyberontology.org/uco/identity/",
    "uco-marking": "https://ontology.unifiedcyberontology.org/uco/marking/",
    "uco-observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
    "uco-tool": "https://ontology.unifiedcyberontology.org/uco/tool/",
    "uco-types": "https://ontology.unifiedcyberontology.org/uco/types/",
    "uco-vocabulary": "https://ontology.unifiedcyberontology.org/uco/vocabulary/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, KB)
SEALED = "sealed"

Node = dict[str, Any]


def _ref(iri: str) -> dict[str, str]:
    return {"@id": iri}


def _refs(iris: Iterable[str]) -> list[dict[str, str]]:
    return [_ref(iri) for iri in iris]


def _datetime(text: str) -> dict[str, str]:
    return {"@type": "xsd:dateTime", "@value": text}  # kept as signed, RFC 3339 is xsd:dateTime


def _integer(value: int) -> dict[str, Any]:
    return {"@type": "xsd:integer", "@value": value}


class _Graph:
    """The nodes of one export and the deterministic IRIs that name them."""

    def __init__(self, package_id: str) -> None:
        self.package_id = package_id
        self.nodes: list[Node] = []

    def uuid(self, role: str, key: object) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"{self.package_id}/{role}/{key}"))

    def iri(self, role: str, key: object) -> str:
        # UCO 1.x core:UcoThing-identifier-regex-shape: IRIs should end with a UUID.
        return f"kb:{role}-{self.uuid(role, key)}"

    def node(self, role: str, key: object, kind: str, props: Mapping[str, Any]) -> Node:
        """A node that is not added to the graph (a facet or a hash nested in its owner)."""
        return {"@id": self.iri(role, key), "@type": kind, **props}

    def add(self, role: str, key: object, kind: str, props: Mapping[str, Any]) -> str:
        node = self.node(role, key, kind, props)
        self.nodes.append(node)
        return str(node["@id"])

    def sha256(self, role: str, key: object, hex_digest: str) -> Node:
        # UCO 1.x types:Hash; since UCO 1.4.0 hashMethod is a plain xsd:string of HashNameVocab.
        return self.node(
            role,
            key,
            "uco-types:Hash",
            {
                "uco-types:hashMethod": "SHA256",
                "uco-types:hashValue": {"@type": "xsd:hexBinary", "@value": hex_digest},
            },
        )


def _participants(manifest: Mapping[str, Any], custody: Sequence[Mapping[str, Any]]) -> list[str]:
    seen = [manifest["sealed_by"], *manifest["recipients"], *(r["actor"] for r in custody)]
    return list(dict.fromkeys(seen))


def _organizations(g: _Graph, participants: Sequence[str]) -> dict[str, str]:
    # UCO 1.x identity:Organization, one per participant id (a national authority node).
    return {
        p: g.add("organization", p, "uco-identity:Organization", {"uco-core:name": p})
        for p in participants
    }


def _markings(g: _Graph, limitations: Sequence[str], recipients: Sequence[str]) -> list[str]:
    """UCO 1.x marking:MarkingDefinition: one StatementMarking per limitation, one ReleaseTo."""
    markings = []
    for index, text in enumerate(limitations):
        statement = g.node(
            "statement-marking",
            index,
            "uco-marking:StatementMarking",
            {"uco-marking:definitionType": "statement", "uco-marking:statement": text},
        )
        props = {"uco-marking:definitionType": "statement", "uco-marking:definition": statement}
        markings.append(g.add("marking-definition", index, "uco-marking:MarkingDefinition", props))
    # marking:authorizedIdentities are "represented as UUIDs": those of the recipients' nodes.
    release = g.node(
        "release-to-marking",
        0,
        "uco-marking:ReleaseToMarking",
        {
            "uco-marking:definitionType": "release-to",
            "uco-marking:authorizedIdentities": [g.uuid("organization", r) for r in recipients],
        },
    )
    props = {"uco-marking:definitionType": "release-to", "uco-marking:definition": release}
    markings.append(
        g.add("marking-definition", "release-to", "uco-marking:MarkingDefinition", props)
    )
    return markings


def _file_facet(g: _Graph, role: str, key: object, path: str, size: int) -> Node:
    # UCO 1.x observable:FileFacet; the path is relative to the package root.
    props = {
        "uco-observable:fileName": PurePosixPath(path).name,
        "uco-observable:filePath": path,
        "uco-observable:sizeInBytes": _integer(size),
    }
    return g.node(role, key, "uco-observable:FileFacet", props)


def _plain_file(g: _Graph, index: int, file: Mapping[str, Any], marks: list[str]) -> str:
    content = {
        "uco-observable:sizeInBytes": _integer(file["size"]),
        "uco-observable:hash": [g.sha256("file-hash", index, file["sha256"])],
    }
    facets = [
        _file_facet(g, "file-facet", index, file["path"], file["size"]),
        g.node("content-facet", index, "uco-observable:ContentDataFacet", content),
    ]
    props = {"uco-core:hasFacet": facets, "uco-core:objectMarking": _refs(marks)}
    return g.add("file", index, "uco-observable:File", props)


def _blob(g: _Graph, index: int, file: Mapping[str, Any], encryption: str, marks: list[str]) -> str:
    size = file["ciphertext_size"]
    facets = [
        _file_facet(g, "blob-facet", index, file["blob"], size),
        g.node(
            "blob-content-facet",
            index,
            "uco-observable:ContentDataFacet",
            {"uco-observable:sizeInBytes": _integer(size), "uco-observable:isEncrypted": True},
        ),
        # UCO 1.x observable:EncryptedStreamFacet; keys stay with the recipients.
        g.node(
            "blob-encryption-facet",
            index,
            "uco-observable:EncryptedStreamFacet",
            {"uco-observable:encryptionMethod": encryption},
        ),
    ]
    props = {"uco-core:hasFacet": facets, "uco-core:objectMarking": _refs(marks)}
    return g.add("blob", index, "uco-observable:File", props)


def _relationship(g: _Graph, key: object, source: str, target: str, kind: str) -> str:
    # UCO 1.x observable:ObservableRelationship, kind from ObservableObjectRelationshipVocab.
    props = {
        "uco-core:source": _ref(source),
        "uco-core:target": _ref(target),
        "uco-core:kindOfRelationship": kind,
        "uco-core:isDirectional": True,
    }
    return g.add("relationship", key, "uco-observable:ObservableRelationship", props)


def _chunks(g: _Graph, index: int, file: Mapping[str, Any], blob: str, chunk_bytes: int) -> None:
    """One ContentData per signed chunk digest: its byte range in the blob and its SHA-256."""
    size = file["ciphertext_size"]
    for n, digest in enumerate(file["chunks"]):
        key = f"{index}/{n}"
        offset = n * chunk_bytes
        length = max(0, min(chunk_bytes, size - offset))
        facets = [
            # UCO 1.x observable:DataRangeFacet
            g.node(
                "chunk-range-facet",
                key,
                "uco-observable:DataRangeFacet",
                {
                    "uco-observable:rangeOffset": _integer(offset),
                    "uco-observable:rangeSize": _integer(length),
                },
            ),
            g.node(
                "chunk-content-facet",
                key,
                "uco-observable:ContentDataFacet",
                {
                    "uco-observable:sizeInBytes": _integer(length),
                    "uco-observable:hash": [g.sha256("chunk-hash", key, digest)],
                },
            ),
        ]
        chunk = g.add("chunk", key, "uco-observable:ContentData", {"uco-core:hasFacet": facets})
        _relationship(g, f"chunk/{key}", chunk, blob, "Contained_Within")


def _acquisition(g: _Graph, acquisition: Mapping[str, Any], files: list[str]) -> str:
    """CASE 1.x investigation:InvestigativeAction: who acquired what, with which tool, when."""
    person = g.add(
        "person", 0, "uco-identity:Person", {"uco-core:name": acquisition["acquired_by"]}
    )
    tool = g.add("tool", 0, "uco-tool:Tool", {"uco-core:name": acquisition["tool"]})
    source = g.add(
        "source", 0, "uco-observable:ObservableObject", {"uco-core:name": acquisition["source"]}
    )
    props = {
        "uco-core:name": "acquisition",
        "uco-core:description": acquisition["method"],
        "uco-action:performer": _ref(person),
        "uco-action:instrument": [_ref(tool)],
        "uco-action:object": [_ref(source)],
        "uco-action:result": _refs(files),
        "uco-action:startTime": _datetime(acquisition["acquired_at"]),
    }
    return g.add("acquisition", 0, "case-investigation:InvestigativeAction", props)


def _describe(record: Mapping[str, Any]) -> str:
    details = "".join(f"; {k}: {v}" for k, v in sorted(record.get("details", {}).items()))
    return (
        f"Accord custody record {record['seq']} ({record['event']}), signed by {record['actor']}; "
        f"SHA-256 of the previous signed record: {record['prev']}{details}"
    )


def _custody(
    g: _Graph,
    *,
    custody: Sequence[Mapping[str, Any]],
    orgs: Mapping[str, str],
    exhibit: tuple[list[str], list[str]],
    acquisition: str,
    marks: list[str],
) -> list[str]:
    """Each custody record as an action turning the exhibit's provenance record into the next."""
    files, blobs = exhibit
    iris: list[str] = []
    previous: str | None = None
    sealed = False
    for position, record in enumerate(custody):  # a verified chain: position == seq
        event = record["event"]
        sealed = sealed or event == SEALED
        # CASE 1.x investigation:ProvenanceRecord: the exhibit (package) after this record.
        provenance = g.add(
            "provenance-record",
            position,
            "case-investigation:ProvenanceRecord",
            {
                "uco-core:name": event,
                "case-investigation:exhibitNumber": g.package_id,
                "uco-core:object": _refs(files + blobs if sealed else files),
                "uco-core:objectMarking": _refs(marks),
            },
        )
        objects = [previous] if previous else []
        results = [provenance]
        props: dict[str, Any] = {
            "uco-core:name": event,
            "uco-core:description": _describe(record),
            "uco-action:performer": _ref(orgs[record["actor"]]),
            "uco-action:startTime": _datetime(record["at"]),
        }
        if event == "acquired":
            props["uco-action:subaction"] = [_ref(acquisition)]
            results += files
        elif event == SEALED:
            objects += files
            results += blobs
        props |= {"uco-action:object": _refs(objects), "uco-action:result": _refs(results)}
        iris += [
            g.add("custody", position, "case-investigation:InvestigativeAction", props),
            provenance,
        ]
        previous = provenance
    return iris


def case_document(
    manifest: Mapping[str, Any], custody: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The CASE/UCO JSON-LD document (``@context`` and ``@graph``) of a package's provenance.

    ``manifest`` and ``custody`` are the JSON forms of a verified manifest and its custody chain
    (oldest record first), as :meth:`Manifest.as_json` and :meth:`CustodyRecord.as_json` dump them.
    The same inputs always give the same document.
    """
    g = _Graph(manifest["package_id"])
    orgs = _organizations(g, _participants(manifest, custody))
    marks = _markings(g, manifest.get("use_limitations", ()), manifest["recipients"])
    files: list[str] = []
    blobs: list[str] = []
    for index, file in enumerate(manifest["files"]):
        files.append(_plain_file(g, index, file, marks))
        blobs.append(_blob(g, index, file, manifest["encryption"], marks))
        _relationship(g, f"blob/{index}", blobs[-1], files[-1], "Encrypted_From")
        _chunks(g, index, file, blobs[-1], manifest["chunk_bytes"])
    acquisition = _acquisition(g, manifest["acquisition"], files)
    compiled = [
        acquisition,
        *_custody(
            g,
            custody=custody,
            orgs=orgs,
            exhibit=(files, blobs),
            acquisition=acquisition,
            marks=marks,
        ),
    ]
    # CASE 1.x investigation:Investigation: the case the package was sealed for.
    investigation = g.node(
        "investigation",
        0,
        "case-investigation:Investigation",
        {
            "uco-core:name": manifest["case"],
            "case-investigation:investigationForm": "case",
            "uco-core:description": f"Accord evidence package {g.package_id}, sealed by "
            f"{manifest['sealed_by']} at {manifest['sealed_at']}",
            "uco-core:object": _refs(compiled),
            "uco-core:objectMarking": _refs(marks),
        },
    )
    return {"@context": dict(CONTEXT), "@graph": [investigation, *g.nodes]}


def case_json(manifest: Mapping[str, Any], custody: Sequence[Mapping[str, Any]]) -> bytes:
    """:func:`case_document` as UTF-8 JSON (indented, non-ASCII kept as is, newline-terminated)."""
    document = case_document(manifest, custody)
    return json.dumps(document, indent=2, ensure_ascii=False).encode() + b"\n"

"""CASE/UCO JSON-LD export of a package's provenance, checked by the CASE validator itself.

``case_validate`` (case-utils) runs in a subprocess: ``case_utils.case_validate`` is a package
without ``__main__``, so ``python -m`` cannot start it; ``-c`` calls its ``main()`` instead.
Each run takes a few seconds, so there are two: a realistic export, and a broken control.
"""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import rdflib

from accord.evidence.case import CONTEXT, case_document, case_json

PACKAGE_ID = "01936f4e-8a2b-7c3d-9e4f-0123456789ab"
VIETNAMESE = "thư/hộp thư đến — Nguyễn Văn A.mbox"
CYRILLIC = "почта/входящие письма.eml"
VALIDATE = "from case_utils.case_validate import main; main()"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _manifest() -> dict[str, Any]:
    return {
        "type": "accord-evidence-manifest/v1",
        "package_id": PACKAGE_ID,
        "case": "HN-2026-0042",
        "sealed_by": "vn-mps-247",
        "sealed_at": "2026-11-24T10:00:00.000000Z",
        "recipients": ["ru-gp-ca", "vn-mps-247"],
        "acquisition": {
            "acquired_by": "Capt. Nguyễn Văn A",
            "acquired_at": "2026-11-23T08:15:00.000000Z",
            "method": "logical copy of mailbox export",
            "tool": "FTK Imager 4.7.1",
            "source": "Mail server of provider Example Telecom, account x@example.vn",
        },
        "use_limitations": [
            "Use only for case HN-2026-0042 (UNCC Art. 36)",
            "Только для уголовного дела HN-2026-0042",
        ],
        "encryption": "age-v1",
        "chunk_bytes": 4194304,
        "files": [
            {
                "path": VIETNAMESE,
                "size": 123456,
                "sha256": _sha("mbox"),
                "blob": "files/000001.age",
                "ciphertext_size": 124000,
                "chunks": [_sha("chunk-1-0")],
            },
            {
                "path": CYRILLIC,
                "size": 9_000_000,
                "sha256": _sha("eml"),
                "blob": "files/000002.age",
                "ciphertext_size": 9_000_500,
                "chunks": [_sha("chunk-2-0"), _sha("chunk-2-1"), _sha("chunk-2-2")],
            },
            {
                "path": "empty.txt",
                "size": 0,
                "sha256": _sha(""),
                "blob": "files/000003.age",
                "ciphertext_size": 200,
                "chunks": [_sha("chunk-3-0")],
            },
        ],
    }


def _custody() -> list[dict[str, Any]]:
    events = [
        ("acquired", "vn-mps-247", "2026-11-23T08:15:00.000000Z", {"tool": "FTK Imager 4.7.1"}),
        ("sealed", "vn-mps-247", "2026-11-24T10:00:00.000000Z", {}),
        ("sent", "vn-mps-247", "2026-11-24T10:05:00.000000Z", {"to": "ru-gp-ca"}),
        ("received", "ru-gp-ca", "2026-11-24T10:05:02.123456Z", {}),
        ("verified", "ru-gp-ca", "2026-11-24T10:06:00.000000Z", {"result": "intact"}),
    ]
    return [
        {
            "type": "accord-custody/v1",
            "package_id": PACKAGE_ID,
            "seq": seq,
            "event": event,
            "actor": actor,
            "at": at,
            "prev": _sha(f"record-{seq - 1}"),
            "details": details,
        }
        for seq, (event, actor, at, details) in enumerate(events)
    ]


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", VALIDATE, str(path)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=240,
        check=False,
    )


def _nodes(document: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [n for n in document["@graph"] if n["@type"] == kind]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Path]:
    path = tmp_path_factory.mktemp("case") / "package.jsonld"
    data = case_json(_manifest(), _custody())
    path.write_bytes(data)
    return data, path


def test_realistic_export_passes_case_validate(exported: tuple[bytes, Path]) -> None:
    _, path = exported
    result = _validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Conforms: True" in result.stdout
    # No Warning either: unknown CASE/UCO concepts would be reported on stderr.
    assert "nonexistent-concept" not in result.stderr


def test_broken_control_fails_case_validate(exported: tuple[bytes, Path]) -> None:
    document = json.loads(exported[0])
    broken = copy.deepcopy(document)
    facet = _nodes(broken, "uco-observable:File")[0]["uco-core:hasFacet"][0]
    facet["uco-observable:sizeInBytes"] = "123456"  # xsd:string where FileFacet wants xsd:integer
    path = exported[1].with_name("broken.jsonld")
    path.write_text(json.dumps(broken, ensure_ascii=False), encoding="utf-8")
    result = _validate(path)
    assert result.returncode != 0
    assert "Conforms: False" in result.stdout
    assert "sizeInBytes" in result.stdout


# rdflib 7's JSON-LD parser builds a ConjunctiveGraph internally and warns about it.
@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
def test_non_latin_names_survive_as_written(exported: tuple[bytes, Path]) -> None:
    data, path = exported
    text = data.decode("utf-8")
    assert VIETNAMESE in text  # ensure_ascii=False: no \\u escapes
    assert "Только для уголовного дела HN-2026-0042" in text
    document = json.loads(data)
    facets = [n["uco-core:hasFacet"][0] for n in _nodes(document, "uco-observable:File")]
    paths = {f["uco-observable:filePath"] for f in facets}
    names = {f["uco-observable:fileName"] for f in facets}
    assert {VIETNAMESE, CYRILLIC} <= paths
    assert {"hộp thư đến — Nguyễn Văn A.mbox", "входящие письма.eml"} <= names
    people = _nodes(document, "uco-identity:Person")
    assert [p["uco-core:name"] for p in people] == ["Capt. Nguyễn Văn A"]
    # and as RDF, the way the validator reads it
    graph = rdflib.Graph().parse(path, format="json-ld")
    file_name = rdflib.URIRef(CONTEXT["uco-observable"] + "fileName")
    assert {"hộp thư đến — Nguyễn Văn A.mbox", "входящие письма.eml"} <= {
        str(o) for o in graph.objects(None, file_name)
    }


def test_export_is_deterministic(exported: tuple[bytes, Path]) -> None:
    assert case_json(_manifest(), _custody()) == exported[0]
    assert exported[0].endswith(b"}\n")
    ids = [n["@id"] for n in json.loads(exported[0])["@graph"]]
    assert len(ids) == len(set(ids))


def test_ids_depend_on_the_package() -> None:
    other = _manifest() | {"package_id": "01936f4e-8a2b-7c3d-9e4f-0123456789ac"}
    first = {n["@id"] for n in case_document(_manifest(), _custody())["@graph"]}
    second = {n["@id"] for n in case_document(other, _custody())["@graph"]}
    assert not first & second


def test_structure_follows_the_manifest_and_chain() -> None:
    document = case_document(_manifest(), _custody())
    (investigation,) = _nodes(document, "case-investigation:Investigation")
    assert investigation["uco-core:name"] == "HN-2026-0042"
    actions = _nodes(document, "case-investigation:InvestigativeAction")
    assert [a["uco-core:name"] for a in actions] == [
        "acquisition",
        "acquired",
        "sealed",
        "sent",
        "received",
        "verified",
    ]
    assert actions[4]["uco-action:startTime"] == {
        "@type": "xsd:dateTime",
        "@value": "2026-11-24T10:05:02.123456Z",
    }
    records = _nodes(document, "case-investigation:ProvenanceRecord")
    assert len(records) == 5
    # each custody action consumes the previous provenance record and yields the next
    for action, before, after in zip(actions[2:], records[:-1], records[1:], strict=True):
        assert {"@id": before["@id"]} in action["uco-action:object"]
        assert {"@id": after["@id"]} in action["uco-action:result"]
    assert len(_nodes(document, "uco-observable:File")) == 6  # 3 plaintext + 3 sealed blobs
    assert len(_nodes(document, "uco-observable:ContentData")) == 5  # signed chunk digests
    organizations = {o["uco-core:name"] for o in _nodes(document, "uco-identity:Organization")}
    assert organizations == {"vn-mps-247", "ru-gp-ca"}
    assert len(_nodes(document, "uco-marking:MarkingDefinition")) == 3  # 2 statements + release


def test_no_limitations_means_only_the_release_marking() -> None:
    manifest = _manifest() | {"use_limitations": []}
    (marking,) = _nodes(case_document(manifest, _custody()), "uco-marking:MarkingDefinition")
    assert marking["uco-marking:definitionType"] == "release-to"

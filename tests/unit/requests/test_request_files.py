"""Loading request files: TOML and JSON, with a clear refusal for anything else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from accord.errors import RequestFileInvalid
from accord.requests.models import RequestType
from accord.requests.validate import MAX_REQUEST_BYTES, load, validate

if TYPE_CHECKING:
    from conftest import Example


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_a_json_file_gives_the_same_record_as_its_toml_twin(
    tmp_path: Path, example: Example, examples: Path
) -> None:
    data = example(RequestType.PRESERVATION)
    path = write(tmp_path, "p.json", json.dumps(data, default=str))
    assert validate(load(path)) == validate(load(examples / "preservation.toml"))


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("r.toml", 'type = "mla"\npurpose = ', "not valid TOML"),
        ("r.json", '{"type": "mla",', "not valid JSON: Expecting"),
        ("r.json", '{"type": "mla", "type": "preservation"}', "'type' appears twice"),
        ("r.json", '{"sentence_months": NaN}', "NaN is not a number JSON allows"),
        ("r.json", "[1, 2]", "holds a list, not a table of fields"),
        ("r.json", '"preservation"', "holds a str, not a table of fields"),
        ("r.json", "[" * 100_000 + "]" * 100_000, "nests too deeply"),
        ("r.yaml", "type: mla", "neither .toml nor .json"),
        ("r.toml", b'type = "mla"\nname = "\xff"', "not UTF-8 text"),
    ],
    ids=["toml", "json", "duplicate", "nan", "list", "string", "deep", "yaml", "utf8"],
)
def test_malformed_files_are_refused_with_the_reason(
    tmp_path: Path, name: str, content: str | bytes, says: str
) -> None:
    path = write(tmp_path, name, content)
    with pytest.raises(RequestFileInvalid, match=says) as caught:
        load(path)
    assert caught.value.advice


def test_an_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = write(tmp_path, "big.toml", f'facts_summary = "{"x" * MAX_REQUEST_BYTES}"')
    with pytest.raises(RequestFileInvalid, match="too large for a request"):
        load(path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RequestFileInvalid, match=r"cannot read .*absent\.toml"):
        load(tmp_path / "absent.toml")

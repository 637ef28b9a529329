"""One contract suite for every BlobStore: the node folder and a real S3-compatible server
(moto_server on loopback). A blob is seen whole or not at all, whatever fails."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.blobs import BlobStore, LocalBlobStore, S3BlobStore, open_store
from accord.blobs.s3 import parse_url
from accord.config import Settings, load_settings
from accord.errors import BlobMissing, BlobStoreError, ConfigError
from s3kit import S3Server

MIB = 1024 * 1024


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "local":
        yield LocalBlobStore(tmp_path / "blobs")
        return
    server: S3Server = request.getfixturevalue("s3_server")
    yield server.store(f"s3://{server.bucket()}/node-1")


def test_a_blob_reads_back_whole_in_ranges_and_as_a_stream(store: BlobStore) -> None:
    data = os.urandom(3 * MIB + 17)
    assert store.put("files/one", [data[:MIB], data[MIB:]]) == len(data)
    assert store.size("files/one") == len(data)
    assert store.read("files/one") == data
    assert store.read("files/one", MIB - 3, 10) == data[MIB - 3 : MIB + 7]
    assert store.read("files/one", len(data), 5) == b""
    buffer = bytearray(2 * MIB)
    with store.open("files/one") as stream:
        assert stream.readinto(buffer) == 2 * MIB  # a buffer is filled whole
        assert buffer == data[: 2 * MIB]
        assert stream.readinto(buffer) == MIB + 17
    assert store.put("empty", []) == 0
    assert store.read("empty") == b""


def test_keys_list_complete_blobs_under_a_prefix_only(store: BlobStore) -> None:
    for key in ("p/a", "p/sub/b", "q/c", "pp/d"):
        store.put(key, [b"x"])
    writer = store.create("p/unfinished")
    writer.write(b"half")
    assert list(store.keys("p")) == ["p/a", "p/sub/b"]  # not the one being written
    writer.abort()
    store.delete_prefix("p")
    assert list(store.keys("p")) == []
    assert list(store.keys("q")) == ["q/c"]
    store.delete("q/c")
    store.delete("q/c")  # deleting what is gone is no error
    assert store.size("q/c") is None


def test_a_failed_write_leaves_nothing_and_keeps_the_old_blob(store: BlobStore) -> None:
    store.put("blob", [b"old"])
    large = os.urandom(6 * MIB)  # over a part: the S3 store has started a multipart upload
    with pytest.raises(RuntimeError, match="vanished"):
        _write_then_fail(store, "blob", [large, large])
    assert store.read("blob") == b"old"
    with pytest.raises(RuntimeError, match="vanished"):
        _write_then_fail(store, "new", [large])
    assert store.size("new") is None
    assert list(store.keys("")) == ["blob"]


def _write_then_fail(store: BlobStore, key: str, pieces: list[bytes]) -> None:
    with store.create(key) as writer:
        for piece in pieces:
            writer.write(piece)
        raise RuntimeError("the evidence vanished mid-write")


def test_append_and_truncate_a_small_blob(store: BlobStore) -> None:
    assert store.append("custody", b"one\n") == 0
    assert store.append("custody", b"two\n") == 4
    store.truncate("custody", 4)
    assert store.read("custody") == b"one\n"


def test_appends_from_several_processes_at_once_all_land(store: BlobStore) -> None:
    """Custody records appended to one chain at once (threads here: on S3 each append is a
    conditional write retried on conflict; in a folder, O_APPEND)."""

    def append(writer: int) -> None:
        for record in range(10):
            store.append("custody", f"{writer}.{record}\n".encode())

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(append, range(6)))
    lines = store.read("custody").decode().splitlines()
    assert sorted(lines) == sorted(f"{w}.{r}" for w in range(6) for r in range(10))
    for writer in range(6):  # each writer's records in its own order
        mine = [line for line in lines if line.startswith(f"{writer}.")]
        assert mine == [f"{writer}.{r}" for r in range(10)]


def test_a_missing_blob_is_a_clear_error(store: BlobStore) -> None:
    with pytest.raises(BlobMissing, match="nope"):
        store.read("nope")
    with pytest.raises(BlobMissing):
        store.open("nope")


@pytest.mark.parametrize("key", ["../escape", "/absolute", "a//b", "a/./b", "", "a b"])
def test_a_key_that_could_climb_out_of_the_store_is_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(BlobStoreError, match="relative name"):
        store.put(key, [b"x"])


def test_a_large_blob_is_a_multipart_upload_of_part_sized_parts(s3_server: S3Server) -> None:
    bucket = s3_server.bucket()
    store = s3_server.store(f"s3://{bucket}", part_bytes=5 * MIB)
    store.put("big", (os.urandom(MIB) for _ in range(12)))
    head = s3_server.client().head_object(Bucket=bucket, Key="big")
    assert head["ETag"].strip('"').endswith("-3")  # S3's ETag of a 3-part upload: 5 + 5 + 2
    assert head["ContentLength"] == 12 * MIB
    assert s3_server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_an_unreachable_store_fails_with_advice(tmp_path: Path) -> None:
    closed = S3Server()  # a port nobody listens on
    store = closed.store("s3://nobody/x", timeout=1)
    with pytest.raises(BlobStoreError, match="unreachable") as caught:
        store.put("k", [b"x"])
    assert "ACCORD_BLOB_ENDPOINT" in caught.value.advice


def test_the_settings_pick_the_store(tmp_path: Path, s3_server: S3Server) -> None:
    assert isinstance(open_store(Settings(home=tmp_path), tmp_path), LocalBlobStore)
    chosen = open_store(
        Settings(home=tmp_path, blob_url="s3://accord-b/n1", blob_endpoint=s3_server.endpoint),
        tmp_path,
    )
    assert isinstance(chosen, S3BlobStore)
    assert (chosen.bucket, chosen.prefix) == ("accord-b", "n1/")


@pytest.mark.parametrize("url", ["http://bucket/x", "s3://", "s3:///x", "s3://UPPER/x"])
def test_a_blob_url_that_is_not_a_bucket_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match="blob_url"):
        load_settings(home=tmp_path, blob_url=url)


@given(st.text(alphabet="ab./\\-_+= \x00", max_size=12))
def test_no_key_that_is_accepted_leads_outside_the_folder(key: str) -> None:
    root = Path("/srv/accord/node")
    try:
        path = LocalBlobStore(root).path(key)
    except BlobStoreError:
        return
    assert path.resolve().is_relative_to(root)
    assert path != root


@given(st.text(max_size=40))
def test_a_blob_url_parses_to_a_bucket_or_is_refused(url: str) -> None:
    try:
        bucket, prefix = parse_url(url)
    except ConfigError:
        return
    assert bucket
    assert "/" not in bucket
    assert prefix == "" or (prefix.endswith("/") and not prefix.startswith("/"))
    assert url.startswith(f"s3://{bucket}")

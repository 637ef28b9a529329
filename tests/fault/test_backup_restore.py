"""Backup while the node runs, disaster, restore (issue 20, ADR 0019): the restored node
resumes delivery without loss or duplication, and its audit log still matches what its
partner witnessed.

vn-mps-247 delivers a first batch to ru-gp-ca (which co-signs vn's checkpoints), then queues
a second batch while ru is down; ``accord backup`` runs against the serving vn. vn is killed
and its folder deleted; ``accord restore`` rebuilds it. Once both run again, the second batch
arrives, each message once, ru raises no alarm, the checkpoint ru co-signed is a prefix of
the restored log, and ru co-signs the restored vn's next checkpoints.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from accord.audit.log import PerfectReader, root_hash
from accord.demo.federation import LocalFederation, LocalNode
from accord.federation.service import Federation
from accord.node.home import DATABASE_FILE

from .faultkit import (
    FAST,
    PAIR,
    RECEIVER,
    SENDER,
    all_delivered,
    assert_exactly_once,
    opened,
    query,
    received_count,
    send_notes,
    wait_until,
)

pytestmark = pytest.mark.slow
BATCH = 15
SETTINGS = FAST + "checkpoint_interval = 1\n"


def accord(node: LocalNode, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "accord", *argv],
        env=node.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_node_restored_from_an_online_backup_resumes_without_loss_or_duplication(
    tmp_path: Path,
) -> None:
    federation = LocalFederation.create(
        tmp_path / "nodes", list(PAIR), {"pair": (SENDER, RECEIVER)}, SETTINGS
    )
    vn, ru = federation.nodes[SENDER], federation.nodes[RECEIVER]
    archive = tmp_path / "vn.backup.tar"
    try:
        ru.start()
        vn.start()
        with opened(vn) as node:
            ids = send_notes(Federation(node), RECEIVER, BATCH, "before the backup")
        wait_until("the first batch", all_delivered(vn, BATCH))
        seen = wait_until(
            "ru to co-sign a checkpoint of vn's log covering the first batch",
            lambda: query(
                ru,
                "SELECT size, root FROM witnessed WHERE participant = ? "
                "AND size >= ? ORDER BY size DESC",
                SENDER,
                2 * BATCH,
            ),
        )[0]
        ru.stop()
        with opened(vn) as node:
            ids += send_notes(Federation(node), RECEIVER, BATCH, "queued while ru is down")

        made = accord(vn, "backup", "--dir", str(vn.home), "--out", str(archive))  # online
        assert made.returncode == 0, made.stderr
        with tarfile.open(archive) as tar:
            names = set(tar.getnames())
        assert {"accord.db", "node.toml", "keys/signing.key.pem", "BACKUP.json"} <= names
        assert "operator-token" not in names
        assert b"PRIVATE KEY-----" in _member(archive, "keys/signing.key.pem")  # still PEM…
        assert b"ENCRYPTED" in _member(archive, "keys/signing.key.pem")  # …and encrypted

        vn.kill()  # the disaster: the node folder is gone
        shutil.rmtree(vn.home)
        restored = accord(vn, "restore", str(archive), "--dir", str(vn.home))
        assert restored.returncode == 0, restored.stderr
        assert "verifies against" in restored.stdout

        # the restored log holds what ru witnessed: the same root at ru's size
        with opened(vn) as node, node.read_engine.connect() as connection:
            assert root_hash(seen["size"], PerfectReader(connection)) == bytes(seen["root"])
        ru.start()
        vn.start()
        wait_until("everything queued before the backup", all_delivered(vn, 2 * BATCH))
        assert_exactly_once(vn, ru, set(ids))
        assert received_count(ru) == 2 * BATCH
        wait_until(
            "ru to co-sign the restored vn's next checkpoint",
            lambda: query(
                ru,
                "SELECT 1 FROM witnessed WHERE participant = ? AND size > ?",
                SENDER,
                seen["size"],
            ),
        )
        assert query(ru, "SELECT * FROM audit_alarms") == []
    finally:
        vn.kill()
        ru.kill()


def _member(archive: Path, name: str) -> bytes:
    with tarfile.open(archive) as tar:
        handle = tar.extractfile(name)
        assert handle is not None
        return handle.read()


def test_a_tampered_or_unsafe_backup_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    federation = LocalFederation.create(tmp_path / "nodes", list(PAIR), {})
    vn = federation.nodes[SENDER]
    archive = tmp_path / "vn.tar"
    assert accord(vn, "backup", "--dir", str(vn.home), "--out", str(archive)).returncode == 0
    assert accord(vn, "backup", "--dir", str(vn.home), "--out", str(archive)).returncode == 2

    altered = tmp_path / "altered.tar"
    with tarfile.open(archive) as source, tarfile.open(altered, "w") as out:
        for member in source.getmembers():
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "node.toml":
                data = data.replace(b"Viet Nam", b"Viet Nan")
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    escaping = tmp_path / "escaping.tar"
    with tarfile.open(escaping, "w") as out:
        info = tarfile.TarInfo("../outside.txt")
        info.size = 1
        out.addfile(info, io.BytesIO(b"x"))
    for bad, says in (
        (altered, "does not match its SHA-256"),
        (escaping, "BACKUP.json"),
        (tmp_path / "missing.tar", "not a readable backup"),
    ):
        target = tmp_path / f"restored-{bad.stem}"
        run = accord(vn, "restore", str(bad), "--dir", str(target))
        assert run.returncode == 2, run.stderr
        assert says in " ".join(run.stderr.split()), run.stderr
        assert not (target / DATABASE_FILE).exists()
    assert not (tmp_path / "outside.txt").exists()

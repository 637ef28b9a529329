"""A real S3-compatible server for the tests: moto's standalone server (``moto_server``, a
separate process speaking S3's HTTP API), started on a free loopback port and stopped, or
killed with SIGKILL, by the test. Its data is held in its memory: a killed server comes back
empty."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import boto3
from mypy_boto3_s3 import S3Client

from accord.blobs.s3 import S3BlobStore, S3Settings
from accord.demo.federation import NodeSpec
from accord.evidence.models import Acquisition
from accord.identity.models import Role

VN, RU = "vn-mps-247", "ru-gp-ca"
SPECS = [  # two nodes, each with its own prefix or store
    NodeSpec(VN, "Viet Nam 24/7", "VN", (Role.POC_24X7,), ("vi", "en")),
    NodeSpec(RU, "Russian Federation CA", "RU", (Role.CENTRAL_AUTHORITY,), ("ru", "en")),
]
ACQUISITION = Acquisition(
    acquired_by="Capt. Nguyen Van A",
    acquired_at=datetime(2026, 11, 23, 8, 15, tzinfo=UTC),
    method="forensic image of a seized laptop",
    tool="ewfacquire 20231121",
    source="laptop seized at 12 Hang Bac, Ha Noi",
)
MOTO = Path(sys.executable).with_name("moto_server")
KEY_ID, SECRET = "accord-test", "accord-test-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class S3Server:
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log: Path) -> S3Server:
        self.log = log
        env = os.environ | {"MOTO_ALLOW_NONEXISTENT_REGION": "true"}
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(MOTO), "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited: {log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            except OSError:
                time.sleep(0.1)
            else:
                return self
        raise RuntimeError("moto_server did not start in 30 s")

    def kill(self) -> None:
        """SIGKILL: the store vanishes mid-request, as a crashed server or host would."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None

    def client(self) -> S3Client:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
        )

    def bucket(self) -> str:
        """A new, empty bucket."""
        name = f"accord-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def settings_toml(self, url: str, **extra: object) -> str:
        lines = [
            f'blob_url = "{url}"',
            f'blob_endpoint = "{self.endpoint}"',
            f'blob_access_key_id = "{KEY_ID}"',
            f'blob_secret_access_key = "{SECRET}"',
            *(f"{key} = {value!r}" for key, value in extra.items()),
        ]
        return "\n".join(lines) + "\n"

    def store(
        self, url: str, *, part_bytes: int = 5 * 1024 * 1024, timeout: float = 10
    ) -> S3BlobStore:
        return S3BlobStore(
            S3Settings(
                url=url,
                endpoint=self.endpoint,
                access_key_id=KEY_ID,
                secret_access_key=SECRET,
                part_bytes=part_bytes,
                timeout=timeout,
            )
        )

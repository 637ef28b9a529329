"""``accord user`` and ``accord request approve|reject`` as an operator runs them: accounts
made, listed, disabled and reset; a formal request approved only by a supervisor other than
its drafter, who proves it with their password."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from accord.db.schema import requests
from accord.demo.cases import REGISTRY
from accord.demo.federation import LocalFederation, LocalNode, NodeSpec
from accord.federation.service import Federation
from accord.identity.models import Role
from accord.identity.registry import read_registry
from accord.requests.service import Requests
from accord.requests.validate import load
from accord.web import accounts, approvals

VN, RU = "vn-mps-247", "ru-gp-247"
BOTH = (Role.POC_24X7, Role.CENTRAL_AUTHORITY)
PASSWORD = "correct horse battery staple"
MLA = Path(__file__).parents[2] / "examples" / "requests" / "mla.toml"


def accord(
    node: LocalNode, *argv: str, password: str = PASSWORD
) -> subprocess.CompletedProcess[str]:
    env = {**node.env, "ACCORD_USER_PASSWORD": password, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "accord", *argv, "--dir", str(node.home)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def federation(root: Path) -> LocalFederation:
    specs = [
        NodeSpec(VN, "Viet Nam 24/7", "VN", BOTH, ("vi", "en")),
        NodeSpec(RU, "Russian Federation 24/7", "RU", BOTH, ("ru", "en")),
    ]
    return LocalFederation.create(
        root, specs, {"everyone": (VN, RU)}, registry=read_registry(load(REGISTRY))
    )


def test_accounts_are_made_listed_disabled_and_reset(tmp_path: Path) -> None:
    vn = federation(tmp_path).nodes[VN]
    assert accord(vn, "user", "add", "vu", "--role", "operator", "--language", "vi").returncode == 0
    short = accord(vn, "user", "add", "bo", "--role", "operator", password="short")
    assert short.returncode == 2
    assert "password" in short.stderr
    taken = accord(vn, "user", "add", "vu", "--role", "auditor")
    assert taken.returncode == 2
    assert "already exists" in taken.stderr
    assert "vu" in accord(vn, "user", "list").stdout
    assert accord(vn, "user", "disable", "vu").returncode == 0
    assert "disabled" in accord(vn, "user", "list").stdout
    assert accord(vn, "user", "reset", "vu", password="a new long passphrase").returncode == 0
    node = vn.open()
    try:
        assert accounts.authenticate(node, "vu", "a new long passphrase").name == "vu"
    finally:
        node.close()


def test_a_formal_request_is_approved_by_another_supervisor_only(tmp_path: Path) -> None:
    vn = federation(tmp_path).nodes[VN]
    node = vn.open()
    try:
        accounts.add(node, "vu", accounts.Role.OPERATOR, PASSWORD)
        accounts.add(node, "sam", accounts.Role.SUPERVISOR, PASSWORD)
        accounts.add(node, "sara", accounts.Role.SUPERVISOR, PASSWORD)
        service = Requests(Federation(node))
        data = load(MLA)
        for key in ("message_id", "receiving_authority"):
            data.pop(key)
        data = json.loads(json.dumps(data, default=str))
        sam = accounts.get(node, "sam")
        first = approvals.submit(service, data, RU, sam)
        second = approvals.submit(service, data, RU, sam)
    finally:
        node.close()
    operator = accord(vn, "request", "approve", first.id, "--user", "vu")
    assert operator.returncode == 2
    assert "not a supervisor" in operator.stderr
    own = accord(vn, "request", "approve", first.id, "--user", "sam")
    assert own.returncode == 2
    assert "drafter" in own.stderr
    wrong = accord(
        vn, "request", "approve", first.id, "--user", "sara", password="not her password"
    )
    assert wrong.returncode == 2
    approved = accord(vn, "request", "approve", first.id, "--user", "sara")
    assert approved.returncode == 0, approved.stderr
    assert first.request_id in approved.stdout
    rejected = accord(vn, "request", "reject", second.id, "--user", "sara", "--reason", "no basis")
    assert rejected.returncode == 0, rejected.stderr
    node = vn.open()
    try:
        with node.read_engine.connect() as connection:
            sent = connection.execute(select(requests.c.request_id)).scalars().all()
    finally:
        node.close()
    assert sent == [first.request_id]

"""The ``accord`` command as an operator and two stewards use it, each step a real process:
create two nodes, build and sign a directory, install it (and fail to install bad ones),
serve, send, read, save an attachment and acknowledge."""

from __future__ import annotations

import json
import re
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import typer.main
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accord.cli.main import app
from accord.clock import SystemClock
from accord.demo.federation import free_port
from accord.identity.directory import draft_bytes, read_document, sign_directory
from accord.identity.keys import read_private_key

from .helpers import DEADLINE, PASSPHRASE, Accord, Run, query, refused, wait_until

# Every command answers --help ---------------------------------------------------------------


def _commands(group: typer.core.TyperGroup, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, typer.core.TyperGroup):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


HELP_DRIVER = """
import contextlib, io, json, sys
from accord.cli.main import main
results = {}
for args in json.loads(sys.argv[1]):
    sys.argv = ["accord", *args, "--help"]
    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            main()
        except SystemExit as exit:
            code = exit.code or 0
    results[" ".join(args)] = [code, out.getvalue()]
print(json.dumps(results))
"""


def test_every_command_and_subcommand_answers_help(tmp_path: Path) -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, typer.core.TyperGroup)
    commands = _commands(root)
    expected = {"init", "serve", "send", "inbox", "outbox", "show", "ack", "demo", "card export"}
    expected |= {
        f"directory {name}"
        for name in ("steward-key", "new", "add", "group", "sign", "stewards", "install", "show")
    }
    assert expected <= {" ".join(c) for c in commands}
    accord = Accord(tmp_path)

    # One interpreter runs main() for every command (imports once, 1.5 s); the root help also
    # runs as its own process through ``python -m accord``.
    driver = subprocess.run(
        [sys.executable, "-c", HELP_DRIVER, json.dumps(commands)],
        cwd=tmp_path,
        env=accord.env,
        capture_output=True,
        text=True,
        timeout=DEADLINE * 2,
        check=True,
    )
    results = json.loads(driver.stdout)
    for command in commands:
        code, text = results[" ".join(command)]
        assert code == 0, (command, text)
        assert " ".join(("Usage: accord", *command)) in " ".join(text.split()), text
    (root_help,) = accord.many(["--help"])
    assert root_help.code == 0, root_help
    assert "Usage:" in root_help.out
    assert list(tmp_path.iterdir()) == []  # --help creates nothing


# The whole flow -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    id: str
    home: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def servers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for process in started:
            process.send_signal(signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _init(site: Site, country: str, roles: str, **bad: str) -> list[str]:
    options = {"id": site.id, "country": country, "roles": roles} | bad
    return [
        "init",
        "--dir",
        str(site.home),
        "--id",
        options["id"],
        "--name",
        f"Authority {site.id}",
        "--country",
        options["country"],
        "--roles",
        options["roles"],
        "--languages",
        "en",
        "--url",
        site.url,
    ]


def _steward(path: Path) -> tuple[Ed25519PrivateKey, str]:
    key = read_private_key(path, PASSPHRASE)
    assert isinstance(key, Ed25519PrivateKey)
    return key, json.loads(path.with_name(path.name + ".pub.json").read_text())["kid"]


def _resigned(signed: Path, out: Path, stewards: list[Path], **changes: object) -> Path:
    """The installed directory with ``changes``, signed by both stewards (what the CLI cannot
    produce: an already expired directory, or one issued later)."""
    document = read_document(signed.read_bytes())
    data = draft_bytes(document.model_validate({**document.model_dump(), **changes}))
    for path in stewards:
        key, kid = _steward(path)
        data = sign_directory(data, key, kid)
    out.write_bytes(data)
    return out


def _queued_id(run: Run) -> str:
    match = re.search(r"queued ([0-9a-f-]{36}) to", run.out)
    assert match, run
    return match.group(1)


def _states(database: Path) -> dict[str, str]:
    rows = query(database, "SELECT message_id, state FROM deliveries")
    return {row["message_id"]: row["state"] for row in rows}


def _line_of(run: Run, message_id: str) -> str:
    lines = [line for line in run.stdout.splitlines() if message_id in line]
    assert len(lines) == 1, run
    return lines[0]


def test_operator_flow_from_init_to_acknowledgement(
    tmp_path: Path, servers: list[subprocess.Popen[bytes]]
) -> None:
    """Independent commands run side by side: every command is its own process."""
    accord = Accord(tmp_path)
    vn = Site("vn-mps-247", tmp_path / "vn", free_port())
    ru = Site("ru-gp-ca", tmp_path / "ru", free_port())
    bad_country = Site("xx-bad-1", tmp_path / "bad-country", 9)
    bad_roles = Site("xx-bad-2", tmp_path / "bad-roles", 9)
    bad_id = Site("xx-bad-3", tmp_path / "bad-id", 9)
    s1, s2 = tmp_path / "steward-1.pem", tmp_path / "steward-2.pem"

    # 1. Two nodes; invalid identities are refused, naming the field, and create nothing.
    #    Two stewards create their keys (passphrase from the environment).
    runs = accord.many(
        _init(vn, "VN", "24x7-poc,law-enforcement"),
        _init(ru, "RU", "central-authority"),
        _init(bad_country, "Viet Nam", "cert"),
        _init(bad_roles, "VN", "cert,judge"),
        _init(bad_id, "VN", "cert", id="VN MPS 24/7"),
        ["directory", "steward-key", "--out", str(s1), "--kid", "steward-1"],
        ["directory", "steward-key", "--out", str(s2), "--kid", "steward-2"],
    )
    for run in (*runs[:2], *runs[5:]):
        assert run.code == 0, run
    refused(runs[2], "country", "ISO 3166-1 alpha-2")
    refused(runs[3], "--roles", "judge")
    refused(runs[4], "id", "lowercase slug")
    for site in (bad_country, bad_roles, bad_id):
        assert not site.home.exists()
    assert b"ENCRYPTED PRIVATE KEY" in s1.read_bytes()

    # 2. Cards (to a file, and to stdout); a draft directory with stewards 2-of-2, both
    #    participants and a group.
    draft = tmp_path / "directory.json"
    runs = accord.many(
        ["card", "export", "--dir", str(vn.home), "--out", str(tmp_path / "vn.card.json")],
        ["card", "export", "--dir", str(ru.home)],
        ["directory", "new", "--out", str(draft), "--federation", "hanoi-test",
         "--stewards", f"{s1}.pub.json", "--stewards", f"{s2}.pub.json", "--threshold", "2"],
    )  # fmt: skip
    assert all(run.code == 0 for run in runs), runs
    (tmp_path / "ru.card.json").write_text(runs[1].stdout)
    accord.ok("directory", "add", str(draft), "vn.card.json", "ru.card.json")
    accord.ok("directory", "group", str(draft), "everyone", "--members", "vn-mps-247,ru-gp-ca")
    assert [p.id for p in read_document(draft.read_bytes()).participants] == [vn.id, ru.id]

    # 3. Signatures one by one; an unsigned or under-signed directory is refused.
    stewards, one, signed = (tmp_path / n for n in ("stewards.json", "one.json", "signed.json"))
    runs = accord.many(
        ["directory", "stewards", str(draft), "--out", str(stewards)],
        ["directory", "sign", str(draft), "--key", str(s1), "--out", str(one)],
    )
    assert all(run.code == 0 for run in runs), runs
    pin = ["--stewards", str(stewards)]
    unsigned, under_signed, _ = accord.many(
        ["directory", "install", str(draft), *pin, "--dir", str(vn.home)],
        ["directory", "install", str(one), *pin, "--dir", str(ru.home)],
        ["directory", "sign", str(one), "--key", str(s2), "--out", str(signed)],
    )
    refused(unsigned, "directory is unsigned")
    refused(under_signed, "1 valid signature(s)", "2 are required")
    runs = accord.many(
        ["directory", "install", str(signed), *pin, "--dir", str(vn.home)],
        ["directory", "install", str(signed), *pin, "--dir", str(ru.home)],
    )
    for run in runs:
        assert run.code == 0, run
        assert "Installed directory hanoi-test v1 (2 participants, 1 groups)" in run.out

    # 4. Both nodes serve. Meanwhile: an expired directory is refused, a newer one installed
    #    and then an older one refused; vn sends a text and a file (queued until delivered).
    servers += [accord.serve(site.home) for site in (vn, ru)]
    now = SystemClock().now()
    expired = _resigned(
        signed,
        tmp_path / "expired.json",
        [s1, s2],
        version=5,
        issued_at=now - timedelta(days=10),
        expires_at=now - timedelta(days=1),
    )
    newer = _resigned(signed, tmp_path / "v2.json", [s1, s2], version=2, issued_at=now)
    evidence = tmp_path / "evidence.bin"
    evidence.write_bytes(secrets.token_bytes(3000) + "Hà Nội".encode())
    expired_run, newer_run, text_run, file_run = accord.many(
        ["directory", "install", str(expired), "--dir", str(vn.home)],
        ["directory", "install", str(newer), "--dir", str(ru.home)],
        ["send", "--dir", str(vn.home), "--to", ru.id, "--subject", "Preservation", "--text",
         "Please preserve subscriber data."],
        ["send", "--dir", str(vn.home), "--to", ru.id, "--subject", "Logs", "--file",
         str(evidence)],
    )  # fmt: skip
    refused(expired_run, "directory version 5 expired at")
    assert "Installed directory hanoi-test v2" in newer_run.out, newer_run
    rollback = accord.many(["directory", "install", str(signed), "--dir", str(ru.home)])[0]
    refused(rollback, "directory version 1 is older than the installed version 2")

    # 5. Delivery; what each side sees; the attachment comes back byte for byte.
    text_id, file_id = _queued_id(text_run), _queued_id(file_run)
    wait_until(lambda: _serving([vn, ru], servers), "both nodes to serve")
    vn_db, ru_db = vn.home / "accord.db", ru.home / "accord.db"
    wanted = {text_id: "delivered", file_id: "delivered"}
    wait_until(lambda: _states(vn_db) == wanted, "both messages delivered")
    saved = tmp_path / "saved"
    outbox, inbox, show = accord.many(
        ["outbox", "--dir", str(vn.home)],
        ["inbox", "--dir", str(ru.home)],
        ["show", file_id, "--save", str(saved), "--dir", str(ru.home)],
    )
    for run in (outbox, inbox, show):
        assert run.code == 0, run
    for message_id in (text_id, file_id):
        assert "delivered" in _line_of(outbox, message_id).split()
        assert vn.id in _line_of(inbox, message_id)
    assert "Preservation" in _line_of(inbox, text_id)
    assert "new" in _line_of(inbox, text_id).split()
    assert "signature verified" in show.out
    assert (saved / "evidence.bin").read_bytes() == evidence.read_bytes()

    # 6. The receiver acknowledges; the sender's delivery becomes acknowledged.
    ack = accord.ok("ack", text_id, "--dir", str(ru.home))
    match = re.search(r"acknowledgement ([0-9a-f-]{36}) queued", ack.out)
    assert match, ack
    wanted[text_id] = "acknowledged"
    wait_until(lambda: _states(vn_db) == wanted, "the acknowledgement")
    rows = query(ru_db, "SELECT message_id, opened_at, ack_message_id FROM incoming")
    marks = {
        row["message_id"]: (row["opened_at"] is not None, row["ack_message_id"]) for row in rows
    }
    assert marks == {text_id: (True, match.group(1)), file_id: (True, None)}
    # vn may apply the acknowledgement before ru's outbox records the delivery: wait for both.
    wait_until(lambda: _states(ru_db) == {match.group(1): "delivered"}, "the ack delivered")


def _serving(sites: list[Site], processes: list[subprocess.Popen[bytes]]) -> bool:
    for site, process in zip(sites, processes, strict=True):
        if process.poll() is not None:
            log = (site.home / "serve.log").read_text(errors="replace")
            raise AssertionError(f"accord serve of {site.id} exited: {log}")
    return all(_healthy(site) for site in sites)


def _healthy(site: Site) -> bool:
    try:
        return httpx.get(site.url + "/federation/v1/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False

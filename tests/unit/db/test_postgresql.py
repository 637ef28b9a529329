"""The PostgreSQL backend on a real server: the migrations build the declared schema, the
contract suite's nodes really run on the database chosen, and several writers (one per
process of a node) append to one audit log in one order and get past deadlocks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine, select, text

from accord.audit import log
from accord.audit.models import Action, Event
from accord.audit.note import NoteSigner
from accord.clock import SystemClock
from accord.config import load_settings
from accord.db.engine import connect_engine
from accord.db.migrate import upgrade
from accord.db.schema import audit_records, deliveries, metadata, outgoing
from accord.db.writer import Writer
from accord.errors import ConfigError, StorageError
from accord.federation.outbox import Outbox
from accord.federation.service import Federation
from accord.identity.models import Role
from accord.node.home import Identity, Node, init_node
from pgkit import PostgresServer

WAIT = 60.0
AT = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
def engines(postgres: PostgresServer) -> Iterator[Callable[[], Engine]]:
    """Engines on one new, migrated database, as many as a test asks for (one per process)."""
    url = postgres.new_database()
    made: list[Engine] = []

    def make() -> Engine:
        made.append(connect_engine(url, writer=True))
        return made[-1]

    try:
        yield make
    finally:
        for engine in made:
            engine.dispose()


def test_migrations_build_the_declared_schema_on_postgresql(postgres: PostgresServer) -> None:
    postgres.execute("CREATE DATABASE fresh_schema")
    engine = connect_engine(postgres.url("fresh_schema"), writer=True)
    try:
        upgrade(engine)
        upgrade(engine)  # a second run changes nothing
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), metadata)
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            widened = connection.execute(
                text(
                    "SELECT data_type FROM information_schema.columns"
                    " WHERE table_name = 'intel_objects' AND column_name = 'date_added'"
                )
            ).scalar()
    finally:
        engine.dispose()
    assert (diff, version, widened) == ([], "0010", "bigint")


def test_contract_suite_nodes_run_on_the_chosen_database(tmp_path: Path, database: str) -> None:
    identity = Identity("vn-x", "X", "VN", (Role.CERT,), ("en",), "http://127.0.0.1:1")
    init_node(tmp_path, identity, "long enough passphrase")
    node = Node.open(load_settings(home=tmp_path), SystemClock(), "long enough passphrase")
    try:
        assert node.write_engine.dialect.name == node.read_engine.dialect.name == database
        assert (tmp_path / "accord.db").exists() == (database == "sqlite")
    finally:
        node.close()


def test_a_node_created_with_a_database_url_keeps_it_in_its_folder(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    identity = Identity("vn-y", "Y", "VN", (Role.CERT,), ("en",), "http://127.0.0.1:1")
    url = postgres.new_database()
    init_node(tmp_path, identity, "long enough passphrase", database_url=url)
    settings = load_settings(home=tmp_path)
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == url
    assert (tmp_path / "settings.toml").stat().st_mode & 0o077 == 0
    assert not (tmp_path / "accord.db").exists()


@pytest.mark.parametrize(
    ("url", "error", "says"),
    [
        ("postgresql://accord@127.0.0.1:1/none", StorageError, "cannot open the node's database"),
        ("mysql://root@127.0.0.1/accord", ConfigError, "unsupported database 'mysql'"),
        ("not a url", ConfigError, "ACCORD_DATABASE_URL is not a database URL"),
    ],
)
def test_a_database_that_cannot_be_used_leaves_no_node_folder(
    tmp_path: Path, url: str, error: type[Exception], says: str
) -> None:
    identity = Identity("vn-z", "Z", "VN", (Role.CERT,), ("en",), "http://127.0.0.1:1")
    with pytest.raises(error, match=says):
        init_node(tmp_path / "node", identity, "long enough passphrase", database_url=url)
    assert not (tmp_path / "node").exists()


def _append(writer: Writer, actor: str, count: int, failures: list[BaseException]) -> None:
    for n in range(count):
        event = Event(actor, Action.MESSAGE_SENT, f"{actor}-{n}", "ab" * 32, (actor,))
        try:
            writer.run(lambda c, e=event: log.record(c, [e], AT))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            failures.append(exc)


def test_writers_of_several_processes_append_to_one_log_in_one_order(
    engines: Callable[[], Engine],
) -> None:
    """Three writers (three processes of one node), two threads each, append at once, and
    each signs checkpoints meanwhile: the indexes are 0..n-1 with no gap or repeat, and every
    checkpoint matches the records."""
    signer = NoteSigner(log.log_origin("vn-x"), Ed25519PrivateKey.generate())
    writers = [Writer(engines()) for _ in range(3)]
    failures: list[BaseException] = []
    threads = [
        threading.Thread(target=_append, args=(writer, f"p{w}t{t}", 60, failures))
        for w, writer in enumerate(writers)
        for t in range(2)
    ]
    for thread in threads:
        thread.start()
    for _round in range(5):
        for writer in writers:
            writer.run(lambda c: log.publish(c, signer, AT))
    for thread in threads:
        thread.join(WAIT)
    writers[0].run(lambda c: log.publish(c, signer, AT))
    try:
        with engines().connect() as connection:
            indexes = connection.execute(select(audit_records.c.idx)).scalars().all()
            objects = connection.execute(select(audit_records.c.object_id)).scalars().all()
            checked = log.verify_local(connection, signer.verifier())
    finally:
        for writer in writers:
            writer.close()
    assert failures == []
    assert sorted(indexes) == list(range(360))
    assert len(set(objects)) == 360
    records, checkpoints, uncovered = checked
    assert (records, uncovered) == (360, 0)
    assert checkpoints >= 2


def test_a_group_that_loses_a_deadlock_to_another_writer_runs_again(
    engines: Callable[[], Engine],
) -> None:
    """Writer A locks row 1 then 2, writer B row 2 then 1: PostgreSQL aborts one of them as
    the deadlock victim, whose group is rolled back and run again once the other committed.
    Both callers see success."""
    engine = engines()
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE slot (id INT PRIMARY KEY, owner TEXT)"))
        connection.execute(text("INSERT INTO slot VALUES (1, NULL), (2, NULL)"))
    locked = {"a": threading.Event(), "b": threading.Event()}

    def crossing(first: int, second: int, owner: str) -> Callable[[Connection], str]:
        other = "b" if owner == "a" else "a"

        def job(connection: Connection) -> str:
            claim = text("UPDATE slot SET owner = :owner WHERE id = :id")
            connection.execute(claim, {"owner": owner, "id": first})
            locked[owner].set()
            assert locked[other].wait(WAIT)  # set for good: the run again does not wait
            connection.execute(claim, {"owner": owner, "id": second})
            return owner

        return job

    a, b = Writer(engines()), Writer(engines())
    try:
        done_a = a.submit(crossing(1, 2, "a"))
        done_b = b.submit(crossing(2, 1, "b"))
        results = {done_a.result(WAIT), done_b.result(WAIT)}
    finally:
        a.close()
        b.close()
    with engine.connect() as connection:
        owners = connection.execute(text("SELECT owner FROM slot")).scalars().all()
    assert results == {"a", "b"}
    assert len(set(owners)) == 1  # the one that committed last holds both rows


def test_two_outboxes_claim_different_deliveries_while_one_holds_its_claim(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    """Outbox A claims 50 of 100 due deliveries and keeps its transaction open; outbox B, of
    another process on the same database, claims at once (it does not wait for A's locks)
    and gets the other 50 (FOR UPDATE SKIP LOCKED)."""
    identity = Identity("vn-w", "W", "VN", (Role.CERT,), ("en",), "http://127.0.0.1:1")
    init_node(tmp_path, identity, "long enough passphrase", database_url=postgres.new_database())
    settings = load_settings(home=tmp_path)
    a, b = (Node.open(settings, SystemClock(), "long enough passphrase") for _ in range(2))
    due = time.time() - 1
    with a.write_engine.begin() as connection:
        for n in range(100):
            message = {"message_id": f"m{n:03}", "address": "ru", "kind": "note"}
            connection.execute(
                outgoing.insert().values(
                    **message, priority="routine", created_at=due, sha256="00" * 32, wire=b"x"
                )
            )
            connection.execute(
                deliveries.insert().values(
                    message_id=f"m{n:03}",
                    recipient="ru",
                    state="queued",
                    attempts=0,
                    next_attempt_at=due,
                    updated_at=due,
                )
            )
    claim_a = Outbox(Federation(a), transport=None)._claim_job(50)  # type: ignore[arg-type]
    claim_b = Outbox(Federation(b), transport=None)._claim_job(50)  # type: ignore[arg-type]
    holding, release = threading.Event(), threading.Event()

    def held(connection: Connection) -> list[str]:
        claimed = [item.message_id for item in claim_a(connection)]
        holding.set()
        assert release.wait(WAIT)
        return claimed

    try:
        first = a.writer.submit(held)
        assert holding.wait(WAIT)
        second = [item.message_id for item in b.writer.submit(claim_b).result(WAIT / 3)]
        release.set()
        first_ids = first.result(WAIT)
    finally:
        release.set()
        a.close()
        b.close()
    assert len(first_ids) == len(second) == 50
    assert sorted(first_ids + second) == [f"m{n:03}" for n in range(100)]

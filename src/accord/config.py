"""Settings: one typed, bounded, documented object; ``ACCORD_`` environment variables win over
the node folder's ``settings.toml``, which wins over the defaults.

Every setting is listed in ``docs/configuration.md``; a test fails when one is not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from accord.errors import ConfigError

SETTINGS_FILE = "settings.toml"
KIB = 1024
MIB = 1024 * KIB
HOUR = 3600.0


class Settings(BaseSettings):
    """Node settings. Sizes in bytes, durations in seconds."""

    model_config = SettingsConfigDict(env_prefix="ACCORD_", extra="forbid", frozen=True)

    home: Path = Field(
        default=Path("accord-node"),
        description="The node folder: keys, database, settings. `--dir` on the CLI sets it too.",
    )
    passphrase: SecretStr | None = Field(
        default=None,
        description="Unlocks the node's private keys; prompted for on a terminal when unset.",
    )
    max_message_bytes: int = Field(
        default=16 * MIB,
        ge=4 * KIB,
        le=256 * MIB,
        description="Largest envelope a node sends or accepts, counted on the wire.",
    )
    message_max_age: float = Field(
        default=72 * HOUR,
        ge=60,
        le=30 * 24 * HOUR,
        description="A message created longer ago than this is refused (replay window).",
    )
    clock_skew: float = Field(
        default=300,
        ge=0,
        le=3600,
        description="How far in the future a message's creation time may lie (peers' clocks).",
    )
    delivery_timeout: float = Field(
        default=48 * HOUR,
        ge=1,
        le=30 * 24 * HOUR,
        description="A message without a receipt this long after creation is marked failed.",
    )
    evidence_incoming_expiry: float = Field(
        default=7 * 24 * HOUR,
        ge=60,
        le=90 * 24 * HOUR,
        description="An incoming evidence transfer that receives nothing this long is discarded.",
    )
    retry_base: float = Field(
        default=0.5,
        ge=0.01,
        le=60,
        description="First retry delay; doubles per attempt with full jitter.",
    )
    retry_max: float = Field(
        default=300,
        ge=0.1,
        le=6 * HOUR,
        description="Longest delay between two delivery attempts.",
    )
    request_timeout: float = Field(
        default=15,
        ge=0.5,
        le=600,
        description="Timeout of one HTTP request to a peer (connect, read and write).",
    )
    outbox_concurrency: int = Field(
        default=32,
        ge=1,
        le=512,
        description="Deliveries in flight at once per peer.",
    )
    outbox_poll: float = Field(
        default=0.5,
        ge=0.01,
        le=60,
        description="How often the outbox looks for work queued by other processes (the CLI).",
    )
    checkpoint_interval: float = Field(
        default=60,
        ge=1,
        le=24 * HOUR,
        description="How often a running node signs a checkpoint of its audit log when it grew.",
    )
    max_recipients: int = Field(
        default=256,
        ge=1,
        le=4096,
        description="Most addressees one envelope may carry.",
    )
    alert_max_bytes: int = Field(
        default=MIB,
        ge=16 * KIB,
        le=16 * MIB,
        description="Largest CAP 1.2 document (or CAP Atom feed) read, checked before parsing.",
    )
    alert_ack_timeout: float = Field(
        default=900,
        ge=10,
        le=7 * 24 * HOUR,
        description="A recipient that has not acknowledged an alert this long after it was sent "
        "is shown as silent.",
    )
    alert_default_lifetime: float = Field(
        default=24 * HOUR,
        ge=60,
        le=30 * 24 * HOUR,
        description="How long an ingested alert with no expires is treated as active.",
    )
    alert_poll: float = Field(
        default=1.0,
        ge=0.05,
        le=60,
        description="How often a serving node looks for exercise injects due and feeds to pull.",
    )
    alert_feed_interval: float = Field(
        default=300,
        ge=10,
        le=24 * HOUR,
        description="Default interval between two pulls of a subscribed CAP Atom feed.",
    )

    intel_max_content_bytes: int = Field(
        default=16 * MIB,
        ge=4 * KIB,
        le=256 * MIB,
        description="Largest TAXII Add Objects body (the API root's max_content_length).",
    )
    intel_max_objects: int = Field(
        default=1000,
        ge=1,
        le=5000,
        description="Most STIX objects one TAXII POST, share or file may carry.",
    )
    intel_page_limit: int = Field(
        default=1000,
        ge=10,
        le=10000,
        description="Most objects in one TAXII page; a larger `limit` is lowered to it.",
    )
    intel_status_retention: float = Field(
        default=7 * 24 * HOUR,
        ge=60,
        le=90 * 24 * HOUR,
        description="How long a TAXII status resource stays readable after its Add Objects.",
    )
    intel_sync_interval: float = Field(
        default=300,
        ge=5,
        le=24 * HOUR,
        description="How often a serving node pulls its subscriptions to partners' collections.",
    )

    # Limits of the HTTP API (ADR 0017) ---------------------------------------------------------
    rate_per_address: float = Field(
        default=100,
        ge=0.1,
        le=100_000,
        description="Requests a second one source address (an IPv6 /64) may make, on average; "
        "over it, 429 with Retry-After.",
    )
    burst_per_address: int = Field(
        default=400,
        ge=1,
        le=1_000_000,
        description="Requests one source address may make at once before its rate applies.",
    )
    rate_per_peer: float = Field(
        default=200,
        ge=0.1,
        le=100_000,
        description="Requests a second one participant may make once its signature verified "
        "(envelopes, evidence chunks, audit proofs), on average.",
    )
    burst_per_peer: int = Field(
        default=800,
        ge=1,
        le=1_000_000,
        description="Requests one participant may make at once before its rate applies.",
    )
    max_connections_per_address: int = Field(
        default=64,
        ge=1,
        le=10_000,
        description="Open connections one source address may hold; more are answered 503. "
        "A peer's outbox holds up to ACCORD_OUTBOX_CONCURRENCY, plus 8 for its other calls.",
    )
    max_connections: int = Field(
        default=1024,
        ge=8,
        le=100_000,
        description="Open connections the node holds in all; more are answered 503.",
    )
    header_timeout: float = Field(
        default=10,
        ge=0.5,
        le=300,
        description="Time a client has to send a request's line and headers (408 after it).",
    )
    body_timeout: float = Field(
        default=120,
        ge=1,
        le=3600,
        description="Time a client has to send a request's body once its headers arrived "
        "(408 after it); an evidence chunk is 4 MiB.",
    )
    keepalive_timeout: float = Field(
        default=5,
        ge=1,
        le=300,
        description="An idle connection between two requests is closed after this long.",
    )
    max_header_bytes: int = Field(
        default=16 * KIB,
        ge=KIB,
        le=MIB,
        description="Largest request line and headers, in bytes (431 over it).",
    )

    # The operator console (ADR 0020)
    console_session_lifetime: float = Field(
        default=8 * HOUR,
        ge=60,
        le=7 * 24 * HOUR,
        description="A console session ends this long after its login, active or not.",
    )
    console_lockout_failures: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Wrong passwords in a row after which a console account is locked.",
    )
    console_lockout_seconds: float = Field(
        default=900,
        ge=1,
        le=7 * 24 * HOUR,
        description="How long a locked console account refuses every login, right or wrong.",
    )
    console_secure_cookies: bool = Field(
        default=True,
        description="Mark the console's cookies Secure (sent over HTTPS only; browsers also "
        "send them to http://localhost). Turn off only behind a TLS proxy on another host name.",
    )
    console_approval_types: tuple[str, ...] = Field(
        default=(
            "mla",
            "mla_stored_data",
            "mla_real_time_traffic",
            "mla_interception",
            "extradition",
            "transfer_of_sentenced_persons",
        ),
        max_length=11,
        description="Request types the console sends only after a second person, a supervisor, "
        "approves them (four eyes); the formal requests by default.",
    )
    console_oidc_issuer: str | None = Field(
        default=None,
        max_length=500,
        description="The OpenID provider's issuer URL; set with the client id, the login page "
        "offers a login through it (authorization code flow with PKCE).",
    )
    console_oidc_client_id: str | None = Field(
        default=None, max_length=255, description="This node's client id at the OpenID provider."
    )
    console_oidc_client_secret: SecretStr | None = Field(
        default=None, description="This node's client secret at the OpenID provider, if any."
    )
    console_page_size: int = Field(
        default=50,
        ge=5,
        le=500,
        description="Rows on one page of the console's lists (the next page is found by key).",
    )

    # Object store (ADR 0022) ---------------------------------------------------------------
    blob_url: str | None = Field(
        default=None,
        pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9._=+/-]*)?$",
        description="Where evidence packages are kept: unset, in the node folder; "
        "s3://bucket/prefix, in an S3-compatible object store.",
    )
    blob_endpoint: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="The object store's URL (MinIO, Ceph, Garage ...); unset: AWS S3.",
    )
    blob_region: str = Field(
        default="us-east-1",
        min_length=1,
        max_length=64,
        description="The object store's region (most S3-compatible servers accept any).",
    )
    blob_access_key_id: str | None = Field(
        default=None,
        max_length=256,
        description="Access key for the object store; unset: boto3's chain (AWS_* variables, "
        "instance role).",
    )
    blob_secret_access_key: SecretStr | None = Field(
        default=None, description="Secret key that goes with ACCORD_BLOB_ACCESS_KEY_ID."
    )
    blob_part_bytes: int = Field(
        default=8 * MIB,
        ge=5 * MIB,
        le=512 * MIB,
        description="Size of each multipart-upload part: what a blob upload holds in memory.",
    )
    blob_timeout: float = Field(
        default=60,
        ge=1,
        le=3600,
        description="Connect and read timeout of each object-store request (3 attempts).",
    )

    # Scale-out on PostgreSQL (ADR 0021) -------------------------------------------------------
    database_url: SecretStr | None = Field(
        default=None,
        description="The node's PostgreSQL database (postgresql://USER@HOST:PORT/NAME); unset: "
        "the SQLite file in the node folder.",
    )

    @model_validator(mode="after")
    def _timeouts_in_order(self) -> Settings:
        if self.delivery_timeout > self.message_max_age:
            raise ValueError(
                "delivery_timeout must not exceed message_max_age: a retry older than the "
                "receiver's replay window would be refused"
            )
        if self.evidence_incoming_expiry <= self.delivery_timeout:
            raise ValueError(
                "evidence_incoming_expiry must exceed delivery_timeout: a sender still retrying "
                "a transfer would find the chunks it sent discarded"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        home = init_settings().get("home") or env_settings().get("home")
        if home is not None:
            toml = Path(home) / SETTINGS_FILE
            if toml.is_file():
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning validation failures into a :class:`ConfigError`."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(
            f"invalid settings: {problems}",
            advice="Fix the ACCORD_* environment variable or settings.toml entry named above "
            "(docs/configuration.md lists every setting with its bounds).",
        ) from exc

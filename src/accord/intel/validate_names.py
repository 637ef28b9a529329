"""The STIX 2.1 §6 Cyber-observable object types and their properties (the names a
pattern's object paths may use without the custom-name rules)."""

from __future__ import annotations

OBSERVABLE_TYPE = frozenset(
    (
        "artifact",
        "autonomous-system",
        "directory",
        "domain-name",
        "email-addr",
        "email-message",
        "file",
        "ipv4-addr",
        "ipv6-addr",
        "mac-addr",
        "mutex",
        "network-traffic",
        "process",
        "software",
        "url",
        "user-account",
        "windows-registry-key",
        "x509-certificate",
    )
)
# the properties every observable has (STIX 2.1 §3.2, §6)
COMMON = (
    "defanged",
    "extensions",
    "granular_markings",
    "id",
    "object_marking_refs",
    "spec_version",
    "type",
)
OBSERVABLE_PROPERTY: dict[str, frozenset[str]] = {
    "artifact": frozenset(
        (
            *COMMON,
            "decryption_key",
            "encryption_algorithm",
            "hashes",
            "mime_type",
            "payload_bin",
            "url",
        )
    ),
    "autonomous-system": frozenset((*COMMON, "name", "number", "rir")),
    "directory": frozenset(
        (*COMMON, "atime", "contains_refs", "ctime", "mtime", "path", "path_enc")
    ),
    "domain-name": frozenset((*COMMON, "resolves_to_refs", "value")),
    "email-addr": frozenset((*COMMON, "belongs_to_ref", "display_name", "value")),
    "email-message": frozenset(
        (
            *COMMON,
            "additional_header_fields",
            "bcc_refs",
            "body",
            "body_multipart",
            "cc_refs",
            "content_type",
            "date",
            "from_ref",
            "is_multipart",
            "message_id",
            "raw_email_ref",
            "received_lines",
            "sender_ref",
            "subject",
            "to_refs",
        )
    ),
    "file": frozenset(
        (
            *COMMON,
            "atime",
            "contains_refs",
            "content_ref",
            "ctime",
            "hashes",
            "magic_number_hex",
            "mime_type",
            "mtime",
            "name",
            "name_enc",
            "parent_directory_ref",
            "size",
        )
    ),
    "ipv4-addr": frozenset((*COMMON, "belongs_to_refs", "resolves_to_refs", "value")),
    "ipv6-addr": frozenset((*COMMON, "belongs_to_refs", "resolves_to_refs", "value")),
    "mac-addr": frozenset((*COMMON, "value")),
    "mutex": frozenset((*COMMON, "name")),
    "network-traffic": frozenset(
        (
            *COMMON,
            "dst_byte_count",
            "dst_packets",
            "dst_payload_ref",
            "dst_port",
            "dst_ref",
            "encapsulated_by_ref",
            "encapsulates_refs",
            "end",
            "ipfix",
            "is_active",
            "protocols",
            "src_byte_count",
            "src_packets",
            "src_payload_ref",
            "src_port",
            "src_ref",
            "start",
        )
    ),
    "process": frozenset(
        (
            *COMMON,
            "child_refs",
            "command_line",
            "created_time",
            "creator_user_ref",
            "cwd",
            "environment_variables",
            "image_ref",
            "is_hidden",
            "opened_connection_refs",
            "parent_ref",
            "pid",
        )
    ),
    "software": frozenset((*COMMON, "cpe", "languages", "name", "swid", "vendor", "version")),
    "url": frozenset((*COMMON, "value")),
    "user-account": frozenset(
        (
            *COMMON,
            "account_created",
            "account_expires",
            "account_first_login",
            "account_last_login",
            "account_login",
            "account_type",
            "can_escalate_privs",
            "credential",
            "credential_last_changed",
            "display_name",
            "is_disabled",
            "is_privileged",
            "is_service_account",
            "user_id",
        )
    ),
    "windows-registry-key": frozenset(
        (*COMMON, "creator_user_ref", "key", "modified_time", "number_of_subkeys", "values")
    ),
    "x509-certificate": frozenset(
        (
            *COMMON,
            "hashes",
            "is_self_signed",
            "issuer",
            "serial_number",
            "signature_algorithm",
            "subject",
            "subject_public_key_algorithm",
            "subject_public_key_exponent",
            "subject_public_key_modulus",
            "validity_not_after",
            "validity_not_before",
            "version",
            "x509_v3_extensions",
        )
    ),
}

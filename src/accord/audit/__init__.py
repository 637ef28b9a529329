"""The tamper-evident audit log: an RFC 9162 Merkle tree of canonical records, C2SP
signed-note checkpoints, inclusion and consistency proofs, and witnessing."""

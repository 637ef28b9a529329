"""Sign-then-encrypt envelopes and receipts: pure functions, bytes and ``now`` in."""

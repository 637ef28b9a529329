"""The operator console: the node's web interface, in nine languages (ADR 0020)."""

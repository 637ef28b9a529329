"""Integration tests: real node processes, real SQLite files, real HTTP on loopback."""

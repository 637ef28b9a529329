"""Node-to-node delivery: the HTTP API, the outbox worker, peer transport, delivery states."""

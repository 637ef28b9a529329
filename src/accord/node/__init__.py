"""A node's folder: identity, keys, database, and the context every command opens."""

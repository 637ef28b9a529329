"""A local federation on loopback and the end-to-end demonstration scenario."""

"""Electronic evidence packages: sealing, verification, custody."""

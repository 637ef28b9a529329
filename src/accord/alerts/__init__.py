"""Early-warning alerts (CAP 1.2) and joint exercises (ADR 0013)."""

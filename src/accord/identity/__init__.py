"""Node keys, participant cards and the signed federation directory."""

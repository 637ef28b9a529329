"""Database: engine set-up, schema, migrations, and the single writer."""

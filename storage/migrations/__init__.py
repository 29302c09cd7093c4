"""Alembic migrations of the index schema (applied by `storage.migrate`)."""

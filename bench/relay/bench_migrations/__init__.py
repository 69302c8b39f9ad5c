"""The relay bench needs only the kit's outbox table, so it has no SQL of its own."""

"""PostgreSQL side of history and stats."""

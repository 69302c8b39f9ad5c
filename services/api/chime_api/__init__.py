"""Chime's HTTP API for internal services."""

"""Chime's fault suite: `python -m chime_faults [--quick]`."""

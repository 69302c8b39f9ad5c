"""The one error of this library."""


class SpecError(ValueError):
    """A spec that cannot be scheduled; the message says what was wrong and how to write it."""

"""Per-key rate limits as a token bucket, and how they are told to the caller (the IETF
RateLimit header fields, draft-ietf-httpapi-ratelimit-headers)."""

from __future__ import annotations

import math
from dataclasses import dataclass

POLICY = "default"


@dataclass(frozen=True)
class Spent:
    """A bucket after a request took (or failed to take) a token."""

    granted: bool
    tokens: float  # what is left
    rate: float  # refill per second
    burst: int  # bucket size

    @property
    def retry_after(self) -> int:
        """Whole seconds until a token is there again (at least 1)."""
        return max(1, math.ceil((1 - self.tokens) / self.rate))

    def headers(self) -> dict[str, str]:
        window = max(1, math.ceil(self.burst / self.rate))
        until_full = max(0, math.ceil((self.burst - self.tokens) / self.rate))
        remaining = max(0, math.floor(self.tokens))
        return {
            "RateLimit-Policy": f'"{POLICY}";q={self.burst};w={window}',
            "RateLimit": f'"{POLICY}";r={remaining};t={until_full}',
        }

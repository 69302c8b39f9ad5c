"""Settings of one emulator instance."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from chime_emulator.limits import RateLimits


@dataclass(frozen=True)
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 8081
    bot_tokens: tuple[str, ...] = ()
    auto_register: bool = False
    token_rate: int = 30
    private_chat_interval: float = 1.0
    group_rate_per_minute: int = 20
    paid_broadcast_rate: int = 1000
    access_log: bool = False
    webhook_timeout_s: float = 10.0
    # As Telegram: an undelivered update is retried (delays doubling from `webhook_backoff_s`
    # up to `webhook_max_backoff_s`) for up to a day, and the bot's later updates wait
    # behind it. A number of attempts instead (tests of giving up) drops it after them.
    webhook_max_attempts: int | None = None
    webhook_backoff_s: float = 0.5
    webhook_max_backoff_s: float = 5.0
    webhook_give_up_s: float = 24 * 3600.0
    # Monotonic seconds used by the rate limiter; tests may pass a fake.
    clock: Callable[[], float] = field(default=time.monotonic)

    @property
    def rate_limits(self) -> RateLimits:
        return RateLimits(
            messages_per_second=self.token_rate,
            private_chat_interval_s=self.private_chat_interval,
            group_messages_per_minute=self.group_rate_per_minute,
            paid_messages_per_second=self.paid_broadcast_rate,
        )

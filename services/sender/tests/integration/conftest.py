"""Makes the sender harness fixtures available to the integration tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from sender_harness import (
    emulator,
    emulator_factory,
    sender_settings,
    start_sender,
    tap,
)

__all__ = ["emulator", "emulator_factory", "sender_settings", "start_sender", "tap"]

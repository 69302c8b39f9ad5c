"""Makes the ingest harness fixtures available to the integration tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from ingest_harness import intake, runtime

__all__ = ["intake", "runtime"]

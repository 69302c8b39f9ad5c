"""Makes the emulator fixtures available to every test in this folder."""

import sys
from pathlib import Path

# Tests import their shared helpers as a sibling module (pytest runs in importlib mode).
sys.path.insert(0, str(Path(__file__).parent))

from emulator_harness import harness, make_harness

__all__ = ["harness", "make_harness"]

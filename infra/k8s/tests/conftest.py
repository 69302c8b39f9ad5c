"""The overlays, rendered once per session with the real kustomize."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The helpers module beside this file, importable by the tests as `k8s_support`.
sys.path.insert(0, str(Path(__file__).parent))
from k8s_support import OVERLAYS, Object, kustomize, overlay_dir


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Object]]:
    scratch = tmp_path_factory.mktemp("overlays")
    return {name: kustomize(overlay_dir(name, scratch)) for name in OVERLAYS}

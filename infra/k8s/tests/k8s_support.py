"""Rendering the overlays with the real kustomize (`kubectl kustomize`), and reading them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

K8S = Path(__file__).resolve().parents[1]
REPO = K8S.parents[1]
SERVICES = ("ingest", "scheduler", "sender", "api")
# The overlays an installation applies, and production with the optional KEDA component
# (rendered from a scratch kustomization: overlay, components).
COMPOSED = {"prod+keda": ("prod", ("keda-sender",))}
OVERLAYS = ("dev", "prod", *COMPOSED)

Object = dict[str, Any]


def kubectl() -> str:
    """kubectl >= 1.27 (kustomize v5) is part of the test environment, like uv."""
    found = os.environ.get("KUBECTL") or shutil.which("kubectl")
    if not found:
        pytest.fail(
            "kubectl not found: the manifest tests render with `kubectl kustomize`;"
            " install kubectl (>= 1.27) or set KUBECTL to its path",
            pytrace=False,
        )
    return found


def kustomize(directory: Path) -> list[Object]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize {directory} failed:\n{result.stderr}", pytrace=False)
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def overlay_dir(name: str, scratch: Path) -> Path:
    if name not in COMPOSED:
        return K8S / "overlays" / name
    base, components = COMPOSED[name]
    directory = scratch / name
    directory.mkdir()
    # kustomize refuses absolute paths: name the repository's directories relative to here.
    rel = Path(os.path.relpath(K8S, directory))
    (directory / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "namespace": "chime",
                "resources": [str(rel / "overlays" / base)],
                "components": [str(rel / "components" / c) for c in components],
            }
        )
    )
    return directory


def of_kind(objects: list[Object], kind: str) -> dict[str, Object]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_spec(workload: Object) -> Object:
    spec: Object = workload["spec"]["template"]["spec"]
    return spec


def service_container(objects: list[Object], service: str) -> Object:
    pod = pod_spec(of_kind(objects, "Deployment")[f"chime-{service}"])
    (container,) = (c for c in pod["containers"] if c["name"] == service)
    return container

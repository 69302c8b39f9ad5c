"""The images the manifests run: one per service from the repository's Dockerfile, linted,
multi-stage, non-root as the pods require, with only that service's dependencies."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from k8s_support import REPO, SERVICES, pod_spec, service_container

pytestmark = pytest.mark.unit

DOCKERFILE = REPO / "Dockerfile"


def tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found on PATH (run the tests through `uv run`)", pytrace=False)
    return found


def run(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, check=False, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_dockerfile_passes_hadolint():
    run(tool("hadolint"), str(DOCKERFILE))


def stages() -> list[str]:
    return re.split(r"^FROM ", DOCKERFILE.read_text(), flags=re.MULTILINE)[1:]


def test_the_runtime_stage_ships_only_the_built_environment():
    build, runtime = stages()
    assert 'uv sync --frozen --no-dev --no-editable --package "chime-${SERVICE}"' in build
    assert "COPY --from=build --chown=root:root /app/.venv /app/.venv" in runtime
    # Nothing is installed or compiled at run time, and the code is not writable by the user.
    assert "pip install" not in runtime
    assert "uv " not in runtime
    assert "PYTHONDONTWRITEBYTECODE=1" in runtime
    assert "UV_COMPILE_BYTECODE=1" in build


def test_the_image_user_is_the_one_the_pods_require(rendered):
    (user,) = re.findall(r"^USER (\d+):(\d+)$", stages()[-1], flags=re.MULTILINE)
    for service in SERVICES:
        for overlay in ("dev", "prod"):
            context = service_container(rendered[overlay], service)["securityContext"]
            assert (str(context["runAsUser"]), str(context["runAsGroup"])) == user


@pytest.mark.parametrize("service", SERVICES)
def test_each_image_holds_only_its_service(service):
    """What `uv sync --package chime-<service>` installs: no other service, no dev tools."""
    exported = run(
        tool("uv"), "export", "--frozen", "--no-dev", "--no-hashes", "--package", f"chime-{service}"
    )
    packages = {
        re.split(r"[=\s;]", line.removeprefix("-e ./"))[0]
        for line in exported.splitlines()
        if line and not line.startswith(("#", " "))
    }
    assert f"services/{service}" in packages
    for other in SERVICES:
        if other != service:
            assert f"services/{other}" not in packages
    assert not packages & {"tools/telegram-emulator", "pytest", "ruff", "mypy"}
    if service in ("scheduler", "sender"):
        # They serve only /healthz, /readyz and /metrics: no web framework.
        assert "fastapi" not in packages


def test_the_build_context_leaves_out_what_no_image_needs():
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".venv/", ".git/", "**/tests/", "infra/", "bench/"} <= ignored


def test_the_manifests_start_what_the_image_holds(rendered):
    for service in SERVICES:
        pod = pod_spec(
            next(
                o
                for o in rendered["prod"]
                if o["kind"] == "Deployment" and o["metadata"]["name"] == f"chime-{service}"
            )
        )
        module = f"chime_{service}"
        assert (REPO / "services" / service / module / "__main__.py").is_file()
        assert pod["containers"][0]["command"][:3] == ["python", "-m", module]

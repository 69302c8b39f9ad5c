"""The dev overlay renders to sound Deployments: probes, limits, a locked-down container.

Rendering is a small pure-Python subset of kustomize (resources, namespace, replicas,
images), enough for these manifests and free of any cluster or binary.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

K8S = Path(__file__).resolve().parents[1]
OVERLAY = K8S / "overlays" / "dev"
SERVICES = ("ingest", "scheduler", "sender", "api")
CLUSTER_SCOPED = {"Namespace"}

pytestmark = pytest.mark.unit


def render(directory: Path) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    objects: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        path = (directory / resource).resolve()
        if path.is_dir():
            objects.extend(render(path))
        else:
            objects.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    namespace = kustomization.get("namespace")
    replicas = {r["name"]: r["count"] for r in kustomization.get("replicas", [])}
    images = {i["name"]: i for i in kustomization.get("images", [])}
    for obj in objects:
        if namespace and obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"]["namespace"] = namespace
        if obj["kind"] == "Deployment":
            if obj["metadata"]["name"] in replicas:
                obj["spec"]["replicas"] = replicas[obj["metadata"]["name"]]
            for container in obj["spec"]["template"]["spec"]["containers"]:
                override = images.get(container["image"].split(":")[0])
                if override:
                    name = override.get("newName", override["name"])
                    container["image"] = f"{name}:{override['newTag']}"
    return objects


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return render(OVERLAY)


def of_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_of(objects: list[dict[str, Any]], service: str) -> dict[str, Any]:
    pod: dict[str, Any] = of_kind(objects, "Deployment")[f"chime-{service}"]["spec"]["template"][
        "spec"
    ]
    return pod


def test_every_service_has_a_deployment_service_and_account(objects):
    names = {f"chime-{s}" for s in SERVICES}
    for kind in ("Deployment", "Service", "ServiceAccount"):
        assert set(of_kind(objects, kind)) == names, kind
    assert set(of_kind(objects, "Namespace")) == {"chime"}
    assert all(
        o["metadata"]["namespace"] == "chime" for o in objects if o["kind"] not in CLUSTER_SCOPED
    )


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_runs_the_service_image_and_module(objects, service):
    deployment = of_kind(objects, "Deployment")[f"chime-{service}"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"].split(":")[0] == f"chime/{service}"
    assert container["command"] == ["python", "-m", f"chime_{service}"]
    assert pod["serviceAccountName"] == f"chime-{service}"
    labels = deployment["spec"]["selector"]["matchLabels"]
    assert labels.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    service_object = of_kind(objects, "Service")[f"chime-{service}"]
    assert service_object["spec"]["selector"] == labels


@pytest.mark.parametrize("service", SERVICES)
def test_settings_come_from_the_service_secret(objects, service):
    (container,) = pod_of(objects, service)["containers"]
    env = {e["name"]: e for e in container["env"]}
    prefix = f"CHIME_{service.upper()}_"
    assert all(name.startswith(prefix) for name in env)
    for setting in ("DATABASE_URL", "AMQP_URL"):
        ref = env[prefix + setting]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == f"chime-{service}"
    assert env[prefix + "HTTP_PORT"]["value"] == "8000"


@pytest.mark.parametrize("service", SERVICES)
def test_probes_and_resources(objects, service):
    (container,) = pod_of(objects, service)["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8000}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] in ("http", 8000)
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][bound])


@pytest.mark.parametrize("service", SERVICES)
def test_container_is_locked_down(objects, service):
    pod = pod_of(objects, service)
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == 10001
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert context["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False


def test_every_object_is_valid_against_the_kubernetes_schema(objects):
    """Offline validation against the Kubernetes OpenAPI schemas bundled with the library."""
    import kubernetes_validate

    version = kubernetes_validate.latest_version()
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)
    broken = copy.deepcopy(of_kind(objects, "Deployment")["chime-sender"])
    broken["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, version, strict=True)

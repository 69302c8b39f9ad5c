"""Every overlay renders with kustomize, and every object it renders is valid offline:
built-in kinds against the Kubernetes OpenAPI schemas (kubernetes-validate), the
operators' kinds against the CRD schemas kept in infra/k8s/crds."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from k8s_support import K8S, OVERLAYS, SERVICES, Object, of_kind, pod_spec, service_container

pytestmark = pytest.mark.unit

# The oldest Kubernetes the manifests promise to work on (preStop `sleep` is beta there),
# and the newest schemas the library ships.
K8S_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())


def closed(schema: Any) -> Any:
    """The CRD schemas list the fields the operators document; anything else is a typo."""
    if isinstance(schema, dict):
        schema = {k: closed(v) for k, v in schema.items()}
        if (
            schema.get("type") == "object"
            and "properties" in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema.setdefault("additionalProperties", False)
        return schema
    if isinstance(schema, list):
        return [closed(v) for v in schema]
    return schema


def load_crds() -> dict[tuple[str, str], dict[str, Any]]:
    crds = {}
    for path in sorted((K8S / "crds").glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = closed(version["schema"]["openAPIV3Schema"])
                crds[(f"{group}/{version['name']}", kind)] = schema
    return crds


CRDS = load_crds()


def validate(obj: Object) -> None:
    schema = CRDS.get((obj["apiVersion"], obj["kind"]))
    if schema is not None:
        jsonschema.Draft7Validator(schema).validate(obj)
        return
    group = obj["apiVersion"].rpartition("/")[0]
    # Built-in groups are unqualified (apps, policy) or end in .k8s.io.
    assert "." not in group or group.endswith(".k8s.io"), (
        f"{obj['apiVersion']} {obj['kind']}: no CRD schema in infra/k8s/crds"
    )
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_against_its_schema(rendered, overlay):
    objects = rendered[overlay]
    assert objects
    for obj in objects:
        validate(obj)


def test_the_crd_schemas_are_crds():
    for path in sorted((K8S / "crds").glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            kubernetes_validate.validate(crd, K8S_VERSIONS[-1], strict=True)
    kinds = {kind for _, kind in CRDS}
    assert kinds >= {
        "RabbitmqCluster", "Vhost", "Exchange", "Policy", "User", "Permission",
        "Cluster", "Database", "ScheduledBackup",
        "ServiceMonitor", "PodMonitor", "PrometheusRule", "ScaledObject",
    }  # fmt: skip


def test_validation_catches_mistakes(rendered):
    """The checks above can fail: a misspelt field is refused by either kind of schema."""
    prod = rendered["prod"]
    broken = copy.deepcopy(of_kind(prod, "Deployment")["chime-sender"])
    pod_spec(broken)["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)
    for kind, name, field in (
        ("RabbitmqCluster", "chime-rabbitmq", "replica"),
        ("Cluster", "chime-postgres", "instance"),
        ("PrometheusRule", "chime", "group"),
        ("Permission", "chime-sender", "permission"),
    ):
        wrong = copy.deepcopy(of_kind(prod, kind)[name])
        wrong["spec"][field] = wrong["spec"].get(field + "s")
        with pytest.raises(jsonschema.ValidationError):
            validate(wrong)
    bad_schedule = copy.deepcopy(of_kind(prod, "ScheduledBackup")["chime-postgres-nightly"])
    bad_schedule["spec"]["schedule"] = "0 2 * * *"  # five fields: CloudNativePG wants six
    with pytest.raises(jsonschema.ValidationError):
        validate(bad_schedule)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_lives_in_the_chime_namespace(rendered, overlay):
    for obj in rendered[overlay]:
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"] == "chime"
            assert obj["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        else:
            assert obj["metadata"]["namespace"] == "chime", obj["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_its_objects_and_runs_its_image(rendered, overlay, service):
    objects = rendered[overlay]
    name = f"chime-{service}"
    for kind in ("Deployment", "Service", "ServiceAccount", "ConfigMap"):
        assert name in of_kind(objects, kind), (kind, name)
    deployment = of_kind(objects, "Deployment")[name]
    pod = pod_spec(deployment)
    container = service_container(objects, service)
    tag = "dev" if overlay == "dev" else "0.1.0"
    assert container["image"] == f"chime/{service}:{tag}"
    assert container["command"] == ["python", "-m", f"chime_{service}"]
    assert pod["serviceAccountName"] == name
    labels = deployment["spec"]["selector"]["matchLabels"]
    assert labels.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert of_kind(objects, "Service")[name]["spec"]["selector"] == labels


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_settings_come_from_the_configmap_and_the_operators_secrets(rendered, overlay, service):
    objects = rendered[overlay]
    prefix = f"CHIME_{service.upper()}_"
    config = of_kind(objects, "ConfigMap")[f"chime-{service}"]["data"]
    assert config[prefix + "HTTP_PORT"] == "8000"
    assert config[prefix + "HTTP_HOST"] == "0.0.0.0"
    assert config[prefix + "MIGRATE_ON_START"] == "false"
    # Tracing by OpenTelemetry's standard variables; the collector component sets the endpoint.
    assert config["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    assert config["OTEL_SERVICE_NAME"] == f"chime-{service}"
    assert all(k.startswith((prefix, "OTEL_")) for k in config)
    pod = pod_spec(of_kind(objects, "Deployment")[f"chime-{service}"])
    for container in pod["initContainers"] + pod["containers"]:
        assert container["envFrom"] == [{"configMapRef": {"name": f"chime-{service}"}}]
        env = {e["name"]: e for e in container["env"]}
        references = [e["valueFrom"] for e in env.values() if "valueFrom" in e]
        secrets = {r["secretKeyRef"]["name"] for r in references if "secretKeyRef" in r}
        assert {f"chime-{service}-db", f"chime-{service}-amqp"} <= secrets
        # The URLs name the operators' Services and the role and user made for the service.
        database_url = env[prefix + "DATABASE_URL"]["value"]
        assert database_url.startswith(f"postgresql://chime_{service}:$(DB_PASSWORD)@")
        assert "chime-postgres-rw:5432/chime" in database_url
        amqp_url = env[prefix + "AMQP_URL"]["value"]
        assert amqp_url == f"amqp://chime_{service}:$(AMQP_PASSWORD)@chime-rabbitmq:5672/chime"
    (main,) = pod["containers"]
    attributes = {e["name"]: e for e in main["env"]}["OTEL_RESOURCE_ATTRIBUTES"]["value"]
    assert "k8s.pod.name=$(POD_NAME)" in attributes
    # No secret is ever rendered: only references.
    assert not of_kind(objects, "Secret")


def test_prod_samples_one_trace_in_ten_and_dev_all(rendered):
    for overlay, ratio in (("dev", "1.0"), ("prod", "0.1")):
        for service in SERVICES:
            config = of_kind(rendered[overlay], "ConfigMap")[f"chime-{service}"]["data"]
            assert config["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
            assert config["OTEL_TRACES_SAMPLER_ARG"] == ratio

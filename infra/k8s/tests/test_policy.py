"""The rules every rendered workload keeps, checked on every overlay: locked-down pods,
probes, resources, graceful stop, spreading, autoscaling and disruption budgets, network
policies, migrations before serving, and the data services the services expect."""

from __future__ import annotations

import re
from typing import Any

import pytest
from k8s_support import OVERLAYS, SERVICES, Object, of_kind, pod_spec, service_container

from chime_api.entrypoints import consumers as api_consumers
from chime_contracts.routing import DEAD_LETTER_EXCHANGE, EVENTS_EXCHANGE, dead_letter_queue
from chime_kit.broker import DEAD_LETTERS, EVENTS
from chime_scheduler.entrypoints import consumers as scheduler_consumers
from chime_sender.entrypoints import consumers as sender_consumers
from chime_sender.settings import SenderSettings

pytestmark = pytest.mark.unit

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
PROD = ("prod", "prod+keda")


class _Recording:
    """Stands in for a service's runtime while its router is built: keeps the queue names."""

    def __init__(self) -> None:
        self.queues: list[str] = []

    def subscribe(self, router: Any, *, queue: str, **_: Any) -> None:
        self.queues.append(queue)


def consuming_queues(build_router: Any) -> list[str]:
    recording = _Recording()
    build_router(recording)
    return recording.queues


# Each service's consuming queues, as its entrypoints name them (ingest consumes none: it
# interprets updates from its own table).
QUEUES = {
    "ingest": [],
    "scheduler": consuming_queues(lambda r: scheduler_consumers.build_router(r, store_of=None)),
    "sender": consuming_queues(sender_consumers.build_router),
    "api": consuming_queues(api_consumers.build_router),
}


def workloads(objects: list[Object]) -> list[Object]:
    return [o for o in objects if o["kind"] in WORKLOAD_KINDS]


def all_workloads() -> list[tuple[str, str]]:
    return [(overlay, kind) for overlay in OVERLAYS for kind in WORKLOAD_KINDS]


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        value = labels.get(expression["key"])
        if expression["operator"] == "In" and value not in expression["values"]:
            return False
        if expression["operator"] == "Exists" and value is None:
            return False
    return True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_locked_down(rendered, overlay):
    found = workloads(rendered[overlay])
    assert len(found) == 5
    for workload in found:
        pod = pod_spec(workload)
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        mounts_tmp = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        for container in pod.get("initContainers", []) + pod["containers"]:
            where = f"{workload['metadata']['name']}/{container['name']}"
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, where
            assert context["runAsUser"] >= 10000, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in context["capabilities"], where
            assert context["seccompProfile"]["type"] == "RuntimeDefault", where
            assert context["readOnlyRootFilesystem"] is True, where
            # Scratch space is an emptyDir on /tmp, never the image.
            tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert len(tmp) == 1, where
            assert tmp[0]["name"] in mounts_tmp, where
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_three_probes_and_liveness_is_the_process_only(rendered, overlay):
    for workload in workloads(rendered[overlay]):
        for container in pod_spec(workload)["containers"]:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert probe in container, (workload["metadata"]["name"], probe)
    for service in SERVICES:
        container = service_container(rendered[overlay], service)
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        # Readiness checks the dependencies; a broken dependency must not restart pods.
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["port"] == "http"
        assert container["ports"] == [{"name": "http", "containerPort": 8000}]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_grace_period_covers_the_drain(rendered, overlay):
    sender_fields = SenderSettings.model_fields
    call = (
        sender_fields["telegram_timeout_seconds"].default
        + sender_fields["telegram_connect_timeout_seconds"].default
    )
    for service in SERVICES:
        pod = pod_spec(of_kind(rendered[overlay], "Deployment")[f"chime-{service}"])
        container = service_container(rendered[overlay], service)
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {})
        drain = pre_stop.get("seconds", 0) + (call if service == "sender" else 10) + 10
        assert pod["terminationGracePeriodSeconds"] >= drain, service


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_spread_over_nodes_and_in_prod_over_zones(rendered, overlay):
    for workload in workloads(rendered[overlay]):
        pod = pod_spec(workload)
        keys = {c["topologyKey"] for c in pod["topologySpreadConstraints"]}
        assert "kubernetes.io/hostname" in keys
        if overlay in PROD and workload["metadata"]["name"].startswith("chime-"):
            assert "topology.kubernetes.io/zone" in keys
        for constraint in pod["topologySpreadConstraints"]:
            assert matches(
                constraint["labelSelector"], workload["spec"]["template"]["metadata"]["labels"]
            )


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_migrations_run_before_the_service_in_the_same_image(rendered, overlay, service):
    pod = pod_spec(of_kind(rendered[overlay], "Deployment")[f"chime-{service}"])
    (migrate,) = pod["initContainers"]
    container = service_container(rendered[overlay], service)
    assert migrate["command"] == ["python", "-m", f"chime_{service}", "migrate"]
    assert migrate["image"] == container["image"]
    assert migrate["env"] == container["env"]
    config = of_kind(rendered[overlay], "ConfigMap")[f"chime-{service}"]["data"]
    assert config[f"CHIME_{service.upper()}_MIGRATE_ON_START"] == "false"


@pytest.mark.parametrize("overlay", PROD)
def test_prod_scales_and_survives_disruptions(rendered, overlay):
    objects = rendered[overlay]
    deployments = of_kind(objects, "Deployment")
    hpas = of_kind(objects, "HorizontalPodAutoscaler")
    scaled = of_kind(objects, "ScaledObject")
    autoscaled = {h["spec"]["scaleTargetRef"]["name"]: h for h in hpas.values()}
    autoscaled |= {s["spec"]["scaleTargetRef"]["name"]: s for s in scaled.values()}
    assert set(autoscaled) == {"chime-ingest", "chime-api", "chime-sender"}
    for name, scaler in autoscaled.items():
        # The autoscaler owns the count: an apply must not reset it.
        assert "replicas" not in deployments[name]["spec"], name
        if scaler["kind"] == "HorizontalPodAutoscaler":
            assert scaler["spec"]["minReplicas"] >= 2
            (metric,) = scaler["spec"]["metrics"]
            assert metric["resource"]["name"] == "cpu"
        else:
            assert scaler["spec"]["minReplicaCount"] >= 2
            kinds = {t["type"] for t in scaler["spec"]["triggers"]}
            assert kinds == {"cpu", "prometheus"}
            (queue,) = (t for t in scaler["spec"]["triggers"] if t["type"] == "prometheus")
            assert "sender\\\\." in queue["metadata"]["query"]
    assert deployments["chime-scheduler"]["spec"]["replicas"] >= 2
    budgets = of_kind(objects, "PodDisruptionBudget").values()
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        (budget,) = (b for b in budgets if matches(b["spec"]["selector"], labels))
        assert budget["spec"]["maxUnavailable"] == 1, name
    if overlay == "prod+keda":
        assert "chime-sender" not in hpas
        assert "chime-sender" in scaled


def allowed_egress(rule: dict[str, Any]) -> str:
    """Names the one destination an egress rule opens, or fails."""
    ports = {(p["protocol"], p["port"]) for p in rule["ports"]}
    (peer,) = rule["to"]
    selected = peer.get("podSelector", {}).get("matchLabels", {})
    if selected == {"app.kubernetes.io/name": "chime-rabbitmq"} and ports == {("TCP", 5672)}:
        return "rabbitmq"
    if selected == {"app.kubernetes.io/name": "chime-rabbitmq"} and ports == {("TCP", 15672)}:
        return "rabbitmq management"
    if selected == {"cnpg.io/cluster": "chime-postgres"} and ports == {("TCP", 5432)}:
        return "postgres"
    if selected == {"app.kubernetes.io/name": "otel-collector"} and ports <= {
        ("TCP", 4317),
        ("TCP", 4318),
    }:
        return "collector"
    if selected == {"k8s-app": "kube-dns"} and ports <= {("UDP", 53), ("TCP", 53)}:
        assert peer["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "kube-system"
        }
        return "dns"
    block = peer.get("ipBlock")
    if block and ports == {("TCP", 443)}:
        # Public addresses only: nothing inside the cluster or the cloud's metadata service.
        assert block["cidr"] == "0.0.0.0/0"
        assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= set(
            block["except"]
        )
        return "telegram"
    raise AssertionError(f"egress rule opens something else: {rule}")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_default_deny_then_only_what_each_service_talks_to(rendered, overlay):
    objects = rendered[overlay]
    policies = of_kind(objects, "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    for workload in workloads(objects):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        selecting = [p for p in policies.values() if matches(p["spec"]["podSelector"], labels)]
        assert len(selecting) == 2, workload["metadata"]["name"]  # default deny and its own
    for service in SERVICES:
        policy = policies[f"chime-{service}"]["spec"]
        destinations = sorted(allowed_egress(rule) for rule in policy["egress"])
        expected = ["collector", "dns", "postgres", "rabbitmq"]
        if service in ("ingest", "sender"):
            expected.append("telegram")
        if service == "api":  # the operator page's queue depths
            expected.append("rabbitmq management")
        assert destinations == sorted(expected), service
        ports = {p["port"] for rule in policy["ingress"] for p in rule["ports"]}
        assert ports == {8000}
    # The data services take their clients from the four services.
    service_labels = of_kind(objects, "Deployment")["chime-sender"]["spec"]["template"]
    for data in ("chime-rabbitmq", "chime-postgres"):
        first = policies[data]["spec"]["ingress"][0]
        assert matches(first["from"][0]["podSelector"], service_labels["metadata"]["labels"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rabbitmq_topology_gives_each_service_its_own_user_and_queues(rendered, overlay):
    objects = rendered[overlay]
    (cluster,) = of_kind(objects, "RabbitmqCluster").values()
    assert cluster["spec"]["replicas"] == (1 if overlay == "dev" else 3)
    exchanges = {e["spec"]["name"]: e["spec"] for e in of_kind(objects, "Exchange").values()}
    assert set(exchanges) == {EVENTS_EXCHANGE, DEAD_LETTER_EXCHANGE}
    # Exactly as the services declare them: a difference refuses their declaration.
    for declared in (EVENTS, DEAD_LETTERS):
        made = exchanges[declared.name]
        assert made["type"] == declared.type.value
        assert made["durable"] is declared.durable
        assert made["autoDelete"] is declared.auto_delete
    assert exchanges[EVENTS_EXCHANGE]["type"] == "topic"
    users = of_kind(objects, "User")
    permissions = of_kind(objects, "Permission")
    policies = [p["spec"] for p in of_kind(objects, "Policy").values()]
    for service in SERVICES:
        user = users[f"chime-{service}"]["spec"]
        assert user["importCredentialsSecret"] == {"name": f"chime-{service}-amqp"}
        grant = permissions[f"chime-{service}"]["spec"]
        assert grant["userReference"] == {"name": f"chime-{service}"}
        assert grant["vhost"] == "chime"
        for queue in QUEUES[service]:
            for name in (queue, dead_letter_queue(queue)):
                for access in ("configure", "write", "read"):
                    assert re.fullmatch(grant["permissions"][access], name), (name, access)
                assert [p for p in policies if re.fullmatch(p["pattern"], name)], name
            # ...and none of another service's queues.
            for other in SERVICES:
                if other != service:
                    for foreign in QUEUES[other]:
                        assert not re.fullmatch(grant["permissions"]["read"], foreign)
        for exchange in (EVENTS_EXCHANGE, DEAD_LETTER_EXCHANGE):
            assert re.fullmatch(grant["permissions"]["write"], exchange)
    for policy in policies:
        assert policy["applyTo"] == "quorum_queues"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_postgres_gives_each_service_a_role_that_owns_its_schema(rendered, overlay):
    objects = rendered[overlay]
    cluster = of_kind(objects, "Cluster")["chime-postgres"]["spec"]
    roles = {r["name"]: r for r in cluster["managed"]["roles"]}
    (database,) = of_kind(objects, "Database").values()
    schemas = {s["name"]: s["owner"] for s in database["spec"]["schemas"]}
    for service in SERVICES:
        role = roles[f"chime_{service}"]
        assert role["login"] is True
        assert role["superuser"] is False
        assert role["passwordSecret"] == {"name": f"chime-{service}-db"}
        assert schemas[service] == f"chime_{service}"
    assert database["spec"]["name"] == cluster["bootstrap"]["initdb"]["database"] == "chime"
    if overlay in PROD:
        assert cluster["instances"] == 3
        assert cluster["backup"]["barmanObjectStore"]["destinationPath"]
        (backup,) = of_kind(objects, "ScheduledBackup").values()
        assert backup["spec"]["cluster"] == {"name": "chime-postgres"}
    else:
        assert cluster["instances"] == 1
        assert not of_kind(objects, "ScheduledBackup")


@pytest.mark.parametrize("overlay", PROD)
def test_prometheus_scrapes_every_service(rendered, overlay):
    objects = rendered[overlay]
    monitor = of_kind(objects, "ServiceMonitor")["chime-services"]["spec"]
    selected = {
        name
        for name, service in of_kind(objects, "Service").items()
        if matches(monitor["selector"], service["metadata"]["labels"])
    }
    assert selected == {f"chime-{s}" for s in SERVICES}
    assert monitor["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "15s"}]

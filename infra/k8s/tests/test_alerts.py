"""The alert rules and dashboards are sound offline: every expression parses as PromQL,
names only metrics something exports, alerts carry the thresholds the design names, and
each links to a section of the runbook that exists."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import promql_parser
import pytest
from k8s_support import K8S, REPO, of_kind

pytestmark = pytest.mark.unit

RUNBOOK = REPO / "docs" / "runbook.md"
# Series from RabbitMQ's Prometheus plugin, cAdvisor, kube-state-metrics and Prometheus.
EXTERNAL = re.compile(r"^(rabbitmq_|container_|kube_|up$)")
# alert: (comparison, threshold, for)
THRESHOLDS = {
    "ChimeDatabasePoolSaturated": (">=", 0.8, "5m"),
    "ChimeHttpErrorRate": (">", 0.01, "5m"),
    "ChimeConsumerErrorRate": (">", 0.01, "5m"),
    "ChimeSendFailureRate": (">", 0.01, "5m"),
    "ChimeFireLagHigh": (">", 2, "2m"),
    "ChimeBreakerOpen": ("==", 2, "1m"),
    "ChimeMemoryHigh": (">", 0.85, "5m"),
    "ChimeDeadLettersGrowing": (">", 0, None),
    "ChimeOutboxPendingGrowing": (">", 1000, "10m"),
    "ChimeRelayNotPublishing": (">", 0, "5m"),
}


def defined_metrics() -> set[str]:
    """The names the services' and the kit's prometheus_client metrics are created with."""
    kinds = "Counter|Gauge|Histogram|Summary|GaugeMetricFamily"
    pattern = re.compile(rf'(?:{kinds})\(\s*"([a-z0-9_:]+)"')
    names = set()
    for path in [*REPO.glob("libs/*/chime_*/**/*.py"), *REPO.glob("services/*/chime_*/**/*.py")]:
        names.update(pattern.findall(path.read_text()))
    return names


def exported(name: str, defined: set[str]) -> bool:
    suffixes = ("", "_total", "_bucket", "_count", "_sum", "_created")
    return any(
        name.endswith(suffix) and name.removesuffix(suffix) in defined for suffix in suffixes
    )


def selectors(node: Any) -> Iterator[str]:
    if isinstance(node, promql_parser.VectorSelector):
        yield node.name
        return
    for attribute in ("lhs", "rhs", "expr", "param", "vector_selector"):
        child = getattr(node, attribute, None)
        if child is not None:
            yield from selectors(child)
    for argument in getattr(node, "args", None) or []:
        yield from selectors(argument)


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    found = set()
    for heading in re.findall(r"^#{1,6} (.+)$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


@pytest.fixture(scope="module")
def rules(rendered) -> list[dict[str, Any]]:
    (rule,) = of_kind(rendered["prod"], "PrometheusRule").values()
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def test_every_rule_parses_and_names_exported_metrics(rules):
    defined = defined_metrics()
    assert defined >= {
        "chime_outbox_pending",
        "chime_scheduler_fire_lag_seconds",
        "chime_db_pool_in_use",
        "chime_db_pool_size",
    }
    for rule in rules:
        expression = promql_parser.parse(rule["expr"])
        for name in selectors(expression):
            assert exported(name, defined) or EXTERNAL.match(name), (rule["alert"], name)


def test_a_broken_expression_is_refused():
    with pytest.raises(ValueError, match="parenthesis"):
        promql_parser.parse("sum(rate(chime_outbox_published_total[5m])")


def test_alerts_carry_the_thresholds_the_design_names(rules):
    by_name = {r["alert"]: r for r in rules}
    assert set(THRESHOLDS) <= set(by_name)
    for alert, (comparison, threshold, duration) in THRESHOLDS.items():
        rule = by_name[alert]
        expression = promql_parser.parse(rule["expr"])
        # `a > x and b`, `a > x unless b`: the threshold is on the left.
        while str(expression.op) in ("and", "unless"):
            expression = expression.lhs
        assert str(expression.op) == comparison, alert
        assert expression.rhs.val == threshold, alert
        assert rule.get("for") == duration, alert


def test_every_alert_links_to_its_runbook_section(rules):
    sections = anchors(RUNBOOK.read_text())
    for rule in rules:
        assert rule["alert"].startswith("Chime")
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
        page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert page == "docs/runbook.md"
        assert anchor == rule["alert"].lower()
        assert anchor in sections, f"docs/runbook.md has no section {rule['alert']}"


def dashboard_expressions() -> Iterator[tuple[str, str]]:
    for path in sorted((K8S / "components" / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"]
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                yield f"{path.name}: {panel['title']}", target["expr"]


def test_dashboards_query_exported_metrics():
    defined = defined_metrics()
    expressions = list(dashboard_expressions())
    assert len(expressions) >= 20
    for where, expression in expressions:
        for name in selectors(promql_parser.parse(expression)):
            assert exported(name, defined) or EXTERNAL.match(name), (where, name)


def test_dashboards_ship_as_configmaps_for_the_grafana_sidecar(rendered):
    configmap = of_kind(rendered["prod"], "ConfigMap")["chime-dashboards"]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    files = {p.name for p in (K8S / "components" / "dashboards").glob("*.json")}
    assert set(configmap["data"]) == files

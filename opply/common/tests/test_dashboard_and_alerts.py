"""The dashboard and the alert rules speak of metrics that exist, and every alert has a runbook."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import Counter, Gauge, Histogram

from opply.common.observability import metrics

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "deploy" / "observability" / "grafana" / "dashboards" / "opply.json"
ALERTS = ROOT / "deploy" / "observability" / "prometheus" / "alerts.yml"
RUNBOOKS = ROOT / "docs" / "observability.md"
METRIC_NAME = re.compile(r"\bopply_[a-z0-9_]+\b")


def exported_names() -> set[str]:
    names = set(metrics.COLLECTED_METRICS)
    for value in vars(metrics).values():
        if isinstance(value, Counter):
            names.add(f"{value._name}_total")
        elif isinstance(value, Histogram):
            names |= {f"{value._name}_bucket", f"{value._name}_count", f"{value._name}_sum"}
        elif isinstance(value, Gauge):
            names.add(value._name)
    return names


def dashboard_expressions() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def alert_rules() -> list[dict]:  # type: ignore[type-arg]
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def test_every_metric_the_dashboard_and_the_alerts_use_is_exported():
    used = {name for expr in dashboard_expressions() + [rule["expr"] for rule in alert_rules()] for name in METRIC_NAME.findall(expr)}
    assert used, "no metric found: the parsing is broken"
    assert used - exported_names() == set()


def test_the_dashboard_has_the_panels_an_operator_opens_first():
    titles = {panel["title"] for panel in json.loads(DASHBOARD.read_text())["panels"]}
    for expected in (
        "Request rate by route",
        "Request latency (all routes)",
        "Error rate",
        "Orders by status per minute",
        "Refused reservations per minute",
        "Fulfilment lag (accepted → confirmed)",
        "Outbox backlog",
        "Sweeper activity",
        "Replica fallbacks",
    ):
        assert expected in titles


def test_panels_use_the_provisioned_datasource_and_do_not_overlap():
    datasource = yaml.safe_load((DASHBOARD.parents[1] / "provisioning" / "datasources" / "prometheus.yml").read_text())["datasources"][0]
    cells: set[tuple[int, int]] = set()
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        assert panel["datasource"]["uid"] == datasource["uid"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        area = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not area & cells, panel["title"]
        cells |= area


def test_every_alert_has_a_one_line_runbook():
    runbooks = RUNBOOKS.read_text()
    for rule in alert_rules():
        name = rule["alert"]
        assert rule["annotations"]["runbook_url"] == f"docs/observability.md#{name.lower()}"
        match = re.search(rf"^#### {name}\n\n(.+)$", runbooks, re.MULTILINE)
        assert match, f"no runbook for {name} in docs/observability.md"
        assert match.group(1).strip()

"""deployments/prometheus (alert rules) and deployments/grafana (dashboard) checked against the
code: promtool validates and unit-tests the rules and parses every dashboard query, and every
metric they name is one Quorra exports (a renamed metric fails here, not in an operator's
Grafana)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from quorra.metrics import Metrics
from tests.support import require_tool

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deployments" / "prometheus" / "quorra-alerts.yml"
RULE_TESTS = ROOT / "deployments" / "prometheus" / "quorra-alerts.test.yml"
DASHBOARD = ROOT / "deployments" / "grafana" / "quorra-dashboard.json"
#: Grafana's variables, replaced by what Prometheus would see.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$queue": ".*"}
METRIC_NAME = re.compile(r"\bquorra_[a-z_]+\b")
#: Histograms add these series to their base name.
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def run_promtool(*args: str) -> None:
    promtool = require_tool("promtool", "prometheus")
    done = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def exported_names() -> set[str]:
    registry = CollectorRegistry()
    Metrics(registry)
    names: set[str] = set()
    for family in registry.collect():
        base = family.name + ("_total" if family.type == "counter" else "")
        names.add(base)
        if family.type == "histogram":
            names.update(family.name + suffix for suffix in HISTOGRAM_SUFFIXES)
    return names


def alert_exprs() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    for name, value in GRAFANA_VARIABLES.items():
        exprs = [expr.replace(name, value) for expr in exprs]
    return exprs


def test_alert_rules_are_valid_and_fire_as_tested() -> None:
    run_promtool("check", "rules", str(RULES))
    run_promtool("test", "rules", str(RULE_TESTS))


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    rules = [{"record": f"quorra:dashboard_query_{i}", "expr": expr}
             for i, expr in enumerate(dashboard_exprs())]
    assert len(rules) >= 10
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    run_promtool("check", "rules", str(path))


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_every_metric_named_is_exported(source: str) -> None:
    exprs = alert_exprs() if source == "alerts" else dashboard_exprs()
    named = {name for expr in exprs for name in METRIC_NAME.findall(expr)}
    assert named, source
    assert named <= exported_names(), named - exported_names()


def test_the_dashboard_shows_every_signal() -> None:
    shown = {name for expr in dashboard_exprs() for name in METRIC_NAME.findall(expr)}
    signals = {"quorra_lease_expiries_total", "quorra_jobs_redelivered_total",
               "quorra_settlements_refused_total", "quorra_dispatch_mode_changes_total",
               "quorra_redis_rebuilds_total", "quorra_job_end_to_end_seconds_bucket",
               "quorra_background_task_failures_total", "quorra_dispatch_stalled"}
    assert signals <= shown, signals - shown


def test_the_rules_alert_on_what_operators_need() -> None:
    """Dead jobs, lease expiries, the Redis fallback, a growing backlog, no workers, failing
    authentication: each has a rule reading its metric."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    exprs = {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}
    needed = {"QuorraDeadJobs": "quorra_jobs_dead_total",
              "QuorraLeaseExpiries": "quorra_lease_expiries_total",
              "QuorraLeftRedisMode": "quorra_dispatch_mode_changes_total",
              "QuorraBacklogGrowing": "quorra_job_queue_length",
              "QuorraNoWorkers": "quorra_workers_connected",
              "QuorraAuthFailures": "quorra_auth_failures_total"}
    for alert, metric in needed.items():
        assert metric in exprs.get(alert, ""), alert
    tested = RULE_TESTS.read_text()
    for alert in ("QuorraBacklogGrowing", "QuorraNoWorkers", "QuorraAuthFailures"):
        assert f"alertname: {alert}" in tested, alert

"""Alerts, dashboard and scaler ask only for metrics docwatch exports: a real ``docwatch run`` (CPU
engine, local folders) converts a document, its /metrics is scraped, and every metric name in the
PrometheusRule's expressions, the Grafana dashboard's targets and the KEDA Prometheus query is
found among the scrape's ``# TYPE`` lines (so a labelled metric no code path has touched yet
still counts; histogram and counter sample suffixes resolve to their family). The one metric
from outside (the dead-letter queue's depth) must be the name deploy/aws/cloudwatch-exporter.yml
makes and be named in its alert's annotation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

try:
    from tests.daemon_harness import start_daemon, wait_for, wait_status
    from tests.docs import make_text_pdf
except ImportError:
    from daemon_harness import start_daemon, wait_for, wait_status  # type: ignore[no-redef]
    from docs import make_text_pdf  # type: ignore[no-redef]

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
RULE = ROOT / "deploy" / "k8s" / "base" / "prometheusrule.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "docwatch.json"
SCALER = ROOT / "deploy" / "k8s" / "base" / "scaledobject-prometheus.yaml"
EXPORTER = ROOT / "deploy" / "aws" / "cloudwatch-exporter.yml"
README = ROOT / "deploy" / "README.md"
ALERTS = {
    "DocwatchNoProgress",
    "DocwatchHighFailureRate",
    "DocwatchOldestDocumentWaiting",
    "DocwatchEngineDown",
    "DocwatchLeaseLost",
    "DocwatchReadinessFlapping",
    "DocwatchDeadLetterQueueNotEmpty",
}
KEYWORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
}
SUFFIXES = {
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
    "counter": ("_created",),
    "gauge": (),
    "info": (),
    "stateset": (),
    "unknown": (),
}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: not functions, aggregations, keywords, label
    names (matchers, by/on/... lists) or label values."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?", text):
        if not m.group(2) and m.group(1).lower() not in KEYWORDS:
            names.add(m.group(1))
    return names


def test_metric_names_extraction() -> None:
    expr = (
        'sum by (le, stage) (rate(a_bucket{x="y", z=~"$ns"}[5m])) / on (x) group_left (q) b > 0.95 '
        "unless c offset 5m or max without (pod) (histogram_quantile(0.5, d_total)) and bool e"
    )
    assert metric_names(expr) == {"a_bucket", "b", "c", "d_total", "e"}


def rule_exprs() -> dict[str, str]:
    doc = yaml.safe_load(RULE.read_text())
    return {r["alert"]: r["expr"] for g in doc["spec"]["groups"] for r in g["rules"]}


def dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 10 and all(e.strip() for e in exprs)
    return exprs


def exposed_families(text: str) -> dict[str, str]:
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))


def resolves(name: str, families: dict[str, str]) -> bool:
    if name in families:
        return True
    return any(
        name.endswith(suffix) and families.get(name.removesuffix(suffix)) == kind
        for kind, suffixes in SUFFIXES.items()
        for suffix in suffixes
    )


def cloudwatch_exporter_names() -> set[str]:
    """prometheus/cloudwatch_exporter's naming: aws_<namespace>_<metric>_<statistic>, snake case."""

    def snake(s: str) -> str:
        return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", s).lower()

    config = yaml.safe_load(EXPORTER.read_text())
    return {
        f"aws_{snake(m['aws_namespace'].split('/', 1)[1])}_{snake(m['aws_metric_name'])}_{stat.lower()}"
        for m in config["metrics"]
        for stat in m["aws_statistics"]
    }


def test_alerts_have_a_runbook_line() -> None:
    assert set(rule_exprs()) == ALERTS
    text = README.read_text()
    section = text.split("## Alerts and runbook", 1)[1].split("\n## ", 1)[0]
    items = {
        m.group(1): m.group(2) for m in re.finditer(r"^\* `(\w+)`(.*?)(?=^\* |\Z)", section, re.MULTILINE | re.DOTALL)
    }
    for alert in ALERTS:
        assert "runbook:" in items.get(alert, ""), f"{alert}: no runbook item in deploy/README.md"


def test_every_metric_the_alerts_dashboard_and_scaler_use_is_exported(tmp_path: Path) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    make_text_pdf(inp / "one.pdf", ["A page for the metrics scrape."])
    d = start_daemon(tmp_path, str(inp), str(out))
    try:
        assert wait_status(out, "one.pdf")["status"] == "succeeded"
        wait_for(lambda: d.http("/readyz")[0] == 200, what="readiness")
        status, body = d.http("/metrics")
        assert status == 200
        scrape = body.decode()
    finally:
        assert d.stop() == 0
    families = exposed_families(scrape)
    assert 'docwatch_documents_total{status="succeeded"} 1.0' in scrape  # a real run was scraped
    assert re.search(r'^docwatch_build_info\{[^}]*version="[^"]+"', scrape, re.MULTILINE)
    # wired by the daemon: the engine it runs, its state, when the result came after the upload
    assert re.search(r'^docwatch_build_info\{[^}]*engine="cpu"', scrape, re.MULTILINE)
    assert 'docwatch_engine_state{state="ready"} 1.0' in scrape
    assert 'docwatch_upload_to_result_seconds_count{status="succeeded"} 1.0' in scrape
    assert "process_cpu_seconds_total" in families and "docwatch_ready" in families

    rules = rule_exprs()
    scaler = yaml.safe_load(SCALER.read_text())["spec"]["triggers"][0]["metadata"]["query"]
    used: dict[str, set[str]] = {}
    for source, exprs in (("rule", rules.values()), ("dashboard", dashboard_exprs()), ("scaler", [scaler])):
        for expr in exprs:
            for name in metric_names(expr):
                used.setdefault(name, set()).add(source)
    # not vacuous: the names the issue asks the alerts and dashboard to cover are among them
    for needed in (
        "docwatch_queue_depth",
        "docwatch_documents_total",
        "docwatch_pages_total",
        "docwatch_oldest_queued_age_seconds",
        "docwatch_engine_ready",
        "docwatch_engine_state",
        "docwatch_lease_renewals_total",
        "docwatch_readiness_changes_total",
        "docwatch_upload_to_result_seconds_bucket",
        "docwatch_document_failures_total",
        "docwatch_s3_errors_total",
        "process_cpu_seconds_total",
    ):
        assert needed in used, needed
    assert not resolves("docwatch_no_such_metric_total", families)

    external = cloudwatch_exporter_names()
    missing = sorted(n for n in used if not resolves(n, families) and n not in external)
    assert not missing, f"not exported by docwatch: {missing}"
    (dlq_name,) = metric_names(rules["DocwatchDeadLetterQueueNotEmpty"])
    assert dlq_name in external and used[dlq_name] == {"rule"}
    rule = next(
        r
        for g in yaml.safe_load(RULE.read_text())["spec"]["groups"]
        for r in g["rules"]
        if r["alert"] == "DocwatchDeadLetterQueueNotEmpty"
    )
    assert (
        dlq_name in rule["annotations"]["metric_source"]
        and "cloudwatch" in rule["annotations"]["metric_source"]
    )

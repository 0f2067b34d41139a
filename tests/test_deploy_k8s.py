"""Kubernetes: every overlay builds with ``kubectl kustomize``; its core objects validate offline
against the Kubernetes schemas (kubernetes-validate ships them), the prometheus-operator and
KEDA objects carry what their CRDs require, and the objects agree with each other and with the
code (settings, metrics, the compose file's vLLM server)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from prometheus_client import generate_latest

from watcher.metrics import Metrics

try:
    from tests.test_deploy import assert_known_setting
except ImportError:
    from test_deploy import assert_known_setting  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("cpu", "gpu", "gpu-vllm")
K8S_VERSION = "1.30.0"  # the oldest release EKS/GKE still support in standard support
CORE_KINDS = {"Deployment", "Service", "ServiceAccount", "ConfigMap", "PodDisruptionBudget"}
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")


def kustomize(path: Path) -> list[dict]:
    exe = shutil.which("kubectl")
    assert exe, "kubectl not installed (scripts/bootstrap.sh test installs it)"
    proc = subprocess.run([exe, "kustomize", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def with_components(tmp_path: Path, overlay: str, *components: str) -> list[dict]:
    """An operator's own overlay: one of ours plus components (kustomize wants relative paths)."""
    rel = os.path.relpath(K8S, tmp_path)
    tmp_path.joinpath("kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [f"{rel}/overlays/{overlay}"],
                "components": [f"{rel}/{c}" for c in components],
            }
        )
    )
    return kustomize(tmp_path)


def one(docs: list[dict], kind: str, name: str = "docwatch") -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)}"
    return found[0]


def container(docs: list[dict], name: str = "docwatch") -> dict:
    (c,) = [
        c
        for c in one(docs, "Deployment", name)["spec"]["template"]["spec"]["containers"]
        if c["name"] == name
    ]
    return c


def config(docs: list[dict]) -> dict[str, str]:
    return one(docs, "ConfigMap", "docwatch-config")["data"]


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request) -> tuple[str, list[dict]]:
    return request.param, kustomize(K8S / "overlays" / request.param)


def test_core_objects_validate_against_the_kubernetes_schemas(overlay) -> None:
    _, docs = overlay
    assert CORE_KINDS <= {d["kind"] for d in docs}
    for doc in docs:
        if doc["kind"] in CORE_KINDS:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # raises on any error
    bad = {**one(docs, "Service"), "spec": {"ports": [{"port": "http"}]}}  # the check can fail
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def test_no_static_keys_and_the_pods_use_the_service_account(overlay) -> None:
    _, docs = overlay
    assert not [d for d in docs if d["kind"] == "Secret"]
    for doc in docs:
        assert "AWS_ACCESS_KEY_ID" not in yaml.safe_dump(
            doc
        ) and "AWS_SECRET_ACCESS_KEY" not in yaml.safe_dump(doc)
    sa = one(docs, "ServiceAccount")
    assert re.fullmatch(
        r"arn:aws:iam::\d{12}:role/.+", sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    )
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == sa["metadata"]["name"]
    refs = [next(iter(e.values()))["name"] for e in container(docs)["envFrom"]]
    assert refs == ["docwatch-config"]


def test_deployment_probes_grace_and_sandbox(overlay) -> None:
    _, docs = overlay
    dep = one(docs, "Deployment")
    pod, c = dep["spec"]["template"]["spec"], container(docs)
    assert "replicas" not in dep["spec"]  # the ScaledObject owns the count
    # /healthz answers while the engine loads and while a store that is down at start is waited
    # for; /readyz (no time limit) gates readiness, so neither restarts a pod that waits
    startup = c["startupProbe"]
    assert (
        startup["httpGet"]["path"] == "/healthz"
        and startup["periodSeconds"] * startup["failureThreshold"] >= 300
    )
    assert (
        c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        and c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    )
    assert c["ports"][0]["containerPort"] == int(config(docs)["DOCWATCH_HEALTH_PORT"]) == 8081
    grace = int(config(docs)["DOCWATCH_SHUTDOWN_GRACE_SECONDS"])
    assert pod["terminationGracePeriodSeconds"] >= grace + 30  # finish/release + lease release
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert "/var/cache/docwatch" in {m["mountPath"] for m in c["volumeMounts"]}
    for name in config(docs):
        assert_known_setting(name)
    for e in c.get("env", []):
        assert_known_setting(e["name"])
    svc, pdb = one(docs, "Service"), one(docs, "PodDisruptionBudget")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= labels.items()
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert svc["spec"]["ports"][0]["targetPort"] == c["ports"][0]["name"]


def test_engines(overlay) -> None:
    name, docs = overlay
    cfg, c = config(docs), container(docs)
    gpus = c["resources"].get("limits", {}).get("nvidia.com/gpu")
    if name == "cpu":
        assert cfg["DOCWATCH_ENGINE"] == "cpu" and "nvidia.com/gpu" not in yaml.safe_dump(c["resources"])
        assert c["image"].endswith("-cpu")
        return
    assert (
        cfg["DOCWATCH_ENGINE"] == "paddleocr-vl" and gpus == 1 and cfg["DOCWATCH_PADDLE__DEVICE"] == "gpu:0"
    )
    assert (
        one(docs, "Deployment")["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0
    )  # a surge needs a GPU
    if name == "gpu":
        assert cfg.get("DOCWATCH_PADDLE__VL_REC_BACKEND", "native") == "native"
        assert len([d for d in docs if d["kind"] == "Deployment"]) == 1
        return
    # gpu-vllm mirrors the compose file's vllm profile
    compose = yaml.safe_load((ROOT / "deploy" / "compose" / "docker-compose.yml").read_text())["services"]
    assert cfg["DOCWATCH_PADDLE__VL_REC_BACKEND"] == "vllm-server"
    assert int(cfg["DOCWATCH_PADDLE__VL_REC_MAX_CONCURRENCY"]) > 0
    (vllm,) = one(docs, "Deployment", "docwatch-vllm")["spec"]["template"]["spec"]["containers"]
    assert vllm["command"] == compose["vllm"]["command"]
    assert (
        cfg["DOCWATCH_PADDLE__VL_REC_API_MODEL_NAME"]
        == vllm["command"][vllm["command"].index("--model_name") + 1]
    )
    url = re.fullmatch(r"http://([\w-]+):(\d+)/v1", cfg["DOCWATCH_PADDLE__VL_REC_SERVER_URL"])
    assert url, cfg["DOCWATCH_PADDLE__VL_REC_SERVER_URL"]
    svc = one(docs, "Service", url.group(1))
    assert [p["port"] for p in svc["spec"]["ports"]] == [int(url.group(2))]
    vllm_labels = one(docs, "Deployment", "docwatch-vllm")["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= vllm_labels.items()
    assert (
        vllm["resources"]["limits"]["nvidia.com/gpu"] == 1
        and vllm["startupProbe"]["httpGet"]["path"] == "/health"
    )
    # docwatch's own Service/PDB/ServiceMonitor do not select the server's pods
    assert not one(docs, "Service")["spec"]["selector"].items() <= vllm_labels.items()


def test_prometheus_operator_objects(overlay) -> None:
    _, docs = overlay
    sm, svc = one(docs, "ServiceMonitor"), one(docs, "Service")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in svc["spec"]["ports"]} and endpoint["path"] == "/metrics"
    assert DURATION.match(endpoint["interval"])
    rule = one(docs, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    for group in rule["spec"]["groups"]:
        assert group["name"] and group["rules"]
        for r in group["rules"]:
            assert (
                set(r) <= {"alert", "expr", "for", "labels", "annotations"}
                and r["alert"]
                and r["expr"].strip()
            )
            assert DURATION.match(r.get("for", "0s")) and r["labels"]["severity"] in {"warning", "critical"}
            assert r["annotations"]["summary"] and r["annotations"]["runbook_url"].endswith(
                "#alerts-and-runbook"
            )


def test_keda_scaled_objects(overlay, tmp_path) -> None:
    _, docs = overlay
    exposed = generate_latest(Metrics().registry).decode()
    (prom,) = [d for d in docs if d["kind"] == "ScaledObject"]
    assert prom["apiVersion"] == "keda.sh/v1alpha1" and prom["spec"]["scaleTargetRef"]["name"] == "docwatch"
    assert prom["spec"]["minReplicaCount"] >= 1  # someone must run the reconciliation listing
    (trigger,) = prom["spec"]["triggers"]
    assert trigger["type"] == "prometheus" and float(trigger["metadata"]["threshold"]) > 0
    metric = re.search(r"\((\w+)", trigger["metadata"]["query"]).group(1)
    assert f"# TYPE {metric} gauge" in exposed, f"{metric} is not a gauge docwatch exposes"

    # events on: the component swaps the backlog scaler for the queue's depth (one per Deployment)
    evented = with_components(tmp_path, "cpu", "components/sqs-scaling")
    (so,) = [d for d in evented if d["kind"] == "ScaledObject"]
    auth = one(evented, "TriggerAuthentication", "docwatch-sqs")
    assert so["apiVersion"] == auth["apiVersion"] == "keda.sh/v1alpha1"
    assert so["spec"]["scaleTargetRef"]["name"] == "docwatch" and so["spec"]["minReplicaCount"] >= 1
    (trigger,) = so["spec"]["triggers"]
    assert (
        trigger["type"] == "aws-sqs-queue"
        and trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    )
    meta = trigger["metadata"]
    assert meta["queueURL"].startswith("https://sqs.") and int(meta["queueLength"]) >= 1 and meta["awsRegion"]
    assert auth["spec"]["podIdentity"]["provider"] == "aws"


def test_static_keys_component_adds_the_secret(tmp_path) -> None:
    docs = with_components(tmp_path, "gpu", "overlays/static-keys")
    secret = one(docs, "Secret", "docwatch-aws")
    assert set(secret["stringData"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    refs = [next(iter(e.items())) for e in container(docs)["envFrom"]]
    assert refs == [("configMapRef", {"name": "docwatch-config"}), ("secretRef", {"name": "docwatch-aws"})]
    kubernetes_validate.validate(secret, K8S_VERSION, strict=True)
    kubernetes_validate.validate(one(docs, "Deployment"), K8S_VERSION, strict=True)


def test_old_flat_layout_is_gone() -> None:
    assert not list(K8S.glob("*.yaml")) and not (K8S / "keda").exists()
    assert sorted(p.name for p in (K8S / "overlays").iterdir()) == ["cpu", "gpu", "gpu-vllm", "static-keys"]

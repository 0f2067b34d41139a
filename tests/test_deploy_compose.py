"""docker compose: every docwatch service whose webhook is on (it counts on S3 events and lists
only every DOCWATCH_RECONCILE_INTERVAL) really receives MinIO's events: MinIO has a webhook target
whose endpoint is that service's host, port and path, with its token, and an init service that
runs whenever that docwatch service runs adds the target to the bucket docwatch watches."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from watcher.sources.webhook import PATH

try:
    from tests.test_deploy import assert_known_setting
except ImportError:
    from test_deploy import assert_known_setting  # type: ignore[no-redef]

COMPOSE = Path(__file__).resolve().parent.parent / "deploy" / "compose" / "docker-compose.yml"
TARGET_KEY = re.compile(
    r"^MINIO_NOTIFY_WEBHOOK_(ENABLE|ENDPOINT|AUTH_TOKEN|QUEUE_DIR|QUEUE_LIMIT)_([A-Z0-9]+)$"
)


def expand(value: str) -> str:
    """Compose's ${VAR:-default} with nothing set: the default."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(value))


def webhook_targets(minio_env: dict[str, str]) -> dict[str, dict[str, str]]:
    targets: dict[str, dict[str, str]] = {}
    for key, value in minio_env.items():
        if m := TARGET_KEY.match(key):
            targets.setdefault(m.group(2), {})[m.group(1)] = expand(value)
    return targets


def upstream(services: dict, name: str) -> set[str]:
    """Services ``name`` waits for to complete successfully, transitively."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        for dep, cond in (services[todo.pop()].get("depends_on") or {}).items():
            if cond.get("condition") == "service_completed_successfully" and dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def event_rules(services: dict, names: set[str]) -> list[tuple[str, str, str]]:
    """(bucket, target id, events) of every ``mc event add`` the named init services run."""
    rules = []
    for name in names:
        script = " ".join(services[name].get("command") or [])
        rules += re.findall(
            r"mc event add (?:--\S+ )*local/(\S+) arn:minio:sqs::([A-Za-z0-9]+):webhook --event (\S+)", script
        )
    return rules


def test_every_docwatch_service_with_events_on_receives_them() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    targets = webhook_targets(services["minio"]["environment"])
    docwatches = {n: s for n, s in services.items() if "DOCWATCH_INPUT" in (s.get("environment") or {})}
    assert {"docwatch", "docwatch-gpu", "docwatch-vllm"} <= set(docwatches)
    evented = 0
    for name, svc in docwatches.items():
        env = {k: expand(v) for k, v in svc["environment"].items()}
        for key in env:
            if key.startswith("DOCWATCH_"):
                assert_known_setting(key)
        if not env.get("DOCWATCH_EVENTS__WEBHOOK_TOKEN"):
            continue  # events off: the listing every DOCWATCH_POLL_INTERVAL finds uploads
        evented += 1
        endpoint = f"http://{name}:{env.get('DOCWATCH_HEALTH_PORT', '8081')}{PATH}"
        mine = [t for t, cfg in targets.items() if cfg.get("ENDPOINT") == endpoint]
        assert len(mine) == 1, f"{name}: no MinIO webhook target (or several) for {endpoint}"
        cfg = targets[mine[0]]
        assert cfg["ENABLE"] == "on" and cfg["AUTH_TOKEN"] == env["DOCWATCH_EVENTS__WEBHOOK_TOKEN"], name
        assert cfg.get("QUEUE_DIR"), f"{name}: events sent while it is down would be lost"
        # the bucket notification naming that target runs whenever this service runs
        inits = {
            n
            for n in upstream(services, name)
            if set(services[n].get("profiles") or []) <= set(svc.get("profiles") or [])
        }
        bucket = re.fullmatch(r"s3://([^/]+)/.*", env["DOCWATCH_INPUT"]).group(1)
        rules = [r for r in event_rules(services, inits) if r[1] == mine[0]]
        assert rules and rules[0][0] == bucket and "put" in rules[0][2].split(","), (
            f"{name}: {mine[0]} not on {bucket}"
        )
    assert evented == 3
    # one queue_dir per target: MinIO keeps each target's undelivered events apart
    dirs = [cfg["QUEUE_DIR"] for cfg in targets.values()]
    assert len(dirs) == len(set(dirs)) == len(targets)
    assert services["minio"]["volumes"] and any(
        "/var/lib/minio-events" in v for v in services["minio"]["volumes"]
    )


def test_no_target_without_a_service() -> None:
    """A target nobody listens on would fill its queue_dir with events for ever."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for ident, cfg in webhook_targets(services["minio"]["environment"]).items():
        host = re.fullmatch(r"http://([\w-]+):\d+/.*", cfg["ENDPOINT"]).group(1)
        assert host in services, f"{ident}: {cfg['ENDPOINT']} names no service"

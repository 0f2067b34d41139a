#!/usr/bin/env bash
# Container HEALTHCHECK: exit 0 when docwatch answers GET /healthz, 1 otherwise.
# No curl in the image; python is always there. Port: DOCWATCH_HEALTH_PORT (default 8081).
set -euo pipefail

port="${DOCWATCH_HEALTH_PORT:-8081}"
path="${1:-/healthz}"
timeout="${HEALTHCHECK_TIMEOUT:-5}"

exec python3 - "$port" "$path" "$timeout" <<'PY'
import sys
import urllib.error
import urllib.request

port, path, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
url = f"http://127.0.0.1:{port}{path}"
try:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        ok = 200 <= resp.status < 300
except (urllib.error.URLError, OSError) as exc:
    print(f"unhealthy: {url}: {exc}", file=sys.stderr)
    sys.exit(1)
sys.exit(0 if ok else 1)
PY

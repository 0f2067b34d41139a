#!/usr/bin/env bash
# What an image build does with the models lock: prints `record` or `verify`.
#
#   models-lock-mode.sh MODE LOCK
#
# MODE auto: record when LOCK pins no model yet (a missing or empty lock: the first build pins
#            what it fetched and prints the lock to commit), verify when it does.
# MODE verify: verify; a LOCK that pins nothing fails (exit 2).
# MODE record: record.
set -euo pipefail
usage="usage: models-lock-mode.sh auto|verify|record LOCK"
mode="${1:?$usage}"
lock="${2:?$usage}"

pins_models() {
    python3 -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1])).get("models") else 1)' "$lock" 2>/dev/null
}
case "$mode" in
    auto) if pins_models; then echo verify; else echo record; fi ;;
    verify)
        if ! pins_models; then
            echo "$lock pins no model: build once with MODELS_LOCK_MODE=auto (or record) and commit the lock it prints" >&2
            exit 2
        fi
        echo verify ;;
    record) echo record ;;
    *) echo "models lock mode must be auto, verify or record, not '$mode'" >&2; exit 2 ;;
esac

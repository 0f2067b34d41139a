#!/usr/bin/env bash
# Install everything the tests need, then run them all.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh test
# Two workers: most tests wait on real daemons (polls, leases, an outage's minute), so two
# at a time use the two cores a CI machine has.
exec .venv/bin/python -m pytest -n "${DOCWATCH_TEST_WORKERS:-2}" "$@"

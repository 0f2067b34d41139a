#!/usr/bin/env bash
# Install everything the tests need, then run them all.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh test
exec .venv/bin/python -m pytest "$@"

#!/usr/bin/env bash
# Install docwatch with the CPU engine, put a few generated documents in demo/in and run the
# daemon on it (results appear in demo/out). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
mkdir -p demo/in demo/out
.venv/bin/python scripts/make_demo_docs.py demo/in
echo "docwatch is watching demo/in; results go to demo/out (try: .venv/bin/docwatch status demo/out)"
exec .venv/bin/docwatch run --input demo/in --output demo/out "$@"

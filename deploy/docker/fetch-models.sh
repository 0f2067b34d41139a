#!/usr/bin/env bash
# Image build step: download every model the configured PaddleOCR pipeline can load into
# CACHE_HOME/official_models (CACHE_HOME is what PADDLE_PDX_CACHE_HOME points at during the build)
# with paddlex's own public downloader, check every file against the sha256s pinned in LOCK, verify
# the models load-ready, and drop the download caches. Any failure fails the build (no `|| true`).
#
#   fetch-models.sh CACHE_HOME ENGINE PIPELINE_VERSION LOCK [auto|verify|record]
#
# ENGINE: paddleocr-vl | pp-structurev3 | cpu (nothing to fetch).
# auto (default): record when LOCK pins no model yet, verify when it does.
# verify: a file that is missing, differs or is not pinned in LOCK fails the build; so does a
#         LOCK that pins nothing.
# record: pin what was fetched into LOCK and print it (on a host that reaches the model hosters;
#         review the result and commit it as deploy/models.lock.json).
set -euo pipefail

usage="usage: fetch-models.sh CACHE_HOME ENGINE PIPELINE_VERSION LOCK [auto|verify|record]"
cache_home="${1:?$usage}"
engine="${2:?$usage}"
version="${3:?$usage}"
lock="${4:?$usage}"
mode="${5:-auto}"

if [[ "$engine" == "cpu" ]]; then
    echo "engine cpu: no models to fetch"
    exit 0
fi
mode="$("$(dirname "$0")/models-lock-mode.sh" "$mode" "$lock")"
echo "models lock mode: $mode ($lock)"
if [[ "$mode" == record ]]; then record=(--record-lock); else record=(); fi

export PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK=True
export PADDLE_PDX_CACHE_HOME="$cache_home"
export DOCWATCH_ENGINE="$engine"
export DOCWATCH_PADDLE__PIPELINE_VERSION="$version"
# the hosters' own clients keep their caches in a throwaway place
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
export HF_HOME="$scratch/huggingface"
export MODELSCOPE_CACHE="$scratch/modelscope"

mkdir -p "$cache_home"
docwatch models fetch --cache-home "$cache_home" --engine "$engine" --lock "$lock" "${record[@]}"
docwatch models verify --dir "$cache_home/official_models" --engine "$engine"
# git-based hosters leave their metadata beside the weights; it is not needed at run time
find "$cache_home/official_models" -depth -type d \( -name .git -o -name .cache \) -exec rm -rf {} +
chmod -R a+rX "$cache_home"
if [[ "$mode" == record ]]; then
    echo "---- $lock (commit as deploy/models.lock.json) ----"
    cat "$lock"
fi
du -sh "$cache_home"
